//! P3 in flight: hundreds of builds at once, each streaming about 1 MB of log, and what the
//! client spends on them: peak RSS and CPU time against wall time.

use std::path::Path;

use crate::emulator::EmulatorProcess;
use crate::figures::{Figure, Figures, Goal};
use crate::generate::{self, History, Spec};
use crate::measure::measured;
use crate::p2::{build_command, check_built};

/// Log bytes each build streams.
const LOG_BYTES: u64 = 1_000_000;

pub fn run(work: &Path, quick: bool, figures: &mut Figures) -> Result<(), String> {
    let emulator = EmulatorProcess::start()?;
    let (count, seconds) = if quick { (32, 5) } else { (256, 30) };
    let repo = work.join("in-flight");
    generate::repository(
        &repo,
        &Spec {
            collection: "flight",
            levels: vec![count],
            files_per_target: 0,
            file_bytes: 0,
            directive: Some(format!("duration={seconds}s log-bytes={LOG_BYTES}")),
            git: Some(History {
                commits: 0,
                touch: 0,
            }),
        },
    )?;
    let logs = work.join("logs");
    let command =
        build_command(&emulator, &repo, count).args(["--log-dir", &logs.display().to_string()]);
    let usage = measured(&command, &work.join("stderr.log"))?;
    check_built(&usage.stdout, count)?;
    let logged: u64 = std::fs::read_dir(&logs)
        .map_err(|e| format!("{}: {e}", logs.display()))?
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|metadata| metadata.len())
        .sum();
    if logged < count as u64 * LOG_BYTES {
        return Err(format!(
            "the logs hold {logged} bytes, fewer than the {} streamed",
            count as u64 * LOG_BYTES
        ));
    }
    let detail = format!(
        "{count} builds of {seconds} s at once, {:.0} MB of log received and written to --log-dir, wall {:.1} s",
        logged as f64 / 1e6,
        usage.wall.as_secs_f64()
    );
    figures.record(Figure {
        part: "P3",
        name: "client peak RSS".to_owned(),
        value: usage.max_rss_kib as f64 / 1024.0,
        unit: "MiB",
        goal: Some(Goal::AtMost(64.0)),
        detail: detail.clone(),
    });
    figures.record(Figure {
        part: "P3",
        name: "client CPU time / wall time".to_owned(),
        value: usage.cpu.as_secs_f64() / usage.wall.as_secs_f64() * 100.0,
        unit: "%",
        goal: Some(Goal::AtMost(10.0)),
        detail: format!("{:.2} s of CPU (user + system)", usage.cpu.as_secs_f64()),
    });
    Ok(())
}
