//! Turning results into text and documents. Reporters format; they never change an outcome.

use std::io::{self, Write};

pub mod annotations;
pub mod build;
pub mod built_refs;
pub mod ci;
pub mod diagnostics;
pub mod dotenv;
pub mod failure;
pub mod github;
pub mod junit;
pub mod live;
pub mod logs;
pub mod metadata;
pub mod mirrors;
pub mod outputs;
pub mod plan;
pub mod plan_jobs;
pub mod pr_comment;
pub mod reading;
pub mod result;
pub mod step_summary;

/// Writes rows with columns padded to their widest cell.
pub fn write_table<const N: usize>(
    out: &mut dyn Write,
    header: &[String; N],
    rows: &[[String; N]],
) -> io::Result<()> {
    let mut widths = header.each_ref().map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
            if column + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Returns "1 target" / "2 targets".
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Joins names as "a, b, and c" with each name in backticks.
pub fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(plural(1, "target"), "1 target");
        assert_eq!(plural(0, "target"), "0 targets");
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b"]), "`a` and `b`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b`, and `c`");
    }
}
