//! The run: jobs start as soon as the jobs they build on succeeded (no level barriers), at
//! most `jobs` builds at once; a failure skips what builds on it, and with `--fail-fast`
//! stops the run; cancellation stops it too. Events go out as things happen; the summary
//! comes back at the end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::scs::{BuildService, Library};

use super::events::{
    BuiltImage, Counts, Emitter, Event, EventKind, FailReason, Outcome, SkipReason,
};
use super::job::{BaseImage, Job, JobId};
use super::mirror::Mirroring;
use super::options::ExecOptions;
use super::pin::PinSource;
use super::runner::{Shared, TaskResult, run_job};
use super::summary::{JobResult, RunSummary};

/// Runs the jobs against the build service and the library, sending events as it goes, and
/// returns how each job ended.
///
/// `jobs` must be indexed by their ids (as [`jobs`](super::jobs) makes them). Returns once
/// every job has ended: promptly after `options.cancel` fires, once the running builds have
/// been asked to cancel (each request bounded by `options.cleanup_timeout`).
pub async fn execute<B, L>(
    jobs: Vec<Job>,
    build: Arc<B>,
    library: Arc<L>,
    options: &ExecOptions,
    events: mpsc::UnboundedSender<Event>,
) -> RunSummary
where
    B: BuildService + 'static,
    L: Library + 'static,
{
    let emitter = Emitter::new(events);
    let parallel = options.jobs.max(1);
    let shared = Arc::new(Shared {
        build,
        library,
        options: options.clone(),
        emitter: emitter.clone(),
        stop: options.cancel.child_token(),
        slots: Arc::new(Semaphore::new(parallel)),
        mirrors: Mirroring::new(),
    });
    let jobs: Vec<Arc<Job>> = jobs.into_iter().map(Arc::new).collect();
    emitter.emit(EventKind::RunStarted {
        jobs: jobs.len(),
        parallel,
    });
    for job in &jobs {
        emitter.emit(EventKind::JobQueued {
            job: job.id,
            target: job.target.clone(),
            arch: job.arch.clone(),
            action: job.kind(),
            dependencies: job.dependencies.clone(),
        });
    }

    let mut scheduler = Scheduler {
        jobs: &jobs,
        emitter: &emitter,
        states: jobs.iter().map(|_| State::Pending).collect(),
    };
    let mut tasks = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut fail_fast_by = None;
    loop {
        if !shared.stop.is_cancelled() {
            for index in scheduler.ready() {
                scheduler.states[index] = State::Running;
                let pins = scheduler.pins_for(&jobs[index]);
                let task =
                    tasks.spawn(run_job(Arc::clone(&shared), Arc::clone(&jobs[index]), pins));
                running.insert(task.id(), index);
            }
        }
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let (index, result) = match joined {
            Ok((id, result)) => (running.remove(&id), result),
            Err(error) => (
                running.remove(&error.id()),
                TaskResult::Finished {
                    outcome: Outcome::Failed {
                        reason: FailReason::Internal {
                            detail: error.to_string(),
                        },
                    },
                    duration: Duration::ZERO,
                    slot: None,
                },
            ),
        };
        let Some(index) = index else {
            continue;
        };
        match result {
            // Stopped while waiting for a slot: swept up below with the stop's reason.
            TaskResult::NotStarted => scheduler.states[index] = State::Pending,
            TaskResult::Finished {
                outcome,
                duration,
                slot,
            } => {
                let failed = matches!(outcome, Outcome::Failed { .. } | Outcome::TimedOut { .. });
                scheduler.finish(index, outcome, duration);
                // Once the run stops, what never started is skipped for that reason alone.
                if !shared.stop.is_cancelled() {
                    scheduler.skip_dependents_of_failures();
                    if failed && options.fail_fast {
                        fail_fast_by = Some(JobId(index));
                        shared.stop.cancel();
                    }
                }
                drop(slot);
            }
        }
    }

    let stop_reason = if options.cancel.is_cancelled() {
        Some(SkipReason::Cancelled)
    } else {
        fail_fast_by.map(|failed| SkipReason::FailFast { failed })
    };
    for index in 0..jobs.len() {
        if matches!(scheduler.states[index], State::Pending) {
            let outcome = match &stop_reason {
                Some(reason) => Outcome::Skipped {
                    reason: reason.clone(),
                },
                // Only a job list whose dependencies loop or name no job gets here.
                None => Outcome::Failed {
                    reason: FailReason::Internal {
                        detail: "its dependencies never finished".to_owned(),
                    },
                },
            };
            scheduler.finish(index, outcome, Duration::ZERO);
        }
    }

    let mut mirrored = shared.mirrors.finish().await;
    let results: Vec<JobResult> = scheduler
        .states
        .into_iter()
        .zip(jobs.iter())
        .filter_map(|(state, job)| match state {
            State::Done { outcome, duration } => Some(JobResult {
                job: job.id,
                target: job.target.clone(),
                arch: job.arch.clone(),
                kind: job.kind(),
                outcome,
                duration,
                mirrors: mirrored.remove(&job.id).unwrap_or_default(),
            }),
            State::Pending | State::Running => None,
        })
        .collect();
    let mut counts = Counts::default();
    for result in &results {
        counts.add(&result.outcome);
    }
    let summary = RunSummary {
        jobs: results,
        counts,
        duration: emitter.elapsed(),
        cancelled: options.cancel.is_cancelled(),
    };
    emitter.emit(EventKind::RunFinished {
        counts,
        duration: summary.duration,
        cancelled: summary.cancelled,
    });
    summary
}

