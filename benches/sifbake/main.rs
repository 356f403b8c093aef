//! `cargo bench --bench sifbake`: what sifbake costs a CI runner, measured against goals.
//!
//! P1 planning at scale (git mode against `git diff`, hashing throughput, growth with the
//! number of targets), P2 the parallel makespan against the build duration and the critical
//! path, P3 the client's memory and CPU with hundreds of builds streaming logs, P4 start-up
//! time and binary size. Each figure is printed with its goal; ratios are taken within one
//! run so they hold on a noisy machine. BENCHMARKS.md holds the latest figures.
//!
//! The release binary under test is the one cargo builds for this bench
//! (`CARGO_BIN_EXE_sifbake`); the emulator runs as a separate process (this binary again,
//! in its `__emulator` role), so the client's resource usage is its own.

mod emulator;
mod figures;
mod generate;
mod measure;
mod oci;
mod p1;
mod p2;
mod p3;
mod p4;
mod sign;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use figures::Figures;

/// What to measure.
#[derive(Debug, Parser)]
#[command(
    name = "sifbake-bench",
    about = "Benchmarks of sifbake against its goals"
)]
struct Cli {
    /// Only these parts (comma-separated): p1, p2, p3, p4, oci, transfer, sign.
    #[arg(long, value_delimiter = ',', default_values_t = ["p1".to_owned(), "p2".to_owned(), "p3".to_owned(), "p4".to_owned(), "oci".to_owned(), "transfer".to_owned(), "sign".to_owned()])]
    only: Vec<String>,
    /// Smaller inputs and fewer repetitions: a smoke run in a minute or two, not figures.
    #[arg(long)]
    quick: bool,
    /// Where generated repositories go (default: a temporary directory, removed after).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Write the figures as a Markdown table to FILE as well.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // The helper roles this binary plays for itself.
    match args.get(1).map(String::as_str) {
        Some("__emulator") => return emulator::serve(),
        Some("__measure") => return measure::child(&args[2..]),
        Some(role @ ("__library_pull" | "__library_upload")) => {
            return transfer::role(role, &args[2..]);
        }
        Some("__oci_push") => return oci::push_role(&args[2..]),
        _ => {}
    }
    let cli = Cli::parse();
    match run(&cli) {
        Ok(figures) => {
            if figures.all_met() {
                ExitCode::SUCCESS
            } else {
                // A missed goal is a finding, not a crash: report it in the exit code so a
                // script notices, after every figure is printed.
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> Result<Figures, String> {
    let scratch = match &cli.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            Scratch::Kept(dir.clone())
        }
        None => Scratch::Temporary(
            tempfile::Builder::new()
                .prefix("sifbake-bench-")
                .tempdir()
                .map_err(|e| format!("cannot make a temporary directory: {e}"))?,
        ),
    };
    let work = scratch.path().to_path_buf();
    let mut figures = Figures::default();
    figures.machine();
    for part in &cli.only {
        let started = std::time::Instant::now();
        match part.as_str() {
            "p1" => p1::run(&work.join("p1"), cli.quick, &mut figures)?,
            "p2" => p2::run(&work.join("p2"), cli.quick, &mut figures)?,
            "p3" => p3::run(&work.join("p3"), cli.quick, &mut figures)?,
            "p4" => p4::run(cli.quick, &mut figures)?,
            "sign" => sign::run(&work.join("sign"), cli.quick, &mut figures)?,
            "transfer" => transfer::run(&work.join("transfer"), cli.quick, &mut figures)?,
            "oci" => oci::run(&work.join("oci"), cli.quick, &mut figures)?,
            other => {
                return Err(format!(
                    "unknown part `{other}` (use p1, p2, p3, p4, oci, transfer, sign)"
                ));
            }
        }
        eprintln!("[{part} done in {:.0?}]", started.elapsed());
    }
    figures.print_summary();
    if let Some(path) = &cli.markdown {
        std::fs::write(path, figures.markdown())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(figures)
}

/// The directory generated repositories go to.
enum Scratch {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl Scratch {
    fn path(&self) -> &std::path::Path {
        match self {
            Scratch::Kept(path) => path,
            Scratch::Temporary(dir) => dir.path(),
        }
    }
}

/// The sifbake binary under test.
fn sifbake() -> &'static str {
    env!("CARGO_BIN_EXE_sifbake")
}
