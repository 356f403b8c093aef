//! JUnit XML for GitLab's test report (`artifacts:reports:junit`): one test case per target
//! and architecture, so the merge request shows which image failed and why.
//!
//! | status | test case |
//! |---|---|
//! | built, retagged | passed; its output says what was built and tagged |
//! | failed, timed-out | `<failure>` with the reason, and the end of the build log |
//! | cancelled | `<error>` |
//! | unchanged, skipped, planned | `<skipped>` with the reason |
//!
//! A command that stopped before building (bad input, no token) gets one failing case
//! listing its errors instead.
//!
//! quick-junit writes the XML and strips what XML cannot hold (control characters, ANSI
//! escapes) from the log (CRATES.md §10).

use std::io::{self, Write};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::diagnostic::Diagnostic;

use super::build::{human_bytes, short_hash};
use super::diagnostics::one_line;
use super::result::{ImageResult, ResultDocument};

/// At most this much of a failed build's log goes into its test case: the end, where the
/// error is.
pub const LOG_TAIL_BYTES: usize = 64 * 1024;

/// Returns the end of a failed image's log, given its target and architecture.
pub type LogTail<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

/// Returns the JUnit report of a `build` or `tag` (`command`) result.
pub fn report(command: &str, document: &ResultDocument<'_>, log_tail: LogTail<'_>) -> Report {
    let mut suite = TestSuite::new(format!("sifbake {command}"));
    suite.set_time(Duration::from_secs_f64(document.duration_seconds.max(0.0)));
    for target in &document.targets {
        for image in &target.images {
            let mut case = TestCase::new(
                format!("{} ({})", target.name, image.arch),
                status(image, || log_tail(&target.name, &image.arch)),
            );
            case.set_classname(target.name.clone());
            case.set_time(Duration::from_secs_f64(image.duration_seconds.max(0.0)));
            if let Some(out) = success_output(image) {
                case.set_system_out(out);
            }
            suite.add_test_case(case);
        }
    }
    let mut report = Report::new("sifbake");
    report.add_test_suite(suite);
    report
}

/// Writes the JUnit XML of a result.
pub fn write_junit(
    out: &mut dyn Write,
    command: &str,
    document: &ResultDocument<'_>,
    log_tail: LogTail<'_>,
) -> io::Result<()> {
    serialize(&report(command, document, log_tail), out)
}

/// Serialises into memory first: quick-junit wraps a failed write in its own error, which
/// would hide the system's (a full disk) from the message that names the file.
fn serialize(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut bytes = Vec::new();
    report.serialize(&mut bytes).map_err(io::Error::other)?;
    out.write_all(&bytes)
}

/// Writes the JUnit report of a command that stopped before it built anything (an invalid
/// manifest, no token, an unreachable service): one failing test case listing the errors,
/// so GitLab's merge-request widget shows them.
pub fn write_stopped_junit(
    out: &mut dyn Write,
    command: &str,
    errors: &[&Diagnostic],
) -> io::Result<()> {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_message(format!(
            "sifbake stopped before it built anything: {}",
            super::plural(errors.len(), "error")
        ))
        .set_type(errors.first().map_or("error", |d| d.code))
        .set_description(errors.iter().map(|d| one_line(d)).collect::<String>());
    let mut case = TestCase::new(format!("sifbake {command}"), status);
    case.set_classname("sifbake");
    let mut suite = TestSuite::new(format!("sifbake {command}"));
    suite.add_test_case(case);
    let mut report = Report::new("sifbake");
    report.add_test_suite(suite);
    serialize(&report, out)
}

fn status(image: &ImageResult, log_tail: impl FnOnce() -> Option<String>) -> TestCaseStatus {
    let reason = image.reason.clone().unwrap_or_default();
    match image.status {
        "built" | "retagged" => TestCaseStatus::success(),
        "failed" | "timed-out" => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = if image.status == "timed-out" {
                "the build timed out; the remote build was cancelled".to_owned()
            } else {
                reason
            };
            status.set_message(message).set_type(image.status);
            if let Some(log) = log_tail() {
                status.set_description(log);
            }
            status
        }
        "cancelled" => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message("the run was cancelled")
                .set_type("cancelled");
            status
        }
        other => {
            let mut status = TestCaseStatus::skipped();
            let message = match other {
                "planned" => "not run".to_owned(),
                _ if reason.is_empty() => other.to_owned(),
                _ => format!("{other}: {reason}"),
            };
            status.set_message(message);
            status
        }
    }
}

