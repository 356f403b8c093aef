//! Figures as they are measured: printed at once, then summarised as a table.

use std::fmt::Write as _;
use std::process::Command;

/// Which way a goal points.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtMost(limit) => value <= limit,
            Goal::AtLeast(limit) => value >= limit,
        }
    }

    fn describe(self, unit: &str) -> String {
        match self {
            Goal::AtMost(limit) => format!("≤ {}", show(limit, unit)),
            Goal::AtLeast(limit) => format!("≥ {}", show(limit, unit)),
        }
    }
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Figure {
    pub part: &'static str,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub goal: Option<Goal>,
    pub detail: String,
}

/// Everything measured in one run, with the machine it ran on.
#[derive(Debug, Default)]
pub struct Figures {
    figures: Vec<Figure>,
    machine: Vec<(String, String)>,
}

impl Figures {
    /// Records the machine: CPU, cores, memory, kernel, compiler.
    pub fn machine(&mut self) {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or("unknown".to_owned(), |(_, name)| name.trim().to_owned());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or("unknown".to_owned(), |kib| {
                format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0)
            });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".to_owned(), |s| s.trim().to_owned());
        let rustc = Command::new("rustc")
            .arg("-V")
            .output()
            .ok()
            .map_or("unknown".to_owned(), |o| {
                String::from_utf8_lossy(&o.stdout).trim().to_owned()
            });
        let git = Command::new("git")
            .arg("--version")
            .output()
            .ok()
            .map_or("unknown".to_owned(), |o| {
                String::from_utf8_lossy(&o.stdout).trim().to_owned()
            });
        for (key, value) in [
            ("cpu", format!("{cpu} ({cores} cores available)")),
            ("memory", memory),
            ("kernel", kernel),
            ("compiler", rustc),
            ("git", git),
        ] {
            eprintln!("{key:>8}: {value}");
            self.machine.push((key.to_owned(), value));
        }
    }

    /// Records a figure and prints it.
    pub fn record(&mut self, figure: Figure) {
        let verdict = match figure.goal {
            Some(goal) if goal.met(figure.value) => {
                format!("goal {} met", goal.describe(figure.unit))
            }
            Some(goal) => format!("goal {} MISSED", goal.describe(figure.unit)),
            None => String::new(),
        };
        eprintln!(
            "{} {:<48} {:>12}  {verdict}",
            figure.part,
            figure.name,
            show(figure.value, figure.unit)
        );
        if !figure.detail.is_empty() {
            eprintln!("   {}", figure.detail);
        }
        self.figures.push(figure);
    }

    /// Returns true when every figure with a goal meets it.
    pub fn all_met(&self) -> bool {
        self.figures
            .iter()
            .all(|f| f.goal.is_none_or(|goal| goal.met(f.value)))
    }

    /// Prints the goals' tally.
    pub fn print_summary(&self) {
        let with_goal: Vec<&Figure> = self.figures.iter().filter(|f| f.goal.is_some()).collect();
        let met = with_goal
            .iter()
            .filter(|f| f.goal.is_some_and(|g| g.met(f.value)))
            .count();
        eprintln!("\n{met} of {} goals met", with_goal.len());
    }

    /// The figures as a Markdown table, with the machine.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.machine {
            let _ = writeln!(out, "- {key}: {value}");
        }
        out.push('\n');
        out.push_str("| | figure | value | goal | |\n|---|---|---:|---|---|\n");
        for figure in &self.figures {
            let (goal, verdict) = match figure.goal {
                Some(goal) if goal.met(figure.value) => (goal.describe(figure.unit), "met"),
                Some(goal) => (goal.describe(figure.unit), "**missed**"),
                None => (String::new(), ""),
            };
            let detail = if figure.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", figure.detail)
            };
            let _ = writeln!(
                out,
                "| {} | {}{detail} | {} | {goal} | {verdict} |",
                figure.part,
                figure.name,
                show(figure.value, figure.unit)
            );
        }
        out
    }
}

/// A value with its unit, rounded for reading.
pub fn show(value: f64, unit: &str) -> String {
    match unit {
        "×" => format!("{value:.2}×"),
        "%" => format!("{value:.1} %"),
        "ms" if value < 10.0 => format!("{value:.2} ms"),
        "ms" => format!("{value:.0} ms"),
        "s" => format!("{value:.2} s"),
        "GB/s" => format!("{value:.2} GB/s"),
        "MiB" => format!("{value:.1} MiB"),
        "MB" => format!("{value:.1} MB"),
        "µs/target" => format!("{value:.0} µs/target"),
        _ => format!("{value:.2} {unit}"),
    }
}
