//! GitHub Actions annotations: `::error file=…,line=…,col=…,title=…::message` lines that the
//! runner turns into marks on the file in the pull request and the run's page.
//!
//! The runner shows at most 10 errors, 10 warnings and 10 notices per step (actions/toolkit
//! `docs/problem-matchers.md`, CRATES.md §7); the rest are dropped silently. [`Annotator`]
//! counts per level and keeps what it could not show, so the step summary can list it.

use std::io::{self, Write};

use crate::diagnostic::{Diagnostic, Severity};

use super::ci::workflow_command;

/// How many annotations of one level the runner shows per step.
pub const PER_STEP_LIMIT: usize = 10;

/// An annotation's level, as the workflow command names it.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    /// Returns the workflow command: `error`, `warning` or `notice`.
    pub fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }

    fn index(self) -> usize {
        match self {
            Level::Error => 0,
            Level::Warning => 1,
            Level::Notice => 2,
        }
    }
}

/// One annotation. `file` is relative to the repository (`GITHUB_WORKSPACE`), so the runner
/// links it to the file.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Annotation {
    pub level: Level,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The column after the marked text, when it is on one line.
    pub end_column: Option<usize>,
    pub title: String,
    pub message: String,
}

impl Annotation {
    /// Returns the annotation of a manifest or definition-file problem. `path` turns the
    /// diagnostic's file name (as shown to the user) into a repository-relative path.
    pub fn from_diagnostic(diagnostic: &Diagnostic, path: &dyn Fn(&str) -> String) -> Self {
        let level = match diagnostic.severity {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
        };
        let mut message = diagnostic.message.clone();
        if let Some(help) = &diagnostic.help {
            message.push_str("\nhint: ");
            message.push_str(help);
        }
        let location = diagnostic.location.as_ref();
        let end_column = location.and_then(|l| {
            let marked = l.source.text.get(l.offset..l.offset + l.len)?;
            (!marked.is_empty() && !marked.contains('\n'))
                .then(|| l.column + marked.chars().count())
        });
        Annotation {
            level,
            file: location.map(|l| path(&l.source.name)),
            line: location.map(|l| l.line),
            column: location.map(|l| l.column),
            end_column,
            title: format!("sifbake: {}", diagnostic.code),
            message,
        }
    }

    /// Returns the annotation of an image that failed or timed out. `def` is the target's
    /// definition file, relative to the repository: the annotation marks the file.
    pub fn failed_image(
        target: &str,
        arch: &str,
        status: &str,
        reason: &str,
        def: Option<String>,
    ) -> Self {
        let what = if status == "timed-out" {
            "timed out"
        } else {
            "failed"
        };
        Annotation {
            level: Level::Error,
            file: def,
            line: None,
            column: None,
            end_column: None,
            title: format!("sifbake: {target} ({arch}) {what}"),
            message: reason.to_owned(),
        }
    }

    /// Returns the annotation of a report or log sifbake could not write.
    pub fn output_failure(message: &str) -> Self {
        Annotation {
            level: Level::Error,
            file: None,
            line: None,
            column: None,
            end_column: None,
            title: "sifbake: an output could not be written".to_owned(),
            message: message.to_owned(),
        }
    }

    /// Returns the workflow command, escaped as the runner requires.
    pub fn command(&self) -> String {
        let mut properties: Vec<(&str, String)> = Vec::new();
        if let Some(file) = &self.file {
            properties.push(("file", file.clone()));
        }
        if let Some(line) = self.line {
            properties.push(("line", line.to_string()));
        }
        if let Some(column) = self.column {
            properties.push(("col", column.to_string()));
        }
        if let Some(end) = self.end_column {
            properties.push(("endColumn", end.to_string()));
        }
        properties.push(("title", self.title.clone()));
        workflow_command(self.level.command(), &properties, &self.message)
    }

    /// Returns the annotation as one line of text: `file:line:col: title: message`.
    pub fn one_line(&self) -> String {
        let mut place = String::new();
        if let Some(file) = &self.file {
            place.push_str(file);
            for number in [self.line, self.column].into_iter().flatten() {
                place.push_str(&format!(":{number}"));
            }
            place.push_str(": ");
        }
        format!(
            "{place}{}: {}",
            self.title,
            self.message.replace(['\r', '\n'], " ")
        )
    }
}

