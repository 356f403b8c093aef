//! What the executor tells its reporters: a stream of events, and the outcome of each job.
//!
//! Events are data, never text: reporters (`report/`) turn them into console lines, JSON,
//! annotations or JUnit. Times are offsets from the start of the run on tokio's clock, so a
//! test on a paused clock sees the same values every time.

use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::scs::{ServiceError, ServiceErrorKind};

use super::job::JobId;
use super::mirror::MirrorResult;
use super::pin::PinError;

/// One thing that happened during a run, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Time since the run started.
    #[serde(serialize_with = "seconds")]
    pub at: Duration,
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// The run began with this many jobs, at most `parallel` builds at once.
    RunStarted { jobs: usize, parallel: usize },
    /// A job joined the run (one per job, before any starts).
    JobQueued {
        job: JobId,
        target: String,
        arch: String,
        action: JobKind,
        dependencies: Vec<JobId>,
    },
    /// A job's dependencies succeeded and it got a build slot (retags need none).
    JobStarted { job: JobId },
    /// The build context is on the service (uploaded now, or the service had it).
    ContextUploaded {
        job: JobId,
        digest: String,
        size: u64,
    },
    /// The build was submitted; the service calls it `build_id`.
    Submitted { job: JobId, build_id: String },
    /// Output of the build, as the service sent it (not split into lines).
    Log { job: JobId, chunk: String },
    /// The log stream ended abnormally: the job polls the build's status from now on, and
    /// its log is incomplete.
    StreamDropped {
        job: JobId,
        build_id: String,
        error: ServiceFault,
    },
    /// A call failed in a way that may pass; it is tried again after `delay`.
    Retrying {
        job: JobId,
        what: RetryWhat,
        /// The attempt that failed, from 1.
        attempt: u32,
        #[serde(serialize_with = "seconds")]
        delay: Duration,
        error: ServiceFault,
    },
    /// The remote build was asked to stop (cancellation, fail-fast or timeout); `error` says
    /// why the request failed, if it did.
    RemoteCancelled {
        job: JobId,
        build_id: String,
        error: Option<ServiceFault>,
    },
    /// The uploaded build context was deleted after the build; `error` says why not, if not.
    ContextDeleted {
        job: JobId,
        digest: String,
        error: Option<ServiceFault>,
    },
    /// A mirror of a job's image was brought up to date, or failed (after the job ended:
    /// mirroring runs beside the other jobs).
    Mirrored { job: JobId, mirror: MirrorResult },
    /// A job ended. Every job gets exactly one, started or not.
    JobFinished {
        job: JobId,
        outcome: Outcome,
        /// Time since the job started (zero for a job that never started).
        #[serde(serialize_with = "seconds")]
        duration: Duration,
    },
    /// The run ended.
    RunFinished {
        counts: Counts,
        #[serde(serialize_with = "seconds")]
        duration: Duration,
        /// Whether the caller cancelled the run (SIGINT/SIGTERM).
        cancelled: bool,
    },
}

/// What a job does.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    Build,
    Retag,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The image was built (and, when publishing, verified in the library and tagged).
    Built {
        image: BuiltImage,
        build_id: String,
        /// From submission to the final status.
        #[serde(serialize_with = "seconds")]
        duration: Duration,
        /// The tags set on it (none for an ephemeral build).
        tags: Vec<String>,
        /// False when the log stream dropped and the status was polled instead.
        log_complete: bool,
    },
    /// The image existed already; the tags were set on it (none for an ephemeral run).
    Retagged {
        image: BuiltImage,
        tags: Vec<String>,
    },
    /// The job failed.
    Failed { reason: FailReason },
    /// The job did not run.
    Skipped { reason: SkipReason },
    /// The run was cancelled while the job ran; its remote build, if any, was cancelled.
    /// `tags` are those set before the stop when its tag sequence could not finish within
    /// the clean-up grace (a sequence that finishes gives the job its full outcome).
    Cancelled {
        build_id: Option<String>,
        tags: Vec<String>,
    },
    /// The job ran longer than its target's timeout; its remote build, if any, was cancelled.
    TimedOut {
        build_id: Option<String>,
        #[serde(serialize_with = "seconds")]
        after: Duration,
        tags: Vec<String>,
    },
}

impl Outcome {
    /// Returns true if and only if the job produced or found its image.
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Built { .. } | Outcome::Retagged { .. })
    }

    /// Returns the image the job built or retagged.
    pub fn image(&self) -> Option<&BuiltImage> {
        match self {
            Outcome::Built { image, .. } | Outcome::Retagged { image, .. } => Some(image),
            _ => None,
        }
    }
}

/// An image a job built or retagged.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct BuiltImage {
    /// `entity/collection/container` holding it: the target's container when published,
    /// where the service put it for an ephemeral build (if it said).
    pub path: Option<String>,
    /// `sha256.<hex>`; checked against the library when published.
    pub hash: Option<String>,
    /// Bytes.
    pub size: u64,
    /// The fingerprint of the key that signed it: this run's key when it signed it; for an
    /// image of a signed target that it retagged, the signer the library names (the run's
    /// key when among them). The library's word, not a check: `sifbake verify` checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

