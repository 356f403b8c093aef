use serde_json::{Value, json};

use crate::support::{Repo, Sifbake};

/// Runs `sifbake plan --format json` in the repository with the given environment.
fn plan(repo: &Repo, vars: &[(&str, &str)], args: &[&str]) -> Value {
    let run = Sifbake::new(repo.path())
        .envs(vars.iter().copied())
        .args(["plan", "--format", "json"])
        .args(args)
        .run()
        .expect_code(0);
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()))
}

/// Writes a GitHub event payload outside the repository; returns its directory and path.
fn payload(value: Value) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("event.json");
    std::fs::write(&path, value.to_string()).expect("write payload");
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

fn target<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {plan}"))
}

fn actions(plan: &Value) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = plan["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    list.sort();
    list
}

fn expect_actions(plan: &Value, build: &[&str]) {
    let all = ["analysis", "base", "bwa", "python", "r", "samtools"];
    let expected: Vec<(String, String)> = all
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                if build.contains(name) {
                    "build"
                } else {
                    "skip"
                }
                .to_owned(),
            )
        })
        .collect();
    assert_eq!(actions(plan), expected, "{plan:#}");
}

/// Tags of a target's first image, without the digest tag.
fn rule_tags(plan: &Value, name: &str) -> Vec<String> {
    let image = &target(plan, name)["images"][0];
    let digest_tag = image["digest_tag"].as_str().expect("digest tag");
    image["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| *t != digest_tag)
        .map(str::to_owned)
        .collect()
}

/// The examples, then a commit that changes only the python requirements.
fn changed_requirements() -> (Repo, String, String) {
    let repo = Repo::from_examples();
    let before = repo.git(&["rev-parse", "HEAD"]);
    let after = repo.commit_files(
        "bump numpy",
        &[("requirements/python.txt", "numpy==2.2.0\npandas==2.2.3\n")],
    );
    (repo, before, after)
}

#[test]
fn github_push_to_main_builds_the_changed_target_and_its_dependents() {
    let (repo, before, after) = changed_requirements();
    let (_dir, event) =
        payload(json!({"before": before, "repository": {"default_branch": "main"}}));
    let plan = plan(
        &repo,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_SHA", &after),
            ("GITHUB_EVENT_PATH", &event),
        ],
        &[],
    );
    assert_eq!(plan["schema"], "sifbake/plan/v1");
    assert_eq!(plan["changes"]["mode"], "diff");
    assert_eq!(plan["changes"]["base"], before.as_str());
    expect_actions(&plan, &["python", "analysis"]);
    assert_eq!(
        target(&plan, "python")["reason"],
        json!({"kind": "changed", "files": ["requirements/python.txt"]})
    );
    assert_eq!(
        target(&plan, "analysis")["reason"],
        json!({"kind": "dependency", "name": "python"})
    );
    let short = &after[..7];
    assert_eq!(
        rule_tags(&plan, "python"),
        vec![
            "main".to_owned(),
            format!("sha-{short}"),
            "latest".to_owned()
        ]
    );
    assert_eq!(plan["has_changes"], true);
}

#[test]
fn github_pull_request_tags_the_head_commit() {
    let repo = Repo::from_examples();
    let base = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["checkout", "-q", "-b", "feature/New-Base"]);
    let head = repo.commit_files(
        "new base",
        &[("defs/base.def", "Bootstrap: docker\nFrom: ubuntu:25.04\n")],
    );
    let (_dir, event) = payload(json!({
        "number": 17,
        "pull_request": {"number": 17, "head": {"sha": head, "ref": "feature/New-Base"}, "base": {"sha": base, "ref": "main"}},
        "repository": {"default_branch": "main"}
    }));
    let plan = plan(
        &repo,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REF", "refs/pull/17/merge"),
            ("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff"),
            ("GITHUB_HEAD_REF", "feature/New-Base"),
            ("GITHUB_BASE_REF", "main"),
            ("GITHUB_EVENT_PATH", &event),
        ],
        &[],
    );
    assert_eq!(plan["context"]["sha"], head.as_str());
    assert_eq!(plan["changes"]["mode"], "diff");
    // base changed: it and everything built on it, but not the glob targets.
    expect_actions(&plan, &["base", "python", "r", "analysis"]);
    // A pull request builds ephemeral images (the default `publish.pr`): the plan lists no
    // `pr-17` or `sha-…` tag it would never set, and says why.
    assert_eq!(plan["publish"], "ephemeral");
    assert_eq!(rule_tags(&plan, "python"), Vec::<String>::new());
    assert!(
        plan["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .flat_map(|t| t["images"].as_array().expect("images"))
            .all(|i| i["tags"].as_array().is_some_and(Vec::is_empty)),
        "{plan:#}"
    );
    assert!(
        plan["notes"].as_array().expect("notes").iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.contains("nothing is published or tagged"))),
        "{plan:#}"
    );
}

