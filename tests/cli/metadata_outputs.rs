use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::{Repo, Sifbake};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Two targets on two architectures, tagged by metadata-action's semver rules, with the
/// release tag `v1.2.3` at `HEAD`; returns the repository and `HEAD`.
fn released() -> (Repo, String) {
    let manifest = r#"version: 1
defaults:
  library: library://acme/tools
  arch: [amd64, arm64]
  tags:
    - type: semver
      pattern: "{{version}}"
    - type: semver
      pattern: "{{major}}.{{minor}}"
targets:
  base:
    def: base.def
  app:
    def: app.def
"#;
    let repo = Repo::with_files(&[
        ("sifbake.yaml", manifest),
        ("base.def", "Bootstrap: docker\nFrom: alpine:3.20\n"),
        (
            "app.def",
            "Bootstrap: library\nFrom: acme/tools/base:1.2.3\n",
        ),
    ]);
    repo.git(&["tag", "v1.2.3"]);
    let sha = repo.git(&["rev-parse", "HEAD"]);
    (repo, sha)
}

/// Reads `name<<DELIMITER` heredocs and `name=value` lines, as the runner does.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            outputs.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_owned(), value.to_owned());
        }
    }
    outputs
}

#[test]
fn github_outputs_hold_tags_version_and_labels() {
    let (repo, sha) = released();
    let dir = tempfile::tempdir().expect("tempdir");
    let event = dir.path().join("event.json");
    let body = json!({"before": ZERO, "repository": {"default_branch": "main"}});
    std::fs::write(&event, body.to_string()).expect("payload");
    let output = dir.path().join("output");
    Sifbake::new(repo.path())
        .envs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/tags/v1.2.3"),
            ("GITHUB_SHA", sha.as_str()),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/tools"),
        ])
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_OUTPUT", &output)
        .args(["plan"])
        .run()
        .expect_code(0);
    let outputs = parse_outputs(&std::fs::read_to_string(&output).expect("outputs"));
    assert_eq!(
        outputs["tags"],
        "library://acme/tools/base:1.2.3\nlibrary://acme/tools/base:1.2\n\
         library://acme/tools/app:1.2.3\nlibrary://acme/tools/app:1.2"
    );
    assert_eq!(outputs["tag-names"], "1.2.3\n1.2");
    assert_eq!(outputs["version"], "1.2.3");
    let per_image: Value = serde_json::from_str(&outputs["tags-json"]).expect("tags-json");
    assert_eq!(per_image.as_array().map(Vec::len), Some(4), "{per_image}");
    assert_eq!(
        per_image[1],
        json!({"target": "base", "arch": "arm64", "ref": "library://acme/tools/base",
               "tags": ["1.2.3", "1.2"]})
    );
    let labels: Vec<&str> = outputs["labels"].lines().collect();
    for expected in [
        format!("org.opencontainers.image.revision={sha}"),
        "org.opencontainers.image.source=https://github.com/acme/tools".to_owned(),
        "org.opencontainers.image.version=1.2.3".to_owned(),
        "org.opencontainers.image.ref.name=v1.2.3".to_owned(),
    ] {
        assert!(labels.contains(&expected.as_str()), "{labels:?}");
    }
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("org.opencontainers.image.created=")),
        "{labels:?}"
    );
}

#[test]
fn the_gitlab_dotenv_holds_the_same_on_one_line_each() {
    let (repo, sha) = released();
    let dir = tempfile::tempdir().expect("tempdir");
    let dotenv = dir.path().join("plan.env");
    Sifbake::new(repo.path())
        .envs([
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_TAG", "v1.2.3"),
            ("CI_COMMIT_SHA", sha.as_str()),
            ("CI_COMMIT_BEFORE_SHA", ZERO),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_PROJECT_URL", "https://gitlab.example.org/acme/tools"),
        ])
        .arg("plan")
        .arg("--dotenv")
        .arg(&dotenv)
        .run()
        .expect_code(0);
    let text = std::fs::read_to_string(&dotenv).expect("dotenv");
    let variables: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(variables["SIFBAKE_VERSION"], "1.2.3");
    assert_eq!(
        variables["SIFBAKE_TAGS"],
        "library://acme/tools/base:1.2.3 library://acme/tools/base:1.2 \
         library://acme/tools/app:1.2.3 library://acme/tools/app:1.2"
    );
    assert_eq!(variables["SIFBAKE_TAG_NAMES"], "1.2.3 1.2");
    let labels: Vec<&str> = variables["SIFBAKE_LABELS"].split(' ').collect();
    assert!(
        labels.contains(&"org.opencontainers.image.source=https://gitlab.example.org/acme/tools"),
        "{labels:?}"
    );
    assert!(
        labels.contains(&format!("org.opencontainers.image.revision={sha}").as_str()),
        "{labels:?}"
    );
}
