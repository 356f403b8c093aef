//! Tag rules as the manifest declares them: which tags an image gets for a git ref.
//!
//! This file only checks and stores the rules; `tags.rs` evaluates them against the ref
//! context of a run.

use serde::Serialize;
use serde_saphyr::Spanned;

use super::schema::{TagRuleEntry, TagRuleSpec};
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
    /// A fixed tag such as `latest`.
    Raw { value: String },
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
}

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
                TagRuleEntry::Map(spec) => from_map(spec, location, locate, diagnostics),
            }
        })
        .collect()
}

fn shorthand(name: &str, location: Location, diagnostics: &mut Vec<Diagnostic>) -> Option<TagRule> {
    let kind = match name {
        "branch" => TagRuleKind::Branch,
        "pr" => TagRuleKind::Pr,
        "tag" => TagRuleKind::Tag,
        "sha" => TagRuleKind::Sha {
            length: DEFAULT_SHA_LENGTH,
        },
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
            diagnostic = diagnostic.help(match did_you_mean(other, &["branch", "pr", "tag", "sha", "semver", "raw"]) {
                Some(suggestion) => format!("did you mean `{suggestion}`? A tag rule is one of branch, pr, tag, sha, semver, raw"),
                None => "a tag rule is one of branch, pr, tag, sha, semver, raw".to_owned(),
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
    })
}

fn from_map(
    spec: &TagRuleSpec,
    location: Location,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<TagRule> {
    let given = [
        spec.kind.is_some(),
        spec.semver.is_some(),
        spec.raw.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        diagnostics.push(
            Diagnostic::error(
                "manifest::tag-rule",
                "a tag rule map needs exactly one of `type`, `semver` or `raw`",
            )
            .at(location)
            .help("e.g. `- type: sha` with `length: 12`, `- semver: \"{{version}}\"`, or `- raw: latest`"),
        );
        return None;
    }
    let kind = if let Some(template) = &spec.semver {
        check_semver_template(&template.value, locate(&template.referenced), diagnostics)?;
        TagRuleKind::Semver {
            template: template.value.clone(),
        }
    } else if let Some(raw) = &spec.raw {
        if raw.value.trim().is_empty() {
            diagnostics.push(
                Diagnostic::error("manifest::tag-rule", "the `raw` tag is empty")
                    .at(locate(&raw.referenced))
                    .help("give the tag to apply, e.g. `raw: latest`"),
            );
            return None;
        }
        if let Err(problem) = crate::libref::check_name(&raw.value) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::tag-rule",
                    format!("`{}` is not a valid tag: it {problem}", raw.value),
                )
                .at(locate(&raw.referenced))
                .help("library tags use lowercase letters, digits and single `.`, `_` or `-` between them"),
            );
            return None;
        }
        TagRuleKind::Raw {
            value: raw.value.clone(),
        }
    } else {
        let kind = spec.kind.as_ref()?;
        let rule = shorthand(&kind.value, locate(&kind.referenced), diagnostics)?;
        rule.kind
    };
    let kind = match (kind, &spec.length) {
        (TagRuleKind::Sha { .. }, Some(length)) => {
            if !(4..=40).contains(&length.value) {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::tag-rule",
                        format!("sha length {} is out of range", length.value),
                    )
                    .at(locate(&length.referenced))
                    .help("use a length from 4 to 40 (a full commit id has 40 hex digits)"),
                );
                return None;
            }
            TagRuleKind::Sha {
                length: usize::try_from(length.value).unwrap_or(DEFAULT_SHA_LENGTH),
            }
        }
        (_, Some(length)) => {
            diagnostics.push(
                Diagnostic::error("manifest::tag-rule", "`length` only applies to `sha` rules")
                    .at(locate(&length.referenced))
                    .help("remove `length`, or use `type: sha`"),
            );
            return None;
        }
        (kind, None) => kind,
    };
    for affix in [&spec.prefix, &spec.suffix].into_iter().flatten() {
        if let Some(bad) = affix.value.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::tag-rule",
                    format!(
                        "`{}` contains `{bad}`, which a tag cannot hold",
                        affix.value
                    ),
                )
                .at(locate(&affix.referenced))
                .help("prefixes and suffixes use lowercase letters, digits, `.`, `_` and `-`"),
            );
            return None;
        }
    }
    let mut conditions = Vec::new();
    if let Some(condition) = &spec.condition {
        for item in &condition.value.0 {
            let word = &item.value;
            match parse_condition(word) {
                Ok(parsed) => conditions.push(parsed),
                Err(help) => {
                    diagnostics.push(
                        Diagnostic::error(
                            "manifest::tag-rule",
                            format!("unknown condition `{word}`"),
                        )
                        .at(super::load::locate_item(
                            item,
                            &condition.referenced,
                            locate,
                        ))
                        .help(help),
                    );
                    return None;
                }
            }
        }
    }
    Some(TagRule {
        kind,
        prefix: spec
            .prefix
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_default(),
        suffix: spec
            .suffix
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_default(),
        conditions,
    })
}

fn parse_condition(word: &str) -> Result<Condition, String> {
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

fn check_semver_template(
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
