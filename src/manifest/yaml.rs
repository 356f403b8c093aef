//! Reading the manifest's YAML: serde-saphyr's errors and spans turned into diagnostics.

use std::sync::Arc;

use serde_saphyr::Error as YamlError;

use super::schema::{DEFAULTS_KEYS, MANIFEST_KEYS, PUBLISH_KEYS, TAG_RULE_KEYS, TARGET_KEYS};
use super::sign::SIGN_KEYS;
use super::suggest::did_you_mean;
use crate::diagnostic::{Diagnostic, Location, SourceFile};

/// Limits that keep a hostile manifest from exhausting memory; far above any real one.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 1_000_000,
            // Many aliases of one anchor are how YAML says "the same list for every
            // target", not an attack: the node budget bounds what aliases expand to.
            enforce_alias_anchor_ratio: false,
        },
        // A tag sifbake does not know (`!include`) would otherwise be dropped silently and
        // its value read as if untagged.
        reject_unsupported_tags: true,
    }
}

/// Parses YAML text into `T`, or returns the located error.
pub fn parse<T: serde::de::DeserializeOwned>(source: &Arc<SourceFile>) -> Result<T, Diagnostic> {
    serde_saphyr::from_str_with_options(&source.text, options())
        .map_err(|error| to_diagnostic(source, &error))
}

/// Returns the manifest location of a YAML span.
pub fn locate(source: &Arc<SourceFile>, location: &serde_saphyr::Location) -> Location {
    let span = location.span();
    match (span.byte_offset(), span.byte_len()) {
        (Some(offset), Some(len)) => Location::new(
            source,
            usize::try_from(offset).unwrap_or(usize::MAX),
            usize::try_from(len).unwrap_or(0),
        ),
        _ => from_line_column(source, location.line(), location.column()),
    }
}