enum State {
    Pending,
    Running,
    Done {
        outcome: Outcome,
        duration: Duration,
    },
}

/// Which jobs have run, and what follows from it.
struct Scheduler<'a> {
    jobs: &'a [Arc<Job>],
    emitter: &'a Emitter,
    states: Vec<State>,
}

impl Scheduler<'_> {
    fn outcome(&self, id: JobId) -> Option<&Outcome> {
        match self.states.get(id.0) {
            Some(State::Done { outcome, .. }) => Some(outcome),
            _ => None,
        }
    }

    /// Returns the pending jobs whose dependencies all succeeded, in job order.
    fn ready(&self) -> Vec<usize> {
        (0..self.jobs.len())
            .filter(|&index| {
                matches!(self.states[index], State::Pending)
                    && self.jobs[index]
                        .dependencies
                        .iter()
                        .all(|&dependency| self.outcome(dependency).is_some_and(Outcome::succeeded))
            })
            .collect()
    }

    /// Records how a job ended and tells the reporters.
    fn finish(&mut self, index: usize, outcome: Outcome, duration: Duration) {
        self.emitter.emit(EventKind::JobFinished {
            job: JobId(index),
            outcome: outcome.clone(),
            duration,
        });
        self.states[index] = State::Done { outcome, duration };
    }

    /// Skips every pending job that builds, directly or not, on a job that did not succeed,
    /// naming the job that failed.
    fn skip_dependents_of_failures(&mut self) {
        loop {
            let mut skipped = Vec::new();
            for (index, job) in self.jobs.iter().enumerate() {
                if !matches!(self.states[index], State::Pending) {
                    continue;
                }
                let failed = job.dependencies.iter().find_map(|&dependency| {
                    match self.outcome(dependency)? {
                        Outcome::Skipped {
                            reason: SkipReason::DependencyFailed { dependency: root },
                        } => Some(*root),
                        outcome if !outcome.succeeded() => Some(dependency),
                        _ => None,
                    }
                });
                if let Some(dependency) = failed {
                    skipped.push((index, dependency));
                }
            }
            if skipped.is_empty() {
                return;
            }
            for (index, dependency) in skipped {
                self.finish(
                    index,
                    Outcome::Skipped {
                        reason: SkipReason::DependencyFailed { dependency },
                    },
                    Duration::ZERO,
                );
            }
        }
    }

    /// Returns, per base of `job` (by target index), the image its stages are pinned to.
    fn pins_for(&self, job: &Job) -> HashMap<usize, PinSource> {
        job.bases
            .iter()
            .map(|base| {
                let source = match &base.image {
                    BaseImage::Job(id) => match self.outcome(*id).and_then(Outcome::image) {
                        Some(BuiltImage {
                            path: Some(path),
                            hash: Some(hash),
                            ..
                        }) => PinSource::Image {
                            path: path.clone(),
                            hash: hash.clone(),
                        },
                        _ => PinSource::Unavailable,
                    },
                    BaseImage::Known(image) => PinSource::Image {
                        path: base.container.path(),
                        hash: image.hash.clone(),
                    },
                    BaseImage::Unknown => PinSource::AsWritten,
                };
                (base.target_index, source)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
