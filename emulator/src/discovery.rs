//! Service discovery, version, token status and identity (PROTOCOL.md §1).
//!
//! Every service of the discovery document points at this emulator's own base URL, so one
//! listener plays frontend, builder, library, keystore and token service.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::authenticate;
use crate::envelope::{self, ApiError};
use crate::state::AppState;

/// `GET /assets/config/config.prod.json`: bare JSON, no envelope. `keystoreAPI` only when
/// the keystore is served.
pub async fn config(State(state): State<AppState>) -> Response {
    let base = &state.base_url;
    let mut document = json!({
        "libraryAPI": {"uri": base},
        "builderAPI": {"uri": base, "managerUri": base},
        "tokenAPI": {"uri": base},
    });
    if state.settings.keystore {
        document["keystoreAPI"] = json!({"uri": base});
    }
    Json(document).into_response()
}

/// `GET /version`: `{"data": {"version", "apiVersion"}}`; `apiVersion` is left out in
/// v1-only mode, which is how old libraries answer.
pub async fn version(State(state): State<AppState>) -> Response {
    let version = format!("scs-emulator-{}", env!("CARGO_PKG_VERSION"));
    match &state.settings.api_version {
        Some(api_version) => envelope::data(json!({"version": version, "apiVersion": api_version})),
        None => envelope::data(json!({"version": version})),
    }
}

/// `GET /v1/token-status`: 200 for an accepted token (body ignored by clients), else 401.
pub async fn token_status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers)?;
    Ok(Json(json!({"status": "valid"})).into_response())
}

/// `GET /v1/rbac/users/current`: bare JSON identity of the token's user.
pub async fn current_user(State(state): State<AppState>) -> Response {
    let user = &state.settings.user;
    Json(json!({
        "username": user,
        "email": format!("{user}@scs-emulator.invalid"),
        "realname": "Emulated User",
        "oidc_user_meta": {"secret": ""},
    }))
    .into_response()
}
