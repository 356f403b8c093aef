//! Where a command writes: data for programs on stdout; diagnostics, progress and logs on
//! stderr. Writers are parameters, so tests capture both.

use std::io::{self, Write};

use crate::diagnostic::Diagnostic;
use crate::report::diagnostics;

/// A command's two output streams.
pub struct Output<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    /// Whether stderr may use colour.
    pub color: bool,
    /// Whether stdout may use colour (its own terminal decides: it may be piped alone).
    pub stdout_color: bool,
}

impl Output<'_> {
    /// Writes diagnostics to stderr.
    pub fn diagnostics(&mut self, list: &[Diagnostic]) -> io::Result<()> {
        if list.is_empty() {
            return Ok(());
        }
        self.stderr
            .write_all(diagnostics::render(list, self.color).as_bytes())
    }

    /// Writes a JSON document to stdout, pretty-printed, with a final newline.
    pub fn json<T: serde::Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *self.stdout, value).map_err(io::Error::other)?;
        self.stdout.write_all(b"\n")
    }
}
