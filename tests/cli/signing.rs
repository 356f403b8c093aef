//! `sign:` in `sifbake build` against the emulator: every image of `examples/` signed
//! before any tag names it, judged by `sifbake verify` and by the SIF reference
//! (`conformance/cmd/sifsign`, sif/v2 `integrity`); a re-run signs nothing and names each
//! retagged image's signer; an unsigned image under a signed digest tag is rebuilt; a key that
//! cannot sign stops the run before any request; a library refusing the signed upload sets
//! no tag; the key and passphrase never appear in any output.

use std::path::{Path, PathBuf};
use std::process::Command;

use scs_emulator::{FaultAction, FaultRule};

use crate::go_tools::go_tool;
use crate::support::{Emulated, Repo, TOKEN};
use crate::test_keys::{self, TestKey};

const PASSPHRASE: &str = "canary-passphrase-7Hq2Zx9w";

/// The examples with every target signed by the key in SIGNING_KEY.
fn signed_examples(keystore: bool) -> Repo {
    let repo = Repo::from_examples();
    let manifest = std::fs::read_to_string(repo.path().join("sifbake.yaml")).unwrap();
    let signed = manifest.replacen(
        "defaults:\n",
        &format!(
            "defaults:\n  sign: {{key: SIGNING_KEY, passphrase: SIGNING_PASS, keystore: {keystore}}}\n"
        ),
        1,
    );
    assert_ne!(signed, manifest, "the examples have a defaults section");
    repo.commit_files("sign every image", &[("sifbake.yaml", &signed)]);
    repo
}

fn key() -> TestKey {
    test_keys::generate("CI Signer <ci@example.com>", Some(PASSPHRASE))
}

/// One byte of the largest data object (the root file system) changed, in a copy.
fn tampered_copy(image: &Path, into: &Path) -> PathBuf {
    let mut bytes = std::fs::read(image).unwrap();
    let sif = sifbake_sif::format::Sif::read(&mut std::io::Cursor::new(&bytes)).unwrap();
    let rootfs = sif
        .descriptors
        .iter()
        .max_by_key(|d| d.size)
        .expect("a data object");
    let at = usize::try_from(rootfs.offset + rootfs.size / 2).unwrap();
    bytes[at] ^= 1;
    let copy = into.join(image.file_name().unwrap());
    std::fs::write(&copy, bytes).unwrap();
    copy
}

/// Whether the reference verifier accepts `image` with `public` (None without Go).
fn reference_verifies(public: &Path, image: &Path) -> Option<bool> {
    let tool = go_tool("sifsign", "./cmd/sifsign")?;
    let output = Command::new(&tool)
        .arg("verify")
        .arg("-key")
        .arg(public)
        .arg(image)
        .output()
        .unwrap();
    Some(output.status.success())
}

/// The library's own record of an image (`signed` included), as its API sends it.
fn library_record(emulated: &Emulated, path: &str, tag: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    sifbake::scs::install_crypto_provider();
    runtime.block_on(async {
        let url = format!("{}/v1/images/{path}:{tag}?arch=amd64", emulated.url());
        let response = reqwest::Client::new()
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        body["data"].clone()
    })
}

fn assert_no_secret(text: &str, key: &TestKey) {
    assert!(!text.contains(PASSPHRASE), "the passphrase leaked:\n{text}");
    for line in key.secret.lines().filter(|l| l.len() >= 16) {
        assert!(!text.contains(line), "the private key leaked:\n{text}");
    }
}

