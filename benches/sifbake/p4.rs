//! P4 start-up and size: `sifbake --version` wall time, and the release binary's size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::figures::{Figure, Figures, Goal};
use crate::measure::{Invocation, median, timed};

pub fn run(quick: bool, figures: &mut Figures) -> Result<(), String> {
    let binary = release_binary()?;
    let runs = if quick { 30 } else { 300 };
    let here = std::env::temp_dir();
    let version = Invocation::new(&binary, &here).args(["--version"]);
    // What any process costs to start here: the floor under the figure.
    let floor = Invocation::new("true", &here);
    timed(&version)?;
    let mut versions = Vec::new();
    let mut floors = Vec::new();
    for _ in 0..runs {
        versions.push(timed(&version)?.0);
        floors.push(timed(&floor)?.0);
    }
    let wall = median(versions);
    figures.record(Figure {
        part: "P4",
        name: "sifbake --version, wall time".to_owned(),
        value: millis(wall),
        unit: "ms",
        goal: Some(Goal::AtMost(5.0)),
        detail: format!(
            "median of {runs}, spawn to exit; `true` takes {:.2} ms here",
            millis(median(floors))
        ),
    });
    let size = std::fs::metadata(&binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    figures.record(Figure {
        part: "P4",
        name: "release binary size".to_owned(),
        value: size as f64 / 1e6,
        unit: "MB",
        goal: Some(Goal::AtMost(15.0)),
        detail: format!("{} bytes, stripped, with the embedded emulator", size),
    });
    Ok(())
}

/// The binary `cargo build --release` makes. Not the one built for this bench: a bench
/// build turns on the dev-dependencies' features (tokio's test clock, …) in the binary too.
/// Built in a target directory of its own so the two do not overwrite each other.
fn release_binary() -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = workspace.join("target").join("bench-release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("P4: cargo build --release --bin sifbake (into target/bench-release)…");
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--bin",
            "sifbake",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --release failed ({status})"));
    }
    Ok(target_dir.join("release").join("sifbake"))
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
