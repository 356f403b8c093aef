use std::io::{BufRead, BufReader};
use std::process::Stdio;

use scs_emulator::{EmulatorConfig, FaultAction};
use serde_json::Value;

use crate::support::{Emulated, Repo, Sifbake, TOKEN};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// GitHub Actions variables for a push of `reference` at `sha` whose previous commit is
/// unknown (a new branch or a tag): every target is compared by digest.
fn github_push(
    reference: &str,
    sha: &str,
    payload_dir: &tempfile::TempDir,
) -> Vec<(String, String)> {
    let event = payload_dir.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"before": ZERO, "repository": {"default_branch": "main"}}).to_string(),
    )
    .expect("payload");
    vec![
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_EVENT_NAME".into(), "push".into()),
        ("GITHUB_REF".into(), reference.into()),
        ("GITHUB_SHA".into(), sha.into()),
        (
            "GITHUB_EVENT_PATH".into(),
            event.to_string_lossy().into_owned(),
        ),
    ]
}

fn build_json(
    emulated: &Emulated,
    repo: &Repo,
    vars: &[(String, String)],
    args: &[&str],
    code: i32,
) -> Value {
    let run = emulated
        .sifbake(repo.path())
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["build", "--format", "json"])
        .args(args)
        .run()
        .expect_code(code);
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout(), run.stderr()))
}

/// (target, arch, status) of every image in a result document, sorted.
fn statuses(result: &Value) -> Vec<(String, String, String)> {
    let mut list: Vec<(String, String, String)> = result["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .flat_map(|t| {
            t["images"]
                .as_array()
                .expect("images")
                .iter()
                .map(move |i| {
                    (
                        t["name"].as_str().unwrap_or_default().to_owned(),
                        i["arch"].as_str().unwrap_or_default().to_owned(),
                        i["status"].as_str().unwrap_or_default().to_owned(),
                    )
                })
        })
        .collect();
    list.sort();
    list
}

fn image<'a>(result: &'a Value, target: &str, arch: &str) -> &'a Value {
    result["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["name"] == target)
        .and_then(|t| {
            t["images"]
                .as_array()
                .expect("images")
                .iter()
                .find(|i| i["arch"] == arch)
        })
        .unwrap_or_else(|| panic!("no {target} ({arch}) in {result}"))
}

const EXAMPLE_IMAGES: [(&str, &str); 7] = [
    ("analysis", "amd64"),
    ("base", "amd64"),
    ("base", "arm64"),
    ("bwa", "amd64"),
    ("python", "amd64"),
    ("r", "amd64"),
    ("samtools", "amd64"),
];

fn all(status: &str) -> Vec<(String, String, String)> {
    EXAMPLE_IMAGES
        .iter()
        .map(|(t, a)| ((*t).to_owned(), (*a).to_owned(), status.to_owned()))
        .collect()
}

