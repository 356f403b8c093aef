//! The secrets canary: every command runs with a known token in the environment (or a token
//! file, or `remote.yaml`), with faults injected, `-vv`, log files, JSON and the GitHub and
//! GitLab files written, and the test fails if the token, a distinctive piece of it, or its
//! base64 shows up in stdout, stderr, a log file, a report file or anything else a run left
//! in the repository. The services even echo the token back in their error messages, as a
//! careless proxy might: sifbake must mask it. URLs with credentials are refused without
//! printing them.

use std::path::{Path, PathBuf};

use base64::Engine;
use scs_emulator::{EmulatorConfig, FaultAction, FaultRule};

use crate::support::{Emulated, Repo, Run, Sifbake, TOKEN};

/// The token every run carries.
const CANARY: &str = "sbk-canary-7Qx9ZmT2vLr4Kp8W";
/// A piece of it no other text has: a leak of part of the token counts too.
const FRAGMENT: &str = "7Qx9ZmT2vLr4";

/// Returns how the canary shows in `bytes`, if it does.
fn leak(bytes: &[u8]) -> Option<&'static str> {
    // GitHub's masking is itself a line naming the secret (`::add-mask::<token>`, as
    // actions/toolkit's setSecret writes it): the runner consumes it and shows it nowhere.
    // That exact line is allowed; the token anywhere else is a leak.
    let mask = format!("::add-mask::{CANARY}");
    let text: String = String::from_utf8_lossy(bytes)
        .lines()
        .filter(|line| *line != mask)
        .collect::<Vec<_>>()
        .join("\n");
    let encoded = base64::engine::general_purpose::STANDARD.encode(CANARY);
    if text.contains(CANARY) {
        Some("the token")
    } else if text.contains(FRAGMENT) {
        Some("a piece of the token")
    } else if text.contains(&encoded) {
        Some("the token in base64")
    } else {
        None
    }
}

/// What the canary runs looked at, and where it leaked.
#[derive(Default)]
struct Canary {
    checked: Vec<String>,
    leaks: Vec<String>,
}

impl Canary {
    fn check(&mut self, label: &str, what: &str, bytes: &[u8]) {
        self.checked.push(format!("{label}: {what}"));
        if let Some(how) = leak(bytes) {
            self.leaks.push(format!(
                "{label}: {how} in {what}:\n{}",
                String::from_utf8_lossy(bytes)
            ));
        }
    }

    /// Checks a run's streams and every file under `dirs` (skipping `.git`).
    fn run(&mut self, label: &str, run: &Run, dirs: &[&Path]) {
        self.check(label, "stdout", &run.output.stdout);
        self.check(label, "stderr", &run.output.stderr);
        for dir in dirs {
            for file in files_under(dir) {
                let bytes = std::fs::read(&file).expect("read");
                self.check(label, &file.display().to_string(), &bytes);
            }
        }
    }

