//! Tags for an image: the manifest's tag rules evaluated against the run's ref context, then
//! sanitised to the library's tag alphabet.
//!
//! Values in, values out; the rules come from `manifest`, the context from `context`.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::context::{RefContext, RefKind};
use crate::manifest::{Condition, Piece, TagRule, TagRuleKind, format_date, parse_expressions};

/// The longest tag sifbake writes. The library accepts 255 characters (PROTOCOL.md §4.2);
/// 128 is the OCI/Docker limit, which keeps tags portable to registries too.
pub const MAX_TAG_LEN: usize = 128;

/// The prefix of the tag that records an image's input digest.
pub const DIGEST_TAG_PREFIX: &str = "inputs-";

/// How many hex digits of the input digest the tag carries (64 bits).
pub const DIGEST_TAG_HEX: usize = 16;

/// The tags one image gets, and anything worth telling about how they came about.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct TagSet {
    pub tags: Vec<String>,
    /// Rules that yielded nothing for a reason the user may not expect.
    pub notes: Vec<String>,
}

/// Returns the tag for an input digest (64 lowercase hex): `inputs-<first 16 hex>`.
pub fn digest_tag(digest_hex: &str) -> String {
    let short: String = digest_hex.chars().take(DIGEST_TAG_HEX).collect();
    format!("{DIGEST_TAG_PREFIX}{short}")
}

/// Turns any text into a valid library tag: lowercase; every run of characters outside
/// `[a-z0-9]` becomes one separator (kept when the run is a single `.`, `_` or `-` repeated,
/// `-` otherwise); no separator at either end; at most [`MAX_TAG_LEN`] characters, a longer
/// result being cut and suffixed with 8 hex of the SHA-256 of the original text, so two long
/// names that share a prefix still get different tags. Returns `None` when nothing is left.
pub fn sanitize(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<char> = None;
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if let Some(separator) = pending.take()
                && !out.is_empty()
            {
                out.push(separator);
            }
            out.push(c);
        } else {
            let separator = if matches!(c, '.' | '_' | '-') { c } else { '-' };
            pending = Some(match pending {
                None => separator,
                Some(previous) if previous == separator => separator,
                Some(_) => '-',
            });
        }
    }
    if out.is_empty() {
        return None;
    }
    if out.len() > MAX_TAG_LEN {
        let hash = Sha256::digest(text.as_bytes());
        let suffix: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
        out.truncate(MAX_TAG_LEN - suffix.len() - 1);
        while out.ends_with(['.', '_', '-']) {
            out.pop();
        }
        out.push('-');
        out.push_str(&suffix);
    }
    Some(out)
}

/// What rules may need beyond the ref: the run's time and the repository's tags.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct TagFacts {
    /// Seconds since the Unix epoch: the run's time, for `{{date …}}`.
    pub now: i64,
    /// The repository's git tags, when read (only `latest` rules need them).
    pub repository_tags: Option<Vec<String>>,
    /// The clone is shallow, so `repository_tags` may lack releases.
    pub shallow: bool,
}

/// Evaluates tag rules for a context. Tags are deduplicated and keep the rules' order,
/// unless a rule sets `priority`: then, as docker/metadata-action does, tags of higher
/// priority come first (rules without one take metadata-action's default for their type).
pub fn evaluate(rules: &[TagRule], context: &RefContext, facts: &TagFacts) -> TagSet {
    let mut set = TagSet::default();
    let mut ordered: Vec<&TagRule> = rules.iter().collect();
    if rules.iter().any(|rule| rule.priority.is_some()) {
        ordered.sort_by_key(|rule| {
            std::cmp::Reverse(
                rule.priority
                    .unwrap_or_else(|| rule.kind.default_priority()),
            )
        });
    }
    for rule in ordered {
        if !rule.conditions.is_empty() && !rule.conditions.iter().any(|c| holds(c, context)) {
            continue;
        }
        let Some(value) = raw_value(rule, context, facts, &mut set.notes) else {
            continue;
        };
        let prefix = expand(&rule.prefix, context, facts);
        let suffix = expand(&rule.suffix, context, facts);
        let text = format!("{prefix}{value}{suffix}");
        match sanitize(&text) {
            Some(tag) => {
                if !set.tags.contains(&tag) {
                    set.tags.push(tag);
                }
            }
            None => set.notes.push(format!(
                "`{text}` has no character a tag can keep; no tag from it"
            )),
        }
    }
    set
}

/// Fills the expressions of a checked `raw`, `prefix`, `suffix` or `schedule` text.
fn expand(text: &str, context: &RefContext, facts: &TagFacts) -> String {
    let Ok(pieces) = parse_expressions(text) else {
        return text.to_owned();
    };
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Branch => match &context.kind {
                RefKind::Branch { name } => out.push_str(name),
                RefKind::PullRequest {
                    head_branch: Some(name),
                    ..
                } => out.push_str(name),
                _ => {}
            },
            Piece::Tag => {
                if let RefKind::Tag { name } = &context.kind {
                    out.push_str(name);
                }
            }
            Piece::Sha => out.extend(
                context
                    .sha
                    .chars()
                    .take(crate::manifest::DEFAULT_SHA_LENGTH),
            ),
            Piece::BaseRef => {
                if let RefKind::PullRequest {
                    base_branch: Some(name),
                    ..
                } = &context.kind
                {
                    out.push_str(name);
                }
            }
            Piece::IsDefaultBranch => out.push_str(if context.on_default_branch() {
                "true"
            } else {
                "false"
            }),
            Piece::Date {
                format,
                offset_minutes,
            } => out.push_str(&format_date(facts.now, &format, offset_minutes)),
        }
    }
    out
}

