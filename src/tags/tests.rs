use super::*;
use crate::context::Provider;
use crate::libref::check_name;
use crate::manifest::DEFAULT_SHA_LENGTH;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn context(kind: RefKind, event: &str) -> RefContext {
    RefContext {
        provider: Provider::GitHub,
        event: event.to_owned(),
        kind,
        sha: SHA.to_owned(),
        default_branch: Some("main".to_owned()),
        before: None,
        base_sha: None,
        merge_base: None,
    }
}

fn branch(name: &str) -> RefKind {
    RefKind::Branch {
        name: name.to_owned(),
    }
}

fn tag(name: &str) -> RefKind {
    RefKind::Tag {
        name: name.to_owned(),
    }
}

fn rule(kind: TagRuleKind) -> TagRule {
    TagRule {
        kind,
        prefix: String::new(),
        suffix: String::new(),
        conditions: Vec::new(),
        priority: None,
    }
}

fn semver(template: &str) -> TagRule {
    rule(TagRuleKind::Semver {
        template: template.to_owned(),
    })
}

/// The rules of DESIGN.md's example manifest.
fn design_rules() -> Vec<TagRule> {
    vec![
        rule(TagRuleKind::Branch),
        rule(TagRuleKind::Pr),
        semver("{{version}}"),
        semver("{{major}}.{{minor}}"),
        rule(TagRuleKind::Sha {
            length: DEFAULT_SHA_LENGTH,
        }),
        TagRule {
            conditions: vec![Condition::DefaultBranch],
            priority: None,
            ..rule(TagRuleKind::Raw {
                value: "latest".into(),
            })
        },
    ]
}

#[test]
fn sanitize_table() {
    let long = format!("feature/{}", "x".repeat(200));
    let cases: &[(&str, Option<&str>)] = &[
        ("main", Some("main")),
        ("feature/x", Some("feature-x")),
        ("Feature/Upper-Case", Some("feature-upper-case")),
        (".hidden", Some("hidden")),
        ("-leading-dash", Some("leading-dash")),
        ("trailing/", Some("trailing")),
        ("a//b", Some("a-b")),
        ("a..b", Some("a.b")),
        ("a._b", Some("a-b")),
        ("a__b", Some("a_b")),
        ("v1.2.3+build.5", Some("v1.2.3-build.5")),
        (
            "renovate/@types/node-20.x",
            Some("renovate-types-node-20.x"),
        ),
        ("ümlaut", Some("mlaut")),
        ("---", None),
        ("", None),
        ("日本", None),
    ];
    for (input, expected) in cases {
        assert_eq!(sanitize(input).as_deref(), *expected, "{input}");
    }
    let capped = sanitize(&long).expect("tag");
    assert_eq!(capped.len(), MAX_TAG_LEN);
    assert!(capped.starts_with("feature-xxxx"));
    // Same prefix, different names: different tags.
    let other = sanitize(&format!("{long}y")).expect("tag");
    assert_ne!(capped, other);
    assert_eq!(capped.len(), other.len());
}

#[test]
fn sanitized_tags_are_valid_library_tags() {
    let inputs = [
        "feature/x",
        "A.B_C-D",
        "..x..",
        "1",
        "a b c",
        "x".repeat(300).as_str(),
        "-._-a-._-",
    ]
    .map(str::to_owned);
    for input in inputs {
        if let Some(tag) = sanitize(&input) {
            assert_eq!(check_name(&tag), Ok(()), "{input} -> {tag}");
            assert!(tag.len() <= MAX_TAG_LEN);
            assert_eq!(
                sanitize(&tag).as_deref(),
                Some(tag.as_str()),
                "idempotent: {input}"
            );
        }
    }
}

