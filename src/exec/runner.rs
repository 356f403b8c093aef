//! One job, start to end: wait for a build slot, build or retag under the job's timeout and
//! the run's stop signal, then clean up (cancel a remote build left running, delete the
//! uploaded context).

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::secrets::LineRedactor;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

use crate::scs::{
    BuildInfo, BuildRequest, BuildService, ContextArchive, Image, Library, ServiceError,
    ServiceErrorKind, pack_context,
};

use super::events::{BuiltImage, Emitter, EventKind, FailReason, Outcome, RetryWhat, ServiceFault};
use super::job::{Job, JobAction};
use super::options::ExecOptions;
use super::pin::{self, PinSource};
use super::retry::{persist, retry};
use super::tagging::{self, TagProgress};

/// Log chunks buffered between the log stream and the event channel.
const LOG_BUFFER: usize = 64;

/// What every job of a run shares.
pub(super) struct Shared<B, L> {
    pub build: Arc<B>,
    pub library: Arc<L>,
    pub options: ExecOptions,
    pub emitter: Emitter,
    /// Cancelled when the caller cancels the run, or by `--fail-fast` on a failure.
    pub stop: CancellationToken,
    /// One permit per build allowed in flight (`--jobs`).
    pub slots: Arc<Semaphore>,
    /// The mirror steps started so far.
    pub mirrors: super::mirror::Mirroring,
}

/// How a job's task ended.
pub(super) enum TaskResult {
    /// The run stopped before the job got a build slot.
    NotStarted,
    Finished {
        outcome: Outcome,
        duration: Duration,
        /// The job's build slot, handed back so the scheduler frees it only after acting
        /// on the outcome: under `--fail-fast` a waiting job must see the stop before it
        /// sees a free slot.
        slot: Option<OwnedSemaphorePermit>,
    },
}

/// What a job has done so far that its clean-up must know, even when the job was stopped
/// half-way (its future dropped).
struct Progress {
    build_id: OnceLock<String>,
    context_digest: OnceLock<String>,
    /// True while a submission is in flight: one stopped then still returns a build id.
    submitting: watch::Sender<bool>,
    /// The service reported the build complete: there is nothing left to cancel.
    build_final: AtomicBool,
    tags: Arc<TagProgress>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            build_id: OnceLock::new(),
            context_digest: OnceLock::new(),
            submitting: watch::Sender::new(false),
            build_final: AtomicBool::new(false),
            tags: Arc::new(TagProgress::new()),
        }
    }

    fn build_id(&self) -> Option<String> {
        self.build_id.get().cloned()
    }
}

/// How the race between a job, its timeout and the run's stop signal ended.
enum Ended {
    Stopped,
    TimedOut,
    Done(Outcome),
}

