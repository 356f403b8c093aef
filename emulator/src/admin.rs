//! The admin API under `/_emulator/`, for tests and demos that drive the binary over HTTP.
//!
//! | Method | Path | Body | Reply |
//! |---|---|---|---|
//! | GET | `/_emulator/counters` | – | `{"data": Counters}` |
//! | POST | `/_emulator/counters/_reset` | – | 204 |
//! | GET | `/_emulator/faults` | – | `{"data": [ActiveFault]}` |
//! | POST | `/_emulator/faults` | `FaultRule` | 201 `{"data": {"id": N}}` |
//! | DELETE | `/_emulator/faults` | – | 204 (all removed) |
//! | DELETE | `/_emulator/faults/{id}` | – | 204, 404 if unknown |
//! | GET | `/_emulator/builds` | – | `{"data": [BuildInfo]}` |
//! | GET | `/_emulator/builds/{id}/log` | – | the log so far, `text/plain` |
//! | GET | `/_emulator/keys` | – | `{"data": [StoredKey]}` (the keystore's keys) |
//! | GET | `/_emulator/requests` | – | `{"data": [RecordedRequest]}` (with `--record-requests`) |
//! | DELETE | `/_emulator/requests` | – | 204 (recording emptied) |
//!
//! Access needs the admin token when one is configured (another valid token gets 403),
//! otherwise any accepted token.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::envelope::{self, ApiError, parse_json};
use crate::faults::FaultRule;
use crate::state::AppState;

/// `GET /_emulator/counters`.
pub async fn counters(State(state): State<AppState>) -> Response {
    envelope::data(state.counters.snapshot())
}

/// `POST /_emulator/counters/_reset`.
pub async fn reset_counters(State(state): State<AppState>) -> Response {
    state.counters.reset();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_emulator/requests`.
pub async fn recorded_requests(State(state): State<AppState>) -> Response {
    envelope::data(state.recorder.snapshot())
}

/// `DELETE /_emulator/requests`.
pub async fn clear_recorded_requests(State(state): State<AppState>) -> Response {
    state.recorder.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_emulator/faults`.
pub async fn list_faults(State(state): State<AppState>) -> Response {
    envelope::data(state.faults.list())
}

/// `POST /_emulator/faults`.
pub async fn add_fault(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let rule: FaultRule = parse_json(&body)?;
    let id = state.faults.add(rule);
    Ok(envelope::data_with_status(
        StatusCode::CREATED,
        json!({"id": id}),
    ))
}

/// `DELETE /_emulator/faults`.
pub async fn clear_faults(State(state): State<AppState>) -> Response {
    state.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /_emulator/faults/{id}`.
pub async fn remove_fault(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    if state.faults.remove(id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("fault {id} not found")))
    }
}

/// `GET /_emulator/builds`.
pub async fn builds(State(state): State<AppState>) -> Response {
    let builds: Vec<Value> = state
        .builds
        .all()
        .iter()
        .map(|build| build.info())
        .collect();
    envelope::data(builds)
}

/// `GET /_emulator/keys`.
pub async fn keys(State(state): State<AppState>) -> Response {
    envelope::data(state.keystore().all())
}

/// `GET /_emulator/builds/{id}/log`.
pub async fn build_log(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let build = state
        .builds
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("build {id} not found")))?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        build.log_text(),
    )
        .into_response())
}
