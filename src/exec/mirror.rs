//! Mirrors: once a job's library tags are set, the same image goes to each of the target's
//! `oras://` repositories under the same tags.
//!
//! Per mirror, the digest tag decides: missing, the SIF file is fetched from the library (once
//! per job, whatever the number of mirrors) and pushed with every tag; present, the other tags
//! are pointed at the manifest it names, and only those not there already. A freshly built
//! image of a run that does not adopt (`--all`) is always pushed: it may differ from the one
//! an earlier build of the same inputs left under the digest tag.
//!
//! Mirroring runs beside the run's other jobs: dependents never wait for a push. A mirror
//! that fails leaves the library's tags as they are and is reported on its own; the run
//! waits for every mirror before it ends. A caller's stop (SIGINT/SIGTERM) ends them
//! early; `--fail-fast` does not, since the images they push are done and tagged.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::JoinSet;

use crate::oci::{self, Pushed, Registry, RepositoryRef, SifArtifact};
use crate::scs::{BuildService, Library, ServiceError, TransferError};

use super::events::{BuiltImage, EventKind, FaultKind, Outcome, ServiceFault};
use super::job::{Job, JobId};
use super::runner::Shared;

/// How many mirror pushes of a run go on at once: each may hold a downloaded image on disk.
pub const PARALLEL_MIRRORS: usize = 4;

/// A boxed registry call, so the executor can hold any registry without a type parameter.
pub type RegistryFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ServiceError>> + Send + 'a>>;

/// [`Registry`], object-safe.
pub trait MirrorRegistry: Send + Sync {
    fn resolve_tag<'a>(
        &'a self,
        repo: &'a RepositoryRef,
        tag: &'a str,
    ) -> RegistryFuture<'a, Option<String>>;

    fn push_sif<'a>(
        &'a self,
        repo: &'a RepositoryRef,
        sif: &'a SifArtifact,
        tags: &'a [String],
    ) -> RegistryFuture<'a, Pushed>;

    fn tag_manifest<'a>(
        &'a self,
        repo: &'a RepositoryRef,
        digest: &'a str,
        tags: &'a [String],
    ) -> RegistryFuture<'a, ()>;
}

impl<R: Registry> MirrorRegistry for R {
    fn resolve_tag<'a>(
        &'a self,
        repo: &'a RepositoryRef,
        tag: &'a str,
    ) -> RegistryFuture<'a, Option<String>> {
        Box::pin(Registry::resolve_tag(self, repo, tag))
    }

    fn push_sif<'a>(
        &'a self,
        repo: &'a RepositoryRef,
        sif: &'a SifArtifact,
        tags: &'a [String],
    ) -> RegistryFuture<'a, Pushed> {
        Box::pin(Registry::push_sif(self, repo, sif, tags))
    }

    fn tag_manifest<'a>(
        &'a self,
        repo: &'a RepositoryRef,
        digest: &'a str,
        tags: &'a [String],
    ) -> RegistryFuture<'a, ()> {
        Box::pin(Registry::tag_manifest(self, repo, digest, tags))
    }
}

/// The registry client a run pushes mirrors with.
#[derive(Clone)]
pub struct MirrorClient(pub Arc<dyn MirrorRegistry>);

impl MirrorClient {
    pub fn new(registry: impl MirrorRegistry + 'static) -> MirrorClient {
        MirrorClient(Arc::new(registry))
    }
}

impl fmt::Debug for MirrorClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MirrorClient")
    }
}

/// What a mirror got.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MirrorAction {
    /// The image was pushed (only the manifest when the registry had the file).
    Pushed,
    /// The image was there; some tags were pointed at it.
    Tagged,
    /// The image and every tag were there.
    UpToDate,
}

/// One mirror of one image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MirrorResult {
    /// `oras://registry/repository`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// `sha256:<hex>` of the manifest the tags name, once known.
    pub digest: Option<String>,
    /// The mirror's tags for the image (an architecture other than the target's first has
    /// them suffixed `-<arch>`), all set unless `error` says otherwise.
    pub tags: Vec<String>,
    /// `None` when it failed.
    pub action: Option<MirrorAction>,
    pub error: Option<ServiceFault>,
}

impl MirrorResult {
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// `oras://registry/repository@sha256:<hex>`: the image whatever the tags say later.
    pub fn by_digest(&self) -> Option<String> {
        let digest = self.digest.as_deref().filter(|_| !self.failed())?;
        Some(format!("{}@{digest}", self.reference))
    }
}

/// A tag as a mirror spells it: the target's first architecture keeps its tags, any other
/// gets `-<arch>` after each (one manifest per tag, see `crate::oci`).
pub fn mirror_tag(tag: &str, arch_suffix: Option<&str>) -> String {
    match arch_suffix {
        Some(arch) => format!("{tag}-{arch}"),
        None => tag.to_owned(),
    }
}

