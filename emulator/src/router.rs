//! The route table: which path goes to which handler, behind which middleware.
//!
//! Layers, outermost first: counting and fault injection (every matched route), then
//! authentication (protected routes only). Public routes are the discovery document,
//! `/version`, `/v1/token-status` (which checks the token itself), `v1/oci-redirect` (always
//! 404) and the presigned upload URLs. The `v2/...` routes exist only when the announced
//! `apiVersion` enables them, like on a real server of that version.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};

use crate::envelope::ApiError;
use crate::state::AppState;
use crate::{admin, auth, build, discovery, faults, keystore, library, presigned, record};

/// Builds the router for an emulator.
pub fn router(state: AppState) -> Router {
    let features = state.settings.features;
    let mut protected = Router::new()
        .route("/v1/build", post(build::submit))
        .route("/v1/build/{id}", get(build::status))
        .route("/v1/build/{id}/_cancel", put(build::cancel))
        .route("/v1/build-ws/{id}", get(build::stream))
        .route("/v1/build-context", post(build::announce_context))
        .route("/v1/build-context/{digest}", delete(build::delete_context))
        .route("/v1/convert-def-file", post(build::convert_def_file))
        .route("/v1/entities", post(library::create_entity))
        .route("/v1/entities/{entity}", get(library::get_entity))
        .route("/v1/collections", post(library::create_collection))
        .route(
            "/v1/collections/{entity}/{collection}",
            get(library::get_collection),
        )
        .route("/v1/containers", post(library::create_container))
        .route(
            "/v1/containers/{entity}/{collection}/{container}",
            get(library::get_container),
        )
        .route("/v1/images", post(library::create_image))
        .route(
            "/v1/images/{*path}",
            get(library::get_image).delete(library::delete_image),
        )
        .route(
            "/v1/tags/{container}",
            get(library::get_tags_v1).post(library::set_tag_v1),
        )
        .route(
            "/v1/imagefile/{*path}",
            get(library::download).post(library::legacy_upload),
        )
        .route("/v1/search", get(library::search))
        .route("/v1/rbac/users/current", get(discovery::current_user));
    if features.v2_upload {
        protected = protected
            .route("/v2/imagefile/{image}", post(library::start_single))
            .route(
                "/v2/imagefile/{image}/_complete",
                put(library::complete_single),
            )
            .route(
                "/v2/imagefile/{image}/_multipart",
                post(library::start_multipart).put(library::presign_part),
            )
            .route(
                "/v2/imagefile/{image}/_multipart_complete",
                put(library::complete_multipart),
            )
            .route(
                "/v2/imagefile/{image}/_multipart_abort",
                put(library::abort_multipart),
            );
    }
    if features.v2_arch_tags {
        protected = protected.route(
            "/v2/tags/{container}",
            get(library::get_tags_v2).post(library::set_tag_v2),
        );
    }
    if state.settings.keystore {
        protected = protected
            .route("/pks/add", post(keystore::add))
            .route("/pks/lookup", get(keystore::lookup));
    }
    let protected = protected.route_layer(from_fn_with_state(state.clone(), auth::require_token));

    let admin = Router::new()
        .route("/_emulator/counters", get(admin::counters))
        .route("/_emulator/counters/_reset", post(admin::reset_counters))
        .route(
            "/_emulator/faults",
            get(admin::list_faults)
                .post(admin::add_fault)
                .delete(admin::clear_faults),
        )
        .route("/_emulator/faults/{id}", delete(admin::remove_fault))
        .route("/_emulator/builds", get(admin::builds))
        .route("/_emulator/builds/{id}/log", get(admin::build_log))
        .route("/_emulator/keys", get(admin::keys))
        .route(
            "/_emulator/requests",
            get(admin::recorded_requests).delete(admin::clear_recorded_requests),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin));

    Router::new()
        .route("/assets/config/config.prod.json", get(discovery::config))
        .route("/version", get(discovery::version))
        .route("/v1/token-status", get(discovery::token_status))
        .route("/v1/oci-redirect", get(library::oci_redirect))
        .route("/_upload/{token}", put(presigned::put))
        .route("/_download/{token}", get(presigned::get))
        .merge(protected)
        .merge(admin)
        .route_layer(from_fn_with_state(state.clone(), faults::fault_layer))
        .route_layer(from_fn_with_state(state.clone(), record::record_layer))
        .fallback(not_found)
        // Image files and contexts are uploaded in one body; the emulator holds them in
        // memory anyway, so it imposes no limit of its own.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Answers unknown paths and methods with an enveloped 404, and records them: a client
/// calling an endpoint the emulator lacks is what a wire comparison looks for.
async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    let response = ApiError::not_found("no such endpoint").into_response();
    record::record_unmatched(&state, &request, response.status().as_u16());
    response
}