#[test]
fn a_full_run_builds_in_order_reruns_build_nothing_and_a_release_tag_only_retags() {
    // Strict bases: a dependent submitted before its base exists fails its build.
    let emulated = Emulated::with(EmulatorConfig::default().with_strict_bases(true));
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let payload = tempfile::tempdir().expect("tempdir");

    let first = build_json(
        &emulated,
        &repo,
        &github_push("refs/heads/main", &sha, &payload),
        &[],
        0,
    );
    assert_eq!(statuses(&first), all("built"), "{first:#}");
    assert_eq!(emulated.counters().builds_submitted, 7);
    assert_eq!(first["exit_code"], 0);

    // The images carry the tags in the library, for their own architecture.
    let python = image(&first, "python", "amd64");
    let python_hash = python["image"]["hash"].as_str().expect("hash").to_owned();
    let short = &sha[..7];
    assert_eq!(
        python["tags"],
        serde_json::json!([
            "main",
            format!("sha-{short}"),
            "latest",
            python["digest_tag"]
        ])
    );
    for tag in ["main", "latest", &format!("sha-{short}")] {
        let found = emulated
            .image("acme-lab/tools/python", tag, "amd64")
            .unwrap_or_else(|| panic!("tag {tag}"));
        assert_eq!(found.hash, python_hash, "{tag}");
    }
    let base_arm = emulated
        .image("acme-lab/tools/base", "main", "arm64")
        .expect("arm64 image");
    let base_amd = emulated
        .image("acme-lab/tools/base", "main", "amd64")
        .expect("amd64 image");
    assert_ne!(base_arm.hash, base_amd.hash);
    assert_eq!(base_arm.arch.as_deref(), Some("arm64"));

    // The dependent was built on the exact image this run made for its base.
    let analysis_build = image(&first, "analysis", "amd64")["build_id"]
        .as_str()
        .expect("build id")
        .to_owned();
    let log = emulated.build_log(&analysis_build).expect("analysis log");
    assert!(
        log.contains(&format!("acme-lab/tools/python:{python_hash}")),
        "{log}"
    );

    // The same commit again: nothing is built, the images are found by digest.
    let second = build_json(
        &emulated,
        &repo,
        &github_push("refs/heads/main", &sha, &payload),
        &[],
        0,
    );
    assert_eq!(statuses(&second), all("retagged"), "{second:#}");
    assert_eq!(
        emulated.counters().builds_submitted,
        7,
        "no build submitted twice"
    );

    // A release tag on the same commit: a promotion, not a rebuild.
    repo.git(&["tag", "v1.2.0"]);
    let release = build_json(
        &emulated,
        &repo,
        &github_push("refs/tags/v1.2.0", &sha, &payload),
        &[],
        0,
    );
    assert_eq!(statuses(&release), all("retagged"));
    assert_eq!(emulated.counters().builds_submitted, 7);
    let promoted = emulated
        .image("acme-lab/tools/python", "1.2.0", "amd64")
        .expect("1.2.0");
    assert_eq!(promoted.hash, python_hash);
    assert!(
        emulated
            .image("acme-lab/tools/python", "1.2", "amd64")
            .is_some()
    );
}

#[test]
fn a_failing_target_skips_its_dependents_and_is_never_tagged() {
    let emulated = Emulated::start();
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
    let payload = tempfile::tempdir().expect("tempdir");
    let result = build_json(
        &emulated,
        &repo,
        &github_push("refs/heads/main", &sha, &payload),
        &[],
        1,
    );
    let expected: Vec<(String, String, String)> = [
        ("analysis", "amd64", "skipped"),
        ("base", "amd64", "failed"),
        ("base", "arm64", "failed"),
        ("bwa", "amd64", "built"),
        ("python", "amd64", "skipped"),
        ("r", "amd64", "skipped"),
        ("samtools", "amd64", "built"),
    ]
    .iter()
    .map(|(t, a, s)| ((*t).to_owned(), (*a).to_owned(), (*s).to_owned()))
    .collect();
    assert_eq!(statuses(&result), expected, "{result:#}");
    assert_eq!(result["exit_code"], 1);
    assert!(
        emulated
            .image("acme-lab/tools/base", "main", "amd64")
            .is_none(),
        "a failed image is never tagged"
    );
    assert!(
        emulated
            .image("acme-lab/tools/python", "main", "amd64")
            .is_none()
    );
    assert!(
        emulated
            .image("acme-lab/apps/bwa", "main", "amd64")
            .is_some()
    );
    assert_eq!(
        emulated.counters().builds_submitted,
        4,
        "2 base + bwa + samtools; nothing built on the failure"
    );
}

