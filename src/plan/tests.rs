use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::changes::Digests;
use crate::context::{Provider, RefKind};
use crate::manifest::LoadRequest;

const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn write(root: &Path, path: &str, contents: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, contents).expect("write");
}

/// base (amd64, arm64) ← app (From, %files run.sh and data/, inputs requirements/*.txt); tool.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "sifbake.yaml",
        "version: 1\ndefaults:\n  library: library://acme/tools\n  tags: [branch, pr, {semver: \"{{version}}\"}, {semver: \"{{major}}.{{minor}}\"}, {raw: latest, if: default_branch}]\ntargets:\n  base:\n    def: base.def\n    arch: [amd64, arm64]\n  app:\n    def: app/app.def\n    inputs: [\"requirements/*.txt\"]\n  tool:\n    def: tool.def\n",
    );
    write(root, "base.def", "Bootstrap: docker\nFrom: ubuntu:24.04\n");
    write(
        root,
        "app/app.def",
        "Bootstrap: library\nFrom: acme/tools/base\n\n%files\n    run.sh /run.sh\n    data /data\n    conf/*.ini /etc/app/\n",
    );
    write(root, "app/run.sh", "#!/bin/sh\n");
    write(root, "app/data/a.csv", "1\n");
    write(root, "app/conf/app.ini", "[app]\n");
    write(root, "requirements/base.txt", "numpy\n");
    write(root, "tool.def", "Bootstrap: docker\nFrom: alpine\n");
    dir
}

fn project(root: &Path) -> Project {
    crate::project::load(&LoadRequest {
        manifest: root.join("sifbake.yaml"),
        root: None,
        display_base: root.to_path_buf(),
    })
    .unwrap_or_else(|d| panic!("{d:?}"))
}

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

fn main_push() -> RefContext {
    context(
        RefKind::Branch {
            name: "main".into(),
        },
        "push",
    )
}

fn diff(files: &[&str]) -> ChangeSet {
    ChangeSet {
        base: ChangeBase::Diff {
            base: "a".repeat(40),
            head: "b".repeat(40),
            how: "the push's previous commit".into(),
        },
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        notes: Vec::new(),
    }
}

fn fallback(reason: &str) -> ChangeSet {
    ChangeSet {
        base: ChangeBase::Fallback {
            reason: reason.into(),
        },
        files: BTreeSet::new(),
        notes: Vec::new(),
    }
}

/// A library that holds the listed `(container, arch, tag)` triples.
struct Library(Vec<(String, String, String)>);

impl DigestLookup for Library {
    fn exists(&self, reference: &LibraryRef, arch: &str, tag: &str) -> bool {
        self.0
            .iter()
            .any(|(c, a, t)| *c == reference.container && a == arch && t == tag)
    }
}

struct Run<'a> {
    changes: ChangeSet,
    context: RefContext,
    selection: Vec<String>,
    lookup: Option<&'a dyn DigestLookup>,
    branches: Vec<String>,
    tag_facts: TagFacts,
}

impl Default for Run<'_> {
    fn default() -> Self {
        Run {
            changes: diff(&[]),
            context: main_push(),
            selection: Vec::new(),
            lookup: None,
            branches: Vec::new(),
            tag_facts: TagFacts::default(),
        }
    }
}

fn make(root: &Path, run: Run<'_>) -> Result<Plan, Vec<Diagnostic>> {
    let project = project(root);
    // As the commands do: only the digests the plan needs.
    let wanted = needs_digests(&project, &run.changes, "sifbake.yaml", &run.selection)?;
    let mut digests = Digests::default();
    digests
        .ensure(&project.manifest, &project.graph, &wanted)
        .expect("digests");
    plan(&PlanRequest {
        project: &project,
        context: &run.context,
        changes: &run.changes,
        digests: &digests,
        selection: &run.selection,
        manifest_path: "sifbake.yaml",
        other_branches: &run.branches,
        lookup: run.lookup,
        tag_facts: &run.tag_facts,
    })
}

/// The digest tag of an image the plan builds or retags.
fn tag_of(image: &PlannedImage) -> String {
    image
        .digest_tag
        .clone()
        .expect("a candidate's digest is computed")
}