/// The mirror steps of a run: started as jobs succeed, awaited when the run ends.
pub(super) struct Mirroring {
    tasks: Mutex<JoinSet<(JobId, Vec<MirrorResult>)>>,
    limit: Arc<Semaphore>,
}

impl Mirroring {
    pub(super) fn new() -> Mirroring {
        Mirroring {
            tasks: Mutex::new(JoinSet::new()),
            limit: Arc::new(Semaphore::new(PARALLEL_MIRRORS)),
        }
    }

    /// Starts the job's mirror step when it published an image and has mirrors.
    pub(super) fn start<B, L>(shared: &Arc<Shared<B, L>>, job: &Arc<Job>, outcome: &Outcome)
    where
        B: BuildService + 'static,
        L: Library + 'static,
    {
        let Some(client) = shared.options.registry.clone() else {
            return;
        };
        let Some(image) = outcome.image().filter(|image| image.hash.is_some()) else {
            return;
        };
        if !job.publish || job.mirrors.is_empty() || !outcome.succeeded() {
            return;
        }
        let always_push = matches!(outcome, Outcome::Built { .. }) && !job.adopt;
        let task = mirror_job(
            Arc::clone(shared),
            Arc::clone(job),
            image.clone(),
            always_push,
            client,
        );
        shared
            .mirrors
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(task);
    }

    /// Waits for every mirror step started; returns their results by job.
    pub(super) async fn finish(&self) -> BTreeMap<JobId, Vec<MirrorResult>> {
        let mut tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        let mut results = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            // A mirror task only panics on a bug; its job then shows no mirror results.
            if let Ok((job, mirrors)) = joined {
                results.insert(job, mirrors);
            }
        }
        results
    }
}

/// Where a job's SIF file comes from: the signed file the run kept, else downloaded from the
/// library into the job's own directory of the run's scratch, once, on first need.
struct Source<'a, L> {
    library: &'a L,
    job: &'a Job,
    hash: &'a str,
    /// The run's scratch directory.
    scratch: PathBuf,
    /// The job's own directory in it.
    dir: PathBuf,
    file: OnceCell<Result<PathBuf, ServiceFault>>,
}

impl<L: Library> Source<'_, L> {
    async fn file(&self) -> Result<PathBuf, ServiceFault> {
        self.file
            .get_or_init(|| async {
                // A signed image the signing step kept (`ExecOptions::keep_signed`) is the
                // file the library holds under this hash: it is shared with `--pull`, so it
                // is read, never moved.
                let kept = super::sign::kept_signed(&self.scratch, self.hash);
                if tokio::fs::try_exists(&kept).await.unwrap_or(false) {
                    return Ok(kept);
                }
                let path = self.dir.join(file_name(self.job));
                let downloaded = async {
                    tokio::fs::create_dir_all(&self.dir)
                        .await
                        .map_err(|error| TransferError::File {
                            doing: "creating",
                            path: self.dir.clone(),
                            source: error,
                        })?;
                    self.library
                        .download_image(&self.job.container, self.hash, &self.job.arch, &path)
                        .await
                }
                .await;
                downloaded
                    .map(|done| done.path)
                    .map_err(|error| transfer_fault(&error, self.job, self.hash))
            })
            .await
            .clone()
    }
}

/// The job's directory in the run's scratch, removed once its mirrors are done.
fn job_dir(scratch: &Path, job: &Job) -> PathBuf {
    scratch.join(format!("mirror-{}", job.id.0))
}

/// The file name `oras pull` writes: `<target>.sif`, or `<target>_<arch>.sif` for the
/// architectures whose tags are suffixed (as `sifbake pull` names them).
fn file_name(job: &Job) -> String {
    match &job.mirror_arch_suffix {
        Some(arch) => format!("{}_{arch}.sif", job.target),
        None => format!("{}.sif", job.target),
    }
}

fn transfer_fault(error: &TransferError, job: &Job, hash: &str) -> ServiceFault {
    let doing = format!(
        "downloading {}:{hash} ({}) from the library to push it",
        job.container.path(),
        job.arch
    );
    match error {
        TransferError::Service(error) => {
            let mut fault = ServiceFault::from(error);
            fault.doing = doing;
            fault
        }
        other => ServiceFault {
            kind: FaultKind::Protocol,
            doing,
            detail: other.to_string(),
            transient: false,
        },
    }
}

