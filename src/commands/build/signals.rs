//! SIGINT and SIGTERM during a run: cancel it (the executor then cancels the remote builds
//! still running) and remember which signal came, for the exit code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::exit;

/// Which signal cancelled the run, if any.
pub struct Signals {
    received: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl Signals {
    /// Returns 130 after SIGINT, 143 after SIGTERM (128 + the signal number, as shells do).
    pub fn exit_code(&self) -> u8 {
        match self.received.load(Ordering::SeqCst) {
            0 => exit::INTERRUPTED,
            code => code,
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Cancels `cancel` on the first SIGINT or SIGTERM.
pub fn watch(cancel: CancellationToken) -> Signals {
    let received = Arc::new(AtomicU8::new(0));
    let seen = Arc::clone(&received);
    let task = tokio::spawn(async move {
        // Without handlers (a platform that refuses them) the default action applies.
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let code = tokio::select! {
            _ = interrupt.recv() => exit::INTERRUPTED,
            _ = terminate.recv() => exit::TERMINATED,
            () = cancel.cancelled() => return,
        };
        seen.store(code, Ordering::SeqCst);
        cancel.cancel();
    });
    Signals { received, task }
}
