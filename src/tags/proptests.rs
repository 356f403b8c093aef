//! Properties of tag sanitisation and of the tags rules give: whatever the text (a branch,
//! a git tag, a rule's prefix), the result is a library tag within the cap, the same every
//! time, and long names stay distinct.

use proptest::prelude::*;

use super::*;
use crate::context::Provider;
use crate::libref::check_name;

/// A tag the library accepts and sifbake would keep as is.
fn valid_tag() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,20}([._-][a-z0-9]{1,20}){0,5}"
}

/// Text as branch and tag names come: any characters, mostly ASCII.
fn ref_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9/._ #@!-]{0,300}",
        "(feature|fix|release)/[A-Za-z0-9._-]{0,200}",
    ]
}

fn context(kind: RefKind) -> RefContext {
    RefContext {
        provider: Provider::GitHub,
        event: "push".to_owned(),
        kind,
        sha: "0123456789abcdef0123456789abcdef01234567".to_owned(),
        default_branch: Some("main".to_owned()),
        before: None,
        base_sha: None,
        merge_base: None,
    }
}

fn rule(kind: TagRuleKind, prefix: String, suffix: String) -> TagRule {
    TagRule {
        kind,
        prefix,
        suffix,
        conditions: Vec::new(),
        priority: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sanitised_text_is_always_a_library_tag_within_the_cap(text in ref_text()) {
        let tag = sanitize(&text);
        let has_alphanumeric = text.chars().any(|c| c.is_ascii_alphanumeric());
        prop_assert_eq!(tag.is_some(), has_alphanumeric, "{:?} -> {:?}", text, tag);
        if let Some(tag) = &tag {
            prop_assert!(check_name(tag).is_ok(), "{:?} -> {:?}", text, tag);
            prop_assert!(tag.len() <= MAX_TAG_LEN, "{} characters", tag.len());
        }
        // Deterministic, and idempotent: a tag it made is kept as it is.
        prop_assert_eq!(sanitize(&text), tag.clone());
        prop_assert_eq!(tag.as_deref().and_then(sanitize), tag);
    }

    #[test]
    fn valid_tags_are_kept(tag in valid_tag()) {
        prop_assume!(tag.len() <= MAX_TAG_LEN);
        prop_assert_eq!(sanitize(&tag), Some(tag));
    }

    #[test]
    fn long_names_that_share_a_prefix_stay_distinct(
        prefix in "[a-z0-9/-]{130,200}",
        first in "[a-z0-9]{1,10}",
        second in "[a-z0-9]{1,10}",
    ) {
        prop_assume!(first != second);
        let one = sanitize(&format!("{prefix}{first}"));
        let two = sanitize(&format!("{prefix}{second}"));
        prop_assert_ne!(&one, &two);
        prop_assert!(one.is_some_and(|t| t.len() <= MAX_TAG_LEN));
    }

    #[test]
    fn names_over_the_cap_are_cut_to_it_with_a_hash(
        prefix in "[a-z0-9]{129,300}",
        other in "[a-z0-9]{1,5}",
    ) {
        let tag = sanitize(&prefix).expect("a tag");
        prop_assert_eq!(tag.len(), MAX_TAG_LEN);
        // The kept part is the name's start; the last 8 are hex of its hash.
        let (kept, hash) = tag.split_at(MAX_TAG_LEN - 8);
        prop_assert!(prefix.starts_with(kept.trim_end_matches('-')));
        prop_assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        prop_assert_ne!(sanitize(&format!("{prefix}{other}")), Some(tag));
    }

    #[test]
    fn rules_give_only_library_tags(
        branch in ref_text(),
        git_tag in ref_text(),
        prefix in "[A-Za-z0-9._/ -]{0,20}",
        suffix in "[A-Za-z0-9._/ -]{0,20}",
        number in 1u64..100_000,
        length in 4usize..=40,
    ) {
        let rules = vec![
            rule(TagRuleKind::Branch, prefix.clone(), suffix.clone()),
            rule(TagRuleKind::Tag, prefix.clone(), suffix.clone()),
            rule(TagRuleKind::Pr, prefix.clone(), suffix.clone()),
            rule(TagRuleKind::Sha { length }, prefix.clone(), suffix.clone()),
            rule(TagRuleKind::Semver { template: "{{major}}.{{minor}}".to_owned() }, prefix.clone(), suffix.clone()),
            rule(TagRuleKind::Raw { value: "latest".to_owned() }, prefix, suffix),
        ];
        let kinds = [
            RefKind::Branch { name: branch.clone() },
            RefKind::Tag { name: git_tag },
            RefKind::PullRequest { number, head_branch: Some(branch), base_branch: None },
            RefKind::Detached,
        ];
        for kind in kinds {
            let set = evaluate(&rules, &context(kind), &TagFacts::default());
            for tag in &set.tags {
                prop_assert!(check_name(tag).is_ok() && tag.len() <= MAX_TAG_LEN, "{:?}", tag);
            }
            let unique: std::collections::BTreeSet<&String> = set.tags.iter().collect();
            prop_assert_eq!(unique.len(), set.tags.len(), "no tag twice: {:?}", set.tags);
        }
    }

    #[test]
    fn expression_rules_give_library_tags_whatever_the_ref_and_date(
        branch in ref_text(),
        base in ref_text(),
        now in -2_000_000_000i64..4_000_000_000,
        offset in -14i32 * 60..=14 * 60,
    ) {
        let template = format!(
            "{{{{branch}}}}-{{{{base_ref}}}}-{{{{sha}}}}-{{{{date 'YYYY.MM.DD[T]HHmmss' tz='{}{:02}:{:02}'}}}}",
            if offset < 0 { '-' } else { '+' },
            offset.abs() / 60,
            offset.abs() % 60
        );
        let pieces = crate::manifest::parse_expressions(&template);
        prop_assert!(pieces.is_ok(), "{:?}", pieces);
        let rules = vec![
            rule(TagRuleKind::Raw { value: template.clone() }, "{{is_default_branch}}-".to_owned(), String::new()),
            rule(TagRuleKind::Schedule { template }, String::new(), String::new()),
        ];
        let facts = TagFacts { now, ..TagFacts::default() };
        let mut scheduled = context(RefKind::PullRequest {
            number: 1,
            head_branch: Some(branch),
            base_branch: Some(base),
        });
        scheduled.event = "schedule".to_owned();
        let set = evaluate(&rules, &scheduled, &facts);
        prop_assert!(!set.tags.is_empty());
        for tag in &set.tags {
            prop_assert!(check_name(tag).is_ok() && tag.len() <= MAX_TAG_LEN, "{:?}", tag);
        }
    }

    #[test]
    fn among_release_tags_only_the_highest_gets_latest(
        versions in proptest::collection::vec((0u64..4, 0u64..4, 0u64..4, any::<bool>()), 1..12),
    ) {
        let names: Vec<String> = versions
            .iter()
            .map(|(major, minor, patch, pre)| {
                let suffix = if *pre { "-rc.1" } else { "" };
                format!("v{major}.{minor}.{patch}{suffix}")
            })
            .collect();
        let facts = TagFacts {
            repository_tags: Some(names.clone()),
            ..TagFacts::default()
        };
        let rules = vec![rule(TagRuleKind::Latest, String::new(), String::new())];
        let highest = versions
            .iter()
            .filter(|v| !v.3)
            .map(|(major, minor, patch, _)| (*major, *minor, *patch))
            .max();
        for ((major, minor, patch, pre), name) in versions.iter().zip(&names) {
            let set = evaluate(&rules, &context(RefKind::Tag { name: name.clone() }), &facts);
            let expected = !pre && highest == Some((*major, *minor, *patch));
            prop_assert_eq!(set.tags == ["latest"], expected, "{} among {:?}", name, names);
            prop_assert_eq!(set.notes.len(), 1, "one note, moved or withheld: {:?}", set.notes);
        }
    }
}
