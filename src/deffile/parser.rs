//! Parsing a definition file into stages, header fields, sections and `%files` entries.
//!
//! The rules are SingularityCE's (`pkg/build/types/parser/deffile.go`, `parser.All`, as of
//! 2025), because sifbake must accept exactly the files `singularity build --remote` accepts
//! and read the same `%files` sources. In order:
//!
//! 1. **Stages.** The text is cut before every line that starts with `bootstrap:` in any case
//!    (the Go regexp `(?mi)^bootstrap:`; not indented, no space before the colon). Text before
//!    the first cut is a stage of its own, so a file without a header is one header-less stage.
//! 2. **Tokens.** Within a stage, a line whose first word starts with `%` opens a section
//!    (`bufio.ScanWords`, so leading whitespace is allowed); lines before the first one form the
//!    header. Lines end at `\n`, minus one `\r`.
//! 3. **Header.** See `header.rs`.
//! 4. **Sections.** See `section.rs`. Only the first section of a header-less stage may be
//!    indented: SingularityCE trims that one token and no other.
//! 5. **Empty stages** (no header keyword and no section with content, such as comment lines
//!    above the first `Bootstrap:`) are dropped, as `isEmpty` does.
//! 6. **Limits.** Go's `bufio.Scanner` holds one header or section at a time in at most 64 KiB;
//!    a longer one fails the whole parse.
//!
//! Where SingularityCE crashes instead of reporting an error (a `%files` line of a lone `"`, a
//! header value continued into a blank line), sifbake reports an error.

use std::ops::Range;

use super::error::{DefError, ErrorKind};
use super::header::parse_header;
use super::lines::{Line, point_span, split_lines};
use super::model::{Definition, Section, Stage};
use super::section::{Content, parse_section};

/// `bufio.MaxScanTokenSize`: the largest buffer SingularityCE's scanner grows to.
const SCANNER_LIMIT: usize = 64 * 1024;

/// Parses a definition file the way SingularityCE does.
///
/// Returns every stage, or the first problem (with any others attached as related errors).
pub fn parse(text: &str) -> Result<Definition, DefError> {
    let stages = parse_stages(text)?;
    Ok(Definition {
        stages: stages.into_iter().map(|parsed| parsed.stage).collect(),
    })
}

/// A stage and the part of the text it was parsed from.
pub(crate) struct ParsedStage {
    pub range: Range<usize>,
    pub stage: Stage,
}

/// Parses `text` into its non-empty stages with their text ranges.
pub(crate) fn parse_stages(text: &str) -> Result<Vec<ParsedStage>, DefError> {
    let lines = split_lines(text);
    let mut stages = Vec::new();
    let mut errors = Vec::new();
    for chunk in split_stages(&lines) {
        let tokens = tokenize(chunk);
        match parse_chunk(text, &tokens) {
            Ok(Some((stage, range))) => stages.push(ParsedStage { range, stage }),
            Ok(None) => {}
            Err(mut chunk_errors) => errors.append(&mut chunk_errors),
        }
    }
    if !errors.is_empty() {
        let first = errors.remove(0);
        return Err(first.with_related(errors));
    }
    if stages.is_empty() {
        // `parser.All` returns no stages without an error here, but every caller in
        // SingularityCE then fails ("empty definition file"); say so at parse time.
        return Err(DefError::new(
            ErrorKind::EmptyDefinition,
            point_span(text, 0),
        ));
    }
    Ok(stages)
}

/// Cuts the lines before every `bootstrap:` line; drops an empty first piece.
fn split_stages<'l, 'a>(lines: &'l [Line<'a>]) -> Vec<&'l [Line<'a>]> {
    let mut chunks = Vec::new();
    let mut rest = lines;
    while !rest.is_empty() {
        let len = rest
            .iter()
            .skip(1)
            .position(|line| starts_stage(line.text))
            .map_or(rest.len(), |at| at + 1);
        chunks.push(&rest[..len]);
        rest = &rest[len..];
    }
    chunks
}

/// Returns true if and only if `line` matches `(?i)^bootstrap:`.
fn starts_stage(line: &str) -> bool {
    let mut chars = line.chars();
    // Go's case folding also maps `s` to `ſ` (U+017F, long s); keep the split identical.
    "bootstrap:".chars().all(|expected| {
        chars
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(&expected) || (expected == 's' && c == 'ſ'))
    })
}

