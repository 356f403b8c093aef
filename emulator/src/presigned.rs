//! `PUT /_upload/{token}`: the presigned URLs handed out for image uploads, image parts and
//! build contexts. No Authorization header is expected (clients strip it, PROTOCOL.md
//! §0.2); the token is the capability. Answers exactly 200, as S3 does and as the library
//! client requires, with an `ETag` the multipart client echoes back.
//!
//! `GET /_download/{token}`: the presigned URLs image downloads are redirected to, likewise
//! without authentication; they honour `Range` (see `library/download.rs`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::counters::Counter;
use crate::envelope::ApiError;
use crate::ids::hex;
use crate::library::serve_bytes;
use crate::state::AppState;
use crate::uploads::PendingUpload;

/// The header S3-compatible clients send with the payload's SHA-256.
const AMZ_SHA256: &str = "x-amz-content-sha256";

/// Receives a presigned upload.
pub async fn put(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pending = state
        .uploads
        .pending(&token)
        .ok_or_else(|| ApiError::not_found("upload URL is unknown or was already used"))?;
    let sha256 = hex(&Sha256::digest(&body));
    if let Some(claimed) = headers.get(AMZ_SHA256).and_then(|v| v.to_str().ok())
        && claimed != sha256
    {
        return Err(ApiError::bad_request(format!(
            "{AMZ_SHA256} {claimed} does not match the body's SHA-256 {sha256}"
        )));
    }
    let size = body.len() as u64;
    let etag = format!("\"{sha256}\"");
    match pending {
        PendingUpload::Context { digest } => {
            state.contexts.store(&digest, body)?;
            state.counters.bump(Counter::ContextsUploaded);
        }
        PendingUpload::Image {
            image_id,
            size: expected_size,
            sha256: expected_sha256,
            md5,
        } => {
            check_size(size, expected_size)?;
            if sha256 != expected_sha256 {
                return Err(ApiError::bad_request(format!(
                    "uploaded file has SHA-256 {sha256}, {expected_sha256} was announced"
                )));
            }
            if let Some(expected_md5) = md5 {
                let actual_md5 = hex(&Md5::digest(&body));
                if actual_md5 != expected_md5 {
                    return Err(ApiError::bad_request(format!(
                        "uploaded file has MD5 {actual_md5}, {expected_md5} was announced"
                    )));
                }
            }
            state.uploads.receive(&image_id, body);
        }
        PendingUpload::Part {
            upload_id,
            part_number,
            size: expected_size,
            sha256: expected_sha256,
        } => {
            check_size(size, expected_size)?;
            if let Some(expected) = expected_sha256
                && expected != sha256
            {
                return Err(ApiError::bad_request(format!(
                    "part {part_number} has SHA-256 {sha256}, {expected} was announced"
                )));
            }
            if !state
                .uploads
                .add_part(&upload_id, part_number, body, etag.clone())
            {
                return Err(ApiError::not_found(format!(
                    "multipart upload {upload_id} no longer exists"
                )));
            }
        }
    }
    state.uploads.finish(&token);
    let mut response = StatusCode::OK.into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// Serves a presigned download.
pub async fn get(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hash = state
        .uploads
        .download(&token)
        .ok_or_else(|| ApiError::not_found("download URL is unknown or has expired"))?;
    let bytes = state
        .library()
        .blob(&hash)
        .ok_or_else(|| ApiError::not_found(format!("image file {hash} no longer exists")))?;
    Ok(serve_bytes(bytes, &headers))
}

fn check_size(actual: u64, expected: u64) -> Result<(), ApiError> {
    if actual == expected {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "upload is {actual} bytes, {expected} were announced"
        )))
    }
}
