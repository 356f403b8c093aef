//! The Singularity Image Format (SIF) and its OpenPGP signatures, as sylabs/sif v2 and
//! `singularity sign` / `verify` read and write them.
//!
//! - [`format`]: the global header and descriptor table, read without loading data objects,
//!   and appending one object into a free descriptor slot (`AddObject`).
//! - [`append`]: adding objects (signatures) to an image, atomically.
//! - [`keys`]: armored OpenPGP keys, checked when loaded.
//! - [`integrity`]: signing an object group and verifying it, in the format of sif/v2's
//!   `pkg/integrity` (clear-signed JSON metadata of header, descriptor and data digests).
//! - [`write`]: a whole SIF from its objects, laid out as sif/v2 creates one.
//!
//! Pure and synchronous: no network, no async runtime.

pub mod append;
pub mod format;
pub mod integrity;
pub mod keys;
pub mod write;
