//! The registry as the executor sees it: a trait over domain types, so a run can be driven
//! by [`super::RegistryClient`] or a test double, like the Sylabs services' traits.

use std::future::Future;

use super::artifact::SifArtifact;
use super::reference::RepositoryRef;
use crate::scs::ServiceError;

/// What a push left in the repository.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Pushed {
    /// `sha256:<hex>` of the manifest every tag now points at.
    pub manifest_digest: String,
    /// `sha256:<hex>` of the SIF file (the layer).
    pub layer_digest: String,
    /// Bytes of the SIF file.
    pub size: u64,
    /// False when the registry already had the file, so nothing large was sent.
    pub uploaded: bool,
}

/// An OCI registry holding mirrors of the built images.
///
/// Errors are [`ServiceError`]s: [`crate::scs::ServiceErrorKind::Auth`] when credentials are
/// missing or refused (exit 3), `Forbidden` when they may not push there, the transient
/// kinds only once retries are used up.
pub trait Registry: Send + Sync {
    /// The digest of the manifest `tag` points at, `None` when there is no such tag: whether
    /// an image is already mirrored (by its digest tag).
    fn resolve_tag(
        &self,
        repo: &RepositoryRef,
        tag: &str,
    ) -> impl Future<Output = Result<Option<String>, ServiceError>> + Send;

    /// Pushes a SIF as `singularity push oras://` does and points every tag at it; blobs
    /// the repository has are not sent again.
    fn push_sif(
        &self,
        repo: &RepositoryRef,
        sif: &SifArtifact,
        tags: &[String],
    ) -> impl Future<Output = Result<Pushed, ServiceError>> + Send;

    /// Points more tags at a manifest the repository has (a retag: nothing uploaded).
    fn tag_manifest(
        &self,
        repo: &RepositoryRef,
        digest: &str,
        tags: &[String],
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;
}
