//! Jobs: one per image (target × architecture) the plan builds or retags, with everything
//! the executor needs to run it without looking at the project again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::deffile::Definition;
use crate::libref::LibraryRef;
use crate::plan::{Action, Plan, Reason};
use crate::project::Project;
use crate::scs::Image;

use super::events::JobKind;
use super::pin::{self, PinSite};

/// A job's position in the job list; events and summaries name jobs by it.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct JobId(pub usize);

/// Images the caller found in the library, by `(target name, arch)`: the existing image of a
/// retag job, and the image to pin a dependency to that this run does not build.
pub type KnownImages = BTreeMap<(String, String), Image>;

/// What a job does.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum JobAction {
    /// Submit a remote build.
    Build,
    /// Set tags on an image the library holds already (its digest tag was found).
    Retag { image: Image },
}

/// Where a job's build context comes from.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ContextSource {
    /// The repository root.
    pub root: PathBuf,
    /// The `%files` sources, repository-relative; empty means no context is uploaded.
    pub files: Vec<String>,
    /// The directory relative `%files` sources are resolved against, repository-relative.
    pub directory: String,
}

impl ContextSource {
    /// Returns the absolute working directory the builder resolves `%files` sources against.
    pub fn working_dir(&self) -> PathBuf {
        self.root.join(&self.directory)
    }
}

/// A target a job builds on, and where its image comes from.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Base {
    pub target: String,
    /// Its index in the manifest's target list (what [`PinSite::dependency`] holds).
    pub target_index: usize,
    /// Its container (no tags).
    pub container: LibraryRef,
    pub image: BaseImage,
}

/// Where a base's image comes from.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum BaseImage {
    /// The image a job of this run builds or retags.
    Job(JobId),
    /// An image the caller found (by digest tag); this run does not touch it.
    Known(Image),
    /// Neither: a `Bootstrap: library` stage keeps its `From:` as written.
    Unknown,
}

/// One image to build or retag.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: JobId,
    pub target: String,
    /// The target's index in the manifest's target list.
    pub target_index: usize,
    pub arch: String,
    pub action: JobAction,
    /// The target's container (no tags).
    pub container: LibraryRef,
    /// False for an ephemeral build (pull requests): no library ref, and no tags set.
    pub publish: bool,
    /// The tags to set, the digest tag included; empty when not publishing.
    pub tags: Vec<String>,
    /// `inputs-<16 hex>`: the tag the build is pushed with.
    pub digest_tag: String,
    /// The definition with build arguments filled in (not yet pinned).
    pub definition: String,
    /// `definition`, parsed; its spans index `definition`.
    pub parsed: Definition,
    /// The stages of `definition` that bootstrap from another target.
    pub pin_sites: Vec<PinSite>,
    pub context: ContextSource,
    /// The target's timeout, counted from the moment the job starts.
    pub timeout: Duration,
    /// Jobs of this run that must succeed first (the same arch of the targets it builds on).
    pub dependencies: Vec<JobId>,
    /// Every target it builds on, with where its image comes from.
    pub bases: Vec<Base>,
    /// An image with the same inputs that another run finished (found by the digest tag just
    /// before submitting, or after the build) may stand in for this one: two CI jobs on one
    /// commit then converge on one image. False with `--all`, which rebuilds on purpose, and
    /// for ephemeral builds.
    pub adopt: bool,
    /// The target's own `%labels` (the manifest's `labels:`), part of its input digest.
    pub labels: Vec<(String, String)>,
    /// The OCI repositories the image also goes to once tagged (none when not publishing).
    pub mirrors: Vec<crate::oci::RepositoryRef>,
    /// The architecture a mirror's tags end with (`1.0-arm64`): every one but the target's
    /// first, whose tags are the library's (see `crate::oci` on several architectures).
    pub mirror_arch_suffix: Option<String>,
}

impl Job {
    /// The `%labels` the submitted definition gets: the target's own, then the run's
    /// provenance labels the user did not set (a label the user names is theirs).
    pub fn labels_with(&self, provenance: &[(String, String)]) -> Vec<(String, String)> {
        let mut labels = self.labels.clone();
        labels.extend(
            provenance
                .iter()
                .filter(|(name, _)| !self.labels.iter().any(|(own, _)| own == name))
                .cloned(),
        );
        labels
    }