fn actions(plan: &Plan) -> Vec<(&str, Action)> {
    plan.targets
        .iter()
        .map(|t| (t.name.as_str(), t.action))
        .collect()
}

fn target<'a>(plan: &'a Plan, name: &str) -> &'a PlannedTarget {
    plan.targets
        .iter()
        .find(|t| t.name == name)
        .expect("planned target")
}

#[test]
fn only_the_digests_of_candidates_and_their_bases_are_computed() {
    let dir = repository();
    let plan = make(
        dir.path(),
        Run {
            changes: diff(&["app/run.sh"]),
            ..Run::default()
        },
    )
    .expect("plan");
    let digest_known = |name: &str| {
        target(&plan, name)
            .images
            .iter()
            .map(|i| i.digest.is_some() && i.digest_tag.is_some())
            .collect::<Vec<_>>()
    };
    // app changed; its digest covers base's, so base's is computed though base is skipped.
    assert_eq!(target(&plan, "app").action, Action::Build);
    assert_eq!(digest_known("app"), vec![true]);
    assert_eq!(target(&plan, "base").action, Action::Skip);
    assert_eq!(digest_known("base"), vec![true, true]);
    // tool is unrelated and unchanged: its inputs are not read.
    assert_eq!(digest_known("tool"), vec![false]);

    // The digests do not depend on which were computed: --all computes every one.
    let all = make(
        dir.path(),
        Run {
            changes: ChangeSet {
                base: ChangeBase::All,
                ..diff(&[])
            },
            ..Run::default()
        },
    )
    .expect("plan");
    assert_eq!(
        target(&all, "app").images[0].digest,
        target(&plan, "app").images[0].digest
    );
    assert!(target(&all, "tool").images[0].digest.is_some());
}

#[test]
fn a_changed_base_ripples_to_its_dependents() {
    let dir = repository();
    let plan = make(
        dir.path(),
        Run {
            changes: diff(&["base.def", "README.md"]),
            ..Run::default()
        },
    )
    .expect("plan");
    assert_eq!(
        actions(&plan),
        vec![
            ("base", Action::Build),
            ("tool", Action::Skip),
            ("app", Action::Build)
        ]
    );
    assert_eq!(
        target(&plan, "base").reason,
        Reason::Changed {
            files: vec!["base.def".into()]
        }
    );
    assert_eq!(
        target(&plan, "app").reason,
        Reason::Dependency {
            name: "base".into()
        }
    );
    assert_eq!(
        target(&plan, "app").reason.message(),
        "builds on `base`, which changed"
    );
    assert_eq!(target(&plan, "tool").reason, Reason::Unchanged);
    assert!(target(&plan, "tool").images[0].tags.is_empty());
    assert!(plan.has_changes);
    assert_eq!(plan.changes.mode, "diff");
}

#[test]
fn changes_in_files_sources_and_inputs_are_found_even_when_deleted() {
    let dir = repository();
    let cases: &[(&str, &str)] = &[
        ("a %files source", "app/run.sh"),
        (
            "a file under a %files directory, deleted",
            "app/data/old.csv",
        ),
        ("a %files glob match, deleted", "app/conf/old.ini"),
        ("an inputs match", "requirements/base.txt"),
        (
            "an inputs match, deleted or renamed away",
            "requirements/gone.txt",
        ),
        ("the definition file", "app/app.def"),
    ];
    for (name, file) in cases {
        let plan = make(
            dir.path(),
            Run {
                changes: diff(&[file]),
                ..Run::default()
            },
        )
        .expect("plan");
        assert_eq!(target(&plan, "app").action, Action::Build, "{name}");
        assert_eq!(
            target(&plan, "app").reason,
            Reason::Changed {
                files: vec![(*file).to_owned()]
            },
            "{name}"
        );
        assert_eq!(target(&plan, "base").action, Action::Skip, "{name}");
    }
    for unrelated in [
        "app/data.csv",
        "app/conf/sub/x.ini",
        "requirements/sub/x.txt",
        "docs/index.md",
    ] {
        let plan = make(
            dir.path(),
            Run {
                changes: diff(&[unrelated]),
                ..Run::default()
            },
        )
        .expect("plan");
        assert!(!plan.has_changes, "{unrelated}");
    }
}

