//! The `latest` rule: docker/metadata-action's `flavor: latest=auto`, made safe for a
//! library where `latest` is also what an untagged `singularity pull` gets.
//!
//! On a release tag, `latest` moves only when the tag is the highest semantic version the
//! repository has released (so a 1.4.1 patch after 2.0.0 leaves it on 2.0.0), never on a
//! pre-release. While the repository has no release tag, `latest` follows the default branch,
//! as it did before. Every move or refusal is a plan note.

use crate::context::{RefContext, RefKind};

use super::TagFacts;

/// Returns a release version (`v1.2.3` or `1.2.3`, no pre-release), if the tag is one.
fn release(tag: &str) -> Option<semver::Version> {
    let version = semver::Version::parse(tag.strip_prefix(['v', 'V']).unwrap_or(tag)).ok()?;
    version.pre.is_empty().then_some(version)
}

/// The highest release among the repository's tags, with its tag name.
fn highest(facts: &TagFacts) -> Option<(semver::Version, &str)> {
    facts
        .repository_tags
        .iter()
        .flatten()
        .filter_map(|name| release(name).map(|version| (version, name.as_str())))
        .max_by(|a, b| a.0.cmp(&b.0))
}

fn shallow_hint(facts: &TagFacts) -> &'static str {
    if facts.shallow {
        " (the clone is shallow and may lack tags: fetch them, e.g. actions/checkout with \
         `fetch-depth: 0` or `fetch-tags: true`, or GitLab's `GIT_DEPTH: 0`)"
    } else {
        ""
    }
}

/// Returns `latest` when the rule gives it, noting why it moves or stays.
pub(super) fn value(
    context: &RefContext,
    facts: &TagFacts,
    notes: &mut Vec<String>,
) -> Option<String> {
    match &context.kind {
        RefKind::Tag { name } => {
            let Ok(version) = semver::Version::parse(name.strip_prefix(['v', 'V']).unwrap_or(name))
            else {
                notes.push(format!(
                    "`latest` stays where it is: tag `{name}` is not a semantic version"
                ));
                return None;
            };
            if !version.pre.is_empty() {
                notes.push(format!(
                    "`latest` stays where it is: `{name}` is a pre-release"
                ));
                return None;
            }
            match highest(facts) {
                Some((top, top_name)) if top > version => {
                    notes.push(format!(
                        "`latest` stays on `{top_name}`: `{name}` is not the highest release{}",
                        shallow_hint(facts)
                    ));
                    None
                }
                _ => {
                    notes.push(format!(
                        "`latest` moves to `{name}`, the highest release so far{}",
                        shallow_hint(facts)
                    ));
                    Some("latest".to_owned())
                }
            }
        }
        RefKind::Branch { .. } if context.on_default_branch() => match highest(facts) {
            Some((_, top_name)) => {
                notes.push(format!(
                    "`latest` stays on release `{top_name}`: once a repository has release \
                     tags, the default branch no longer moves it (add `- raw: latest` with \
                     `if: default_branch` to keep it on the branch)"
                ));
                None
            }
            None => {
                if facts.shallow {
                    notes.push(format!(
                        "`latest` moves to the default branch: no release tag found{}",
                        shallow_hint(facts)
                    ));
                }
                Some("latest".to_owned())
            }
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Provider;

    fn context(kind: RefKind) -> RefContext {
        RefContext {
            provider: Provider::GitHub,
            event: "push".into(),
            kind,
            sha: "a".repeat(40),
            default_branch: Some("main".into()),
            before: None,
            base_sha: None,
            merge_base: None,
        }
    }

    fn facts(tags: &[&str]) -> TagFacts {
        TagFacts {
            now: 0,
            repository_tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
            shallow: false,
        }
    }

    fn tag(name: &str) -> RefContext {
        context(RefKind::Tag { name: name.into() })
    }

    #[test]
    fn latest_moves_only_to_the_highest_release() {
        let mut notes = Vec::new();
        let all = facts(&["v1.0.0", "v2.0.0", "v1.4.1", "v3.0.0-rc.1"]);
        assert_eq!(
            value(&tag("v2.0.0"), &all, &mut notes).as_deref(),
            Some("latest")
        );
        assert_eq!(value(&tag("v1.4.1"), &all, &mut notes), None);
        assert_eq!(value(&tag("v3.0.0-rc.1"), &all, &mut notes), None);
        assert_eq!(value(&tag("nightly"), &all, &mut notes), None);
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert!(notes[1].contains("stays on `v2.0.0`"), "{notes:?}");
        assert!(notes[2].contains("pre-release"), "{notes:?}");
    }

    #[test]
    fn the_default_branch_has_latest_until_a_release() {
        let main = context(RefKind::Branch {
            name: "main".into(),
        });
        let mut notes = Vec::new();
        assert_eq!(
            value(&main, &facts(&["nightly"]), &mut notes).as_deref(),
            Some("latest")
        );
        assert!(notes.is_empty());
        assert_eq!(value(&main, &facts(&["v0.1.0"]), &mut notes), None);
        assert!(notes[0].contains("v0.1.0"), "{notes:?}");
        let feature = context(RefKind::Branch { name: "x".into() });
        assert_eq!(value(&feature, &facts(&[]), &mut notes), None);
    }

    #[test]
    fn a_shallow_clone_says_so() {
        let mut notes = Vec::new();
        let shallow = TagFacts {
            shallow: true,
            ..facts(&["v1.0.0"])
        };
        assert!(value(&tag("v1.0.0"), &shallow, &mut notes).is_some());
        assert!(notes[0].contains("shallow"), "{notes:?}");
    }
}
