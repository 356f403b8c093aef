use crate::support::{Sifbake, repo_root};

#[test]
fn examples_are_valid() {
    let run = Sifbake::new(&repo_root())
        .args(["validate", "-f", "examples/sifbake.yaml"])
        .run()
        .expect_code(0);
    let stdout = run.stdout();
    assert!(
        stdout.contains("examples/sifbake.yaml is valid: 6 targets, 4 dependencies"),
        "{stdout}"
    );
    assert!(stdout.contains("level 0: base, bwa, samtools"), "{stdout}");
    assert!(stdout.contains("level 1: python, r"), "{stdout}");
    assert!(stdout.contains("level 2: analysis"), "{stdout}");
}

#[test]
fn json_lists_targets_with_their_readings() {
    let run = Sifbake::new(&repo_root().join("examples"))
        .args(["validate", "--format", "json"])
        .run()
        .expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    assert_eq!(document["valid"], true);
    let targets = document["targets"].as_array().expect("targets");
    let python = targets
        .iter()
        .find(|t| t["name"] == "python")
        .expect("python");
    assert_eq!(python["ref"], "library://acme-lab/tools/python");
    assert_eq!(python["depends_on"], serde_json::json!(["base"]));
    assert_eq!(python["reading"]["stages"][0]["bootstrap"], "library");
    assert_eq!(
        python["reading"]["stages"][0]["from"],
        "acme-lab/tools/base:latest"
    );
    assert_eq!(
        python["reading"]["stages"][0]["files"][0]["source"],
        "../requirements/python.txt"
    );
    assert_eq!(
        python["files"],
        serde_json::json!(["defs/python.def", "requirements/python.txt"])
    );
    let analysis = targets
        .iter()
        .find(|t| t["name"] == "analysis")
        .expect("analysis");
    let final_stage = &analysis["reading"]["stages"][1];
    assert_eq!(final_stage["name"], "final");
    assert_eq!(final_stage["files"][0]["from"], "build");
    assert_eq!(
        document["levels"],
        serde_json::json!([["base", "bwa", "samtools"], ["python", "r"], ["analysis"]])
    );
}

#[test]
fn json_on_failure_still_is_a_document() {
    let dir =
        crate::support::tree(&[("sifbake.yaml", "version: 1\ntargets:\n  a:\n    deff: x\n")]);
    let run = Sifbake::new(dir.path())
        .args(["validate", "--format=json"])
        .run()
        .expect_code(2);
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    assert_eq!(document["valid"], false);
    assert_eq!(document["diagnostics"][0]["line"], 4);
    assert_eq!(document["diagnostics"][0]["column"], 5);
    assert_eq!(document["diagnostics"][0]["code"], "manifest::unknown-key");
}

#[test]
fn missing_manifest_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Sifbake::new(dir.path())
        .args(["validate"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("cannot read manifest `sifbake.yaml`"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("-f FILE"), "{}", run.stderr());
}

#[test]
fn directory_flag_sets_the_root() {
    let run = Sifbake::new(&repo_root())
        .args(["-C", "examples", "validate"])
        .run()
        .expect_code(0);
    assert!(
        run.stdout().contains("examples/sifbake.yaml is valid"),
        "{}",
        run.stdout()
    );
}

#[test]
fn bad_arguments_exit_2() {
    Sifbake::new(&repo_root())
        .args(["validate", "--format", "yaml"])
        .run()
        .expect_code(2);
}
