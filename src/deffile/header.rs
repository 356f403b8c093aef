//! The header of a stage: `Keyword: value` lines before the first section.
//!
//! This follows `doHeader` in SingularityCE's `pkg/build/types/parser/deffile.go`:
//!
//! - Lines are trimmed; blank lines and lines starting with `#` are skipped.
//! - Everything from the first `#` on a line is a comment, even inside a value.
//! - The keyword is the text before the first `:` (so `From:ubuntu` works), trimmed and
//!   compared case-insensitively; the value is the rest, trimmed. A line without `:` is an error.
//! - A value ending in `\` continues on the next line, whatever that line holds (the pieces are
//!   joined without a space; a piece ending in the two characters `\n` ends in a newline).
//!   SingularityCE panics when the next line is blank or a comment, and silently drops a value
//!   still continued when the header ends; the first is an error here, the second is kept as is.
//! - Keywords must be in `validHeaders` (plus `OtherURL` followed by digits); a later duplicate
//!   overrides an earlier one (the model keeps both, `Stage::header_value` reads the last).

use super::error::{DefError, ErrorKind, HEADER_KEYWORDS, closest};
use super::lines::{Line, go_lowercase};
use super::model::{HeaderField, Span};

/// `validHeaders` from SingularityCE's parser (lowercase), without the `otherurl&n` pattern.
const VALID_KEYWORDS: &[&str] = &[
    "bootstrap",
    "from",
    "includecmd",
    "mirrorurl",
    "updateurl",
    "osversion",
    "include",
    "library",
    "registry",
    "namespace",
    "stage",
    "product",
    "user",
    "regcode",
    "productpgp",
    "registerurl",
    "modules",
    "fingerprints",
    "setopt",
];

/// A keyword whose value continues on the next line.
struct Continued<'a> {
    key: String,
    value: String,
    first: Line<'a>,
    key_span: Span,
    value_start: Span,
}

/// Parses the header lines of one stage into fields (in file order) and errors.
pub(crate) fn parse_header(lines: &[Line<'_>]) -> (Vec<HeaderField>, Vec<DefError>) {
    let mut fields = Vec::new();
    let mut errors = Vec::new();
    // SingularityCE decides "is this line a continuation?" by the pending value alone, so a
    // keyword continued with an empty value (`From: \`) leaves the next line a keyword line.
    let mut continued: Option<Continued<'_>> = None;
    // SingularityCE trims the header as a whole first, so blank lines at its end are never
    // seen (and cannot interrupt a continuation); comment lines at its end still are.
    let used = lines
        .iter()
        .rposition(|line| !line.text.trim().is_empty())
        .map_or(0, |last| last + 1);

    for line in &lines[..used] {
        let trimmed = line.text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            if let Some(pending) = continued.take_if(|pending| !pending.key.is_empty()) {
                errors.push(DefError::new(
                    ErrorKind::HeaderContinuationInterrupted {
                        keyword: pending.first.slice(pending.key_span).to_owned(),
                    },
                    pending.first.trimmed_span(),
                ));
            }
            continue;
        }
        let before_comment = trimmed.split('#').next().unwrap_or_default();

        let (key, value, first, key_span, value_start, value_end) =
            match continued.take_if(|pending| !pending.value.is_empty()) {
                Some(pending) => {
                    let piece = before_comment.trim();
                    let value = pending.value + piece;
                    let end = line.span_of(piece);
                    (
                        pending.key,
                        value,
                        pending.first,
                        pending.key_span,
                        pending.value_start,
                        end,
                    )
                }
                None => {
                    let Some((raw_key, raw_value)) = before_comment.split_once(':') else {
                        errors.push(DefError::new(
                            ErrorKind::HeaderValueMissing {
                                line: before_comment.trim().to_owned(),
                            },
                            line.span_of(before_comment.trim()),
                        ));
                        continue;
                    };
                    let key_text = raw_key.trim();
                    let value = raw_value.trim();
                    let key_span = line.span_of(key_text);
                    let value_span = if value.is_empty() {
                        line.span(key_span.offset - line.offset + key_span.len, 0)
                    } else {
                        line.span_of(value)
                    };
                    (
                        go_lowercase(key_text),
                        value.to_owned(),
                        *line,
                        key_span,
                        value_span,
                        value_span,
                    )
                }
            };

        if let Some(rest) = value.strip_suffix('\\') {
            let rest = match rest.strip_suffix("\\n") {
                Some(before) => format!("{before}\n"),
                None => rest.to_owned(),
            };
            continued = Some(Continued {
                key,
                value: rest,
                first,
                key_span,
                value_start,
            });
            continue;
        }

        if !is_valid_keyword(&key) {
            // Escaped, so a byte-order mark or a control character shows up in the message.
            let keyword = first.slice(key_span).escape_debug().to_string();
            errors.push(DefError::new(
                ErrorKind::UnknownHeaderKeyword {
                    suggestion: if key == "otherurl" {
                        Some("OtherURL<n>")
                    } else {
                        closest(&keyword, HEADER_KEYWORDS)
                    },
                    keyword,
                },
                key_span,
            ));
            continue;
        }

        let line_end = line.offset + line.text.trim_end().len();
        fields.push(HeaderField {
            key,
            value,
            span: Span {
                offset: first.offset,
                len: line_end - first.offset,
                line: first.number,
                column: 1,
            },
            value_span: Span {
                len: (value_end.offset + value_end.len).saturating_sub(value_start.offset),
                ..value_start
            },
        });
    }
    (fields, errors)
}

