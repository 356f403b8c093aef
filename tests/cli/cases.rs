//! Each directory under `tests/cases/` is a repository tree plus an `expect` file:
//!
//! ```text
//! args: validate              # the command line (split on spaces); default `validate`
//! exit: 2                     # the exit code
//! stderr: sifbake.yaml:7:5    # a line of text stderr must contain (any number)
//! stdout: ...                 # a line of text stdout must contain (any number)
//! ```
//!
//! A new case needs no Rust: add a directory.

use std::fs;

use crate::support::{Sifbake, repo_root};

struct Expectation {
    args: Vec<String>,
    exit: i32,
    stderr: Vec<String>,
    stdout: Vec<String>,
}

fn read_expectation(text: &str) -> Expectation {
    let mut expectation = Expectation {
        args: vec!["validate".to_owned()],
        exit: 0,
        stderr: Vec::new(),
        stdout: Vec::new(),
    };
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line.split_once(':').expect("`key: value` lines");
        let value = value.trim().to_owned();
        match key.trim() {
            "args" => expectation.args = value.split_whitespace().map(str::to_owned).collect(),
            "exit" => expectation.exit = value.parse().expect("exit code"),
            "stderr" => expectation.stderr.push(value),
            "stdout" => expectation.stdout.push(value),
            other => panic!("unknown expect key `{other}`"),
        }
    }
    expectation
}

#[test]
fn every_case_behaves_as_expected() {
    let cases_dir = repo_root().join("tests/cases");
    let mut names: Vec<_> = fs::read_dir(&cases_dir)
        .expect("tests/cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    // RELIABILITY.md promises at least 40 hostile inputs here; there are over 100.
    assert!(
        names.len() >= 100,
        "expected at least 100 cases, found {}",
        names.len()
    );
    let mut failures = Vec::new();
    for case in &names {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let expect = fs::read_to_string(case.join("expect"))
            .unwrap_or_else(|e| panic!("{name}/expect: {e}"));
        let expectation = read_expectation(&expect);
        let run = Sifbake::new(case).args(&expectation.args).run();
        let (stdout, stderr) = (run.stdout(), run.stderr());
        let mut problems = Vec::new();
        if run.code() != expectation.exit {
            problems.push(format!(
                "exit code {} (expected {})",
                run.code(),
                expectation.exit
            ));
        }
        for wanted in &expectation.stderr {
            if !stderr.contains(wanted.as_str()) {
                problems.push(format!("stderr lacks `{wanted}`"));
            }
        }
        for wanted in &expectation.stdout {
            if !stdout.contains(wanted.as_str()) {
                problems.push(format!("stdout lacks `{wanted}`"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "case {name}: {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
