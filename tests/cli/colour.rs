//! Colour only where a terminal shows it: under nektos/act the terminal is read as a text
//! log, and the plan table on stdout follows stdout's own terminal. `script` (util-linux)
//! gives the run a real pseudo-terminal.

use std::process::Command;

use crate::support::repo_root;

/// Runs `sifbake plan` on examples/ on a pseudo-terminal; returns what it showed.
fn plan_on_a_terminal(vars: &[(&str, &str)]) -> Option<String> {
    let sifbake = assert_cmd::cargo::cargo_bin("sifbake");
    let command = format!(
        "{} plan -C examples --default-branch main",
        sifbake.display()
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(repo_root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("TERM", "xterm")
        .envs(vars.iter().copied())
        .output()
        .ok()?;
    assert!(output.status.success(), "{output:?}");
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn a_terminal_under_act_gets_no_escape_codes() {
    let Some(plain) = plan_on_a_terminal(&[]) else {
        let required = std::env::var("SIFBAKE_REQUIRE_EXTERNAL_TOOLS").is_ok_and(|v| v == "1");
        assert!(!required, "`script` (util-linux) is required but missing");
        eprintln!("note: `script` is not installed; skipping");
        return;
    };
    // The control: on a terminal the table is coloured.
    assert!(plain.contains('\u{1b}'), "{plain}");
    let act = plan_on_a_terminal(&[("ACT", "true")]).expect("script ran once");
    assert!(!act.contains('\u{1b}'), "{act}");
    assert!(act.contains("TARGET"), "{act}");
    let no_color = plan_on_a_terminal(&[("NO_COLOR", "1")]).expect("script ran once");
    assert!(!no_color.contains('\u{1b}'), "{no_color}");
}