fn from_line_column(source: &Arc<SourceFile>, line: u64, column: u64) -> Location {
    let line = usize::try_from(line).unwrap_or(1);
    let mut location = Location::of_line(source, line);
    let text = &source.text[location.offset..location.offset + location.len];
    let skip: usize = text
        .chars()
        .take(usize::try_from(column).unwrap_or(1).saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    location = Location::new(source, location.offset + skip, location.len - skip);
    location
}

/// Turns a serde-saphyr error into a diagnostic with a hint.
fn to_diagnostic(source: &Arc<SourceFile>, error: &YamlError) -> Diagnostic {
    let inner = error.without_snippet();
    let location = inner.location().map(|l| {
        let mut location = locate(source, &l);
        // Point at the token, not the rest of the document.
        location.len = token_len(&source.text[location.offset..]);
        location
    });
    let (code, message, help) = match inner {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => (
            "manifest::unknown-key",
            format!("unknown key `{field}`"),
            unknown_key_help(field, expected),
        ),
        YamlError::DuplicateMappingKey { key, .. } => (
            "manifest::duplicate-key",
            match key {
                Some(key) => format!("duplicate key `{key}`"),
                None => "duplicate key".to_owned(),
            },
            "each key may appear once in a map; remove or rename one of them".to_owned(),
        ),
        YamlError::SerdeMissingField { field, .. } => (
            "manifest::missing-key",
            format!("missing key `{field}`"),
            missing_key_help(field),
        ),
        YamlError::SerdeInvalidType { .. } | YamlError::SerdeInvalidValue { .. } => (
            "manifest::wrong-type",
            strip_position(&inner.to_string()),
            "see the manifest reference in README.md for the type of each key".to_owned(),
        ),
        YamlError::Budget { breach, .. } => {
            let (message, help) = budget_text(breach);
            // The budget is checked as the document is read: the place it ran out (often
            // the end of the file) is not where the problem is.
            return Diagnostic::error("manifest::too-large", message).help(help);
        }
        YamlError::UnsupportedTag { tag, .. } => (
            "manifest::yaml-tag",
            format!("the YAML tag `{tag}` is not supported"),
            "sifbake reads the manifest as plain YAML (no `!include` or other custom tags); remove the tag and write the value here".to_owned(),
        ),
        YamlError::NullIntoString { .. } => (
            "manifest::wrong-type",
            "expected a text value, found nothing (`~` or an empty value)".to_owned(),
            "write a value after the colon (quote it if it is empty: `\"\"`), or remove the key".to_owned(),
        ),
        YamlError::InvalidUtf8Input => (
            "manifest::encoding",
            "the manifest is not valid UTF-8".to_owned(),
            "save the file as UTF-8".to_owned(),
        ),
        YamlError::Eof { .. } => (
            "manifest::empty",
            "the manifest is empty".to_owned(),
            "start it with `version: 1` and a `targets:` map (see README.md)".to_owned(),
        ),
        // The library's own text names its API ("use from_str_multidoc").
        YamlError::MultipleDocuments { .. } => (
            "manifest::syntax",
            "the manifest holds more than one YAML document".to_owned(),
            "keep one document: remove this `---` line, and merge what follows it into the first"
                .to_owned(),
        ),
        // The library says "invalid u64".
        YamlError::InvalidScalar { ty, .. } => (
            "manifest::wrong-type",
            format!(
                "expected {}",
                match *ty {
                    "bool" => "`true` or `false`",
                    "f32" | "f64" => "a number",
                    "char" => "a single character",
                    _ => "a whole number",
                }
            ),
            "see the manifest reference in README.md for the type of each key".to_owned(),
        ),
        _ => {
            let message = strip_position(&inner.to_string());
            let help = if message.contains("expected mapping") {
                "this key takes a map (indented `name: value` lines), not a list or a single value"
            } else if message.contains("expected sequence") {
                "this key takes a list (`[a, b]` or `- a` lines)"
            } else {
                "check the YAML syntax at this point: indentation, colons and quotes"
            };
            ("manifest::syntax", message, help.to_owned())
        }
    };
    Diagnostic::error(code, message).at_opt(location).help(help)
}

/// Says which limit a manifest ran into, in the manifest's terms.
fn budget_text(breach: &serde_saphyr::budget::BudgetBreach) -> (String, String) {
    use serde_saphyr::budget::BudgetBreach;
    let help = "a manifest this large is not a plausible sifbake.yaml; if it is generated, split it or write lists out instead of repeating aliases".to_owned();
    let message = match breach {
        BudgetBreach::Depth { .. } => {
            return (
                "the manifest nests maps and lists more than 64 levels deep".to_owned(),
                "a sifbake.yaml needs a few levels; check the indentation".to_owned(),
            );
        }
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
            "the manifest holds (or its aliases expand to) more than 1,000,000 values".to_owned()
        }
        BudgetBreach::Aliases { aliases } => {
            format!("the manifest uses more than {aliases} aliases (`*name`)")
        }
        BudgetBreach::Anchors { anchors } => {
            format!("the manifest defines more than {anchors} anchors (`&name`)")
        }
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
            "the manifest's anchors (`&name`) hold more than sifbake keeps for aliases".to_owned()
        }
        BudgetBreach::Documents { .. } => "the manifest holds too many YAML documents".to_owned(),
        _ => "the manifest is larger than sifbake reads".to_owned(),
    };
    (message, help)
}

/// The keys a manifest must not have because the remote builder cannot honour them
/// (PROTOCOL.md §2.7), mapped to the reason.
const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    ("encrypt", "remote builds cannot encrypt images"),
    ("encryption", "remote builds cannot encrypt images"),
    ("passphrase", "remote builds cannot encrypt images"),
    ("pem", "remote builds cannot encrypt images"),
    ("pem_path", "remote builds cannot encrypt images"),
    ("nv", "remote builds cannot use GPUs (--nv)"),
    ("rocm", "remote builds cannot use GPUs (--rocm)"),
    ("bind", "remote builds cannot bind-mount host paths"),
    ("mount", "remote builds cannot bind-mount host paths"),
    (
        "writable_tmpfs",
        "remote builds do not support --writable-tmpfs",
    ),
    ("sandbox", "remote builds produce SIF images, not sandboxes"),
    ("build_args", "build arguments are written as `args:`"),
    ("build-args", "build arguments are written as `args:`"),
];