#[test]
fn nothing_changed_means_nothing_to_do() {
    let dir = repository();
    let plan = make(dir.path(), Run::default()).expect("plan");
    assert!(!plan.has_changes);
    assert!(
        plan.targets
            .iter()
            .all(|t| t.action == Action::Skip && t.reason == Reason::Unchanged)
    );
}

#[test]
fn without_a_base_every_target_is_compared_by_digest() {
    let dir = repository();
    let offline = make(
        dir.path(),
        Run {
            changes: fallback("a new branch has no previous commit"),
            ..Run::default()
        },
    )
    .expect("plan");
    assert!(offline.targets.iter().all(|t| t.action == Action::Build));
    assert!(
        offline
            .targets
            .iter()
            .flat_map(|t| &t.images)
            .all(|i| i.lookup == Lookup::NotMade)
    );
    assert_eq!(
        target(&offline, "tool").reason.message(),
        "no base commit; inputs compared by digest"
    );
    assert_eq!(offline.changes.mode, "digest");

    // Online, with every image already in the library: a re-run builds nothing.
    let all_images: Vec<(String, String, String)> = offline
        .targets
        .iter()
        .flat_map(|t| {
            t.images
                .iter()
                .map(move |i| (t.name.clone(), i.arch.clone(), tag_of(i)))
        })
        .collect();
    let library = Library(all_images);
    let online = make(
        dir.path(),
        Run {
            changes: fallback("schedule"),
            lookup: Some(&library),
            ..Run::default()
        },
    )
    .expect("plan");
    assert!(
        online.targets.iter().all(|t| t.action == Action::Retag),
        "{:?}",
        actions(&online)
    );
    assert!(
        online
            .targets
            .iter()
            .flat_map(|t| &t.images)
            .all(|i| i.lookup == Lookup::Found)
    );
}

#[test]
fn a_new_release_tag_on_a_built_commit_only_retags() {
    let dir = repository();
    let first = make(
        dir.path(),
        Run {
            changes: fallback("x"),
            ..Run::default()
        },
    )
    .expect("plan");
    let built: Vec<(String, String, String)> = first
        .targets
        .iter()
        .flat_map(|t| {
            t.images
                .iter()
                .map(move |i| (t.name.clone(), i.arch.clone(), tag_of(i)))
        })
        .collect();
    let library = Library(built);
    let release = make(
        dir.path(),
        Run {
            changes: fallback("a tag push has no previous commit"),
            context: context(
                RefKind::Tag {
                    name: "v1.4.2".into(),
                },
                "push",
            ),
            lookup: Some(&library),
            ..Run::default()
        },
    )
    .expect("plan");
    let app = target(&release, "app");
    assert_eq!(app.action, Action::Retag);
    assert_eq!(
        app.images[0].tags,
        vec!["1.4.2".to_owned(), "1.4".to_owned(), tag_of(&app.images[0])]
    );
}

#[test]
fn one_arch_missing_builds_that_arch_only() {
    let dir = repository();
    let first = make(
        dir.path(),
        Run {
            changes: fallback("x"),
            ..Run::default()
        },
    )
    .expect("plan");
    let base = target(&first, "base");
    let amd64 = base
        .images
        .iter()
        .find(|i| i.arch == "amd64")
        .expect("amd64");
    let library = Library(vec![("base".into(), "amd64".into(), tag_of(amd64))]);
    let plan = make(
        dir.path(),
        Run {
            changes: fallback("x"),
            lookup: Some(&library),
            ..Run::default()
        },
    )
    .expect("plan");
    let base = target(&plan, "base");
    let by_arch: Vec<(&str, Action)> = base
        .images
        .iter()
        .map(|i| (i.arch.as_str(), i.action))
        .collect();
    assert_eq!(
        by_arch,
        vec![("amd64", Action::Retag), ("arm64", Action::Build)]
    );
    assert_eq!(base.action, Action::Build);
}

