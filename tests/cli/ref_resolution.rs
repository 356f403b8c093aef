//! `--ref NAME` and detached checkouts: a name is what git says it is.

use serde_json::Value;

use crate::support::{Repo, Sifbake};

fn plan(repo: &Repo, args: &[&str]) -> Value {
    let run = Sifbake::new(repo.path())
        .args(["plan", "--all", "--format", "json"])
        .args(args)
        .run()
        .expect_code(0);
    serde_json::from_str(&run.stdout()).expect("plan JSON")
}

fn python_tags(plan: &Value) -> Vec<String> {
    plan["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["name"] == "python")
        .expect("python")["images"][0]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_bare_ref_naming_a_tag_is_that_tag() {
    let repo = Repo::from_examples();
    repo.git(&["tag", "v1.2.3"]);
    let plan = plan(&repo, &["--ref", "v1.2.3"]);
    assert_eq!(
        plan["context"]["ref"]["type"], "tag",
        "{:#}",
        plan["context"]
    );
    assert_eq!(plan["context"]["ref"]["name"], "v1.2.3");
    let tags = python_tags(&plan);
    assert!(
        tags.contains(&"1.2.3".to_owned()) && tags.contains(&"1.2".to_owned()),
        "semver tags: {tags:?}"
    );
    let branch = plan_of_branch(&repo);
    assert_eq!(branch["context"]["ref"]["type"], "branch");
}

fn plan_of_branch(repo: &Repo) -> Value {
    plan(repo, &["--ref", "main"])
}

#[test]
fn a_checkout_detached_at_a_tag_builds_the_tag() {
    let repo = Repo::from_examples();
    repo.git(&["tag", "v2.0.0"]);
    repo.git(&["checkout", "-q", "--detach", "v2.0.0"]);
    let plan = plan(&repo, &[]);
    assert_eq!(
        plan["context"]["ref"]["type"], "tag",
        "{:#}",
        plan["context"]
    );
    assert_eq!(plan["context"]["ref"]["name"], "v2.0.0");
}

#[test]
fn a_bare_ref_naming_both_or_neither_is_an_error() {
    let repo = Repo::from_examples();
    repo.git(&["tag", "release"]);
    repo.git(&["branch", "release"]);
    let run = Sifbake::new(repo.path())
        .args(["plan", "--ref", "release"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("`--ref release` names both a tag and a branch")
            && run.stderr().contains("`--ref refs/tags/release`"),
        "{}",
        run.stderr()
    );
    let run = Sifbake::new(repo.path())
        .args(["plan", "--ref", "v9.9.9"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("`--ref v9.9.9` names no tag or branch of this repository"),
        "{}",
        run.stderr()
    );
}