/// Runs one job whose dependencies succeeded; `pins` maps each base's target index to the
/// image its stages are pinned to.
pub(super) async fn run_job<B: BuildService + 'static, L: Library + 'static>(
    shared: Arc<Shared<B, L>>,
    job: Arc<Job>,
    pins: HashMap<usize, PinSource>,
) -> TaskResult {
    let slot = match job.action {
        JobAction::Build => {
            let slots = Arc::clone(&shared.slots);
            tokio::select! {
                biased;
                () = shared.stop.cancelled() => return TaskResult::NotStarted,
                permit = slots.acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    // The semaphore is never closed; were it, starting anyway would break
                    // the `--jobs` bound.
                    Err(_) => return TaskResult::NotStarted,
                },
            }
        }
        JobAction::Retag { .. } if shared.stop.is_cancelled() => return TaskResult::NotStarted,
        JobAction::Retag { .. } => None,
    };
    let started = Instant::now();
    shared.emitter.emit(EventKind::JobStarted { job: job.id });
    let progress = Arc::new(Progress::new());
    let ended = tokio::select! {
        biased;
        () = shared.stop.cancelled() => Ended::Stopped,
        () = sleep(job.timeout) => Ended::TimedOut,
        outcome = drive(&shared, &job, &pins, &progress) => Ended::Done(outcome),
    };
    // A submission cut off by the stop or the timeout still runs (see `build`); once it
    // returns, its build can be cancelled. It gets the clean-up time, not longer.
    let mut submitting = progress.submitting.subscribe();
    let _ = timeout(
        shared.options.cleanup_timeout,
        submitting.wait_for(|pending| !pending),
    )
    .await;
    // A build the job no longer follows (stopped, timed out, or failed after submission) is
    // cancelled so it does not run on, unobserved, for up to the service's own limit.
    let remote = if progress.build_final.load(Ordering::Acquire) {
        None
    } else {
        progress.build_id()
    };
    let context = progress.context_digest.get().cloned();
    // A tag sequence cut off by the stop or the timeout gets the clean-up grace to finish,
    // so an image is never left with some of its tags while the report says none.
    let (_, _, tagged) = tokio::join!(
        cancel_remote(&shared, &job, remote),
        delete_context(&shared, &job, context),
        progress.tags.settle(shared.options.cleanup_timeout)
    );
    let outcome = match (ended, tagged) {
        (Ended::Done(outcome), _) => outcome,
        (_, Some(outcome)) => outcome,
        (Ended::Stopped, None) => Outcome::Cancelled {
            build_id: progress.build_id(),
            tags: progress.tags.set(),
        },
        (Ended::TimedOut, None) => Outcome::TimedOut {
            build_id: progress.build_id(),
            after: job.timeout,
            tags: progress.tags.set(),
        },
    };
    super::mirror::Mirroring::start(&shared, &job, &outcome);
    TaskResult::Finished {
        outcome,
        duration: started.elapsed(),
        slot,
    }
}

async fn drive<B: BuildService + 'static, L: Library + 'static>(
    shared: &Shared<B, L>,
    job: &Job,
    pins: &HashMap<usize, PinSource>,
    progress: &Arc<Progress>,
) -> Outcome {
    let result = match &job.action {
        JobAction::Build => build(shared, job, pins, progress).await,
        JobAction::Retag { image } => retag(shared, job, image, progress).await,
    };
    result.unwrap_or_else(|reason| Outcome::Failed { reason })
}

fn service(error: ServiceError) -> FailReason {
    FailReason::Service {
        error: (&error).into(),
    }
}