fn unknown_key_help(field: &str, expected: &[&str]) -> String {
    if let Some((_, reason)) = UNSUPPORTED_KEYS.iter().find(|(key, _)| *key == field) {
        if field.starts_with("build") {
            return (*reason).to_owned();
        }
        return format!("{reason}; remove `{field}` (see PROTOCOL.md §2.7 of the Sylabs services)");
    }
    // serde names the keys of the struct it was reading; prefer our ordered lists so the hint
    // reads the same as the README.
    let known: &[&str] = [
        MANIFEST_KEYS,
        DEFAULTS_KEYS,
        TARGET_KEYS,
        TAG_RULE_KEYS,
        PUBLISH_KEYS,
        SIGN_KEYS,
    ]
    .into_iter()
    .find(|keys| expected.iter().all(|e| keys.contains(e)))
    .unwrap_or(expected);
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some((key, found, wanted)) = lookalike(field, known) {
        return format!(
            "did you mean `{key}`? `{field}` has the non-ASCII character `{found}` (U+{:04X}) where `{key}` has `{wanted}`; retype it. Valid keys here: {list}",
            u32::from(found)
        );
    }
    match did_you_mean(field, known) {
        Some(suggestion) => format!("did you mean `{suggestion}`? Valid keys here: {list}"),
        None => format!("valid keys here: {list}"),
    }
}

/// Returns the known key `field` looks like when it differs only by non-ASCII characters
/// (a Cyrillic `е` for `e`, pasted from a document or typed on another layout), with the
/// first such character and the ASCII one it stands for.
fn lookalike<'a>(field: &str, known: &[&'a str]) -> Option<(&'a str, char, char)> {
    if field.is_ascii() {
        return None;
    }
    known.iter().find_map(|key| {
        if key.chars().count() != field.chars().count() {
            return None;
        }
        let mut first = None;
        for (found, wanted) in field.chars().zip(key.chars()) {
            if found == wanted {
                continue;
            }
            if found.is_ascii() {
                return None;
            }
            first.get_or_insert((found, wanted));
        }
        first.map(|(found, wanted)| (*key, found, wanted))
    })
}

fn missing_key_help(field: &str) -> String {
    match field {
        "version" => "start the manifest with `version: 1`".to_owned(),
        "targets" => "add a `targets:` map naming at least one definition file".to_owned(),
        other => format!("add `{other}:`"),
    }
}

/// serde-saphyr's messages end with " at line L column C"; the snippet shows that already.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// The length of the token starting at the text's beginning (to the end of the key or
/// value on that line).
fn token_len(text: &str) -> usize {
    let line = text.split(['\n', '\r']).next().unwrap_or_default();
    let end = line
        .find(':')
        .filter(|i| *i > 0)
        .unwrap_or(line.trim_end().len());
    end.max(1).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_with_a_lookalike_letter_is_named_with_the_letter() {
        let keys = ["def", "glob", "ref"];
        assert_eq!(lookalike("d\u{435}f", &keys), Some(("def", '\u{435}', 'e')));
        assert_eq!(lookalike("r\u{435}f", &keys), Some(("ref", '\u{435}', 'e')));
        assert_eq!(
            lookalike("deg", &keys),
            None,
            "ASCII typos are did_you_mean's"
        );
        assert_eq!(lookalike("d\u{435}fs", &keys), None);
        assert_eq!(
            lookalike("x\u{435}f", &keys),
            None,
            "an ASCII letter differs too"
        );
    }

    #[test]
    fn budget_breaches_speak_of_the_manifest() {
        use serde_saphyr::budget::BudgetBreach;
        let (message, _) = budget_text(&BudgetBreach::Nodes { nodes: 1_000_001 });
        assert_eq!(
            message,
            "the manifest holds (or its aliases expand to) more than 1,000,000 values"
        );
        let (message, help) = budget_text(&BudgetBreach::Depth { depth: 65 });
        assert!(message.contains("64 levels") && help.contains("indentation"));
    }
}
