//! OCI registries as mirrors: `oras://` repository refs and the client that pushes SIF
//! images to them the way `singularity push oras://` does.

mod reference;

pub use reference::{MAX_NAME_LEN, ReferenceError, ReferenceErrorKind, RepositoryRef, SCHEME};
