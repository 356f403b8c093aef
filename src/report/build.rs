//! A build run for people: one line per state change (or a live view on a terminal), each
//! image's whole log in a collapsible group when it ends, logs kept on disk, and a table at
//! the end. Fed by the executor's events; it formats and never changes an outcome.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use crate::exec::{
    Event, EventKind, FailReason, FaultKind, JobId, JobKind, Outcome, RetryWhat, RunSummary,
    ServiceFault, SkipReason,
};

use super::ci::CiLog;
use super::failure::LogReason;
use super::live::{Activity, LiveView};
use super::logs::LogFiles;
use super::result::ResultDocument;

/// A call the HTTP clients are about to try again.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RetryNotice {
    /// What failed and why: "submitting the build failed: 503 Service Unavailable".
    pub error: String,
    /// The attempt that failed, from 1.
    pub attempt: u32,
    /// The wait before the next one.
    pub delay: Duration,
}

impl RetryNotice {
    /// Returns the notice as a sentence for the log.
    pub fn describe(&self) -> String {
        format!(
            "{}; retrying in {} (attempt {} failed)",
            self.error,
            seconds(self.delay),
            self.attempt
        )
    }
}

/// What the reporter knows about a job from its `JobQueued` event.
#[derive(Clone, Debug)]
struct JobInfo {
    target: String,
    arch: String,
    kind: JobKind,
    /// `base/amd64 | `: starts each line of the image's log as it streams.
    prefix: String,
}

/// Turns events into lines on a writer (stderr) and logs into files.
pub struct BuildReporter<'a> {
    out: &'a mut dyn Write,
    ci: CiLog,
    logs: LogFiles,
    jobs: BTreeMap<JobId, JobInfo>,
    /// Unix time of the run's start, for GitLab's section timestamps.
    epoch: u64,
    /// -1 quiet, 0 normal, 1+ verbose.
    verbosity: i8,
    /// A token to suspend GitHub workflow commands while a build's own output is replayed.
    stop_token: String,
    /// The live view, on a terminal outside CI.
    live: Option<LiveView>,
    /// Each job's target `timeout`, after which sifbake cancels its build.
    timeouts: BTreeMap<JobId, Duration>,
    /// Streamed log lines, prefixed, on their way to `out`.
    stream_buffer: Vec<u8>,
}

/// The capacity of the stream buffer kept between chunks.
const STREAM_BUFFER_KEPT: usize = 256 * 1024;

impl<'a> BuildReporter<'a> {
    /// Returns a reporter writing to `out`.
    pub fn new(
        out: &'a mut dyn Write,
        ci: CiLog,
        logs: LogFiles,
        epoch: u64,
        verbosity: i8,
    ) -> Self {
        let stop_token = format!("sifbake-log-{epoch:x}-{}", std::process::id());
        BuildReporter {
            out,
            ci,
            logs,
            jobs: BTreeMap::new(),
            epoch,
            verbosity,
            stop_token,
            live: None,
            timeouts: BTreeMap::new(),
            stream_buffer: Vec::new(),
        }
    }

    /// Shows a live view of every image instead of a line per state change (for terminals).
    #[must_use]
    pub fn with_live_view(mut self) -> Self {
        self.live = Some(LiveView::new());
        self
    }

