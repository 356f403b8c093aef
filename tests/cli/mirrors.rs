//! Mirrors to a real OCI registry (Debian's `docker-registry` on 127.0.0.1, htpasswd auth)
//! end to end: `examples/` built on the emulator reaches the registry under every tag, as
//! the official `oras` CLI pulls it back; a re-run and a release retag push no file; a
//! refused mirror leaves the library's tags and exits 3; the password never shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::go_tools::go_tool;
use crate::support::{Emulated, Repo, Sifbake};

#[path = "../support/registry.rs"]
mod registry;

use registry::{Auth, PASSWORD, TestRegistry, USER};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Adds `mirrors:` to the examples' defaults and commits it; returns the commit.
fn mirror_examples(repo: &Repo, registry: &TestRegistry) -> String {
    let manifest = repo.path().join("sifbake.yaml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let mirrored = text.replacen(
        "defaults:\n",
        &format!(
            "defaults:\n  mirrors: [\"{}\"]\n",
            registry.oras_ref("acme/{{target}}")
        ),
        1,
    );
    assert_ne!(text, mirrored, "the examples have a `defaults:` block");
    std::fs::write(&manifest, mirrored).expect("write the manifest");
    repo.commit("mirror every image")
}

/// A Docker config directory logged in to the registry, as `docker login` leaves it.
fn docker_config(registry: &TestRegistry) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        dir.path().join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.address()
        ),
    )
    .expect("config.json");
    dir
}

/// GitHub Actions' variables for a push of `reference` at `sha` with no earlier commit
/// known (every target compared by digest), with the step summary and outputs in `dir`.
fn github_push(reference: &str, sha: &str, dir: &Path) -> Vec<(String, String)> {
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"before": ZERO, "repository": {"default_branch": "main"}}).to_string(),
    )
    .expect("payload");
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    vec![
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_EVENT_NAME".into(), "push".into()),
        ("GITHUB_REF".into(), reference.into()),
        ("GITHUB_SHA".into(), sha.into()),
        ("GITHUB_EVENT_PATH".into(), event.to_string_lossy().into()),
        ("GITHUB_STEP_SUMMARY".into(), path("summary.md")),
        ("GITHUB_OUTPUT".into(), path("output")),
    ]
}

/// Asserts that `secret` shows nowhere in a run's output but in the runner's masking line
/// (`::add-mask::<secret>`, which the runner consumes), and that that line was written.
fn assert_masked(stdout: &str, stderr: &str, secret: &str) {
    let mask = format!("::add-mask::{secret}");
    assert!(
        stderr.lines().any(|line| line == mask),
        "not masked:\n{stderr}"
    );
    let text: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| *line != mask)
        .collect();
    let text = text.join("\n");
    assert!(!text.contains(secret), "the password was printed:\n{text}");
}

fn build(sifbake: Sifbake, vars: &[(String, String)], code: i32) -> (Value, String) {
    let run = sifbake
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["build", "--format", "json"])
        .run()
        .expect_code(code);
    assert_masked(&run.stdout(), &run.stderr(), PASSWORD);
    (run.json(), run.stderr())
}

/// Every image of a result: (target, arch, image object).
fn images(result: &Value) -> Vec<(String, String, Value)> {
    let mut list = Vec::new();
    for target in result["targets"].as_array().expect("targets") {
        for image in target["images"].as_array().expect("images") {
            list.push((
                target["name"].as_str().expect("name").to_owned(),
                image["arch"].as_str().expect("arch").to_owned(),
                image.clone(),
            ));
        }
    }
    list
}

/// The blobs the registry stores (each file is stored once, whatever the repositories).
fn blob_count(registry: &TestRegistry) -> usize {
    let root = registry
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256");
    let Ok(prefixes) = std::fs::read_dir(&root) else {
        return 0;
    };
    prefixes
        .map(|prefix| {
            std::fs::read_dir(prefix.expect("entry").path())
                .expect("blob directory")
                .count()
        })
        .sum()
}

fn sha256_dot(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256.{hex}")
}

