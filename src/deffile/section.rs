//! One section of a stage: its `%name args` line and its body, as SingularityCE reads them.
//!
//! From `parseTokenSection` and `populateDefinition` in `pkg/build/types/parser/deffile.go`:
//! the name is what follows the leading `%`s up to the first space (so `%post\t-c sh` is a
//! section named `post\t-c`), compared in lower case; the rest of the line is the arguments.
//! `%files` bodies are split into entries (`files.rs`); `%app*` sections need an app name and,
//! because SingularityCE keys them by the name as written, must be lower case. Any other name
//! is an "invalid section". Sections also feed SingularityCE's emptiness test, which decides
//! whether a stage is dropped.

use std::collections::HashMap;

use super::error::{DefError, ErrorKind, SECTION_NAMES, closest};
use super::files::files_entry;
use super::lines::{Line, go_lowercase};
use super::model::{FileEntry, Section, Span};

/// `validSections` in `deffile.go`; `files` and `labels` are handled apart from the scripts.
const STANDARD_SECTIONS: &[&str] = &[
    "help",
    "setup",
    "files",
    "labels",
    "environment",
    "pre",
    "post",
    "runscript",
    "test",
    "startscript",
    "arguments",
];

/// `appSections` in `deffile.go`.
const APP_SECTIONS: &[&str] = &[
    "appinstall",
    "applabels",
    "appfiles",
    "appenv",
    "apptest",
    "apphelp",
    "apprun",
    "appstart",
];

/// What the sections of a stage contribute to SingularityCE's `isEmpty` test.
#[derive(Default)]
pub(crate) struct Content<'a> {
    /// A `%files` or `%app*` section, or a script section with a body.
    pub any: bool,
    /// A `%labels` line that makes a label.
    pub labels: bool,
    /// The last arguments given to each script section (`%post -c /bin/bash`).
    pub arguments: HashMap<String, &'a str>,
}

/// Parses one section token: its line and the lines up to the next section.
pub(crate) fn parse_section<'a>(
    text: &'a str,
    line: Line<'a>,
    body_lines: &[Line<'a>],
    first_of_header_less: bool,
    content: &mut Content<'a>,
    errors: &mut Vec<DefError>,
) -> Option<Section> {
    // Only the first token of a header-less stage is trimmed by SingularityCE.
    let raw = if first_of_header_less {
        line.text.trim_start()
    } else {
        line.text
    };
    let span = line.span_of(raw.trim());
    if raw.starts_with(char::is_whitespace) {
        errors.push(DefError::new(
            ErrorKind::IndentedSection {
                line: raw.trim().to_owned(),
            },
            span,
        ));
        return None;
    }

    let after_percent = raw.trim_start_matches('%');
    let (name_raw, arguments) = match after_percent.split_once(' ') {
        Some((name, arguments)) => (name, Some(arguments)),
        None => (after_percent, None),
    };
    let name = go_lowercase(name_raw);

    if first_of_header_less && body_lines.iter().all(|body| body.text.trim().is_empty()) {
        errors.push(DefError::new(
            ErrorKind::SectionBodyMissing {
                section: name_raw.to_owned(),
            },
            span,
        ));
        return None;
    }

    let (body, body_span) = body_of(text, line, body_lines);
    let mut files = Vec::new();
    if name == "files" {
        content.any = true;
        files = files_entries(body_lines, errors);
    } else if APP_SECTIONS.contains(&name.as_str()) {
        if arguments.is_none() {
            errors.push(DefError::new(
                ErrorKind::AppNameMissing {
                    section: name_raw.to_owned(),
                },
                span,
            ));
            return None;
        }
        if name_raw != name {
            // SingularityCE keys app sections by the name as written and then checks that key
            // against the lowercase list, so `%AppRun foo` is an invalid section.
            errors.push(unknown_section(name_raw, Some(format!("%{name}")), span));
            return None;
        }
        content.any = true;
    } else if name == "labels" {
        content.labels |= body_lines.iter().any(|body| {
            let label = body.text.trim();
            !label.is_empty() && !label.starts_with('#')
        });
    } else if STANDARD_SECTIONS.contains(&name.as_str()) {
        content.any |= !body.is_empty();
        if let Some(arguments) = arguments {
            content.arguments.insert(name.clone(), arguments);
        }
    } else {
        let suggestion = match name.split_once(char::is_whitespace) {
            Some((prefix, _)) if SECTION_NAMES.contains(&prefix) => Some(prefix),
            _ => closest(&name, SECTION_NAMES),
        };
        errors.push(unknown_section(
            name_raw,
            suggestion.map(|name| format!("%{name}")),
            span,
        ));
        return None;
    }

    Some(Section {
        name,
        args: arguments.unwrap_or_default().trim().to_owned(),
        body: body.to_owned(),
        span,
        body_span,
        files,
    })
}

