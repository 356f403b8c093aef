//! The result of a run: every job's outcome, and the counts the exit code is made from.

use std::time::Duration;

use serde::Serialize;

use super::events::{BuiltImage, Counts, JobKind, Outcome, seconds};
use super::job::JobId;
use super::mirror::MirrorResult;

/// How one job ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobResult {
    pub job: JobId,
    pub target: String,
    pub arch: String,
    pub kind: JobKind,
    pub outcome: Outcome,
    /// Time from the job's start to its end (zero when it never started).
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// The image's mirrors, each pushed, tagged or failed (none when it has no mirrors or
    /// did not succeed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorResult>,
}

impl JobResult {
    /// Returns the image the job built or retagged.
    pub fn image(&self) -> Option<&BuiltImage> {
        self.outcome.image()
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// One per job, in job order.
    pub jobs: Vec<JobResult>,
    pub counts: Counts,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Whether the caller cancelled the run.
    pub cancelled: bool,
}

impl RunSummary {
    /// Returns true if and only if a job failed or timed out (jobs skipped or cancelled
    /// because of it are its consequences, not further failures).
    pub fn any_failed(&self) -> bool {
        self.counts.failed + self.counts.timed_out > 0
    }

    /// Returns true if and only if a mirror of an image failed.
    pub fn any_mirror_failed(&self) -> bool {
        self.jobs
            .iter()
            .flat_map(|job| &job.mirrors)
            .any(MirrorResult::failed)
    }

    /// Returns true if and only if the caller cancelled the run.
    pub fn was_cancelled(&self) -> bool {
        self.cancelled
    }

    /// Returns true if and only if every job built or retagged its image.
    pub fn all_succeeded(&self) -> bool {
        self.jobs.iter().all(|job| job.outcome.succeeded())
    }

    /// Returns the result of the job for a target and architecture.
    pub fn job(&self, target: &str, arch: &str) -> Option<&JobResult> {
        self.jobs
            .iter()
            .find(|job| job.target == target && job.arch == arch)
    }
}
