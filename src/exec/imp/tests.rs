//! The executor against a scripted fake service, on tokio's paused clock: builds "take"
//! seconds of virtual time, so orders are exact and nothing sleeps for real.

mod adoption;
mod fake;
mod mirrors;
mod signing;
mod tagging;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use self::fake::{Fake, Script, TagCall};
use super::*;
use crate::deffile::parse;
use crate::exec::RetryPolicy;
use crate::exec::events::{RetryWhat, SkipReason};
use crate::exec::job::{Base, BaseImage, ContextSource, JobAction};
use crate::exec::pin;
use crate::libref::LibraryRef;
use crate::scs::Image;

const ARCH: &str = "amd64";

fn container(name: &str) -> LibraryRef {
    LibraryRef::parse(&format!("library://acme/tools/{name}")).expect("ref")
}

/// Returns one published build job per `(name, bases)`, in order; a job's first base is
/// named in its `From:` line, the others only order it.
fn jobs(spec: &[(&str, &[&str])]) -> Vec<Job> {
    let names: Vec<&str> = spec.iter().map(|(name, _)| *name).collect();
    let index = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no job {name}"))
    };
    spec.iter()
        .enumerate()
        .map(|(position, (name, bases))| {
            let definition = match bases.first() {
                Some(base) => format!(
                    "Bootstrap: library\nFrom: acme/tools/{base}:latest\n# fake: {name}\n\n%post\n    true\n"
                ),
                None => format!("Bootstrap: docker\nFrom: alpine:3.20\n# fake: {name}\n"),
            };
            let parsed = parse(&definition).unwrap_or_else(|e| panic!("{e:?}"));
            let pin_sites = pin::find_sites_with(&parsed, |_, from| {
                let base = from.strip_prefix("acme/tools/")?.split(':').next()?;
                let position = names.iter().position(|n| *n == base)?;
                Some((position, base.to_owned()))
            });
            let digest_tag = format!("inputs-{position:016x}");
            Job {
                id: JobId(position),
                target: (*name).to_owned(),
                target_index: position,
                arch: ARCH.to_owned(),
                action: JobAction::Build,
                container: container(name),
                publish: true,
                tags: vec!["latest".to_owned(), digest_tag.clone()],
                digest_tag,
                definition,
                parsed,
                pin_sites,
                context: ContextSource {
                    root: PathBuf::from("/nonexistent"),
                    files: Vec::new(),
                    directory: String::new(),
                },
                timeout: Duration::from_secs(3600),
                dependencies: bases.iter().map(|b| JobId(index(b))).collect(),
                bases: bases
                    .iter()
                    .map(|b| Base {
                        target: (*b).to_owned(),
                        target_index: index(b),
                        container: container(b),
                        image: BaseImage::Job(JobId(index(b))),
                    })
                    .collect(),
                // The adoption look-ups would add calls to every order these tests check;
                // the tests of adoption turn it on.
                adopt: false,
                labels: Vec::new(),
                mirrors: Vec::new(),
                mirror_arch_suffix: None,
            }
        })
        .collect()
}

fn options(parallel: usize) -> ExecOptions {
    let mut options = ExecOptions::new(std::env::temp_dir().join("sifbake-exec-unused"));
    // The fake service has no retrying client in front of it: retry here, as a caller with
    // plain clients would.
    options.retry = RetryPolicy {
        attempts: 5,
        ..RetryPolicy::default()
    };
    options.jobs = parallel;
    options
}

fn seconds(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn script(duration: u64) -> Script {
    Script {
        duration: seconds(duration),
        ..Script::default()
    }
}

fn existing_image() -> Image {
    Image {
        id: "image-old".into(),
        hash: format!("sha256.{}", "e".repeat(64)),
        size: 4242,
        container_id: "acme/tools/base".into(),
        arch: Some(ARCH.into()),
        uploaded: true,
        ..Image::default()
    }
}

struct Run {
    summary: RunSummary,
    events: Vec<Event>,
}

impl Run {
    fn outcome(&self, target: &str) -> &Outcome {
        &self
            .summary
            .job(target, ARCH)
            .unwrap_or_else(|| panic!("no result for {target}"))
            .outcome
    }

    fn kinds(&self) -> impl Iterator<Item = &EventKind> {
        self.events.iter().map(|event| &event.kind)
    }
}

async fn run(jobs: Vec<Job>, fake: &Arc<Fake>, options: &ExecOptions) -> Run {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let summary = execute(jobs, Arc::clone(fake), Arc::clone(fake), options, sender).await;
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        events.push(event);
    }
    Run { summary, events }
}

