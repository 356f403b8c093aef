//! Located problems in user input (manifest, definition files), collected rather than
//! thrown, so `sifbake validate` can show every one of them at once.
//!
//! A [`Diagnostic`] carries its file, byte span, line and column. It renders as a miette
//! report (a snippet with the line marked and a `help:` hint), as JSON, and later as a CI
//! annotation, all from the same value.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::sync::{Arc, OnceLock};

use miette::{MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use serde::Serialize;

/// A file the user wrote, as read, kept for snippets in error messages.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as shown to the user (relative to the working directory where possible).
    pub name: String,
    pub text: String,
    /// Byte offsets where lines start, built on first use: a manifest with thousands of
    /// targets makes thousands of locations, and counting newlines from the top for each
    /// made loading quadratic (20,000 targets took 11 s).
    line_starts: OnceLock<Vec<usize>>,
    /// `text` with each lone carriage return shown as a space, for snippets: the renderer
    /// would take it for a line break and misnumber the lines. Same length, same offsets.
    shown: OnceLock<Option<String>>,
}

impl SourceFile {
    /// Returns a shared source file.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(SourceFile {
            name: name.into(),
            text: text.into(),
            line_starts: OnceLock::new(),
            shown: OnceLock::new(),
        })
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', self.text.as_bytes()).map(|i| i + 1))
                .collect()
        })
    }

    /// Returns the 1-based line and character column of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let starts = self.line_starts();
        // The first entry is 0, so at least one start is at or before any offset.
        let index = starts.partition_point(|&start| start <= offset) - 1;
        let column = self.text[starts[index]..offset].chars().count() + 1;
        (index + 1, column)
    }

    /// Returns the byte offset where a 1-based line starts (the end of the text past the
    /// last line).
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts()
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len())
    }
}

/// Why a user file could not be read as text.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be read at all.
    Io(std::io::Error),
    /// The file is not UTF-8; the diagnostic points at the first bad byte.
    Encoding(Diagnostic),
    /// Not a file sifbake reads: not a regular file (a FIFO would hang, a device read on
    /// for ever), or larger than [`MAX_USER_FILE`]. The text says which, and what it is.
    Unsuitable(String),
}

/// The largest manifest or definition file read, far beyond any real one (the largest of
/// the 523 corpus files is under 100 KB): a wrong file must not take the machine's memory.
pub const MAX_USER_FILE: u64 = 16 * 1024 * 1024;

/// What `ReadError::Unsuitable` asks the user to do.
pub const UNSUITABLE_HELP: &str =
    "sifbake reads manifests and definition files only from regular files of at most 16 MiB";

/// Names a file type that is not a regular file.
fn file_kind(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a named pipe (FIFO)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

impl SourceFile {
    /// Reads a file the user wrote, requiring UTF-8. `code` names the kind of file in the
    /// encoding diagnostic (`manifest::encoding`, `deffile::encoding`).
    pub fn read(
        path: &std::path::Path,
        name: String,
        code: &'static str,
    ) -> Result<Arc<Self>, ReadError> {
        use std::io::Read;
        // The type first, without opening: opening a FIFO blocks until a writer comes.
        let metadata = std::fs::metadata(path).map_err(ReadError::Io)?;
        if !metadata.is_file() {
            return Err(ReadError::Unsuitable(format!(
                "it is {}, not a regular file",
                file_kind(metadata.file_type())
            )));
        }
        let too_large = |size: u64| {
            ReadError::Unsuitable(format!(
                "it is {} MiB, more than the {} MiB sifbake reads",
                size.div_ceil(1024 * 1024),
                MAX_USER_FILE / (1024 * 1024)
            ))
        };
        if metadata.len() > MAX_USER_FILE {
            return Err(too_large(metadata.len()));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        // A file growing while read stops at the limit all the same.
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_USER_FILE + 1).read_to_end(&mut bytes))
            .map_err(ReadError::Io)?;
        if bytes.len() as u64 > MAX_USER_FILE {
            return Err(too_large(bytes.len() as u64));
        }
        match String::from_utf8(bytes) {
            Ok(text) => {
                let problem = text_problem(&text);
                let source = SourceFile::new(name, text);
                match problem {
                    None => Ok(source),
                    Some((offset, message, help)) => Err(ReadError::Encoding(
                        Diagnostic::error(code, message)
                            .at(Location::new(&source, offset, 1))
                            .help(help),
                    )),
                }
            }
            Err(error) => {
                let offset = error.utf8_error().valid_up_to();
                let source =
                    SourceFile::new(name, String::from_utf8_lossy(error.as_bytes()).into_owned());
                Err(ReadError::Encoding(
                    Diagnostic::error(code, "the file is not valid UTF-8")
                        .at(Location::new(&source, offset, 1))
                        .help("save the file as UTF-8"),
                ))
            }
        }
    }
}

