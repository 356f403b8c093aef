//! Image uploads: v1 raw POST, v2 single-part via a presigned URL, v2 multipart
//! (PROTOCOL.md §3.6). The presigned URLs themselves are served by `presigned.rs`.
//!
//! Every path ends in the same check: the bytes must hash to the image's `sha256.<hex>`,
//! else 400 and the image stays not uploaded.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::counters::Counter;
use crate::envelope::{self, ApiError, parse_json};
use crate::state::{AppState, Shared};
use crate::uploads::{Multipart, PendingUpload};

/// The part size offered for multipart uploads: the clients' own threshold, 64 MiB.
pub const MULTIPART_PART_SIZE: u64 = 64 * 1024 * 1024;
/// The storage quota reported after an upload (the documented example, 11 GiB).
const QUOTA_TOTAL: u64 = 11 * 1024 * 1024 * 1024;

fn image_exists(state: &Shared, image_id: &str) -> Result<String, ApiError> {
    state
        .library()
        .image(image_id)
        .map(|image| image.hash.clone())
        .ok_or_else(|| ApiError::not_found(format!("image {image_id} not found")))
}

/// Stores completed bytes and persists; returns the `_complete` reply.
async fn finish_upload(state: &Shared, image_id: &str, bytes: Bytes) -> Result<Value, ApiError> {
    let reply = {
        let mut library = state.library();
        library.complete_upload(image_id, bytes)?;
        let usage: u64 = library
            .data()
            .images
            .values()
            .filter(|image| image.uploaded)
            .map(|image| image.size)
            .sum();
        let container_url = library
            .image(image_id)
            .and_then(|image| library.container(&image.container_id))
            .map(|container| library.container_json(container))
            .map(|view| {
                state.url(&format!(
                    "/library/{}/{}/{}",
                    view["entityName"].as_str().unwrap_or_default(),
                    view["collectionName"].as_str().unwrap_or_default(),
                    view["name"].as_str().unwrap_or_default()
                ))
            })
            .unwrap_or_default();
        json!({
            "quota": {"quotaTotal": QUOTA_TOTAL, "quotaUsage": usage},
            "containerUrl": container_url,
        })
    };
    state.counters.bump(Counter::ImagesUploaded);
    state.persist().await?;
    Ok(reply)
}