#[test]
fn all_rebuilds_even_what_exists() {
    let dir = repository();
    let first = make(
        dir.path(),
        Run {
            changes: fallback("x"),
            ..Run::default()
        },
    )
    .expect("plan");
    let built: Vec<(String, String, String)> = first
        .targets
        .iter()
        .flat_map(|t| {
            t.images
                .iter()
                .map(move |i| (t.name.clone(), i.arch.clone(), tag_of(i)))
        })
        .collect();
    let library = Library(built);
    let changes = ChangeSet {
        base: ChangeBase::All,
        files: BTreeSet::new(),
        notes: Vec::new(),
    };
    let plan = make(
        dir.path(),
        Run {
            changes,
            lookup: Some(&library),
            ..Run::default()
        },
    )
    .expect("plan");
    assert!(
        plan.targets
            .iter()
            .all(|t| t.action == Action::Build && t.reason == Reason::All)
    );
}

#[test]
fn a_changed_manifest_compares_every_target_by_digest() {
    let dir = repository();
    let plan = make(
        dir.path(),
        Run {
            changes: diff(&["sifbake.yaml"]),
            ..Run::default()
        },
    )
    .expect("plan");
    assert!(
        plan.targets
            .iter()
            .all(|t| t.reason == Reason::ManifestChanged && t.action == Action::Build)
    );
}

#[test]
fn targets_selects_with_dependencies_and_suggests_names() {
    let dir = repository();
    let plan = make(
        dir.path(),
        Run {
            changes: diff(&["base.def"]),
            selection: vec!["app".into()],
            ..Run::default()
        },
    )
    .expect("plan");
    let names: Vec<&str> = plan.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["base", "app"]);
    let errors = make(
        dir.path(),
        Run {
            selection: vec!["ap".into()],
            ..Run::default()
        },
    )
    .expect_err("unknown");
    assert_eq!(
        errors[0].message,
        "`--targets` names `ap`, which is not a target"
    );
    assert_eq!(errors[0].help.as_deref(), Some("did you mean `app`?"));
}

#[test]
fn tags_follow_the_context() {
    let dir = repository();
    let changes = || diff(&["tool.def"]);
    let on_main = make(
        dir.path(),
        Run {
            changes: changes(),
            ..Run::default()
        },
    )
    .expect("plan");
    let tool = &target(&on_main, "tool").images[0];
    assert_eq!(
        tool.tags,
        vec!["main".to_owned(), "latest".to_owned(), tag_of(tool)]
    );
    let tag = tag_of(tool);
    assert!(tag.starts_with("inputs-") && tag.len() == "inputs-".len() + 16);
    let digest = tool.digest.as_deref().expect("digest");
    assert_eq!(tag, format!("inputs-{}", &digest[..16]));

    let pr = context(
        RefKind::PullRequest {
            number: 9,
            head_branch: Some("Feature/X".into()),
            base_branch: Some("main".into()),
        },
        "pull_request",
    );
    let on_pr = make(
        dir.path(),
        Run {
            changes: changes(),
            context: pr,
            ..Run::default()
        },
    )
    .expect("plan");
    // A pull request builds ephemeral images by default: no tag is planned.
    assert_eq!(on_pr.publish, crate::manifest::Publish::Ephemeral);
    assert!(target(&on_pr, "tool").images[0].tags.is_empty());

    let branch = context(
        RefKind::Branch {
            name: "Feature/X".into(),
        },
        "push",
    );
    let collide = make(
        dir.path(),
        Run {
            changes: changes(),
            context: branch,
            branches: vec!["feature-x".into(), "main".into()],
            ..Run::default()
        },
    )
    .expect("plan");
    assert_eq!(target(&collide, "tool").images[0].tags[0], "feature-x");
    assert!(
        collide.notes.iter().any(|n| n.contains("`feature-x`")),
        "{:?}",
        collide.notes
    );
}

#[test]
fn the_plan_lists_targets_in_build_order() {
    let dir = repository();
    let plan = make(
        dir.path(),
        Run {
            changes: fallback("x"),
            ..Run::default()
        },
    )
    .expect("plan");
    let order: Vec<(&str, usize)> = plan
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.level))
        .collect();
    assert_eq!(order, vec![("base", 0), ("tool", 0), ("app", 1)]);
    assert_eq!(target(&plan, "app").depends_on, vec!["base".to_owned()]);
}