/// Text that reads, but not as its author meant: a NUL byte (a binary or damaged file; a
/// definition file would pass it to the builder's shell), or lines ended by a carriage
/// return alone (classic Mac OS), which SingularityCE reads as one single line and YAML
/// as many, so no line number would mean the same to both. Returns the offset, the message
/// and the help.
fn text_problem(text: &str) -> Option<(usize, &'static str, &'static str)> {
    if let Some(offset) = memchr::memchr(0, text.as_bytes()) {
        return Some((
            offset,
            "the file holds a NUL byte",
            "it is not a text file, or it was damaged: save it again as plain UTF-8 text",
        ));
    }
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'\r', bytes)
        .find(|&at| bytes.get(at + 1) != Some(&b'\n'))
        .map(|offset| {
            (
                offset,
                "the file ends a line with a carriage return alone (classic Mac OS line endings)",
                "SingularityCE reads such a file as a single line: save it with LF (or CRLF) line endings",
            )
        })
}

/// A snippet line longer than this many bytes is shown as a window of this size around the
/// problem: the renderer cannot pad past column 65,535 (a one-line 100 KB JSON manifest made
/// it panic), and no message should reprint a multi-megabyte line.
const MAX_SNIPPET_LINE: usize = 240;

impl SourceFile {
    /// The byte range of the line holding `offset`, without its line break.
    fn line_range(&self, offset: usize) -> (usize, usize) {
        let starts = self.line_starts();
        let index = starts.partition_point(|&start| start <= offset) - 1;
        let end = starts
            .get(index + 1)
            .map_or(self.text.len(), |&next| next - 1);
        (starts[index], end.max(starts[index]))
    }

    /// The text as snippets show it (see `shown`).
    fn shown(&self) -> &str {
        self.shown
            .get_or_init(|| {
                let bytes = self.text.as_bytes();
                let lone = |at: usize| bytes[at] == b'\r' && bytes.get(at + 1) != Some(&b'\n');
                (0..bytes.len()).any(lone).then(|| {
                    let shown: Vec<u8> = (0..bytes.len())
                        .map(|at| if lone(at) { b' ' } else { bytes[at] })
                        .collect();
                    // Only an ASCII byte was replaced by another: still UTF-8.
                    String::from_utf8(shown).unwrap_or_default()
                })
            })
            .as_deref()
            .unwrap_or(&self.text)
    }

    /// A window of at most [`MAX_SNIPPET_LINE`] bytes of a long line, around `offset`.
    fn window(&self, offset: usize) -> Option<(usize, usize)> {
        let (start, end) = self.line_range(offset);
        if end - start <= MAX_SNIPPET_LINE {
            return None;
        }
        let from = floor_char_boundary(
            &self.text,
            offset.saturating_sub(MAX_SNIPPET_LINE / 2).max(start),
        );
        let to = floor_char_boundary(&self.text, (from + MAX_SNIPPET_LINE).min(end));
        Some((from, to))
    }
}

