//! `--emulate-dir`: the emulated library is kept between runs, so the whole workflow can be
//! shown without an account: build, a re-run that only retags, a release tag promoted.

use crate::support::{Repo, Sifbake};

#[test]
fn a_kept_emulated_library_retags_on_rerun_and_promotes_a_release() {
    let repo = Repo::from_examples();
    let state = tempfile::tempdir().expect("state");
    let emulate = |args: &[&str], code: i32| {
        Sifbake::new(repo.path())
            .args(args)
            .args(["--emulate", "--emulate-dir"])
            .arg(state.path())
            .args(["--default-branch", "main", "--format", "json"])
            .run()
            .expect_code(code)
    };
    let counts = |run: &crate::support::Run| {
        let result = run.json();
        (
            result["counts"]["built"].as_u64().unwrap_or_default(),
            result["counts"]["retagged"].as_u64().unwrap_or_default(),
        )
    };

    let first = emulate(&["build"], 0);
    assert_eq!(counts(&first), (7, 0), "{}", first.stderr());
    assert!(
        first.stderr().contains("library kept in"),
        "{}",
        first.stderr()
    );

    let rerun = emulate(&["build"], 0);
    assert_eq!(counts(&rerun), (0, 7), "a re-run builds nothing");

    let release = emulate(&["tag", "--ref", "refs/tags/v1.0.0"], 0);
    assert_eq!(counts(&release), (0, 7), "{}", release.stderr());
    let tags: Vec<String> = release.json()["targets"][0]["images"][0]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|tag| tag.as_str().map(str::to_owned))
        .collect();
    assert!(tags.iter().any(|tag| tag == "1.0.0"), "{tags:?}");

    // Without the directory each run starts empty: `tag` finds nothing to promote.
    Sifbake::new(repo.path())
        .args(["tag", "--emulate", "--ref", "refs/tags/v1.0.0"])
        .run()
        .expect_code(1);
}