/// `oras pull` of `reference` into a new directory; returns the one file it wrote.
fn oras_pull(oras: &Path, reference: &str) -> PathBuf {
    let out = tempfile::tempdir().expect("tempdir").keep();
    let output = Command::new(oras)
        .args(["pull", "--plain-http", "-u", USER, "-p", PASSWORD])
        .arg(reference)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run oras");
    assert!(
        output.status.success(),
        "oras pull {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .expect("oras output")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{reference}: {files:?}");
    files.remove(0)
}

#[test]
fn examples_reach_the_mirror_by_every_tag_and_reruns_push_no_file() {
    let Some(registry) = TestRegistry::start(Auth::Htpasswd) else {
        return;
    };
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let sha = mirror_examples(&repo, &registry);
    let docker = docker_config(&registry);
    let ci = tempfile::tempdir().expect("tempdir");
    let run = |reference: &str| {
        let vars = github_push(reference, &sha, ci.path());
        build(
            emulated
                .sifbake(repo.path())
                .env("DOCKER_CONFIG", docker.path()),
            &vars,
            0,
        )
    };

    let plan = |docker_config: Option<&Path>| {
        let vars = github_push("refs/heads/main", &sha, ci.path());
        let mut sifbake = Sifbake::new(repo.path())
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["plan", "--format", "json"]);
        if let Some(dir) = docker_config {
            sifbake = sifbake.env("DOCKER_CONFIG", dir);
        }
        let plan = sifbake.run().expect_code(0).json();
        images(&plan)
            .into_iter()
            .map(|(target, arch, image)| {
                let check = &image["mirrors"][0];
                let reason = check["reason"].as_str().unwrap_or_default().to_owned();
                (
                    target,
                    arch,
                    check["state"].as_str().unwrap_or("none").to_owned(),
                    reason,
                )
            })
            .collect::<Vec<_>>()
    };
    // Asked before the build, the registry has none of the images.
    for (target, arch, state, _) in plan(Some(docker.path())) {
        assert_eq!(state, "push", "{target} {arch}");
    }
    // Without credentials nothing is asked: `unknown`, and the plan still succeeds.
    for (target, arch, state, reason) in plan(None) {
        assert_eq!(state, "unknown", "{target} {arch}");
        assert_eq!(reason, format!("no credentials for {}", registry.address()));
    }

    let (first, log) = run("refs/heads/main");
    let built = images(&first);
    assert_eq!(built.len(), 7, "{first:#}");
    let base = format!("oras://{}/acme", registry.address());
    for (target, arch, image) in &built {
        assert_eq!(image["status"], "built", "{target} {arch}");
        let mirrors = image["mirrors"].as_array().expect("mirrors");
        assert_eq!(mirrors.len(), 1, "{target} {arch}: {image:#}");
        let mirror = &mirrors[0];
        assert_eq!(mirror["ref"], format!("{base}/{target}"));
        assert_eq!(mirror["action"], "pushed", "{mirror:#}");
        assert!(mirror["error"].is_null());
        // The first architecture has the library's tags; another has them suffixed.
        let expected: Vec<String> = image["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|tag| {
                let tag = tag.as_str().expect("tag");
                if arch == "arm64" {
                    format!("{tag}-arm64")
                } else {
                    tag.to_owned()
                }
            })
            .collect();
        assert_eq!(mirror["tags"], serde_json::json!(expected));
        assert!(
            log.contains(&format!("pushed to {base}/{target}")),
            "no line for {target}:\n{log}"
        );
    }
    let blobs = blob_count(&registry);
    // One file per image, and the empty config every manifest shares.
    assert!(blobs >= 8, "{blobs} blobs");

    let summary = std::fs::read_to_string(ci.path().join("summary.md")).expect("summary");
    assert!(
        summary.contains(&format!("singularity pull {base}/python:main")),
        "{summary}"
    );
    let outputs = std::fs::read_to_string(ci.path().join("output")).expect("outputs");
    assert!(
        outputs.contains(&format!("{base}/python@sha256:")),
        "{outputs}"
    );
    assert!(!summary.contains(PASSWORD) && !outputs.contains(PASSWORD));

    if let Some(oras) = go_tool("oras", "oras.land/oras/cmd/oras") {
        for (target, arch, image) in &built {
            let hash = image["image"]["hash"].as_str().expect("hash");
            for tag in image["mirrors"][0]["tags"].as_array().expect("tags") {
                let tag = tag.as_str().expect("tag");
                let reference = format!("{}/acme/{target}:{tag}", registry.address());
                let file = oras_pull(&oras, &reference);
                assert_eq!(sha256_dot(&file), hash, "{reference}");
                let name = file.file_name().expect("name").to_string_lossy();
                let expected = if arch == "arm64" {
                    format!("{target}_arm64.sif")
                } else {
                    format!("{target}.sif")
                };
                assert_eq!(name, expected, "{reference}");
                let _ = std::fs::remove_dir_all(file.parent().expect("dir"));
            }
        }
    }

    for (target, arch, state, _) in plan(Some(docker.path())) {
        assert_eq!(state, "up-to-date", "{target} {arch}");
    }

    // The same commit again: retagged in the library, nothing to do on the mirror.
    let (second, _) = run("refs/heads/main");
    for (target, arch, image) in images(&second) {
        assert_eq!(image["status"], "retagged", "{target} {arch}");
        assert_eq!(image["mirrors"][0]["action"], "up-to-date", "{image:#}");
    }
    assert_eq!(blob_count(&registry), blobs, "the re-run stored no blob");

    // A release on the same commit: new tags on the mirror, no file sent.
    repo.git(&["tag", "v1.2.0"]);
    let (release, _) = run("refs/tags/v1.2.0");
    for (target, arch, image) in images(&release) {
        assert_eq!(image["mirrors"][0]["action"], "tagged", "{target} {arch}");
    }
    assert_eq!(blob_count(&registry), blobs, "the release stored no blob");
    if let Some(oras) = go_tool("oras", "oras.land/oras/cmd/oras") {
        let python = images(&release)
            .into_iter()
            .find(|(target, _, _)| target == "python")
            .expect("python");
        let file = oras_pull(&oras, &format!("{}/acme/python:1.2.0", registry.address()));
        assert_eq!(
            sha256_dot(&file),
            python.2["image"]["hash"].as_str().expect("hash")
        );
    }
}

