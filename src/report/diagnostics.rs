//! Diagnostics for people: miette's snippet rendering, coloured or not.

use crate::diagnostic::{Diagnostic, Severity};

/// Renders diagnostics one after another, errors and warnings alike, each with its file,
/// line and column, a snippet with the place marked, and its hint.
pub fn render(diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_context_lines(1);
    let mut out = String::new();
    for diagnostic in diagnostics {
        if handler.render_report(&mut out, diagnostic).is_err() {
            // Rendering into a String cannot fail for I/O reasons; fall back to one line.
            out.push_str(&one_line(diagnostic));
        }
        out.push('\n');
    }
    out
}

/// Renders a diagnostic as `severity: file:line:col: message (hint)`, for logs.
pub fn one_line(diagnostic: &Diagnostic) -> String {
    let severity = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let location = diagnostic
        .location
        .as_ref()
        .map(|l| format!("{l}: "))
        .unwrap_or_default();
    let help = diagnostic
        .help
        .as_ref()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default();
    format!("{severity}: {location}{}{help}\n", diagnostic.message)
}

/// Returns "1 error" / "2 errors, 1 warning" for a closing line.
pub fn count_summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(super::plural(errors, "error"));
    }
    if warnings > 0 {
        parts.push(super::plural(warnings, "warning"));
    }
    parts.join(", ")
}
