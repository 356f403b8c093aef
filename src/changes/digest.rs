//! Input digests: one SHA-256 per target and architecture over everything the image is
//! built from, so that the same inputs give the same digest on any machine and checkout.
//!
//! The digest covers, as a canonical JSON document: the format version, the architecture,
//! the definition text after build arguments are filled in, the manifest's build arguments,
//! the `inputs` patterns as written, each file the image depends on (repository-relative
//! path, executable bit, SHA-256 of its content), and the digests of the targets it builds
//! on, for the same architecture (a Merkle tree). No modification times, no absolute paths,
//! files in sorted order.
//!
//! Two keys enter only when set, so that manifests without them keep the digests they had:
//! the user's `labels` (they are part of the image), and `signed: true` when the target is
//! signed, so an unsigned image is never adopted as the signed one nor the other way round.
//! Which key signs stays out: a plan must work without the secret that would identify it,
//! and a rotated key should re-sign, which is the signer's concern, not a rebuild's.
//!
//! Line endings: a text file (no NUL byte in its first 8000 bytes, the test git uses) is
//! hashed with every CRLF read as LF, so a checkout with `core.autocrlf` gives the digest of
//! one without. Binary files are hashed byte for byte. The definition text is normalised
//! the same way.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::graph::Graph;
use crate::manifest::Manifest;

/// The version of the digest document; bump it when its content changes, so old digest tags
/// stop matching rather than matching wrongly.
pub const DIGEST_FORMAT: &str = "sifbake-inputs-v1";

/// How many leading bytes decide whether a file is text (git's `buffer_is_binary`).
const BINARY_PROBE: usize = 8000;

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// A file that could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{path}` to compute input digests: {source}")]
pub struct DigestError {
    pub path: String,
    #[source]
    pub source: io::Error,
}

/// The digests of every target, per architecture, as 64 lowercase hex digits.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Digests {
    /// Indexed like the manifest's targets; each maps an architecture to its digest.
    pub per_target: Vec<BTreeMap<String, String>>,
}

impl Digests {
    /// Returns the digest of a target's image for one architecture.
    pub fn get(&self, target: usize, arch: &str) -> Option<&str> {
        self.per_target
            .get(target)
            .and_then(|by_arch| by_arch.get(arch))
            .map(String::as_str)
    }
}

/// The content hash and executable bit of one repository file.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct FileHash {
    pub sha256: String,
    pub executable: bool,
}

/// What one target's digest is computed over.
#[derive(Serialize)]
struct DigestDocument<'a> {
    format: &'static str,
    arch: &'a str,
    definition_sha256: String,
    args: &'a BTreeMap<String, String>,
    inputs: Vec<&'a str>,
    files: BTreeMap<&'a str, &'a FileHash>,
    dependencies: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    signed: bool,
}

/// Computes every target's digests. Files are read once each, on all cores.
pub fn compute(manifest: &Manifest, graph: &Graph) -> Result<Digests, DigestError> {
    let mut digests = Digests::default();
    digests.ensure(manifest, graph, &vec![true; manifest.targets.len()])?;
    Ok(digests)
}

impl Digests {
    /// Computes the digests of the `wanted` targets (indexed like the manifest's), and of
    /// the targets they build on, that are not known yet. A plan needs the digests of the
    /// targets it builds or retags only: with git telling what changed, hashing every
    /// input of a large repository would cost far more than the diff.
    pub fn ensure(
        &mut self,
        manifest: &Manifest,
        graph: &Graph,
        wanted: &[bool],
    ) -> Result<(), DigestError> {
        let count = manifest.targets.len();
        self.per_target.resize(count, BTreeMap::new());
        let known = |digests: &Digests, index: usize| !digests.per_target[index].is_empty();
        let mut needed = vec![false; count];
        let mut pending: Vec<usize> = (0..count)
            .filter(|&index| wanted.get(index) == Some(&true))
            .collect();
        while let Some(index) = pending.pop() {
            if !needed[index] && !known(self, index) {
                needed[index] = true;
                pending.extend(graph.dependencies(index).iter().map(|e| e.dependency));
            }
        }

        let mut unique: BTreeSet<&str> = BTreeSet::new();
        for (index, target) in manifest.targets.iter().enumerate() {
            if needed[index] {
                for file in &target.files {
                    if file != &target.def_path {
                        unique.insert(file);
                    }
                }
            }
        }
        let paths: Vec<&str> = unique.into_iter().collect();
        let hashes = hash_files(&manifest.root, &paths)?;

        for level in graph.levels() {
            for &index in level {
                if needed[index] {
                    let digests = target_digests(manifest, graph, index, &hashes, self);
                    self.per_target[index] = digests;
                }
            }
        }
        Ok(())
    }
}