#[test]
fn a_refused_mirror_keeps_the_library_tags_reports_the_mirror_and_exits_3() {
    let Some(registry) = TestRegistry::start(Auth::Htpasswd) else {
        return;
    };
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let sha = mirror_examples(&repo, &registry);
    let ci = tempfile::tempdir().expect("tempdir");
    let wrong = "wrong-canary-Vd8Qs2Lk5Rx9";
    let vars = github_push("refs/heads/main", &sha, ci.path());
    let run = emulated
        .sifbake(repo.path())
        .env("SIFBAKE_REGISTRY_USERNAME", USER)
        .env("SIFBAKE_REGISTRY_PASSWORD", wrong)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["build", "--format", "json", "--targets", "r"])
        .run()
        .expect_code(3);
    assert_masked(&run.stdout(), &run.stderr(), wrong);
    let result = run.json();
    assert_eq!(result["exit_code"], 3);
    let (_, _, image) = images(&result)
        .into_iter()
        .find(|(target, _, _)| target == "r")
        .expect("r");
    assert_eq!(image["status"], "built");
    let mirror = &image["mirrors"][0];
    assert!(mirror["action"].is_null(), "{mirror:#}");
    assert_eq!(mirror["error"]["kind"]["kind"], "auth", "{mirror:#}");
    // The library's tags are set all the same.
    let library = emulated
        .image("acme-lab/tools/r", "main", "amd64")
        .expect("r tagged main in the library");
    assert_eq!(image["image"]["hash"], library.hash.as_str());
    assert!(
        run.stderr().contains("FAILED, the library's tags stay set"),
        "{}",
        run.stderr()
    );
    let summary = std::fs::read_to_string(ci.path().join("summary.md")).expect("summary");
    assert!(summary.contains("| FAILED |"), "{summary}");
    assert!(!summary.contains(wrong));
    // A failed mirror has no ref in `built-refs`.
    let outputs = std::fs::read_to_string(ci.path().join("output")).expect("outputs");
    assert!(!outputs.contains("/acme/r@sha256:"), "{outputs}");
}