#[test]
fn every_example_image_is_signed_verified_and_a_rerun_signs_nothing() {
    let emulated = Emulated::start();
    let repo = signed_examples(true);
    let key = key();
    let keys = tempfile::tempdir().unwrap();
    let public = keys.path().join("pub.asc");
    std::fs::write(&public, &key.public).unwrap();
    let other = keys.path().join("other.asc");
    let stranger = test_keys::generate("Stranger <x@example.com>", None);
    std::fs::write(&other, &stranger.public).unwrap();

    // A wrong passphrase: exit 2 naming the target and variable, nothing submitted.
    let run = emulated
        .sifbake(repo.path())
        .env("SIGNING_KEY", &key.secret)
        .env("SIGNING_PASS", "not-the-passphrase")
        .args(["build"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("wrong passphrase") && run.stderr().contains("SIGNING_PASS"),
        "{}",
        run.stderr()
    );
    assert_no_secret(&run.stderr(), &key);
    let counters = emulated.counters();
    assert_eq!(counters.builds_submitted, 0);
    assert_eq!(counters.images_uploaded, 0);

    let summary = keys.path().join("summary.md");
    let run = emulated
        .sifbake(repo.path())
        .env("SIGNING_KEY", &key.secret)
        .env("SIGNING_PASS", PASSPHRASE)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["build", "--pull", "out", "--format", "json"])
        .args([
            "--log-dir",
            "logs",
            "--junit",
            "junit.xml",
            "--dotenv",
            "build.env",
        ])
        .run()
        .expect_code(0);
    assert_no_secret(&format!("{}{}", run.stdout(), run.stderr()), &key);
    let mut reports: Vec<PathBuf> = std::fs::read_dir(repo.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 7);
    reports.extend([repo.path().join("junit.xml"), repo.path().join("build.env")]);
    for report in &reports {
        assert_no_secret(&std::fs::read_to_string(report).unwrap(), &key);
    }
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert_no_secret(&summary, &key);
    assert_eq!(
        summary
            .matches(&format!("built, signed by `{}`", key.fingerprint))
            .count(),
        7,
        "{summary}"
    );
    let result = run.json();
    let mut images = 0;
    for target in result["targets"].as_array().unwrap() {
        for image in target["images"].as_array().unwrap() {
            assert_eq!(image["status"], "built", "{image}");
            assert_eq!(
                image["image"]["signed_by"],
                key.fingerprint.as_str(),
                "{image}"
            );
            images += 1;
        }
    }
    assert_eq!(images, 7);
    assert!(
        run.stderr()
            .contains(&format!("signed by {}", key.fingerprint)),
        "{}",
        run.stderr()
    );
    // The signing downloaded each built image once; `--pull` took the signed files the
    // run kept instead of downloading them again.
    assert_eq!(emulated.counters().images_downloaded, 7);
    // `keystore: true`: the key was pushed once, for every target.
    let stored: Vec<String> = emulated.keys().into_iter().map(|k| k.fingerprint).collect();
    assert_eq!(stored, std::slice::from_ref(&key.fingerprint));
    // The unsigned builder output was never uploaded under the targets' containers: the
    // library holds one image per target and arch, the signed upload.
    assert_eq!(emulated.counters().images_uploaded, 7);
    let record = library_record(&emulated, "acme-lab/tools/base", "main");
    assert_eq!(record["signed"], true, "{record}");

    let pulled: Vec<PathBuf> = std::fs::read_dir(repo.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pulled.len(), 7);
    let tampered_dir = tempfile::tempdir().unwrap();
    for image in &pulled {
        let run = emulated
            .sifbake(repo.path())
            .arg("verify")
            .arg(image)
            .arg("--key")
            .arg(&public)
            .run()
            .expect_code(0);
        assert!(run.stdout().contains(&key.fingerprint), "{}", run.stdout());
        if let Some(ok) = reference_verifies(&public, image) {
            assert!(ok, "the reference rejects {}", image.display());
        }
        let tampered = tampered_copy(image, tampered_dir.path());
        emulated
            .sifbake(repo.path())
            .arg("verify")
            .arg(&tampered)
            .arg("--key")
            .arg(&public)
            .run()
            .expect_code(1);
        if let Some(ok) = reference_verifies(&public, &tampered) {
            assert!(!ok, "the reference accepts tampered {}", tampered.display());
        }
    }

    // No file: the images the ref's tags name, downloaded, verified and deleted; by key
    // file and by the keystore.
    for how in [
        ["--key", public.to_str().unwrap()],
        ["--keystore", "--format=text"],
    ] {
        let run = emulated
            .sifbake(repo.path())
            .arg("verify")
            .args(how)
            .run()
            .expect_code(0);
        assert_eq!(run.stdout().lines().count(), 7, "{}", run.stdout());
        assert!(
            run.stdout()
                .contains("base (arm64) acme-lab/tools/base:main: verified"),
            "{}",
            run.stdout()
        );
    }
    let run = emulated
        .sifbake(repo.path())
        .args(["verify", "--targets", "r", "--key"])
        .arg(&other)
        .run()
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("`r (amd64) acme-lab/tools/r:main` does not verify")
            && run.stderr().contains(&key.fingerprint),
        "{}",
        run.stderr()
    );
    // `pull --verify`: an image that does not verify is not written.
    let run = emulated
        .sifbake(repo.path())
        .args(["pull", "checked", "--targets", "r,bwa", "--verify", "--key"])
        .arg(&other)
        .run()
        .expect_code(1);
    assert!(run.stderr().contains("does not verify"), "{}", run.stderr());
    let checked = repo.path().join("checked");
    assert_eq!(std::fs::read_dir(&checked).unwrap().count(), 0);
    emulated
        .sifbake(repo.path())
        .args([
            "pull",
            "checked",
            "--targets",
            "r,bwa",
            "--verify",
            "--keystore",
        ])
        .run()
        .expect_code(0);
    assert_eq!(std::fs::read_dir(&checked).unwrap().count(), 2);

    // The same commit again: every image found by its digest tag, nothing built or signed.
    let before = emulated.counters();
    let run = emulated
        .sifbake(repo.path())
        .env("SIGNING_KEY", &key.secret)
        .env("SIGNING_PASS", PASSPHRASE)
        .args(["build", "--format", "json"])
        .run()
        .expect_code(0);
    let after = emulated.counters();
    assert_eq!(after.builds_submitted, before.builds_submitted);
    assert_eq!(after.images_uploaded, before.images_uploaded);
    // Each retagged image names its signer, read from the library's record of the image.
    let mut retagged = 0;
    for target in run.json()["targets"].as_array().unwrap() {
        for image in target["images"].as_array().unwrap() {
            assert_ne!(image["status"], "built", "{image}");
            if image["status"] == "retagged" {
                assert_eq!(
                    image["image"]["signed_by"],
                    key.fingerprint.as_str(),
                    "{image}"
                );
                retagged += 1;
            }
        }
    }
    assert_eq!(retagged, 7, "{}", run.stdout());
}