    /// Tells the reporter each job's timeout, so the log says which limit ends a build.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: impl IntoIterator<Item = (JobId, Duration)>) -> Self {
        self.timeouts.extend(timeouts);
        self
    }

    /// Reports a call the clients are about to retry.
    pub fn on_retry(&mut self, at: Duration, notice: &RetryNotice) -> io::Result<()> {
        if self.verbosity < 0 {
            return Ok(());
        }
        self.line(at, None, &notice.describe())
    }

    /// Returns the run's logs, for reports written after the run (JUnit).
    pub fn into_logs(self) -> LogFiles {
        self.logs
    }

    /// Advances the live view's clocks; `now` is the time into the run.
    pub fn tick(&mut self, now: Duration) {
        if let Some(live) = &mut self.live {
            live.tick(now);
        }
    }

    /// Handles one event.
    pub fn on_event(&mut self, event: &Event) -> io::Result<()> {
        let at = event.at;
        match &event.kind {
            EventKind::RunStarted { jobs, parallel } => {
                if self.verbosity >= 0 {
                    self.line(
                        at,
                        None,
                        &format!(
                            "{} to run, at most {parallel} builds at once",
                            super::plural(*jobs, "job")
                        ),
                    )?;
                }
            }
            EventKind::JobQueued {
                job,
                target,
                arch,
                action,
                ..
            } => {
                self.jobs.insert(
                    *job,
                    JobInfo {
                        target: target.clone(),
                        arch: arch.clone(),
                        kind: *action,
                        prefix: format!("{target}/{arch} | "),
                    },
                );
                if let Some(live) = &mut self.live {
                    live.add(*job, &format!("{target} ({arch})"));
                }
            }
            EventKind::JobStarted { job } => {
                if let Some(live) = &mut self.live {
                    live.set(*job, Activity::Uploading, at);
                } else if self.verbosity >= 1 {
                    self.line(at, Some(*job), "started")?;
                }
            }
            EventKind::ContextUploaded { job, size, .. } => {
                if self.live.is_none() && self.verbosity >= 0 {
                    self.line(
                        at,
                        Some(*job),
                        &format!("build context ready ({})", human_bytes(*size)),
                    )?;
                }
            }
            EventKind::Submitted { job, build_id } => {
                if let Some(live) = &mut self.live {
                    live.set(
                        *job,
                        Activity::Building {
                            since: at,
                            last_line: String::new(),
                        },
                        at,
                    );
                } else if self.verbosity >= 0 {
                    let mut text = format!("submitted build {build_id}");
                    // The build service logs its own maximum duration; this is the other
                    // limit, and usually the one that applies.
                    if let Some(timeout) = self.timeouts.get(job) {
                        text.push_str(&format!(
                            "; sifbake cancels it after {} (the target's `timeout`)",
                            seconds(*timeout)
                        ));
                    }
                    self.line(at, Some(*job), &text)?;
                }
            }
            EventKind::Log { job, chunk } => {
                if let Some(info) = self.jobs.get(job) {
                    self.logs.append(&info.target, &info.arch, chunk);
                }
                if let Some(live) = &mut self.live {
                    live.log(*job, chunk, at);
                } else if self.verbosity >= 0 {
                    self.stream(*job, chunk)?;
                }
            }
            EventKind::StreamDropped { .. } | EventKind::Retrying { .. } if self.verbosity < 0 => {}
            EventKind::StreamDropped { job, error, .. } => {
                if let Some(live) = &mut self.live {
                    live.set(*job, Activity::Polling { since: at }, at);
                }
                self.line(
                    at,
                    Some(*job),
                    &format!(
                        "log stream lost ({}); following the build's status instead",
                        fault(error)
                    ),
                )?;
            }
            EventKind::Retrying {
                job,
                what,
                attempt,
                delay,
                error,
            } => {
                self.line(
                    at,
                    Some(*job),
                    &format!(
                        "{} failed ({}), attempt {attempt}; retrying in {}",
                        retry_what(*what),
                        fault(error),
                        seconds(*delay)
                    ),
                )?;
            }
            EventKind::RemoteCancelled {
                job,
                build_id,
                error,
            } => {
                let text = match error {
                    None => format!("remote build {build_id} cancelled"),
                    Some(error) => {
                        format!("could not cancel remote build {build_id}: {}", fault(error))
                    }
                };
                self.line(at, Some(*job), &text)?;
            }
            EventKind::ContextDeleted { job, error, .. } => {
                if let Some(error) = error {
                    self.line(
                        at,
                        Some(*job),
                        &format!(
                            "warning: the build context was not deleted: {}",
                            fault(error)
                        ),
                    )?;
                }
            }
            EventKind::Mirrored { job, mirror } => {
                if self.verbosity >= 0 || mirror.failed() {
                    self.line(at, Some(*job), &super::mirrors::describe(mirror))?;
                }
            }
            EventKind::JobFinished { job, outcome, .. } => {
                self.finished(at, *job, outcome)?;
            }
            EventKind::RunFinished { .. } => {
                if let Some(live) = &mut self.live {
                    live.clear();
                }
                self.logs.flush();
            }
        }
        Ok(())
    }

    /// Writes a chunk of an image's log as it arrives, each line after the image's prefix:
    /// parallel builds stay readable, and no line of a build's output starts with `::`, so
    /// the GitHub runner never takes one for a workflow command. The chunk is written and
    /// dropped: memory does not grow with the log.
    fn stream(&mut self, job: JobId, chunk: &str) -> io::Result<()> {
        let Some(info) = self.jobs.get(&job) else {
            return Ok(());
        };
        // One write per chunk (stderr is unbuffered), through a buffer reused across chunks
        // so that hundreds of streaming builds do not churn the allocator.
        self.stream_buffer.clear();
        for line in chunk.lines() {
            self.stream_buffer.extend_from_slice(info.prefix.as_bytes());
            self.stream_buffer
                .extend_from_slice(line.trim_end_matches('\r').as_bytes());
            self.stream_buffer.push(b'\n');
        }
        let written = self.out.write_all(&self.stream_buffer);
        // A huge chunk must not keep its buffer for the rest of the run.
        if self.stream_buffer.capacity() > STREAM_BUFFER_KEPT {
            self.stream_buffer = Vec::new();
        }
        written
    }

    fn finished(&mut self, at: Duration, job: JobId, outcome: &Outcome) -> io::Result<()> {
        // `-q`: only what went wrong; the result table says the rest.
        if self.verbosity < 0
            && !matches!(outcome, Outcome::Failed { .. } | Outcome::TimedOut { .. })
        {
            return Ok(());
        }
        let mut text = self.describe(outcome);
        if let (
            Outcome::Failed {
                reason:
                    FailReason::BuildFailed {
                        build_id,
                        log_complete,
                    },
            },
            Some(info),
        ) = (outcome, self.jobs.get(&job))
            && let Some(reason) = self.logs.reason(&info.target, &info.arch)?
        {
            text = format!(
                "FAILED: {}",
                build_failure(build_id, *log_complete, Some(&reason))
            );
        }
        if self.live.is_some() {
            let line = self.format_line(at, Some(job), &text);
            if let Some(live) = &mut self.live {
                live.finish(job, &line);
            }
            // On a terminal only failures show their log: that is where the reason is.
            if let (Outcome::Failed { .. } | Outcome::TimedOut { .. }, Some(info)) =
                (outcome, self.jobs.get(&job).cloned())
            {
                let mut log = Vec::new();
                self.logs.replay(&info.target, &info.arch, &mut log)?;
                if let Some(live) = &self.live {
                    for line in String::from_utf8_lossy(&log).lines() {
                        live.println(&format!("  │ {line}"));
                    }
                }
            }
            return Ok(());
        }
        self.line(at, Some(job), &text)?;
        let has_log = matches!(
            outcome,
            Outcome::Built { .. }
                | Outcome::Failed { .. }
                | Outcome::Cancelled {
                    build_id: Some(_),
                    ..
                }
                | Outcome::TimedOut {
                    build_id: Some(_),
                    ..
                }
        );
        let Some(info) = self.jobs.get(&job).cloned() else {
            return Ok(());
        };
        // A job that failed before its build started (say, its context could not be packed)
        // has no log: no empty group for it. A plain log has streamed it already; CI logs
        // get it again, whole, in a group that stays collapsed.
        if has_log
            && self.ci != CiLog::Plain
            && info.kind == JobKind::Build
            && self.verbosity >= 0
            && self.logs.has_log(&info.target, &info.arch)?
        {
            let id = format!("sifbake_{}_{}", info.target, info.arch);
            let now = self.epoch + at.as_secs();
            let title = format!("{} ({}) build log", info.target, info.arch);
            self.out
                .write_all(self.ci.group_start(&id, &title, now).as_bytes())?;
            let stop = self.ci.stop_commands(&self.stop_token);
            if let Some((start, _)) = &stop {
                self.out.write_all(start.as_bytes())?;
            }
            let copied = self.logs.replay(&info.target, &info.arch, self.out)?;
            if copied > 0 {
                writeln!(self.out)?;
            }
            if let Some((_, resume)) = &stop {
                self.out.write_all(resume.as_bytes())?;
            }
            self.out.write_all(self.ci.group_end(&id, now).as_bytes())?;
        }
        Ok(())
    }

    fn describe(&self, outcome: &Outcome) -> String {
        match outcome {
            Outcome::Built {
                image,
                duration,
                tags,
                log_complete,
                ..
            } => {
                let mut text = format!(
                    "built {} ({}) in {}",
                    short_hash(image.hash.as_deref()),
                    human_bytes(image.size),
                    seconds(*duration)
                );
                if let Some(key) = &image.signed_by {
                    text.push_str(&format!(", signed by {key}"));
                }
                if tags.is_empty() {
                    text.push_str(", not published (ephemeral)");
                    if let Some(path) = &image.path {
                        text.push_str(&format!(" at {path}"));
                    }
                } else {
                    text.push_str(&format!("; tagged {}", tags.join(", ")));
                }
                if !log_complete {
                    text.push_str(" (log incomplete: the stream was lost)");
                }
                text
            }
            Outcome::Retagged { image, tags } => {
                if tags.is_empty() {
                    format!("exists already as {}", short_hash(image.hash.as_deref()))
                } else {
                    format!(
                        "exists already as {}; tagged {}",
                        short_hash(image.hash.as_deref()),
                        tags.join(", ")
                    )
                }
            }
            Outcome::Failed { reason } => format!("FAILED: {}", fail_reason(reason)),
            Outcome::Skipped { reason } => format!("skipped: {}", self.skip_reason(reason)),
            Outcome::Cancelled { .. } => "cancelled".to_owned(),
            // Whether the remote build was cancelled is the `RemoteCancelled` line's to say:
            // the cancel may have failed, or nothing was submitted.
            Outcome::TimedOut { after, .. } => format!("TIMED OUT after {}", seconds(*after)),
        }
    }

    fn skip_reason(&self, reason: &SkipReason) -> String {
        match reason {
            SkipReason::Cancelled => "the run was cancelled".to_owned(),
            SkipReason::DependencyFailed { dependency } => format!(
                "it builds on {}, which did not succeed",
                self.name(*dependency)
            ),
            SkipReason::FailFast { failed } => {
                format!("{} failed and --fail-fast is set", self.name(*failed))
            }
        }
    }

    fn name(&self, job: JobId) -> String {
        match self.jobs.get(&job) {
            Some(info) => format!("`{}` ({})", info.target, info.arch),
            None => "another job".to_owned(),
        }
    }

    fn format_line(&self, at: Duration, job: Option<JobId>, text: &str) -> String {
        let subject = match job.and_then(|j| self.jobs.get(&j)) {
            Some(info) => format!("{} ({}): ", info.target, info.arch),
            None => String::new(),
        };
        format!("[{:>7.1}s] {subject}{text}", at.as_secs_f64())
    }

    fn line(&mut self, at: Duration, job: Option<JobId>, text: &str) -> io::Result<()> {
        let line = self.format_line(at, job, text);
        match &self.live {
            Some(live) => {
                live.println(&line);
                Ok(())
            }
            None => writeln!(self.out, "{line}"),
        }
    }
}