#[test]
fn half_a_credential_pair_stops_the_build_before_anything_is_submitted() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let manifest = repo.path().join("sifbake.yaml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replacen(
            "defaults:\n",
            "defaults:\n  mirrors: [\"oras://ghcr.io/acme/{{target}}\"]\n",
            1,
        ),
    )
    .expect("write");
    repo.commit("mirror");
    let run = emulated
        .sifbake(repo.path())
        .env("SIFBAKE_REGISTRY_GHCR_IO_USERNAME", "bot")
        .args(["build"])
        .run()
        .expect_code(2);
    // The message as one line, whatever width the diagnostic was wrapped to.
    let stderr = run.stderr();
    let words: Vec<&str> = stderr
        .split_whitespace()
        .filter(|word| *word != "│")
        .collect();
    assert!(
        words.join(" ").contains(
            "SIFBAKE_REGISTRY_GHCR_IO_USERNAME is set but SIFBAKE_REGISTRY_GHCR_IO_PASSWORD is not"
        ),
        "{stderr}"
    );
    assert_eq!(emulated.counters().builds_submitted, 0);
}

#[test]
fn a_registry_that_is_down_keeps_the_library_tags_and_exits_3_after_the_retries() {
    let Some(registry) = TestRegistry::start(Auth::Htpasswd) else {
        return;
    };
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let sha = mirror_examples(&repo, &registry);
    let docker = docker_config(&registry);
    // Stopped: nothing listens on its port any more.
    drop(registry);
    let ci = tempfile::tempdir().expect("tempdir");
    let vars = github_push("refs/heads/main", &sha, ci.path());
    let run = emulated
        .sifbake(repo.path())
        .env("DOCKER_CONFIG", docker.path())
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args([
            "build",
            "--format",
            "json",
            "--targets",
            "base",
            "--arch",
            "amd64",
        ])
        .run()
        .expect_code(3);
    assert_masked(&run.stdout(), &run.stderr(), PASSWORD);
    let result = run.json();
    let (_, _, image) = images(&result)
        .into_iter()
        .find(|(target, arch, _)| target == "base" && arch == "amd64")
        .expect("base amd64");
    assert_eq!(image["status"], "built");
    assert_eq!(image["mirrors"][0]["error"]["kind"]["kind"], "connect");
    assert!(
        emulated
            .image("acme-lab/tools/base", "main", "amd64")
            .is_some(),
        "the library's tags are set"
    );
}

#[test]
fn a_signed_image_reaches_the_mirror_signed_without_a_second_download() {
    let Some(registry) = TestRegistry::start(Auth::Htpasswd) else {
        return;
    };
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let manifest = repo.path().join("sifbake.yaml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replacen("defaults:\n", "defaults:\n  sign: {key: SIGNING_KEY}\n", 1),
    )
    .expect("write");
    let sha = mirror_examples(&repo, &registry);
    let key = crate::test_keys::generate("CI Signer <ci@example.com>", None);
    let docker = docker_config(&registry);
    let ci = tempfile::tempdir().expect("tempdir");
    let vars = github_push("refs/heads/main", &sha, ci.path());
    let (result, _) = build(
        emulated
            .sifbake(repo.path())
            .env("DOCKER_CONFIG", docker.path())
            .env("SIGNING_KEY", &key.secret)
            .env("SIFBAKE_TARGETS", "r"),
        &vars,
        0,
    );
    let built = images(&result);
    // base (amd64, arm64) and r: each downloaded once, to be signed; the mirrors push the
    // kept signed files.
    assert_eq!(built.len(), 3, "{result:#}");
    assert_eq!(emulated.counters().images_downloaded, 3);
    for (target, arch, image) in &built {
        assert!(image["image"]["signed_by"].is_string(), "{target} {arch}");
        assert_eq!(image["mirrors"][0]["action"], "pushed", "{image:#}");
    }
    if let Some(oras) = go_tool("oras", "oras.land/oras/cmd/oras") {
        let (_, _, r) = built
            .iter()
            .find(|(target, _, _)| target == "r")
            .expect("r");
        let file = oras_pull(&oras, &format!("{}/acme/r:main", registry.address()));
        // The signed file the library holds under the tags, not the builder's unsigned one.
        assert_eq!(
            sha256_dot(&file),
            r["image"]["hash"].as_str().expect("hash")
        );
        let _ = std::fs::remove_dir_all(file.parent().expect("dir"));
    }
}
