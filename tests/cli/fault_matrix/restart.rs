//! The restart rows: sifbake against the `scs-emulator` binary on a data directory, which is
//! stopped mid-run (SIGKILL: a crash; SIGTERM: a clean stop) and started again on the same
//! port and data directory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use scs_emulator::{FaultAction, FaultRule};
use serde_json::Value;

use super::{Case, Endpoint, build_args, check_outcome, find, repository};
use crate::support::{Repo, TOKEN, repo_root};

/// The `scs-emulator` binary on a data directory, stopped by [`Server::stop`] or on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts it on `addr` (`127.0.0.1:0` picks a port) with these `--fault` rules.
    fn start(addr: &str, data_dir: &std::path::Path, faults: &[FaultRule]) -> Server {
        let mut command = Command::new(emulator_binary());
        command
            .args(["--listen", addr, "--token", TOKEN, "--data-dir"])
            .arg(data_dir);
        for rule in faults {
            command
                .arg("--fault")
                .arg(serde_json::to_string(rule).expect("rule"));
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scs-emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the emulator prints its URL");
        assert!(line.starts_with("http://"), "{line}");
        Server {
            child,
            url: line.trim().to_owned(),
        }
    }

    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// Reads the counters through the admin API.
    fn counters(&self) -> scs_emulator::Counters {
        block_on(async {
            let reply: Value = http_client()
                .get(format!("{}/_emulator/counters", self.url))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("counters")
                .json()
                .await
                .expect("json");
            serde_json::from_value(reply["data"].clone()).expect("counters")
        })
    }

    /// Stops it with `signal` (`TERM`: a clean restart; `KILL`: a crash) and waits.
    fn stop(mut self, signal: &str) {
        self.signal(signal);
    }

    fn signal(&mut self, signal: &str) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal("KILL");
    }
}

pub(super) fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

pub(super) fn http_client() -> reqwest::Client {
    sifbake::scs::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// The emulator binary, built beside the test binary's own (`cargo test --workspace`
/// builds it; a `-p sifbake` run builds it here).
fn emulator_binary() -> std::path::PathBuf {
    let path = assert_cmd::cargo::cargo_bin("scs-emulator");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "scs-emulator", "--bin", "scs-emulator"])
            .current_dir(repo_root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "cannot build scs-emulator");
    }
    path
}

/// Looks an image up through sifbake's own client.
fn lookup_in(url: &str, container: &str, tag: &str) -> Option<sifbake::scs::Image> {
    use sifbake::scs::Library;
    block_on(async {
        let token = sifbake::scs::Token::new(TOKEN).expect("token");
        let options = sifbake::scs::ConnectOptions {
            remote: url.to_owned(),
            ..sifbake::scs::ConnectOptions::new(token)
        };
        let connection = sifbake::scs::connect(&options).await.expect("connect");
        let reference = sifbake::libref::LibraryRef::parse(container).expect("ref");
        connection
            .library
            .find_image(&reference, tag, "amd64")
            .await
            .expect("find image")
    })
}

/// Runs a restart row: sifbake against the emulator binary, which is stopped with `signal`
/// as soon as sifbake's stderr shows `trigger`, and started again on the same port and data
/// directory. Asserts what every row asserts, with the counters of both lifetimes added up.
fn run_with_restart(
    case: &Case,
    repo: &Repo,
    first_faults: &[FaultRule],
    trigger: &str,
    signal: &str,
) {
    let data = tempfile::tempdir().expect("data dir");
    let first = Server::start("127.0.0.1:0", data.path(), first_faults);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("sifbake"))
        .args(build_args(case))
        .args(["--remote", &first.url])
        .current_dir(repo.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", data.path())
        .env("NO_COLOR", "1")
        .env("SYLABS_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sifbake");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        let found = line.contains(trigger);
        seen.push(line);
        if found {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|line| line.contains(trigger)),
        "sifbake ended before `{trigger}`:\n{}",
        seen.join("\n")
    );
    let before = first.counters();
    let addr = first.addr();
    first.stop(signal);
    let second = Server::start(&addr, data.path(), &[]);
    seen.extend(lines.map_while(Result::ok));
    let output = child.wait_with_output().expect("wait");
    let after = second.counters();

    let mut problems = Vec::new();
    if output.status.code() != Some(case.expect.exit) {
        problems.push(format!(
            "exit {:?} (expected {})",
            output.status.code(),
            case.expect.exit
        ));
    }
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(result) => problems.extend(check_outcome(&case.expect, &result, &|container, tag| {
            lookup_in(&second.url, container, tag)
        })),
        Err(error) => problems.push(format!("no result document: {error}")),
    }
    let submitted = before.builds_submitted + after.builds_submitted;
    if submitted != case.expect.submitted {
        problems.push(format!(
            "{submitted} builds submitted (expected {}): {before:?} then {after:?}",
            case.expect.submitted
        ));
    }
    second.stop("TERM");
    assert!(
        problems.is_empty(),
        "{}\n--- stderr\n{}",
        problems.join("\n"),
        seen.join("\n")
    );
}

#[test]
fn restart_during_a_build() {
    let case = find("restart-during-build");
    let repo = repository(case.scenario);
    // `base` runs for a minute, long enough to be caught running; the crash (SIGKILL) drops
    // its log stream without a word.
    let base = std::fs::read_to_string(repo.path().join("base.def")).expect("base.def");
    repo.commit_files(
        "slow base",
        &[("base.def", &base.replace("duration=1s", "duration=60s"))],
    );
    run_with_restart(case, &repo, &[], "base (amd64): submitted build", "KILL");
}

#[test]
fn restart_between_builds() {
    let case = find("restart-between-builds");
    let repo = repository(case.scenario);
    // `app`'s context announcement is held, so the restart (SIGTERM, a clean stop) happens
    // after `base` is tagged and before `app` is submitted, whatever the timing.
    let hold = FaultRule::new(
        Endpoint::ContextAnnounce.pattern(),
        Some(1),
        FaultAction::Latency { delay_ms: 60_000 },
    );
    run_with_restart(case, &repo, &[hold], "base (amd64): built", "TERM");
}
