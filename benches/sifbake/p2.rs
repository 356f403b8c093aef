//! P2 makespan: independent emulated builds at once against the build duration, a
//! three-level DAG against its critical path, and the same work one build at a time.

use std::path::Path;
use std::time::Duration;

use crate::emulator::{EmulatorProcess, TOKEN};
use crate::figures::{Figure, Figures, Goal};
use crate::generate::{self, History, Spec};
use crate::measure::{Invocation, median, timed};

pub fn run(work: &Path, quick: bool, figures: &mut Figures) -> Result<(), String> {
    let emulator = EmulatorProcess::start()?;
    let (count, seconds) = if quick { (16, 1) } else { (64, 2) };
    let d = Duration::from_secs(seconds);
    let repetitions = if quick { 1 } else { 3 };

    let flat = work.join("independent");
    generate::repository(&flat, &spec("flat", vec![count], seconds))?;
    let flat_makespan = build(&emulator, &flat, count, count, repetitions)?;
    figures.record(Figure {
        part: "P2",
        name: format!("{count} independent builds of {seconds} s, --jobs {count}"),
        value: flat_makespan.as_secs_f64(),
        unit: "s",
        goal: None,
        detail: format!("median of {repetitions}: sifbake's whole run, start to exit"),
    });
    figures.record(Figure {
        part: "P2",
        name: "  makespan / d".to_owned(),
        value: flat_makespan.as_secs_f64() / d.as_secs_f64(),
        unit: "×",
        goal: Some(Goal::AtMost(1.10)),
        detail: String::new(),
    });

    let levels = if quick {
        vec![2, 6, 8]
    } else {
        vec![4, 20, 40]
    };
    let total: usize = levels.iter().sum();
    let critical = d * levels.len() as u32;
    let dag = work.join("dag");
    generate::repository(&dag, &spec("dag", levels.clone(), seconds))?;
    let makespan = build(&emulator, &dag, total, total, repetitions)?;
    figures.record(Figure {
        part: "P2",
        name: format!(
            "3-level DAG ({}) of {seconds} s builds",
            levels
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" → ")
        ),
        value: makespan.as_secs_f64(),
        unit: "s",
        goal: None,
        detail: format!("critical path {:.0} s", critical.as_secs_f64()),
    });
    figures.record(Figure {
        part: "P2",
        name: "  makespan / critical path".to_owned(),
        value: makespan.as_secs_f64() / critical.as_secs_f64(),
        unit: "×",
        goal: Some(Goal::AtMost(1.10)),
        detail: String::new(),
    });

    let sequential = build(&emulator, &flat, count, 1, 1)?;
    figures.record(Figure {
        part: "P2",
        name: format!("the same {count} builds one at a time (--jobs 1)"),
        value: sequential.as_secs_f64(),
        unit: "s",
        goal: None,
        detail: format!(
            "{:.1}× the parallel run; {:.2} s of overhead a build",
            sequential.as_secs_f64() / flat_makespan.as_secs_f64(),
            (sequential.as_secs_f64() - count as f64 * d.as_secs_f64()) / count as f64
        ),
    });
    Ok(())
}

fn spec(collection: &'static str, levels: Vec<usize>, seconds: u64) -> Spec {
    Spec {
        collection,
        levels,
        files_per_target: 0,
        file_bytes: 0,
        directive: Some(format!("duration={seconds}s")),
        git: Some(History {
            commits: 0,
            touch: 0,
        }),
    }
}

/// Runs `sifbake build --all` and checks that every image was built; returns the median
/// wall time from spawn to exit.
pub fn build(
    emulator: &EmulatorProcess,
    repo: &Path,
    images: usize,
    jobs: usize,
    repetitions: usize,
) -> Result<Duration, String> {
    let command = build_command(emulator, repo, jobs);
    let mut walls = Vec::new();
    for _ in 0..repetitions {
        let (wall, stdout) = timed(&command)?;
        check_built(&stdout, images)?;
        walls.push(wall);
    }
    Ok(median(walls))
}

pub fn build_command(emulator: &EmulatorProcess, repo: &Path, jobs: usize) -> Invocation {
    let head = generate::git(repo, &["rev-parse", "HEAD"]).unwrap_or_default();
    Invocation::new(crate::sifbake(), repo)
        .args([
            "build",
            "--all",
            "--format",
            "json",
            "--remote",
            emulator.url(),
        ])
        .args(["--jobs", &jobs.to_string()])
        .args([
            "--ref",
            "refs/heads/main",
            "--sha",
            &head,
            "--default-branch",
            "main",
        ])
        .env("SYLABS_TOKEN", TOKEN)
}

/// Fails unless the result document says every image was built.
pub fn check_built(stdout: &[u8], images: usize) -> Result<(), String> {
    let result: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| format!("result JSON: {e}"))?;
    let built = result["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|target| target["images"].as_array().into_iter().flatten())
        .filter(|image| image["status"] == "built")
        .count();
    if result["exit_code"] != 0 || built != images {
        return Err(format!(
            "expected {images} images built, the result says {built} (exit code {}): {}",
            result["exit_code"], result["counts"]
        ));
    }
    Ok(())
}