#[test]
fn design_rules_per_context() {
    let cases: Vec<(&str, RefContext, Vec<&str>)> = vec![
        (
            "push to main",
            context(branch("main"), "push"),
            vec!["main", "sha-0123456", "latest"],
        ),
        (
            "push to feature/x",
            context(branch("feature/x"), "push"),
            vec!["feature-x", "sha-0123456"],
        ),
        (
            "uppercase branch",
            context(branch("Bugfix/JIRA-12"), "push"),
            vec!["bugfix-jira-12", "sha-0123456"],
        ),
        (
            "leading dot branch",
            context(branch(".github-ci"), "push"),
            vec!["github-ci", "sha-0123456"],
        ),
        (
            "pull request",
            context(
                RefKind::PullRequest {
                    number: 42,
                    head_branch: Some("feature/x".into()),
                    base_branch: Some("main".into()),
                },
                "pull_request",
            ),
            vec!["pr-42", "sha-0123456"],
        ),
        (
            "release tag",
            context(tag("v1.2.3"), "push"),
            vec!["1.2.3", "1.2", "sha-0123456"],
        ),
        (
            "pre-release tag",
            context(tag("v2.0.0-rc.1"), "push"),
            vec!["2.0.0-rc.1", "sha-0123456"],
        ),
        (
            "non-semver tag",
            context(tag("nightly-2026"), "push"),
            vec!["sha-0123456"],
        ),
        (
            "schedule on main",
            context(branch("main"), "schedule"),
            vec!["main", "sha-0123456", "latest"],
        ),
        (
            "detached",
            context(RefKind::Detached, "local"),
            vec!["sha-0123456"],
        ),
    ];
    for (name, context, expected) in cases {
        let set = evaluate(&design_rules(), &context, &TagFacts::default());
        assert_eq!(set.tags, expected, "{name}");
    }
}

#[test]
fn notes_explain_missing_semver_tags() {
    let set = evaluate(
        &design_rules(),
        &context(tag("release-3"), "push"),
        &TagFacts::default(),
    );
    assert!(
        set.notes
            .iter()
            .any(|n| n.contains("not a semantic version")),
        "{:?}",
        set.notes
    );
}

#[test]
fn conditions_prefix_suffix_and_length() {
    let rules = vec![
        TagRule {
            prefix: "br-".into(),
            suffix: "-x".into(),
            ..rule(TagRuleKind::Branch)
        },
        rule(TagRuleKind::Sha { length: 12 }),
        TagRule {
            conditions: vec![Condition::Event("schedule".into())],
            priority: None,
            ..rule(TagRuleKind::Raw {
                value: "nightly".into(),
            })
        },
        TagRule {
            conditions: vec![Condition::Tag, Condition::Pr],
            priority: None,
            ..rule(TagRuleKind::Raw {
                value: "candidate".into(),
            })
        },
        semver("{{raw}}"),
        rule(TagRuleKind::Tag),
    ];
    assert_eq!(
        evaluate(
            &rules,
            &context(branch("dev"), "push"),
            &TagFacts::default()
        )
        .tags,
        vec!["br-dev-x", "sha-0123456789ab"]
    );
    assert_eq!(
        evaluate(
            &rules,
            &context(branch("dev"), "schedule"),
            &TagFacts::default()
        )
        .tags,
        vec!["br-dev-x", "sha-0123456789ab", "nightly"]
    );
    assert_eq!(
        evaluate(
            &rules,
            &context(tag("V1.0.0"), "push"),
            &TagFacts::default()
        )
        .tags,
        vec!["sha-0123456789ab", "candidate", "v1.0.0"]
    );
}

#[test]
fn pull_requests_tag_the_head_commit() {
    // The context carries the head sha (see context.rs); the sha rule must use it as is.
    let mut pr = context(
        RefKind::PullRequest {
            number: 3,
            head_branch: None,
            base_branch: None,
        },
        "pull_request",
    );
    pr.sha = "abcdef1234567890abcdef1234567890abcdef12".to_owned();
    assert_eq!(
        evaluate(
            &[rule(TagRuleKind::Sha { length: 7 })],
            &pr,
            &TagFacts::default()
        )
        .tags,
        vec!["sha-abcdef1"]
    );
}

#[test]
fn digest_tags_carry_sixteen_hex() {
    assert_eq!(digest_tag(&"ab".repeat(32)), "inputs-abababababababab");
    assert_eq!(check_name(&digest_tag(&"0f".repeat(32))), Ok(()));
}

#[test]
fn branch_collisions_are_found() {
    let others = vec![
        "feature/x".to_owned(),
        "Feature-X".to_owned(),
        "feature-y".to_owned(),
    ];
    assert_eq!(
        branch_collisions("feature-x", &others),
        vec!["feature/x", "Feature-X"]
    );
    assert!(branch_collisions("main", &others).is_empty());
}
