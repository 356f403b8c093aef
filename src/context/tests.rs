use super::*;

const HEAD: &str = "1111111111111111111111111111111111111111";
const MERGE: &str = "2222222222222222222222222222222222222222";
const BEFORE: &str = "3333333333333333333333333333333333333333";
const BASE: &str = "4444444444444444444444444444444444444444";
const ZERO: &str = "0000000000000000000000000000000000000000";

fn detect_with(
    vars: &[(&str, &str)],
    payload: Option<serde_json::Value>,
) -> Result<RefContext, ContextError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let local = LocalGit {
        branch: Some("local-branch".to_owned()),
        sha: Some(HEAD.to_owned()),
        default_branch: Some("main".to_owned()),
        head_tags: Vec::new(),
    };
    detect(&lookup, payload.as_ref(), &local, &Overrides::default())
}

fn branch(name: &str) -> RefKind {
    RefKind::Branch {
        name: name.to_owned(),
    }
}

#[test]
fn github_contexts() {
    let push = serde_json::json!({"before": BEFORE, "repository": {"default_branch": "main"}});
    let new_branch = serde_json::json!({"before": ZERO, "repository": {"default_branch": "main"}});
    let pr = serde_json::json!({
        "number": 42,
        "pull_request": {"number": 42, "head": {"sha": HEAD, "ref": "feature/x"}, "base": {"sha": BASE, "ref": "main"}},
        "repository": {"default_branch": "main"}
    });
    let gh = |event: &'static str, reference: &'static str, sha: &'static str| {
        vec![
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", event),
            ("GITHUB_REF", reference),
            ("GITHUB_SHA", sha),
        ]
    };
    struct Case {
        name: &'static str,
        vars: Vec<(&'static str, &'static str)>,
        payload: Option<serde_json::Value>,
        kind: RefKind,
        sha: &'static str,
        before: Option<&'static str>,
        base_sha: Option<&'static str>,
        on_default: bool,
    }
    let cases = [
        Case {
            name: "push to main",
            vars: gh("push", "refs/heads/main", HEAD),
            payload: Some(push.clone()),
            kind: branch("main"),
            sha: HEAD,
            before: Some(BEFORE),
            base_sha: None,
            on_default: true,
        },
        Case {
            name: "push to a nested branch",
            vars: gh("push", "refs/heads/feature/X-1", HEAD),
            payload: Some(push.clone()),
            kind: branch("feature/X-1"),
            sha: HEAD,
            before: Some(BEFORE),
            base_sha: None,
            on_default: false,
        },
        Case {
            name: "first push of a branch",
            vars: gh("push", "refs/heads/new", HEAD),
            payload: Some(new_branch),
            kind: branch("new"),
            sha: HEAD,
            before: None,
            base_sha: None,
            on_default: false,
        },
        Case {
            name: "pull request uses the head sha, not the merge sha",
            vars: {
                let mut v = gh("pull_request", "refs/pull/42/merge", MERGE);
                v.push(("GITHUB_HEAD_REF", "feature/x"));
                v.push(("GITHUB_BASE_REF", "main"));
                v
            },
            payload: Some(pr.clone()),
            kind: RefKind::PullRequest {
                number: 42,
                head_branch: Some("feature/x".into()),
                base_branch: Some("main".into()),
            },
            sha: HEAD,
            before: None,
            base_sha: Some(BASE),
            on_default: false,
        },
        Case {
            name: "tag push",
            vars: gh("push", "refs/tags/v1.2.3", HEAD),
            payload: Some(serde_json::json!({"before": ZERO})),
            kind: RefKind::Tag {
                name: "v1.2.3".into(),
            },
            sha: HEAD,
            before: None,
            base_sha: None,
            on_default: false,
        },
        Case {
            name: "schedule on the default branch (no payload default)",
            vars: gh("schedule", "refs/heads/main", HEAD),
            payload: Some(serde_json::json!({"schedule": "0 3 * * *"})),
            kind: branch("main"),
            sha: HEAD,
            before: None,
            base_sha: None,
            on_default: true,
        },
        Case {
            name: "manual run",
            vars: gh("workflow_dispatch", "refs/heads/release/2", HEAD),
            payload: Some(
                serde_json::json!({"repository": {"default_branch": "main"}, "inputs": {}}),
            ),
            kind: branch("release/2"),
            sha: HEAD,
            before: None,
            base_sha: None,
            on_default: false,
        },
    ];
    for case in cases {
        let context =
            detect_with(&case.vars, case.payload).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(context.provider, Provider::GitHub, "{}", case.name);
        assert_eq!(context.kind, case.kind, "{}", case.name);
        assert_eq!(context.sha, case.sha, "{}", case.name);
        assert_eq!(context.before.as_deref(), case.before, "{}", case.name);
        assert_eq!(context.base_sha.as_deref(), case.base_sha, "{}", case.name);
        assert_eq!(
            context.on_default_branch(),
            case.on_default,
            "{}",
            case.name
        );
    }
}

