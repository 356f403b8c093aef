//! The wire recorder: the shape of every request the emulator serves, for comparing two
//! clients' use of the protocol (sifbake's and Sylabs' own, in `conformance/`).
//!
//! A recording keeps what a protocol is made of and nothing a request carries: the method,
//! the route template (`/v1/build/{id}`, not the id), the query's keys, the header names,
//! the authorization scheme, the content type, and the JSON body as key paths with value
//! types. Never a value: not the token, not an image name, not a tag. It is off unless
//! [`crate::EmulatorConfig::record_requests`] turns it on.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::AppState;

/// Bodies up to this size with a known length are read to record their JSON shape; larger
/// ones (image uploads) pass untouched, so recording never buffers an image.
const MAX_RECORDED_BODY: usize = 1 << 20;

/// At most this many requests are kept; later ones are counted in `dropped`.
const MAX_RECORDED_REQUESTS: usize = 100_000;

/// The shape of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The route template as the router matched it (`/v1/images/{*path}`), or
    /// `unmatched` for a path no route serves.
    pub route: String,
    /// The query's keys, sorted, each once.
    pub query_keys: Vec<String>,
    /// The header names, lowercase, sorted, each once.
    pub header_names: Vec<String>,
    /// The `Authorization` header's scheme (`Bearer`), never its credentials.
    pub auth_scheme: Option<String>,
    /// The body's media type, without parameters.
    pub content_type: Option<String>,
    /// A JSON body's key paths (`a.b`, `list[]`, `list[].c`) and value types (`string`,
    /// `number`, `bool`, `null`, `object`, `array`); `None` when the body is empty, not
    /// JSON, or too large to record.
    pub body: Option<BTreeMap<String, String>>,
    /// The status the emulator answered with.
    pub status: u16,
}

/// The recorded requests, in the order they were answered.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Recording>,
}

#[derive(Debug, Default)]
struct Recording {
    requests: Vec<RecordedRequest>,
    dropped: u64,
}

impl Recorder {
    fn push(&self, request: RecordedRequest) {
        let mut recording = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if recording.requests.len() < MAX_RECORDED_REQUESTS {
            recording.requests.push(request);
        } else {
            recording.dropped += 1;
        }
    }

    /// Returns the requests recorded so far.
    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        let recording = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        recording.requests.clone()
    }

    /// Forgets every recorded request.
    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner) = Recording::default();
    }
}

/// Middleware on every route: records the request's shape when recording is on.
pub async fn record_layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.settings.record_requests {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    // The admin API is the test harness talking, not a client under comparison.
    if route.starts_with("/_emulator/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let (body, shape) = if recordable_length(&parts.headers) {
        match to_bytes(body, MAX_RECORDED_BODY).await {
            Ok(bytes) => {
                let shape = json_shape(&bytes);
                (Body::from(bytes), shape)
            }
            // The client sent less than it announced: let the handler see the same failure.
            Err(_) => (Body::empty(), None),
        }
    } else {
        (body, None)
    };
    let mut recorded = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        route,
        query_keys: query_keys(parts.uri.query()),
        header_names: header_names(&parts.headers),
        auth_scheme: auth_scheme(&parts.headers),
        content_type: content_type(&parts.headers),
        body: shape,
        status: 0,
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    recorded.status = response.status().as_u16();
    state.recorder.push(recorded);
    response
}

/// Records a request no route matched (the router's fallback does not run route layers).
pub fn record_unmatched(state: &AppState, request: &Request, status: u16) {
    if !state.settings.record_requests {
        return;
    }
    let headers = request.headers();
    state.recorder.push(RecordedRequest {
        method: request.method().as_str().to_owned(),
        route: "unmatched".to_owned(),
        query_keys: query_keys(request.uri().query()),
        header_names: header_names(headers),
        auth_scheme: auth_scheme(headers),
        content_type: content_type(headers),
        body: None,
        status,
    });
}

fn recordable_length(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok())
        .is_some_and(|length| length > 0 && length <= MAX_RECORDED_BODY)
}

fn query_keys(query: Option<&str>) -> Vec<String> {
    let mut keys: Vec<String> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').map_or(pair, |(key, _)| key).to_owned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn header_names(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn auth_scheme(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let scheme = value.split_whitespace().next()?;
    // A header with no separate credentials is the credential itself: keep none of it.
    (scheme.len() < value.trim().len()).then(|| scheme.to_owned())
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or_default().trim();
    (!media.is_empty()).then(|| media.to_ascii_lowercase())
}

/// The key paths and value types of a JSON body; `None` if it is not JSON.
fn json_shape(bytes: &[u8]) -> Option<BTreeMap<String, String>> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let mut shape = BTreeMap::new();
    walk(&value, String::new(), &mut shape);
    Some(shape)
}

fn walk(value: &Value, path: String, shape: &mut BTreeMap<String, String>) {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(items) => {
            for item in items {
                walk(item, format!("{path}[]"), shape);
            }
            "array"
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(field, child, shape);
            }
            "object"
        }
    };
    let label = if path.is_empty() { "$" } else { &path };
    // A path seen with two types (an array of mixed items) keeps both, sorted.
    shape
        .entry(label.to_owned())
        .and_modify(|seen| {
            if !seen.split('|').any(|known| known == kind) {
                let mut kinds: Vec<&str> = seen.split('|').chain([kind]).collect();
                kinds.sort_unstable();
                *seen = kinds.join("|");
            }
        })
        .or_insert_with(|| kind.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_keeps_its_shape_and_none_of_its_values() {
        let shape = json_shape(
            br#"{"libraryRef":"library://a/b/c:secret","builderRequirements":{"arch":"amd64"},"tags":["x"],"n":3,"ok":true,"nothing":null}"#,
        )
        .unwrap();
        let text = format!("{shape:?}");
        assert!(
            !text.contains("secret") && !text.contains("amd64"),
            "{text}"
        );
        assert_eq!(shape["libraryRef"], "string");
        assert_eq!(shape["builderRequirements"], "object");
        assert_eq!(shape["builderRequirements.arch"], "string");
        assert_eq!(shape["tags"], "array");
        assert_eq!(shape["tags[]"], "string");
        assert_eq!(shape["n"], "number");
        assert_eq!(shape["ok"], "bool");
        assert_eq!(shape["nothing"], "null");
        assert_eq!(shape["$"], "object");
    }

    #[test]
    fn not_json_has_no_shape() {
        assert_eq!(json_shape(b"\x00\x01 not json"), None);
    }

    #[test]
    fn query_keys_never_carry_values() {
        assert_eq!(
            query_keys(Some("arch=amd64&token=secret&arch=arm64&flag")),
            ["arch", "flag", "token"]
        );
        assert!(query_keys(None).is_empty());
    }

    #[test]
    fn only_the_scheme_of_the_authorization_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer s3cr3t".parse().unwrap());
        assert_eq!(auth_scheme(&headers).as_deref(), Some("Bearer"));
        headers.insert(header::AUTHORIZATION, "s3cr3t".parse().unwrap());
        assert_eq!(auth_scheme(&headers), None);
    }
}
