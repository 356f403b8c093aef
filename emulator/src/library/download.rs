//! `GET v1/imagefile/{e}/{c}/{n}:{tag}?arch=`: a 303 See Other to a presigned download URL
//! of the image file, as the real library redirects to its object store.
//!
//! The official client downloads in concurrent ranged parts only after a 303
//! (scs-library-client `client/pull.go`, `legacyDownloadImage`: a 200 makes it "revert to
//! single stream"), and SingularityCE always downloads that way (`ConcurrentDownloadImage`).
//! The redirect target is unauthenticated, as an S3 URL is: the client sends the token only
//! to its library's own host, and the Apptainer fork's ranged requests send none at all. It
//! names the image by hash, so a tag moved during a download cannot mix two images. The
//! target answers 200 with `Content-Length`, or 206 for a `Range`, since concurrent
//! downloaders do not check part statuses and rely on ranges being honoured.
//!
//! The same route with POST is the legacy v1 upload (`v1/imagefile/{imageID}`).

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::routes::{ArchQuery, image_path};
use super::upload::upload_v1;
use crate::counters::Counter;
use crate::envelope::ApiError;
use crate::state::AppState;

/// Redirects to a presigned download URL of an image file.
pub async fn download(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(query): Query<ArchQuery>,
) -> Result<Response, ApiError> {
    let reference = image_path(&path)?;
    let hash = {
        let mut library = state.library();
        let image = library.resolve(&reference, &query.arch)?;
        if !image.uploaded {
            return Err(ApiError::not_found(format!(
                "image {} has not been uploaded",
                image.hash
            )));
        }
        let (id, hash) = (image.id.clone(), image.hash.clone());
        library.count_download(&id);
        hash
    };
    state.counters.bump(Counter::ImagesDownloaded);
    let location = state.url(&state.uploads.presign_download(&state.ids, &hash));
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::CONTENT_LENGTH, HeaderValue::from(0))],
    )
        .into_response();
    let location = HeaderValue::from_str(&location)
        .map_err(|_| ApiError::internal("download URL is not a valid header value"))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Serves image bytes for a request with `headers`: all of them, or the one range asked.
pub fn serve_bytes(bytes: Bytes, headers: &HeaderMap) -> Response {
    let total = bytes.len() as u64;
    let range = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .map(|value| parse_range(value, total));
    match range {
        None | Some(RangeRequest::Ignored) => full(bytes),
        Some(RangeRequest::Unsatisfiable) => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("range not satisfiable for {total} bytes"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{total}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
        Some(RangeRequest::Range { start, end }) => partial(&bytes, start, end, total),
    }
}

fn full(bytes: Bytes) -> Response {
    let length = bytes.len();
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
            (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        ],
        Body::from(bytes),
    )
        .into_response()
}

fn partial(bytes: &Bytes, start: u64, end: u64, total: u64) -> Response {
    let (Ok(first), Ok(last)) = (usize::try_from(start), usize::try_from(end)) else {
        return full(bytes.clone());
    };
    let slice = bytes.slice(first..=last);
    let mut response = (
        StatusCode::PARTIAL_CONTENT,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(slice.len())),
            (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        ],
        Body::from(slice),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

/// A parsed `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Not a single byte range we serve: answer with the whole file (allowed by RFC 9110).
    Ignored,
    /// No byte of the range exists.
    Unsatisfiable,
    /// Inclusive byte range.
    Range {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` for a file of `total` bytes.
pub fn parse_range(value: &str, total: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignored;
    };
    if spec.contains(',') {
        return RangeRequest::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignored;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let Ok(suffix) = last.parse::<u64>() else {
            return RangeRequest::Ignored;
        };
        if suffix == 0 || total == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Range {
            start: total.saturating_sub(suffix),
            end: total - 1,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeRequest::Ignored;
    };
    let end = if last.is_empty() {
        total.saturating_sub(1)
    } else {
        match last.parse::<u64>() {
            Ok(end) if end >= start => end.min(total.saturating_sub(1)),
            _ => return RangeRequest::Ignored,
        }
    };
    if start >= total {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Range { start, end }
}

/// `POST v1/imagefile/{imageID}`: the legacy upload.
pub async fn legacy_upload(
    State(state): State<AppState>,
    Path(image_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    upload_v1(&state, &image_id, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(
            parse_range("bytes=0-9", 100),
            RangeRequest::Range { start: 0, end: 9 }
        );
        assert_eq!(
            parse_range("bytes=90-", 100),
            RangeRequest::Range { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range("bytes=-10", 100),
            RangeRequest::Range { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range("bytes=0-1024", 100),
            RangeRequest::Range { start: 0, end: 99 }
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeRequest::Ignored);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeRequest::Ignored);
        assert_eq!(parse_range("items=0-1", 100), RangeRequest::Ignored);
    }
}
