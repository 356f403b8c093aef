//! Build service endpoints B1–B7 (PROTOCOL.md §2.1); B3, the log stream, is in `ws.rs`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::model::{Build, BuildRequest};
use super::runner::{self, ephemeral_ref};
use crate::buildctx::is_digest;
use crate::counters::Counter;
use crate::directives::Directives;
use crate::envelope::{self, ApiError, parse_json};
use crate::faults::FaultAction;
use crate::library::{now_unix, parse_destination};
use crate::sif;
use crate::state::AppState;
use crate::uploads::PendingUpload;

/// The B1 body; unknown keys (older clients' `callbackURL`, ...) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SubmitBody {
    definition_raw: Option<String>,
    library_ref: Option<String>,
    #[serde(rename = "libraryURL")]
    library_url: Option<String>,
    builder_requirements: Option<Requirements>,
    context_digest: Option<String>,
    working_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Requirements {
    arch: Option<String>,
}

/// The architecture built when a request names none.
const DEFAULT_ARCH: &str = "amd64";

/// B1: `POST v1/build`.
pub async fn submit(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body: SubmitBody = parse_json(&body)?;
    let encoded = body
        .definition_raw
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::bad_request("definitionRaw is required"))?;
    let definition = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|error| ApiError::bad_request(format!("definitionRaw is not base64: {error}")))?;
    let library_ref = body.library_ref.unwrap_or_default();
    let destination = if library_ref.is_empty() {
        None
    } else {
        Some(parse_destination(&library_ref).map_err(ApiError::bad_request)?)
    };
    let arch = body
        .builder_requirements
        .and_then(|r| r.arch)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| DEFAULT_ARCH.to_owned());
    if sif::arch_code(&arch).is_none() {
        return Err(ApiError::bad_request(format!(
            "unsupported build architecture `{arch}`"
        )));
    }
    let context_digest = body.context_digest.filter(|d| !d.is_empty());
    if let Some(digest) = &context_digest
        && state.contexts.get(digest).is_none()
    {
        return Err(ApiError::bad_request(format!(
            "build context {digest} has not been uploaded"
        )));
    }
    let overrides = state
        .faults
        .take("POST", "/v1/build", |action| {
            matches!(
                action,
                FaultAction::FailBuild { .. } | FaultAction::ShapeBuild { .. }
            )
        })
        .and_then(|action| match action {
            FaultAction::FailBuild { reason } => Some(Directives {
                fail: Some(reason),
                ..Directives::default()
            }),
            FaultAction::ShapeBuild {
                duration_ms,
                log_bytes,
                fail,
            } => Some(Directives {
                duration: duration_ms.map(Duration::from_millis),
                fail,
                log_bytes,
            }),
            _ => None,
        });
    let id = state.ids.next_id();
    let result_ref = if library_ref.is_empty() {
        ephemeral_ref(&state.settings.user, &id)
    } else {
        library_ref.clone()
    };
    let request = BuildRequest {
        definition,
        destination,
        library_url: body.library_url.unwrap_or_default(),
        arch,
        context_digest,
        working_dir: body
            .working_dir
            .filter(|w| w.starts_with('/'))
            .unwrap_or_else(|| "/".to_owned()),
        overrides,
    };
    let build = Arc::new(Build::new(
        id,
        request,
        result_ref,
        state.base_url.clone(),
        now_unix(),
    ));
    state.builds.insert(Arc::clone(&build));
    state.counters.bump(Counter::BuildsSubmitted);
    tracing::info!(build = %build.id, r#ref = %build.result_ref, arch = %build.request.arch, "build submitted");
    let info = build.info();
    let task_state = Arc::clone(&state);
    state.tasks.spawn(runner::run(task_state, build));
    Ok(envelope::data_with_status(StatusCode::CREATED, info))
}

/// B2: `GET v1/build/{id}`.
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let build = find(&state, &id)?;
    Ok(envelope::data(build.info()))
}

/// B4: `PUT v1/build/{id}/_cancel`: 204, also for a build that already ended.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let build = find(&state, &id)?;
    build.cancel.cancel();
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn find(state: &AppState, id: &str) -> Result<Arc<Build>, ApiError> {
    state
        .builds
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("build {id} not found")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ContextBody {
    size: Option<u64>,
    digest: Option<String>,
}

/// B5: `POST v1/build-context`: 202, with a `Location` to upload to unless the context is
/// already stored.
pub async fn announce_context(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ContextBody = parse_json(&body)?;
    let digest = body.digest.unwrap_or_default();
    if !is_digest(&digest) {
        return Err(ApiError::bad_request(format!(
            "digest `{digest}` is not sha256.<64 lowercase hex>"
        )));
    }
    let size = body
        .size
        .filter(|size| *size > 0)
        .ok_or_else(|| ApiError::bad_request("size must be a positive byte count"))?;
    let present = state.contexts.announce(&digest, size);
    let mut response = envelope::data_with_status(
        StatusCode::ACCEPTED,
        json!({"digest": digest, "size": size, "uploaded": present}),
    );
    if !present {
        let path = state
            .uploads
            .presign(&state.ids, PendingUpload::Context { digest });
        let location = HeaderValue::from_str(&state.url(&path))
            .map_err(|_| ApiError::internal("upload URL is not a valid header"))?;
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// B7: `DELETE v1/build-context/{digest}`.
pub async fn delete_context(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    if state.contexts.delete(&digest) {
        Ok(envelope::data(json!({"digest": digest})))
    } else {
        Err(ApiError::not_found(format!(
            "build context {digest} not found"
        )))
    }
}
