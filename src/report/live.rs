//! The live view on a terminal: one line per image showing what it is doing now (queued,
//! waiting, uploading, building for how long, with its latest log line), finished lines
//! printed above. Only on a terminal outside CI; logs in CI get plain lines instead.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exec::JobId;

/// What an image is doing, as the live view shows it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Activity {
    Queued,
    Uploading,
    /// Submitted at `since` (time into the run); `last_line` is its latest log line.
    Building {
        since: Duration,
        last_line: String,
    },
    /// Following the build's status after the log stream was lost.
    Polling {
        since: Duration,
    },
}

/// Returns the status text of an image at time `now` into the run.
pub fn activity_text(activity: &Activity, now: Duration) -> String {
    match activity {
        Activity::Queued => "queued".to_owned(),
        Activity::Uploading => "uploading the build context".to_owned(),
        Activity::Building { since, last_line } => {
            let elapsed = super::build::seconds(now.saturating_sub(*since));
            if last_line.is_empty() {
                format!("building {elapsed}")
            } else {
                format!("building {elapsed}  {}", truncate(last_line, 60))
            }
        }
        Activity::Polling { since } => {
            format!(
                "building {} (log stream lost; polling)",
                super::build::seconds(now.saturating_sub(*since))
            )
        }
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

struct Row {
    bar: ProgressBar,
    activity: Activity,
}

/// The bars of a run.
pub struct LiveView {
    multi: MultiProgress,
    rows: BTreeMap<JobId, Row>,
    style: ProgressStyle,
}

impl LiveView {
    /// Returns a view drawing on stderr.
    pub fn new() -> Self {
        let style = ProgressStyle::with_template("{spinner} {prefix:<28} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        LiveView {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            rows: BTreeMap::new(),
            style,
        }
    }

    /// Adds an image's row.
    pub fn add(&mut self, job: JobId, label: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(self.style.clone());
        bar.set_prefix(label.to_owned());
        bar.set_message("queued");
        self.rows.insert(
            job,
            Row {
                bar,
                activity: Activity::Queued,
            },
        );
    }

    /// Changes what an image is doing.
    pub fn set(&mut self, job: JobId, activity: Activity, now: Duration) {
        if let Some(row) = self.rows.get_mut(&job) {
            row.bar.set_message(activity_text(&activity, now));
            row.activity = activity;
        }
    }

    /// Notes an image's latest log output.
    pub fn log(&mut self, job: JobId, chunk: &str, now: Duration) {
        let Some(row) = self.rows.get_mut(&job) else {
            return;
        };
        if let Activity::Building { last_line, .. } = &mut row.activity
            && let Some(line) = chunk.lines().rev().map(str::trim).find(|l| !l.is_empty())
        {
            *last_line = line.to_owned();
            row.bar.set_message(activity_text(&row.activity, now));
        }
    }

    /// Removes an image's row and prints its final line above the view.
    pub fn finish(&mut self, job: JobId, line: &str) {
        if let Some(row) = self.rows.remove(&job) {
            row.bar.finish_and_clear();
            self.multi.remove(&row.bar);
        }
        self.println(line);
    }

    /// Prints a line above the view.
    pub fn println(&self, line: &str) {
        // Printing fails only when stderr is gone; the run goes on regardless.
        let _ = self.multi.println(line);
    }

    /// Advances spinners and elapsed times.
    pub fn tick(&mut self, now: Duration) {
        for row in self.rows.values() {
            row.bar.set_message(activity_text(&row.activity, now));
            row.bar.tick();
        }
    }

    /// Clears what is left of the view.
    pub fn clear(&mut self) {
        for (_, row) in std::mem::take(&mut self.rows) {
            row.bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

impl Default for LiveView {
    fn default() -> Self {
        LiveView::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_texts() {
        let now = Duration::from_secs(75);
        assert_eq!(activity_text(&Activity::Queued, now), "queued");
        assert_eq!(
            activity_text(
                &Activity::Building {
                    since: Duration::from_secs(15),
                    last_line: String::new()
                },
                now
            ),
            "building 1m00s"
        );
        let long = "x".repeat(100);
        let text = activity_text(
            &Activity::Building {
                since: Duration::from_secs(70),
                last_line: long,
            },
            now,
        );
        assert!(
            text.starts_with("building 5.0s  xxx")
                && text.ends_with('…')
                && text.chars().count() < 80,
            "{text}"
        );
        assert_eq!(
            activity_text(
                &Activity::Polling {
                    since: Duration::from_secs(74)
                },
                now
            ),
            "building 1.0s (log stream lost; polling)"
        );
    }
}
