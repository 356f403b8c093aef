//! `{{ name }}` build-argument templating, as SingularityCE 4 does it.
//!
//! The rules come from SingularityCE's `internal/pkg/build/args` (`reader.go`, `args.go`) and
//! the build code that drives them (`MakeAllDefs`):
//!
//! - A placeholder is the Go regexp `{{\s*(\w+)\s*}}`: a name of ASCII letters, digits and `_`
//!   (it may start with a digit), with optional spaces, tabs or even newlines inside the braces
//!   (`\s` is `[\t\n\f\r ]`). Single braces, `{{ a-b }}` or `{{}}` are left alone.
//! - Substitution is plain text over the whole stage, header and comments included: a
//!   `# {{ NOTE }}` comment needs a value too. Values are inserted verbatim (quotes kept) and
//!   are not scanned again.
//! - Defaults come from the `%arguments` sections of the same stage only: each non-blank line
//!   not starting with `#` is `NAME=value`, split at the first `=` and trimmed. Lines without
//!   `=`, or with an empty name or value, are skipped (SingularityCE warns), so they give no
//!   default. A later line for the same name wins.
//! - A value given by the caller (`--build-arg`) overrides the default. A placeholder with
//!   neither is an error; SingularityCE reports the first, sifbake reports them all.
//! - Values given but used by no stage are not an error; SingularityCE warns "Unused build
//!   variables", and [`Rendered::unused`] lists them for the same purpose.
//! - Text outside every stage (comment lines above the first `Bootstrap:`, which SingularityCE
//!   drops as an empty stage) is copied unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use super::lines::{LineIndex, is_regex_space, is_regex_word};
use super::model::{Argument, Definition, Placeholder, Span, Stage};
use super::parser::parse_stages;
use super::template_error::TemplateError;

/// A definition file with its build arguments substituted.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Rendered {
    /// The text with every placeholder replaced.
    pub text: String,
    /// The names of values that were given but used by no placeholder, sorted.
    pub unused: Vec<String>,
}

/// Returns every `{{ name }}` placeholder in `text`, in order.
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    let index = LineIndex::new(text);
    find_placeholders(text, 0..text.len())
        .into_iter()
        .map(|(range, name)| Placeholder {
            name: name.to_owned(),
            span: index.span(range.start, range.len()),
        })
        .collect()
}

/// Substitutes build arguments into a definition file, stage by stage.
///
/// `values` are the caller's arguments; they override each stage's `%arguments` defaults.
/// The result should be parsed again: SingularityCE parses each stage again after substitution,
/// and a value can change what a line means.
pub fn render(text: &str, values: &BTreeMap<String, String>) -> Result<Rendered, TemplateError> {
    let stages = parse_stages(text)?;
    let index = LineIndex::new(text);
    let mut output = String::with_capacity(text.len());
    let mut used = BTreeSet::new();
    let mut missing = Vec::new();
    let mut copied_up_to = 0;

    for parsed in &stages {
        let defaults = parsed.stage.defaults();
        for (range, name) in find_placeholders(text, parsed.range.clone()) {
            output.push_str(&text[copied_up_to..range.start]);
            match values.get(name).or_else(|| defaults.get(name)) {
                Some(value) => {
                    output.push_str(value);
                    used.insert(name);
                }
                None => {
                    output.push_str(&text[range.clone()]);
                    missing.push(Placeholder {
                        name: name.to_owned(),
                        span: index.span(range.start, range.len()),
                    });
                }
            }
            copied_up_to = range.end;
        }
    }
    output.push_str(&text[copied_up_to..]);

    if !missing.is_empty() {
        return Err(TemplateError::missing(missing));
    }
    Ok(Rendered {
        text: output,
        unused: values
            .keys()
            .filter(|name| !used.contains(name.as_str()))
            .cloned()
            .collect(),
    })
}

