//! Why a build produced no image, in the builder's words: its `FATAL:` and `ERROR:` lines and
//! the lines just before the first of them. Every report that says a build failed (the
//! annotation, the step summary, JUnit, the result table and document) quotes this instead
//! of pointing at a log the reader has to open.
//!
//! The log is read once, line by line, from its file: a log of any size costs a few lines
//! of memory, and a line longer than [`MAX_LINE`] is cut rather than held.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

/// The longest part of a log line kept; the rest of the line is skipped.
const MAX_LINE: usize = 300;

/// The error lines kept (the first ones: later errors are usually consequences).
const MAX_ERRORS: usize = 3;

/// The lines kept from before the first error, or from the end of a log without one.
const CONTEXT_LINES: usize = 3;

/// What a failed build's log says about the failure.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct LogReason {
    /// The first `FATAL:`/`ERROR:` lines, trimmed.
    pub errors: Vec<String>,
    /// The last lines before the first error; without an error, the last lines of the log.
    pub context: Vec<String>,
}

impl LogReason {
    /// Reads a log. Returns `None` for a log with no line worth quoting.
    pub fn read(log: impl BufRead) -> io::Result<Option<Self>> {
        let mut reason = LogReason::default();
        let mut recent: VecDeque<String> = VecDeque::with_capacity(CONTEXT_LINES + 1);
        let mut reader = log;
        let mut raw = Vec::with_capacity(MAX_LINE + 1);
        loop {
            raw.clear();
            let read = (&mut reader)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut raw)?;
            if read == 0 {
                break;
            }
            if raw.last() != Some(&b'\n') && read == MAX_LINE {
                skip_rest_of_line(&mut reader)?;
            }
            let line = clean(&String::from_utf8_lossy(&raw));
            if line.is_empty() {
                continue;
            }
            if is_error(&line) {
                if reason.errors.is_empty() {
                    reason.context = recent.drain(..).collect();
                }
                if reason.errors.len() < MAX_ERRORS {
                    reason.errors.push(line);
                }
            } else if reason.errors.is_empty() && !is_chatter(&line) {
                if recent.len() == CONTEXT_LINES {
                    recent.pop_front();
                }
                recent.push_back(line);
            }
        }
        if reason.errors.is_empty() {
            reason.context = recent.into_iter().collect();
        }
        if reason.errors.is_empty() && reason.context.is_empty() {
            return Ok(None);
        }
        Ok(Some(reason))
    }

    /// The reason on one line, for tables, annotations' titles and the result document.
    pub fn one_line(&self) -> String {
        if self.errors.is_empty() {
            return format!("the log ends: {}", quote_all(&self.context));
        }
        let mut text = self.errors.join("; ");
        if let Some(last) = self.context.last() {
            text.push_str(&format!(" (after {})", quote(last)));
        }
        text
    }
}

fn quote(line: &str) -> String {
    format!("`{}`", line.replace('`', "'"))
}

fn quote_all(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| quote(l))
        .collect::<Vec<_>>()
        .join(", ")
}

fn skip_rest_of_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        match buffer.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                reader.consume(newline + 1);
                return Ok(());
            }
            None => {
                let length = buffer.len();
                reader.consume(length);
            }
        }
    }
}

/// Drops colour codes, carriage returns and control characters: a reason goes into
/// Markdown, XML and workflow commands, where they would garble or be refused.
fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_control() {
            if c == '\t' {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
    }
    // Builders align the text after the level: `FATAL:   While performing build: …`.
    let mut collapsed = String::with_capacity(out.len());
    for word in out.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

fn is_error(line: &str) -> bool {
    ["FATAL:", "ERROR:", "FATAL ", "ERROR "]
        .iter()
        .any(|level| line.starts_with(level))
}

/// Lines every build logs, which never say why one failed.
fn is_chatter(line: &str) -> bool {
    line.starts_with("INFO:") || line.starts_with("VERBOSE:") || line.starts_with("DEBUG:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(log: &str) -> Option<LogReason> {
        LogReason::read(log.as_bytes()).expect("read")
    }

    #[test]
    fn fatal_lines_and_what_came_before() {
        let reason = read(
            "INFO:    Starting build...\n+ apt-get install -y nosuch\nE: Unable to locate package nosuch\n\u{1b}[31mFATAL:  \u{1b}[0m While performing build: while running engine: exit status 100\nFATAL: again\n",
        )
        .expect("a reason");
        assert_eq!(
            reason.errors,
            [
                "FATAL: While performing build: while running engine: exit status 100",
                "FATAL: again"
            ]
        );
        assert_eq!(
            reason.context,
            [
                "+ apt-get install -y nosuch",
                "E: Unable to locate package nosuch"
            ]
        );
        assert_eq!(
            reason.one_line(),
            "FATAL: While performing build: while running engine: exit status 100; FATAL: again (after `E: Unable to locate package nosuch`)"
        );
    }

    #[test]
    fn without_an_error_line_the_end_of_the_log() {
        let reason = read("INFO: x\none\ntwo\nthree\nfour\n").expect("a reason");
        assert!(reason.errors.is_empty());
        assert_eq!(reason.one_line(), "the log ends: `two`, `three`, `four`");
        assert_eq!(read("INFO: only chatter\n\n"), None);
        assert_eq!(read(""), None);
    }

    #[test]
    fn long_lines_are_cut_and_errors_capped() {
        let mut log = format!("{}\n", "x".repeat(100_000));
        for index in 0..10 {
            log.push_str(&format!("ERROR: number {index}\n"));
        }
        let reason = read(&log).expect("a reason");
        assert_eq!(reason.errors.len(), MAX_ERRORS);
        assert_eq!(reason.context.len(), 1);
        assert!(reason.context[0].len() <= MAX_LINE, "cut");
        assert_eq!(
            reason.errors[0], "ERROR: number 0",
            "the rest of the long line is skipped"
        );
    }
}