#[tokio::test(start_paused = true)]
async fn a_dependent_is_submitted_after_its_base_and_pinned_to_its_image() {
    let fake = Fake::new(&[]);
    let run = run(
        jobs(&[("base", &[]), ("app", &["base"])]),
        &fake,
        &options(4),
    )
    .await;

    assert!(run.summary.all_succeeded(), "{:?}", run.summary);
    let state = fake.state();
    assert!(state.position("complete base") < state.position("submit app"));
    let base = state.builds_of("base")[0];
    let app = state.builds_of("app")[0];
    assert!(
        app.request
            .definition
            .contains(&format!("\nFrom: acme/tools/base:{}\n", base.hash)),
        "{}",
        app.request.definition
    );
    assert_eq!(
        app.request.library_ref.as_ref().map(ToString::to_string),
        Some("library://acme/tools/app:inputs-0000000000000001".to_owned())
    );
    assert_eq!(app.request.arch, ARCH);
    assert_eq!(
        run.outcome("base").image().and_then(|i| i.hash.clone()),
        Some(base.hash.clone())
    );
}

#[tokio::test(start_paused = true)]
async fn jobs_bounds_the_builds_in_flight() {
    let spec: &[(&str, &[&str])] = &[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[])];
    for (parallel, expected) in [(1, 1), (2, 2), (8, 4)] {
        let fake = Fake::new(&[]);
        let run = run(jobs(spec), &fake, &options(parallel)).await;
        assert_eq!(run.summary.counts.built, 4);
        assert_eq!(fake.state().max_in_flight, expected, "--jobs {parallel}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_dependent_starts_as_soon_as_its_base_is_done() {
    // `slow` shares the first level with `base`; `app` must not wait for it.
    let fake = Fake::new(&[
        ("base", script(10)),
        ("app", script(10)),
        ("slow", script(100)),
    ]);
    let run = run(
        jobs(&[("base", &[]), ("slow", &[]), ("app", &["base"])]),
        &fake,
        &options(2),
    )
    .await;
    assert!(run.summary.all_succeeded());
    let state = fake.state();
    assert!(state.position("submit app") < state.position("complete slow"));
}

#[tokio::test(start_paused = true)]
async fn keep_going_skips_only_what_builds_on_a_failure() {
    let failing = Script {
        size: 0,
        ..Script::default()
    };
    let fake = Fake::new(&[("base", failing)]);
    let run = run(
        jobs(&[
            ("base", &[]),
            ("app", &["base"]),
            ("top", &["app"]),
            ("lone", &[]),
        ]),
        &fake,
        &options(1),
    )
    .await;

    assert!(matches!(
        run.outcome("base"),
        Outcome::Failed {
            reason: FailReason::BuildFailed {
                log_complete: true,
                ..
            }
        }
    ));
    let skipped = Outcome::Skipped {
        reason: SkipReason::DependencyFailed {
            dependency: JobId(0),
        },
    };
    assert_eq!(run.outcome("app"), &skipped);
    assert_eq!(run.outcome("top"), &skipped, "names the job that failed");
    assert!(matches!(run.outcome("lone"), Outcome::Built { .. }));
    assert!(run.summary.any_failed());
    assert!(!run.summary.was_cancelled());
    assert_eq!(run.summary.counts.skipped, 2);
    let state = fake.state();
    assert!(state.builds_of("app").is_empty());
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_running_builds_and_skips_the_rest() {
    let failing = Script {
        duration: seconds(5),
        size: 0,
        ..Script::default()
    };
    let fake = Fake::new(&[("fails", failing), ("long", script(100))]);
    let mut options = options(2);
    options.fail_fast = true;
    let run = run(
        jobs(&[
            ("fails", &[]),
            ("long", &[]),
            ("waits", &[]),
            ("after", &["fails"]),
        ]),
        &fake,
        &options,
    )
    .await;

    assert!(matches!(run.outcome("fails"), Outcome::Failed { .. }));
    assert_eq!(
        run.outcome("long"),
        &Outcome::Cancelled {
            build_id: Some("build-2".into()),
            tags: Vec::new(),
        }
    );
    assert_eq!(
        run.outcome("waits"),
        &Outcome::Skipped {
            reason: SkipReason::FailFast { failed: JobId(0) }
        }
    );
    assert_eq!(
        run.outcome("after"),
        &Outcome::Skipped {
            reason: SkipReason::DependencyFailed {
                dependency: JobId(0)
            }
        }
    );
    let state = fake.state();
    assert_eq!(state.cancels, vec!["build-2".to_owned()]);
    assert_eq!(state.builds.len(), 2, "nothing new started");
    assert!(run.kinds().any(|kind| matches!(
        kind,
        EventKind::RemoteCancelled { build_id, error: None, .. } if build_id == "build-2"
    )));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_stream_falls_back_to_polling_and_submits_once() {
    let dropping = Script {
        drop_stream: true,
        status_errors: 2,
        ..Script::default()
    };
    let fake = Fake::new(&[("base", dropping)]);
    let run = run(jobs(&[("base", &[])]), &fake, &options(1)).await;

    match run.outcome("base") {
        Outcome::Built {
            log_complete, tags, ..
        } => {
            assert!(!log_complete, "the log is incomplete");
            assert_eq!(tags.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        run.kinds()
            .any(|kind| matches!(kind, EventKind::StreamDropped { .. }))
    );
    let status_retries = run
        .kinds()
        .filter(|kind| {
            matches!(
                kind,
                EventKind::Retrying {
                    what: RetryWhat::Status,
                    ..
                }
            )
        })
        .count();
    assert_eq!(status_retries, 2);
    let logs: Vec<&str> = run
        .kinds()
        .filter_map(|kind| match kind {
            EventKind::Log { chunk, .. } => Some(chunk.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(logs, vec!["INFO:    Starting build...\n", "done\n"]);
    let state = fake.state();
    assert_eq!(state.builds.len(), 1, "submitted once");
    assert_eq!(
        state.calls.iter().filter(|c| *c == "submit base").count(),
        1
    );
    assert!(state.status_calls > 3, "polled: {}", state.status_calls);
    assert!(state.cancels.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_build_that_completes_without_an_image_fails_and_is_not_tagged() {
    let failing = Script {
        size: 0,
        ..Script::default()
    };
    let fake = Fake::new(&[("base", failing)]);
    let run = run(jobs(&[("base", &[])]), &fake, &options(1)).await;
    assert_eq!(
        run.outcome("base"),
        &Outcome::Failed {
            reason: FailReason::BuildFailed {
                build_id: "build-1".into(),
                log_complete: true
            }
        }
    );
    let state = fake.state();
    assert_eq!(state.find_calls, 0);
    assert!(state.tag_calls.is_empty());
    assert!(
        state.cancels.is_empty(),
        "a finished build is not cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn tags_are_set_only_after_the_image_is_verified() {
    let flaky_tags = Script {
        tag_errors: 1,
        ..Script::default()
    };
    let mismatched = Script {
        wrong_size_in_library: true,
        ..Script::default()
    };
    let fake = Fake::new(&[("good", flaky_tags), ("bad", mismatched)]);
    let run = run(jobs(&[("good", &[]), ("bad", &[])]), &fake, &options(1)).await;

    let state = fake.state();
    let good = state.builds_of("good")[0];
    // One call per tag, in order, so each tag set is known (a refusal or a stop half-way
    // is then reported exactly).
    let call = |tag: &str| TagCall {
        container: "good".into(),
        hash: good.hash.clone(),
        arch: ARCH.into(),
        tags: vec![tag.into()],
    };
    assert_eq!(
        state.tag_calls,
        vec![call("latest"), call("inputs-0000000000000000")]
    );
    assert!(state.position("complete good") < state.position("find good"));
    assert!(state.position("find good") < state.position("tags good"));
    assert!(run.kinds().any(|kind| matches!(
        kind,
        EventKind::Retrying {
            what: RetryWhat::SetTags,
            attempt: 1,
            ..
        }
    )));
    assert!(matches!(
        run.outcome("bad"),
        Outcome::Failed {
            reason: FailReason::ImageMismatch {
                expected_size: 1000,
                found_size: 1001,
                ..
            }
        }
    ));
    assert!(!state.calls.iter().any(|c| c == "tags bad"));
}

#[tokio::test(start_paused = true)]
async fn ephemeral_jobs_set_no_tags_and_pin_to_where_the_service_put_the_base() {
    let mut jobs = jobs(&[("base", &[]), ("app", &["base"]), ("old", &[])]);
    for job in &mut jobs {
        job.publish = false;
    }
    // Even a retag job with tags in its list sets none when not publishing.
    jobs[2].action = JobAction::Retag {
        image: existing_image(),
    };
    let fake = Fake::new(&[]);
    let run = run(jobs, &fake, &options(2)).await;

    assert!(run.summary.all_succeeded(), "{:?}", run.summary);
    let state = fake.state();
    assert!(state.tag_calls.is_empty());
    assert!(!state.calls.iter().any(|c| c.starts_with("tags ")));
    assert_eq!(state.find_calls, 0);
    let base = state.builds_of("base")[0];
    let app = state.builds_of("app")[0];
    assert_eq!(base.request.library_ref, None);
    assert!(
        app.request.definition.contains(&format!(
            "\nFrom: alice/remote-builds/rb-{}:{}\n",
            base.id, base.hash
        )),
        "{}",
        app.request.definition
    );
    assert!(matches!(
        run.outcome("old"),
        Outcome::Retagged { tags, .. } if tags.is_empty()
    ));
}

#[tokio::test(start_paused = true)]
async fn retag_jobs_build_nothing_and_their_image_pins_dependents() {
    let mut jobs = jobs(&[("base", &[]), ("app", &["base"])]);
    jobs[0].action = JobAction::Retag {
        image: existing_image(),
    };
    let fake = Fake::new(&[]);
    let run = run(jobs, &fake, &options(1)).await;

    assert!(run.summary.all_succeeded(), "{:?}", run.summary);
    assert_eq!(run.summary.counts.retagged, 1);
    let state = fake.state();
    assert!(state.builds_of("base").is_empty());
    assert!(state.uploads.is_empty());
    let call = |tag: &str| TagCall {
        container: "base".into(),
        hash: existing_image().hash,
        arch: ARCH.into(),
        tags: vec![tag.into()],
    };
    assert_eq!(
        state.tag_calls[..2],
        [call("latest"), call("inputs-0000000000000000")]
    );
    let app = state.builds_of("app")[0];
    assert!(app.request.definition.contains(&format!(
        "From: acme/tools/base:{}\n",
        existing_image().hash
    )));
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_build_is_cancelled_remotely() {
    let fake = Fake::new(&[("base", script(3600)), ("quick", script(10))]);
    let mut jobs = jobs(&[("base", &[]), ("app", &["base"]), ("quick", &[])]);
    jobs[0].timeout = seconds(60);
    let run = run(jobs, &fake, &options(2)).await;

    assert_eq!(
        run.outcome("base"),
        &Outcome::TimedOut {
            build_id: Some("build-1".into()),
            after: seconds(60),
            tags: Vec::new(),
        }
    );
    assert!(matches!(
        run.outcome("app"),
        Outcome::Skipped {
            reason: SkipReason::DependencyFailed { .. }
        }
    ));
    assert!(matches!(run.outcome("quick"), Outcome::Built { .. }));
    assert!(run.summary.any_failed());
    let state = fake.state();
    assert_eq!(state.cancels, vec!["build-1".to_owned()]);
}

#[tokio::test(start_paused = true)]
async fn cancellation_cancels_every_running_build_once_and_starts_nothing_new() {
    let fake = Fake::new(&[
        ("a", script(600)),
        ("b", script(600)),
        ("c", script(600)),
        ("quick", script(5)),
    ]);
    let options = options(3);
    let token = options.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(seconds(30)).await;
        token.cancel();
    });
    let run = run(
        jobs(&[
            ("quick", &[]),
            ("a", &[]),
            ("b", &[]),
            ("c", &[]),
            ("d", &[]),
            ("after", &["a"]),
        ]),
        &fake,
        &options,
    )
    .await;

    assert!(run.summary.was_cancelled());
    assert!(!run.summary.any_failed());
    for name in ["a", "b", "c"] {
        assert!(
            matches!(
                run.outcome(name),
                Outcome::Cancelled {
                    build_id: Some(_),
                    ..
                }
            ),
            "{name}: {:?}",
            run.outcome(name)
        );
    }
    assert!(matches!(run.outcome("quick"), Outcome::Built { .. }));
    for name in ["d", "after"] {
        assert_eq!(
            run.outcome(name),
            &Outcome::Skipped {
                reason: SkipReason::Cancelled
            },
            "{name}"
        );
    }
    let state = fake.state();
    let mut cancels = state.cancels.clone();
    cancels.sort();
    let mut running: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|name| state.builds_of(name)[0].id.clone())
        .collect();
    running.sort();
    assert_eq!(
        cancels, running,
        "each running build cancelled exactly once"
    );
    assert_eq!(state.builds.len(), 4, "d never submitted");
    assert!(run.summary.duration < seconds(60), "returned promptly");
    assert!(matches!(
        run.events.last().map(|e| &e.kind),
        Some(EventKind::RunFinished {
            cancelled: true,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_build_submitted_as_the_run_is_cancelled_is_cancelled_too() {
    let slow_submit = Script {
        submit_delay: seconds(3),
        ..Script::default()
    };
    let fake = Fake::new(&[("base", slow_submit)]);
    let options = options(1);
    let token = options.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(seconds(1)).await;
        token.cancel();
    });
    let run = run(jobs(&[("base", &[])]), &fake, &options).await;

    assert_eq!(
        run.outcome("base"),
        &Outcome::Cancelled {
            build_id: Some("build-1".into()),
            tags: Vec::new(),
        }
    );
    assert_eq!(fake.state().cancels, vec!["build-1".to_owned()]);
    assert!(
        run.kinds()
            .any(|kind| matches!(kind, EventKind::Submitted { .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn cancelled_before_the_run_starts_nothing() {
    let fake = Fake::new(&[]);
    let options = options(2);
    options.cancel.cancel();
    let run = run(jobs(&[("a", &[]), ("b", &["a"])]), &fake, &options).await;
    assert_eq!(run.summary.counts.skipped, 2);
    assert!(fake.state().calls.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refused_submission_fails_the_job_and_is_not_repeated() {
    let refused = Script {
        reject_submit: true,
        ..Script::default()
    };
    let fake = Fake::new(&[("base", refused)]);
    let run = run(jobs(&[("base", &[])]), &fake, &options(1)).await;
    assert!(matches!(
        run.outcome("base"),
        Outcome::Failed {
            reason: FailReason::Service { .. }
        }
    ));
    let state = fake.state();
    assert_eq!(state.calls, vec!["submit base".to_owned()]);
}

#[tokio::test(start_paused = true)]
async fn the_context_is_uploaded_only_for_jobs_with_files_and_deleted_afterwards() {
    let repository = tempfile::tempdir().expect("tempdir");
    let scratch = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(repository.path().join("app/data")).expect("mkdir");
    std::fs::write(repository.path().join("app/run.sh"), "#!/bin/sh\n").expect("write");
    std::fs::write(repository.path().join("app/data/a.csv"), "1\n").expect("write");
    let mut jobs = jobs(&[("app", &[]), ("plain", &[])]);
    jobs[0].context = ContextSource {
        root: repository.path().to_path_buf(),
        files: vec!["app/run.sh".into(), "app/data/a.csv".into()],
        directory: "app".into(),
    };
    let mut options = options(2);
    options.scratch = scratch.path().to_path_buf();
    let fake = Fake::new(&[]);
    let run = run(jobs, &fake, &options).await;

    assert!(run.summary.all_succeeded(), "{:?}", run.summary);
    let state = fake.state();
    assert_eq!(state.uploads.len(), 1);
    assert_eq!(state.upload_files_existed, vec![true]);
    let digest = state.uploads[0].digest.clone();
    assert!(digest.starts_with("sha256."));
    assert_eq!(state.deletes, vec![digest.clone()]);
    assert!(state.position(&format!("upload {digest}")) < state.position("submit app"));
    assert!(state.position("tags app") < state.position(&format!("delete {digest}")));
    let app = state.builds_of("app")[0];
    assert_eq!(app.request.context_digest.as_deref(), Some(digest.as_str()));
    let root = repository.path().canonicalize().expect("canonical");
    assert_eq!(
        app.request.working_dir,
        Some(root.join("app").display().to_string())
    );
    let plain = state.builds_of("plain")[0];
    assert_eq!(plain.request.context_digest, None);
    assert_eq!(plain.request.working_dir, None);
    assert!(
        std::fs::read_dir(scratch.path())
            .expect("scratch")
            .next()
            .is_none(),
        "the local archive is removed"
    );
    assert!(
        run.kinds()
            .any(|kind| matches!(kind, EventKind::ContextDeleted { error: None, .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn an_unpinnable_local_image_fails_before_anything_is_submitted() {
    let mut jobs = jobs(&[("tool", &[])]);
    let definition = "Bootstrap: localimage\nFrom: base.sif\n# fake: tool\n".to_owned();
    jobs[0].parsed = parse(&definition).expect("parse");
    jobs[0].pin_sites = pin::find_sites_with(&jobs[0].parsed, |_, _| Some((7, "base".into())));
    jobs[0].definition = definition;
    jobs[0].bases = vec![Base {
        target: "base".into(),
        target_index: 7,
        container: container("base"),
        image: BaseImage::Unknown,
    }];
    let fake = Fake::new(&[]);
    let run = run(jobs, &fake, &options(1)).await;
    assert!(matches!(
        run.outcome("tool"),
        Outcome::Failed {
            reason: FailReason::Pin { .. }
        }
    ));
    assert!(fake.state().calls.is_empty());
}

#[tokio::test(start_paused = true)]
async fn every_job_finishes_once_and_events_serialise() {
    let failing = Script {
        size: 0,
        ..Script::default()
    };
    let fake = Fake::new(&[("base", failing)]);
    let run = run(
        jobs(&[("base", &[]), ("app", &["base"]), ("lone", &[])]),
        &fake,
        &options(2),
    )
    .await;
    let mut finished: Vec<usize> = run
        .kinds()
        .filter_map(|kind| match kind {
            EventKind::JobFinished { job, .. } => Some(job.0),
            _ => None,
        })
        .collect();
    finished.sort_unstable();
    assert_eq!(finished, vec![0, 1, 2]);
    assert!(matches!(
        run.events.first().map(|e| &e.kind),
        Some(EventKind::RunStarted {
            jobs: 3,
            parallel: 2
        })
    ));
    for event in &run.events {
        serde_json::to_string(event).expect("serialise");
    }
    let summary = serde_json::to_value(&run.summary).expect("summary");
    assert_eq!(summary["counts"]["failed"], 1);
    assert_eq!(summary["jobs"][1]["outcome"]["outcome"], "skipped");
    assert_eq!(
        summary["jobs"][1]["outcome"]["reason"]["kind"],
        "dependency-failed"
    );
}
