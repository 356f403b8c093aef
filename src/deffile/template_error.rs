//! Errors from rendering `{{ name }}` build arguments.
//!
//! Like [`DefError`], a `TemplateError` carries spans but no source text; attach it with
//! `miette::Report::new(error).with_source_code(NamedSource::new(path, text))`.

use miette::LabeledSpan;

use super::error::DefError;
use super::model::{Placeholder, Span};

/// Why a definition file could not be rendered.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TemplateError {
    /// The file does not parse before substitution (SingularityCE parses it first, too).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Definition(#[from] DefError),
    /// Placeholders whose argument has neither a given value nor an `%arguments` default.
    #[error("{}", missing_message(names))]
    #[diagnostic(
        code(sifbake::deffile::build_arg),
        help(
            "give each a value in the target's `args` in sifbake.yaml, or a default as \
             `NAME=value` in an `%arguments` section of the same stage (SingularityCE reads \
             defaults per stage, so another stage's default does not count)"
        )
    )]
    MissingValues {
        /// The argument names without a value, each once, in order of first use.
        names: Vec<String>,
        /// Every placeholder left without a value, in file order.
        placeholders: Vec<Placeholder>,
        #[label(collection)]
        labels: Vec<LabeledSpan>,
    },
}

impl TemplateError {
    /// Creates the error for placeholders (in file order) that have no value.
    pub(crate) fn missing(placeholders: Vec<Placeholder>) -> Self {
        let mut names: Vec<String> = Vec::new();
        for placeholder in &placeholders {
            if !names.contains(&placeholder.name) {
                names.push(placeholder.name.clone());
            }
        }
        let labels = placeholders
            .iter()
            .map(|placeholder| {
                LabeledSpan::new_with_span(
                    Some(format!("`{}` has no value", placeholder.name)),
                    placeholder.span,
                )
            })
            .collect();
        Self::MissingValues {
            names,
            placeholders,
            labels,
        }
    }

    /// Returns where the (first) problem is, for `file:line:column` output.
    pub fn span(&self) -> Option<Span> {
        match self {
            Self::Definition(error) => Some(error.span()),
            Self::MissingValues { placeholders, .. } => {
                placeholders.first().map(|placeholder| placeholder.span)
            }
        }
    }

    /// Returns the 1-based line of the (first) problem.
    pub fn line(&self) -> Option<usize> {
        self.span().map(|span| span.line)
    }

    /// Returns the 1-based column (in characters) of the (first) problem.
    pub fn column(&self) -> Option<usize> {
        self.span().map(|span| span.column)
    }
}

/// Says which arguments lack a value, naming every one.
fn missing_message(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.as_slice() {
        [one] => format!("build argument {one} has no value"),
        [init @ .., last] => format!(
            "build arguments {} and {last} have no value",
            init.join(", ")
        ),
        [] => "a build argument has no value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholder(name: &str, offset: usize) -> Placeholder {
        Placeholder {
            name: name.to_owned(),
            span: Span {
                offset,
                len: 5,
                line: 3,
                column: 2,
            },
        }
    }

    #[test]
    fn every_missing_name_is_listed_once_with_every_span_labelled() {
        let error = TemplateError::missing(vec![
            placeholder("A", 1),
            placeholder("B", 10),
            placeholder("A", 20),
            placeholder("C", 30),
        ]);
        assert_eq!(
            error.to_string(),
            "build arguments `A`, `B` and `C` have no value"
        );
        let labels: Vec<_> = miette::Diagnostic::labels(&error)
            .into_iter()
            .flatten()
            .map(|label| (label.offset(), label.label().map(str::to_owned)))
            .collect();
        assert_eq!(labels.len(), 4);
        assert_eq!(labels[2], (20, Some("`A` has no value".to_owned())));
        assert_eq!((error.line(), error.column()), (Some(3), Some(2)));
    }

    #[test]
    fn one_missing_name_reads_in_the_singular() {
        let error = TemplateError::missing(vec![placeholder("HOME", 0)]);
        assert_eq!(error.to_string(), "build argument `HOME` has no value");
    }
}
