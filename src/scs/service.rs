//! The two services a run talks to, as traits over domain types: the executor drives these,
//! and the HTTP clients, the in-process emulator or a test double implement them.
//!
//! Wire spellings stay in the clients (`wire.rs`); nothing here knows about HTTP or JSON.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use super::transfer::{Downloaded, TransferError};
use crate::libref::LibraryRef;

/// What to build remotely.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct BuildRequest {
    /// The definition as the builder receives it: build arguments filled in, dependencies'
    /// `From:` lines pinned to the exact images of this run.
    pub definition: String,
    /// Where the builder publishes the image (with its tags, usually the digest tag);
    /// `None` builds an ephemeral image the service keeps for about a day.
    pub library_ref: Option<LibraryRef>,
    /// The library the builder pulls `Bootstrap: library` sources from and pushes to.
    pub library_url: Option<String>,
    /// The architecture to build for (Go name).
    pub arch: String,
    /// The uploaded build context holding the `%files` sources (`sha256.<hex>`).
    pub context_digest: Option<String>,
    /// The absolute directory relative `%files` sources are resolved against on the builder.
    pub working_dir: Option<String>,
}

/// A remote build as the service reports it.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct BuildInfo {
    pub id: String,
    pub complete: bool,
    /// Bytes of the image; 0 until it succeeded.
    pub image_size: u64,
    /// `sha256.<hex>` of the image, once built.
    pub image_checksum: Option<String>,
    /// Where the image was published (`library://…` or the hostless opaque form).
    pub library_ref: Option<String>,
    /// The library holding it.
    pub library_url: Option<String>,
}

impl BuildInfo {
    /// Returns true if and only if the build produced an image: the only success test the
    /// service offers (PROTOCOL.md §2.3).
    pub fn succeeded(&self) -> bool {
        self.complete && self.image_size > 0
    }
}

/// A packed build context on disk, ready to upload.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ContextArchive {
    /// `sha256.<hex of the gzip bytes>`.
    pub digest: String,
    pub size: u64,
    /// The `.tar.gz` file.
    pub path: PathBuf,
}

/// An image in the library.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Image {
    pub id: String,
    /// `sha256.<hex>` of the SIF file.
    pub hash: String,
    pub size: u64,
    /// The id of the container the image belongs to (tags are set through it).
    pub container_id: String,
    pub arch: Option<String>,
    /// The image's file is complete in the library. A record whose upload never finished
    /// (a 0-byte image, one whose file the library lost) counts as missing: it is rebuilt,
    /// never tagged.
    pub uploaded: bool,
    /// Whether the library found a signature in the file; `None` when it did not say
    /// (a library that does not check, or has not checked yet).
    pub signed: Option<bool>,
    /// The signers' key fingerprints, upper-case hex as `sifbake_sif::keys` prints them.
    pub fingerprints: Vec<String>,
}

impl Image {
    /// The fingerprint to report as the image's signer: `expected` when the library names
    /// it among the signers, else the first one the library names.
    pub fn signer(&self, expected: Option<&str>) -> Option<&str> {
        let expected = expected.and_then(|expected| {
            self.fingerprints
                .iter()
                .find(|fingerprint| fingerprint.eq_ignore_ascii_case(expected))
        });
        expected.or(self.fingerprints.first()).map(String::as_str)
    }

    /// The library says the file holds no signature (not merely that it did not say).
    pub fn known_unsigned(&self) -> bool {
        self.signed == Some(false) && self.fingerprints.is_empty()
    }
}

/// Why a service call failed.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ServiceErrorKind {
    /// The token was refused (401).
    Auth,
    /// The token is valid, but its user may not do this (403): a permission on the entity
    /// or collection, not a token to replace.
    Forbidden,
    /// No connection could be made; nothing reached the service.
    Connect,
    /// The service answered with an error status.
    Status { code: u16, message: String },
    /// The service asked to slow down (429).
    RateLimited,
    /// No answer in time; the request may or may not have been acted on.
    Timeout,
    /// The build-log stream ended without a normal close.
    StreamDropped,
    /// The answer made no sense (bad JSON, missing fields, a checksum mismatch).
    Protocol,
}

/// A failed service call, with what was being done.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ServiceError {
    pub kind: ServiceErrorKind,
    /// What failed, as a lowercase fragment: "submitting the build", "reading image …".
    pub doing: String,
    /// Detail for people; never holds a token.
    pub detail: String,
    /// The service's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

