//! Tag rules as the manifest declares them: which tags an image gets for a git ref.
//!
//! This file only checks and stores the rules; `tags.rs` evaluates them against the ref
//! context of a run.

use serde::Serialize;
use serde_saphyr::Spanned;

use super::schema::TagRuleEntry;
use super::suggest::did_you_mean;
use crate::diagnostic::{Diagnostic, Location};

/// The default length of `sha` tags (`sha-1a2b3c4`), as docker/metadata-action uses.
pub const DEFAULT_SHA_LENGTH: usize = 7;

/// Which part of the git context a rule turns into a tag.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TagRuleKind {
    /// The branch name, sanitised: `feature/x` → `feature-x`.
    Branch,
    /// `pr-<number>` on pull and merge requests.
    Pr,
    /// The git tag name, sanitised.
    Tag,
    /// `sha-<first N hex of the commit>`.
    Sha { length: usize },
    /// A template over a semver git tag: `{{version}}`, `{{major}}`, `{{minor}}`,
    /// `{{patch}}`, `{{raw}}`.
    Semver { template: String },
    /// A tag such as `latest`, or an expression such as `{{branch}}-{{sha}}`.
    Raw { value: String },
    /// metadata-action's `pep440`: a template over a PEP 440 git tag (`v1.2.3`, `1.2rc1`).
    Pep440 { template: String },
    /// metadata-action's `match`: a capture group of a regular expression over the git tag
    /// (or over `value`).
    Match {
        pattern: String,
        group: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// metadata-action's `schedule`: on scheduled runs, a date pattern such as
    /// `nightly-{{date 'YYYYMMDD'}}`.
    Schedule { template: String },
    /// metadata-action's `edge`: `edge` on the default branch (or on `branch`).
    Edge {
        #[serde(skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// `latest` on a release tag that is the highest semantic version of the repository so
    /// far; while the repository has no release tag, on the default branch.
    Latest,
}

impl TagRuleKind {
    /// Returns metadata-action's default priority of the rule: tags of higher priority come
    /// first when any rule of the list sets `priority`.
    pub fn default_priority(&self) -> u32 {
        match self {
            Self::Schedule { .. } => 1000,
            Self::Semver { .. } | Self::Pep440 { .. } => 900,
            Self::Match { .. } => 800,
            Self::Edge { .. } => 700,
            Self::Branch | Self::Tag | Self::Pr => 600,
            Self::Raw { .. } | Self::Latest => 200,
            Self::Sha { .. } => 100,
        }
    }
}

/// When a rule applies. A rule with several conditions applies when any holds.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// A push to the repository's default branch.
    DefaultBranch,
    /// Any branch push.
    Branch,
    /// A git tag push.
    Tag,
    /// A pull or merge request.
    Pr,
    /// The CI event has this name (`schedule`, `workflow_dispatch`, `web`, ...).
    Event(String),
}

/// The condition keywords that are not event names.
const CONDITION_KEYWORDS: &[&str] = &["default_branch", "branch", "tag", "pr"];

/// Event names of GitHub Actions (`GITHUB_EVENT_NAME`) and GitLab CI (`CI_PIPELINE_SOURCE`)
/// a condition may name. A closed list, so that a typo is an error rather than a rule that
/// silently never applies.
pub const EVENT_NAMES: &[&str] = &[
    // GitHub Actions
    "push",
    "pull_request",
    "pull_request_target",
    "schedule",
    "workflow_dispatch",
    "workflow_call",
    "workflow_run",
    "repository_dispatch",
    "release",
    "merge_group",
    // GitLab CI
    "merge_request_event",
    "external_pull_request_event",
    "web",
    "api",
    "trigger",
    "pipeline",
    "parent_pipeline",
    "chat",
    "webide",
];

/// A checked tag rule.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct TagRule {
    #[serde(flatten)]
    pub kind: TagRuleKind,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub suffix: String,
    #[serde(rename = "if", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `priority:` as written; `None` keeps the rule's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// The rule names, for suggestions.
const RULE_NAMES: &[&str] = &[
    "branch", "pr", "tag", "sha", "semver", "raw", "latest", "pep440", "match", "schedule", "edge",
    "ref",
];

/// The placeholders a `semver:` template may use.
pub const SEMVER_PLACEHOLDERS: &[&str] = &["version", "major", "minor", "patch", "raw"];

