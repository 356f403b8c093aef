//! Provenance labels: every submitted definition says which commit, repository, date and
//! ref it was built from, and the labels never make an image look changed.

use crate::support::{Emulated, Repo};

const MANIFEST: &str =
    "version: 1\ndefaults:\n  library: library://acme/prov\ntargets:\n  base:\n    def: base.def\n";
const DEF: &str = "Bootstrap: docker\nFrom: alpine:3.20\n\n%labels\n    Author someone\n";

#[test]
fn submitted_definitions_carry_the_provenance_labels_and_digests_ignore_them() {
    let emulated = Emulated::start();
    let repo = Repo::with_files(&[("sifbake.yaml", MANIFEST), ("base.def", DEF)]);
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let date = repo.git(&["show", "-s", "--format=%cI", "HEAD"]);
    let github = [
        ("GITHUB_SERVER_URL", "https://github.example"),
        ("GITHUB_REPOSITORY", "acme/containers"),
    ];
    let run = emulated
        .sifbake(repo.path())
        .envs(github)
        .args(["build", "--format", "json", "--default-branch", "main"])
        .run()
        .expect_code(0);
    let digest_tag = run.json()["targets"][0]["images"][0]["digest_tag"].clone();

    let definitions = emulated.submitted_definitions();
    assert_eq!(definitions.len(), 1);
    let definition = &definitions[0];
    for label in [
        format!("org.opencontainers.image.revision {sha}"),
        "org.opencontainers.image.source https://github.example/acme/containers".to_owned(),
        format!("org.opencontainers.image.created {date}"),
        "org.opencontainers.image.version main".to_owned(),
        "org.opencontainers.image.ref.name main".to_owned(),
        "Author someone".to_owned(),
    ] {
        assert!(definition.contains(&label), "`{label}` in:\n{definition}");
    }

    // Another commit with the same inputs: its labels would differ, its digest does not,
    // so nothing is rebuilt.
    repo.commit_files("docs", &[("README.md", "docs\n")]);
    let rerun = emulated
        .sifbake(repo.path())
        .envs(github)
        .args(["build", "--format", "json", "--default-branch", "main"])
        .run()
        .expect_code(0);
    let image = &rerun.json()["targets"][0]["images"][0];
    assert_eq!(image["status"], "retagged", "{}", rerun.stderr());
    assert_eq!(image["digest_tag"], digest_tag);
    assert_eq!(emulated.submitted_definitions().len(), 1);
}
