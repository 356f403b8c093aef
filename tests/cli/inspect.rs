use crate::support::{Sifbake, repo_root, tree};

#[test]
fn shows_stages_files_and_build_args() {
    let run = Sifbake::new(&repo_root())
        .args(["inspect", "examples/defs/analysis.def"])
        .run()
        .expect_code(0);
    let stdout = run.stdout();
    for wanted in [
        "examples/defs/analysis.def: 2 stages",
        "stage 1 `build`",
        "bootstrap: library",
        "from: acme-lab/tools/python:latest",
        "sections: %files, %post",
        "file: ../scripts/summarise.c -> /src/summarise.c  (from the build host, line 8)",
        "file: /src/summarise -> /usr/local/bin/summarise  (from stage `build`, line 18)",
    ] {
        assert!(stdout.contains(wanted), "missing `{wanted}` in\n{stdout}");
    }
}

#[test]
fn json_has_build_args_with_defaults() {
    let run = Sifbake::new(&repo_root())
        .args(["inspect", "--format", "json", "examples/defs/python.def"])
        .run()
        .expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    assert_eq!(document["file"], "examples/defs/python.def");
    assert_eq!(document["stages"][0]["bootstrap"], "library");
    assert_eq!(
        document["build_args"],
        serde_json::json!([{"name": "PY_VERSION", "default": "3.11", "used": true}])
    );
}

#[test]
fn invalid_file_exits_2_with_its_line() {
    let dir = tree(&[("bad.def", "Bootstrap: docker\nFrom: alpine\nExclude: x\n")]);
    let run = Sifbake::new(dir.path())
        .args(["inspect", "bad.def"])
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("bad.def:3:1"), "{}", run.stderr());
}

#[test]
fn missing_file_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Sifbake::new(dir.path())
        .args(["inspect", "nope.def"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("cannot read definition file `nope.def`"),
        "{}",
        run.stderr()
    );
}
