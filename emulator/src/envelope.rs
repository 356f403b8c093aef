//! The SCS JSON envelope (`{"data": ...}` / `{"error": {"code", "message"}}`).
//!
//! Every enveloped reply goes through [`data`], [`data_with_status`] or [`ApiError`], so the
//! key spellings of PROTOCOL.md §0.1 live in one place. Clients decode `error` first and fall
//! back to the bare HTTP status, so the status and `error.code` always agree.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The success envelope.
#[derive(Debug, Serialize)]
struct DataEnvelope<T> {
    data: T,
}

/// The error body inside the envelope.
#[derive(Debug, Serialize)]
struct ErrorBody {
    code: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

/// The error envelope.
#[derive(Debug, Serialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

/// Returns `{"data": value}` with status 200.
pub fn data<T: Serialize>(value: T) -> Response {
    data_with_status(StatusCode::OK, value)
}

/// Returns `{"data": value}` with the given status.
pub fn data_with_status<T: Serialize>(status: StatusCode, value: T) -> Response {
    (status, Json(DataEnvelope { data: value })).into_response()
}

/// A request that failed; rendered as the enveloped error with a matching HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status, also sent as `error.code`.
    pub status: StatusCode,
    /// The human-readable `error.message`.
    pub message: String,
}

impl ApiError {
    /// Creates an error with the given status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// Returns a 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Returns a 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Returns a 409 Conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// Returns a 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.status.as_u16(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Decodes a JSON request body regardless of its `Content-Type`.
///
/// The Go library client sends POST/PUT bodies without a `Content-Type` header (PROTOCOL.md
/// §3.2), so axum's `Json` extractor, which insists on one, cannot be used. Unknown keys are
/// ignored by the target types, because Go clients send whole structs full of zero values.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("malformed JSON body: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Named {
        name: String,
    }

    #[test]
    fn parse_json_ignores_unknown_keys_and_reports_malformed_bodies() {
        let named: Named =
            parse_json(br#"{"name":"x","createdAt":"0001-01-01T00:00:00Z","collections":null}"#)
                .unwrap();
        assert_eq!(named.name, "x");
        let error = parse_json::<Named>(b"{not json").unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(error.message.starts_with("malformed JSON body"));
    }
}
