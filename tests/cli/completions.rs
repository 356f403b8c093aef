//! `sifbake completions` and `sifbake man`, as a user installs them.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{Sifbake, repo_root};

/// Runs bash's completion of `words` (the last one being completed) with the script
/// sifbake printed; returns what bash offers.
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; \
         COMP_POINT=${{#COMP_LINE}}; _sifbake sifbake '{current}' '{previous}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" "),
        cword = words.len() - 1,
        line = words.join(" "),
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let mut child = Command::new("bash")
        .arg("--norc")
        .arg("-s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("bash");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(program.as_bytes())
        .expect("write to bash");
    let output = child.wait_with_output().expect("bash ends");
    assert!(output.status.success(), "bash failed: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_and_flags_with_the_printed_script() {
    let run = Sifbake::new(&repo_root())
        .args(["completions", "bash"])
        .run()
        .expect_code(0);
    let script = run.stdout();
    assert_eq!(bash_complete(&script, &["sifbake", "bu"]), ["build"]);
    let flags = bash_complete(&script, &["sifbake", "build", "--em"]);
    assert_eq!(flags, ["--emulate", "--emulate-dir"]);
    let shells = bash_complete(&script, &["sifbake", "completions", "p"]);
    assert_eq!(shells, ["powershell"]);
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_refused() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = Sifbake::new(&repo_root())
            .args(["completions", shell])
            .run()
            .expect_code(0);
        assert!(run.stdout().contains("sifbake"), "{shell}");
    }
    let run = Sifbake::new(&repo_root())
        .args(["completions", "tcsh"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("possible values: bash, elvish, fish, powershell, zsh")
    );
}

#[test]
fn man_prints_a_page_and_writes_one_per_command() {
    let run = Sifbake::new(&repo_root())
        .args(["man"])
        .run()
        .expect_code(0);
    assert!(run.stdout().contains(".TH sifbake 1"));
    let dir = tempfile::tempdir().expect("temp dir");
    Sifbake::new(&repo_root())
        .arg("man")
        .arg("--out-dir")
        .arg(dir.path())
        .run()
        .expect_code(0);
    for command in [
        "validate",
        "inspect",
        "plan",
        "build",
        "tag",
        "completions",
        "man",
    ] {
        let page = std::fs::read_to_string(dir.path().join(format!("sifbake-{command}.1")))
            .unwrap_or_else(|e| panic!("sifbake-{command}.1: {e}"));
        assert!(
            page.contains(&format!(".TH sifbake-{command} 1")),
            "{command}"
        );
    }
}