/// Writes annotations up to the runner's limit per level, and keeps the others.
#[derive(Debug, Default)]
pub struct Annotator {
    shown: [usize; 3],
    overflow: Vec<Annotation>,
}

impl Annotator {
    /// Returns an annotator that has shown nothing yet.
    pub fn new() -> Self {
        Annotator::default()
    }

    /// Writes the annotation as a workflow command line, or keeps it when its level has
    /// reached [`PER_STEP_LIMIT`].
    pub fn emit(&mut self, out: &mut dyn Write, annotation: Annotation) -> io::Result<()> {
        let shown = &mut self.shown[annotation.level.index()];
        if *shown >= PER_STEP_LIMIT {
            self.overflow.push(annotation);
            return Ok(());
        }
        *shown += 1;
        writeln!(out, "{}", annotation.command())
    }

    /// Returns the annotations that were not shown, in the order they came.
    pub fn overflow(&self) -> &[Annotation] {
        &self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Location, SourceFile};

    #[test]
    fn a_diagnostic_becomes_an_error_on_its_file_line_and_columns() {
        let source = SourceFile::new("sifbake.yaml", "version: 1\ntargetz: {}\n");
        let diagnostic = Diagnostic::error("manifest::unknown-key", "unknown key `targetz`")
            .at(Location::new(&source, 11, 7))
            .help("did you mean `targets`?");
        let annotation =
            Annotation::from_diagnostic(&diagnostic, &|name| format!("examples/{name}"));
        assert_eq!(
            annotation.command(),
            "::error file=examples/sifbake.yaml,line=2,col=1,endColumn=8,title=sifbake%3A manifest%3A%3Aunknown-key::unknown key `targetz`%0Ahint: did you mean `targets`?"
        );
        let warning = Diagnostic::warning("lint::unused-arg", "100% unused, a, b");
        assert_eq!(
            Annotation::from_diagnostic(&warning, &|name| name.to_owned()).command(),
            "::warning title=sifbake%3A lint%3A%3Aunused-arg::100%25 unused, a, b"
        );
    }

    #[test]
    fn properties_and_messages_are_escaped() {
        let annotation = Annotation::failed_image(
            "odd,name",
            "amd64",
            "failed",
            "line one\r\nline two: 50%",
            Some("defs/a:b,c.def".to_owned()),
        );
        assert_eq!(
            annotation.command(),
            "::error file=defs/a%3Ab%2Cc.def,title=sifbake%3A odd%2Cname (amd64) failed::line one%0D%0Aline two: 50%25"
        );
        let timed_out = Annotation::failed_image("r", "arm64", "timed-out", "after 1h", None);
        assert_eq!(
            timed_out.command(),
            "::error title=sifbake%3A r (arm64) timed out::after 1h"
        );
        assert_eq!(
            timed_out.one_line(),
            "sifbake: r (arm64) timed out: after 1h"
        );
    }

    #[test]
    fn ten_per_level_are_shown_and_the_rest_kept() {
        let mut annotator = Annotator::new();
        let mut out = Vec::new();
        for index in 0..12 {
            let annotation =
                Annotation::failed_image(&format!("t{index}"), "amd64", "failed", "no", None);
            annotator.emit(&mut out, annotation).expect("emit");
        }
        let warning = Annotation {
            level: Level::Warning,
            ..Annotation::failed_image("w", "amd64", "failed", "careful", None)
        };
        annotator.emit(&mut out, warning).expect("emit");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.matches("::error ").count(), 10);
        assert_eq!(text.matches("::warning ").count(), 1);
        let kept: Vec<&str> = annotator
            .overflow()
            .iter()
            .map(|a| a.title.as_str())
            .collect();
        assert_eq!(
            kept,
            ["sifbake: t10 (amd64) failed", "sifbake: t11 (amd64) failed"]
        );
        assert_eq!(
            annotator.overflow()[0].one_line(),
            "sifbake: t10 (amd64) failed: no"
        );
    }
}
