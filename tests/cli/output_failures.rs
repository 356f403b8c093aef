//! A report or log that cannot be written after the builds: the path and the system's error
//! are named, the builds' exit code is kept (or 4 when they all succeeded), and the result
//! document still reaches stdout.

use serde_json::Value;

use crate::support::{Emulated, Repo};

/// A repository with one quick target named `name` (its ref named separately: a target name
/// may be longer than a library's container name).
fn one_target(name: &str, fail: bool) -> Repo {
    let repo = Repo::empty();
    let directive = if fail {
        "# emulator: fail=\"disk on fire\"\n"
    } else {
        ""
    };
    repo.commit_files(
        "one target",
        &[
            (
                "sifbake.yaml",
                &format!(
                    "version: 1\ntargets:\n  {name}:\n    def: base.def\n    ref: library://acme/tools/base\n"
                ),
            ),
            (
                "base.def",
                &format!("{directive}Bootstrap: docker\nFrom: alpine:3.20\n"),
            ),
        ],
    );
    repo
}

fn document(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: the result document: {stdout}"))
}

#[test]
fn a_junit_report_on_a_full_disk_is_named_with_its_errno_and_the_result_is_kept() {
    let emulated = Emulated::start();
    let repo = one_target("base", false);
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--format", "json", "--junit", "/dev/full"])
        .run()
        .expect_code(4);
    let stderr = run.stderr();
    assert!(
        stderr.contains("error: cannot write the JUnit report `/dev/full`: ")
            && stderr.contains("(os error 28)"),
        "{stderr}"
    );
    let result = document(&run.stdout());
    assert_eq!(result["counts"]["built"], 1, "{result}");
}

#[test]
fn a_dotenv_that_cannot_be_created_keeps_the_build_s_own_exit_code() {
    let emulated = Emulated::start();
    let repo = one_target("base", true);
    let reports = tempfile::tempdir().expect("tempdir");
    // Its directory is a file: no one, root included, can create it.
    let file = reports.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let dotenv = file.join("sifbake.env");
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--format", "json", "--dotenv"])
        .arg(&dotenv)
        .run()
        .expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!(
            "error: cannot write the dotenv report `{}`: ",
            dotenv.display()
        )) && stderr.contains("(os error 17)"),
        "{stderr}"
    );
    let result = document(&run.stdout());
    assert_eq!(result["counts"]["failed"], 1, "{result}");
}

#[test]
fn a_log_file_name_too_long_for_the_file_system_is_named_and_the_build_goes_on() {
    let emulated = Emulated::start();
    let name = "t".repeat(250);
    let repo = one_target(&name, false);
    let logs = tempfile::tempdir().expect("tempdir");
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--format", "json", "--log-dir"])
        .arg(logs.path())
        .run()
        .expect_code(4);
    let stderr = run.stderr();
    let path = logs.path().join(format!("{name}-amd64.log"));
    assert!(
        stderr.contains(&format!(
            "error: cannot write the build log of `{name}` (amd64) `{}`: ",
            path.display()
        )) && stderr.contains("(os error 36)"),
        "{stderr}"
    );
    let result = document(&run.stdout());
    assert_eq!(
        result["counts"]["built"], 1,
        "the build itself succeeded: {result}"
    );
}