/// A header or a section: its first line and the lines after it, up to the next section.
struct Token<'l, 'a> {
    /// Every line of the token.
    all: &'l [Line<'a>],
    /// The first line (a section's `%name` line).
    line: Line<'a>,
    /// The lines after the first.
    rest: &'l [Line<'a>],
}

impl Token<'_, '_> {
    /// Returns the byte offset just past the token.
    fn end(&self) -> usize {
        self.rest.last().map_or(self.line.end, |last| last.end)
    }
}

/// Splits a stage's lines before every section line, as SingularityCE's scanner does.
fn tokenize<'l, 'a>(lines: &'l [Line<'a>]) -> Vec<Token<'l, 'a>> {
    let mut tokens = Vec::new();
    let mut remaining = lines;
    while let Some((line, after)) = remaining.split_first() {
        let len = after
            .iter()
            .position(Line::is_section)
            .unwrap_or(after.len());
        tokens.push(Token {
            all: &remaining[..=len],
            line: *line,
            rest: &after[..len],
        });
        remaining = &after[len..];
    }
    tokens
}

/// Parses one stage's tokens; `Ok(None)` when SingularityCE would find the stage empty and
/// drop it (or it has no lines at all).
fn parse_chunk(
    text: &str,
    tokens: &[Token<'_, '_>],
) -> Result<Option<(Stage, Range<usize>)>, Vec<DefError>> {
    let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
        return Ok(None);
    };
    let range = first.line.offset..last.end();

    let mut errors = Vec::new();
    check_token_sizes(text, range.end, tokens, &mut errors);

    let header_less = first.line.is_section();
    let (header, section_tokens) = if header_less {
        (Vec::new(), tokens)
    } else {
        let (fields, header_errors) = parse_header(first.all);
        errors.extend(header_errors);
        (fields, &tokens[1..])
    };

    let mut content = Content::default();
    let mut sections = Vec::new();
    for (index, token) in section_tokens.iter().enumerate() {
        let first_of_header_less = header_less && index == 0;
        if let Some(section) = parse_section(
            text,
            token.line,
            token.rest,
            first_of_header_less,
            &mut content,
            &mut errors,
        ) {
            sections.push(section);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let empty = header.is_empty()
        && !content.any
        && !content.labels
        && content
            .arguments
            .values()
            .all(|arguments| arguments.is_empty());
    if empty {
        return Ok(None);
    }
    let span = header
        .first()
        .map(|field| field.span)
        .or_else(|| sections.first().map(|section: &Section| section.span))
        .unwrap_or_else(|| first.line.trimmed_span());
    Ok(Some((
        Stage {
            header,
            sections,
            span,
        },
        range,
    )))
}

/// Reports headers and sections too long for SingularityCE's 64 KiB scanner buffer.
///
/// The scanner must hold a token plus the whole next section line (up to its `\n`) to see
/// where the token ends; the last token must fit with one byte to spare to observe the end.
fn check_token_sizes(
    text: &str,
    chunk_end: usize,
    tokens: &[Token<'_, '_>],
    errors: &mut Vec<DefError>,
) {
    for (index, token) in tokens.iter().enumerate() {
        let start = token.line.offset;
        let fits = match tokens.get(index + 1) {
            Some(next) if text[..next.line.end].ends_with('\n') => {
                next.line.end - start <= SCANNER_LIMIT
            }
            _ => chunk_end - start < SCANNER_LIMIT,
        };
        if !fits {
            let what = if token.line.is_section() {
                let word = token
                    .line
                    .text
                    .split_whitespace()
                    .next()
                    .unwrap_or_default();
                format!("section `{word}`")
            } else {
                "the header".to_owned()
            };
            errors.push(DefError::new(
                ErrorKind::SectionTooLong { what },
                token.line.trimmed_span(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact view of a parsed stage: header pairs, `%name args` per section, and the
    /// `source -> destination` entries of `%files` sections.
    #[derive(Debug, Eq, PartialEq)]
    struct Summary {
        header: Vec<String>,
        sections: Vec<String>,
        files: Vec<String>,
    }

    fn summarise(text: &str) -> Result<Vec<Summary>, ErrorKind> {
        let definition = parse(text).map_err(|error| error.kind().clone())?;
        Ok(definition
            .stages
            .iter()
            .map(|stage| Summary {
                header: stage
                    .header
                    .iter()
                    .map(|field| format!("{}={}", field.key, field.value))
                    .collect(),
                sections: stage
                    .sections
                    .iter()
                    .map(|section| {
                        format!("%{} {}", section.name, section.args)
                            .trim()
                            .to_owned()
                    })
                    .collect(),
                files: stage
                    .sections
                    .iter()
                    .flat_map(|section| &section.files)
                    .map(|entry| format!("{} -> {}", entry.source, entry.destination))
                    .collect(),
            })
            .collect())
    }

    fn stage(header: &[&str], sections: &[&str], files: &[&str]) -> Summary {
        let strings = |items: &[&str]| items.iter().map(|item| (*item).to_owned()).collect();
        Summary {
            header: strings(header),
            sections: strings(sections),
            files: strings(files),
        }
    }

    fn error_of(text: &str) -> ErrorKind {
        match summarise(text) {
            Err(kind) => kind,
            Ok(stages) => panic!("expected an error for {text:?}, parsed {stages:?}"),
        }
    }

    #[test]
    fn a_typical_file() {
        let text = "Bootstrap: docker\nFrom: ubuntu:22.04\n\n%setup\n  touch x\n%files\n  /file1\n  /file1 /opt\n%environment\n  export A=1\n%post -c /bin/bash\n  apt-get update\n%runscript\n  exec \"$@\"\n%startscript\n  nc -l\n%test\n  true\n%labels\n  Author me\n%help\n  Help.\n%arguments\n  A=1\n%pre\n  true\n";
        assert_eq!(
            summarise(text),
            Ok(vec![stage(
                &["bootstrap=docker", "from=ubuntu:22.04"],
                &[
                    "%setup",
                    "%files",
                    "%environment",
                    "%post -c /bin/bash",
                    "%runscript",
                    "%startscript",
                    "%test",
                    "%labels",
                    "%help",
                    "%arguments",
                    "%pre",
                ],
                &["/file1 -> ", "/file1 -> /opt"],
            )])
        );
    }

    #[test]
    fn line_endings_tabs_and_odd_whitespace() {
        let cases: &[(&str, Summary)] = &[
            (
                "Bootstrap: docker\r\nFrom: alpine\r\n%files\r\n\ta\tb\r\n",
                stage(
                    &["bootstrap=docker", "from=alpine"],
                    &["%files"],
                    &["a -> b"],
                ),
            ),
            (
                "bootstrap:docker\nfrom:alpine # inline\n%POST\n echo",
                stage(&["bootstrap=docker", "from=alpine"], &["%post"], &[]),
            ),
            (
                "\u{a0}Bootstrap:\tdocker\u{a0}\n  From :  alpine\n%post   \n",
                stage(&["bootstrap=docker", "from=alpine"], &["%post"], &[]),
            ),
            (
                "Bootstrap: docker\nFrom: a\n%files\n\"my file.txt\" /opt/\n  # comment\n\n",
                stage(
                    &["bootstrap=docker", "from=a"],
                    &["%files"],
                    &["my file.txt -> /opt/"],
                ),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                summarise(text).as_deref(),
                Ok(std::slice::from_ref(expected)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn stages_split_at_unindented_bootstrap_lines() {
        let text = "# comment above the header\nBootstrap: docker\nFrom: golang\nStage: build\n%post\n  go build\n  Bootstrap: not a stage\n\nBOOTSTRAP: library\nFrom: alpine\nStage: final\n%files from build\n  /root/hello /bin/hello\n";
        assert_eq!(
            summarise(text),
            Ok(vec![
                stage(
                    &["bootstrap=docker", "from=golang", "stage=build"],
                    &["%post"],
                    &[]
                ),
                stage(
                    &["bootstrap=library", "from=alpine", "stage=final"],
                    &["%files from build"],
                    &["/root/hello -> /bin/hello"],
                ),
            ])
        );
        // Go's case folding lets `ſ` stand for `s`; the new stage then has a bad keyword.
        assert!(matches!(
            error_of("Bootstrap: docker\n%post\n echo\nBootſtrap: x\n"),
            ErrorKind::UnknownHeaderKeyword { .. }
        ));
    }

    #[test]
    fn header_less_files_are_one_stage() {
        assert_eq!(
            summarise("  %runscript\n  echo hi\n%files\n a b\n"),
            Ok(vec![stage(&[], &["%runscript", "%files"], &["a -> b"])])
        );
        // Only the very first line may be an indented section: after a blank line the
        // first token is a (blank) header and SingularityCE no longer trims the section.
        assert_eq!(
            error_of("\n  %runscript\n  echo hi\n"),
            ErrorKind::IndentedSection {
                line: "%runscript".to_owned()
            }
        );
        assert_eq!(
            summarise("%post\necho hi"),
            Ok(vec![stage(&[], &["%post"], &[])])
        );
    }

    #[test]
    fn empty_stages_are_dropped() {
        let cases: &[(&str, usize)] = &[
            ("# only a comment\n\nBootstrap: docker\n", 1),
            ("%labels\n# no label\n%post\nBootstrap: docker\n", 1),
            ("# x\n%post -c sh\nBootstrap: docker\n", 2),
            ("%labels\n A b\nBootstrap: docker\n", 2),
            ("# x\n%post\n\nBootstrap: docker\n", 2),
            ("# x\n%apprun a\nBootstrap: docker\n", 2),
            ("# x\n%files\nBootstrap: docker\n", 2),
        ];
        for (text, stages) in cases {
            let parsed = parse(text).map(|definition| definition.stages.len());
            assert_eq!(parsed.ok(), Some(*stages), "{text:?}");
        }
        assert_eq!(error_of("# nothing\n\n"), ErrorKind::EmptyDefinition);
        assert_eq!(error_of(""), ErrorKind::EmptyDefinition);
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let text = "Bootstrap: docker\nExclude: x\n%bogus\nBootstrap: docker\nFrom \"x\"\n";
        let Err(error) = parse(text) else {
            panic!("expected errors");
        };
        assert_eq!((error.line(), error.column()), (2, 1));
        let others: Vec<_> = error
            .others()
            .iter()
            .map(|other| (other.kind().clone(), other.line()))
            .collect();
        assert_eq!(
            others,
            [
                (
                    ErrorKind::UnknownSection {
                        name: "bogus".to_owned(),
                        suggestion: None
                    },
                    3
                ),
                (
                    ErrorKind::HeaderValueMissing {
                        line: "From \"x\"".to_owned()
                    },
                    5
                ),
            ]
        );
    }

    #[test]
    fn sections_longer_than_the_scanner_buffer_are_rejected() {
        let script = |len: usize| format!("Bootstrap: docker\n%post\n{}\n", "x".repeat(len));
        // The last token must leave one byte of the 64 KiB buffer free: "%post\n" is 6 bytes.
        assert!(parse(&script(SCANNER_LIMIT - 8)).is_ok());
        assert_eq!(
            error_of(&script(SCANNER_LIMIT - 7)),
            ErrorKind::SectionTooLong {
                what: "section `%post`".to_owned()
            }
        );
        // A token followed by another section must fit together with that section's line.
        let two = |len: usize| format!("Bootstrap: docker\n%post\n{}\n%test\n", "x".repeat(len));
        assert!(parse(&two(SCANNER_LIMIT - 13)).is_ok());
        assert!(parse(&two(SCANNER_LIMIT - 12)).is_err());
    }

    #[test]
    fn spans_point_into_the_text() {
        let text = "Bootstrap: docker\r\n%files from build\r\n  a b\r\n%post\r\n";
        let definition = parse(text).map_err(|error| error.to_string());
        let Ok(definition) = definition else {
            panic!("{definition:?}");
        };
        let files = &definition.stages[0].sections[0];
        assert_eq!((files.span.line, files.span.column), (2, 1));
        assert_eq!(
            &text[files.span.offset..][..files.span.len],
            "%files from build"
        );
        assert_eq!(files.body, "  a b\r\n");
        assert_eq!(files.body_span.line, 3);
        let entry = &files.files[0];
        assert_eq!(&text[entry.span.offset..][..entry.span.len], "a b");
        assert_eq!((entry.span.line, entry.span.column), (3, 3));
        assert_eq!(definition.stages[0].span.line, 1);
    }
}
