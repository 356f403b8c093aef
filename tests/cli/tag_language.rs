use serde_json::{Value, json};

use crate::support::{Repo, Sifbake};

const DEF: &str = "Bootstrap: docker\nFrom: alpine:3.20\n";

/// A repository whose one target `base` has `rules` (YAML list items) as its tags, or
/// sifbake's default rules when `rules` is empty.
fn repository(rules: &str) -> Repo {
    let tags = if rules.is_empty() {
        String::new()
    } else {
        format!("  tags:\n{rules}")
    };
    let manifest = format!(
        "version: 1\ndefaults:\n  library: library://acme/tools\n{tags}targets:\n  base:\n    def: base.def\n"
    );
    Repo::with_files(&[("sifbake.yaml", &manifest), ("base.def", DEF)])
}

/// Plans a GitHub push of `reference` at `HEAD`; returns the tags without the digest tag,
/// and the plan's notes.
fn plan(
    repo: &Repo,
    event: &str,
    reference: &str,
    extra: &[(&str, &str)],
) -> (Vec<String>, Vec<String>) {
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = dir.path().join("event.json");
    let body = json!({"before": "0000000000000000000000000000000000000000",
                      "repository": {"default_branch": "main"}});
    std::fs::write(&payload, body.to_string()).expect("payload");
    let run = Sifbake::new(repo.path())
        .envs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", event),
            ("GITHUB_REF", reference),
            ("GITHUB_SHA", sha.as_str()),
        ])
        .env("GITHUB_EVENT_PATH", &payload)
        .envs(extra.iter().copied())
        .args(["plan", "--format", "json"])
        .run()
        .expect_code(0);
    let plan: Value = run.json();
    let image = &plan["targets"][0]["images"][0];
    let digest_tag = image["digest_tag"].as_str().unwrap_or_default().to_owned();
    let tags = image["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| *t != digest_tag)
        .map(str::to_owned)
        .collect();
    let notes = plan["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    (tags, notes)
}

#[test]
fn metadata_action_rules_on_a_release_tag_in_priority_order() {
    let repo = repository(
        r#"    - type: semver
      pattern: "{{version}}"
    - type: semver
      pattern: "{{major}}.{{minor}}"
      priority: 950
    - type: pep440
      pattern: "py{{major}}"
    - type: match
      pattern: 'v(\d+)\.'
      group: 1
      prefix: m
    - type: ref
      event: tag
    - type: sha
      format: long
      enable: "{{is_default_branch}}"
    - raw: "r-{{tag}}-{{sha}}"
    - latest
"#,
    );
    repo.git(&["tag", "v1.0.0", "HEAD"]);
    let sha = repo.commit("next");
    repo.git(&["tag", "v2.1.0"]);
    let (tags, notes) = plan(&repo, "push", "refs/tags/v2.1.0", &[]);
    let short = &sha[..7];
    assert_eq!(
        tags,
        [
            "2.1",
            "2.1.0",
            "py2",
            "m2",
            "v2.1.0",
            &format!("r-v2.1.0-{short}"),
            "latest"
        ]
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("`latest` moves to `v2.1.0`")),
        "{notes:?}"
    );
}

#[test]
fn a_patch_of_an_older_line_leaves_latest_on_the_highest_release() {
    let repo = repository("");
    repo.git(&["tag", "v2.0.0"]);
    repo.commit("backport");
    repo.git(&["tag", "v1.4.1"]);
    let (tags, notes) = plan(&repo, "push", "refs/tags/v1.4.1", &[]);
    assert_eq!(tags, ["v1.4.1"]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("`latest` stays on `v2.0.0`")),
        "{notes:?}"
    );
    let (tags, notes) = plan(&repo, "push", "refs/tags/v3.0.0-rc.1", &[]);
    assert_eq!(tags, ["v3.0.0-rc.1"]);
    assert!(notes.iter().any(|n| n.contains("pre-release")), "{notes:?}");
}

#[test]
fn the_default_branch_moves_latest_only_until_the_first_release() {
    let repo = repository("");
    let (tags, _) = plan(&repo, "push", "refs/heads/main", &[]);
    assert_eq!(tags, ["main", "latest"]);
    repo.git(&["tag", "v0.1.0"]);
    let (tags, notes) = plan(&repo, "push", "refs/heads/main", &[]);
    assert_eq!(tags, ["main"]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("`latest` stays on release `v0.1.0`")),
        "{notes:?}"
    );
}

#[test]
fn schedule_and_edge_fill_the_date_at_an_offset() {
    let repo = repository(
        r#"    - type: schedule
      pattern: "nightly-{{date 'YYYYMMDD' tz='+09:00'}}"
    - type: edge
    - raw: "{{branch}}-{{date 'YYMMDD'}}"
      enable: "{{is_default_branch}}"
"#,
    );
    // 2026-12-04T23:30:05Z: already the 5th in Tokyo.
    let epoch = [("SOURCE_DATE_EPOCH", "1796427005")];
    let (tags, _) = plan(&repo, "schedule", "refs/heads/main", &epoch);
    assert_eq!(tags, ["nightly-20261205", "edge", "main-261204"]);
    let (tags, _) = plan(&repo, "push", "refs/heads/feature", &epoch);
    assert!(tags.is_empty(), "{tags:?}");
}

#[test]
fn an_unknown_default_branch_is_explained_for_the_default_latest_rule() {
    let repo = repository("");
    let run = Sifbake::new(repo.path())
        .args(["plan", "--format", "json", "--all"])
        .run()
        .expect_code(0);
    let plan: Value = run.json();
    assert!(
        plan["notes"]
            .as_array()
            .is_some_and(|notes| notes.iter().any(|n| n.as_str().is_some_and(|n| n
                .contains("the default branch is unknown")
                && n.contains("`latest`")))),
        "{plan:#}"
    );
}