async fn build<B: BuildService + 'static, L: Library + 'static>(
    shared: &Shared<B, L>,
    job: &Job,
    pins: &HashMap<usize, PinSource>,
    progress: &Arc<Progress>,
) -> Result<Outcome, FailReason> {
    // Pinned first: a definition that cannot be pinned fails before anything is uploaded.
    let definition = pin::pin(&job.definition, &job.pin_sites, |site| {
        pins.get(&site.dependency)
            .cloned()
            .unwrap_or(PinSource::AsWritten)
    })
    .map_err(|error| FailReason::Pin { error })?;
    let definition =
        crate::deffile::with_labels(&definition, &job.labels_with(&shared.options.labels));
    // Another run of the same inputs (a re-run, a push and a tag on one commit) may have
    // finished since this run looked: its image stands in, and nothing is built twice.
    if let Some(image) = tagging::adoptable(shared, job, None).await {
        return retag(shared, job, &image, progress).await;
    }
    let context = upload_context(shared, job, progress).await?;
    let (context_digest, working_dir) = match context {
        Some((digest, directory)) => (Some(digest), Some(directory.display().to_string())),
        None => (None, None),
    };
    // A signed image is published by this job itself once signed: the builder's unsigned
    // output stays ephemeral, so no tag can ever name it.
    let signer = signer(shared, job);
    let request = BuildRequest {
        definition,
        library_ref: (job.publish && signer.is_none())
            .then(|| job.container.with_tags(vec![job.digest_tag.clone()])),
        library_url: shared.options.library_url.clone(),
        arch: job.arch.clone(),
        context_digest,
        working_dir,
    };
    // Once, whatever happens next: a second submission could start a second build. It
    // runs as its own task so that a stop or timeout arriving mid-request does not lose the
    // build it starts: the clean-up waits for the id and cancels that build.
    progress.submitting.send_replace(true);
    let submission = tokio::spawn({
        let build = Arc::clone(&shared.build);
        let emitter = shared.emitter.clone();
        let progress = Arc::clone(progress);
        let job = job.id;
        async move {
            let result = build.submit(&request).await;
            if let Ok(info) = &result {
                let _ = progress.build_id.set(info.id.clone());
                emitter.emit(EventKind::Submitted {
                    job,
                    build_id: info.id.clone(),
                });
            }
            progress.submitting.send_replace(false);
            result
        }
    });
    let submitted = match submission.await {
        Ok(submitted) => submitted.map_err(service)?,
        Err(error) => {
            return Err(FailReason::Internal {
                detail: error.to_string(),
            });
        }
    };
    // The builder publishes to its own library, which its reply names; when that is not the
    // library this run looks images up and tags in, the image would never be found there.
    // Said at once: the job's clean-up cancels the build.
    if let (true, Some(theirs), Some(ours)) = (
        job.publish,
        submitted.library_url.as_deref(),
        shared.options.library_url.as_deref(),
    ) && !crate::scs::same_service(theirs, ours)
    {
        return Err(FailReason::LibraryMismatch {
            builder_library: theirs.to_owned(),
            library: ours.to_owned(),
        });
    }
    let build_id = submitted.id;
    let submitted_at = Instant::now();

    let log_complete = stream_log(shared, job, &build_id).await;
    let info = wait_complete(shared, job, &build_id)
        .await
        .map_err(service)?;
    progress.build_final.store(true, Ordering::Release);
    let duration = submitted_at.elapsed();
    if !info.succeeded() {
        return Err(FailReason::BuildFailed {
            build_id,
            log_complete,
        });
    }
    if !job.publish {
        return Ok(Outcome::Built {
            image: BuiltImage {
                path: info.library_ref.as_deref().and_then(pin::library_path),
                hash: info.image_checksum,
                size: info.image_size,
                signed_by: None,
            },
            build_id,
            duration,
            tags: Vec::new(),
            log_complete,
        });
    }
    let (mut image, mut found) = match &signer {
        Some(signer) => super::sign::sign_and_upload(shared, job, signer, &info).await?,
        None => publish(shared, job, &info).await?,
    };
    // A run that pushed the same inputs after this one holds the digest tag now: every tag
    // goes to that image, so the tags of one commit never name two images.
    if let Some(other) = tagging::adoptable(shared, job, Some(&found.id)).await {
        image = BuiltImage {
            path: Some(job.container.path()),
            hash: Some(other.hash.clone()),
            size: other.size,
            signed_by: tagging::signed_by(shared, job, &other),
        };
        found = other;
    }
    let done = Outcome::Built {
        image,
        build_id,
        duration,
        tags: job.tags.clone(),
        log_complete,
    };
    tagging::tag(shared, job, &progress.tags, found, done).await
}

