//! The OCI form of a SIF image, as `singularity push oras://` writes it: an image manifest
//! with the SIF config media type over the empty JSON config `{}`, and one layer of media
//! type [`SIF_LAYER`] holding the file, titled with its file name. Both SingularityCE
//! (`internal/pkg/client/oras/image.go`) and Apptainer write that shape, and both pull
//! only a manifest whose single layer has that media type. The manifest annotations are
//! the ones a registry's web page shows (source, revision, created).

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The SIF layer's media type (`SifLayerMediaTypeV1` in SingularityCE and Apptainer).
pub const SIF_LAYER: &str = "application/vnd.sylabs.sif.layer.v1.sif";
/// The config's media type (`SifConfigMediaTypeV1`).
pub const SIF_CONFIG: &str = "application/vnd.sylabs.sif.config.v1+json";
/// The manifest's media type. Apptainer writes the OCI one; SingularityCE labels the same
/// JSON as Docker's schema 2. Every registry and both pull paths accept the OCI one.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The media types a tag lookup accepts, so a registry answers with what the tag holds
/// instead of converting it.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// The config blob: the empty JSON object, as both clients push it.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// Annotation keys of the OCI image spec (`annotations.md`).
pub const TITLE: &str = "org.opencontainers.image.title";
pub const CREATED: &str = "org.opencontainers.image.created";
pub const SOURCE: &str = "org.opencontainers.image.source";
pub const REVISION: &str = "org.opencontainers.image.revision";

/// A SIF file to push.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SifArtifact {
    /// The file; read as a stream, never held in memory.
    pub path: PathBuf,
    /// The layer's title annotation: what `oras pull` names the file it writes.
    pub file_name: String,
    /// `sha256:<hex>` of the file when the caller knows it (the library's checksum);
    /// otherwise the client hashes the file first.
    pub digest: Option<String>,
    /// Manifest annotations (`created`, `source`, `revision`, …), written sorted.
    pub annotations: BTreeMap<String, String>,
}

impl SifArtifact {
    /// A SIF at `path`, titled with its file name, without annotations.
    pub fn new(path: impl Into<PathBuf>) -> SifArtifact {
        let path = path.into();
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image.sif".to_owned());
        SifArtifact {
            path,
            file_name,
            digest: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Adds the annotations a registry UI shows: where the image was built from, the
    /// commit, and when (RFC 3339). Empty values are left out.
    #[must_use]
    pub fn with_provenance(mut self, source: &str, revision: &str, created: &str) -> SifArtifact {
        for (key, value) in [(SOURCE, source), (REVISION, revision), (CREATED, created)] {
            if !value.is_empty() {
                self.annotations.insert(key.to_owned(), value.to_owned());
            }
        }
        self
    }
}

/// A content descriptor (OCI image spec `descriptor.md`).
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: [Descriptor; 1],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// Returns `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// The config blob's descriptor.
pub fn config_descriptor() -> Descriptor {
    Descriptor {
        media_type: SIF_CONFIG.to_owned(),
        digest: sha256_digest(EMPTY_CONFIG),
        size: EMPTY_CONFIG.len() as u64,
        annotations: BTreeMap::new(),
    }
}

/// Returns the manifest's bytes for a SIF whose layer has this digest and size.
/// Deterministic: the same inputs give the same bytes, so the same manifest digest.
pub fn manifest_bytes(artifact: &SifArtifact, layer_digest: &str, size: u64) -> Vec<u8> {
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: config_descriptor(),
        layers: [Descriptor {
            media_type: SIF_LAYER.to_owned(),
            digest: layer_digest.to_owned(),
            size,
            annotations: BTreeMap::from([(TITLE.to_owned(), artifact.file_name.clone())]),
        }],
        annotations: &artifact.annotations,
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_vec(&manifest).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_config_has_the_digest_both_clients_use() {
        assert_eq!(
            config_descriptor().digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn manifest_has_the_singularity_shape() {
        let artifact = SifArtifact::new("/tmp/out/app_1.0.sif").with_provenance(
            "https://github.com/acme/defs",
            "0123abc",
            "",
        );
        let bytes = manifest_bytes(&artifact, "sha256:abcd", 1234);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": SIF_CONFIG,
                    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                    "size": 2
                },
                "layers": [{
                    "mediaType": SIF_LAYER,
                    "digest": "sha256:abcd",
                    "size": 1234,
                    "annotations": {TITLE: "app_1.0.sif"}
                }],
                "annotations": {
                    SOURCE: "https://github.com/acme/defs",
                    REVISION: "0123abc"
                }
            })
        );
        assert_eq!(bytes, manifest_bytes(&artifact, "sha256:abcd", 1234));
    }
}