impl ServiceError {
    /// Returns a new error.
    pub fn new(
        kind: ServiceErrorKind,
        doing: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        ServiceError {
            kind,
            doing: doing.into(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// Returns true if and only if trying again may work: no connection, 5xx, 429, a timeout
    /// or a dropped stream.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            ServiceErrorKind::Connect
            | ServiceErrorKind::RateLimited
            | ServiceErrorKind::Timeout
            | ServiceErrorKind::StreamDropped => true,
            ServiceErrorKind::Status { code, .. } => *code >= 500,
            ServiceErrorKind::Auth | ServiceErrorKind::Forbidden | ServiceErrorKind::Protocol => {
                false
            }
        }
    }

    /// Returns true if and only if the service cannot have acted on the request: it was never
    /// delivered, or the service answered with an error. Only then may a build be submitted
    /// again (a timeout may hide a build that started).
    pub fn not_acted_on(&self) -> bool {
        matches!(
            self.kind,
            ServiceErrorKind::Connect
                | ServiceErrorKind::RateLimited
                | ServiceErrorKind::Forbidden
                | ServiceErrorKind::Status { .. }
        )
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.doing, self.detail)
    }
}

impl std::error::Error for ServiceError {}

/// The remote build service (PROTOCOL.md §2).
pub trait BuildService: Send + Sync {
    /// Uploads a build context unless the service has it already (B5, B6).
    fn upload_context(
        &self,
        archive: &ContextArchive,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Deletes an uploaded build context (B7).
    fn delete_context(&self, digest: &str)
    -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Submits a build (B1). Never retried once the request may have reached the service.
    fn submit(
        &self,
        request: &BuildRequest,
    ) -> impl Future<Output = Result<BuildInfo, ServiceError>> + Send;

    /// Returns a build's status (B2).
    fn status(&self, id: &str) -> impl Future<Output = Result<BuildInfo, ServiceError>> + Send;

    /// Streams a build's log (B3) into `output` until the service closes the stream normally,
    /// which it does only once the build is finished. A dropped stream is an error of kind
    /// [`ServiceErrorKind::StreamDropped`]; the caller then polls [`BuildService::status`].
    fn stream_log(
        &self,
        id: &str,
        output: mpsc::Sender<String>,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Cancels a running build (B4).
    fn cancel(&self, id: &str) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// The container library (PROTOCOL.md §3).
pub trait Library: Send + Sync {
    /// Returns the image of `container` with this tag (or `sha256.` hash) for `arch`, if any.
    fn find_image(
        &self,
        container: &LibraryRef,
        tag: &str,
        arch: &str,
    ) -> impl Future<Output = Result<Option<Image>, ServiceError>> + Send;

    /// Points each tag at the image, for its architecture (v2 arch tags, or v1 tags on
    /// libraries that only speak v1).
    fn set_tags(
        &self,
        container: &LibraryRef,
        image: &Image,
        arch: &str,
        tags: &[String],
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Downloads the image of `container` with this tag (or `sha256.` hash) for `arch` to
    /// `destination`, a file path: written beside it under a temporary name, checked against
    /// the library's SHA-256, then renamed. On any failure nothing is left under either name.
    /// Implementations that cannot transfer files (test doubles) answer
    /// [`TransferError::Unsupported`].
    fn download_image(
        &self,
        container: &LibraryRef,
        tag: &str,
        arch: &str,
        destination: &Path,
    ) -> impl Future<Output = Result<Downloaded, TransferError>> + Send {
        let _ = (container, tag, arch, destination);
        std::future::ready(Err(TransferError::Unsupported))
    }

    /// Uploads the SIF `file` to `container` (`entity/collection/container`, created when
    /// missing; its tags are ignored) as an image for `arch`, unless the library has that
    /// file already; returns the library's image, uploaded, ready for
    /// [`Library::set_tags`]. Implementations that cannot transfer files answer
    /// [`TransferError::Unsupported`].
    fn upload_image(
        &self,
        container: &LibraryRef,
        arch: &str,
        file: &Path,
    ) -> impl Future<Output = Result<Image, TransferError>> + Send {
        let _ = (container, arch, file);
        std::future::ready(Err(TransferError::Unsupported))
    }
}
