//! The Sylabs services: the build service and the library, behind traits so the executor can
//! be driven by the HTTP clients, the emulator or a test double; the HTTP clients themselves,
//! the token, endpoint discovery; and the build context.

mod auth;
mod build_client;
mod checksums;
mod connect;
mod context;
mod download;
mod endpoints;
pub(crate) mod http;
mod keystore;
mod library_client;
mod retry;
mod service;
mod transfer;
mod upload;
mod wire;
mod ws;

#[cfg(test)]
mod capture_tests;
#[cfg(test)]
mod emulator_tests;
#[cfg(test)]
pub(crate) mod keystore_tests;
#[cfg(test)]
mod transfer_tests;

pub use auth::{
    AuthError, ResolvedToken, SYLABS_AUTH_TOKEN, SYLABS_TOKEN, Token, TokenSource, TokenSources,
    resolve_token,
};
pub use build_client::BuildClient;
pub use connect::{ConnectOptions, Connection, connect, user_agent};
pub use context::pack_context;
pub use endpoints::{ConnectError, DEFAULT_REMOTE, Endpoints, ServiceKind, TagApi, same_service};
pub use http::{REQUEST_TIMEOUT, human_size, install_crypto_provider};
pub use keystore::{FetchKeyError, KeystoreClient, connect_keystore, keystore_unavailable};
pub use library_client::LibraryClient;
pub use retry::{Pause, PauseLog, RetryObserver, RetryPolicy};
pub use service::{
    BuildInfo, BuildRequest, BuildService, ContextArchive, Image, Library, ServiceError,
    ServiceErrorKind,
};
pub use transfer::{Downloaded, STALL_TIMEOUT, TransferError, TransferOptions, UploadApi};