/// One target's digests, per architecture; its dependencies' digests are known.
fn target_digests(
    manifest: &Manifest,
    graph: &Graph,
    index: usize,
    hashes: &BTreeMap<&str, FileHash>,
    known: &Digests,
) -> BTreeMap<String, String> {
    let target = &manifest.targets[index];
    let definition_sha256 = hex(&hash_text(target.rendered.as_bytes()));
    let mut by_arch = BTreeMap::new();
    for arch in &target.arch {
        let dependencies: BTreeMap<&str, &str> = graph
            .dependencies(index)
            .iter()
            .map(|edge| {
                let name = graph.names()[edge.dependency].as_str();
                // A dependency not built for this arch comes from elsewhere (lint warns);
                // its absence is part of the digest as an empty string.
                let digest = known.get(edge.dependency, arch).unwrap_or("");
                (name, digest)
            })
            .collect();
        let document = DigestDocument {
            format: DIGEST_FORMAT,
            arch,
            definition_sha256: definition_sha256.clone(),
            args: &target.args,
            inputs: target
                .inputs
                .iter()
                .map(|(pattern, _)| pattern.as_str())
                .collect(),
            files: target
                .files
                .iter()
                .filter(|file| *file != &target.def_path)
                .filter_map(|file| hashes.get(file.as_str()).map(|hash| (file.as_str(), hash)))
                .collect(),
            dependencies,
            labels: &target.labels,
            signed: target.sign.is_some(),
        };
        // Serialising plain strings, maps and bools cannot fail.
        let json = serde_json::to_vec(&document).unwrap_or_default();
        by_arch.insert(arch.clone(), hex(&Sha256::digest(&json)));
    }
    by_arch
}

/// Hashes files relative to `root` on all available cores.
pub fn hash_files<'a>(
    root: &Path,
    paths: &[&'a str],
) -> Result<BTreeMap<&'a str, FileHash>, DigestError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FileHash, DigestError>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                // One buffer per worker: a fresh 1 MiB zeroed buffer per file was a third
                // of the time when planning 20,000 small files.
                let mut buffer = vec![0u8; CHUNK];
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(index) else {
                        break;
                    };
                    let result = hash_file_with(&root.join(path), &mut buffer).map_err(|source| {
                        DigestError {
                            path: (*path).to_owned(),
                            source,
                        }
                    });
                    if let Ok(mut slots) = results.lock() {
                        slots[index] = Some(result);
                    }
                }
            });
        }
    });
    let slots = results.into_inner().unwrap_or_default();
    let mut hashes = BTreeMap::new();
    for (path, slot) in paths.iter().zip(slots) {
        match slot {
            Some(Ok(hash)) => {
                hashes.insert(*path, hash);
            }
            Some(Err(error)) => return Err(error),
            None => {
                return Err(DigestError {
                    path: (*path).to_owned(),
                    source: io::Error::other("a hashing thread stopped early"),
                });
            }
        }
    }
    Ok(hashes)
}

/// Hashes one file, following symbolic links (the build context stores their targets).
pub fn hash_file(path: &Path) -> io::Result<FileHash> {
    hash_file_with(path, &mut vec![0u8; CHUNK])
}

/// Hashes one file, reading through `buffer`.
fn hash_file_with(path: &Path, buffer: &mut [u8]) -> io::Result<FileHash> {
    let mut file = File::open(path)?;
    let executable = file.metadata()?.permissions().mode() & 0o111 != 0;
    let mut hasher = Sha256::new();
    let mut text: Option<bool> = None;
    // A CR at the end of one chunk may pair with an LF at the start of the next.
    let mut held_cr = false;
    loop {
        let read = file.read(buffer)?;
        if read == 0 {
            break;
        }
        let chunk = &buffer[..read];
        let is_text =
            *text.get_or_insert_with(|| !chunk[..chunk.len().min(BINARY_PROBE)].contains(&0));
        if is_text {
            held_cr = feed_normalised(&mut hasher, chunk, held_cr);
        } else {
            hasher.update(chunk);
        }
    }
    if held_cr {
        hasher.update(b"\r");
    }
    Ok(FileHash {
        sha256: hex(&hasher.finalize()),
        executable,
    })
}

/// Hashes text with every CRLF read as LF.
fn hash_text(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    if feed_normalised(&mut hasher, bytes, false) {
        hasher.update(b"\r");
    }
    hasher.finalize().into()
}

/// Feeds `chunk` to the hasher with CRLF read as LF. `held_cr` says the previous chunk ended
/// in a CR not yet fed; returns whether this chunk does.
fn feed_normalised(hasher: &mut Sha256, chunk: &[u8], held_cr: bool) -> bool {
    let mut start = 0;
    if held_cr {
        if chunk.first() == Some(&b'\n') {
            // The held CR was half of a CRLF: drop it.
        } else {
            hasher.update(b"\r");
        }
    }
    for position in memchr::memchr_iter(b'\r', chunk) {
        if chunk.get(position + 1) == Some(&b'\n') {
            hasher.update(&chunk[start..position]);
            start = position + 1;
        }
    }
    if chunk.last() == Some(&b'\r') && start < chunk.len() {
        hasher.update(&chunk[start..chunk.len() - 1]);
        return true;
    }
    hasher.update(&chunk[start..]);
    false
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests;