#[test]
fn github_pull_request_without_payload_falls_back_to_the_ref() {
    let context = detect_with(
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_SHA", MERGE),
        ],
        None,
    )
    .expect("context");
    assert!(matches!(
        context.kind,
        RefKind::PullRequest { number: 7, .. }
    ));
    assert_eq!(context.sha, MERGE);
}

#[test]
fn gitlab_contexts() {
    let common = [
        ("GITLAB_CI", "true"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_COMMIT_SHA", MERGE),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut vars = common.to_vec();
        vars.extend_from_slice(extra);
        vars
    };
    let cases = [
        (
            "branch push",
            with(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_REF_NAME", "main"),
                ("CI_COMMIT_BEFORE_SHA", BEFORE),
            ]),
            branch("main"),
            MERGE,
            Some(BEFORE),
            None,
            true,
        ),
        (
            "new branch",
            with(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "Feature/Upper"),
                ("CI_COMMIT_BEFORE_SHA", ZERO),
            ]),
            branch("Feature/Upper"),
            MERGE,
            None,
            None,
            false,
        ),
        (
            "merge request (merged results) builds the source head",
            with(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "12"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", HEAD),
                ("CI_MERGE_REQUEST_DIFF_BASE_SHA", BASE),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "fix"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_COMMIT_BEFORE_SHA", ZERO),
            ]),
            RefKind::PullRequest {
                number: 12,
                head_branch: Some("fix".into()),
                base_branch: Some("main".into()),
            },
            HEAD,
            None,
            Some(BASE),
            false,
        ),
        (
            "merge request (plain) builds CI_COMMIT_SHA",
            with(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "13"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
                ("CI_MERGE_REQUEST_DIFF_BASE_SHA", BASE),
            ]),
            RefKind::PullRequest {
                number: 13,
                head_branch: None,
                base_branch: None,
            },
            MERGE,
            None,
            Some(BASE),
            false,
        ),
        (
            "tag",
            with(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_TAG", "v2.0.0-rc.1"),
                ("CI_COMMIT_REF_NAME", "v2.0.0-rc.1"),
                ("CI_COMMIT_BEFORE_SHA", ZERO),
            ]),
            RefKind::Tag {
                name: "v2.0.0-rc.1".into(),
            },
            MERGE,
            None,
            None,
            false,
        ),
        (
            "schedule",
            with(&[
                ("CI_PIPELINE_SOURCE", "schedule"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_BEFORE_SHA", ZERO),
            ]),
            branch("main"),
            MERGE,
            None,
            None,
            true,
        ),
    ];
    for (name, vars, kind, sha, before, merge_base, on_default) in cases {
        let context = detect_with(&vars, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(context.provider, Provider::GitLab, "{name}");
        assert_eq!(context.kind, kind, "{name}");
        assert_eq!(context.sha, sha, "{name}");
        assert_eq!(context.before.as_deref(), before, "{name}");
        assert_eq!(context.merge_base.as_deref(), merge_base, "{name}");
        assert_eq!(context.on_default_branch(), on_default, "{name}");
    }
}

#[test]
fn local_git_and_overrides() {
    let context = detect_with(&[], None).expect("local");
    assert_eq!(context.provider, Provider::Local);
    assert_eq!(context.kind, branch("local-branch"));
    assert_eq!(context.sha, HEAD);
    assert_eq!(context.before, None);

    let lookup = |_: &str| None;
    let overrides = Overrides {
        reference: Some("refs/tags/v3.1.0".into()),
        sha: Some(BASE.into()),
        default_branch: Some("trunk".into()),
    };
    let context = detect(&lookup, None, &LocalGit::default(), &overrides).expect("overridden");
    assert_eq!(
        context.kind,
        RefKind::Tag {
            name: "v3.1.0".into()
        }
    );
    assert_eq!(context.sha, BASE);
    assert_eq!(context.default_branch.as_deref(), Some("trunk"));

    // The first commit of a fresh repository: a branch, no before, nothing to compare.
    let context = detect(
        &lookup,
        None,
        &LocalGit {
            branch: Some("main".into()),
            sha: Some(HEAD.into()),
            default_branch: None,
            head_tags: Vec::new(),
        },
        &Overrides::default(),
    )
    .expect("first commit");
    assert_eq!(context.before, None);
    assert!(!context.on_default_branch());
}

#[test]
fn errors_say_what_is_missing() {
    let error = detect_with(
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/heads/main"),
        ],
        None,
    )
    .expect_err("no event");
    assert_eq!(
        error.to_string(),
        "GITHUB_EVENT_NAME is not set, though GitHub Actions is"
    );
    let lookup = |_: &str| None;
    assert_eq!(
        detect(&lookup, None, &LocalGit::default(), &Overrides::default()),
        Err(ContextError::NoCommit)
    );
    assert!(parse_ref("refs/notes/x").is_err());
    assert!(parse_ref("refs/pull/abc/merge").is_err());
    assert_eq!(
        parse_ref("refs/merge-requests/5/head"),
        Ok(RefKind::PullRequest {
            number: 5,
            head_branch: None,
            base_branch: None
        })
    );
    assert_eq!(parse_ref("feature/y"), Ok(branch("feature/y")));
}
