//! Per-connection handles, so a fault can reset the TCP connection a request arrived on.
//!
//! The accept loop in `server.rs` gives every connection a [`ConnHandle`] (inserted into each
//! request's extensions) and races the connection against [`ConnHandle::reset_requested`].
//! When a fault asks for a reset, the loop drops the connection; [`ResettableStream`] then
//! sets `SO_LINGER` to zero so the kernel sends RST instead of a clean FIN, which is what a
//! client sees when a load balancer or proxy dies mid-upload.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// A handle to one client connection.
#[derive(Debug, Clone, Default)]
pub struct ConnHandle {
    inner: Arc<ConnState>,
}

#[derive(Debug, Default)]
struct ConnState {
    reset: AtomicBool,
    notify: Notify,
}

impl ConnHandle {
    /// Asks the accept loop to reset this connection.
    pub fn reset(&self) {
        self.inner.reset.store(true, Ordering::SeqCst);
        self.inner.notify.notify_one();
    }

    /// Returns true once a reset was asked for.
    pub fn is_reset(&self) -> bool {
        self.inner.reset.load(Ordering::SeqCst)
    }

    /// Completes when a reset is asked for.
    pub async fn reset_requested(&self) {
        while !self.is_reset() {
            self.inner.notify.notified().await;
        }
    }
}

/// A TCP stream that is closed with RST when its connection was reset by a fault.
#[derive(Debug)]
pub struct ResettableStream {
    stream: TcpStream,
    handle: ConnHandle,
}

impl ResettableStream {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream, handle: ConnHandle) -> Self {
        Self { stream, handle }
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.handle.is_reset() {
            // Zero linger turns the close into an RST; a failure only means a FIN is sent.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