#[test]
fn a_refused_signed_upload_sets_no_tag_and_a_missing_key_stops_the_run() {
    let emulated = Emulated::start();
    let repo = signed_examples(false);
    let key = key();

    let run = emulated
        .sifbake(repo.path())
        .env("SIGNING_PASS", PASSPHRASE)
        .args(["build", "--targets", "r"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("target `r` is signed, but SIGNING_KEY is not set"),
        "{}",
        run.stderr()
    );
    let run = emulated
        .sifbake(repo.path())
        .env("SIGNING_KEY", &key.public)
        .env("SIGNING_PASS", PASSPHRASE)
        .args(["build", "--targets", "r"])
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("public key"), "{}", run.stderr());
    assert_eq!(emulated.counters().builds_submitted, 0);

    for route in ["POST v1/imagefile/*", "POST v2/imagefile/*"] {
        emulated.add_rule(FaultRule::new(
            route,
            None,
            FaultAction::Status {
                status: 403,
                message: Some("no write access".into()),
            },
        ));
    }
    let run = emulated
        .sifbake(repo.path())
        .env("SIGNING_KEY", &key.secret)
        .env("SIGNING_PASS", PASSPHRASE)
        .args(["build", "--targets", "r"])
        .run()
        .expect_code(3);
    assert!(
        run.stderr()
            .contains("did not take the signed image for acme-lab/tools/base (amd64)"),
        "{}",
        run.stderr()
    );
    assert_no_secret(&format!("{}{}", run.stdout(), run.stderr()), &key);
    for arch in ["amd64", "arm64"] {
        let tagged = emulated.image("library://acme-lab/tools/base", "main", arch);
        assert!(tagged.is_none(), "{arch}: {tagged:?}");
    }

    // A careless builder echoes the passphrase and a line of the key into its log: every
    // output and log file shows them masked.
    let key_line = key
        .secret
        .lines()
        .find(|l| l.len() >= 40)
        .expect("a long line of the armored key");
    emulated.add_rule(FaultRule::new(
        "POST v1/build",
        Some(1),
        FaultAction::FailBuild {
            reason: format!("gpg --passphrase {PASSPHRASE} failed on {key_line}"),
        },
    ));
    let run = emulated
        .sifbake(repo.path())
        .env("SIGNING_KEY", &key.secret)
        .env("SIGNING_PASS", PASSPHRASE)
        .args(["build", "--targets", "r", "--log-dir", "logs"])
        .run()
        .expect_code(1);
    assert_no_secret(&format!("{}{}", run.stdout(), run.stderr()), &key);
    let logs: Vec<String> = std::fs::read_dir(repo.path().join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        logs.iter().any(|log| log.contains("failed on ***")),
        "{logs:?}"
    );
    for log in &logs {
        assert_no_secret(log, &key);
    }
}

