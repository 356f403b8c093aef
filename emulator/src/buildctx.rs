//! Build contexts: the gzipped tar archives of `%files` sources (PROTOCOL.md §2.5).
//!
//! A context is announced with its digest and size (B5), uploaded to a presigned URL (B6),
//! checked against both, used by builds that name its digest, and deleted (B7). Announcing a
//! digest that is already stored answers without a `Location`, so the client skips the upload.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::envelope::ApiError;
use crate::ids::hex;

/// One announced or stored context.
#[derive(Debug, Clone)]
struct ContextEntry {
    size: u64,
    bytes: Option<Bytes>,
}

/// The contexts by digest (`sha256.<hex>`).
#[derive(Debug, Default)]
pub struct ContextStore {
    inner: Mutex<HashMap<String, ContextEntry>>,
}

/// Returns true if `digest` is `sha256.<64 lowercase hex>`.
pub fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256.").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl ContextStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, ContextEntry>> {
        // Entries are replaced whole, so a poisoned lock still holds consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Announces a context; returns true if it is already stored (no upload needed).
    pub fn announce(&self, digest: &str, size: u64) -> bool {
        let mut contexts = self.lock();
        if contexts
            .get(digest)
            .is_some_and(|entry| entry.bytes.is_some())
        {
            return true;
        }
        contexts.insert(digest.to_owned(), ContextEntry { size, bytes: None });
        false
    }

    /// Stores uploaded bytes after checking them against the announced size and digest.
    pub fn store(&self, digest: &str, bytes: Bytes) -> Result<(), ApiError> {
        let mut contexts = self.lock();
        let entry = contexts.get_mut(digest).ok_or_else(|| {
            ApiError::not_found(format!("build context {digest} was not announced"))
        })?;
        if bytes.len() as u64 != entry.size {
            return Err(ApiError::bad_request(format!(
                "build context is {} bytes, {} were announced",
                bytes.len(),
                entry.size
            )));
        }
        let actual = format!("sha256.{}", hex(&Sha256::digest(&bytes)));
        if actual != digest {
            return Err(ApiError::bad_request(format!(
                "build context has digest {actual}, {digest} was announced"
            )));
        }
        entry.bytes = Some(bytes);
        Ok(())
    }

    /// Returns a stored context's bytes.
    pub fn get(&self, digest: &str) -> Option<Bytes> {
        self.lock()
            .get(digest)
            .and_then(|entry| entry.bytes.clone())
    }

    /// Deletes a context; returns false if it was unknown.
    pub fn delete(&self, digest: &str) -> bool {
        self.lock().remove(digest).is_some()
    }
}

/// Lists the paths in a gzipped tar archive, rootless and without trailing slashes
/// (`home/u/proj/file.txt`), as the clients write them.
pub fn list_paths(archive: &[u8]) -> Result<BTreeSet<String>, String> {
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(archive)
        .read_to_end(&mut tar_bytes)
        .map_err(|error| format!("build context is not gzip data: {error}"))?;
    let mut reader = tar::Archive::new(tar_bytes.as_slice());
    let entries = reader
        .entries()
        .map_err(|error| format!("build context is not a tar archive: {error}"))?;
    let mut paths = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|error| format!("build context is corrupt: {error}"))?;
        let path = entry
            .path()
            .map_err(|error| format!("build context has a bad path: {error}"))?;
        let normalised = normalise(&path.to_string_lossy());
        if !normalised.is_empty() {
            paths.insert(normalised);
        }
    }
    Ok(paths)
}

/// Makes a path rootless and clean: no leading `/` or `./`, no trailing `/`, no `.` parts,
/// `..` resolved.
pub fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalise("/home/u/./proj/"), "home/u/proj");
        assert_eq!(normalise("./a/b/../c"), "a/c");
        assert_eq!(normalise("/"), "");
    }

    #[test]
    fn checks_uploads_against_the_announcement() {
        let store = ContextStore::default();
        let bytes = Bytes::from_static(b"archive");
        let digest = format!("sha256.{}", hex(&Sha256::digest(&bytes)));
        assert!(is_digest(&digest));
        assert!(!store.announce(&digest, 7));
        assert!(
            store
                .store(&digest, Bytes::from_static(b"archivX"))
                .is_err()
        );
        assert!(store.store(&digest, Bytes::from_static(b"short")).is_err());
        store.store(&digest, bytes).unwrap();
        assert!(store.announce(&digest, 7));
        assert!(store.get(&digest).is_some());
        assert!(store.delete(&digest));
        assert!(!store.delete(&digest));
    }
}