impl Stage {
    /// Returns the build arguments this stage declares in its `%arguments` sections, in order.
    ///
    /// `default` is `None` for lines SingularityCE skips (`NAME`, `NAME=`); those give no
    /// default. Defaults apply to this stage only.
    pub fn arguments(&self) -> Vec<Argument> {
        self.sections
            .iter()
            .filter(|section| section.name == "arguments")
            .flat_map(|section| body_lines(&section.body, section.body_span))
            .filter_map(|(line, span)| {
                let trimmed = line.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    return None;
                }
                let span = Span {
                    offset: span.offset + (line.len() - line.trim_start().len()),
                    len: trimmed.len(),
                    column: span.column + line.chars().count() - line.trim_start().chars().count(),
                    ..span
                };
                let (name, default) = match trimmed.split_once('=') {
                    Some((name, value)) => {
                        let value = value.trim();
                        (name.trim(), (!value.is_empty()).then(|| value.to_owned()))
                    }
                    None => (trimmed, None),
                };
                (!name.is_empty()).then(|| Argument {
                    name: name.to_owned(),
                    default,
                    span,
                })
            })
            .collect()
    }

    /// Returns the default value of each argument, the last declaration winning.
    fn defaults(&self) -> HashMap<String, String> {
        self.arguments()
            .into_iter()
            .filter_map(|argument| Some((argument.name, argument.default?)))
            .collect()
    }
}

impl Definition {
    /// Returns the build arguments every stage declares, in file order.
    ///
    /// A default applies only within its own stage; see [`Stage::arguments`].
    pub fn arguments(&self) -> Vec<Argument> {
        self.stages.iter().flat_map(Stage::arguments).collect()
    }
}

/// Splits a section body (text as written, starting at a line start) into lines with the span
/// of each line's start.
fn body_lines(body: &str, body_span: Span) -> impl Iterator<Item = (&str, Span)> {
    let mut offset = 0;
    body.split_inclusive('\n')
        .enumerate()
        .map(move |(number, raw)| {
            let span = Span {
                offset: body_span.offset + offset,
                len: 0,
                line: body_span.line + number,
                column: 1,
            };
            offset += raw.len();
            (raw.trim_end_matches('\n'), span)
        })
}

/// Returns the byte range and name of every placeholder within `range` of `text`.
fn find_placeholders(text: &str, range: Range<usize>) -> Vec<(Range<usize>, &str)> {
    let window = &text[range.clone()];
    let mut found = Vec::new();
    let mut position = 0;
    while let Some(start) = window[position..].find("{{").map(|at| position + at) {
        match placeholder_at(&window[start..]) {
            Some((len, name)) => {
                found.push((range.start + start..range.start + start + len, name));
                position = start + len;
            }
            None => position = start + 1,
        }
    }
    found
}

