//! The manifest file format (version 1) as serde types, exactly as written by users.
//!
//! Every struct denies unknown keys; values that later checks point at are `Spanned` so the
//! error can name the line. These types are only read by `load.rs`, which turns them into the
//! resolved [`super::Manifest`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// The whole `sifbake.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub version: Spanned<u64>,
    #[serde(default)]
    pub defaults: Option<DefaultsSpec>,
    pub targets: Spanned<HashMap<Spanned<String>, Spanned<TargetSpec>>>,
}

/// The keys of the top level, for suggestions.
pub const MANIFEST_KEYS: &[&str] = &["version", "defaults", "targets"];

/// `defaults:` — values every target starts from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    pub library: Option<Spanned<String>>,
    pub arch: Option<Spanned<OneOrMany>>,
    pub timeout: Option<Spanned<String>>,
    pub tags: Option<Spanned<Vec<Spanned<TagRuleEntry>>>>,
    pub args: Option<BTreeMap<String, Spanned<String>>>,
    pub publish: Option<PublishSpec>,
    pub context: Option<Spanned<String>>,
}

/// The keys of `defaults:`, for suggestions.
pub const DEFAULTS_KEYS: &[&str] = &[
    "library", "arch", "timeout", "tags", "args", "publish", "context",
];

/// `defaults.publish:` — what a build does with its images, per kind of git ref.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    pub pr: Option<Spanned<String>>,
    pub branch: Option<Spanned<String>>,
    pub tag: Option<Spanned<String>>,
}

/// The keys of `publish:`, for suggestions.
pub const PUBLISH_KEYS: &[&str] = &["pr", "branch", "tag"];

/// One entry of `targets:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub def: Option<Spanned<String>>,
    pub glob: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    #[serde(rename = "ref")]
    pub reference: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
    pub inputs: Option<Vec<Spanned<String>>>,
    pub args: Option<BTreeMap<String, Spanned<String>>>,
    pub arch: Option<Spanned<OneOrMany>>,
    pub depends_on: Option<Vec<Spanned<String>>>,
    pub tags: Option<Spanned<Vec<Spanned<TagRuleEntry>>>>,
    pub timeout: Option<Spanned<String>>,
}

/// The keys of a target, for suggestions.
pub const TARGET_KEYS: &[&str] = &[
    "def",
    "glob",
    "name",
    "ref",
    "context",
    "inputs",
    "args",
    "arch",
    "depends_on",
    "tags",
    "timeout",
];

/// A string or a list of strings (`arch: amd64` or `arch: [amd64, arm64]`). Items of a list
/// keep their own spans; a single string is located by the enclosing `Spanned`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct OneOrMany(pub Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;

        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
                let unknown = serde_saphyr::Location::UNKNOWN;
                Ok(OneOrMany(vec![Spanned::new(
                    value.to_owned(),
                    unknown,
                    unknown,
                )]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<Spanned<String>>()? {
                    values.push(value);
                }
                Ok(OneOrMany(values))
            }
        }

        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

/// A tag rule written as a map: `semver: "{{major}}"`, `raw: latest` with `if:`,
/// `type: sha` with `length:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRuleSpec {
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub semver: Option<Spanned<String>>,
    pub raw: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
    pub suffix: Option<Spanned<String>>,
    pub length: Option<Spanned<u64>>,
    #[serde(rename = "if")]
    pub condition: Option<Spanned<OneOrMany>>,
}

/// The keys of a tag rule map, for suggestions.
pub const TAG_RULE_KEYS: &[&str] = &["type", "semver", "raw", "prefix", "suffix", "length", "if"];

/// An entry of `tags:`: a bare rule name (`branch`) or a rule map. Deserialized by hand
/// rather than as `#[serde(untagged)]`, which would turn every typo into "data did not match
/// any variant" (STYLE.md §3).
#[derive(Debug)]
pub enum TagRuleEntry {
    Shorthand(String),
    Map(Box<TagRuleSpec>),
}

impl<'de> Deserialize<'de> for TagRuleEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;

        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = TagRuleEntry;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a tag rule name (branch, pr, tag, sha) or a map such as `semver: \"{{version}}\"`",
                )
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<TagRuleEntry, E> {
                Ok(TagRuleEntry::Shorthand(value.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TagRuleEntry, A::Error> {
                TagRuleSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|spec| TagRuleEntry::Map(Box::new(spec)))
            }
        }

        deserializer.deserialize_any(EntryVisitor)
    }
}