async fn mirror_job<B, L>(
    shared: Arc<Shared<B, L>>,
    job: Arc<Job>,
    image: BuiltImage,
    always_push: bool,
    client: MirrorClient,
) -> (JobId, Vec<MirrorResult>)
where
    B: BuildService + 'static,
    L: Library + 'static,
{
    let hash = image.hash.clone().unwrap_or_default();
    let suffix = job.mirror_arch_suffix.as_deref();
    let step = Step {
        client: &client,
        tags: job.tags.iter().map(|t| mirror_tag(t, suffix)).collect(),
        digest_tag: mirror_tag(&job.digest_tag, suffix),
        always_push,
        source: Source {
            library: shared.library.as_ref(),
            job: &job,
            hash: &hash,
            scratch: shared.options.scratch.clone(),
            dir: job_dir(&shared.options.scratch, &job),
            file: OnceCell::new(),
        },
        artifact: artifact(&shared.options.labels, &hash, &job),
    };
    let all = futures_util::future::join_all(job.mirrors.iter().map(|repo| async {
        // The semaphore is never closed; were it, going on unbounded is still correct.
        let _permit = shared.mirrors.limit.acquire().await;
        let result = step.run(repo).await;
        shared.emitter.emit(EventKind::Mirrored {
            job: job.id,
            mirror: result.clone(),
        });
        result
    }));
    let results = tokio::select! {
        results = all => results,
        () = shared.options.cancel.cancelled() => job
            .mirrors
            .iter()
            .map(|repo| MirrorResult {
                reference: repo.to_string(),
                digest: None,
                tags: Vec::new(),
                action: None,
                error: Some(ServiceFault {
                    kind: FaultKind::Timeout,
                    doing: format!("mirroring to {repo}"),
                    detail: "the run was cancelled first".to_owned(),
                    transient: true,
                }),
            })
            .collect(),
    };
    // The downloaded file is done with; a leftover only costs the caller's scratch space.
    let _ = tokio::fs::remove_dir_all(&step.source.dir).await;
    (job.id, results)
}

/// One image's mirror step, the same for each of its mirrors.
struct Step<'a, L> {
    client: &'a MirrorClient,
    /// The mirror's tags, the digest tag included.
    tags: Vec<String>,
    digest_tag: String,
    always_push: bool,
    source: Source<'a, L>,
    artifact: SifArtifact,
}

impl<L: Library> Step<'_, L> {
    async fn run(&self, repo: &RepositoryRef) -> MirrorResult {
        let mut result = MirrorResult {
            reference: repo.to_string(),
            digest: None,
            tags: self.tags.clone(),
            action: None,
            error: None,
        };
        match self.update(repo, &mut result).await {
            Ok(action) => result.action = Some(action),
            Err(fault) => result.error = Some(fault),
        }
        result
    }

    async fn update(
        &self,
        repo: &RepositoryRef,
        result: &mut MirrorResult,
    ) -> Result<MirrorAction, ServiceFault> {
        let registry = self.client.0.as_ref();
        let fault = |error: ServiceError| ServiceFault::from(&error);
        let present = if self.always_push {
            None
        } else {
            registry
                .resolve_tag(repo, &self.digest_tag)
                .await
                .map_err(fault)?
        };
        let Some(digest) = present else {
            let path = self.source.file().await?;
            let artifact = SifArtifact {
                path,
                ..self.artifact.clone()
            };
            let pushed = registry
                .push_sif(repo, &artifact, &self.tags)
                .await
                .map_err(fault)?;
            result.digest = Some(pushed.manifest_digest);
            return Ok(MirrorAction::Pushed);
        };
        result.digest = Some(digest.clone());
        let mut missing = Vec::new();
        for tag in self.tags.iter().filter(|t| **t != self.digest_tag) {
            if registry
                .resolve_tag(repo, tag)
                .await
                .map_err(fault)?
                .as_ref()
                != Some(&digest)
            {
                missing.push(tag.clone());
            }
        }
        if missing.is_empty() {
            return Ok(MirrorAction::UpToDate);
        }
        registry
            .tag_manifest(repo, &digest, &missing)
            .await
            .map_err(fault)?;
        Ok(MirrorAction::Tagged)
    }
}

/// The artifact pushed: titled as `oras pull` should name the file, known by the library's
/// hash (no second pass over the file), with the run's provenance as annotations.
fn artifact(labels: &[(String, String)], hash: &str, job: &Job) -> SifArtifact {
    let label = |key: &str| {
        labels
            .iter()
            .find(|(name, _)| name == key)
            .map_or("", |(_, value)| value.as_str())
    };
    let mut artifact = SifArtifact::new(Path::new(&file_name(job))).with_provenance(
        label(oci::SOURCE),
        label(oci::REVISION),
        label(oci::CREATED),
    );
    artifact.digest = hash
        .strip_prefix("sha256.")
        .map(|hex| format!("sha256:{hex}"));
    artifact
}
