//! A tag rule written as a map: sifbake's keys (`semver`, `raw`, `type: sha` with `length`)
//! and docker/metadata-action's (`type: semver` with `pattern`, `match` with `group`,
//! `schedule`, `edge`, `ref` with `event`, `enable`, `format`, `priority`), checked into a
//! [`TagRule`] with every mistake reported at its line.

use serde_saphyr::Spanned;

use super::schema::TagRuleSpec;
use super::tag_expr::{Piece, is_plain};
use super::tag_rule::{
    Condition, DEFAULT_SHA_LENGTH, TagRule, TagRuleKind, check_semver_template, parse_condition,
    shorthand,
};
use crate::diagnostic::{Diagnostic, Location};

pub(super) fn from_map(
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
    let error = |diagnostics: &mut Vec<Diagnostic>, at: Location, message: String, help: &str| {
        diagnostics.push(
            Diagnostic::error("manifest::tag-rule", message)
                .at(at)
                .help(help.to_owned()),
        );
    };
    let kind_name = spec.kind.as_ref().map(|k| k.value.as_str());
    // Which keys belong to which `type`, so a key that would be ignored is an error.
    let at = |spanned: Option<&serde_saphyr::Location>| spanned.map(locate);
    let belongs: [(&str, Option<Location>, &[&str]); 6] = [
        (
            "pattern",
            at(spec.pattern.as_ref().map(|v| &v.referenced)),
            &["semver", "pep440", "match", "schedule"],
        ),
        (
            "value",
            at(spec.value.as_ref().map(|v| &v.referenced)),
            &["raw", "match"],
        ),
        (
            "group",
            at(spec.group.as_ref().map(|v| &v.referenced)),
            &["match"],
        ),
        (
            "format",
            at(spec.format.as_ref().map(|v| &v.referenced)),
            &["sha"],
        ),
        (
            "event",
            at(spec.event.as_ref().map(|v| &v.referenced)),
            &["ref"],
        ),
        (
            "branch",
            at(spec.branch.as_ref().map(|v| &v.referenced)),
            &["edge"],
        ),
    ];
    for (key, present, types) in belongs {
        if let Some(key_at) = present
            && !kind_name.is_some_and(|k| types.contains(&k))
        {
            let rule =
                kind_name.map_or_else(|| "this rule".to_owned(), |name| format!("`type: {name}`"));
            error(
                diagnostics,
                key_at,
                format!("`{key}` does not apply to {rule}"),
                &format!(
                    "`{key}` belongs to `type:` {}; remove it or change the type",
                    types.join(", ")
                ),
            );
            return None;
        }
    }
    let needs = |diagnostics: &mut Vec<Diagnostic>, key: &str, example: &str| {
        error(
            diagnostics,
            location.clone(),
            format!("`type: {}` needs `{key}`", kind_name.unwrap_or_default()),
            example,
        );
    };
    let kind = if let Some(template) = &spec.semver {
        check_semver_template(&template.value, locate(&template.referenced), diagnostics)?;
        TagRuleKind::Semver {
            template: template.value.clone(),
        }
    } else if let Some(raw) = spec
        .raw
        .as_ref()
        .or(spec.value.as_ref().filter(|_| kind_name == Some("raw")))
    {
        check_raw(raw, locate, diagnostics)?
    } else {
        match kind_name? {
            name @ ("semver" | "pep440") => {
                let Some(pattern) = &spec.pattern else {
                    needs(diagnostics, "pattern", "e.g. `pattern: \"{{version}}\"`");
                    return None;
                };
                check_semver_template(&pattern.value, locate(&pattern.referenced), diagnostics)?;
                let template = pattern.value.clone();
                if name == "semver" {
                    TagRuleKind::Semver { template }
                } else {
                    TagRuleKind::Pep440 { template }
                }
            }
            "raw" => {
                needs(diagnostics, "value", "e.g. `value: latest`");
                return None;
            }
            "match" => {
                let Some(pattern) = &spec.pattern else {
                    needs(
                        diagnostics,
                        "pattern",
                        "e.g. `pattern: 'v(\\d+\\.\\d+)'` with `group: 1`",
                    );
                    return None;
                };
                let at = locate(&pattern.referenced);
                let regex = match regex::Regex::new(&pattern.value) {
                    Ok(regex) => regex,
                    Err(problem) => {
                        let first = problem.to_string();
                        let line = first.lines().last().unwrap_or_default().to_owned();
                        error(
                            diagnostics,
                            at,
                            format!("`{}` is not a regular expression: {line}", pattern.value),
                            "write it in Rust's regex syntax, which matches JavaScript's for \
                             groups, classes and anchors",
                        );
                        return None;
                    }
                };
                let group = spec.group.as_ref().map_or(0, |g| g.value);
                let groups = u64::try_from(regex.captures_len()).unwrap_or(u64::MAX);
                if group >= groups {
                    error(
                        diagnostics,
                        spec.group.as_ref().map_or(at, |g| locate(&g.referenced)),
                        format!("the pattern has no group {group}"),
                        &format!("use a group from 0 (the whole match) to {}", groups - 1),
                    );
                    return None;
                }
                TagRuleKind::Match {
                    pattern: pattern.value.clone(),
                    group: usize::try_from(group).unwrap_or_default(),
                    value: spec.value.as_ref().map(|v| v.value.clone()),
                }
            }
            "schedule" => {
                let template = spec
                    .pattern
                    .as_ref()
                    .map_or_else(|| "nightly".to_owned(), |p| p.value.clone());
                if let Some(pattern) = &spec.pattern {
                    check_expressions(&pattern.value, locate(&pattern.referenced), diagnostics)?;
                }
                TagRuleKind::Schedule { template }
            }
            "edge" => TagRuleKind::Edge {
                branch: spec.branch.as_ref().map(|b| b.value.clone()),
            },
            "ref" => {
                let Some(event) = &spec.event else {
                    needs(
                        diagnostics,
                        "event",
                        "e.g. `event: branch` (or `tag`, `pr`)",
                    );
                    return None;
                };
                match event.value.as_str() {
                    "branch" => TagRuleKind::Branch,
                    "tag" => TagRuleKind::Tag,
                    "pr" => TagRuleKind::Pr,
                    other => {
                        error(
                            diagnostics,
                            locate(&event.referenced),
                            format!("unknown ref event `{other}`"),
                            "`event` is `branch`, `tag` or `pr`",
                        );
                        return None;
                    }
                }
            }
            _ => {
                let kind = spec.kind.as_ref()?;
                shorthand(&kind.value, locate(&kind.referenced), diagnostics)?.kind
            }
        }
    };
    let length = match (&spec.format, &spec.length) {
        (Some(_), Some(length)) => {
            error(
                diagnostics,
                locate(&length.referenced),
                "`format` and `length` both set the sha's length".to_owned(),
                "keep one: `format: long` is `length: 40`",
            );
            return None;
        }
        (Some(format), None) => match format.value.as_str() {
            "short" => None,
            "long" => Some((40, locate(&format.referenced))),
            other => {
                error(
                    diagnostics,
                    locate(&format.referenced),
                    format!("unknown sha format `{other}`"),
                    "`format` is `short` (7 hex) or `long` (40)",
                );
                return None;
            }
        },
        (None, Some(length)) => Some((length.value, locate(&length.referenced))),
        (None, None) => None,
    };
    let kind = match (kind, length) {
        (TagRuleKind::Sha { .. }, Some((length, at))) => {
            if !(4..=40).contains(&length) {
                error(
                    diagnostics,
                    at,
                    format!("sha length {length} is out of range"),
                    "use a length from 4 to 40 (a full commit id has 40 hex digits)",
                );
                return None;
            }
            TagRuleKind::Sha {
                length: usize::try_from(length).unwrap_or(DEFAULT_SHA_LENGTH),
            }
        }
        (_, Some((_, at))) => {
            error(
                diagnostics,
                at,
                "`length` only applies to `sha` rules".to_owned(),
                "remove `length`, or use `type: sha`",
            );
            return None;
        }
        (kind, None) => kind,
    };
    for affix in [&spec.prefix, &spec.suffix].into_iter().flatten() {
        let at = locate(&affix.referenced);
        let pieces = check_expressions(&affix.value, at.clone(), diagnostics)?;
        let text = pieces.iter().filter_map(|p| match p {
            Piece::Text(text) => Some(text.as_str()),
            _ => None,
        });
        if let Some(bad) = text.flat_map(str::chars).find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            error(
                diagnostics,
                at,
                format!(
                    "`{}` contains `{bad}`, which a tag cannot hold",
                    affix.value
                ),
                "prefixes and suffixes use lowercase letters, digits, `.`, `_` and `-`",
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
    if let Some(enable) = &spec.enable {
        match enable.value.trim() {
            "true" => {}
            // metadata-action keeps a disabled rule in the list; it yields nothing either way.
            "false" => return None,
            "{{is_default_branch}}" | "{{ is_default_branch }}" if conditions.is_empty() => {
                conditions.push(Condition::DefaultBranch);
            }
            "{{is_default_branch}}" | "{{ is_default_branch }}" => {
                error(
                    diagnostics,
                    locate(&enable.referenced),
                    "`enable` and `if` both set when the rule applies".to_owned(),
                    "keep one: `enable: \"{{is_default_branch}}\"` is `if: default_branch`",
                );
                return None;
            }
            other => {
                error(
                    diagnostics,
                    locate(&enable.referenced),
                    format!(
                        "`enable: {other}` is not `true`, `false` or `{{{{is_default_branch}}}}`"
                    ),
                    "for other conditions use `if:` (default_branch, branch, tag, pr, or an event name)",
                );
                return None;
            }
        }
    }
    let priority = match &spec.priority {
        Some(priority) => match u32::try_from(priority.value) {
            Ok(value) => Some(value),
            Err(_) => {
                error(
                    diagnostics,
                    locate(&priority.referenced),
                    format!("priority {} is too large", priority.value),
                    "use a priority below 4294967296 (metadata-action's defaults run 100 to 1000)",
                );
                return None;
            }
        },
        None => None,
    };
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
        priority,
    })
}

