//! What a CI log shows while builds run and when one fails: each image's build log streamed
//! as it arrives, prefixed with the image, and the builder's own reason for a failure in
//! every report.

use serde_json::Value;

use crate::support::{Emulated, Repo};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// GitHub Actions variables for a push of `main` at `sha`, with the runner's files in `dir`.
fn github_push(repo: &Repo, sha: &str, dir: &tempfile::TempDir) -> Vec<(String, String)> {
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"before": ZERO, "repository": {"default_branch": "main"}}).to_string(),
    )
    .expect("payload");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    [
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("GITHUB_EVENT_NAME", "push".to_owned()),
        ("GITHUB_REF", "refs/heads/main".to_owned()),
        ("GITHUB_SHA", sha.to_owned()),
        ("GITHUB_EVENT_PATH", path("event.json")),
        (
            "GITHUB_WORKSPACE",
            repo.path().to_string_lossy().into_owned(),
        ),
        ("GITHUB_OUTPUT", path("output")),
        ("GITHUB_STEP_SUMMARY", path("summary.md")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The position of the first line of `text` that satisfies `matches`.
fn position(text: &str, matches: impl Fn(&str) -> bool) -> Option<usize> {
    text.lines().position(matches)
}

#[test]
fn build_logs_stream_while_the_build_runs_each_line_prefixed_with_its_image() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--targets", "base"])
        .run()
        .expect_code(0);
    let stderr = run.stderr();
    let streamed = position(&stderr, |l| l == "base/amd64 | INFO:    Starting build...")
        .unwrap_or_else(|| panic!("a prefixed log line: {stderr}"));
    let built = position(&stderr, |l| l.contains("base (amd64): built "))
        .unwrap_or_else(|| panic!("a built line: {stderr}"));
    assert!(
        streamed < built,
        "the log is shown while the build runs, before it ends: {stderr}"
    );
    assert!(
        position(&stderr, |l| l.starts_with("base/arm64 | ")).is_some(),
        "{stderr}"
    );
    assert!(
        !stderr.contains("----- base (amd64) build log -----"),
        "a plain log shows the build's output once: {stderr}"
    );
}

#[test]
fn in_github_the_stream_cannot_run_workflow_commands_and_the_group_is_kept() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let base = std::fs::read_to_string(repo.path().join("defs/base.def")).expect("base.def");
    // A build whose output looks like a workflow command: prefixed, the runner ignores it.
    let sha = repo.commit_files(
        "a base whose log fails",
        &[(
            "defs/base.def",
            &base.replace(
                "# emulator: duration=2s",
                "# emulator: fail=\"::error::forged\"",
            ),
        )],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let vars = github_push(&repo, &sha, &dir);
    let run = emulated
        .sifbake(repo.path())
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["build", "--targets", "base"])
        .run()
        .expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("\nbase/amd64 | FATAL:   While performing build: ::error::forged\n"),
        "{stderr}"
    );
    assert!(
        !stderr
            .lines()
            .any(|l| l.trim_start().starts_with("::error::forged")),
        "no line of the stream starts with `::`: {stderr}"
    );
    assert!(
        stderr.contains("::group::base (amd64) build log"),
        "the collapsed group is kept for GitHub: {stderr}"
    );
}

/// The examples with a base that fails as a compiler would.
fn broken_base() -> (Repo, String) {
    let repo = Repo::from_examples();
    let base = std::fs::read_to_string(repo.path().join("defs/base.def")).expect("base.def");
    let sha = repo.commit_files(
        "break the base",
        &[(
            "defs/base.def",
            &base.replace(
                "# emulator: duration=2s",
                "# emulator: fail=\"compiler exploded\"",
            ),
        )],
    );
    (repo, sha)
}

const REASON: &str = "FATAL: While performing build: compiler exploded";

#[test]
fn a_failed_build_s_reason_is_quoted_from_its_log_in_every_report() {
    let emulated = Emulated::start();
    let (repo, sha) = broken_base();
    let dir = tempfile::tempdir().expect("tempdir");
    let vars = github_push(&repo, &sha, &dir);
    let junit = dir.path().join("junit.xml");
    let run = emulated
        .sifbake(repo.path())
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args([
            "build",
            "--targets",
            "base,python",
            "--format",
            "json",
            "--junit",
        ])
        .arg(&junit)
        .run()
        .expect_code(1);
    let stderr = run.stderr();
    let annotation = stderr
        .lines()
        .find(|l| {
            l.starts_with("::error file=defs/base.def,title=sifbake%3A base (amd64) failed::")
        })
        .unwrap_or_else(|| panic!("an annotation: {stderr}"));
    assert!(annotation.contains(REASON), "{annotation}");

    let result: Value = serde_json::from_str(&run.stdout()).expect("result JSON");
    let images = |name: &str| {
        result["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["images"][0].clone())
            .expect("target")
    };
    let base = images("base");
    assert_eq!(base["status"], "failed");
    let reason = base["reason"].as_str().expect("reason");
    assert!(reason.contains(REASON), "{reason}");
    let python = images("python");
    assert_eq!(python["status"], "skipped");
    let skipped = python["reason"].as_str().expect("reason");
    assert!(
        skipped.contains("`base` (amd64)") && skipped.contains(REASON),
        "a skipped dependent names its base and why it failed: {skipped}"
    );

    let junit = std::fs::read_to_string(&junit).expect("junit");
    let failure = junit
        .split("<failure ")
        .nth(1)
        .unwrap_or_else(|| panic!("a failure: {junit}"));
    let message = failure.split("message=\"").nth(1).expect("message");
    assert!(
        message
            .split('"')
            .next()
            .is_some_and(|m| m.contains(REASON)),
        "{failure}"
    );

    let summary = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary");
    assert!(summary.contains(REASON), "{summary}");
    assert!(
        !summary.contains("images published and tagged"),
        "a run with failures does not say it published and tagged its images: {summary}"
    );
}

#[test]
fn the_result_table_shows_why_an_image_failed_and_why_its_dependents_were_skipped() {
    let emulated = Emulated::start();
    let (repo, _) = broken_base();
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--targets", "base,python"])
        .run()
        .expect_code(1);
    let stdout = run.stdout();
    let row = |target: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{target} ")))
            .unwrap_or_else(|| panic!("a row for {target}: {stdout}"))
            .to_owned()
    };
    assert!(row("base").contains(REASON), "{stdout}");
    let python = row("python");
    assert!(
        python.contains("skipped") && python.contains("`base` (amd64)"),
        "{stdout}"
    );
}

#[test]
fn the_log_says_which_time_limit_applies_to_a_build() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--targets", "r"])
        .run()
        .expect_code(0);
    let stderr = run.stderr();
    let submitted = stderr
        .lines()
        .find(|l| l.contains("r (amd64): submitted build "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        submitted.contains("sifbake cancels it after 30m00s (the target's `timeout`)"),
        "{submitted}"
    );
    assert!(
        stderr.contains("r/amd64 | INFO:    Setting maximum build duration to 1h0m0s (the build service's own limit"),
        "{stderr}"
    );
}
