//! The manifest file format (version 1) as serde types, exactly as written by users.
//!
//! Every struct denies unknown keys; values that later checks point at are `Spanned` so the
//! error can name the line. These types are only read by `load.rs`, which turns them into the
//! resolved [`super::Manifest`]. The same types give the published JSON Schema
//! (`json_schema.rs`): `Spanned` has no schema of its own, so each spanned field names the
//! plain type it stands for.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::labels::LabelsSpec;
use super::sign::SignEntry;

/// A sifbake manifest: the Singularity images a repository builds, and how they are tagged.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sifbake.yaml")]
pub struct ManifestFile {
    /// The manifest format version: 1.
    #[schemars(with = "u64", range(min = 1, max = 1))]
    pub version: Spanned<u64>,
    /// Values every target starts from.
    #[serde(default)]
    pub defaults: Option<DefaultsSpec>,
    /// Target name → target. Names start with a letter or digit and use letters, digits,
    /// `.`, `_` and `-`.
    #[schemars(with = "BTreeMap<String, TargetSpec>")]
    pub targets: Spanned<HashMap<Spanned<String>, Spanned<TargetSpec>>>,
}

/// The keys of the top level, for suggestions.
pub const MANIFEST_KEYS: &[&str] = &["version", "defaults", "targets"];

/// `defaults:` — values every target starts from.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    /// `library://[host/]entity/collection`: a target without `ref` publishes to
    /// `<library>/<target name>`.
    #[schemars(with = "Option<String>")]
    pub library: Option<Spanned<String>>,
    /// Architectures to build (`amd64`, `arm64`, …): a string or a list. Default `amd64`.
    #[schemars(with = "Option<OneOrMany>")]
    pub arch: Option<Spanned<OneOrMany>>,
    /// Per-build timeout: `90s`, `20m`, `1h30m`. Default `1h`.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Tag rules, evaluated against the git ref.
    #[schemars(with = "Option<Vec<TagRuleEntry>>")]
    pub tags: Option<Spanned<Vec<Spanned<TagRuleEntry>>>>,
    /// Build arguments for every target: values for `{{ NAME }}` placeholders.
    #[schemars(with = "Option<BTreeMap<String, Scalar>>")]
    pub args: Option<BTreeMap<String, Spanned<String>>>,
    /// What `build` does per kind of git ref: `push`, `ephemeral` or `skip`.
    pub publish: Option<PublishSpec>,
    /// The directory `%files` sources are read from, for every target (`.` when they are
    /// written from the repository root). Default: each definition file's directory.
    #[schemars(with = "Option<String>")]
    pub context: Option<Spanned<String>>,
    /// Sign every image with an OpenPGP key named by environment variables:
    /// `{key: SIFBAKE_SIGNING_KEY, passphrase: SIFBAKE_SIGNING_PASSPHRASE}`. Never the key
    /// itself.
    #[schemars(with = "Option<SignEntry>")]
    pub sign: Option<Spanned<SignEntry>>,
    /// OCI registries every image is also pushed to: `oras://registry[:port]/namespace/name`,
    /// where `{{target}}` is the target's name.
    #[schemars(with = "Option<Vec<String>>")]
    pub mirrors: Option<Vec<Spanned<String>>>,
    /// `%labels` every image gets (name → value), beside the provenance labels.
    #[schemars(with = "Option<BTreeMap<String, Scalar>>")]
    pub labels: Option<LabelsSpec>,
}

/// The keys of `defaults:`, for suggestions.
pub const DEFAULTS_KEYS: &[&str] = &[
    "library", "arch", "timeout", "tags", "args", "publish", "context", "sign", "mirrors", "labels",
];

/// `defaults.publish:` — what a build does with its images, per kind of git ref.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    /// Pull and merge requests (default `ephemeral`).
    #[schemars(with = "Option<PublishMode>")]
    pub pr: Option<Spanned<String>>,
    /// Branch pushes, scheduled and manual runs (default `push`).
    #[schemars(with = "Option<PublishMode>")]
    pub branch: Option<Spanned<String>>,
    /// Git tags (default `push`).
    #[schemars(with = "Option<PublishMode>")]
    pub tag: Option<Spanned<String>>,
}