/// Packs and uploads the build context, if the job has `%files` sources; returns its digest
/// and the working directory the builder resolves them against.
async fn upload_context<B: BuildService, L: Library>(
    shared: &Shared<B, L>,
    job: &Job,
    progress: &Progress,
) -> Result<Option<(String, PathBuf)>, FailReason> {
    if job.context.files.is_empty() {
        return Ok(None);
    }
    // A directory per job: `pack_context` writes a temporary file whose name is the same
    // for every call of one process.
    let directory = shared.options.scratch.join(format!("job-{}", job.id.0));
    let source = job.context.clone();
    let into = directory.clone();
    // Reading and hashing the files is blocking work: off the async threads.
    let packed = tokio::task::spawn_blocking(move || -> io::Result<(ContextArchive, PathBuf)> {
        std::fs::create_dir_all(&into)?;
        // The archive names files by their canonical absolute paths, so the working
        // directory must be spelled the same way for relative sources to resolve.
        let root = source.root.canonicalize()?;
        let archive = pack_context(&root, &source.files, &into)?;
        Ok((archive, root.join(&source.directory)))
    })
    .await;
    let (archive, working_dir) = match packed {
        Ok(Ok(packed)) => packed,
        Ok(Err(error)) => {
            return Err(FailReason::Context {
                error: error.to_string(),
            });
        }
        Err(error) => {
            return Err(FailReason::Context {
                error: error.to_string(),
            });
        }
    };
    let uploaded = retry(
        &shared.emitter,
        &shared.options.retry,
        job.id,
        RetryWhat::UploadContext,
        || shared.build.upload_context(&archive),
    )
    .await;
    // The service has the archive now, or will not get it: the local copy is done with. A
    // leftover file only costs space in the caller's scratch directory.
    let _ = tokio::fs::remove_dir_all(&directory).await;
    uploaded.map_err(service)?;
    let _ = progress.context_digest.set(archive.digest.clone());
    shared.emitter.emit(EventKind::ContextUploaded {
        job: job.id,
        digest: archive.digest.clone(),
        size: archive.size,
    });
    Ok(Some((archive.digest, working_dir)))
}

/// Forwards the build log into the event stream until the service closes it; returns
/// false if the stream dropped (the log is then incomplete).
async fn stream_log<B: BuildService, L: Library>(
    shared: &Shared<B, L>,
    job: &Job,
    build_id: &str,
) -> bool {
    let (sender, mut receiver) = mpsc::channel(LOG_BUFFER);
    let stream = shared.build.stream_log(build_id, sender);
    tokio::pin!(stream);
    // Masked here, where the builder's text enters: every report then sees it masked.
    let mut lines = LineRedactor::new(shared.options.redactor.clone());
    let emit = |chunk: Option<String>| {
        if let Some(chunk) = chunk {
            shared.emitter.emit(EventKind::Log { job: job.id, chunk });
        }
    };
    let result = loop {
        tokio::select! {
            biased;
            Some(chunk) = receiver.recv() => emit(lines.push(&chunk)),
            result = &mut stream => break result,
        }
    };
    // Chunks sent just before the stream ended.
    while let Ok(chunk) = receiver.try_recv() {
        emit(lines.push(&chunk));
    }
    emit(lines.finish());
    match result {
        Ok(()) => true,
        Err(error) => {
            // Whatever broke the stream (a drop, a refused handshake), the build runs on
            // remotely: its status tells how it ends.
            shared.emitter.emit(EventKind::StreamDropped {
                job: job.id,
                build_id: build_id.to_owned(),
                error: (&error).into(),
            });
            false
        }
    }
}

/// Returns the build's status once it is complete, polling with backoff while it is not.
///
/// After a normal end of the log stream the first answer is final (the service closes the
/// stream only then, PROTOCOL.md §2.4); after a drop, polling takes over.
async fn wait_complete<B: BuildService, L: Library>(
    shared: &Shared<B, L>,
    job: &Job,
    build_id: &str,
) -> Result<BuildInfo, ServiceError> {
    let mut delay = shared.options.poll.initial;
    loop {
        // A lost view of the build is not a failed build: transient failures are waited
        // out, up to the job's own timeout, and the build is never cancelled for them.
        let info = persist(
            &shared.emitter,
            &shared.options.retry,
            job.id,
            RetryWhat::Status,
            || shared.build.status(build_id),
        )
        .await?;
        if info.complete {
            return Ok(info);
        }
        sleep(delay).await;
        delay = delay.saturating_mul(2).min(shared.options.poll.max);
    }
}

