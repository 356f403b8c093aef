//! Errors for definition files that SingularityCE would reject.
//!
//! A `DefError` carries no source text: callers attach it with
//! `miette::Report::new(error).with_source_code(NamedSource::new(path, text))`, and may print
//! `path:line:column` from [`DefError::line`] and [`DefError::column`]. When a file has more than
//! one problem, the first (in file order) is the error and the others ride along as miette
//! `related` diagnostics, so one run of `sifbake validate` lists them all.

use miette::SourceSpan;

use super::model::Span;

/// The header keywords SingularityCE accepts (`validHeaders` in `pkg/build/types/parser/
/// deffile.go`), as the documentation spells them; matching is case-insensitive.
pub(crate) const HEADER_KEYWORDS: &[&str] = &[
    "Bootstrap",
    "From",
    "Stage",
    "Include",
    "IncludeCmd",
    "MirrorURL",
    "UpdateURL",
    "OSVersion",
    "Library",
    "Registry",
    "Namespace",
    "Fingerprints",
    "Setopt",
    "Product",
    "User",
    "Regcode",
    "ProductPGP",
    "RegisterURL",
    "Modules",
    "OtherURL<n>",
];

/// The sections SingularityCE accepts (`validSections` and `appSections` in `deffile.go`).
pub(crate) const SECTION_NAMES: &[&str] = &[
    "setup",
    "files",
    "environment",
    "post",
    "runscript",
    "startscript",
    "test",
    "labels",
    "help",
    "arguments",
    "pre",
    "appinstall",
    "appfiles",
    "appenv",
    "apprun",
    "appstart",
    "apptest",
    "applabels",
    "apphelp",
];

/// What is wrong with a definition file.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    /// An `%app*` section line without an app name.
    #[error("section `%{section}` names no app")]
    AppNameMissing { section: String },
    /// The file has neither a header nor a section with content.
    #[error("the definition file is empty: it has no header and no sections")]
    EmptyDefinition,
    /// A `%files` line from which SingularityCE's splitter extracts no word (it panics).
    #[error("`%files` line `{line}` names no source")]
    FilesLineUnsplittable { line: String },
    /// A header value continued with `\` into a blank or comment line (SingularityCE panics).
    #[error("header keyword `{keyword}` is continued with `\\` into a blank or comment line")]
    HeaderContinuationInterrupted { keyword: String },
    /// A header line without a `:`.
    #[error("header line `{line}` has no `:`")]
    HeaderValueMissing { line: String },
    /// A section line indented with whitespace (other than a header-less file's first line).
    #[error("section line `{line}` is indented")]
    IndentedSection { line: String },
    /// The first section of a header-less file has nothing after its section line.
    #[error("section `%{section}` has no content")]
    SectionBodyMissing { section: String },
    /// A header or section longer than the 64 KiB SingularityCE's scanner can hold.
    #[error("{what} is longer than 64 KiB")]
    SectionTooLong { what: String },
    /// A header keyword SingularityCE does not know.
    #[error("header keyword `{keyword}` is not recognised")]
    UnknownHeaderKeyword {
        keyword: String,
        suggestion: Option<&'static str>,
    },
    /// A section SingularityCE does not know.
    #[error("section `%{name}` is not recognised")]
    UnknownSection {
        name: String,
        suggestion: Option<String>,
    },
}