/// `POST v1/imagefile/{imageID}`: the legacy upload, raw bytes in the body; exactly 200.
pub async fn upload_v1(state: &Shared, image_id: &str, body: Bytes) -> Result<Response, ApiError> {
    image_exists(state, image_id)?;
    let reply = finish_upload(state, image_id, body).await?;
    Ok(envelope::data(reply))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SingleBody {
    filesize: Option<u64>,
    sha256sum: Option<String>,
    md5sum: Option<String>,
}

/// `POST v2/imagefile/{imageID}`: returns a presigned `uploadURL`.
pub async fn start_single(
    State(state): State<AppState>,
    Path(image_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: SingleBody = parse_json(&body)?;
    let hash = image_exists(&state, &image_id)?;
    let expected = hash.trim_start_matches("sha256.").to_owned();
    let size = body
        .filesize
        .filter(|size| *size > 0)
        .ok_or_else(|| ApiError::bad_request("filesize must be a positive byte count"))?;
    let sha256 = body
        .sha256sum
        .filter(|s| !s.is_empty())
        .unwrap_or(expected.clone());
    if sha256 != expected {
        return Err(ApiError::bad_request(format!(
            "sha256sum {sha256} does not match image hash {hash}"
        )));
    }
    let path = state.uploads.presign(
        &state.ids,
        PendingUpload::Image {
            image_id,
            size,
            sha256,
            md5: body.md5sum.filter(|m| !m.is_empty()),
        },
    );
    Ok(envelope::data(json!({"uploadURL": state.url(&path)})))
}

/// `PUT v2/imagefile/{imageID}/_complete`: finishes a single-part upload.
pub async fn complete_single(
    State(state): State<AppState>,
    Path(image_id): Path<String>,
) -> Result<Response, ApiError> {
    image_exists(&state, &image_id)?;
    let bytes = state.uploads.take_received(&image_id).ok_or_else(|| {
        ApiError::bad_request(format!("no upload was received for image {image_id}"))
    })?;
    let reply = finish_upload(&state, &image_id, bytes).await?;
    Ok(envelope::data(reply))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MultipartBody {
    filesize: Option<u64>,
    #[serde(rename = "uploadID")]
    upload_id: Option<String>,
    part_size: Option<u64>,
    part_number: Option<u32>,
    sha256sum: Option<String>,
    completed_parts: Option<Vec<CompletedPart>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CompletedPart {
    part_number: u32,
    token: String,
}

/// `POST v2/imagefile/{imageID}/_multipart`: starts a multipart upload.
pub async fn start_multipart(
    State(state): State<AppState>,
    Path(image_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: MultipartBody = parse_json(&body)?;
    image_exists(&state, &image_id)?;
    let file_size = body
        .filesize
        .filter(|size| *size > 0)
        .ok_or_else(|| ApiError::bad_request("filesize must be a positive byte count"))?;
    let total_parts = u32::try_from(file_size.div_ceil(MULTIPART_PART_SIZE))
        .map_err(|_| ApiError::bad_request("file too large"))?;
    let upload_id = state.uploads.start_multipart(
        &state.ids,
        Multipart {
            image_id,
            file_size,
            part_size: MULTIPART_PART_SIZE,
            total_parts,
            parts: BTreeMap::new(),
        },
    );
    Ok(envelope::data(json!({
        "uploadID": upload_id,
        "totalParts": total_parts,
        "partSize": MULTIPART_PART_SIZE,
        "options": {"s3compliant": "true"},
    })))
}

fn multipart_for(
    state: &Shared,
    image_id: &str,
    upload_id: &Option<String>,
) -> Result<(String, Multipart), ApiError> {
    let upload_id = upload_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("uploadID is required"))?;
    let upload = state
        .uploads
        .multipart(&upload_id)
        .filter(|upload| upload.image_id == image_id)
        .ok_or_else(|| ApiError::not_found(format!("multipart upload {upload_id} not found")))?;
    Ok((upload_id, upload))
}

/// `PUT v2/imagefile/{imageID}/_multipart`: returns a presigned URL for one part.
pub async fn presign_part(
    State(state): State<AppState>,
    Path(image_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: MultipartBody = parse_json(&body)?;
    let (upload_id, upload) = multipart_for(&state, &image_id, &body.upload_id)?;
    let part_number = body
        .part_number
        .filter(|n| (1..=upload.total_parts).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!("partNumber must be 1..={}", upload.total_parts))
        })?;
    let expected_size = if part_number == upload.total_parts {
        upload.file_size - upload.part_size * u64::from(upload.total_parts - 1)
    } else {
        upload.part_size
    };
    let size = body.part_size.unwrap_or(expected_size);
    if size != expected_size {
        return Err(ApiError::bad_request(format!(
            "part {part_number} must be {expected_size} bytes, not {size}"
        )));
    }
    let path = state.uploads.presign(
        &state.ids,
        PendingUpload::Part {
            upload_id,
            part_number,
            size,
            sha256: body.sha256sum.filter(|s| !s.is_empty()),
        },
    );
    Ok(envelope::data(json!({"presignedURL": state.url(&path)})))
}

/// `PUT v2/imagefile/{imageID}/_multipart_complete`: joins the parts and checks the hash.
pub async fn complete_multipart(
    State(state): State<AppState>,
    Path(image_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: MultipartBody = parse_json(&body)?;
    let (upload_id, upload) = multipart_for(&state, &image_id, &body.upload_id)?;
    let completed = body.completed_parts.unwrap_or_default();
    if completed.len() != upload.parts.len()
        || upload.parts.len() as u64 != u64::from(upload.total_parts)
    {
        return Err(ApiError::bad_request(format!(
            "{} of {} parts were uploaded, {} listed as completed",
            upload.parts.len(),
            upload.total_parts,
            completed.len()
        )));
    }
    for part in &completed {
        let matches = upload
            .parts
            .get(&part.part_number)
            .is_some_and(|(_, etag)| *etag == part.token);
        if !matches {
            return Err(ApiError::bad_request(format!(
                "part {} has no upload with token {}",
                part.part_number, part.token
            )));
        }
    }
    let mut joined = Vec::with_capacity(usize::try_from(upload.file_size).unwrap_or(0));
    for (bytes, _) in upload.parts.values() {
        joined.extend_from_slice(bytes);
    }
    state.uploads.take_multipart(&upload_id);
    let reply = finish_upload(&state, &image_id, Bytes::from(joined)).await?;
    Ok(envelope::data(reply))
}

/// `PUT v2/imagefile/{imageID}/_multipart_abort`.
pub async fn abort_multipart(
    State(state): State<AppState>,
    Path(image_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: MultipartBody = parse_json(&body)?;
    let (upload_id, _) = multipart_for(&state, &image_id, &body.upload_id)?;
    state.uploads.take_multipart(&upload_id);
    Ok(envelope::data(
        json!({"uploadID": upload_id, "aborted": true}),
    ))
}
