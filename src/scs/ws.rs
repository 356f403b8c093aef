//! B3: a build's log over a websocket (PROTOCOL.md §2.4).
//!
//! `ws(s)://<builder>/v1/build-ws/{id}` with `Authorization: BEARER <token>`. Each text frame
//! is raw build output and is forwarded verbatim; other frames are ignored; the client sends
//! nothing. Only a close frame with code 1000 ends the stream normally. Anything else (another
//! close code, EOF without a close, a read error) is [`ServiceErrorKind::StreamDropped`]: the
//! build may well have succeeded, and the caller asks the status (PROTOCOL.md §5.5).
//!
//! The socket runs on reqwest-websocket over its own HTTP/1.1-only reqwest client (see
//! `Transport::websocket_client`), so proxies and TLS roots are those of the REST calls.
//! The handshake is retried on transient faults (no frame has been read then); a stream that
//! broke is not resumed here.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{StatusCode, Url, header};
use reqwest_websocket::{Message, Upgrade, WebSocket};
use tokio::sync::mpsc;
use tungstenite::protocol::WebSocketConfig;

use super::http::{AuthScheme, Transport, endpoint, error_chain, innermost};
use super::retry::transient;
use super::service::{ServiceError, ServiceErrorKind};

/// The close code of a normal end of stream.
const NORMAL_CLOSURE: u16 = 1000;
/// How long the closing handshake may take once the service sent its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Returns the websocket URL of a build's log: the builder's base with `ws`/`wss`.
pub fn log_url(base: &Url, id: &str) -> Url {
    let mut url = endpoint(base, &["v1", "build-ws", id]);
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    // Both schemes are "special" in the URL standard, so switching between them succeeds.
    let _ = url.set_scheme(scheme);
    url
}

/// Streams a build's log into `output` until the service closes the stream normally.
pub async fn stream_log(
    transport: &Transport,
    base: &Url,
    id: &str,
    output: mpsc::Sender<String>,
) -> Result<(), ServiceError> {
    let url = log_url(base, id);
    let doing = format!("streaming the log of build {id}");
    let mut socket = transport
        .retry
        .run(|| open(transport, &url, &doing), transient)
        .await?;
    // Once the caller stops listening, frames are still read (and dropped) so that the
    // result still says how the stream ended.
    let mut listening = true;
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Text(text)) => {
                if listening && output.send(text).await.is_err() {
                    listening = false;
                }
            }
            Ok(Message::Close { code, reason }) => {
                let code = u16::from(code);
                if code == NORMAL_CLOSURE {
                    finish_close(&mut socket).await;
                    return Ok(());
                }
                let reason = if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                };
                return Err(dropped(
                    transport,
                    &doing,
                    format!("the service closed the stream with code {code}{reason}"),
                ));
            }
            Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_)) => {}
            Err(error) => {
                return Err(dropped(
                    transport,
                    &doing,
                    format!("the stream broke: {}", innermost(&error)),
                ));
            }
        }
    }
    Err(dropped(
        transport,
        &doing,
        "the stream ended without a close frame (1006 abnormal closure)".to_owned(),
    ))
}

/// Opens the socket: the upgrade request, then the handshake checks.
async fn open(transport: &Transport, url: &Url, doing: &str) -> Result<WebSocket, ServiceError> {
    let response = transport
        .websocket_client
        .get(url.clone())
        .header(
            header::AUTHORIZATION,
            transport.authorization(AuthScheme::UpperBearer)?,
        )
        .upgrade()
        .web_socket_config(socket_config())
        .send()
        .await
        .map_err(|error| websocket_error(transport, error, doing))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // A refused handshake is an ordinary HTTP answer (401, 404, 503 …) with the envelope.
        return Err(transport.status_error(response.into_inner(), doing).await);
    }
    response
        .into_websocket()
        .await
        .map_err(|error| websocket_error(transport, error, doing))
}

/// Small buffers: a build's log arrives a line at a time, and a run may stream hundreds of
/// logs at once. tungstenite's 128 KiB read buffer per socket was half the client's memory
/// with 256 builds in flight (BENCHMARKS.md, P3).
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
}

/// Bytes read from a log socket at a time.
const READ_BUFFER: usize = 16 * 1024;

fn websocket_error(
    transport: &Transport,
    error: reqwest_websocket::Error,
    doing: &str,
) -> ServiceError {
    match error {
        reqwest_websocket::Error::Reqwest(error) => transport.transport_error(&error, doing),
        other => transport.error(
            ServiceErrorKind::Protocol,
            doing,
            format!("the websocket handshake failed: {}", error_chain(&other)),
        ),
    }
}

fn dropped(transport: &Transport, doing: &str, detail: String) -> ServiceError {
    transport.error(ServiceErrorKind::StreamDropped, doing, detail)
}

/// Completes the closing handshake: reading on makes tungstenite answer the close frame,
/// and the service then ends the connection. Bounded, so a service that never hangs up
/// cannot hold a finished stream open.
async fn finish_close(socket: &mut WebSocket) {
    let drain = async { while let Some(Ok(_)) = socket.next().await {} };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}

#[cfg(test)]
mod tests {
    use reqwest_websocket::CloseCode;

    use super::*;

    #[test]
    fn log_urls_switch_the_scheme_and_keep_the_prefix() {
        let base = Url::parse("https://build.example/api/").expect("url");
        assert_eq!(
            log_url(&base, "5f0c").as_str(),
            "wss://build.example/api/v1/build-ws/5f0c"
        );
        let base = Url::parse("http://127.0.0.1:3000/").expect("url");
        assert_eq!(
            log_url(&base, "x").as_str(),
            "ws://127.0.0.1:3000/v1/build-ws/x"
        );
    }

    #[test]
    fn close_codes_convert() {
        assert_eq!(u16::from(CloseCode::Normal), NORMAL_CLOSURE);
        assert_ne!(u16::from(CloseCode::Abnormal), NORMAL_CLOSURE);
    }
}
