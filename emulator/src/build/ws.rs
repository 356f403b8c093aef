//! B3: the build log over a websocket (PROTOCOL.md §2.4).
//!
//! Each log chunk goes out as one text frame, verbatim. The socket closes with 1000 only
//! after the build's status is final, so the client's single status call after the close sees
//! `isComplete: true`; at shutdown it waits (briefly) for the build to end the same way. A
//! `drop-websocket` fault instead drops the TCP connection without a
//! close frame, which clients report as 1006 (abnormal closure).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;

use super::model::Build;
use crate::counters::Counter;
use crate::envelope::ApiError;
use crate::faults::FaultAction;
use crate::state::AppState;

/// Close code for a normal end of stream.
const NORMAL_CLOSURE: u16 = 1000;
/// Close code sent when the emulator shuts down mid-stream.
const GOING_AWAY: u16 = 1001;
/// How long to wait for the client to answer the close frame before dropping the socket.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Upgrades `GET v1/build-ws/{id}` and streams the log.
pub async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let build = state
        .builds
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("build {id} not found")))?;
    let drop_after = state
        .faults
        .take("GET", &format!("/v1/build-ws/{id}"), |action| {
            matches!(action, FaultAction::DropWebsocket { .. })
        })
        .and_then(|action| match action {
            FaultAction::DropWebsocket { after_frames } => Some(after_frames),
            _ => None,
        });
    state.counters.bump(Counter::WebsocketSessions);
    let tracker = state.tasks.clone();
    Ok(upgrade.on_upgrade(move |socket| async move {
        tracker.spawn(follow(state, build, socket, drop_after));
    }))
}

/// Sends the log until the build ends (or the fault drops the socket).
async fn follow(
    state: AppState,
    build: Arc<Build>,
    mut socket: WebSocket,
    drop_after: Option<u64>,
) {
    let mut progress = build.subscribe();
    let mut sent_chunks = 0;
    let mut frames: u64 = 0;
    // At shutdown, builds end promptly (with a log line saying why); the stream waits for that
    // so it still ends the normal way, and gives up after a grace period.
    let mut give_up: Option<tokio::time::Instant> = None;
    loop {
        let (chunks, done) = build.chunks_since(sent_chunks);
        for chunk in chunks {
            if drop_after == Some(frames) {
                tracing::info!(build = %build.id, frames, "dropping websocket (injected fault)");
                return;
            }
            if socket.send(Message::Text(chunk.into())).await.is_err() {
                return;
            }
            sent_chunks += 1;
            frames += 1;
        }
        if done {
            close(socket, NORMAL_CLOSURE, "").await;
            return;
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = state.shutdown.cancelled(), if give_up.is_none() => {
                give_up = Some(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            () = sleep_until_some(give_up) => {
                close(socket, GOING_AWAY, "emulator shutting down").await;
                return;
            }
        }
    }
}

/// Completes at `deadline`, or never when there is none.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame and waits briefly for the client's answer.
async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