fn success_output(image: &ImageResult) -> Option<String> {
    let built = image.image.as_ref()?;
    let mut text = format!(
        "{} {} ({})",
        image.status,
        short_hash(built.hash.as_deref()),
        human_bytes(built.size)
    );
    if image.tags.is_empty() {
        text.push_str("; not tagged");
    } else {
        text.push_str(&format!("; tagged {}", image.tags.join(", ")));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Publish;
    use crate::report::result::tests::{document, image};

    #[test]
    fn one_case_per_image_with_failures_and_skips() {
        let mut doc = document(Publish::Push);
        doc.targets[0].images = vec![
            image("amd64", "built", Some(("acme/tools/base", "sha256.aa"))),
            image("arm64", "failed", None),
        ];
        let mut timed_out = image("amd64", "timed-out", None);
        timed_out.reason = None;
        doc.targets[1].images = vec![
            timed_out,
            image("arm64", "unchanged", None),
            image("ppc64le", "cancelled", None),
        ];
        let tail = |target: &str, arch: &str| {
            Some(format!(
                "log of {target} {arch}\n\u{1b}[31mFATAL\u{1b}[0m: <no space>"
            ))
        };
        let mut out = Vec::new();
        write_junit(&mut out, "build", &doc, &tail).expect("junit");
        let xml = String::from_utf8(out).expect("utf-8");
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="sifbake" tests="5" skipped="1" failures="2" errors="1">
    <testsuite name="sifbake build" tests="5" skipped="1" errors="1" failures="2" time="7.000">
        <testcase name="base (amd64)" classname="base" time="2.000">
            <system-out>built sha256.aa (37.0 KB); tagged main, inputs-0123456789abcdef</system-out>
        </testcase>
        <testcase name="base (arm64)" classname="base" time="2.000">
            <failure message="build 6b02 produced no image; its log says why" type="failed">log of base arm64
FATAL: &lt;no space&gt;</failure>
        </testcase>
        <testcase name="python (amd64)" classname="python" time="2.000">
            <failure message="the build timed out; the remote build was cancelled" type="timed-out">log of python amd64
FATAL: &lt;no space&gt;</failure>
        </testcase>
        <testcase name="python (arm64)" classname="python" time="0.000">
            <skipped message="unchanged: no input changed"/>
        </testcase>
        <testcase name="python (ppc64le)" classname="python" time="2.000">
            <error message="the run was cancelled" type="cancelled"/>
        </testcase>
    </testsuite>
</testsuites>
"#;
        assert_eq!(xml, expected);
    }

    #[test]
    fn a_stopped_command_is_one_failing_case_with_its_errors() {
        let error = Diagnostic::error("auth::no-token", "no Sylabs access token found")
            .help("set SYLABS_TOKEN");
        let mut out = Vec::new();
        write_stopped_junit(&mut out, "build", &[&error]).expect("junit");
        let xml = String::from_utf8(out).expect("utf-8");
        assert!(
            xml.contains(r#"<testcase name="sifbake build" classname="sifbake">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="sifbake stopped before it built anything: 1 error" type="auth::no-token">error: no Sylabs access token found (hint: set SYLABS_TOKEN)"#),
            "{xml}"
        );
    }

    #[test]
    fn no_log_no_description() {
        let mut doc = document(Publish::Push);
        doc.targets[0].images = vec![image("amd64", "failed", None)];
        let mut out = Vec::new();
        write_junit(&mut out, "tag", &doc, &|_, _| None).expect("junit");
        let xml = String::from_utf8(out).expect("utf-8");
        assert!(
            xml.contains(r#"<failure message="build 6b02 produced no image; its log says why" type="failed"/>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<testsuite name="sifbake tag""#), "{xml}");
    }
}
