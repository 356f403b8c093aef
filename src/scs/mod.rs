//! The Sylabs services: the build service and the library, behind traits so the executor can
//! be driven by the HTTP clients, the emulator or a test double; the access token; and the
//! build context.

mod auth;
mod context;
mod service;

pub use auth::{
    AuthError, ResolvedToken, SYLABS_AUTH_TOKEN, SYLABS_TOKEN, Token, TokenSource, TokenSources,
    resolve_token,
};
pub use context::pack_context;
pub use service::{
    BuildInfo, BuildRequest, BuildService, ContextArchive, Image, Library, ServiceError,
    ServiceErrorKind,
};