/// Matches `{{\s*(\w+)\s*}}` at the start of `text`; returns its length and the name.
fn placeholder_at(text: &str) -> Option<(usize, &str)> {
    let inner = text.strip_prefix("{{")?.trim_start_matches(is_regex_space);
    let name_len = inner.len() - inner.trim_start_matches(is_regex_word).len();
    if name_len == 0 {
        return None;
    }
    let (name, after) = inner.split_at(name_len);
    let rest = after
        .trim_start_matches(is_regex_space)
        .strip_prefix("}}")?;
    Some((text.len() - rest.len(), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        placeholders(text).into_iter().map(|p| p.name).collect()
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn placeholder_syntax_follows_the_regexp() {
        let cases: &[(&str, &[&str])] = &[
            ("{{ A }} {{B}} {{\tc_1 }}", &["A", "B", "c_1"]),
            ("{{ \nAPP_VER        }}", &["APP_VER"]),
            ("{{ 9lives }}", &["9lives"]),
            ("{{{ A }}}", &["A"]),
            ("{{ a-b }} {{}} { A } {{ A } {{ A B }}", &[]),
            ("{{ é }}", &[]),
            ("{{\x0bA}}", &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(names(text), *expected, "text {text:?}");
        }
    }

    #[test]
    fn placeholder_spans_have_line_and_column() {
        let found = placeholders("x\n  {{ HOME }}/bin");
        assert_eq!(found[0].span.offset, 4);
        assert_eq!(found[0].span.len, 10);
        assert_eq!((found[0].span.line, found[0].span.column), (2, 3));
    }

    #[test]
    fn arguments_read_name_value_lines() {
        let text = "Bootstrap: docker\nFrom: a\n%arguments\n  A=1\n  # B=2\n  C = \"x y\" \n  D=\n  E\n  =F\n  G=a=b\n%arguments\n  A=3\n";
        let definition = crate::deffile::parse(text).map_err(|e| e.to_string());
        let arguments = definition.map(|d| d.arguments()).unwrap_or_default();
        let pairs: Vec<_> = arguments
            .iter()
            .map(|a| (a.name.as_str(), a.default.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("A", Some("1")),
                ("C", Some("\"x y\"")),
                ("D", None),
                ("E", None),
                ("G", Some("a=b")),
                ("A", Some("3")),
            ]
        );
        assert_eq!((arguments[1].span.line, arguments[1].span.column), (6, 3));
        assert_eq!(
            &text[arguments[1].span.offset..][..arguments[1].span.len],
            "C = \"x y\""
        );
    }

    #[test]
    fn render_uses_caller_values_over_stage_defaults() {
        let text = "Bootstrap: docker\nFrom: alpine:{{ OS }}\n%arguments\n OS=3.17\n WHO=me\n%post\n echo {{WHO}} {{ OS }}\n";
        let rendered = render(text, &values(&[("OS", "3.20"), ("EXTRA", "x")]));
        let rendered = rendered.map_err(|e| e.to_string());
        assert_eq!(
            rendered,
            Ok(Rendered {
                text: "Bootstrap: docker\nFrom: alpine:3.20\n%arguments\n OS=3.17\n WHO=me\n%post\n echo me 3.20\n".to_owned(),
                unused: vec!["EXTRA".to_owned()],
            })
        );
    }

    #[test]
    fn defaults_do_not_cross_stages() {
        let text = "Bootstrap: docker\nFrom: a\nStage: one\n%arguments\n HOME=/root\n%post\n cd {{ HOME }}\nBootstrap: docker\nFrom: b\n%files from one\n {{ HOME }}/x /x\n";
        match render(text, &BTreeMap::new()) {
            Err(TemplateError::MissingValues {
                names,
                placeholders,
                ..
            }) => {
                assert_eq!(names, ["HOME"]);
                assert_eq!(placeholders.len(), 1);
                assert_eq!(placeholders[0].span.line, 11);
            }
            other => panic!("expected a missing value, got {other:?}"),
        }
        let rendered = render(text, &values(&[("HOME", "/h")])).map(|r| r.text);
        assert!(rendered.is_ok_and(|text| text.contains("cd /h") && text.contains(" /h/x /x")));
    }

    #[test]
    fn every_missing_argument_is_reported_comments_included() {
        let text = "Bootstrap: docker\nFrom: {{ IMAGE }}\n# built from {{ IMAGE }}\n%post\n {{ A }} {{ B }}\n";
        match render(text, &values(&[("A", "1")])) {
            Err(TemplateError::MissingValues {
                names,
                placeholders,
                ..
            }) => {
                assert_eq!(names, ["IMAGE", "B"]);
                assert_eq!(placeholders.len(), 3);
            }
            other => panic!("expected missing values, got {other:?}"),
        }
    }

    #[test]
    fn text_outside_stages_is_copied_unchanged() {
        let text = "# {{ NOT_A_STAGE }}\nBootstrap: docker\nFrom: {{ X }}\n";
        let rendered = render(text, &values(&[("X", "y")])).map(|r| r.text);
        assert_eq!(
            rendered.ok().as_deref(),
            Some("# {{ NOT_A_STAGE }}\nBootstrap: docker\nFrom: y\n")
        );
    }

    #[test]
    fn values_are_inserted_once_and_verbatim() {
        let text = "Bootstrap: docker\nFrom: {{ A }}\n";
        let rendered = render(text, &values(&[("A", "{{ A }} \"q\"")])).map(|r| r.text);
        assert_eq!(
            rendered.ok().as_deref(),
            Some("Bootstrap: docker\nFrom: {{ A }} \"q\"\n")
        );
    }

    #[test]
    fn an_invalid_file_is_a_definition_error() {
        let result = render("Bootstrap: docker\nExclude: x\n", &BTreeMap::new());
        assert!(matches!(result, Err(TemplateError::Definition(_))));
    }
}