/// A value read as a string whatever its YAML type (`PY: 3.10` is `"3.10"`, not 3.1), for
/// the schema only: a YAML reader that types scalars sees a number or a boolean there.
struct Scalar;

impl JsonSchema for Scalar {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": ["string", "number", "boolean"]})
    }
}

/// A publish mode, for the schema only: the loader checks the string itself, to point at
/// the line with a suggestion.
#[derive(JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[expect(dead_code, reason = "only its schema is used")]
enum PublishMode {
    /// Publish to the target's ref and set the tags.
    Push,
    /// Build without publishing (the service keeps the image about a day).
    Ephemeral,
    /// Build nothing.
    Skip,
}

/// The keys of `publish:`, for suggestions.
pub const PUBLISH_KEYS: &[&str] = &["pr", "branch", "tag"];

/// One entry of `targets:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The definition file. Either `def` or `glob`.
    #[schemars(with = "Option<String>")]
    pub def: Option<Spanned<String>>,
    /// A pattern of definition files, one target per match (`*` does not cross `/`, `**`
    /// does). Either `def` or `glob`.
    #[schemars(with = "Option<String>")]
    pub glob: Option<Spanned<String>>,
    /// For `glob` targets: the name template, default `{{dir}}`.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// `library://[host/]entity/collection/container`, no tags. Glob targets may use
    /// `{{dir}}` and `{{name}}`.
    #[serde(rename = "ref")]
    #[schemars(with = "Option<String>")]
    pub reference: Option<Spanned<String>>,
    /// The directory relative `%files` sources are read from. Default: `defaults.context`,
    /// else the definition file's directory.
    #[schemars(with = "Option<String>")]
    pub context: Option<Spanned<String>>,
    /// More files (globs) whose change means a rebuild.
    #[schemars(with = "Option<Vec<String>>")]
    pub inputs: Option<Vec<Spanned<String>>>,
    /// Build arguments: values for `{{ NAME }}` placeholders, over `defaults.args`.
    #[schemars(with = "Option<BTreeMap<String, Scalar>>")]
    pub args: Option<BTreeMap<String, Spanned<String>>>,
    /// Architectures to build, over `defaults.arch`.
    #[schemars(with = "Option<OneOrMany>")]
    pub arch: Option<Spanned<OneOrMany>>,
    /// Targets to build first, beyond those found in `From:` lines.
    #[schemars(with = "Option<Vec<String>>")]
    pub depends_on: Option<Vec<Spanned<String>>>,
    /// Tag rules: replace `defaults.tags` for this target.
    #[schemars(with = "Option<Vec<TagRuleEntry>>")]
    pub tags: Option<Spanned<Vec<Spanned<TagRuleEntry>>>>,
    /// Per-build timeout, over `defaults.timeout`.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Signing: replaces `defaults.sign` for this target; `false` signs nothing.
    #[schemars(with = "Option<SignEntry>")]
    pub sign: Option<Spanned<SignEntry>>,
    /// Mirrors: replace `defaults.mirrors` for this target (`[]` for none). Glob targets may
    /// also use `{{dir}}` and `{{name}}`.
    #[schemars(with = "Option<Vec<String>>")]
    pub mirrors: Option<Vec<Spanned<String>>>,
    /// `%labels` over `defaults.labels`, label by label.
    #[schemars(with = "Option<BTreeMap<String, Scalar>>")]
    pub labels: Option<LabelsSpec>,
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
    "sign",
    "mirrors",
    "labels",
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

impl JsonSchema for OneOrMany {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OneOrMany".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}}
            ]
        })
    }
}