impl SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, miette::MietteError> {
        let offset = floor_char_boundary(&self.text, span.offset().min(self.text.len()));
        if let Some((from, to)) = self.window(offset) {
            // Only the window of the one long line: its neighbours may be as long. The line
            // and column are the span's own, as miette's reading of a whole text gives them.
            let (line, column) = self.line_column(offset);
            return Ok(Box::new(MietteSpanContents::new_named(
                self.name.clone(),
                &self.shown().as_bytes()[from..to],
                SourceSpan::new(from.into(), to - from),
                line - 1,
                column - 1,
                1,
            )));
        }
        let inner = self
            .shown()
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// How bad a diagnostic is: errors stop the run (exit code 2), warnings do not.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A place in a source file.
#[derive(Clone, Debug)]
pub struct Location {
    pub source: Arc<SourceFile>,
    /// Byte offset and length in `source.text`.
    pub offset: usize,
    pub len: usize,
    /// 1-based line and column (in characters).
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// Returns the location of a byte range, computing its line and column.
    pub fn new(source: &Arc<SourceFile>, offset: usize, len: usize) -> Self {
        let offset = floor_char_boundary(&source.text, offset.min(source.text.len()));
        let len = len.min(source.text.len() - offset);
        let (line, column) = source.line_column(offset);
        Location {
            source: Arc::clone(source),
            offset,
            len,
            line,
            column,
        }
    }

    /// Returns the location of a whole 1-based line (for tools that only report lines).
    pub fn of_line(source: &Arc<SourceFile>, line: usize) -> Self {
        let text = &source.text;
        let start = source.line_start(line);
        let len = text[start..].find('\n').unwrap_or(text.len() - start);
        Location::new(source, start, len)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source.name, self.line, self.column)
    }
}

/// One problem in the user's input.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable, greppable identifier such as `manifest::unknown-key`.
    pub code: &'static str,
    /// What is wrong, as a lowercase sentence fragment.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Boxed: diagnostics travel in `Result`s, and a location is most of their size.
    pub location: Option<Box<Location>>,
    /// Text shown under the marked span.
    pub label: Option<String>,
}