/// Describes why a job failed.
pub fn fail_reason(reason: &FailReason) -> String {
    match reason {
        FailReason::BuildFailed {
            build_id,
            log_complete,
        } => build_failure(build_id, *log_complete, None),
        FailReason::Context { error } => format!("the build context could not be packed: {error}"),
        FailReason::ImageMismatch {
            expected_hash,
            found_hash,
            found_size,
            expected_size,
        } => format!(
            "the library holds {found_hash} ({found_size} bytes), not the image built ({}, {expected_size} bytes); no tag was set",
            expected_hash.as_deref().unwrap_or("no checksum")
        ),
        FailReason::ImageMissing { container, tag } => {
            format!("the library has no image {container}:{tag} after the build; no tag was set")
        }
        FailReason::ImageIncomplete { container, tag } => format!(
            "the library's image {container}:{tag} was never completely uploaded after the build; no tag was set"
        ),
        FailReason::Internal { detail } => format!("internal error: {detail}"),
        FailReason::Pin { error } => format!("cannot pin a base image: {error}"),
        FailReason::Service { error } => fault(error),
        FailReason::LibraryMismatch {
            builder_library,
            library,
        } => format!(
            "the build service publishes to the library at {builder_library}, not to the one this run looks images up and tags in ({library}); point `--library-url` (or `--remote`) at the build service's library; the build was cancelled"
        ),
        FailReason::Tagging { set, error } if set.is_empty() => {
            format!("{}; no tag was set", fault(error))
        }
        FailReason::Tagging { set, error } => format!(
            "{}; only these tags were set: {}",
            fault(error),
            set.join(", ")
        ),
        FailReason::SignDownload { image, error } => format!(
            "cannot download the built image {image} to sign it: {error}; no tag was set, run the build again"
        ),
        FailReason::Signing { image, error } => format!(
            "cannot sign the built image {image}: {error}; no tag was set, check that the target builds a SIF image"
        ),
        FailReason::SignedUpload {
            container,
            arch,
            error,
        } => format!(
            "the library did not take the signed image for {container} ({arch}): {error}; no tag was set, check the token's write access and run the build again"
        ),
    }
}