#[test]
fn a_release_tag_compares_digests_and_gets_semver_tags() {
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["tag", "v1.4.0"]);
    let (_dir, event) = payload(
        json!({"before": "0000000000000000000000000000000000000000", "repository": {"default_branch": "main"}}),
    );
    let plan = plan(
        &repo,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/tags/v1.4.0"),
            ("GITHUB_SHA", &sha),
            ("GITHUB_EVENT_PATH", &event),
        ],
        &[],
    );
    assert_eq!(plan["changes"]["mode"], "digest");
    // Offline the library cannot be asked, so every target is a build candidate; the build
    // command turns those whose digest tag exists into retags.
    expect_actions(
        &plan,
        &["analysis", "base", "bwa", "python", "r", "samtools"],
    );
    assert_eq!(target(&plan, "r")["images"][0]["lookup"], "not-made");
    assert_eq!(
        rule_tags(&plan, "r"),
        vec![
            "1.4.0".to_owned(),
            "1.4".to_owned(),
            format!("sha-{}", &sha[..7])
        ]
    );
    let base = target(&plan, "base");
    assert_eq!(base["images"].as_array().map(Vec::len), Some(2));
    assert_ne!(base["images"][0]["digest"], base["images"][1]["digest"]);
}

#[test]
fn scheduled_and_manual_runs_compare_digests() {
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    for (event, reference, tags) in [
        ("schedule", "refs/heads/main", vec!["main", "latest"]),
        (
            "workflow_dispatch",
            "refs/heads/.Hotfix/UPPER",
            vec!["hotfix-upper"],
        ),
    ] {
        let (_dir, path) = payload(json!({"repository": {"default_branch": "main"}}));
        let plan = plan(
            &repo,
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", event),
                ("GITHUB_REF", reference),
                ("GITHUB_SHA", &sha),
                ("GITHUB_EVENT_PATH", &path),
            ],
            &[],
        );
        assert_eq!(plan["changes"]["mode"], "digest", "{event}");
        let mut expected: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        expected.insert(1, format!("sha-{}", &sha[..7]));
        assert_eq!(rule_tags(&plan, "bwa"), expected, "{event}");
    }
}

#[test]
fn gitlab_contexts() {
    let (repo, before, after) = changed_requirements();
    let common = [
        ("GITLAB_CI", "true"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_COMMIT_SHA", after.as_str()),
    ];
    let with = |extra: &[(&'static str, &str)]| {
        let mut vars: Vec<(&str, String)> =
            common.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        vars
    };
    let long_branch = format!("feature/{}", "very-long-name-".repeat(12));
    /// (case, CI variables, expected change mode, expected rule tags of `python`).
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str, Vec<String>);
    let cases: Vec<Case<'_>> = vec![
        (
            "branch push",
            with(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_REF_NAME", "main"),
                ("CI_COMMIT_BEFORE_SHA", &before),
            ]),
            "diff",
            vec![
                "main".into(),
                format!("sha-{}", &after[..7]),
                "latest".into(),
            ],
        ),
        (
            "merge request",
            with(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "8"),
                ("CI_MERGE_REQUEST_DIFF_BASE_SHA", &before),
                (
                    "CI_COMMIT_BEFORE_SHA",
                    "0000000000000000000000000000000000000000",
                ),
            ]),
            "diff",
            vec!["pr-8".into(), format!("sha-{}", &after[..7])],
        ),
        (
            "tag",
            with(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_TAG", "v2.0.0-rc.1"),
                (
                    "CI_COMMIT_BEFORE_SHA",
                    "0000000000000000000000000000000000000000",
                ),
            ]),
            "digest",
            vec!["2.0.0-rc.1".into(), format!("sha-{}", &after[..7])],
        ),
        (
            "schedule",
            with(&[
                ("CI_PIPELINE_SOURCE", "schedule"),
                ("CI_COMMIT_BRANCH", "main"),
                (
                    "CI_COMMIT_BEFORE_SHA",
                    "0000000000000000000000000000000000000000",
                ),
            ]),
            "digest",
            vec![
                "main".into(),
                format!("sha-{}", &after[..7]),
                "latest".into(),
            ],
        ),
        (
            "an over-long branch",
            with(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", &long_branch),
                ("CI_COMMIT_BEFORE_SHA", &before),
            ]),
            "diff",
            Vec::new(),
        ),
    ];
    for (name, vars, mode, tags) in cases {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let plan = plan(&repo, &vars, &[]);
        assert_eq!(plan["changes"]["mode"], mode, "{name}");
        if mode == "diff" {
            expect_actions(&plan, &["python", "analysis"]);
        }
        let got = rule_tags(&plan, "python");
        if name == "merge request" {
            // Ephemeral: the rules' `pr-8` and `sha-…` are never set, so not planned.
            assert_eq!(plan["publish"], "ephemeral", "{name}");
            assert!(
                got.is_empty(),
                "{name}: {got:?} (rules would give {tags:?})"
            );
        } else if tags.is_empty() {
            let branch_tag = &got[0];
            assert_eq!(branch_tag.len(), 128, "{name}: {branch_tag}");
            assert!(branch_tag.starts_with("feature-very-long-name-"), "{name}");
        } else {
            assert_eq!(got, tags, "{name}");
        }
    }
}

