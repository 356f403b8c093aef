//! The manifest's `labels:`, `mirrors:` and `sign:` keys end to end: labels reach the
//! submitted definition, `plan` lists mirrors, and `validate` refuses a bad `oras://` ref or
//! a key pasted into the manifest without repeating it.

use crate::support::{Emulated, Repo, Sifbake};

const DEF: &str = "Bootstrap: docker\nFrom: alpine:3.20\n\n%labels\n    Author someone\n";

#[test]
fn labels_reach_the_submitted_definition_and_a_target_overrides_per_label() {
    let emulated = Emulated::start();
    let manifest = "version: 1\ndefaults:\n  library: library://acme/labels\n  labels:\n    team: hpc\n    tier: base\n    org.opencontainers.image.version: \"from the manifest\"\ntargets:\n  base:\n    def: base.def\n    labels:\n      tier: app\n      Author: ignored, the definition sets it\n";
    let repo = Repo::with_files(&[("sifbake.yaml", manifest), ("base.def", DEF)]);
    emulated
        .sifbake(repo.path())
        .args(["build", "--default-branch", "main"])
        .run()
        .expect_code(0);
    let definitions = emulated.submitted_definitions();
    assert_eq!(definitions.len(), 1);
    let definition = &definitions[0];
    for line in [
        "    team hpc\n",
        "    tier app\n",
        "    Author someone\n",
        "    org.opencontainers.image.version from the manifest\n",
        "    org.opencontainers.image.ref.name main\n",
    ] {
        assert!(definition.contains(line), "`{line}` in:\n{definition}");
    }
    for absent in [
        "tier base",
        "ignored",
        "org.opencontainers.image.version main",
    ] {
        assert!(!definition.contains(absent), "`{absent}` in:\n{definition}");
    }
}

#[test]
fn plan_lists_each_targets_mirrors() {
    let manifest = "version: 1\ndefaults:\n  library: library://acme/tools\n  mirrors: [\"oras://ghcr.io/acme/{{target}}\", \"oras://127.0.0.1:5000/lab/{{target}}\"]\ntargets:\n  base:\n    def: base.def\n  quiet:\n    def: base.def\n    mirrors: []\n";
    let repo = Repo::with_files(&[("sifbake.yaml", manifest), ("base.def", DEF)]);
    let text = Sifbake::new(repo.path())
        .args(["plan", "--all"])
        .run()
        .expect_code(0);
    assert!(
        text.stdout().contains(
            "mirrors of base: oras://ghcr.io/acme/base, oras://127.0.0.1:5000/lab/base\n"
        ),
        "{}",
        text.stdout()
    );
    assert!(!text.stdout().contains("mirrors of quiet"));
    let json = Sifbake::new(repo.path())
        .args(["plan", "--all", "--format", "json"])
        .run()
        .expect_code(0)
        .json();
    let target = |name: &str| {
        json["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .expect("target")
    };
    assert_eq!(
        target("base")["mirrors"],
        serde_json::json!(["oras://ghcr.io/acme/base", "oras://127.0.0.1:5000/lab/base"])
    );
    assert!(target("quiet").get("mirrors").is_none());
}

#[test]
fn validate_refuses_a_bad_oras_ref_at_its_line() {
    let manifest = "version: 1\ndefaults:\n  library: library://acme/tools\ntargets:\n  base:\n    def: base.def\n    mirrors:\n      - oras://ghcr.io/Acme/base\n";
    let repo = Repo::with_files(&[("sifbake.yaml", manifest), ("base.def", DEF)]);
    let run = Sifbake::new(repo.path())
        .arg("validate")
        .run()
        .expect_code(2);
    let stderr = run.stderr();
    assert!(stderr.contains("sifbake.yaml:8:9"), "{stderr}");
    assert!(
        stderr.contains("invalid mirror `oras://ghcr.io/Acme/base`: path component `Acme` has upper-case letters"),
        "{stderr}"
    );
}

#[test]
fn validate_refuses_a_key_pasted_into_the_manifest_without_showing_it() {
    let secret = "lQOYBGZsifbakeSECRETmaterial0123456789";
    let manifest = format!(
        "version: 1\ndefaults:\n  library: library://acme/tools\n  sign:\n    key: |\n      -----BEGIN PGP PRIVATE KEY BLOCK-----\n\n      {secret}\n      =abcd\n      -----END PGP PRIVATE KEY BLOCK-----\n    passphrase: \"correct horse battery\"\ntargets:\n  base:\n    def: base.def\n"
    );
    let repo = Repo::with_files(&[("sifbake.yaml", &manifest), ("base.def", DEF)]);
    for format in ["text", "json"] {
        let run = Sifbake::new(repo.path())
            .args(["validate", "--format", format])
            .run()
            .expect_code(2);
        let (stdout, stderr) = (run.stdout(), run.stderr());
        for shown in [&stdout, &stderr] {
            for secret in [secret, "BEGIN PGP", "=abcd", "correct horse"] {
                assert!(!shown.contains(secret), "`{secret}` shown:\n{shown}");
            }
        }
        let all = format!("{stdout}{stderr}");
        assert!(
            all.contains("`sign.key` holds key material, not the name of an environment variable"),
            "{all}"
        );
        assert!(all.contains("CI secret"), "{all}");
        assert!(
            all.contains("`sign.passphrase` is not the name of an environment variable"),
            "{all}"
        );
        if format == "text" {
            assert!(stderr.contains("sifbake.yaml:6:7"), "{stderr}");
            assert!(stderr.contains("sifbake.yaml:11:17"), "{stderr}");
        }
    }
}