    /// Returns whether the job builds or retags.
    pub fn kind(&self) -> JobKind {
        match self.action {
            JobAction::Build => JobKind::Build,
            JobAction::Retag { .. } => JobKind::Retag,
        }
    }
}

/// What the job list is made from.
pub struct JobsRequest<'a> {
    pub project: &'a Project,
    pub plan: &'a Plan,
    /// Whether images are published and tagged (false: ephemeral builds, no tags).
    pub publish: bool,
    /// Images the caller found by digest tag.
    pub known_images: &'a KnownImages,
}

/// Why the job list could not be made.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum JobsError {
    /// The plan retags an image the caller did not supply.
    #[error("the plan retags `{target}` ({arch}), but its existing image was not given")]
    RetagImageUnknown { target: String, arch: String },
    /// The plan names a target the project does not have.
    #[error("the plan names `{target}`, which is not a target of the project")]
    UnknownTarget { target: String },
    /// The plan builds an image whose input digest it did not compute.
    #[error("the plan builds `{target}` ({arch}) without its input digest")]
    DigestUnknown { target: String, arch: String },
}

/// Returns one job per image the plan builds or retags, in plan (build) order.
pub fn jobs(request: &JobsRequest<'_>) -> Result<Vec<Job>, JobsError> {
    let project = request.project;
    let targets = &project.manifest.targets;
    let graph = &project.graph;

    // First the ids, so a job can name the jobs of the targets it builds on.
    let mut ids: BTreeMap<(usize, &str), JobId> = BTreeMap::new();
    let mut selected = Vec::new();
    for planned in &request.plan.targets {
        let index = graph
            .index(&planned.name)
            .filter(|&index| index < targets.len())
            .ok_or_else(|| JobsError::UnknownTarget {
                target: planned.name.clone(),
            })?;
        for image in &planned.images {
            if matches!(image.action, Action::Build | Action::Retag) {
                let id = JobId(selected.len());
                ids.insert((index, image.arch.as_str()), id);
                selected.push((index, image, planned.reason != Reason::All));
            }
        }
    }

    let mut jobs = Vec::with_capacity(selected.len());
    for (position, (index, image, adoptable)) in selected.into_iter().enumerate() {
        let target = &targets[index];
        let known = |name: &str| {
            request
                .known_images
                .get(&(name.to_owned(), image.arch.clone()))
                .cloned()
        };
        let action = match image.action {
            Action::Retag => JobAction::Retag {
                image: known(&target.name).ok_or_else(|| JobsError::RetagImageUnknown {
                    target: target.name.clone(),
                    arch: image.arch.clone(),
                })?,
            },
            Action::Build | Action::Skip => JobAction::Build,
        };
        let mut dependencies = Vec::new();
        let mut bases = Vec::new();
        for edge in graph.dependencies(index) {
            let Some(base) = targets.get(edge.dependency) else {
                continue;
            };
            let image = match ids.get(&(edge.dependency, image.arch.as_str())) {
                Some(&id) => {
                    dependencies.push(id);
                    BaseImage::Job(id)
                }
                None => known(&base.name).map_or(BaseImage::Unknown, BaseImage::Known),
            };
            bases.push(Base {
                target: base.name.clone(),
                target_index: edge.dependency,
                container: base.reference.with_tags(Vec::new()),
                image,
            });
        }
        jobs.push(Job {
            id: JobId(position),
            target: target.name.clone(),
            target_index: index,
            arch: image.arch.clone(),
            action,
            container: target.reference.with_tags(Vec::new()),
            publish: request.publish,
            tags: if request.publish {
                image.tags.clone()
            } else {
                Vec::new()
            },
            digest_tag: image
                .digest_tag
                .clone()
                .ok_or_else(|| JobsError::DigestUnknown {
                    target: target.name.clone(),
                    arch: image.arch.clone(),
                })?,
            definition: target.rendered.clone(),
            parsed: target.rendered_definition.clone(),
            pin_sites: pin::find_sites(targets, graph.lookup(), index, &target.rendered_definition),
            context: ContextSource {
                root: project.manifest.root.clone(),
                files: target.context_files.clone(),
                directory: target.context.clone(),
            },
            timeout: target.timeout,
            dependencies,
            bases,
            adopt: request.publish && adoptable,
            labels: target
                .labels
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            mirrors: if request.publish {
                target.mirrors.clone()
            } else {
                Vec::new()
            },
            mirror_arch_suffix: (target.arch.first() != Some(&image.arch))
                .then(|| image.arch.clone()),
        });
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::changes::{ChangeBase, ChangeSet, compute_digests};
    use crate::context::{Provider, RefContext, RefKind};
    use crate::libref::LibraryRef;
    use crate::manifest::LoadRequest;
    use crate::plan::{DigestLookup, PlanRequest, plan};

    fn write(root: &Path, path: &str, contents: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, contents).expect("write");
    }

    /// base (amd64, arm64) ← app (From: library, %files run.sh); base ← tool (localimage,
    /// amd64 only); lone.
    fn repository() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(
            root,
            "sifbake.yaml",
            "version: 1\ndefaults:\n  library: library://acme/tools\n  tags: [{raw: latest}]\ntargets:\n  base:\n    def: base.def\n    arch: [amd64, arm64]\n  app:\n    def: app/app.def\n    arch: [amd64, arm64]\n    timeout: 10m\n  tool:\n    def: tool.def\n  lone:\n    def: lone.def\n",
        );
        write(root, "base.def", "Bootstrap: docker\nFrom: ubuntu:24.04\n");
        write(
            root,
            "app/app.def",
            "Bootstrap: library\nFrom: acme/tools/base:latest\n\n%files\n    run.sh /run.sh\n",
        );
        write(root, "app/run.sh", "#!/bin/sh\n");
        write(root, "tool.def", "Bootstrap: localimage\nFrom: base.sif\n");
        write(root, "lone.def", "Bootstrap: docker\nFrom: alpine\n");
        dir
    }

    fn project(root: &Path) -> Project {
        crate::project::load(&LoadRequest {
            manifest: root.join("sifbake.yaml"),
            root: None,
            display_base: root.to_path_buf(),
        })
        .unwrap_or_else(|d| panic!("{d:?}"))
    }

    /// The library holds every digest tag of these targets.
    struct Holds(Vec<&'static str>);

    impl DigestLookup for Holds {
        fn exists(&self, reference: &LibraryRef, _arch: &str, _tag: &str) -> bool {
            self.0.contains(&reference.container.as_str())
        }
    }

    /// Plans every target: all built, except those `retag` names, found by digest tag.
    fn make_plan(project: &Project, retag: Vec<&'static str>, selection: &[String]) -> Plan {
        let digests = compute_digests(&project.manifest, &project.graph).expect("digests");
        let holds = Holds(retag);
        let changes = ChangeSet {
            base: ChangeBase::Fallback {
                reason: "test".into(),
            },
            files: BTreeSet::new(),
            notes: Vec::new(),
        };
        let context = RefContext {
            provider: Provider::GitHub,
            event: "push".into(),
            kind: RefKind::Branch {
                name: "main".into(),
            },
            sha: "0".repeat(40),
            default_branch: Some("main".into()),
            before: None,
            base_sha: None,
            merge_base: None,
        };
        plan(&PlanRequest {
            project,
            context: &context,
            changes: &changes,
            digests: &digests,
            selection,
            manifest_path: "sifbake.yaml",
            other_branches: &[],
            lookup: Some(&holds),
            tag_facts: &crate::tags::TagFacts::default(),
        })
        .unwrap_or_else(|d| panic!("{d:?}"))
    }

    fn image(hash: char) -> Image {
        Image {
            id: format!("id-{hash}"),
            hash: format!("sha256.{}", hash.to_string().repeat(64)),
            size: 100,
            container_id: "container".into(),
            arch: Some("amd64".into()),
            uploaded: true,
            ..Image::default()
        }
    }

    fn find<'a>(jobs: &'a [Job], target: &str, arch: &str) -> &'a Job {
        jobs.iter()
            .find(|j| j.target == target && j.arch == arch)
            .unwrap_or_else(|| panic!("no job {target}/{arch}"))
    }

    #[test]
    fn every_built_image_is_a_job_that_knows_its_bases() {
        let dir = repository();
        let project = project(dir.path());
        let plan = make_plan(&project, Vec::new(), &[]);
        let jobs = jobs(&JobsRequest {
            project: &project,
            plan: &plan,
            publish: true,
            known_images: &KnownImages::new(),
        })
        .expect("jobs");
        assert_eq!(jobs.len(), 6, "base×2, app×2, tool, lone");
        for (position, job) in jobs.iter().enumerate() {
            assert_eq!(job.id, JobId(position));
        }

        let base = find(&jobs, "base", "arm64");
        let app = find(&jobs, "app", "arm64");
        assert_eq!(app.dependencies, vec![base.id]);
        assert_eq!(app.bases.len(), 1);
        assert_eq!(app.bases[0].image, BaseImage::Job(base.id));
        assert_eq!(app.container.to_string(), "library://acme/tools/app");
        assert_eq!(app.tags, vec!["latest".to_owned(), app.digest_tag.clone()]);
        assert!(app.digest_tag.starts_with("inputs-"));
        assert_eq!(app.timeout, Duration::from_secs(600));
        assert_eq!(app.pin_sites.len(), 1);
        assert_eq!(app.pin_sites[0].dependency_name, "base");
        assert_eq!(app.context.files, vec!["app/run.sh".to_owned()]);
        assert_eq!(app.context.working_dir(), project.manifest.root.join("app"));
        assert!(app.definition.contains("From: acme/tools/base:latest"));

        let tool = find(&jobs, "tool", "amd64");
        assert_eq!(tool.dependencies, vec![find(&jobs, "base", "amd64").id]);
        assert_eq!(
            tool.pin_sites[0].kind,
            crate::exec::pin::PinKind::LocalImage
        );
        assert!(find(&jobs, "lone", "amd64").dependencies.is_empty());
        assert!(
            jobs.iter()
                .all(|j| j.action == JobAction::Build && j.publish)
        );
    }

    #[test]
    fn retags_take_the_known_image_and_bases_outside_the_run_are_pinned_to_known_ones() {
        let dir = repository();
        let project = project(dir.path());
        // Only `app` is selected (its base comes along); base's amd64 image is found, so it
        // is retagged; its arm64 image is not given.
        let plan = make_plan(&project, vec!["base"], &["app".to_owned()]);
        let mut known = KnownImages::new();
        known.insert(("base".into(), "amd64".into()), image('a'));
        known.insert(("base".into(), "arm64".into()), image('b'));
        let jobs = jobs(&JobsRequest {
            project: &project,
            plan: &plan,
            publish: true,
            known_images: &known,
        })
        .expect("jobs");
        let base = find(&jobs, "base", "amd64");
        assert_eq!(base.action, JobAction::Retag { image: image('a') });
        assert_eq!(base.kind(), JobKind::Retag);
        assert_eq!(find(&jobs, "app", "amd64").dependencies, vec![base.id]);

        let mut partial = KnownImages::new();
        partial.insert(("base".into(), "amd64".into()), image('a'));
        assert_eq!(
            super::jobs(&JobsRequest {
                project: &project,
                plan: &plan,
                publish: true,
                known_images: &partial,
            })
            .expect_err("arm64 image unknown"),
            JobsError::RetagImageUnknown {
                target: "base".into(),
                arch: "arm64".into()
            }
        );
    }

    #[test]
    fn a_base_not_in_the_run_is_known_or_unknown() {
        let dir = repository();
        let project = project(dir.path());
        // The library holds base's images (retag), but the plan for app/tool still builds
        // them; take base's jobs out to make a run that does not include it.
        let plan = make_plan(&project, vec!["base"], &[]);
        let mut known = KnownImages::new();
        known.insert(("base".into(), "amd64".into()), image('a'));
        let mut plan_without_base = plan.clone();
        plan_without_base.targets.retain(|t| t.name != "base");
        let jobs = jobs(&JobsRequest {
            project: &project,
            plan: &plan_without_base,
            publish: false,
            known_images: &known,
        })
        .expect("jobs");
        let app_amd64 = find(&jobs, "app", "amd64");
        assert!(app_amd64.dependencies.is_empty());
        assert_eq!(app_amd64.bases[0].image, BaseImage::Known(image('a')));
        assert_eq!(
            find(&jobs, "app", "arm64").bases[0].image,
            BaseImage::Unknown
        );
        // Ephemeral: nothing to tag.
        assert!(jobs.iter().all(|j| !j.publish && j.tags.is_empty()));
    }
}