    fn assert_clean(&self, minimum_checks: usize) {
        assert!(
            self.leaks.is_empty(),
            "the token leaked:\n{}",
            self.leaks.join("\n\n")
        );
        assert!(
            self.checked.len() >= minimum_checks,
            "only {} outputs checked:\n{}",
            self.checked.len(),
            self.checked.join("\n")
        );
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let entry = entry.expect("entry");
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A temporary directory for the CI files, and the variables that point at them: GitHub
/// (`GITHUB_ACTIONS`, a push to main, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`) or GitLab.
struct Ci {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Ci {
    fn github(sha: &str) -> Ci {
        let dir = tempfile::tempdir().expect("tempdir");
        let event = dir.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"before": "0000000000000000000000000000000000000000", "repository": {"default_branch": "main"}}"#,
        )
        .expect("event");
        let path = |name: &str| dir.path().join(name).display().to_string();
        let vars = vec![
            ("GITHUB_ACTIONS".to_owned(), "true".to_owned()),
            ("GITHUB_EVENT_NAME".to_owned(), "push".to_owned()),
            ("GITHUB_REF".to_owned(), "refs/heads/main".to_owned()),
            ("GITHUB_SHA".to_owned(), sha.to_owned()),
            ("GITHUB_EVENT_PATH".to_owned(), event.display().to_string()),
            ("GITHUB_OUTPUT".to_owned(), path("output")),
            ("GITHUB_STEP_SUMMARY".to_owned(), path("summary.md")),
        ];
        Ci { dir, vars }
    }

    fn gitlab(sha: &str) -> Ci {
        let dir = tempfile::tempdir().expect("tempdir");
        let vars = [
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_SHA", sha),
            (
                "CI_COMMIT_BEFORE_SHA",
                "0000000000000000000000000000000000000000",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        Ci { dir, vars }
    }

    fn apply(&self, sifbake: Sifbake) -> Sifbake {
        sifbake.envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// The faults of the canary runs, some of which quote the token back.
fn faults() -> Vec<FaultRule> {
    let echo = |status| FaultAction::Status {
        status,
        message: Some(format!(
            "proxy says: Authorization: BEARER {CANARY} is not welcome here"
        )),
    };
    vec![
        FaultRule::new("GET v1/token-status", Some(1), echo(503)),
        FaultRule::new("GET v1/images/*", Some(2), echo(502)),
        FaultRule::new("POST v1/build", Some(1), echo(503)),
        FaultRule::new(
            "POST v2/tags/*",
            Some(1),
            FaultAction::RateLimit {
                retry_after_seconds: 1,
            },
        ),
        FaultRule::new(
            "GET v1/build-ws/*",
            Some(2),
            FaultAction::DropWebsocket { after_frames: 1 },
        ),
        FaultRule::new("GET v1/build/*", Some(1), echo(500)),
    ]
}

fn with_token(sifbake: Sifbake) -> Sifbake {
    sifbake.env("SYLABS_TOKEN", CANARY)
}

#[test]
fn the_token_never_shows_in_any_output() {
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let root = repo.path();
    let logs = tempfile::tempdir().expect("logs");
    let log_dir = logs.path().join("logs");
    let log_dir = log_dir.to_str().expect("utf-8");
    let mut canary = Canary::default();

    // The offline commands, with the token in the environment all the same.
    let offline: &[&[&str]] = &[
        &["validate", "-vv"],
        &["validate", "-vv", "--format", "json"],
        &["inspect", "defs/analysis.def", "-vv"],
        &["inspect", "defs/analysis.def", "--format", "json"],
        &["plan", "-vv"],
        &["plan", "--format", "json"],
        &["plan", "--format", "github-matrix"],
    ];
    for args in offline {
        let ci = Ci::github(&sha);
        let run = ci
            .apply(with_token(Sifbake::new(root)))
            .env("SYLABS_AUTH_TOKEN", CANARY)
            .args(*args)
            .run()
            .expect_code(0);
        canary.run(&args.join(" "), &run, &[ci.dir.path(), root]);
    }

    // `--emulate`: the token is not needed, and not used.
    let ci = Ci::github(&sha);
    let run = ci
        .apply(with_token(Sifbake::new(root)))
        .args([
            "build",
            "--emulate",
            "-vv",
            "--format",
            "json",
            "--log-dir",
            log_dir,
        ])
        .run()
        .expect_code(0);
    canary.run("build --emulate", &run, &[ci.dir.path(), logs.path(), root]);

    // Against an emulator that accepts only the canary, with faults that echo it back.
    let config = EmulatorConfig {
        faults: faults(),
        ..EmulatorConfig::default()
    };
    let emulated = Emulated::with_token(config, CANARY);
    let ci = Ci::github(&sha);
    let run = ci
        .apply(emulated.sifbake(root))
        .args(["build", "-vv", "--format", "json", "--log-dir", log_dir])
        .run()
        .expect_code(0);
    canary.run("build (faults)", &run, &[ci.dir.path(), logs.path(), root]);
    assert!(
        emulated.counters().faults_injected >= 6,
        "the faults fired: {:?}",
        emulated.counters()
    );

    // The same, in text, under GitLab, reading the token from SYLABS_AUTH_TOKEN.
    for rule in faults() {
        emulated.add_rule(rule);
    }
    let ci = Ci::gitlab(&sha);
    let run = ci
        .apply(Sifbake::new(root))
        .env("SIFBAKE_REMOTE", emulated.url())
        .env("SYLABS_AUTH_TOKEN", CANARY)
        .args([
            "build",
            "--all",
            "-vv",
            "--targets",
            "bwa",
            "--log-dir",
            log_dir,
        ])
        .run()
        .expect_code(0);
    canary.run("build (gitlab)", &run, &[ci.dir.path(), logs.path(), root]);

    // `tag`, with the lookups failing first.
    emulated.add_rule(FaultRule::new(
        "GET v1/images/*",
        Some(2),
        FaultAction::Status {
            status: 503,
            message: Some(format!("upstream rejected {CANARY}")),
        },
    ));
    let ci = Ci::github(&sha);
    let run = ci
        .apply(emulated.sifbake(root))
        .args([
            "tag",
            "-vv",
            "--ref",
            "refs/tags/v1.0.0",
            "--format",
            "json",
        ])
        .run()
        .expect_code(0);
    canary.run("tag", &run, &[ci.dir.path(), root]);

    // Errors that end the run quote the token too: a tag call refused for good (400) fails
    // the images, whose reasons are printed and written.
    emulated.add_rule(FaultRule::new(
        "POST v2/tags/*",
        None,
        FaultAction::Status {
            status: 400,
            message: Some(format!("invalid header BEARER {CANARY}")),
        },
    ));
    let ci = Ci::github(&sha);
    let run = ci
        .apply(emulated.sifbake(root))
        .args([
            "build",
            "--all",
            "-vv",
            "--format",
            "json",
            "--targets",
            "samtools",
        ])
        .args(["--log-dir", log_dir])
        .run()
        .expect_code(3);
    canary.run(
        "build (refused tags)",
        &run,
        &[ci.dir.path(), logs.path(), root],
    );

    // The builder echoes the token in its build log, whole and cut short, as a careless
    // `%post` would: the log reaches stderr, the log files, JUnit and the step summary.
    emulated.add_rule(FaultRule::new(
        "POST v1/build",
        Some(1),
        FaultAction::FailBuild {
            reason: format!(
                "curl -H 'Authorization: Bearer {CANARY}' failed; retried with {}",
                &CANARY[..CANARY.len() - 3]
            ),
        },
    ));
    let ci = Ci::github(&sha);
    let junit = logs.path().join("junit.xml");
    let run = ci
        .apply(emulated.sifbake(root))
        .args([
            "build",
            "--all",
            "-vv",
            "--targets",
            "base",
            "--log-dir",
            log_dir,
        ])
        .arg("--junit")
        .arg(&junit)
        .run()
        .expect_code(1);
    canary.run(
        "build (token in the build log)",
        &run,
        &[ci.dir.path(), logs.path(), root],
    );
    // `base` builds for two architectures at once: the fault fails whichever is first.
    assert!(
        ["amd64", "arm64"].iter().any(|arch| {
            std::fs::read_to_string(logs.path().join(format!("logs/base-{arch}.log")))
                .is_ok_and(|log| log.contains("Authorization: Bearer ***"))
        }),
        "the log is kept, masked"
    );

    // A token from `--token-file`, and one from `remote.yaml`, with the environment empty.
    let secrets = tempfile::tempdir().expect("secrets");
    let token_file = secrets.path().join("token");
    std::fs::write(&token_file, format!("{CANARY}\n")).expect("token file");
    let run = Sifbake::new(root)
        .env("SIFBAKE_REMOTE", emulated.url())
        .args(["build", "--dry-run", "-vv", "--token-file"])
        .arg(&token_file)
        .run()
        .expect_code(0);
    canary.run("build --token-file", &run, &[root]);
    let home = tempfile::tempdir().expect("home");
    std::fs::create_dir_all(home.path().join(".singularity")).expect("mkdir");
    std::fs::write(
        home.path().join(".singularity/remote.yaml"),
        format!(
            "Active: emulated\nRemotes:\n  emulated:\n    URI: {}\n    Token: {CANARY}\n",
            emulated.url().trim_start_matches("http://")
        ),
    )
    .expect("remote.yaml");
    let run = Sifbake::new(root)
        .env("HOME", home.path())
        .env("SIFBAKE_REMOTE", emulated.url())
        .args(["build", "--dry-run", "-vv"])
        .run()
        .expect_code(0);
    canary.run("build (remote.yaml)", &run, &[root]);

    // A token the service refuses.
    let other = Emulated::start();
    let run = with_token(other.sifbake(root))
        .env("SYLABS_TOKEN", CANARY)
        .args(["build", "--all", "-vv", "--format", "json"])
        .run()
        .expect_code(3);
    canary.run("build (refused token)", &run, &[root]);
    assert!(
        run.stderr().contains("the token was refused"),
        "{}",
        run.stderr()
    );
    assert_ne!(CANARY, TOKEN);

    // URLs that carry the token as credentials are refused, and not printed.
    let urls: &[&[&str]] = &[
        &["--remote", &format!("https://user:{CANARY}@cloud.example")],
        &["--remote", &format!("http://{CANARY}@cloud.example")],
        &["--remote", &format!("https://x:{CANARY}@bad host")],
        &[
            "--builder-url",
            &format!("http://u:{CANARY}@10.0.0.1"),
            "--library-url",
            "https://library.example",
        ],
    ];
    for args in urls {
        let run = with_token(Sifbake::new(root))
            .args(["build", "--all", "-vv"])
            .args(*args)
            .run()
            .expect_code(2);
        canary.run("build (credentials in a URL)", &run, &[root]);
        assert!(run.stderr().contains("***@"), "{}", run.stderr());
    }

    canary.assert_clean(40);
}
