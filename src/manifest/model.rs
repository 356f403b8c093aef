//! The manifest after loading: every target resolved, its definition file read and parsed,
//! its files found. Plain values; later stages (graph, plan) never touch the disk again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::deffile::Definition;
use crate::diagnostic::{Diagnostic, Location, SourceFile};
use crate::libref::LibraryRef;
use crate::oci::RepositoryRef;

use super::sign::SignSpec;
use super::tag_rule::TagRule;

/// A loaded `sifbake.yaml`.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The manifest file as read.
    pub source: Arc<SourceFile>,
    /// The repository root every path must stay inside.
    pub root: PathBuf,
    /// The manifest's directory, relative to `root` (empty when it is the root).
    pub base: String,
    /// The manifest file's name within `base`.
    pub file_name: String,
    /// Targets, sorted by name.
    pub targets: Vec<Target>,
    /// What builds do with their images, per kind of git ref.
    pub publish: PublishPolicy,
    /// Problems that do not stop a run.
    pub warnings: Vec<Diagnostic>,
}

impl Manifest {
    /// Returns the manifest's path relative to the repository root.
    pub fn manifest_path(&self) -> String {
        if self.base.is_empty() {
            self.file_name.clone()
        } else {
            format!("{}/{}", self.base, self.file_name)
        }
    }

    /// Returns the target with this name.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|target| target.name == name)
    }
}

/// One image to build (per architecture).
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    /// Where the target is declared in the manifest.
    pub declared_at: Location,
    /// The definition file, repository-relative.
    pub def_path: String,
    /// The definition file as read, for error snippets.
    pub def_source: Arc<SourceFile>,
    /// The definition file as written (templates not yet filled in).
    pub definition: Definition,
    /// The definition text with build arguments filled in: what the builder receives.
    pub rendered: String,
    /// `rendered`, parsed: its `From:` lines and `%files` sources are the real ones.
    pub rendered_definition: Definition,
    /// The library container to publish to (no tags: tags come from the rules).
    pub reference: LibraryRef,
    pub reference_at: Location,
    /// The directory `%files` sources are relative to, repository-relative.
    pub context: String,
    /// Build argument values given in the manifest (defaults merged with the target's own).
    pub args: BTreeMap<String, String>,
    /// Architectures to build for (Go names: `amd64`, `arm64`, ...).
    pub arch: Vec<String>,
    /// Explicit dependencies, with where each is declared.
    pub depends_on: Vec<(String, Location)>,
    pub tags: Vec<TagRule>,
    pub timeout: Duration,
    /// `inputs` globs as written, with their locations.
    pub inputs: Vec<(String, Location)>,
    /// Every repository file the image depends on: the definition file, its `%files`
    /// sources and the `inputs` matches. Sorted, repository-relative.
    pub files: Vec<String>,
    /// The `%files` sources alone (what the build context uploads). Sorted.
    pub context_files: Vec<String>,
    /// How the images are signed (`defaults.sign`, or the target's own); `None`: unsigned.
    pub sign: Option<SignSpec>,
    /// OCI repositories the images are also pushed to, templates filled in; in manifest
    /// order, no two alike.
    pub mirrors: Vec<RepositoryRef>,
    /// Where each of `mirrors` is written (the template's line).
    pub mirrors_at: Vec<Location>,
    /// The user's `%labels` (`defaults.labels` with the target's own over them), added to
    /// each image next to the provenance labels.
    pub labels: BTreeMap<String, String>,
}

/// Architectures the Sylabs build service and library name (Go `GOARCH` values).
pub const KNOWN_ARCHES: &[&str] = &[
    "amd64", "arm64", "ppc64le", "s390x", "386", "arm", "riscv64", "mips64le", "loong64",
];

/// The architecture built when the manifest names none.
pub const DEFAULT_ARCH: &str = "amd64";

/// The per-target build timeout when the manifest names none: the real service's own
/// maximum build duration (PROTOCOL.md §2.7).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// What a build does with its images.
#[derive(Clone, Copy, Debug, Eq, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Publish {
    /// Publish to the target's ref and set its tags.
    Push,
    /// Build without publishing: the service keeps the image about a day. Proves the
    /// definitions build without touching the library.
    Ephemeral,
    /// Build nothing (`sifbake build` only plans).
    Skip,
}

/// [`Publish`] per kind of git ref.
#[derive(Clone, Copy, Debug, Eq, PartialEq, serde::Serialize)]
pub struct PublishPolicy {
    /// Pull and merge requests (default: ephemeral).
    pub pr: Publish,
    /// Branch pushes, scheduled and manual runs (default: push).
    pub branch: Publish,
    /// Git tags (default: push).
    pub tag: Publish,
}

impl Default for PublishPolicy {
    fn default() -> Self {
        PublishPolicy {
            pr: Publish::Ephemeral,
            branch: Publish::Push,
            tag: Publish::Push,
        }
    }
}