#[test]
fn a_keystore_that_is_missing_or_refuses_stops_the_run_before_any_build() {
    let key = key();
    let repo = signed_examples(true);
    let signed = |emulated: &Emulated| {
        emulated
            .sifbake(repo.path())
            .env("SIGNING_KEY", &key.secret)
            .env("SIGNING_PASS", PASSPHRASE)
            .args(["build", "--targets", "r"])
            .run()
            .expect_code(3)
    };

    let emulated = Emulated::with(scs_emulator::EmulatorConfig::default().without_keystore());
    let run = signed(&emulated);
    assert!(
        run.stderr()
            .contains("cannot find the keystore to push the signing key to")
            && run.stderr().contains("nothing was built"),
        "{}",
        run.stderr()
    );
    assert_eq!(emulated.counters().builds_submitted, 0);

    let emulated = Emulated::start();
    emulated.add_rule(FaultRule::new(
        "POST pks/add",
        None,
        FaultAction::Status {
            status: 403,
            message: Some("keystore is read-only".into()),
        },
    ));
    let run = signed(&emulated);
    assert!(
        run.stderr().contains("did not take signing key")
            && run.stderr().contains(&key.fingerprint)
            && run.stderr().contains("nothing was built"),
        "{}",
        run.stderr()
    );
    assert_eq!(emulated.counters().builds_submitted, 0);
    assert_no_secret(&format!("{}{}", run.stdout(), run.stderr()), &key);
}

/// Points `tag` (amd64) of the container `container_id` at `image_id`, through the
/// library's own endpoint, as any client with write access may.
fn point_tag(emulated: &Emulated, container_id: &str, tag: &str, image_id: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    sifbake::scs::install_crypto_provider();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v2/tags/{container_id}", emulated.url()))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"Tag": tag, "Arch": "amd64", "ImageID": image_id}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    });
}

#[test]
fn an_unsigned_image_under_a_signed_digest_tag_is_rebuilt_and_signed_not_retagged() {
    const UNSIGNED: &str = "version: 1\ndefaults:\n  library: library://acme/state\ntargets:\n  base:\n    def: base.def\n";
    let emulated = Emulated::start();
    let repo = crate::support::Repo::with_files(&[
        ("sifbake.yaml", UNSIGNED),
        ("base.def", "Bootstrap: docker\nFrom: alpine:3.20\n"),
    ]);
    let build = |key: Option<&TestKey>| {
        let mut command = emulated.sifbake(repo.path()).args([
            "build",
            "--format",
            "json",
            "--default-branch",
            "main",
        ]);
        if let Some(key) = key {
            command = command
                .env("SIGNING_KEY", &key.secret)
                .env("SIGNING_PASS", PASSPHRASE);
        }
        command.run().expect_code(0)
    };
    build(None);
    let unsigned = emulated
        .image("acme/state/base", "main", "amd64")
        .expect("the unsigned build is tagged");
    assert_eq!(unsigned.signed, Some(false), "{unsigned:?}");
    assert!(unsigned.fingerprints.is_empty());

    // The target becomes signed; someone points its new digest tag at the unsigned image.
    let signed_manifest = UNSIGNED.replacen(
        "defaults:\n",
        "defaults:\n  sign: {key: SIGNING_KEY, passphrase: SIGNING_PASS}\n",
        1,
    );
    repo.commit_files("sign", &[("sifbake.yaml", &signed_manifest)]);
    let plan = emulated
        .sifbake(repo.path())
        .args(["plan", "--format", "json", "--default-branch", "main"])
        .run()
        .expect_code(0);
    let digest_tag = plan.json()["targets"][0]["images"][0]["digest_tag"]
        .as_str()
        .expect("digest tag")
        .to_owned();
    point_tag(&emulated, &unsigned.container_id, &digest_tag, &unsigned.id);

    // A release never promotes it.
    let run = emulated
        .sifbake(repo.path())
        .args(["tag", "--format", "json", "--ref", "refs/tags/v1.0.0"])
        .run()
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("is unsigned, though the target is signed"),
        "{}",
        run.stderr()
    );
    let release = emulated.image("acme/state/base", "1.0.0", "amd64");
    assert!(release.is_none(), "{release:?}");

    let key = key();
    let run = build(Some(&key));
    let image = &run.json()["targets"][0]["images"][0];
    assert_eq!(image["status"], "built", "{}", run.stderr());
    assert_eq!(image["image"]["signed_by"], key.fingerprint.as_str());
    assert!(
        run.stderr()
            .contains("unsigned, though the target is signed"),
        "the plan says why it builds:\n{}",
        run.stderr()
    );
    let by_digest = emulated
        .image("acme/state/base", &digest_tag, "amd64")
        .expect("the digest tag is set");
    assert_ne!(
        by_digest.id, unsigned.id,
        "the tag moved to the signed image"
    );
    assert_eq!(
        by_digest.fingerprints,
        std::slice::from_ref(&key.fingerprint)
    );

    // A re-run retags that signed image and names its signer.
    let run = build(Some(&key));
    let image = &run.json()["targets"][0]["images"][0];
    assert_eq!(image["status"], "retagged", "{}", run.stderr());
    assert_eq!(image["image"]["signed_by"], key.fingerprint.as_str());
}
