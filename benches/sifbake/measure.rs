//! Running a command and measuring it: wall time, and for the client's own cost its CPU
//! time and peak RSS.
//!
//! CPU time and peak RSS come from `getrusage(RUSAGE_CHILDREN)`, which covers every child a
//! process has waited for. So the command runs under a fresh copy of this binary (the
//! `__measure` role) whose only child it is: the figures are the command's (and the `git`
//! processes it runs), never the emulator's or an earlier command's.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

/// A command to run, with a clean environment: only PATH, HOME and what is set here, so
/// the CI variables of the machine running the bench do not change what sifbake does.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Invocation {
    pub fn new(program: impl Into<PathBuf>, dir: &Path) -> Invocation {
        Invocation {
            program: program.into(),
            args: Vec::new(),
            dir: dir.to_path_buf(),
            env: vec![("NO_COLOR".to_owned(), "1".to_owned())],
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Invocation {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.dir).env_clear();
        for key in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    fn describe(&self) -> String {
        format!("{} {}", self.program.display(), self.args.join(" "))
    }
}

/// What one run of a command took.
#[derive(Clone, Debug)]
pub struct Usage {
    pub wall: Duration,
    pub cpu: Duration,
    pub max_rss_kib: u64,
    pub stdout: Vec<u8>,
}

/// Runs a command, timing it from spawn to exit; fails unless it exits 0.
pub fn timed(invocation: &Invocation) -> Result<(Duration, Vec<u8>), String> {
    let mut command = invocation.command(&invocation.program);
    command.args(&invocation.args).stdin(Stdio::null());
    let started = Instant::now();
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", invocation.describe()))?;
    let wall = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}):\n{}",
            invocation.describe(),
            output.status,
            tail(&output.stderr)
        ));
    }
    Ok((wall, output.stdout))
}

/// Runs a command under the `__measure` role; fails unless it exits 0. Its stderr goes to
/// `stderr_to` (a build's logs can be large).
pub fn measured(invocation: &Invocation, stderr_to: &Path) -> Result<Usage, String> {
    let report = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let stderr = std::fs::File::create(stderr_to)
        .map_err(|e| format!("cannot create {}: {e}", stderr_to.display()))?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = invocation.command(&me);
    command
        .arg("__measure")
        .arg(report.path())
        .arg(&invocation.program)
        .args(&invocation.args)
        .stdin(Stdio::null())
        .stderr(stderr);
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", invocation.describe()))?;
    if !output.status.success() {
        let log = std::fs::read(stderr_to).unwrap_or_default();
        return Err(format!(
            "{} failed ({}):\n{}",
            invocation.describe(),
            output.status,
            tail(&log)
        ));
    }
    let text = std::fs::read_to_string(report.path()).map_err(|e| e.to_string())?;
    let numbers: Vec<u64> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [wall, cpu, max_rss_kib] = numbers[..] else {
        return Err(format!("the measuring process wrote `{text}`"));
    };
    Ok(Usage {
        wall: Duration::from_nanos(wall),
        cpu: Duration::from_nanos(cpu),
        max_rss_kib,
        stdout: output.stdout,
    })
}

/// The `__measure REPORT PROGRAM ARGS...` role: runs PROGRAM as this process's only child,
/// writes `wall-ns cpu-ns max-rss-kib` to REPORT, and exits with PROGRAM's code.
pub fn child(args: &[String]) -> ExitCode {
    let [report, program, rest @ ..] = args else {
        eprintln!("usage: __measure REPORT PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    let status = match Command::new(program).args(rest).status() {
        Ok(status) => status,
        Err(error) => {
            eprintln!("cannot run {program}: {error}");
            return ExitCode::from(2);
        }
    };
    let wall = started.elapsed();
    let usage = match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(usage) => usage,
        Err(error) => {
            eprintln!("getrusage: {error}");
            return ExitCode::from(2);
        }
    };
    let nanos = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_usec()).unwrap_or(0) * 1_000
    };
    let cpu = nanos(usage.user_time()) + nanos(usage.system_time());
    // Linux reports ru_maxrss in KiB.
    let line = format!("{} {cpu} {}\n", wall.as_nanos(), usage.max_rss());
    if let Err(error) = std::fs::write(report, line) {
        eprintln!("cannot write {report}: {error}");
        return ExitCode::from(2);
    }
    match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    }
}

/// Median of some durations.
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The last lines of a command's output, for an error.
pub fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The turns of `runs` head-to-head rounds, as `(round, sifbake's turn)`: who goes first
/// alternates, so a page cache warmed by the first favours neither side.
pub fn turns(runs: usize) -> impl Iterator<Item = (usize, bool)> {
    (0..runs).flat_map(|run| {
        let order = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        order.map(|sifbake| (run, sifbake))
    })
}

/// The median of `f` over the runs (the upper one of an even count).
pub fn median_by(values: &[Usage], f: impl Fn(&Usage) -> f64) -> f64 {
    let mut all: Vec<f64> = values.iter().map(f).collect();
    all.sort_by(f64::total_cmp);
    all[all.len() / 2]
}