#[test]
fn sigterm_cancels_every_running_remote_build() {
    let emulated = Emulated::start();
    let repo = Repo::empty();
    let mut manifest =
        String::from("version: 1\ndefaults:\n  library: library://acme/slow\ntargets:\n");
    for name in ["one", "two", "three"] {
        manifest.push_str(&format!("  {name}:\n    def: {name}.def\n"));
        std::fs::write(
            repo.path().join(format!("{name}.def")),
            "# emulator: duration=1h\nBootstrap: docker\nFrom: alpine:3.20\n",
        )
        .expect("def");
    }
    std::fs::write(repo.path().join("sifbake.yaml"), manifest).expect("manifest");
    repo.commit("slow builds");

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sifbake"))
        .args(["build", "--format", "json", "--remote", &emulated.url()])
        .current_dir(repo.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", repo.path())
        .env("SYLABS_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sifbake");
    // Wait, by reading its log, until all three builds are submitted.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut submitted = 0;
    let mut seen = Vec::new();
    while submitted < 3 {
        let line = lines
            .next()
            .expect("sifbake ended before submitting")
            .expect("line");
        if line.contains("submitted build") {
            submitted += 1;
        }
        seen.push(line);
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let output = child.wait_with_output().expect("wait");
    assert_eq!(
        output.status.code(),
        Some(143),
        "{}\n{}",
        seen.join("\n"),
        rest.join("\n")
    );
    assert_eq!(emulated.counters().builds_cancelled, 3);
    let result: Value =
        serde_json::from_slice(&output.stdout).expect("the result is still written");
    assert_eq!(result["cancelled"], true);
    assert_eq!(result["exit_code"], 143);
}

#[test]
fn transient_faults_are_survived_without_double_submission() {
    let emulated = Emulated::start();
    emulated.add_fault(
        "POST v1/build",
        2,
        FaultAction::Status {
            status: 503,
            message: None,
        },
    );
    emulated.add_fault(
        "GET v1/images/*",
        3,
        FaultAction::Status {
            status: 502,
            message: None,
        },
    );
    emulated.add_fault(
        "POST v2/tags/*",
        1,
        FaultAction::RateLimit {
            retry_after_seconds: 1,
        },
    );
    emulated.add_fault(
        "GET v1/build-ws/*",
        2,
        FaultAction::DropWebsocket { after_frames: 1 },
    );
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let payload = tempfile::tempdir().expect("tempdir");
    let vars = github_push("refs/heads/main", &sha, &payload);
    let run = emulated
        .sifbake(repo.path())
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["build", "--format", "json", "--targets", "python,bwa"])
        .run()
        .expect_code(0);
    let result: Value = serde_json::from_str(&run.stdout()).expect("result");
    let expected: Vec<(String, String, String)> = [
        ("base", "amd64"),
        ("base", "arm64"),
        ("bwa", "amd64"),
        ("python", "amd64"),
    ]
    .iter()
    .map(|(t, a)| ((*t).to_owned(), (*a).to_owned(), "built".to_owned()))
    .collect();
    assert_eq!(statuses(&result), expected, "{result:#}");
    let counters = emulated.counters();
    assert_eq!(
        counters.builds_submitted, 4,
        "each build submitted exactly once: {counters:?}"
    );
    // 2 refused submissions, 3 failed lookups, 1 rate limit; the two dropped log streams are
    // not "answered instead of the handler", so they show in sifbake's log instead.
    assert_eq!(
        counters.faults_injected, 6,
        "every fault was met: {counters:?}"
    );
    let stderr = run.stderr();
    assert_eq!(stderr.matches("log stream lost").count(), 2, "{stderr}");
    // Each retried call is in the log: 2 submissions, 3 lookups, 1 rate-limited tag call.
    assert_eq!(stderr.matches("; retrying in ").count(), 6, "{stderr}");
    assert!(stderr.contains("503 Service Unavailable"), "{stderr}");
}

#[test]
fn v1_only_libraries_get_v1_tags() {
    let emulated = Emulated::with(EmulatorConfig::default().v1_only());
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let payload = tempfile::tempdir().expect("tempdir");
    let result = build_json(
        &emulated,
        &repo,
        &github_push("refs/heads/main", &sha, &payload),
        &["--targets", "bwa"],
        0,
    );
    assert_eq!(image(&result, "bwa", "amd64")["status"], "built");
    let routes: Vec<String> = emulated.counters().requests.keys().cloned().collect();
    assert!(
        routes.iter().any(|k| k.starts_with("POST /v1/tags")),
        "{routes:?}"
    );
    assert!(
        !routes.iter().any(|k| k.starts_with("POST /v2/tags")),
        "{routes:?}"
    );
    assert!(
        emulated
            .image("acme-lab/apps/bwa", "main", "amd64")
            .is_some()
    );
}

#[test]
fn emulate_runs_the_whole_pipeline_in_process() {
    let repo = Repo::from_examples();
    let run = Sifbake::new(repo.path())
        .args(["build", "--emulate"])
        .run()
        .expect_code(0);
    let stdout = run.stdout();
    assert!(
        stdout.contains("7 built, 0 retagged"),
        "{stdout}\n{}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains("builds are emulated, nothing is really built"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("Emulated build by scs-emulator"),
        "the logs are shown: {}",
        run.stderr()
    );
}

#[test]
fn no_token_is_a_clear_error() {
    let repo = Repo::from_examples();
    let run = Sifbake::new(repo.path())
        .args(["build", "--all", "--remote", "http://127.0.0.1:9"])
        .run()
        .expect_code(3);
    assert!(
        run.stderr().contains("no Sylabs access token found"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("SYLABS_TOKEN"), "{}", run.stderr());
}

#[test]
fn a_refused_token_never_prints_it() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let run = Sifbake::new(repo.path())
        .env("SYLABS_TOKEN", "wrong-secret-value-42")
        .args(["build", "--all", "--remote", &emulated.url()])
        .run()
        .expect_code(3);
    assert!(
        run.stderr().contains("the token was refused"),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains("wrong-secret-value-42")
            && !run.stdout().contains("wrong-secret-value-42")
    );
}

#[test]
fn pull_requests_build_ephemeral_images_and_tag_nothing() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let base_sha = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let head = repo.commit_files(
        "new tool",
        &[(
            "containers/bwa/Singularity.def",
            "Bootstrap: docker\nFrom: alpine:3.20\n",
        )],
    );
    let payload = tempfile::tempdir().expect("tempdir");
    let event = payload.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({
            "pull_request": {"number": 7, "head": {"sha": head, "ref": "feature"}, "base": {"sha": base_sha, "ref": "main"}},
            "repository": {"default_branch": "main"}
        })
        .to_string(),
    )
    .expect("payload");
    let vars: Vec<(String, String)> = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/7/merge"),
        ("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff"),
        ("GITHUB_EVENT_PATH", event.to_str().expect("path")),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let result = build_json(&emulated, &repo, &vars, &[], 0);
    assert_eq!(result["publish"], "ephemeral");
    let bwa = image(&result, "bwa", "amd64");
    assert_eq!(bwa["status"], "built");
    assert_eq!(bwa["tags"], serde_json::json!([]));
    assert_eq!(image(&result, "python", "amd64")["status"], "unchanged");
    assert!(
        emulated
            .image("acme-lab/apps/bwa", "pr-7", "amd64")
            .is_none()
    );
    assert!(
        emulated
            .image(
                "acme-lab/apps/bwa",
                bwa["digest_tag"].as_str().expect("tag"),
                "amd64"
            )
            .is_none()
    );
    let routes: Vec<String> = emulated.counters().requests.keys().cloned().collect();
    assert!(
        !routes.iter().any(|r| r.contains("/tags/")),
        "no tag call: {routes:?}"
    );
}