/// Checks a `raw` tag: a valid tag as written, or an expression whose text is sanitised
/// once filled in.
fn check_raw(
    raw: &Spanned<String>,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<TagRuleKind> {
    let at = locate(&raw.referenced);
    if raw.value.trim().is_empty() {
        diagnostics.push(
            Diagnostic::error("manifest::tag-rule", "the `raw` tag is empty")
                .at(at)
                .help("give the tag to apply, e.g. `raw: latest`"),
        );
        return None;
    }
    let pieces = check_expressions(&raw.value, at.clone(), diagnostics)?;
    if is_plain(&pieces)
        && let Err(problem) = crate::libref::check_name(&raw.value)
    {
        diagnostics.push(
            Diagnostic::error(
                "manifest::tag-rule",
                format!("`{}` is not a valid tag: it {problem}", raw.value),
            )
            .at(at)
            .help("library tags use lowercase letters, digits and single `.`, `_` or `-` between them"),
        );
        return None;
    }
    Some(TagRuleKind::Raw {
        value: raw.value.clone(),
    })
}

/// Parses the expressions in `text`, reporting an unknown one at `location`.
fn check_expressions(
    text: &str,
    location: Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<Piece>> {
    match super::tag_expr::parse(text) {
        Ok(pieces) => Some(pieces),
        Err((message, help)) => {
            diagnostics.push(
                Diagnostic::error("manifest::tag-rule", message)
                    .at(location)
                    .help(help),
            );
            None
        }
    }
}
