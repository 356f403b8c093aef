//! Output conventions every command shares: `validate` reports to GitHub Actions as `plan`
//! and `build` do, and every JSON document names its schema.

use serde_json::Value;

use crate::support::{Repo, Sifbake, tree};

#[test]
fn validate_in_github_actions_annotates_each_problem_and_writes_the_step_summary() {
    let dir = tree(&[
        (
            "sifbake.yaml",
            "version: 1\ntargets:\n  base:\n    dfe: base.def\n",
        ),
        ("base.def", "Bootstrap: docker\nFrom: alpine:3.20\n"),
    ]);
    let runner = tempfile::tempdir().expect("tempdir");
    let summary = runner.path().join("summary.md");
    let run = Sifbake::new(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", dir.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .arg("validate")
        .run()
        .expect_code(2);
    let stderr = run.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("::error file=sifbake.yaml,line=4,col=5,")
                && l.contains("unknown key `dfe`")),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&summary).expect("summary");
    assert!(
        text.contains("### sifbake validate stopped: 1 error")
            && text.contains("unknown key \\`dfe\\`"),
        "{text}"
    );
}

#[test]
fn a_valid_manifest_says_so_in_the_step_summary() {
    let repo = Repo::from_examples();
    let runner = tempfile::tempdir().expect("tempdir");
    let summary = runner.path().join("summary.md");
    Sifbake::new(repo.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .arg("validate")
        .run()
        .expect_code(0);
    let text = std::fs::read_to_string(&summary).expect("summary");
    assert!(
        text.starts_with("### sifbake validate: sifbake.yaml is valid: "),
        "{text}"
    );
}

#[test]
fn validate_and_inspect_documents_name_their_schema() {
    let repo = Repo::from_examples();
    let validate = Sifbake::new(repo.path())
        .args(["validate", "--format", "json"])
        .run()
        .expect_code(0);
    let document: Value = serde_json::from_str(&validate.stdout()).expect("JSON");
    assert_eq!(document["schema"], "sifbake/validate/v1");
    let inspect = Sifbake::new(repo.path())
        .args(["inspect", "defs/base.def", "--format", "json"])
        .run()
        .expect_code(0);
    let document: Value = serde_json::from_str(&inspect.stdout()).expect("JSON");
    assert_eq!(document["schema"], "sifbake/inspect/v1");
}

#[test]
fn quiet_builds_print_errors_and_the_one_line_result_only() {
    let emulated = crate::support::Emulated::start();
    let repo = Repo::from_examples();
    let run = emulated
        .sifbake(repo.path())
        .args(["-q", "build", "--targets", "base"])
        .run()
        .expect_code(0);
    assert_eq!(run.stderr(), "", "no banner, plan, state lines or log");
    let stdout = run.stdout();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("2 built, 0 retagged in "), "{stdout}");

    let base = std::fs::read_to_string(repo.path().join("defs/base.def")).expect("base.def");
    repo.commit_files(
        "break the base",
        &[(
            "defs/base.def",
            &base.replace("# emulator: duration=2s", "# emulator: fail=\"boom\""),
        )],
    );
    let run = emulated
        .sifbake(repo.path())
        .args(["-q", "build", "--targets", "base"])
        .run()
        .expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.lines().all(|l| l.contains("FAILED")) && stderr.lines().count() == 2,
        "only the failures: {stderr}"
    );
    assert_eq!(run.stdout().lines().count(), 1, "{}", run.stdout());
}

#[test]
fn the_manifest_is_found_from_a_subfolder_of_the_repository() {
    let repo = Repo::from_examples();
    let run = Sifbake::new(&repo.path().join("defs"))
        .arg("validate")
        .run()
        .expect_code(0);
    assert!(
        run.stdout().starts_with("sifbake.yaml is valid: "),
        "{}",
        run.stdout()
    );
    Sifbake::new(&repo.path().join("defs"))
        .args(["plan", "--all"])
        .run()
        .expect_code(0);
    // Not beyond the repository: a manifest above its root belongs to another project.
    let outer = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo.path().join("sifbake.yaml"),
        outer.path().join("sifbake.yaml"),
    )
    .expect("copy");
    let nested = outer.path().join("inner");
    std::fs::create_dir_all(nested.join(".git")).expect("a repository root");
    Sifbake::new(&nested).arg("validate").run().expect_code(2);
}

#[test]
fn a_default_branch_rule_that_cannot_apply_says_why_in_the_plan() {
    let repo = Repo::from_examples();
    let run = Sifbake::new(repo.path())
        .args(["plan", "--all"])
        .run()
        .expect_code(0);
    let stdout = run.stdout();
    assert!(
        stdout.contains("the default branch is unknown")
            && stdout.contains("pass `--default-branch NAME`"),
        "{stdout}"
    );
    let run = Sifbake::new(repo.path())
        .args(["plan", "--all", "--default-branch", "main"])
        .run()
        .expect_code(0);
    assert!(
        !run.stdout().contains("the default branch is unknown"),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("latest"), "{}", run.stdout());
}

#[test]
fn sifbake_format_holds_only_what_every_command_takes() {
    let repo = Repo::from_examples();
    let matrix = Sifbake::new(repo.path())
        .env("SIFBAKE_PLAN_FORMAT", "github-matrix")
        .env("SIFBAKE_FORMAT", "json")
        .args(["plan", "--all"])
        .run()
        .expect_code(0);
    let document: Value = serde_json::from_str(&matrix.stdout()).expect("matrix JSON");
    assert!(document["include"].is_array(), "{document}");
    let json = Sifbake::new(repo.path())
        .env("SIFBAKE_FORMAT", "json")
        .args(["plan", "--all"])
        .run()
        .expect_code(0);
    let document: Value = serde_json::from_str(&json.stdout()).expect("plan JSON");
    assert_eq!(document["schema"], "sifbake/plan/v1");
    let refused = Sifbake::new(repo.path())
        .env("SIFBAKE_FORMAT", "github-matrix")
        .args(["plan", "--all"])
        .run()
        .expect_code(2);
    assert!(
        refused
            .stderr()
            .contains("SIFBAKE_PLAN_FORMAT=github-matrix"),
        "{}",
        refused.stderr()
    );
}
