use super::*;
use crate::exec::{BuiltImage, Counts};

fn event(at: f64, kind: EventKind) -> Event {
    Event {
        at: Duration::from_secs_f64(at),
        kind,
    }
}

fn queued(job: usize, target: &str, arch: &str) -> Event {
    event(
        0.0,
        EventKind::JobQueued {
            job: JobId(job),
            target: target.into(),
            arch: arch.into(),
            action: JobKind::Build,
            dependencies: Vec::new(),
        },
    )
}

fn built(tags: &[&str]) -> Outcome {
    Outcome::Built {
        image: BuiltImage {
            path: Some("acme/tools/base".into()),
            hash: Some(format!("sha256.{}", "ab".repeat(32))),
            size: 32_900,
            signed_by: None,
        },
        build_id: "b1".into(),
        duration: Duration::from_secs(12),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        log_complete: true,
    }
}

fn run(ci: CiLog, events: &[Event]) -> String {
    let mut out = Vec::new();
    {
        let logs = LogFiles::new(None).expect("logs");
        let mut reporter = BuildReporter::new(&mut out, ci, logs, 1_700_000_000, 0);
        for event in events {
            reporter.on_event(event).expect("report");
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn one_line_per_state_change_and_the_log_in_a_github_group() {
    let events = [
        queued(0, "base", "amd64"),
        event(
            0.1,
            EventKind::Submitted {
                job: JobId(0),
                build_id: "b1".into(),
            },
        ),
        event(
            1.0,
            EventKind::Log {
                job: JobId(0),
                chunk: "INFO: Starting build...\n".into(),
            },
        ),
        event(
            2.0,
            EventKind::Log {
                job: JobId(0),
                chunk: "::add-mask::x\n".into(),
            },
        ),
        event(
            12.5,
            EventKind::JobFinished {
                job: JobId(0),
                outcome: built(&["main", "latest"]),
                duration: Duration::from_secs(12),
            },
        ),
    ];
    let text = run(CiLog::GitHub, &events);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "[    0.1s] base (amd64): submitted build b1");
    assert_eq!(
        lines[1], "base/amd64 | INFO: Starting build...",
        "the log streams as it arrives"
    );
    assert_eq!(
        lines[2], "base/amd64 | ::add-mask::x",
        "a streamed line never starts with `::`"
    );
    assert_eq!(
        lines[3],
        "[   12.5s] base (amd64): built sha256.abababababab… (32.9 KB) in 12.0s; tagged main, latest"
    );
    assert_eq!(lines[4], "::group::base (amd64) build log");
    assert!(
        lines[5].starts_with("::stop-commands::sifbake-log-"),
        "{text}"
    );
    assert_eq!(lines[6], "INFO: Starting build...");
    assert_eq!(
        lines[7], "::add-mask::x",
        "build output is replayed with workflow commands stopped"
    );
    assert!(
        lines[9].starts_with("::sifbake-log-") && lines[9].ends_with("::"),
        "{text}"
    );
    assert_eq!(lines[10], "::endgroup::");
}

#[test]
fn gitlab_sections_and_plain_logs() {
    let events = [
        queued(0, "r", "arm64"),
        event(
            0.5,
            EventKind::Log {
                job: JobId(0),
                chunk: "line".into(),
            },
        ),
        event(
            3.0,
            EventKind::JobFinished {
                job: JobId(0),
                outcome: built(&[]),
                duration: Duration::from_secs(3),
            },
        ),
    ];
    let text = run(CiLog::GitLab, &events);
    assert!(text.contains("r (arm64): built sha256.abababababab… (32.9 KB) in 12.0s, not published (ephemeral) at acme/tools/base"), "{text}");
    assert!(text.contains("\u{1b}[0Ksection_start:1700000003:sifbake_r_arm64[collapsed=true]\r\u{1b}[0Kr (arm64) build log\nline\n"), "{text}");
    assert!(
        text.contains("\u{1b}[0Ksection_end:1700000003:sifbake_r_arm64\r\u{1b}[0K"),
        "{text}"
    );
    assert!(text.contains("r/arm64 | line\n"), "{text}");
    let plain = run(CiLog::Plain, &events);
    assert!(plain.starts_with("r/arm64 | line\n"), "{plain}");
    assert!(
        !plain.contains("build log"),
        "a plain log shows the stream once, not again at the end: {plain}"
    );
}

#[test]
fn failures_and_skips_name_their_cause() {
    let events = [
        queued(0, "base", "amd64"),
        queued(1, "app", "amd64"),
        event(
            1.0,
            EventKind::JobFinished {
                job: JobId(0),
                outcome: Outcome::Failed {
                    reason: FailReason::BuildFailed {
                        build_id: "b9".into(),
                        log_complete: false,
                    },
                },
                duration: Duration::from_secs(1),
            },
        ),
        event(
            1.0,
            EventKind::JobFinished {
                job: JobId(1),
                outcome: Outcome::Skipped {
                    reason: SkipReason::DependencyFailed {
                        dependency: JobId(0),
                    },
                },
                duration: Duration::ZERO,
            },
        ),
    ];
    let text = run(CiLog::Plain, &events);
    assert!(text.contains("base (amd64): FAILED: build b9 produced no image; its log says why (the log is incomplete)"), "{text}");
    assert!(
        text.contains("app (amd64): skipped: it builds on `base` (amd64), which did not succeed"),
        "{text}"
    );
}

#[test]
fn the_summary_table_has_a_row_per_image() {
    let summary = RunSummary {
        jobs: vec![
            crate::exec::JobResult {
                job: JobId(0),
                target: "base".into(),
                arch: "amd64".into(),
                kind: JobKind::Build,
                outcome: built(&["main"]),
                duration: Duration::from_secs(12),
                mirrors: Vec::new(),
            },
            crate::exec::JobResult {
                job: JobId(1),
                target: "app".into(),
                arch: "amd64".into(),
                kind: JobKind::Build,
                outcome: Outcome::Skipped {
                    reason: SkipReason::Cancelled,
                },
                duration: Duration::ZERO,
                mirrors: Vec::new(),
            },
        ],
        counts: Counts {
            built: 1,
            skipped: 1,
            ..Counts::default()
        },
        duration: Duration::from_secs(75),
        cancelled: false,
    };
    let mut out = Vec::new();
    let document = crate::report::result::tests::document(crate::manifest::Publish::Push);
    write_summary(&mut out, &summary, &document).expect("write");
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("TARGET  ARCH   STATUS   DURATION"),
        "{text}"
    );
    assert!(
        lines[1]
            .starts_with("base    amd64  built    12.0s     sha256.abababababab… 32.9 KB  main"),
        "{text}"
    );
    assert!(lines[2].starts_with("app     amd64  skipped  -"), "{text}");
    assert_eq!(lines[3], "1 built, 0 retagged, 1 skipped in 1m15s");
}

#[test]
fn units() {
    assert_eq!(human_bytes(950), "950 B");
    assert_eq!(human_bytes(32_900), "32.9 KB");
    assert_eq!(human_bytes(1_400_000_000), "1.4 GB");
    assert_eq!(seconds(Duration::from_millis(4200)), "4.2s");
    assert_eq!(seconds(Duration::from_secs(185)), "3m05s");
    assert_eq!(short_hash(None), "an image");
}

#[test]
fn a_timeout_does_not_claim_a_cancel_that_failed() {
    let events = [
        queued(0, "app", "amd64"),
        event(
            3.0,
            EventKind::RemoteCancelled {
                job: JobId(0),
                build_id: "b1".into(),
                error: Some(ServiceFault {
                    kind: FaultKind::Timeout,
                    doing: "cancelling the build".into(),
                    detail: "no answer within the clean-up timeout".into(),
                    transient: true,
                }),
            },
        ),
        event(
            3.0,
            EventKind::JobFinished {
                job: JobId(0),
                outcome: Outcome::TimedOut {
                    build_id: Some("b1".into()),
                    after: Duration::from_secs(3),
                    tags: Vec::new(),
                },
                duration: Duration::from_secs(3),
            },
        ),
    ];
    let text = run(CiLog::Plain, &events);
    assert!(text.contains("could not cancel remote build b1"), "{text}");
    assert!(text.contains("app (amd64): TIMED OUT after 3.0s"), "{text}");
    assert!(!text.contains("was cancelled"), "{text}");
}

#[test]
fn a_build_that_never_started_gets_no_empty_log_group() {
    let events = [
        queued(0, "app", "amd64"),
        event(
            0.1,
            EventKind::JobFinished {
                job: JobId(0),
                outcome: Outcome::Failed {
                    reason: FailReason::Context {
                        error: "permission denied".into(),
                    },
                },
                duration: Duration::from_millis(100),
            },
        ),
    ];
    let text = run(CiLog::GitHub, &events);
    assert!(
        text.contains("app (amd64): FAILED: the build context could not be packed"),
        "{text}"
    );
    assert!(!text.contains("::group::"), "{text}");
}
