//! Mirrors in the executor: pushed once the library's tags are set, with the file
//! downloaded once per image; a retag only tags; a failing mirror fails no job; ephemeral
//! jobs mirror nothing.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::fake::Fake;
use super::{jobs, options};
use crate::exec::events::{EventKind, Outcome};
use crate::exec::job::{Job, JobAction};
use crate::exec::mirror::{MirrorAction, MirrorClient};
use crate::exec::{ExecOptions, RunSummary, execute};
use crate::libref::LibraryRef;
use crate::oci::{MemoryRegistry, RepositoryRef};
use crate::scs::{Downloaded, Image, Library, ServiceError, ServiceErrorKind, TransferError};

/// The fake library, with image files: a download writes a small file naming the image.
struct WithFiles {
    fake: Arc<Fake>,
    downloads: Mutex<Vec<String>>,
}

impl Library for WithFiles {
    async fn find_image(
        &self,
        container: &LibraryRef,
        tag: &str,
        arch: &str,
    ) -> Result<Option<Image>, ServiceError> {
        self.fake.find_image(container, tag, arch).await
    }

    async fn set_tags(
        &self,
        container: &LibraryRef,
        image: &Image,
        arch: &str,
        tags: &[String],
    ) -> Result<(), ServiceError> {
        self.fake.set_tags(container, image, arch, tags).await
    }

    async fn download_image(
        &self,
        container: &LibraryRef,
        tag: &str,
        arch: &str,
        destination: &Path,
    ) -> Result<Downloaded, TransferError> {
        self.downloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tag.to_owned());
        std::fs::write(destination, format!("SIF {tag} {arch}")).map_err(|source| {
            TransferError::File {
                doing: "writing",
                path: destination.to_path_buf(),
                source,
            }
        })?;
        Ok(Downloaded {
            image: Image {
                id: "image".into(),
                hash: tag.to_owned(),
                size: 10,
                container_id: container.path(),
                arch: Some(arch.to_owned()),
                uploaded: true,
                ..Image::default()
            },
            path: destination.to_path_buf(),
            parts: 1,
            ranged: false,
        })
    }
}

struct Mirrored {
    summary: RunSummary,
    events: Vec<EventKind>,
    registry: Arc<MemoryRegistry>,
    downloads: Vec<String>,
}

fn repo(text: &str) -> RepositoryRef {
    RepositoryRef::parse(text).expect("a mirror ref")
}

fn mirrored(names: &[&str]) -> Vec<Job> {
    let spec: Vec<(&str, &[&str])> = names.iter().map(|name| (*name, &[][..])).collect();
    let mut jobs = jobs(&spec);
    for job in &mut jobs {
        job.mirrors = vec![
            repo(&format!("oras://ghcr.io/acme/{}", job.target)),
            repo(&format!("oras://localhost:5000/lab/{}", job.target)),
        ];
    }
    jobs
}

async fn run_mirrored(jobs: Vec<Job>, registry: &Arc<MemoryRegistry>, scratch: &Path) -> Mirrored {
    let fake = Fake::new(&[]);
    let library = Arc::new(WithFiles {
        fake: Arc::clone(&fake),
        downloads: Mutex::new(Vec::new()),
    });
    let mut options: ExecOptions = options(2);
    options.scratch = scratch.to_path_buf();
    options.registry = Some(MirrorClient(Arc::clone(registry) as _));
    options.labels = vec![("org.opencontainers.image.revision".into(), "0123abc".into())];
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let summary = execute(jobs, fake, Arc::clone(&library), &options, sender).await;
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        events.push(event.kind);
    }
    let downloads = library
        .downloads
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Mirrored {
        summary,
        events,
        registry: Arc::clone(registry),
        downloads,
    }
}