impl Diagnostic {
    /// Returns an error with a message.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            help: None,
            location: None,
            label: None,
        }
    }

    /// Returns a warning with a message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Attaches a location.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(Box::new(location));
        self
    }

    /// Attaches a location when there is one.
    #[must_use]
    pub fn at_opt(mut self, location: Option<Location>) -> Self {
        self.location = location.map(Box::new);
        self
    }

    /// Attaches a hint saying what to do.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attaches a label shown under the marked span.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Converts another crate's located error (its first label) into a diagnostic in `source`.
    pub fn from_miette(
        code: &'static str,
        error: &dyn miette::Diagnostic,
        source: &Arc<SourceFile>,
    ) -> Self {
        let location = error
            .labels()
            .and_then(|mut labels| labels.next())
            .map(|label| Location::new(source, label.offset(), label.len()));
        let mut diagnostic = Diagnostic::error(code, error.to_string()).at_opt(location);
        if let Some(help) = error.help() {
            diagnostic = diagnostic.help(help.to_string());
        }
        diagnostic
    }

    /// Returns true if and only if this diagnostic stops the run.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Returns the plain-data view used for JSON output.
    pub fn to_record(&self) -> DiagnosticRecord {
        DiagnosticRecord {
            severity: self.severity,
            code: self.code,
            message: self.message.clone(),
            help: self.help.clone(),
            file: self.location.as_ref().map(|l| l.source.name.clone()),
            line: self.location.as_ref().map(|l| l.line),
            column: self.location.as_ref().map(|l| l.column),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.location
            .as_ref()
            .map(|l| &*l.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let location = self.location.as_ref()?;
        let offset = floor_char_boundary(
            &location.source.text,
            location.offset.min(location.source.text.len()),
        );
        // On a long line the label ends with the window `read_span` shows.
        let len = match location.source.window(offset) {
            Some((_, to)) => location.len.min(to - offset),
            None => location.len,
        };
        let span = miette::LabeledSpan::new_primary_with_span(
            self.label.clone(),
            SourceSpan::new(offset.into(), len),
        );
        Some(Box::new(std::iter::once(span)))
    }
}

/// A diagnostic as plain data, for `--format json`.
#[derive(Clone, Debug, Serialize)]
pub struct DiagnosticRecord {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Returns true if and only if any diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let source = SourceFile::new("f", "ab\nçd\r\nef");
        assert_eq!(source.line_column(0), (1, 1));
        assert_eq!(source.line_column(2), (1, 3));
        assert_eq!(source.line_column(3), (2, 1));
        // Inside `ç`: the character's own column.
        assert_eq!(source.line_column(4), (2, 1));
        assert_eq!(source.line_column(5), (2, 2));
        assert_eq!(source.line_column(8), (3, 1));
        assert_eq!(source.line_column(100), (3, 3));
    }

    #[test]
    fn line_starts_cover_empty_and_trailing_lines() {
        let source = SourceFile::new("f", "\n\nx\n");
        assert_eq!(source.line_column(0), (1, 1));
        assert_eq!(source.line_column(1), (2, 1));
        assert_eq!(source.line_column(2), (3, 1));
        assert_eq!(source.line_column(4), (4, 1));
        assert_eq!(source.line_start(3), 2);
        assert_eq!(source.line_start(9), 4);
        assert_eq!(SourceFile::new("f", "").line_column(0), (1, 1));
    }

    #[test]
    fn of_line_spans_the_line() {
        let source = SourceFile::new("f", "one\ntwo\nthree");
        let location = Location::of_line(&source, 2);
        assert_eq!((location.offset, location.len, location.line), (4, 3, 2));
        assert_eq!(location.to_string(), "f:2:1");
    }

    #[test]
    fn a_problem_far_along_a_huge_line_renders_a_window_of_it() {
        // A 200 KB one-line manifest: the renderer used to panic past column 65,535.
        let filler = "x".repeat(100_000);
        let text = format!("{{\"a\": \"{filler}\", \"bad\": 1, \"b\": \"{filler}\"}}\n");
        let offset = text.find("bad").expect("bad");
        let source = SourceFile::new("sifbake.yaml", text.clone());
        let diagnostic = Diagnostic::error("manifest::unknown-key", "unknown key `bad`")
            .at(Location::new(&source, offset, text.len() - offset));
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &diagnostic)
            .expect("render");
        assert!(
            out.contains(&format!("sifbake.yaml:1:{}", offset + 1)),
            "{out}"
        );
        assert!(out.contains("\"bad\": 1"), "{out}");
        assert!(out.len() < 4 * MAX_SNIPPET_LINE, "{} bytes", out.len());
    }

    #[test]
    fn nul_bytes_and_lone_carriage_returns_are_refused_where_they_are() {
        assert_eq!(text_problem("a: 1\r\nb: 2\n"), None);
        assert_eq!(text_problem("a\r").map(|p| p.0), Some(1));
        assert_eq!(text_problem("ab\r\ncd\ref").map(|p| p.0), Some(6));
        assert_eq!(text_problem("x\0y\r").map(|p| p.0), Some(1));
    }

    #[test]
    fn renders_file_line_and_help() {
        let source = SourceFile::new("sifbake.yaml", "version: 1\ntargetz: {}\n");
        let diagnostic = Diagnostic::error("manifest::unknown-key", "unknown key `targetz`")
            .at(Location::new(&source, 11, 7))
            .help("did you mean `targets`?");
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &diagnostic)
            .expect("render");
        assert!(out.contains("sifbake.yaml:2:1"), "{out}");
        assert!(out.contains("targetz: {}"), "{out}");
        assert!(out.contains("did you mean `targets`?"), "{out}");
    }
}
