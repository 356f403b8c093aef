//! GitLab's dotenv report (`artifacts:reports:dotenv`): variables that later jobs of the
//! pipeline receive, such as the refs a build made.
//!
//! GitLab takes one `NAME=value` per line, no quotes, no multi-line values, and at most
//! 5,120 bytes in all (gitlab-org/gitlab#411139, CRATES.md §7). Values are kept to one line;
//! a list that does not fit is cut between items and `<NAME>_TRUNCATED=true` says so.
//!
//! | variable | from | value |
//! |---|---|---|
//! | `SIFBAKE_HAS_CHANGES` | `plan`, `build`, `tag` | `true` when anything is built or retagged |
//! | `SIFBAKE_CHANGED_TARGETS` | `plan`, `build`, `tag` | names of the targets to build or retag, space-separated |
//! | `SIFBAKE_EXIT_CODE` | `build`, `tag` | the exit code |
//! | `SIFBAKE_PUBLISH` | `build`, `tag` | `push`, `ephemeral` or `skip` |
//! | `SIFBAKE_FAILED_COUNT` | `build`, `tag` | images that failed or timed out |
//! | `SIFBAKE_BUILT_REFS` | `build`, `tag` | `library://…:sha256.<hex>` per image built or retagged, space-separated |
//! | `SIFBAKE_VERSION` | `plan`, `build`, `tag` | the images' `org.opencontainers.image.version` label |
//! | `SIFBAKE_TAGS` | `plan`, `build`, `tag` | `library://…:<tag>` per tag the rules set, space-separated |
//! | `SIFBAKE_TAG_NAMES` | `plan`, `build`, `tag` | the same tags without the ref |
//! | `SIFBAKE_LABELS` | `plan`, `build`, `tag` | the provenance labels, `key=value`, space-separated |

use std::io::{self, Write};

use crate::manifest::Publish;
use crate::plan::{Action, Plan};

use super::built_refs::built_refs;
use super::result::ResultDocument;

/// The most a dotenv report may hold, in bytes.
pub const DOTENV_LIMIT: usize = 5120;

/// A variable's value: one string, or a list written space-separated.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Value {
    Scalar(String),
    List(Vec<String>),
}

/// The variables of a plan.
pub fn plan_variables(plan: &Plan) -> Vec<(&'static str, Value)> {
    vec![
        (
            "SIFBAKE_HAS_CHANGES",
            Value::Scalar(plan.has_changes.to_string()),
        ),
        (
            "SIFBAKE_CHANGED_TARGETS",
            Value::List(
                plan.targets
                    .iter()
                    .filter(|t| t.action != Action::Skip)
                    .map(|t| t.name.clone())
                    .collect(),
            ),
        ),
    ]
}

/// The variables of a `build` or `tag` result.
pub fn result_variables(document: &ResultDocument<'_>) -> Vec<(&'static str, Value)> {
    let publish = match document.publish {
        Publish::Push => "push",
        Publish::Ephemeral => "ephemeral",
        Publish::Skip => "skip",
    };
    vec![
        (
            "SIFBAKE_EXIT_CODE",
            Value::Scalar(document.exit_code.to_string()),
        ),
        ("SIFBAKE_PUBLISH", Value::Scalar(publish.to_owned())),
        (
            "SIFBAKE_FAILED_COUNT",
            Value::Scalar((document.counts.failed + document.counts.timed_out).to_string()),
        ),
        (
            "SIFBAKE_BUILT_REFS",
            Value::List(
                built_refs(document)
                    .into_iter()
                    .map(|r| r.reference)
                    .collect(),
            ),
        ),
    ]
}