/// Returns true if and only if SingularityCE accepts the (lowercased) header keyword.
fn is_valid_keyword(key: &str) -> bool {
    VALID_KEYWORDS.contains(&key)
        // `deffile.go` rewrites trailing digits to `&n` and looks up `otherurl&n`.
        || key
            .strip_prefix("otherurl")
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::super::lines::split_lines;
    use super::*;

    fn header(text: &str) -> (Vec<(String, String)>, Vec<ErrorKind>) {
        let lines = split_lines(text);
        let (fields, errors) = parse_header(&lines);
        (
            fields
                .into_iter()
                .map(|field| (field.key, field.value))
                .collect(),
            errors.iter().map(|error| error.kind().clone()).collect(),
        )
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn keywords_are_case_insensitive_and_values_trimmed() {
        let (fields, errors) =
            header("BootStrap:   docker  \nfrom:ubuntu:22.04\r\n  OSVersion : 7\n");
        assert!(errors.is_empty());
        assert_eq!(
            fields,
            pairs(&[
                ("bootstrap", "docker"),
                ("from", "ubuntu:22.04"),
                ("osversion", "7")
            ])
        );
    }

    #[test]
    fn comments_are_cut_at_the_first_hash() {
        let (fields, _) = header("# top\nFrom: ubuntu # the base\nInclude: a#b\n  # indented\n");
        assert_eq!(fields, pairs(&[("from", "ubuntu"), ("include", "a")]));
    }

    #[test]
    fn continuation_joins_pieces() {
        let (fields, errors) =
            header("Bootstrap: zypper\nProductPGP: line1\\n\\\n  line2 \\\nline3\nFrom: x\n");
        assert!(errors.is_empty());
        assert_eq!(
            fields,
            pairs(&[
                ("bootstrap", "zypper"),
                ("productpgp", "line1\nline2 line3"),
                ("from", "x")
            ])
        );
    }

    #[test]
    fn a_continuation_line_may_hold_a_colon() {
        let (fields, _) = header("Include: a \\\nVersion: 2\n");
        assert_eq!(fields, pairs(&[("include", "a Version: 2")]));
    }

    #[test]
    fn continuation_at_the_end_is_dropped() {
        let (fields, errors) = header("Bootstrap: docker\nFrom: x \\\n");
        assert!(errors.is_empty());
        assert_eq!(fields, pairs(&[("bootstrap", "docker")]));
    }

    #[test]
    fn continuation_into_a_blank_line_is_an_error() {
        let (_, errors) = header("From: x \\\n\nStage: a\n");
        assert_eq!(
            errors,
            [ErrorKind::HeaderContinuationInterrupted {
                keyword: "From".to_owned()
            }]
        );
    }

    #[test]
    fn trailing_blank_lines_end_the_header_silently() {
        let (fields, errors) = header("Bootstrap: docker\nFrom: x \\\n  \n\n");
        assert!(errors.is_empty());
        assert_eq!(fields, pairs(&[("bootstrap", "docker")]));
        let (_, errors) = header("From: x \\\n# comment\n");
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn empty_values_are_kept() {
        let (fields, errors) = header("Bootstrap: scratch\nFrom:\n");
        assert!(errors.is_empty());
        assert_eq!(fields, pairs(&[("bootstrap", "scratch"), ("from", "")]));
    }

    #[test]
    fn unknown_keywords_and_missing_colons_are_errors() {
        let (_, errors) = header("Bootstrap: yum\nExclude: x\nDistType \"arch\"\nOtherURL: y\n");
        assert_eq!(
            errors,
            [
                ErrorKind::UnknownHeaderKeyword {
                    keyword: "Exclude".to_owned(),
                    suggestion: None
                },
                ErrorKind::HeaderValueMissing {
                    line: "DistType \"arch\"".to_owned()
                },
                ErrorKind::UnknownHeaderKeyword {
                    keyword: "OtherURL".to_owned(),
                    suggestion: Some("OtherURL<n>")
                },
            ]
        );
    }

    #[test]
    fn numbered_other_urls_and_every_documented_keyword_are_accepted() {
        let text: String = VALID_KEYWORDS
            .iter()
            .map(|key| format!("{key}: v\n"))
            .chain(["OtherURL0: a\n".to_owned(), "otherurl12: b\n".to_owned()])
            .collect();
        let (fields, errors) = header(&text);
        assert!(errors.is_empty());
        assert_eq!(fields.len(), VALID_KEYWORDS.len() + 2);
    }

    #[test]
    fn spans_cover_the_line_and_the_value() {
        let lines = split_lines("\nFrom:  ubuntu  # c\n");
        let (fields, _) = parse_header(&lines);
        let field = &fields[0];
        assert_eq!(
            (field.span.line, field.span.offset, field.span.len),
            (2, 1, 18)
        );
        assert_eq!((field.value_span.offset, field.value_span.len), (8, 6));
        assert_eq!(field.value_span.column, 8);
    }
}