/// Checks the rules of one `tags:` list, turning each into a [`TagRule`].
///
/// `locate` maps a YAML span to a manifest location. Errors go to `diagnostics`; a bad rule is
/// left out so the rest can still be checked.
pub fn check_rules(
    entries: &[Spanned<TagRuleEntry>],
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<TagRule> {
    entries
        .iter()
        .filter_map(|entry| {
            let location = locate(&entry.referenced);
            match &entry.value {
                TagRuleEntry::Shorthand(name) => shorthand(name, location, diagnostics),
                TagRuleEntry::Map(spec) => {
                    super::tag_rule_map::from_map(spec, location, locate, diagnostics)
                }
            }
        })
        .collect()
}

pub(super) fn shorthand(
    name: &str,
    location: Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<TagRule> {
    let kind = match name {
        "branch" => TagRuleKind::Branch,
        "pr" => TagRuleKind::Pr,
        "tag" => TagRuleKind::Tag,
        "sha" => TagRuleKind::Sha {
            length: DEFAULT_SHA_LENGTH,
        },
        "latest" => TagRuleKind::Latest,
        "edge" => TagRuleKind::Edge { branch: None },
        "schedule" => TagRuleKind::Schedule {
            template: "nightly".to_owned(),
        },
        "pep440" | "match" | "ref" => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::tag-rule",
                    format!("the `{name}` tag rule needs more than its name"),
                )
                .at(location)
                .help(match name {
                    "ref" => "write it as a map, e.g. `- type: ref` with `event: branch`",
                    "match" => "write it as a map, e.g. `- type: match` with `pattern: 'v(\\d+)'` and `group: 1`",
                    _ => "write it as a map, e.g. `- type: pep440` with `pattern: \"{{version}}\"`",
                }),
            );
            return None;
        }
        "semver" | "raw" => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::tag-rule",
                    format!("the `{name}` tag rule needs a value"),
                )
                .at(location)
                .help(if name == "semver" {
                    "write it as a map, e.g. `- semver: \"{{major}}.{{minor}}\"`"
                } else {
                    "write it as a map, e.g. `- raw: latest`"
                }),
            );
            return None;
        }
        other => {
            let mut diagnostic =
                Diagnostic::error("manifest::tag-rule", format!("unknown tag rule `{other}`"))
                    .at(location);
            diagnostic = diagnostic.help(match did_you_mean(other, RULE_NAMES) {
                Some(suggestion) => format!(
                    "did you mean `{suggestion}`? A tag rule is one of {}",
                    RULE_NAMES.join(", ")
                ),
                None => format!("a tag rule is one of {}", RULE_NAMES.join(", ")),
            });
            diagnostics.push(diagnostic);
            return None;
        }
    };
    Some(TagRule {
        kind,
        prefix: String::new(),
        suffix: String::new(),
        conditions: Vec::new(),
        priority: None,
    })
}

pub(super) fn parse_condition(word: &str) -> Result<Condition, String> {
    match word {
        "default_branch" => Ok(Condition::DefaultBranch),
        "branch" => Ok(Condition::Branch),
        "tag" => Ok(Condition::Tag),
        "pr" => Ok(Condition::Pr),
        event if EVENT_NAMES.contains(&event) => Ok(Condition::Event(event.to_owned())),
        other => {
            let known: Vec<&str> = CONDITION_KEYWORDS
                .iter()
                .chain(EVENT_NAMES)
                .copied()
                .collect();
            Err(match did_you_mean(other, &known) {
                Some(suggestion) => format!(
                    "did you mean `{suggestion}`? A condition is default_branch, branch, tag, pr, \
                     or a CI event name such as schedule"
                ),
                None => "a condition is default_branch, branch, tag, pr, or a CI event name \
                         such as push, schedule, workflow_dispatch, merge_request_event"
                    .to_owned(),
            })
        }
    }
}

pub(super) fn check_semver_template(
    template: &str,
    location: Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<()> {
    let mut rest = template;
    let mut found = false;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            diagnostics.push(
                Diagnostic::error("manifest::tag-rule", "`{{` without a closing `}}`")
                    .at(location)
                    .help("write placeholders as `{{version}}`"),
            );
            return None;
        };
        let name = rest[start + 2..start + end].trim();
        if !SEMVER_PLACEHOLDERS.contains(&name) {
            let hint = match did_you_mean(name, SEMVER_PLACEHOLDERS) {
                Some(s) => format!(
                    "did you mean `{{{{{s}}}}}`? Placeholders: {{{{version}}}}, {{{{major}}}}, {{{{minor}}}}, {{{{patch}}}}, {{{{raw}}}}"
                ),
                None => {
                    "placeholders: {{version}}, {{major}}, {{minor}}, {{patch}}, {{raw}}".to_owned()
                }
            };
            diagnostics.push(
                Diagnostic::error(
                    "manifest::tag-rule",
                    format!("unknown semver placeholder `{{{{{name}}}}}`"),
                )
                .at(location)
                .help(hint),
            );
            return None;
        }
        found = true;
        rest = &rest[start + end + 2..];
    }
    if !found {
        diagnostics.push(
            Diagnostic::error(
                "manifest::tag-rule",
                "a `semver` template uses no placeholder",
            )
            .at(location)
            .help("use `raw:` for a fixed tag, or a placeholder such as `{{version}}`"),
        );
        return None;
    }
    Some(())
}