/// Checks that the library holds the image the build reported, complete and with its
/// checksum: only then may it be tagged.
async fn publish<B: BuildService, L: Library>(
    shared: &Shared<B, L>,
    job: &Job,
    info: &BuildInfo,
) -> Result<(BuiltImage, Image), FailReason> {
    // The build pushed with the digest tag; the checksum names the exact image, when the
    // service reported one.
    let tag = info
        .image_checksum
        .clone()
        .unwrap_or_else(|| job.digest_tag.clone());
    // The image is built: a library busy or rate limiting for a while must not lose it.
    let found = persist(
        &shared.emitter,
        &shared.options.retry,
        job.id,
        RetryWhat::FindImage,
        || shared.library.find_image(&job.container, &tag, &job.arch),
    )
    .await
    .map_err(service)?;
    let Some(image) = found else {
        return Err(FailReason::ImageMissing {
            container: job.container.path(),
            tag,
        });
    };
    if !image.uploaded {
        return Err(FailReason::ImageIncomplete {
            container: job.container.path(),
            tag,
        });
    }
    let hash_matches = info
        .image_checksum
        .as_ref()
        .is_none_or(|checksum| *checksum == image.hash);
    if !hash_matches || image.size != info.image_size {
        return Err(FailReason::ImageMismatch {
            expected_hash: info.image_checksum.clone(),
            expected_size: info.image_size,
            found_hash: image.hash,
            found_size: image.size,
        });
    }
    let built = BuiltImage {
        path: Some(job.container.path()),
        hash: Some(image.hash.clone()),
        size: image.size,
        signed_by: None,
    };
    Ok((built, image))
}

async fn retag<B: BuildService, L: Library + 'static>(
    shared: &Shared<B, L>,
    job: &Job,
    image: &Image,
    progress: &Progress,
) -> Result<Outcome, FailReason> {
    let done = Outcome::Retagged {
        image: BuiltImage {
            path: Some(job.container.path()),
            hash: Some(image.hash.clone()),
            size: image.size,
            signed_by: tagging::signed_by(shared, job, image),
        },
        tags: if job.publish {
            job.tags.clone()
        } else {
            Vec::new()
        },
    };
    tagging::tag(shared, job, &progress.tags, image.clone(), done).await
}

/// The key that signs the job's image: published jobs of a signed target only (an
/// ephemeral image gets no tag, so there is nothing to protect).
fn signer<B, L>(shared: &Shared<B, L>, job: &Job) -> Option<Arc<super::sign::Signer>> {
    if !job.publish {
        return None;
    }
    shared.options.signers.get(&job.target).cloned()
}

/// Returns a fault for a clean-up call that got no answer in time.
fn cleanup_timed_out(doing: &str) -> ServiceFault {
    (&ServiceError::new(
        ServiceErrorKind::Timeout,
        doing,
        "no answer within the clean-up timeout",
    ))
        .into()
}

async fn cancel_remote<B: BuildService, L: Library>(
    shared: &Shared<B, L>,
    job: &Job,
    build_id: Option<String>,
) {
    let Some(build_id) = build_id else {
        return;
    };
    let error = match timeout(
        shared.options.cleanup_timeout,
        shared.build.cancel(&build_id),
    )
    .await
    {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some((&error).into()),
        Err(_) => Some(cleanup_timed_out("cancelling the build")),
    };
    shared.emitter.emit(EventKind::RemoteCancelled {
        job: job.id,
        build_id,
        error,
    });
}

async fn delete_context<B: BuildService, L: Library>(
    shared: &Shared<B, L>,
    job: &Job,
    digest: Option<String>,
) {
    let Some(digest) = digest else {
        return;
    };
    // A context left behind costs the service some space until it expires; the build's
    // outcome does not depend on it, so a failure is reported and otherwise ignored.
    let error = match timeout(
        shared.options.cleanup_timeout,
        shared.build.delete_context(&digest),
    )
    .await
    {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some((&error).into()),
        Err(_) => Some(cleanup_timed_out("deleting the build context")),
    };
    shared.emitter.emit(EventKind::ContextDeleted {
        job: job.id,
        digest,
        error,
    });
}