#[test]
fn tag_promotes_existing_images_and_builds_nothing() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let payload = tempfile::tempdir().expect("tempdir");
    build_json(
        &emulated,
        &repo,
        &github_push("refs/heads/main", &sha, &payload),
        &["--targets", "bwa"],
        0,
    );
    assert_eq!(emulated.counters().builds_submitted, 1);

    let run = emulated
        .sifbake(repo.path())
        .args([
            "tag",
            "--ref",
            "refs/tags/v3.1.4",
            "--targets",
            "bwa,samtools",
            "--format",
            "json",
        ])
        .run()
        .expect_code(1);
    let result: Value = serde_json::from_str(&run.stdout()).expect("result");
    assert_eq!(image(&result, "bwa", "amd64")["status"], "retagged");
    assert_eq!(image(&result, "samtools", "amd64")["status"], "unchanged");
    assert!(
        run.stderr()
            .contains("`samtools` (amd64): no image tagged inputs-"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("build it first"), "{}", run.stderr());
    assert_eq!(
        emulated.counters().builds_submitted,
        1,
        "tag builds nothing"
    );
    let built = emulated
        .image("acme-lab/apps/bwa", "main", "amd64")
        .expect("main");
    let promoted = emulated
        .image("acme-lab/apps/bwa", "3.1.4", "amd64")
        .expect("3.1.4");
    assert_eq!(promoted.hash, built.hash);
    assert!(
        emulated
            .image("acme-lab/apps/bwa", "3.1", "amd64")
            .is_some()
    );
}

#[test]
fn log_dir_keeps_each_image_s_log() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let logs = tempfile::tempdir().expect("logs");
    let log_dir = logs.path().join("build-logs");
    emulated
        .sifbake(repo.path())
        .args(["build", "--all", "--targets", "bwa", "--log-dir"])
        .arg(&log_dir)
        .run()
        .expect_code(0);
    let log = std::fs::read_to_string(log_dir.join("bwa-amd64.log")).expect("bwa log");
    assert!(log.contains("Emulated build by scs-emulator"), "{log}");
    assert!(log.contains("Build complete"), "{log}");
}
