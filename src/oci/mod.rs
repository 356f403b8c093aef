//! OCI registries as mirrors: `oras://` repository refs, where registry credentials come
//! from, and the client that pushes SIF images the way `singularity push oras://` does.
//!
//! # Several architectures: one manifest per architecture, arch-suffixed tags
//!
//! A mirror holds each architecture's SIF under its own tags (say `1.0` for the default
//! architecture and `1.0-arm64` for another), never an image index. `singularity pull
//! oras://` reads one manifest whose single layer is the SIF (SingularityCE's and Apptainer's
//! `internal/pkg/client/oras`). SingularityCE 4 would resolve an index by the host's
//! platform (go-containerregistry's `remote.Image` with `WithPlatform`), but Apptainer
//! releases whose pull calls `remote.Image` without a platform get linux/amd64 from an
//! index whatever the host is: an arm64 user would silently receive the amd64 image. A
//! plain manifest per tag is pulled correctly by every release, and the tag says which
//! architecture it holds.
//!
//! # Why the client is written here, not `oci-client`
//!
//! See the commit that added it: the ORAS project's `oci-client` builds its own reqwest
//! client (its default TLS feature pulls aws-lc; no loopback bypass of proxies), has no
//! retries and drops `Retry-After`, and adds about 50 crates; a mirror needs six calls.

mod artifact;
mod challenge;
mod client;
mod credentials;
mod failure;
#[cfg(test)]
mod memory;
mod reference;
#[cfg(test)]
mod reference_proptests;
mod registry;
mod transport;

pub use artifact::{
    CREATED, EMPTY_CONFIG, OCI_MANIFEST, REVISION, SIF_CONFIG, SIF_LAYER, SOURCE, SifArtifact,
    TITLE,
};
pub use client::{ClientOptions, RegistryClient, file_digest, is_valid_tag};
pub use credentials::{
    Credential, CredentialError, CredentialSources, EnvLookup, Secret, registry_env_prefix,
};
#[cfg(test)]
pub use memory::{MemoryRegistry, MemoryState};
pub use reference::{MAX_NAME_LEN, ReferenceError, ReferenceErrorKind, RepositoryRef, SCHEME};
pub use registry::{Pushed, Registry};
