//! SIGTERM and SIGINT during `sifbake build`: every remote build still running is cancelled
//! on the emulator, nothing queued is submitted, the uploaded contexts are deleted, nothing
//! is tagged, the exit code is 143 or 130, and the JSON result is still written.
//!
//! The time from the signal to the exit is measured and printed (`--nocapture` shows it;
//! RELIABILITY.md reports it), never asserted: a test must not depend on the machine's speed.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Instant;

use scs_emulator::{EmulatorConfig, FaultAction};
use serde_json::Value;

use crate::support::{Emulated, Repo};

/// Three slow targets that start at once (`--jobs 3`), a fourth that waits for a slot and a
/// fifth that builds on the first; each slow one uploads a build context of its own.
fn slow_repository() -> Repo {
    let repo = Repo::empty();
    let mut manifest =
        String::from("version: 1\ndefaults:\n  library: library://acme/cancel\ntargets:\n");
    let mut files: Vec<(String, String)> = Vec::new();
    for name in ["one", "two", "three", "four"] {
        manifest.push_str(&format!("  {name}:\n    def: {name}.def\n"));
        files.push((
            format!("{name}.def"),
            format!(
                "# emulator: duration=1h\nBootstrap: docker\nFrom: alpine:3.20\n\n%files\n    {name}.txt /opt/{name}.txt\n"
            ),
        ));
        files.push((format!("{name}.txt"), format!("{name}\n")));
    }
    manifest.push_str("  dependent:\n    def: dependent.def\n");
    files.push((
        "dependent.def".to_owned(),
        "Bootstrap: library\nFrom: acme/cancel/one\n".to_owned(),
    ));
    files.push(("sifbake.yaml".to_owned(), manifest));
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    repo.commit_files("slow builds", &borrowed);
    repo
}

/// Starts `sifbake build` in the background against the emulator.
fn spawn_build(emulated: &Emulated, repo: &Repo, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("sifbake"))
        .args(["build", "--format", "json", "--default-branch", "main"])
        .args(args)
        .args(["--remote", &emulated.url()])
        .current_dir(repo.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", repo.path())
        .env("NO_COLOR", "1")
        .env("SYLABS_TOKEN", crate::support::TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sifbake")
}

/// Reads stderr until `count` lines contain `needle`; returns what was read.
fn read_until(
    lines: &mut Lines<BufReader<ChildStderr>>,
    needle: &str,
    count: usize,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut found = 0;
    while found < count {
        let line = lines
            .next()
            .unwrap_or_else(|| {
                panic!(
                    "sifbake ended before {count} × `{needle}`:\n{}",
                    seen.join("\n")
                )
            })
            .expect("line");
        if line.contains(needle) {
            found += 1;
        }
        seen.push(line);
    }
    seen
}

/// Sends `signal` and waits for sifbake to end; returns its exit code, stdout, the rest of
/// its stderr, and the milliseconds from the signal to the exit.
fn interrupt(
    mut child: Child,
    lines: Lines<BufReader<ChildStderr>>,
    signal: &str,
) -> (Option<i32>, Vec<u8>, Vec<String>, u128) {
    let sent = Instant::now();
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let stdout = {
        use std::io::Read;
        let mut stdout = Vec::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_end(&mut stdout)
            .expect("read stdout");
        stdout
    };
    let status = child.wait().expect("wait");
    let elapsed = sent.elapsed().as_millis();
    (status.code(), stdout, rest, elapsed)
}

/// The images of a result document as `(target, status, build_id)`.
fn images(result: &Value) -> Vec<(String, String, Option<String>)> {
    result["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .flat_map(|target| {
            target["images"]
                .as_array()
                .expect("images")
                .iter()
                .map(move |image| {
                    (
                        target["name"].as_str().unwrap_or_default().to_owned(),
                        image["status"].as_str().unwrap_or_default().to_owned(),
                        image["build_id"].as_str().map(str::to_owned),
                    )
                })
        })
        .collect()
}