/// Why a job failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FailReason {
    /// The build finished without an image (`imageSize` 0): the log says why.
    BuildFailed {
        build_id: String,
        log_complete: bool,
    },
    /// The build context could not be packed.
    Context { error: String },
    /// The library holds an image for the build's checksum, but not the one built.
    ImageMismatch {
        expected_hash: Option<String>,
        expected_size: u64,
        found_hash: String,
        found_size: u64,
    },
    /// The library has no image for the build's checksum (or digest tag).
    ImageMissing { container: String, tag: String },
    /// The library holds a record of the build's image, but its upload never completed.
    ImageIncomplete { container: String, tag: String },
    /// The executor itself failed (a job task panicked).
    Internal { detail: String },
    /// A `From:` could not be pinned to a dependency's image; nothing was submitted.
    Pin { error: PinError },
    /// A service call failed (after retries, where retrying is safe).
    Service { error: ServiceFault },
    /// The build service publishes to another library than the one this run uses.
    LibraryMismatch {
        builder_library: String,
        library: String,
    },
    /// The library refused a tag for good after `set` were set (they stay set).
    Tagging {
        set: Vec<String>,
        error: ServiceFault,
    },
    /// A signed target's built image could not be brought back to sign (the library failed,
    /// or the file was not the image built); nothing was tagged.
    SignDownload { image: String, error: String },
    /// The built image could not be signed (not a SIF sifbake can sign, no free descriptor
    /// slot); nothing was tagged.
    Signing { image: String, error: String },
    /// The library did not take the signed image; nothing was tagged.
    SignedUpload {
        container: String,
        arch: String,
        error: String,
    },
}

/// Why a job did not run.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SkipReason {
    /// The run was cancelled before the job started.
    Cancelled,
    /// A job it builds on (directly or not) did not succeed: `dependency` is the one that
    /// failed, timed out or was cancelled.
    DependencyFailed { dependency: JobId },
    /// `--fail-fast`: `failed` failed first, so nothing new started.
    FailFast { failed: JobId },
}

/// What a retried call was doing.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryWhat {
    /// Uploading the build context (safe: keyed by digest).
    UploadContext,
    /// Reading the build's status.
    Status,
    /// Looking the built or existing image up in the library.
    FindImage,
    /// Setting tags (safe: setting a tag twice changes nothing).
    SetTags,
    /// Downloading the built image to sign it (safe: a read).
    DownloadImage,
    /// Uploading the signed image (safe: the library keeps one image per file hash).
    UploadImage,
}

/// A service error as data, for events and summaries.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct ServiceFault {
    pub kind: FaultKind,
    /// What failed, as a lowercase fragment ("submitting the build").
    pub doing: String,
    pub detail: String,
    /// Whether trying again may work.
    pub transient: bool,
}

/// The kind of a [`ServiceFault`] (mirrors [`ServiceErrorKind`]).
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultKind {
    Auth,
    Forbidden,
    Connect,
    Protocol,
    RateLimited,
    Status { code: u16, message: String },
    StreamDropped,
    Timeout,
}

impl From<&ServiceError> for ServiceFault {
    fn from(error: &ServiceError) -> Self {
        let kind = match &error.kind {
            ServiceErrorKind::Auth => FaultKind::Auth,
            ServiceErrorKind::Forbidden => FaultKind::Forbidden,
            ServiceErrorKind::Connect => FaultKind::Connect,
            ServiceErrorKind::Protocol => FaultKind::Protocol,
            ServiceErrorKind::RateLimited => FaultKind::RateLimited,
            ServiceErrorKind::Status { code, message } => FaultKind::Status {
                code: *code,
                message: message.clone(),
            },
            ServiceErrorKind::StreamDropped => FaultKind::StreamDropped,
            ServiceErrorKind::Timeout => FaultKind::Timeout,
        };
        ServiceFault {
            kind,
            doing: error.doing.clone(),
            detail: error.detail.clone(),
            transient: error.is_transient(),
        }
    }
}

/// How many jobs ended which way.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Counts {
    pub built: usize,
    pub retagged: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    pub skipped: usize,
}

impl Counts {
    /// Adds one outcome.
    pub fn add(&mut self, outcome: &Outcome) {
        let count = match outcome {
            Outcome::Built { .. } => &mut self.built,
            Outcome::Retagged { .. } => &mut self.retagged,
            Outcome::Failed { .. } => &mut self.failed,
            Outcome::TimedOut { .. } => &mut self.timed_out,
            Outcome::Cancelled { .. } => &mut self.cancelled,
            Outcome::Skipped { .. } => &mut self.skipped,
        };
        *count += 1;
    }
}

/// Serialises a duration as seconds (a float), the unit people and JSON readers expect.
pub(super) fn seconds<S: Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// Sends events stamped with the time since the run started.
#[derive(Clone, Debug)]
pub(super) struct Emitter {
    sender: mpsc::UnboundedSender<Event>,
    start: Instant,
}

impl Emitter {
    /// Returns an emitter whose clock starts now.
    pub(super) fn new(sender: mpsc::UnboundedSender<Event>) -> Self {
        Emitter {
            sender,
            start: Instant::now(),
        }
    }

    /// Returns the time since the run started.
    pub(super) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Sends one event.
    pub(super) fn emit(&self, kind: EventKind) {
        // A reporter that went away must not stop the builds (or their cancellation).
        let _ = self.sender.send(Event {
            at: self.elapsed(),
            kind,
        });
    }
}