/// Writes `NAME=value` lines within `limit` bytes: scalars first, then lists with the room
/// that is left, each cut between items when it does not fit.
pub fn write_dotenv(
    out: &mut dyn Write,
    variables: &[(&str, Value)],
    limit: usize,
) -> io::Result<()> {
    let mut text = String::new();
    for (name, value) in variables {
        if let Value::Scalar(value) = value {
            text.push_str(&format!("{name}={}\n", one_line(value)));
        }
    }
    for (name, value) in variables {
        let Value::List(items) = value else { continue };
        let full = format!(
            "{name}={}\n",
            items
                .iter()
                .map(|i| one_line(i))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if text.len() + full.len() <= limit {
            text.push_str(&full);
            continue;
        }
        let marker = format!("{name}_TRUNCATED=true\n");
        let mut line = format!("{name}=");
        let mut first = true;
        for item in items {
            let item = one_line(item);
            let added = item.len() + usize::from(!first);
            if text.len() + line.len() + added + 1 + marker.len() > limit {
                break;
            }
            if !first {
                line.push(' ');
            }
            line.push_str(&item);
            first = false;
        }
        line.push('\n');
        if text.len() + line.len() + marker.len() <= limit {
            text.push_str(&line);
            text.push_str(&marker);
        }
    }
    out.write_all(text.as_bytes())
}

fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::tests::{document, image};

    fn written(variables: &[(&str, Value)], limit: usize) -> String {
        let mut out = Vec::new();
        write_dotenv(&mut out, variables, limit).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_result_gives_its_refs_on_one_line() {
        let mut doc = document(Publish::Push);
        doc.exit_code = 1;
        doc.counts.failed = 1;
        doc.targets[0].images = vec![
            image("amd64", "built", Some(("acme/tools/base", "sha256.aa"))),
            image("arm64", "failed", None),
        ];
        doc.targets[1].images = vec![image(
            "amd64",
            "retagged",
            Some(("acme/tools/python", "sha256.bb")),
        )];
        assert_eq!(
            written(&result_variables(&doc), DOTENV_LIMIT),
            "SIFBAKE_EXIT_CODE=1\nSIFBAKE_PUBLISH=push\nSIFBAKE_FAILED_COUNT=1\n\
             SIFBAKE_BUILT_REFS=library://acme/tools/base:sha256.aa library://acme/tools/python:sha256.bb\n"
        );
    }

    #[test]
    fn values_stay_on_one_line() {
        let variables = [("A", Value::Scalar("x\ny\r\n".to_owned()))];
        assert_eq!(written(&variables, DOTENV_LIMIT), "A=x y\n");
    }

    #[test]
    fn a_long_list_is_cut_between_items_and_marked() {
        let refs: Vec<String> = (0..200)
            .map(|i| format!("library://acme/tools/t{i:03}:sha256.{}", "a".repeat(64)))
            .collect();
        let variables = [
            ("SIFBAKE_EXIT_CODE", Value::Scalar("0".to_owned())),
            ("SIFBAKE_BUILT_REFS", Value::List(refs.clone())),
        ];
        let text = written(&variables, DOTENV_LIMIT);
        assert!(text.len() <= DOTENV_LIMIT, "{}", text.len());
        assert!(
            text.ends_with("SIFBAKE_BUILT_REFS_TRUNCATED=true\n"),
            "{text}"
        );
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("SIFBAKE_BUILT_REFS="))
            .expect("refs line");
        let kept: Vec<&str> = line.split(' ').collect();
        assert!(kept.len() > 40 && kept.len() < 200, "{}", kept.len());
        assert_eq!(
            kept,
            refs[..kept.len()]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        // One more item would not have fitted.
        assert!(text.len() + refs[kept.len()].len() + 1 > DOTENV_LIMIT);
    }

    #[test]
    fn the_names_are_not_names_sifbake_reads() {
        let mut doc = document(Publish::Push);
        doc.targets[0].images = vec![image("amd64", "built", Some(("a/b/c", "sha256.aa")))];
        for (name, _) in result_variables(&doc) {
            assert!(!crate::env::ALL.contains(&name), "{name}");
        }
    }
}
