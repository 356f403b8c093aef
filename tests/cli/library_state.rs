//! What sifbake trusts in the library: only images whose upload completed count as existing.

use crate::support::{Emulated, Repo};

const MANIFEST: &str = "version: 1\ndefaults:\n  library: library://acme/state\ntargets:\n  base:\n    def: base.def\n";
const DEF: &str = "Bootstrap: docker\nFrom: alpine:3.20\n";

fn digest_tag(emulated: &Emulated, repo: &Repo) -> String {
    let run = emulated
        .sifbake(repo.path())
        .args(["plan", "--format", "json", "--default-branch", "main"])
        .run()
        .expect_code(0);
    run.json()["targets"][0]["images"][0]["digest_tag"]
        .as_str()
        .expect("digest tag")
        .to_owned()
}

/// A repository, and an emulator holding under its digest tag a 0-byte record, as an
/// interrupted push leaves behind: the emulator, the repository, the tag, the record's id.
fn with_an_incomplete_record() -> (Emulated, Repo, String, String) {
    let emulated = Emulated::start();
    let repo = Repo::with_files(&[("sifbake.yaml", MANIFEST), ("base.def", DEF)]);
    let tag = digest_tag(&emulated, &repo);
    let stale = emulated.seed_incomplete_image("acme/state/base", &tag, "amd64");
    (emulated, repo, tag, stale)
}

#[test]
fn an_image_whose_upload_never_completed_is_rebuilt_not_retagged() {
    let (emulated, repo, tag, stale) = with_an_incomplete_record();

    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--format", "json", "--default-branch", "main"])
        .run()
        .expect_code(0);
    let result = run.json();
    let image = &result["targets"][0]["images"][0];
    assert_eq!(image["status"], "built", "{}", run.stderr());
    assert!(
        run.stderr().contains("upload never completed"),
        "the plan says why it builds:\n{}",
        run.stderr()
    );
    let tagged = emulated
        .image("acme/state/base", "main", "amd64")
        .expect("main is set");
    assert_ne!(
        tagged.id, stale,
        "main names the new build, not the stale record"
    );
    assert!(tagged.uploaded);
    let by_digest = emulated
        .image("acme/state/base", &tag, "amd64")
        .expect("the digest tag is set");
    assert_eq!(
        by_digest.id, tagged.id,
        "the digest tag moved to the complete image"
    );
}

#[test]
fn tag_never_promotes_an_image_whose_upload_never_completed() {
    let (emulated, repo, _, stale) = with_an_incomplete_record();

    let run = emulated
        .sifbake(repo.path())
        .args(["tag", "--format", "json", "--ref", "refs/tags/v1.0.0"])
        .run()
        .expect_code(1);
    assert!(
        run.stderr().contains("upload never completed"),
        "{}",
        run.stderr()
    );
    let release = emulated.image("acme/state/base", "1.0.0", "amd64");
    assert!(
        release.is_none_or(|image| image.id != stale),
        "the release tag is never set on the incomplete image"
    );
}
