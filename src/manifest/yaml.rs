//! Reading the manifest's YAML: serde-saphyr's errors and spans turned into diagnostics.

use std::sync::Arc;

use serde_saphyr::Error as YamlError;

use super::schema::{DEFAULTS_KEYS, MANIFEST_KEYS, PUBLISH_KEYS, TAG_RULE_KEYS, TARGET_KEYS};
use super::suggest::did_you_mean;
use crate::diagnostic::{Diagnostic, Location, SourceFile};

/// Limits that keep a hostile manifest from exhausting memory; far above any real one.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 1_000_000,
        },
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
        YamlError::Budget { .. } => (
            "manifest::too-large",
            strip_position(&inner.to_string()),
            "a manifest this large or deeply nested is not a plausible sifbake.yaml".to_owned(),
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
    ]
    .into_iter()
    .find(|keys| expected.iter().all(|e| keys.contains(e)))
    .unwrap_or(expected);
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(field, known) {
        Some(suggestion) => format!("did you mean `{suggestion}`? Valid keys here: {list}"),
        None => format!("valid keys here: {list}"),
    }
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