/// Returns true if and only if a rule's condition holds for the context.
pub fn holds(condition: &Condition, context: &RefContext) -> bool {
    match condition {
        Condition::DefaultBranch => context.on_default_branch(),
        Condition::Branch => matches!(context.kind, RefKind::Branch { .. }),
        Condition::Tag => matches!(context.kind, RefKind::Tag { .. }),
        Condition::Pr => context.is_pull_request(),
        Condition::Event(event) => &context.event == event,
    }
}

/// The text a rule yields before prefix, suffix and sanitisation, if the rule applies.
fn raw_value(
    rule: &TagRule,
    context: &RefContext,
    facts: &TagFacts,
    notes: &mut Vec<String>,
) -> Option<String> {
    match (&rule.kind, &context.kind) {
        (TagRuleKind::Branch, RefKind::Branch { name }) => Some(name.clone()),
        (TagRuleKind::Pr, RefKind::PullRequest { number, .. }) => Some(format!("pr-{number}")),
        (TagRuleKind::Tag, RefKind::Tag { name }) => Some(name.clone()),
        (TagRuleKind::Semver { template }, RefKind::Tag { name }) => {
            semver_value(template, name, notes)
        }
        (TagRuleKind::Sha { length }, _) => {
            let short: String = context.sha.chars().take(*length).collect();
            (!short.is_empty()).then(|| format!("sha-{short}"))
        }
        (TagRuleKind::Raw { value }, _) => Some(expand(value, context, facts)),
        (TagRuleKind::Pep440 { template }, RefKind::Tag { name }) => {
            pep440_value(template, name, notes)
        }
        (
            TagRuleKind::Match {
                pattern,
                group,
                value,
            },
            kind,
        ) => {
            let text = match (value, kind) {
                (Some(value), _) => value.as_str(),
                (None, RefKind::Tag { name }) => name.as_str(),
                _ => return None,
            };
            let regex = regex::Regex::new(pattern).ok()?;
            let found = regex
                .captures(text)
                .and_then(|captures| captures.get(*group))
                .map(|m| m.as_str().to_owned());
            if found.is_none() {
                notes.push(format!(
                    "`{text}` does not match `{pattern}`; that `match` rule gives no tag"
                ));
            }
            found
        }
        (TagRuleKind::Schedule { template }, _) if context.event == "schedule" => {
            Some(expand(template, context, facts))
        }
        (TagRuleKind::Edge { branch }, RefKind::Branch { name }) => {
            let edge = branch.as_ref().or(context.default_branch.as_ref());
            (edge == Some(name)).then(|| "edge".to_owned())
        }
        (TagRuleKind::Latest, _) => latest::value(context, facts, notes),
        _ => None,
    }
}

/// Fills a semver template from a git tag such as `v1.2.3`. A pre-release (`1.3.0-rc.1`)
/// only fills templates made of `{{version}}` and `{{raw}}`, so a release candidate never
/// moves the `1.3` or `1` tags (docker/metadata-action behaves the same way).
fn semver_value(template: &str, tag: &str, notes: &mut Vec<String>) -> Option<String> {
    let stripped = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let Ok(version) = semver::Version::parse(stripped) else {
        notes.push(format!(
            "tag `{tag}` is not a semantic version (MAJOR.MINOR.PATCH); `semver` rules give no tag"
        ));
        return None;
    };
    let mut values = BTreeMap::new();
    values.insert("version", version.to_string());
    values.insert("raw", tag.to_owned());
    let release = version.pre.is_empty();
    if release {
        values.insert("major", version.major.to_string());
        values.insert("minor", version.minor.to_string());
        values.insert("patch", version.patch.to_string());
    }
    fill(template, &values)
}

/// Fills `{{name}}` placeholders from `values`; `None` when one has no value (a
/// pre-release lacks major/minor/patch on purpose: the rule then yields nothing).
fn fill(template: &str, values: &BTreeMap<&str, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}")?;
        let name = rest[start + 2..start + end].trim();
        out.push_str(values.get(name)?);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// Finds other branch names that sanitise to the same tag as `branch`: their images would
/// overwrite each other's branch tag.
pub fn branch_collisions<'a>(branch: &str, others: &'a [String]) -> Vec<&'a str> {
    let Some(tag) = sanitize(branch) else {
        return Vec::new();
    };
    others
        .iter()
        .filter(|other| {
            other.as_str() != branch && sanitize(other).as_deref() == Some(tag.as_str())
        })
        .map(String::as_str)
        .collect()
}

mod latest;
mod pep440;

use pep440::pep440_value;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