/// Describes a build that produced no image, in its log's words when they are known.
pub fn build_failure(build_id: &str, log_complete: bool, reason: Option<&LogReason>) -> String {
    let mut text = match reason {
        Some(reason) => format!("build {build_id} produced no image: {}", reason.one_line()),
        None => format!("build {build_id} produced no image; its log says why"),
    };
    if !log_complete {
        text.push_str(" (the log is incomplete)");
    }
    text
}

fn fault(error: &ServiceFault) -> String {
    let kind = match &error.kind {
        FaultKind::Auth => "the token was refused".to_owned(),
        FaultKind::Forbidden => {
            "not allowed: the token is valid, but its user has no permission for this".to_owned()
        }
        FaultKind::Connect => "no connection".to_owned(),
        FaultKind::Protocol => "an unexpected answer".to_owned(),
        FaultKind::RateLimited => "rate limited".to_owned(),
        FaultKind::Status { code, .. } => format!("HTTP {code}"),
        FaultKind::StreamDropped => "the log stream dropped".to_owned(),
        FaultKind::Timeout => "no answer in time".to_owned(),
    };
    if error.detail.is_empty() {
        format!("{}: {kind}", error.doing)
    } else {
        format!("{}: {kind}: {}", error.doing, error.detail)
    }
}

