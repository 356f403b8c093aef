//! Asking the library, before anything is built, which images exist already by digest tag.
//!
//! Every image the offline plan would build is looked up (so it can become a retag), and so
//! is every image a dependent builds on (so its `From:` can be pinned to the exact image
//! even when the base is not rebuilt).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::exec::KnownImages;
use crate::graph::Graph;
use crate::libref::LibraryRef;
use crate::plan::{Action, DigestLookup, Plan};
use crate::scs::{Image, Library, ServiceError};

/// How many lookups run at once: enough to hide latency, few enough to stay polite.
const CONCURRENT_LOOKUPS: usize = 16;

/// Images found by digest tag.
#[derive(Clone, Debug, Default)]
pub struct Lookups {
    /// By (target name, arch).
    by_target: BTreeMap<(String, String), Image>,
    /// (container path, arch, digest tag) of every image found, for the plan's seam.
    by_tag: BTreeSet<(String, String, String)>,
    asked: usize,
    /// (container path, arch, digest tag) of image records whose upload never completed.
    incomplete: BTreeSet<(String, String, String)>,
    /// (container path, arch, digest tag) of unsigned images under a signed target's digest
    /// tag: that digest covers `signed`, so someone else pushed them; they count as missing.
    unsigned: BTreeSet<(String, String, String)>,
}

impl Lookups {
    /// Returns the image found for a target's architecture, if any.
    pub fn image(&self, target: &str, arch: &str) -> Option<&Image> {
        self.by_target.get(&(target.to_owned(), arch.to_owned()))
    }

    /// Returns the images found for the images of a plan, as the executor takes them.
    pub fn known_images(&self, plan: &Plan) -> KnownImages {
        plan.targets
            .iter()
            .flat_map(|target| target.images.iter().map(move |image| (target, image)))
            .filter_map(|(target, image)| {
                self.image(&target.name, &image.arch)
                    .map(|found| ((target.name.clone(), image.arch.clone()), found.clone()))
            })
            .collect()
    }

    /// The plan's notes about what was found: image records the library holds but whose
    /// upload never completed, which count as missing.
    pub fn notes(&self) -> Vec<String> {
        self.incomplete
            .iter()
            .map(|(path, arch, tag)| {
                format!(
                    "the library holds {path}:{tag} ({arch}) but its upload never completed; it counts as missing: it is built again, and nothing is tagged onto it"
                )
            })
            .chain(self.unsigned.iter().map(|(path, arch, tag)| {
                format!(
                    "the library holds {path}:{tag} ({arch}) unsigned, though the target is signed and that tag names its signed inputs (someone pushed an unsigned image with it); it counts as missing: it is built and signed again, and the tag moves to the signed image"
                )
            }))
            .collect()
    }

    /// Whether the library's image under this digest tag is unsigned though its target is
    /// signed.
    pub fn is_unsigned(&self, reference: &LibraryRef, arch: &str, tag: &str) -> bool {
        self.unsigned
            .contains(&(reference.path(), arch.to_owned(), tag.to_owned()))
    }

    /// Whether the library's image under this digest tag is a record whose upload never
    /// completed.
    pub fn is_incomplete(&self, reference: &LibraryRef, arch: &str, tag: &str) -> bool {
        self.incomplete
            .contains(&(reference.path(), arch.to_owned(), tag.to_owned()))
    }

    /// Returns how many lookups were made and how many found an image.
    pub fn counts(&self) -> (usize, usize) {
        (self.asked, self.by_target.len())
    }
}

impl DigestLookup for Lookups {
    fn exists(&self, reference: &LibraryRef, arch: &str, tag: &str) -> bool {
        self.by_tag
            .contains(&(reference.path(), arch.to_owned(), tag.to_owned()))
    }
}

/// The targets whose images are signed (`sign:`), for `prefetch`.
pub fn signed_targets(project: &crate::project::Project) -> BTreeSet<String> {
    project
        .manifest
        .targets
        .iter()
        .filter(|target| target.sign.is_some())
        .map(|target| target.name.clone())
        .collect()
}

/// Looks up the digest tags of the plan's build candidates and of the images they build on;
/// `signed` names the targets whose images must be signed.
pub async fn prefetch<L: Library + 'static>(
    library: Arc<L>,
    plan: &Plan,
    graph: &Graph,
    signed: &BTreeSet<String>,
) -> Result<Lookups, ServiceError> {
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    for target in &plan.targets {
        for image in &target.images {
            if image.action != Action::Skip {
                wanted.insert((target.name.clone(), image.arch.clone()));
                // The bases it builds on, for the same architecture.
                if let Some(index) = graph.index(&target.name) {
                    for edge in graph.dependencies(index) {
                        wanted.insert((graph.names()[edge.dependency].clone(), image.arch.clone()));
                    }
                }
            }
        }
    }
    let by_name: BTreeMap<&str, (&LibraryRef, BTreeMap<&str, &str>)> = plan
        .targets
        .iter()
        .map(|t| {
            let tags = t
                .images
                .iter()
                .filter_map(|i| Some((i.arch.as_str(), i.digest_tag.as_deref()?)))
                .collect();
            (t.name.as_str(), (&t.reference, tags))
        })
        .collect();
    let limit = Arc::new(Semaphore::new(CONCURRENT_LOOKUPS));
    let mut tasks = JoinSet::new();
    let mut asked = 0;
    for (name, arch) in wanted {
        let Some((reference, tags)) = by_name.get(name.as_str()) else {
            continue;
        };
        let Some(tag) = tags.get(arch.as_str()) else {
            continue;
        };
        asked += 1;
        let (library, limit) = (Arc::clone(&library), Arc::clone(&limit));
        let (reference, tag) = ((*reference).clone(), (*tag).to_owned());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let found = library.find_image(&reference, &tag, &arch).await;
            (name, reference, arch, tag, found)
        });
    }
    let mut lookups = Lookups {
        asked,
        ..Lookups::default()
    };
    while let Some(joined) = tasks.join_next().await {
        // A lookup task only panics on a bug; the image then counts as not found.
        let Ok((name, reference, arch, tag, result)) = joined else {
            continue;
        };
        match result? {
            Some(image) if image.uploaded && signed.contains(&name) && image.known_unsigned() => {
                lookups.unsigned.insert((reference.path(), arch, tag));
            }
            Some(image) if image.uploaded => {
                lookups.by_tag.insert((reference.path(), arch.clone(), tag));
                lookups.by_target.insert((name, arch), image);
            }
            Some(_) => {
                lookups.incomplete.insert((reference.path(), arch, tag));
            }
            None => {}
        }
    }
    Ok(lookups)
}