#[test]
fn since_all_and_targets() {
    let (repo, before, _after) = changed_requirements();
    let since = plan(&repo, &[], &["--since", &before]);
    expect_actions(&since, &["python", "analysis"]);
    let all = plan(&repo, &[], &["--all"]);
    expect_actions(
        &all,
        &["analysis", "base", "bwa", "python", "r", "samtools"],
    );
    assert_eq!(target(&all, "bwa")["reason"]["kind"], "all");
    let selected = plan(&repo, &[], &["--all", "--targets", "python"]);
    let names: Vec<&str> = selected["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["base", "python"]);
    // Outside CI without --since there is no base: digests decide, and the plan says so.
    let local = plan(&repo, &[], &[]);
    assert_eq!(local["changes"]["mode"], "digest");
    assert_eq!(local["context"]["provider"], "local");
}

#[test]
fn an_empty_github_matrix_is_still_valid_and_says_so() {
    let repo = Repo::from_examples();
    let head = repo.git(&["rev-parse", "HEAD"]);
    let outputs = tempfile::tempdir().expect("tempdir");
    let output_file = outputs.path().join("github_output");
    let run = Sifbake::new(repo.path())
        .env("GITHUB_OUTPUT", &output_file)
        .args(["plan", "--format", "github-matrix", "--since", &head])
        .run()
        .expect_code(0);
    let matrix: Value = serde_json::from_str(run.stdout().trim()).expect("matrix JSON");
    assert_eq!(matrix, json!({"include": []}));
    assert!(
        run.stderr().contains("has-changes=false"),
        "{}",
        run.stderr()
    );
    let written = std::fs::read_to_string(&output_file).expect("outputs");
    assert!(
        written.starts_with("has-changes<<ghadelimiter_"),
        "{written}"
    );
    assert!(written.contains("\nfalse\n"), "{written}");

    let run = Sifbake::new(repo.path())
        .args([
            "plan",
            "--format",
            "github-matrix",
            "--all",
            "--targets",
            "base",
        ])
        .run()
        .expect_code(0);
    let matrix: Value = serde_json::from_str(run.stdout().trim()).expect("matrix JSON");
    assert_eq!(
        matrix,
        json!({"include": [
            {"target": "base", "arch": "amd64", "ref": "library://acme-lab/tools/base", "action": "build"},
            {"target": "base", "arch": "arm64", "ref": "library://acme-lab/tools/base", "action": "build"}
        ]})
    );
}

#[test]
fn the_text_plan_reads_as_a_table() {
    let (repo, before, _after) = changed_requirements();
    let run = Sifbake::new(repo.path())
        .args(["plan", "--since", &before])
        .run()
        .expect_code(0);
    let stdout = run.stdout();
    assert!(stdout.starts_with("Plan for branch `main` at "), "{stdout}");
    assert!(
        stdout.contains(": 2 to build, 0 to retag, 4 to skip"),
        "{stdout}"
    );
    let python = stdout
        .lines()
        .find(|l| l.starts_with("python"))
        .expect("python row");
    assert!(
        python.contains("build") && python.contains("changed: requirements/python.txt"),
        "{python}"
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "no colour when not a terminal: {stdout}"
    );
}

#[test]
fn a_bad_since_revision_is_bad_input() {
    let repo = Repo::from_examples();
    let run = Sifbake::new(repo.path())
        .args(["plan", "--since", "no-such-rev"])
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("no-such-rev"), "{}", run.stderr());
}

#[test]
fn unknown_targets_are_bad_input() {
    let repo = Repo::from_examples();
    let run = Sifbake::new(repo.path())
        .args(["plan", "--targets", "pyhton"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("did you mean `python`?"),
        "{}",
        run.stderr()
    );
}