fn unknown_section(name: &str, suggestion: Option<String>, span: Span) -> DefError {
    DefError::new(
        ErrorKind::UnknownSection {
            name: name.escape_debug().to_string(),
            suggestion,
        },
        span,
    )
}

/// Returns the body text as written and its span.
fn body_of<'a>(text: &'a str, line: Line<'a>, body_lines: &[Line<'a>]) -> (&'a str, Span) {
    match (body_lines.first(), body_lines.last()) {
        (Some(first), Some(last)) => (
            &text[first.offset..last.end],
            Span {
                offset: first.offset,
                len: last.end - first.offset,
                line: first.number,
                column: 1,
            },
        ),
        _ => (
            "",
            Span {
                offset: line.end,
                len: 0,
                line: line.number + 1,
                column: 1,
            },
        ),
    }
}

/// Reads the entries of a `%files` body: one per line, blank and `#` lines skipped.
fn files_entries(body_lines: &[Line<'_>], errors: &mut Vec<DefError>) -> Vec<FileEntry> {
    let mut entries = Vec::new();
    for line in body_lines {
        let trimmed = line.text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match files_entry(trimmed) {
            Some((source, destination)) => entries.push(FileEntry {
                source: source.to_owned(),
                destination: destination.to_owned(),
                span: line.span_of(trimmed),
            }),
            None => errors.push(DefError::new(
                ErrorKind::FilesLineUnsplittable {
                    line: trimmed.to_owned(),
                },
                line.span_of(trimmed),
            )),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn error_of(text: &str) -> ErrorKind {
        match parse(text) {
            Err(error) => error.kind().clone(),
            Ok(definition) => panic!("expected an error for {text:?}, parsed {definition:?}"),
        }
    }

    #[test]
    fn app_sections() {
        let text =
            "Bootstrap: docker\n%appinstall foo\n make\n%apprun foo\n run\n%appfiles foo\n a b\n";
        let sections: Vec<_> = parse(text)
            .map(|definition| definition.stages[0].sections.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|section| (section.name, section.args, section.files.len()))
            .collect();
        let expected = [
            ("appinstall", "foo", 0),
            ("apprun", "foo", 0),
            ("appfiles", "foo", 0),
        ]
        .map(|(name, args, files)| (name.to_owned(), args.to_owned(), files));
        assert_eq!(sections, expected);
        assert_eq!(
            error_of("Bootstrap: docker\n%apprun\n run\n"),
            ErrorKind::AppNameMissing {
                section: "apprun".to_owned()
            }
        );
        assert_eq!(
            error_of("Bootstrap: docker\n%AppRun foo\n run\n"),
            ErrorKind::UnknownSection {
                name: "AppRun".to_owned(),
                suggestion: Some("%apprun".to_owned())
            }
        );
    }

    #[test]
    fn section_errors() {
        let cases: &[(&str, ErrorKind)] = &[
            (
                "Bootstrap: docker\n%runscirpt\n",
                ErrorKind::UnknownSection {
                    name: "runscirpt".to_owned(),
                    suggestion: Some("%runscript".to_owned()),
                },
            ),
            (
                "Bootstrap: docker\n%post\ncat <<EOF\n%define x\nEOF\n",
                ErrorKind::UnknownSection {
                    name: "define".to_owned(),
                    suggestion: None,
                },
            ),
            (
                "Bootstrap: docker\n%post\t-c /bin/bash\n",
                ErrorKind::UnknownSection {
                    name: "post\\t-c".to_owned(),
                    suggestion: Some("%post".to_owned()),
                },
            ),
            (
                "Bootstrap: docker\n  %post\n",
                ErrorKind::IndentedSection {
                    line: "%post".to_owned(),
                },
            ),
            (
                "%labels\n\n  \n",
                ErrorKind::SectionBodyMissing {
                    section: "labels".to_owned(),
                },
            ),
            (
                "Bootstrap: docker\n%files\n \"\n",
                ErrorKind::FilesLineUnsplittable {
                    line: "\"".to_owned(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&error_of(text), expected, "{text:?}");
        }
    }
}