fn tags_of(registry: &MemoryRegistry, repository: &str) -> Vec<String> {
    registry
        .lock()
        .tags
        .get(repository)
        .map(|tags| tags.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_built_image_reaches_every_mirror_from_one_download_and_a_retag_only_tags() {
    let scratch = tempfile::tempdir().expect("scratch");
    let registry = Arc::new(MemoryRegistry::default());
    let first = run_mirrored(mirrored(&["base"]), &registry, scratch.path()).await;
    let job = &first.summary.jobs[0];
    assert!(matches!(job.outcome, Outcome::Built { .. }));
    let digest_tag = "inputs-0000000000000000";
    assert_eq!(job.mirrors.len(), 2);
    for mirror in &job.mirrors {
        assert_eq!(mirror.action, Some(MirrorAction::Pushed), "{mirror:?}");
        assert_eq!(mirror.tags, ["latest", digest_tag]);
        assert!(
            mirror
                .digest
                .as_deref()
                .is_some_and(|d| d.starts_with("sha256:"))
        );
    }
    assert_eq!(first.downloads.len(), 1, "one download for both mirrors");
    for repository in ["oras://ghcr.io/acme/base", "oras://localhost:5000/lab/base"] {
        assert_eq!(tags_of(&first.registry, repository), [digest_tag, "latest"]);
    }
    let mirrored_events = first
        .events
        .iter()
        .filter(|kind| matches!(kind, EventKind::Mirrored { .. }))
        .count();
    assert_eq!(mirrored_events, 2);
    assert!(!first.summary.any_mirror_failed());
    assert!(
        std::fs::read_dir(scratch.path())
            .expect("scratch")
            .next()
            .is_none(),
        "the downloaded file is removed"
    );

    // The same image again with one more tag: nothing downloaded or uploaded.
    let uploads = registry.lock().uploads.len();
    let mut again = mirrored(&["base"]);
    let image = Image {
        id: "image".into(),
        hash: job.image().and_then(|i| i.hash.clone()).expect("hash"),
        size: 1000,
        container_id: "c".into(),
        arch: Some("amd64".into()),
        uploaded: true,
        ..Image::default()
    };
    again[0].action = JobAction::Retag { image };
    again[0].tags.insert(0, "1.0".into());
    let second = run_mirrored(again, &registry, scratch.path()).await;
    for mirror in &second.summary.jobs[0].mirrors {
        assert_eq!(mirror.action, Some(MirrorAction::Tagged), "{mirror:?}");
    }
    assert!(second.downloads.is_empty());
    assert_eq!(registry.lock().uploads.len(), uploads);
    assert!(tags_of(&registry, "oras://ghcr.io/acme/base").contains(&"1.0".to_owned()));

    let mut third = mirrored(&["base"]);
    third[0].action = second_image(&second);
    third[0].tags.insert(0, "1.0".into());
    let third = run_mirrored(third, &registry, scratch.path()).await;
    for mirror in &third.summary.jobs[0].mirrors {
        assert_eq!(mirror.action, Some(MirrorAction::UpToDate), "{mirror:?}");
    }
}

fn second_image(run: &Mirrored) -> JobAction {
    match &run.summary.jobs[0].outcome {
        Outcome::Retagged { image, .. } => JobAction::Retag {
            image: Image {
                id: "image".into(),
                hash: image.hash.clone().expect("hash"),
                size: image.size,
                container_id: "c".into(),
                arch: Some("amd64".into()),
                uploaded: true,
                ..Image::default()
            },
        },
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_mirror_fails_no_job_and_is_reported_on_its_own() {
    let scratch = tempfile::tempdir().expect("scratch");
    let registry = Arc::new(MemoryRegistry::default());
    registry.fail_next(ServiceError::new(
        ServiceErrorKind::Auth,
        "pushing",
        "401 Unauthorized",
    ));
    let mut jobs = mirrored(&["base"]);
    jobs[0].mirrors.truncate(1);
    let run = run_mirrored(jobs, &registry, scratch.path()).await;
    let job = &run.summary.jobs[0];
    assert!(matches!(&job.outcome, Outcome::Built { tags, .. } if !tags.is_empty()));
    assert!(!run.summary.any_failed());
    assert!(run.summary.any_mirror_failed());
    assert_eq!(job.mirrors[0].action, None);
    assert!(job.mirrors[0].error.is_some());
}

#[tokio::test(start_paused = true)]
async fn other_architectures_get_suffixed_tags_and_ephemeral_jobs_mirror_nothing() {
    let scratch = tempfile::tempdir().expect("scratch");
    let registry = Arc::new(MemoryRegistry::default());
    let mut jobs = mirrored(&["base", "lone"]);
    jobs[0].mirror_arch_suffix = Some("arm64".into());
    jobs[1].publish = false;
    jobs[1].tags.clear();
    let run = run_mirrored(jobs, &registry, scratch.path()).await;
    assert_eq!(
        run.summary.jobs[0].mirrors[0].tags,
        ["latest-arm64", "inputs-0000000000000000-arm64"]
    );
    assert!(run.summary.jobs[1].mirrors.is_empty());
    assert!(tags_of(&registry, "oras://ghcr.io/acme/lone").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_signed_file_kept_for_the_run_is_pushed_and_left_for_pull() {
    let scratch = tempfile::tempdir().expect("scratch");
    let registry = Arc::new(MemoryRegistry::default());
    let hash = format!("sha256.{}", "a".repeat(64));
    let kept = crate::exec::kept_signed(scratch.path(), &hash);
    std::fs::create_dir_all(kept.parent().expect("dir")).expect("mkdir");
    std::fs::write(&kept, b"signed and uploaded").expect("write");
    let mut jobs = mirrored(&["base"]);
    jobs[0].action = JobAction::Retag {
        image: Image {
            id: "image".into(),
            hash,
            size: 19,
            container_id: "c".into(),
            arch: Some("amd64".into()),
            uploaded: true,
            ..Image::default()
        },
    };
    let run = run_mirrored(jobs, &registry, scratch.path()).await;
    assert!(run.downloads.is_empty(), "{:?}", run.downloads);
    assert_eq!(
        run.summary.jobs[0].mirrors[0].action,
        Some(MirrorAction::Pushed)
    );
    assert!(kept.exists(), "still there for --pull");
}
