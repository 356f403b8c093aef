//! `labels:` — the user's own `%labels`, added to every image of a target next to the
//! provenance labels, as `singularity inspect` shows them.
//!
//! A `%labels` line is a name, whitespace, and the rest of the line as the value; a name
//! starting with `#` would be a comment and one starting with `%` a new section. Names are
//! held to what label schemes use (`org.opencontainers.image.authors`, `Maintainer`), and
//! values to one line, so what the manifest says is exactly what the image carries.

use std::collections::{BTreeMap, HashMap};

use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Location};

/// `labels:` as written: name → value, both located.
pub type LabelsSpec = HashMap<Spanned<String>, Spanned<String>>;

/// Checks a `labels:` map; returns the valid labels, recording each problem.
pub(super) fn check(
    spec: &LabelsSpec,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    // In file order, so the errors read top to bottom.
    let mut entries: Vec<_> = spec.iter().collect();
    entries.sort_by_key(|(name, _)| name.referenced.span().byte_offset());
    let mut labels = BTreeMap::new();
    for (name, value) in entries {
        if let Some(problem) = name_problem(&name.value) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::labels",
                    format!("label name `{}` {problem}", name.value.escape_debug()),
                )
                .at(locate(&name.referenced))
                .help("label names start with a letter or digit and use letters, digits, `.`, `_` and `-`, e.g. `org.opencontainers.image.authors`"),
            );
            continue;
        }
        let text = value.value.trim();
        if value.value.contains(['\n', '\r']) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::labels",
                    format!("the value of label `{}` spans several lines", name.value),
                )
                .at(locate(&value.referenced))
                .help("a `%labels` entry is one line: write the value on one line"),
            );
            continue;
        }
        if text.is_empty() {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::labels",
                    format!("label `{}` has an empty value", name.value),
                )
                .at(locate(&name.referenced))
                .help("give the label a value, or remove it"),
            );
            continue;
        }
        labels.insert(name.value.clone(), text.to_owned());
    }
    labels
}

fn name_problem(name: &str) -> Option<&'static str> {
    let Some(first) = name.chars().next() else {
        return Some("is empty");
    };
    if !first.is_ascii_alphanumeric() {
        return Some("does not start with a letter or digit");
    }
    if name.chars().any(char::is_whitespace) {
        return Some("contains whitespace");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some("contains a character other than letters, digits, `.`, `_` and `-`");
    }
    None
}

/// The labels of a target: the defaults', each replaced by the target's own of that name.
pub(super) fn merge(
    defaults: &BTreeMap<String, String>,
    own: Option<BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut labels = defaults.clone();
    labels.extend(own.unwrap_or_default());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names() {
        assert_eq!(name_problem("org.opencontainers.image.authors"), None);
        assert_eq!(name_problem("Maintainer"), None);
        assert_eq!(name_problem("a-b_c.1"), None);
        assert_eq!(name_problem(""), Some("is empty"));
        assert!(name_problem("#x").is_some_and(|p| p.contains("start")));
        assert!(name_problem("%post").is_some_and(|p| p.contains("start")));
        assert!(name_problem("a b").is_some_and(|p| p.contains("whitespace")));
        assert!(name_problem("a=b").is_some_and(|p| p.contains("other")));
    }

    #[test]
    fn a_targets_label_replaces_the_defaults_of_that_name_only() {
        let defaults = BTreeMap::from([
            ("team".to_owned(), "hpc".to_owned()),
            ("tier".to_owned(), "base".to_owned()),
        ]);
        let own = BTreeMap::from([("tier".to_owned(), "app".to_owned())]);
        let merged = merge(&defaults, Some(own));
        assert_eq!(merged["team"], "hpc");
        assert_eq!(merged["tier"], "app");
        assert_eq!(merge(&defaults, None), defaults);
    }
}
