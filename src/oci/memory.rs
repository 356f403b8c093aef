//! A registry in memory, for the executor's tests: it keeps tags and pushed layers per
//! repository, counts what was uploaded, and fails the next calls with errors a test
//! queues, so mirroring can be tested without a network (the real client is tested against
//! a real registry in `tests/oci/`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use super::artifact::{self, SifArtifact};
use super::reference::RepositoryRef;
use super::registry::{Pushed, Registry};
use crate::scs::{ServiceError, ServiceErrorKind};

/// What the memory registry holds and has seen.
#[derive(Debug, Default)]
pub struct MemoryState {
    /// `repository ref` → tag → manifest digest.
    pub tags: BTreeMap<String, BTreeMap<String, String>>,
    /// `repository ref` → manifest digest → layer digest.
    pub manifests: BTreeMap<String, BTreeMap<String, String>>,
    /// Files uploaded, as `(repository ref, layer digest)`, in order.
    pub uploads: Vec<(String, String)>,
    /// Errors the next calls fail with, oldest first.
    pub failures: VecDeque<ServiceError>,
}

/// A [`Registry`] in memory.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    pub state: Mutex<MemoryState>,
}

impl MemoryRegistry {
    /// Makes the next call fail with `error`.
    pub fn fail_next(&self, error: ServiceError) {
        self.lock().failures.push_back(error);
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_failure(&self) -> Result<(), ServiceError> {
        match self.lock().failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Registry for MemoryRegistry {
    async fn resolve_tag(
        &self,
        repo: &RepositoryRef,
        tag: &str,
    ) -> Result<Option<String>, ServiceError> {
        self.take_failure()?;
        Ok(self
            .lock()
            .tags
            .get(&repo.to_string())
            .and_then(|tags| tags.get(tag))
            .cloned())
    }

    async fn push_sif(
        &self,
        repo: &RepositoryRef,
        sif: &SifArtifact,
        tags: &[String],
    ) -> Result<Pushed, ServiceError> {
        self.take_failure()?;
        let bytes = std::fs::read(&sif.path).map_err(|error| {
            ServiceError::new(
                ServiceErrorKind::Protocol,
                format!("pushing {} to {repo}", sif.path.display()),
                error.to_string(),
            )
        })?;
        let layer_digest = artifact::sha256_digest(&bytes);
        let size = bytes.len() as u64;
        let manifest = artifact::manifest_bytes(sif, &layer_digest, size);
        let manifest_digest = artifact::sha256_digest(&manifest);
        let key = repo.to_string();
        let mut state = self.lock();
        let known = state
            .manifests
            .get(&key)
            .is_some_and(|manifests| manifests.values().any(|layer| *layer == layer_digest));
        if !known {
            state.uploads.push((key.clone(), layer_digest.clone()));
        }
        state
            .manifests
            .entry(key.clone())
            .or_default()
            .insert(manifest_digest.clone(), layer_digest.clone());
        let repo_tags = state.tags.entry(key).or_default();
        for tag in tags {
            repo_tags.insert(tag.clone(), manifest_digest.clone());
        }
        Ok(Pushed {
            manifest_digest,
            layer_digest,
            size,
            uploaded: !known,
        })
    }

    async fn tag_manifest(
        &self,
        repo: &RepositoryRef,
        digest: &str,
        tags: &[String],
    ) -> Result<(), ServiceError> {
        self.take_failure()?;
        let key = repo.to_string();
        let mut state = self.lock();
        let present = state
            .manifests
            .get(&key)
            .is_some_and(|manifests| manifests.contains_key(digest));
        if !present {
            return Err(ServiceError::new(
                ServiceErrorKind::Status {
                    code: 404,
                    message: "MANIFEST_UNKNOWN".to_owned(),
                },
                format!("tagging {repo}@{digest}"),
                "404 Not Found: MANIFEST_UNKNOWN",
            ));
        }
        let repo_tags = state.tags.entry(key).or_default();
        for tag in tags {
            repo_tags.insert(tag.clone(), digest.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_tags_counts_uploads_and_fails_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sif");
        std::fs::write(&path, b"SIF bytes").unwrap();
        let registry = MemoryRegistry::default();
        let repo = RepositoryRef::parse("oras://ghcr.io/acme/a").unwrap();
        let sif = SifArtifact::new(&path);
        let first = registry
            .push_sif(&repo, &sif, &["v1".to_owned()])
            .await
            .unwrap();
        let again = registry
            .push_sif(&repo, &sif, &["v2".to_owned()])
            .await
            .unwrap();
        assert!(first.uploaded && !again.uploaded);
        assert_eq!(registry.lock().uploads.len(), 1);
        assert_eq!(
            registry.resolve_tag(&repo, "v2").await.unwrap(),
            Some(first.manifest_digest.clone())
        );
        registry
            .tag_manifest(&repo, &first.manifest_digest, &["stable".to_owned()])
            .await
            .unwrap();
        assert!(registry.lock().tags[&repo.to_string()].contains_key("stable"));
        registry.fail_next(ServiceError::new(ServiceErrorKind::Auth, "x", "refused"));
        let error = registry.resolve_tag(&repo, "v1").await.unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::Auth);
        assert!(registry.resolve_tag(&repo, "v1").await.unwrap().is_some());
    }
}
