//! Bearer-token authentication.
//!
//! The scheme is matched case-insensitively: the build client sends `BEARER`, the library
//! client and SingularityCE send `Bearer` (PROTOCOL.md §0.2). Missing or unknown tokens get
//! an enveloped 401. With no tokens configured the emulator runs open and accepts anything.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::envelope::ApiError;
use crate::state::{AppState, Shared};

/// Returns the token of an `Authorization: Bearer <token>` header, any scheme case.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks the request's token against the configured ones.
pub fn authenticate(state: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.settings.tokens.is_empty() {
        return Ok(());
    }
    match bearer_token(headers) {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token in Authorization header",
        )),
        Some(token) if state.settings.tokens.iter().any(|known| known == token) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid or expired token",
        )),
    }
}

/// Checks for admin rights: the admin token when one is configured (another valid token
/// gets 403), else any accepted token.
pub fn authenticate_admin(state: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(admin) = &state.settings.admin_token else {
        return authenticate(state, headers);
    };
    match bearer_token(headers) {
        Some(token) if token == admin => Ok(()),
        Some(token) if state.settings.tokens.iter().any(|known| known == token) => Err(
            ApiError::new(StatusCode::FORBIDDEN, "the admin API needs the admin token"),
        ),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "admin token required",
        )),
    }
}

/// Middleware that refuses requests without an accepted token.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Middleware that refuses requests without admin rights.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match authenticate_admin(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_the_scheme_case_insensitively() {
        for value in ["Bearer abc", "BEARER abc", "bearer   abc "] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer_token(&headers), Some("abc"), "{value}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer_token(&headers), None);
    }
}