impl ErrorKind {
    /// Returns the short text shown under the offending span.
    fn label(&self) -> &'static str {
        match self {
            Self::AppNameMissing { .. } => "app name expected after this",
            Self::EmptyDefinition => "nothing to build",
            Self::FilesLineUnsplittable { .. } => "no source here",
            Self::HeaderContinuationInterrupted { .. } => "continued here",
            Self::HeaderValueMissing { .. } => "expected `Key: value`",
            Self::IndentedSection { .. } => "indented section",
            Self::SectionBodyMissing { .. } => "this section is empty",
            Self::SectionTooLong { .. } => "starts here",
            Self::UnknownHeaderKeyword { .. } => "unknown keyword",
            Self::UnknownSection { .. } => "unknown section",
        }
    }

    /// Returns what the user should do about it.
    fn help(&self) -> String {
        match self {
            Self::AppNameMissing { section } => format!(
                "name the app after a space, e.g. `%{section} myapp`; SCIF app sections always \
                 belong to one app"
            ),
            Self::EmptyDefinition => {
                "start the file with a header such as `Bootstrap: docker` and \
                 `From: ubuntu:24.04`, then add sections such as `%post`"
                    .to_owned()
            }
            Self::FilesLineUnsplittable { .. } => "write a source path (and optionally a \
                 destination) on each `%files` line; quote paths with spaces as \"my file\""
                .to_owned(),
            Self::HeaderContinuationInterrupted { .. } => "remove the trailing `\\` or put the \
                 rest of the value on the next line; SingularityCE crashes on a continued value \
                 followed by a blank or comment line"
                .to_owned(),
            Self::HeaderValueMissing { .. } => "write header lines as `Keyword: value` (e.g. \
                 `Bootstrap: docker`); the Singularity 2.x form `Keyword \"value\"` is not \
                 supported, and a header ends at the first `%section` line"
                .to_owned(),
            Self::IndentedSection { .. } => "start the section line at the beginning of the \
                 line; SingularityCE reads an indented `%name` as a section with an empty name \
                 and rejects it"
                .to_owned(),
            Self::SectionBodyMissing { section } => format!(
                "add content to `%{section}` or remove it; SingularityCE cannot split a \
                 header-less file's first section from an empty body"
            ),
            Self::SectionTooLong { .. } => "SingularityCE reads each header and section with a \
                 64 KiB buffer and fails with \"token too long\"; split it into several sections \
                 of the same name (they are joined), or move the script into a file added with \
                 `%files`"
                .to_owned(),
            Self::UnknownHeaderKeyword { suggestion, .. } => format!(
                "{}expected one of {} (in any case); a header ends at the first `%section` line",
                did_you_mean(*suggestion),
                HEADER_KEYWORDS
                    .iter()
                    .map(|keyword| format!("`{keyword}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::UnknownSection { suggestion, .. } => {
                let expected = SECTION_NAMES
                    .iter()
                    .map(|name| format!("`%{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                match suggestion {
                    Some(name) => format!(
                        "did you mean `{name}`? arguments follow a section name after a space; \
                         expected one of {expected}"
                    ),
                    None => format!(
                        "expected one of {expected}; a line whose first word starts with `%` \
                         opens a section, even inside a script or heredoc, so rewrite such a \
                         line so that it does not start with `%`"
                    ),
                }
            }
        }
    }
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |word| format!("did you mean `{word}`? "))
}

/// A definition file SingularityCE would reject, with where and why.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{kind}")]
#[diagnostic(code(sifbake::deffile))]
pub struct DefError {
    /// Boxed to keep `Result<_, DefError>` small (clippy `result_large_err`).
    kind: Box<ErrorKind>,
    #[label("{label}")]
    span: Span,
    label: &'static str,
    #[help]
    help: String,
    #[related]
    related: Vec<DefError>,
}

impl DefError {
    /// Creates an error of `kind` at `span`.
    pub fn new(kind: ErrorKind, span: Span) -> Self {
        Self {
            label: kind.label(),
            help: kind.help(),
            kind: Box::new(kind),
            span,
            related: Vec::new(),
        }
    }

    /// Returns the error with `related` attached as further problems in the same file.
    #[must_use]
    pub fn with_related(mut self, related: Vec<DefError>) -> Self {
        self.related = related;
        self
    }

    /// Returns what is wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Returns where it is wrong.
    pub fn span(&self) -> Span {
        self.span
    }

    /// Returns the 1-based line of the problem.
    pub fn line(&self) -> usize {
        self.span.line
    }

    /// Returns the 1-based column (in characters) of the problem.
    pub fn column(&self) -> usize {
        self.span.column
    }

    /// Returns the further problems found in the same file, in file order.
    pub fn others(&self) -> &[DefError] {
        &self.related
    }
}

impl From<Span> for SourceSpan {
    fn from(span: Span) -> Self {
        SourceSpan::new(span.offset.into(), span.len)
    }
}

/// Returns the candidate closest to `word` (case-insensitive), if it is close enough to be
/// a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    let word_len = word.chars().count();
    candidates
        .iter()
        // The distance is at least the difference in length: skipping candidates that cannot
        // be close keeps a 64 KiB section name from costing millions of table cells.
        .filter(|candidate| word_len.abs_diff(candidate.chars().count()) <= allowed(candidate))
        .map(|candidate| (edit_distance(&word, &candidate.to_lowercase()), *candidate))
        .filter(|(distance, candidate)| *distance <= allowed(candidate))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The largest edit distance at which `candidate` is still suggested.
fn allowed(candidate: &str) -> usize {
    (candidate.len() / 4).max(1)
}

/// Returns the edit distance between `a` and `b` in characters, counting a swap of two
/// neighbours as one edit (optimal string alignment), so `form` is one edit from `from`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1)
                .min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span() -> Span {
        Span {
            offset: 10,
            len: 7,
            line: 2,
            column: 1,
        }
    }

    #[test]
    fn messages_are_lowercase_fragments_and_help_suggests() {
        let error = DefError::new(
            ErrorKind::UnknownHeaderKeyword {
                keyword: "Exclude".to_owned(),
                suggestion: closest("Exclude", HEADER_KEYWORDS),
            },
            span(),
        );
        assert_eq!(
            error.to_string(),
            "header keyword `Exclude` is not recognised"
        );
        let help = miette::Diagnostic::help(&error).map(|help| help.to_string());
        assert!(help.is_some_and(|help| help.contains("`Bootstrap`, `From`")));
        assert_eq!((error.line(), error.column()), (2, 1));
    }

    #[test]
    fn label_points_at_the_span() {
        let error = DefError::new(ErrorKind::EmptyDefinition, span());
        let labels: Vec<_> = miette::Diagnostic::labels(&error)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(labels.len(), 1);
        assert_eq!((labels[0].offset(), labels[0].len()), (10, 7));
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(closest("Bootstap", HEADER_KEYWORDS), Some("Bootstrap"));
        assert_eq!(closest("form", HEADER_KEYWORDS), Some("From"));
        assert_eq!(closest("runscirpt", SECTION_NAMES), Some("runscript"));
        assert_eq!(closest("exclude", HEADER_KEYWORDS), None);
    }

    #[test]
    fn related_errors_are_kept() {
        let error = DefError::new(ErrorKind::EmptyDefinition, span())
            .with_related(vec![DefError::new(ErrorKind::EmptyDefinition, span())]);
        assert_eq!(error.others().len(), 1);
        assert_eq!(
            miette::Diagnostic::related(&error).map(Iterator::count),
            Some(1)
        );
    }
}
