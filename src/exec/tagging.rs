//! Setting an image's tags so that no report ever contradicts the library.
//!
//! Tags are set one at a time, and each one set is recorded. The sequence runs as a task of
//! its own, so a stop (SIGINT, SIGTERM, `--fail-fast`) or the job's timeout arriving half-way
//! does not cut it: the job's clean-up gives it the clean-up grace to finish. A sequence
//! that finishes makes the job's outcome what it would have been; one that cannot finish (a
//! tag refused for good, or the grace over) leaves an outcome that lists exactly the tags
//! that were set. It also decides which image gets the tags: another run's image with the
//! same inputs may stand in for this one (`adoptable`).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::timeout;

use crate::scs::{Image, Library};

use super::events::{FailReason, Outcome, RetryWhat};
use super::job::Job;
use super::retry::{persist, retry};
use super::runner::Shared;

/// What a job's tag sequence has done, shared with the job's clean-up.
#[derive(Debug)]
pub(super) struct TagProgress {
    /// True while a sequence runs.
    running: watch::Sender<bool>,
    /// The tags set so far, in order.
    set: Mutex<Vec<String>>,
    /// The job's outcome, once the sequence ended (it then decides the outcome, even when
    /// the job itself was stopped meanwhile).
    outcome: OnceLock<Outcome>,
    abort: OnceLock<AbortHandle>,
}

impl TagProgress {
    pub(super) fn new() -> Self {
        TagProgress {
            running: watch::Sender::new(false),
            set: Mutex::new(Vec::new()),
            outcome: OnceLock::new(),
            abort: OnceLock::new(),
        }
    }

    /// The tags set so far.
    pub(super) fn set(&self) -> Vec<String> {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `grace` for a running sequence to end, then stops it; returns the
    /// outcome it ended with, if it did.
    pub(super) async fn settle(&self, grace: Duration) -> Option<Outcome> {
        let mut running = self.running.subscribe();
        let _ = timeout(grace, running.wait_for(|running| !running)).await;
        if let Some(abort) = self.abort.get() {
            abort.abort();
        }
        self.outcome.get().cloned()
    }
}

/// Sets the job's tags on `image`, then returns `done`, the job's outcome with every tag
/// set; an ephemeral job sets none. A tag refused for good fails the job with the tags set
/// before it.
pub(super) async fn tag<B, L: Library + 'static>(
    shared: &Shared<B, L>,
    job: &Job,
    progress: &Arc<TagProgress>,
    image: Image,
    done: Outcome,
) -> Result<Outcome, FailReason> {
    if !job.publish || job.tags.is_empty() {
        return Ok(done);
    }
    progress.running.send_replace(true);
    let task = tokio::spawn({
        let library = Arc::clone(&shared.library);
        let emitter = shared.emitter.clone();
        let policy = shared.options.retry;
        let progress = Arc::clone(progress);
        let (id, container, arch, tags) = (
            job.id,
            job.container.clone(),
            job.arch.clone(),
            job.tags.clone(),
        );
        async move {
            let mut refused = None;
            for tag in &tags {
                let one = std::slice::from_ref(tag);
                let result = persist(&emitter, &policy, id, RetryWhat::SetTags, || {
                    library.set_tags(&container, &image, &arch, one)
                })
                .await;
                match result {
                    Ok(()) => progress
                        .set
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(tag.clone()),
                    Err(error) => {
                        refused = Some(error);
                        break;
                    }
                }
            }
            let outcome = match refused {
                None => done,
                Some(error) => Outcome::Failed {
                    reason: FailReason::Tagging {
                        set: progress.set(),
                        error: (&error).into(),
                    },
                },
            };
            let _ = progress.outcome.set(outcome.clone());
            progress.running.send_replace(false);
            outcome
        }
    });
    let _ = progress.abort.set(task.abort_handle());
    match task.await {
        Ok(Outcome::Failed { reason }) => Err(reason),
        Ok(outcome) => Ok(outcome),
        Err(error) => Err(FailReason::Internal {
            detail: error.to_string(),
        }),
    }
}

/// The complete image the job's digest tag names, when the job may adopt it and it is not
/// `ours`. A failed look-up adopts nothing: the job then goes on with its own image.
pub(super) async fn adoptable<B, L: Library>(
    shared: &Shared<B, L>,
    job: &Job,
    ours: Option<&str>,
) -> Option<Image> {
    if !job.adopt {
        return None;
    }
    let found = retry(
        &shared.emitter,
        &shared.options.retry,
        job.id,
        RetryWhat::FindImage,
        || {
            shared
                .library
                .find_image(&job.container, &job.digest_tag, &job.arch)
        },
    )
    .await
    .ok()??;
    // A signed target's inputs never name an unsigned image (the digest covers `signed`):
    // one found there was pushed by someone else, and this job's own signed image takes
    // the tag instead.
    let signed = job.publish && shared.options.signers.contains_key(&job.target);
    let acceptable = !(signed && found.known_unsigned());
    (found.uploaded && acceptable && Some(found.id.as_str()) != ours).then_some(found)
}

/// Who the library says signed `image`, an image of another run that this job tags: for a
/// signed target only, preferring the job's own key when it is among the signers (a key
/// rotated since may have signed it, which `sifbake verify` judges).
pub(super) fn signed_by<B, L>(shared: &Shared<B, L>, job: &Job, image: &Image) -> Option<String> {
    if !job.publish {
        return None;
    }
    let signer = shared.options.signers.get(&job.target)?;
    image.signer(Some(signer.fingerprint())).map(str::to_owned)
}
