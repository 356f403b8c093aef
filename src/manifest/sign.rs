//! `sign:` — which environment variables hold the OpenPGP key that signs a target's images.
//!
//! The manifest names variables, never key material: a manifest is committed and read by
//! anyone with the repository, a CI secret is not. A value that looks like a key (or any
//! multi-line text) is refused, and no message about a `sign:` value ever repeats it: the
//! snippet under the error shows the line with the value masked.

use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::yaml;
use crate::diagnostic::{Diagnostic, Location, SourceFile};

/// How a target's images are signed, once the manifest is resolved: the names of the
/// environment variables the signer reads, never their values (a plan needs no secret).
#[derive(Clone, Debug, Eq, PartialEq, serde::Serialize)]
pub struct SignSpec {
    /// The variable holding the ASCII-armored private key.
    pub key_env: String,
    /// The variable holding the key's passphrase, when it has one.
    pub passphrase_env: Option<String>,
    /// Whether the public key is pushed to the remote's keystore.
    pub keystore: bool,
}

/// `sign:` as written: `false`, or the map of variable names.
#[derive(Debug)]
pub enum SignEntry {
    /// `sign: false` opts a target out of the default; `sign: true` names no key (an error).
    Switch(bool),
    /// Text where a map belongs: kept (not put in a serde error, which would echo it) so
    /// the loader can refuse it without repeating it.
    Text,
    Map(Box<SignFields>),
}

/// `sign: {key: …, passphrase: …, keystore: …}`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignFields {
    /// The environment variable (a CI secret) holding the ASCII-armored OpenPGP private key,
    /// e.g. `SIFBAKE_SIGNING_KEY`. Never the key itself.
    #[schemars(with = "String")]
    pub key: Option<Spanned<String>>,
    /// The environment variable holding the key's passphrase, when it has one.
    #[schemars(with = "Option<String>")]
    pub passphrase: Option<Spanned<String>>,
    /// Push the public key to the remote's keystore, so `singularity verify` finds it.
    /// Default `false`.
    #[schemars(with = "Option<bool>")]
    pub keystore: Option<Spanned<bool>>,
}

/// The keys of `sign:`, for suggestions.
pub const SIGN_KEYS: &[&str] = &["key", "passphrase", "keystore"];

impl<'de> Deserialize<'de> for SignEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;

        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = SignEntry;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`false` or a map such as `{key: SIFBAKE_SIGNING_KEY}`")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<SignEntry, E> {
                Ok(SignEntry::Switch(value))
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<SignEntry, E> {
                Ok(SignEntry::Text)
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SignEntry, E> {
                Ok(SignEntry::Text)
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SignEntry, E> {
                Ok(SignEntry::Text)
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<SignEntry, E> {
                Ok(SignEntry::Text)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SignEntry, A::Error> {
                SignFields::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|fields| SignEntry::Map(Box::new(fields)))
            }
        }

        deserializer.deserialize_any(EntryVisitor)
    }
}

impl JsonSchema for SignEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SignEntry".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`false` (no signing), or the environment variables holding the signing key and its passphrase.",
            "anyOf": [
                {"const": false},
                generator.subschema_for::<SignFields>()
            ]
        })
    }
}

const SIGN_HELP: &str = "write `sign: {key: SIFBAKE_SIGNING_KEY, passphrase: SIFBAKE_SIGNING_PASSPHRASE}`: \
     the names of environment variables (CI secrets) holding the armored private key and its passphrase";

/// Checks a `sign:` value. `Some(None)` is `sign: false`; `None` is an error, recorded.
pub(super) fn check(
    entry: &Spanned<SignEntry>,
    source: &Arc<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Option<SignSpec>> {
    let fields = match &entry.value {
        SignEntry::Switch(false) => return Some(None),
        SignEntry::Switch(true) => {
            diagnostics.push(
                Diagnostic::error("manifest::sign", "`sign: true` names no signing key")
                    .at(yaml::locate(source, &entry.referenced))
                    .help(SIGN_HELP),
            );
            return None;
        }
        SignEntry::Text => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::sign",
                    "`sign` takes a map of environment variable names, not a value",
                )
                .at(masked(source, &entry.referenced))
                .help(SIGN_HELP),
            );
            return None;
        }
        SignEntry::Map(fields) => fields,
    };
    let Some(key) = &fields.key else {
        diagnostics.push(
            Diagnostic::error("manifest::sign", "`sign` has no `key`")
                .at(yaml::locate(source, &entry.referenced))
                .help(SIGN_HELP),
        );
        return None;
    };
    let key_env = check_name("key", key, source, diagnostics);
    let passphrase_env = match &fields.passphrase {
        Some(passphrase) => Some(check_name("passphrase", passphrase, source, diagnostics)?),
        None => None,
    };
    Some(Some(SignSpec {
        key_env: key_env?,
        passphrase_env,
        keystore: fields.keystore.as_ref().is_some_and(|k| k.value),
    }))
}

