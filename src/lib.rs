//! sifbake: build Singularity definition files on a remote build service from CI.
//!
//! Data flows one way: parse (`manifest`, `deffile`) → resolve (`graph`, `lint`) → plan →
//! execute → report. A module only uses modules to its left in that chain, plus the shared
//! vocabulary (`libref`, `diagnostic`).

pub mod changes;
pub mod cli;
pub mod commands;
pub mod context;
pub mod deffile;
pub mod diagnostic;
pub mod env;
pub mod exec;
pub mod exit;
pub mod forge;
pub mod graph;
pub mod libref;
pub mod lint;
pub mod manifest;
pub mod oci;
pub mod plan;
pub mod project;
pub mod report;
pub mod scs;
pub mod secrets;
pub mod settings;
pub mod tags;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::Output;
use crate::settings::Settings;

/// Runs sifbake with the process's arguments and environment; returns the exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(error) => {
            let _ = writeln!(
                io::stderr(),
                "error: cannot read the current directory: {error}"
            );
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let settings = Settings::resolve(
        &cli,
        cwd,
        &|name| std::env::var(name).ok(),
        settings::Terminals {
            stdout: io::stdout().is_terminal(),
            stderr: io::stderr().is_terminal(),
        },
    );
    // Buffered: stdout is line-buffered, and a plan of a thousand targets as pretty JSON
    // was 23,000 write calls. Flushed below, before the exit code is decided.
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    // Not locked for the whole run: other threads (a client's retry, a panic message) must
    // be able to write to stderr without waiting for this one to finish.
    let mut stderr = io::stderr();
    let mut output = Output {
        stdout: &mut stdout,
        stderr: &mut stderr,
        color: settings.color,
        stdout_color: settings.stdout_color,
    };
    let result = match &cli.command {
        Command::Validate(args) => commands::validate::run(&settings, args, &mut output),
        Command::Inspect(args) => commands::inspect::run(&settings, args, &mut output),
        Command::Plan(args) => commands::plan::run(&settings, args, &mut output),
        Command::Build(args) => commands::build::run(&settings, args, &mut output),
        Command::Tag(args) => commands::tag::run(&settings, args, &mut output),
        Command::Pull(args) => commands::pull::run(&settings, args, &mut output),
        Command::Key(args) => commands::key::run(&settings, args, &mut output),
        Command::Sign(args) => commands::sign::run(&settings, args, &mut output),
        Command::Verify(args) => commands::verify::run(&settings, args, &mut output),
        Command::Init(args) => commands::init::run(&settings, args, &mut output),
        Command::Completions(args) => commands::completions::completions(args, &mut output),
        Command::Man(args) => commands::completions::man(args, &mut output),
    };
    match result.and_then(|code| output.stdout.flush().map(|()| code)) {
        Ok(code) => ExitCode::from(code),
        // A closed pipe (`sifbake plan | head`) is the reader's choice, not a failure
        // (ripgrep does the same, BurntSushi/ripgrep#200).
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(exit::SUCCESS),
        Err(error) => {
            let _ = writeln!(output.stderr, "error: cannot write output: {error}");
            ExitCode::from(exit::BAD_INPUT)
        }
    }
}