fn retry_what(what: RetryWhat) -> &'static str {
    match what {
        RetryWhat::UploadContext => "uploading the build context",
        RetryWhat::Status => "reading the build's status",
        RetryWhat::FindImage => "looking up the image",
        RetryWhat::SetTags => "setting tags",
        RetryWhat::DownloadImage => "downloading the image to sign",
        RetryWhat::UploadImage => "uploading the signed image",
    }
}

/// `sha256.1234567…`, short enough for a log line.
pub fn short_hash(hash: Option<&str>) -> String {
    match hash {
        Some(hash) => {
            let cut = hash
                .char_indices()
                .nth("sha256.".len() + 12)
                .map_or(hash.len(), |(i, _)| i);
            if cut < hash.len() {
                format!("{}…", &hash[..cut])
            } else {
                hash.to_owned()
            }
        }
        None => "an image".to_owned(),
    }
}

/// `950 B`, `12.3 KB`, `1.4 GB` (decimal units, as the Sylabs library shows sizes).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `4.2s`, `3m05s`.
pub fn seconds(duration: Duration) -> String {
    let total = duration.as_secs_f64();
    if total < 60.0 {
        format!("{total:.1}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Writes the final table: one row per image. The reasons are the result document's, which
/// quote failed builds' logs.
pub fn write_summary(
    out: &mut dyn Write,
    summary: &RunSummary,
    document: &ResultDocument<'_>,
) -> io::Result<()> {
    let reason = |target: &str, arch: &str| {
        document
            .targets
            .iter()
            .filter(|t| t.name == target)
            .flat_map(|t| &t.images)
            .find(|i| i.arch == arch)
            .and_then(|i| i.reason.clone())
    };
    let rows: Vec<[String; 6]> = summary
        .jobs
        .iter()
        .map(|job| {
            let why = || reason(&job.target, &job.arch).unwrap_or_else(|| "-".to_owned());
            let (status, detail) = match &job.outcome {
                Outcome::Built { tags, .. } => (
                    "built",
                    if tags.is_empty() {
                        "ephemeral".to_owned()
                    } else {
                        tags.join(", ")
                    },
                ),
                Outcome::Retagged { tags, .. } => (
                    "retagged",
                    if tags.is_empty() {
                        "exists".to_owned()
                    } else {
                        tags.join(", ")
                    },
                ),
                Outcome::Failed { reason: failure } => (
                    "FAILED",
                    reason(&job.target, &job.arch).unwrap_or_else(|| fail_reason(failure)),
                ),
                Outcome::Skipped { .. } => ("skipped", why()),
                Outcome::Cancelled { .. } => ("cancelled", "-".to_owned()),
                Outcome::TimedOut { .. } => ("TIMED OUT", "-".to_owned()),
            };
            let image = job.image();
            [
                job.target.clone(),
                job.arch.clone(),
                status.to_owned(),
                if job.duration.is_zero() {
                    "-".to_owned()
                } else {
                    seconds(job.duration)
                },
                image.map_or("-".to_owned(), |i| {
                    format!("{} {}", short_hash(i.hash.as_deref()), human_bytes(i.size))
                }),
                detail,
            ]
        })
        .collect();
    let header = [
        "TARGET",
        "ARCH",
        "STATUS",
        "DURATION",
        "IMAGE",
        "TAGS / REASON",
    ]
    .map(str::to_owned);
    super::write_table(out, &header, &rows)?;
    writeln!(out, "{}", summary_line(summary))
}

/// The run in one line: `2 built, 0 retagged, 1 failed in 41.3s`.
pub fn summary_line(summary: &RunSummary) -> String {
    let counts = summary.counts;
    let mut parts = vec![
        format!("{} built", counts.built),
        format!("{} retagged", counts.retagged),
    ];
    for (count, word) in [
        (counts.failed, "failed"),
        (counts.timed_out, "timed out"),
        (counts.cancelled, "cancelled"),
        (counts.skipped, "skipped"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    format!("{} in {}", parts.join(", "), seconds(summary.duration))
}

#[cfg(test)]
mod tests;