/// Checks that `sign.<field>` names an environment variable. The value is never put in a
/// message: a passphrase typed here by mistake must not reach a CI log.
fn check_name(
    field: &str,
    value: &Spanned<String>,
    source: &Arc<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    let text = &value.value;
    if looks_like_secret(text) {
        diagnostics.push(
            Diagnostic::error(
                "manifest::sign-secret",
                format!("`sign.{field}` holds key material, not the name of an environment variable"),
            )
            .at(masked(source, &value.referenced))
            .help(format!(
                "never commit a key: remove it from the manifest (and rotate it if it was pushed), store it as a CI secret \
                 exposed as an environment variable, and name that variable here, e.g. `{field}: {}`",
                example(field)
            )),
        );
        return None;
    }
    if !is_env_name(text) {
        diagnostics.push(
            Diagnostic::error(
                "manifest::sign",
                format!("`sign.{field}` is not the name of an environment variable"),
            )
            .at(masked(source, &value.referenced))
            .help(format!(
                "name the variable that holds the {}, e.g. `{field}: {}` (letters, digits and `_`, not starting with a digit); \
                 the value itself belongs in a CI secret",
                if field == "key" { "armored private key" } else { "passphrase" },
                example(field)
            )),
        );
        return None;
    }
    Some(text.clone())
}

fn example(field: &str) -> &'static str {
    if field == "key" {
        "SIFBAKE_SIGNING_KEY"
    } else {
        "SIFBAKE_SIGNING_PASSPHRASE"
    }
}

/// Key material, or anything spanning lines, which no variable name does.
fn looks_like_secret(text: &str) -> bool {
    text.contains("-----BEGIN PGP") || text.contains(['\n', '\r'])
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what a shell, GitHub and GitLab accept as a variable name.
pub(super) fn is_env_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The location of a value, in a copy of the manifest where that value (every line it
/// spans) is masked: the error still names the file and line, and its snippet shows
/// `key: ********` instead of the text.
fn masked(source: &Arc<SourceFile>, at: &serde_saphyr::Location) -> Location {
    let location = yaml::locate(source, at);
    let text = &source.text;
    let start = location.offset.min(text.len());
    // A block scalar's span runs on to the next key: mask the value's first line, and on
    // through its continuation lines: those of a block scalar (the
    // value starts its line) are indented at least as far as its first, those of a quoted
    // or plain scalar further than the line of its key.
    let mut end = text[start..].find('\n').map_or(text.len(), |at| start + at);
    let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let indent = text[line_start..].chars().take_while(|c| *c == ' ').count();
    let block = line_start + indent == start;
    while end < text.len() {
        let next = &text[end + 1..];
        let line = next.split('\n').next().unwrap_or_default();
        let line_indent = line.chars().take_while(|c| *c == ' ').count();
        let continues =
            line.trim().is_empty() || line_indent > indent || (block && line_indent == indent);
        if !continues || next.is_empty() {
            break;
        }
        end = end + 1 + line.len();
    }
    let mut shown = String::with_capacity(text.len());
    shown.push_str(&text[..start]);
    shown.extend(text[start..end].chars().map(|c| match c {
        '\n' | '\r' => c,
        _ => '*',
    }));
    shown.push_str(&text[end..]);
    let masked = SourceFile::new(source.name.clone(), shown);
    let len = text[start..end].find('\n').unwrap_or(end - start);
    Location::new(&masked, start, len.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names() {
        for good in ["SIFBAKE_SIGNING_KEY", "_k", "a1"] {
            assert!(is_env_name(good), "{good}");
        }
        for bad in ["", "1KEY", "MY-KEY", "MY KEY", "KÉY", "$KEY"] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }
}