fn cancels_everything_on(signal: &str, code: i32, refused_cancels: u64) {
    let emulated = Emulated::start();
    if refused_cancels > 0 {
        emulated.add_fault(
            "PUT v1/build/*/_cancel",
            refused_cancels,
            FaultAction::Status {
                status: 503,
                message: None,
            },
        );
    }
    let repo = slow_repository();
    let mut child = spawn_build(&emulated, &repo, &["--jobs", "3"]);
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = read_until(&mut lines, "submitted build", 3);
    let (exit, stdout, rest, millis) = interrupt(child, lines, signal);
    seen.extend(rest);
    let stderr = seen.join("\n");
    eprintln!(
        "SIG{signal}: signal to exit {millis} ms (3 remote builds cancelled, {refused_cancels} cancel refused first)"
    );
    assert_eq!(exit, Some(code), "{stderr}");

    let result: Value = serde_json::from_slice(&stdout)
        .unwrap_or_else(|e| panic!("the result is still written: {e}\n{stderr}"));
    assert_eq!(result["cancelled"], true);
    assert_eq!(result["exit_code"], code);
    let images = images(&result);
    let cancelled: Vec<_> = images
        .iter()
        .filter(|(_, status, id)| status == "cancelled" && id.is_some())
        .collect();
    assert_eq!(cancelled.len(), 3, "{images:?}");
    for (name, status, id) in &images {
        assert!(
            (status == "cancelled" && id.is_some())
                || (["skipped", "cancelled"].contains(&status.as_str()) && id.is_none()),
            "{name}: {status} {id:?}"
        );
    }
    assert!(
        images
            .iter()
            .any(|(name, status, _)| name == "dependent" && status == "skipped"),
        "{images:?}"
    );
    for (name, _, _) in &images {
        assert!(
            emulated
                .image(&format!("acme/cancel/{name}"), "main", "amd64")
                .is_none(),
            "{name} is tagged"
        );
    }

    let counters = emulated.finish();
    assert_eq!(
        counters.builds_submitted, 3,
        "nothing queued was submitted: {counters:?}"
    );
    assert_eq!(
        counters.builds_cancelled, 3,
        "every running build was cancelled: {counters:?}"
    );
    assert_eq!(
        counters.requests_to("PUT /v1/build/{id}/_cancel"),
        3 + refused_cancels
    );
    assert_eq!(counters.contexts_uploaded, 3);
    assert_eq!(
        counters.requests_to("DELETE /v1/build-context/{digest}"),
        3,
        "every uploaded context was deleted"
    );
}

#[test]
fn sigterm_cancels_every_running_build_and_still_writes_the_result() {
    cancels_everything_on("TERM", 143, 0);
}

#[test]
fn sigint_cancels_every_running_build_and_still_writes_the_result() {
    cancels_everything_on("INT", 130, 0);
}

#[test]
fn a_refused_cancel_is_retried_within_the_clean_up_bound() {
    cancels_everything_on("TERM", 143, 3);
}

#[test]
fn a_signal_during_a_submission_still_cancels_the_build_it_starts() {
    let emulated = Emulated::with(EmulatorConfig::default());
    // The submission is held for 3 s, within the clean-up's 5 s wait for its answer.
    emulated.add_fault("POST v1/build", 1, FaultAction::Latency { delay_ms: 3_000 });
    let repo = Repo::empty();
    repo.commit_files(
        "one slow build",
        &[
            (
                "sifbake.yaml",
                "version: 1\ndefaults:\n  library: library://acme/cancel\ntargets:\n  one:\n    def: one.def\n",
            ),
            (
                "one.def",
                "# emulator: duration=1h\nBootstrap: docker\nFrom: alpine:3.20\n\n%files\n    one.txt /opt/one.txt\n",
            ),
            ("one.txt", "one\n"),
        ],
    );
    let mut child = spawn_build(&emulated, &repo, &[]);
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // The submission is sent in the same step that reports the context: by the time the
    // line is read, the request is on its way and held.
    let mut seen = read_until(&mut lines, "build context ready", 1);
    let (exit, stdout, rest, millis) = interrupt(child, lines, "TERM");
    seen.extend(rest);
    let stderr = seen.join("\n");
    eprintln!("SIGTERM mid-submission: signal to exit {millis} ms");
    assert_eq!(exit, Some(143), "{stderr}");
    let result: Value = serde_json::from_slice(&stdout).expect("the result is still written");
    let images = images(&result);
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].1, "cancelled", "{images:?}");
    let counters = emulated.finish();
    assert_eq!(counters.requests_to("POST /v1/build"), 1, "{stderr}");
    assert_eq!(counters.builds_submitted, 1, "{stderr}");
    assert_eq!(
        counters.builds_cancelled, 1,
        "the build the late answer named was cancelled: {stderr}"
    );
    assert!(stderr.contains("cancelled"), "{stderr}");
}

#[test]
fn a_signal_while_images_are_looked_up_still_writes_the_result() {
    let emulated = Emulated::with(EmulatorConfig::default());
    // The lookups hang long enough for the signal to arrive during them.
    emulated.add_fault(
        "GET v1/images/*",
        10,
        FaultAction::Latency { delay_ms: 60_000 },
    );
    let repo = slow_repository();
    let mut child = spawn_build(&emulated, &repo, &[]);
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // The services' line is printed once connected, right before the lookups start.
    let mut seen = read_until(&mut lines, "sifbake: build service", 1);
    let (exit, stdout, rest, millis) = interrupt(child, lines, "INT");
    seen.extend(rest);
    let stderr = seen.join("\n");
    eprintln!("SIGINT during the lookups: signal to exit {millis} ms");
    assert_eq!(exit, Some(130), "{stderr}");
    assert!(
        stderr.contains("cancelled before any build started"),
        "{stderr}"
    );
    let result: Value = serde_json::from_slice(&stdout).expect("the result is still written");
    assert_eq!(result["cancelled"], true);
    assert_eq!(result["exit_code"], 130);
    let counters = emulated.finish();
    assert_eq!(counters.builds_submitted, 0, "{stderr}");
}