/// A tag rule written as a map: `semver: "{{major}}"`, `raw: latest` with `if:`,
/// `type: sha` with `length:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRuleSpec {
    /// The rule: `branch`, `pr`, `tag`, `sha`, `latest`, or metadata-action's `semver`,
    /// `pep440`, `match`, `schedule`, `edge`, `ref`, `raw`.
    #[serde(rename = "type")]
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    /// On a semver git tag: a template of `{{version}}`, `{{major}}`, `{{minor}}`,
    /// `{{patch}}`, `{{raw}}`.
    #[schemars(with = "Option<String>")]
    pub semver: Option<Spanned<String>>,
    /// This tag, as written.
    #[schemars(with = "Option<Scalar>")]
    pub raw: Option<Spanned<String>>,
    /// Text before the tag.
    #[schemars(with = "Option<Scalar>")]
    pub prefix: Option<Spanned<String>>,
    /// Text after the tag.
    #[schemars(with = "Option<Scalar>")]
    pub suffix: Option<Spanned<String>>,
    /// For `type: sha`: hex digits of the commit, 4 to 40 (default 7).
    #[schemars(with = "Option<u64>")]
    pub length: Option<Spanned<u64>>,
    /// When the rule applies (any condition holds): `default_branch`, `branch`, `tag`,
    /// `pr`, or a CI event name.
    #[serde(rename = "if")]
    #[schemars(with = "Option<OneOrMany>")]
    pub condition: Option<Spanned<OneOrMany>>,
    /// docker/metadata-action's spelling: for `type: semver` or `pep440`, the template; for
    /// `type: match`, the regular expression; for `type: schedule`, the date pattern.
    #[schemars(with = "Option<String>")]
    pub pattern: Option<Spanned<String>>,
    /// For `type: raw`: the tag (expressions allowed); for `type: match`: the text matched
    /// instead of the git tag.
    #[schemars(with = "Option<Scalar>")]
    pub value: Option<Spanned<String>>,
    /// For `type: match`: the capture group that is the tag (default 0, the whole match).
    #[schemars(with = "Option<u64>")]
    pub group: Option<Spanned<u64>>,
    /// `true`, `false` or `{{is_default_branch}}`: metadata-action's condition.
    #[schemars(with = "Option<Scalar>")]
    pub enable: Option<Spanned<String>>,
    /// For `type: sha`: `short` (7 hex) or `long` (40).
    #[schemars(with = "Option<String>")]
    pub format: Option<Spanned<String>>,
    /// Ordering: tags of higher priority come first (metadata-action's defaults when unset).
    #[schemars(with = "Option<u64>")]
    pub priority: Option<Spanned<u64>>,
    /// For `type: ref`: `branch`, `tag` or `pr`.
    #[schemars(with = "Option<String>")]
    pub event: Option<Spanned<String>>,
    /// For `type: edge`: the branch that gets `edge` (default: the default branch).
    #[schemars(with = "Option<String>")]
    pub branch: Option<Spanned<String>>,
}

/// The keys of a tag rule map, for suggestions.
pub const TAG_RULE_KEYS: &[&str] = &[
    "type", "semver", "raw", "prefix", "suffix", "length", "if", "pattern", "value", "group",
    "enable", "format", "priority", "event", "branch",
];

/// An entry of `tags:`: a bare rule name (`branch`) or a rule map. Deserialized by hand
/// rather than as `#[serde(untagged)]`, which would turn every typo into "data did not match
/// any variant" (STYLE.md §3).
#[derive(Debug)]
pub enum TagRuleEntry {
    Shorthand(String),
    Map(Box<TagRuleSpec>),
}

impl JsonSchema for TagRuleEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TagRuleEntry".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // The names stay an open string: the loader checks them and suggests the nearest.
        schemars::json_schema!({
            "description": "A rule name (`branch`, `pr`, `tag`, `sha`, `latest`, `edge`, `schedule`) or a rule map.",
            "anyOf": [
                {"type": "string"},
                generator.subschema_for::<TagRuleSpec>()
            ]
        })
    }
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
