//! Lines of a definition file with their byte positions, and the whitespace rules of the Go
//! standard library that SingularityCE's parser inherits.
//!
//! SingularityCE splits a definition file with `bufio.ScanLines`: lines end at `\n`, and one
//! `\r` before it (or before the end of the text) is dropped. Everything else in the parser
//! trims with `strings.TrimSpace`, which uses the same Unicode `White_Space` set as Rust's
//! `char::is_whitespace`, so `str::trim` is an exact stand-in.

use super::model::Span;

/// One line of the text, without its line ending.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct Line<'a> {
    /// The line's text, without `\n` and without one `\r` before it.
    pub text: &'a str,
    /// Byte offset of the line's first byte in the whole text.
    pub offset: usize,
    /// Byte offset just past the line ending (the start of the next line).
    pub end: usize,
    /// The 1-based line number.
    pub number: usize,
}

impl<'a> Line<'a> {
    /// Returns true if and only if the line opens a section: its first word starts with `%`.
    ///
    /// SingularityCE's scanner takes the first word with `bufio.ScanWords`, so leading
    /// whitespace is allowed here (what the section parser then does with it is another matter).
    pub fn is_section(&self) -> bool {
        self.text.trim_start().starts_with('%')
    }

    /// Returns the span of `part`, which must be a subslice of this line's text.
    pub fn span_of(&self, part: &str) -> Span {
        let start = (part.as_ptr() as usize).saturating_sub(self.text.as_ptr() as usize);
        self.span(start, part.len())
    }

    /// Returns the span of `len` bytes starting `start` bytes into the line.
    pub fn span(&self, start: usize, len: usize) -> Span {
        let start = start.min(self.text.len());
        let column = self
            .text
            .get(..start)
            .map_or(start, |before| before.chars().count())
            + 1;
        Span {
            offset: self.offset + start,
            len,
            line: self.number,
            column,
        }
    }

    /// Returns the text of `span`, which must lie within this line.
    pub fn slice(&self, span: Span) -> &'a str {
        let start = span.offset.saturating_sub(self.offset);
        self.text.get(start..start + span.len).unwrap_or_default()
    }

    /// Returns the span of the line's text with surrounding whitespace trimmed.
    pub fn trimmed_span(&self) -> Span {
        self.span_of(self.text.trim())
    }
}

/// Splits `text` into lines the way Go's `bufio.ScanLines` does, keeping positions.
///
/// A final line without `\n` is still a line; a text ending in `\n` has no empty line after it.
pub(crate) fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut offset = 0;
    let mut number = 1;
    while offset < text.len() {
        let rest = &text[offset..];
        let (content, end) = match rest.find('\n') {
            Some(newline) => (&rest[..newline], offset + newline + 1),
            None => (rest, text.len()),
        };
        let content = content.strip_suffix('\r').unwrap_or(content);
        lines.push(Line {
            text: content,
            offset,
            end,
            number,
        });
        offset = end;
        number += 1;
    }
    lines
}

/// Turns byte offsets into spans with line and column, for text not split into [`Line`]s.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of every line.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(newline, _)| newline + 1))
            .collect();
        Self { text, starts }
    }

    /// Returns the span of `len` bytes at `offset`.
    pub fn span(&self, offset: usize, len: usize) -> Span {
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self.starts[line.saturating_sub(1)];
        let column = self
            .text
            .get(line_start..offset)
            .map_or(0, |before| before.chars().count())
            + 1;
        Span {
            offset,
            len,
            line,
            column,
        }
    }
}

/// Returns a zero-length span at `offset`, for errors about a place rather than a piece of text.
pub(crate) fn point_span(text: &str, offset: usize) -> Span {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    Span {
        offset,
        len: 0,
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// Lowercases `text` as Go's `strings.ToLower` does, which SingularityCE applies to header
/// keywords and section names.
///
/// Go maps rune by rune with simple case mappings, so `İ` (U+0130) becomes `i`, where Rust's
/// `to_lowercase` follows the full mapping to `i` and a combining dot. Every other character
/// with a lowercase form maps to one character in both.
pub(crate) fn go_lowercase(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let lower = if c == '\u{130}' { 'i' } else { c };
            lower.to_lowercase()
        })
        .collect()
}

/// Returns true if and only if `c` is in RE2's `\s` class (`[\t\n\f\r ]`; not `\v`).
pub(crate) fn is_regex_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Returns true if and only if `c` is in RE2's `\w` class (`[0-9A-Za-z_]`).
pub(crate) fn is_regex_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_drop_one_carriage_return_and_keep_positions() {
        let lines = split_lines("a\r\nb\r\r\n\nlast");
        let texts: Vec<_> = lines.iter().map(|line| line.text).collect();
        assert_eq!(texts, ["a", "b\r", "", "last"]);
        assert_eq!(lines[1].offset, 3);
        assert_eq!(lines[3].number, 4);
        assert_eq!(lines[3].end, 12);
    }

    #[test]
    fn a_final_newline_adds_no_empty_line() {
        assert_eq!(split_lines("a\n").len(), 1);
        assert!(split_lines("").is_empty());
    }

    #[test]
    fn columns_count_characters() {
        let lines = split_lines("é: x");
        let span = lines[0].span_of(&lines[0].text[4..]);
        assert_eq!((span.offset, span.column), (4, 4));
    }

    #[test]
    fn section_lines_may_be_indented() {
        let lines = split_lines("  %post\n# %post\nx %y");
        let sections: Vec<_> = lines.iter().map(Line::is_section).collect();
        assert_eq!(sections, [true, false, false]);
    }

    #[test]
    fn line_index_finds_line_and_column() {
        let index = LineIndex::new("ab\nçd\n");
        let span = index.span(5, 1);
        assert_eq!((span.line, span.column), (2, 2));
        assert_eq!(index.span(0, 0).line, 1);
    }

    #[test]
    fn lowercase_like_go() {
        assert_eq!(go_lowercase("İnclude"), "include");
        assert_eq!(go_lowercase("FİLES"), "files");
        assert_eq!(go_lowercase("\u{212a}\u{17f}É"), "k\u{17f}é");
    }

    #[test]
    fn point_span_finds_line_and_column() {
        let span = point_span("ab\ncd", 4);
        assert_eq!((span.line, span.column, span.len), (2, 2, 0));
    }
}
