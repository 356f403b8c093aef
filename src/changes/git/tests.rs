use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::process::{Command, Stdio};

use tempfile::TempDir;

use super::repo::REPOSITORY_VARIABLES;
use super::*;

/// Keeps every git process in these tests, sifbake's and the fixtures', away from the host's
/// configuration, and gives commits an author.
const ISOLATION: &[(&str, &str)] = &[
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "sifbake-test"),
    ("GIT_AUTHOR_EMAIL", "test@sifbake.invalid"),
    ("GIT_COMMITTER_NAME", "sifbake-test"),
    ("GIT_COMMITTER_EMAIL", "test@sifbake.invalid"),
];

const ZERO: &str = "0000000000000000000000000000000000000000";

fn program_with(extra: &[(&str, &str)]) -> GitProgram {
    GitProgram {
        program: "git".into(),
        env: ISOLATION
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    }
}

fn program() -> GitProgram {
    program_with(&[])
}

/// Returns a git that sees every repository as another user's, as in a container job
/// whose checkout the runner made: git then refuses to work in `dir` unless
/// `safe.directory` names the work tree's top level (checked here, so the test proves it).
fn foreign_owner(dir: &Path) -> GitProgram {
    let foreign = [("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")];
    let refused = git_command(dir, &["rev-parse", "HEAD"])
        .envs(foreign)
        .output()
        .expect("git runs");
    assert!(!refused.status.success(), "the fixture must look foreign");
    program_with(&foreign)
}

/// Runs a fixture's git command in `dir` and returns its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = git_command(dir, args).output().expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command.arg("-C").arg(dir).args(args).env("LC_ALL", "C");
    for name in REPOSITORY_VARIABLES {
        command.env_remove(name);
    }
    command.envs(ISOLATION.iter().copied());
    command
}

/// A throwaway repository.
struct TestRepo {
    dir: TempDir,
}

impl TestRepo {
    fn init() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        TestRepo { dir }
    }

    /// Clones `remote` through a `file://` URL, so `--depth` works as over the network.
    fn clone(remote: &TestRepo, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut all = vec!["clone", "-q"];
        all.extend_from_slice(args);
        let url = remote.url();
        all.extend([url.as_str(), "."]);
        git(dir.path(), &all);
        TestRepo { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }

    fn write(&self, path: &str, text: &str) -> &Self {
        let full = self.path().join(path);
        fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        fs::write(full, text).expect("write");
        self
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Commits `count` changes to `path`, one commit each, in one `git fast-import`.
    fn commit_many(&self, branch: &str, path: &str, count: usize) {
        let mut stream = String::new();
        for n in 0..count {
            let content = format!("{n}\n");
            let message = format!("{path} {n}\n");
            write!(
                stream,
                "commit refs/heads/{branch}\ncommitter t <t@t> {} +0000\ndata {}\n{message}",
                1_700_000_000 + n,
                message.len(),
            )
            .expect("write");
            if n == 0 {
                writeln!(stream, "from refs/heads/{branch}^0").expect("write");
            }
            write!(
                stream,
                "M 100644 inline {path}\ndata {}\n{content}\n",
                content.len()
            )
            .expect("write");
        }
        let mut child = git_command(self.path(), &["fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("git runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stream.as_bytes())
            .expect("feed fast-import");
        assert!(child.wait().expect("wait").success(), "fast-import failed");
    }

    fn is_shallow(&self) -> bool {
        self.git(&["rev-parse", "--is-shallow-repository"]) == "true"
    }
}

fn context(provider: Provider, event: &str, kind: RefKind) -> RefContext {
    RefContext {
        provider,
        event: event.to_owned(),
        kind,
        sha: "1111111111111111111111111111111111111111".to_owned(),
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

fn pull_request() -> RefKind {
    RefKind::PullRequest {
        number: 7,
        head_branch: Some("feature".to_owned()),
        base_branch: Some("main".to_owned()),
    }
}

fn push(before: Option<&str>) -> RefContext {
    RefContext {
        before: before.map(str::to_owned),
        ..context(Provider::GitHub, "push", branch("main"))
    }
}

fn local() -> RefContext {
    context(Provider::Local, "local", branch("main"))
}

fn github_pull_request(base_sha: &str) -> RefContext {
    RefContext {
        base_sha: Some(base_sha.to_owned()),
        ..context(Provider::GitHub, "pull_request", pull_request())
    }
}

fn request<'a>(root: &'a Path, context: &'a RefContext) -> ChangeRequest<'a> {
    ChangeRequest {
        root,
        context,
        since: None,
        all: false,
        remote: "origin",
    }
}

fn detect(root: &Path, context: &RefContext) -> Result<ChangeSet, GitError> {
    detect_changes_with(&program(), &request(root, context))
}

fn since(root: &Path, revision: &str) -> Result<ChangeSet, GitError> {
    let context = local();
    let request = ChangeRequest {
        since: Some(revision),
        ..request(root, &context)
    };
    detect_changes_with(&program(), &request)
}

fn files(paths: &[&str]) -> BTreeSet<String> {
    paths.iter().map(|p| (*p).to_owned()).collect()
}

fn diff(base: &str, head: &str, how: &str) -> ChangeBase {
    ChangeBase::Diff {
        base: base.to_owned(),
        head: head.to_owned(),
        how: how.to_owned(),
    }
}

fn fallback(reason: &str) -> ChangeBase {
    ChangeBase::Fallback {
        reason: reason.to_owned(),
    }
}

fn assert_notes(notes: &[String], expected: &[&str]) {
    assert_eq!(
        notes.len(),
        expected.len(),
        "notes {notes:#?}, expected {expected:#?}"
    );
    for (note, part) in notes.iter().zip(expected) {
        assert!(note.contains(part), "note {note:?} lacks {part:?}");
    }
}

#[test]
fn the_base_follows_the_event() {
    const BEFORE: &str = "3333333333333333333333333333333333333333";
    const BASE: &str = "4444444444444444444444444444444444444444";
    const MERGE_BASE: &str = "5555555555555555555555555555555555555555";
    let gitlab_mr = RefContext {
        base_sha: None,
        merge_base: Some(MERGE_BASE.to_owned()),
        ..context(Provider::GitLab, "merge_request_event", pull_request())
    };
    let commit = |sha: &str, how: &str, missing: &str| {
        Want::Git(Lookup::Commit {
            sha: sha.to_owned(),
            how: how.to_owned(),
            missing: missing.to_owned(),
        })
    };
    let merge_base = |base_sha: &str| {
        Want::Git(Lookup::MergeBase {
            base_sha: base_sha.to_owned(),
            how: "the merge base with `main`".to_owned(),
        })
    };
    let fallback = |reason: &str| Want::Fallback(reason.to_owned());
    let cases: Vec<(&str, RefContext, Option<&str>, bool, Want)> = vec![
        (
            "--all wins",
            push(Some(BEFORE)),
            Some("v1"),
            true,
            Want::All,
        ),
        (
            "--since wins over the event",
            push(Some(BEFORE)),
            Some("v1.2.0"),
            false,
            Want::Git(Lookup::Since("v1.2.0".to_owned())),
        ),
        (
            "an empty --since is not given",
            push(Some(BEFORE)),
            Some(" "),
            false,
            commit(
                BEFORE,
                "the push's previous commit",
                "the previous commit 3333333 is not in the repository (force push?)",
            ),
        ),
        (
            "a pull request's base commit",
            github_pull_request(BASE),
            None,
            false,
            merge_base(BASE),
        ),
        (
            "a pull request's before is not its base",
            RefContext {
                before: Some(BEFORE.to_owned()),
                ..github_pull_request(BASE)
            },
            None,
            false,
            merge_base(BASE),
        ),
        (
            "GitLab's merge base is used as given",
            RefContext {
                base_sha: Some(BASE.to_owned()),
                ..gitlab_mr.clone()
            },
            None,
            false,
            commit(
                MERGE_BASE,
                "the merge base with `main`",
                "the merge base 5555555 is not in the repository",
            ),
        ),
        (
            "a merge request without its target commit",
            RefContext {
                merge_base: None,
                ..gitlab_mr
            },
            None,
            false,
            fallback("the merge request's target commit is not known"),
        ),
        (
            "a pull request without its base commit",
            context(Provider::GitHub, "pull_request", pull_request()),
            None,
            false,
            fallback("the pull request's base commit is not known"),
        ),
        (
            "a new branch",
            push(None),
            None,
            false,
            fallback("a new branch has no previous commit to compare with"),
        ),
        (
            "an all-zero before is a new branch",
            push(Some(ZERO)),
            None,
            false,
            fallback("a new branch has no previous commit to compare with"),
        ),
        (
            "a tag push",
            context(
                Provider::GitLab,
                "push",
                RefKind::Tag {
                    name: "v1".to_owned(),
                },
            ),
            None,
            false,
            fallback("a tag push has no previous commit to compare with"),
        ),
        (
            "a scheduled run",
            context(Provider::GitHub, "schedule", branch("main")),
            None,
            false,
            fallback("a scheduled run has no previous commit to compare with"),
        ),
        (
            "a manual run",
            context(Provider::GitHub, "workflow_dispatch", branch("main")),
            None,
            false,
            fallback("a manually started run has no previous commit to compare with"),
        ),
        (
            "another event",
            context(Provider::GitLab, "trigger", branch("main")),
            None,
            false,
            fallback("a `trigger` run has no previous commit to compare with"),
        ),
        (
            "a detached checkout",
            context(Provider::GitLab, "push", RefKind::Detached),
            None,
            false,
            fallback("a detached checkout has no previous commit to compare with"),
        ),
        (
            "a local run",
            local(),
            None,
            false,
            fallback(
                "a local run has no previous commit to compare with; pass `--since REV` \
                 (for example `--since origin/main`) to compare with one",
            ),
        ),
    ];
    for (name, context, since, all, want) in cases {
        let request = ChangeRequest {
            since,
            all,
            ..request(Path::new("."), &context)
        };
        assert_eq!(wanted(&request), want, "{name}");
    }
}

#[test]
fn a_push_lists_every_kind_of_change() {
    type Edit = fn(&TestRepo);
    let cases: [(&str, Edit, &[&str]); 5] = [
        (
            "a deleted def file",
            |repo| fs::remove_file(repo.path().join("defs/old.def")).expect("rm"),
            &["defs/old.def"],
        ),
        (
            "a renamed input",
            |repo| {
                repo.git(&["mv", "requirements/a.txt", "requirements/b.txt"]);
            },
            &["requirements/a.txt", "requirements/b.txt"],
        ),
        (
            "a file only a %files line copies",
            |repo| {
                repo.write("scripts/setup.sh", "echo changed\n");
            },
            &["scripts/setup.sh"],
        ),
        (
            "names git would quote",
            |repo| {
                repo.write("defs/ünï code.def", "Bootstrap: docker\n")
                    .write("defs/tab\there.def", "Bootstrap: docker\n");
            },
            &["defs/tab\there.def", "defs/ünï code.def"],
        ),
        ("nothing", |_| {}, &[]),
    ];
    for (name, edit, expected) in cases {
        let repo = TestRepo::init();
        repo.write(
            "defs/base.def",
            "Bootstrap: docker\nFrom: alpine\n%files\n    scripts/setup.sh /opt/setup.sh\n",
        )
        .write("defs/old.def", "Bootstrap: docker\n")
        .write("requirements/a.txt", "numpy\n")
        .write("scripts/setup.sh", "echo setup\n");
        let before = repo.commit("base");
        edit(&repo);
        let head = repo.commit(name);
        let changes = detect(repo.path(), &push(Some(&before))).expect(name);
        assert_eq!(
            changes.base,
            diff(&before, &head, "the push's previous commit"),
            "{name}"
        );
        assert_eq!(changes.files, files(expected), "{name}");
        assert_notes(&changes.notes, &[]);
    }
}

#[test]
fn a_shallow_clone_fetches_the_previous_commit() {
    let remote = TestRepo::init();
    remote.write("defs/a.def", "0\n").commit("first");
    remote.write("defs/old.def", "old\n").commit("old");
    let before = remote.commit("before");
    for n in 1..=5 {
        remote
            .write(&format!("inputs/{n}.txt"), "x\n")
            .commit("more");
    }
    fs::remove_file(remote.path().join("defs/old.def")).expect("rm");
    let head = remote.commit("delete");
    let clone = TestRepo::clone(&remote, &["--depth", "1"]);
    assert!(clone.is_shallow(), "the fixture must be shallow");

    let changes = detect(clone.path(), &push(Some(&before))).expect("changes");

    assert_eq!(
        changes.base,
        diff(&before, &head, "the push's previous commit")
    );
    assert_eq!(
        changes.files,
        files(&[
            "defs/old.def",
            "inputs/1.txt",
            "inputs/2.txt",
            "inputs/3.txt",
            "inputs/4.txt",
            "inputs/5.txt",
        ])
    );
    let fetched = format!(
        "the clone is shallow: fetched {} (the push's previous commit) from `origin` with up \
         to 50 commits of its history",
        short(&before)
    );
    assert_eq!(changes.notes, [fetched]);
}

/// A remote with `main` and a pull request from `feature`, forked 5 commits before the
/// feature's head; `main` moved on after the fork. `refs/pull/7/merge` is the merge commit
/// GitHub would check out, with `main` as its first parent.
struct PullRequestRemote {
    remote: TestRepo,
    fork: String,
    main: String,
    feature: String,
    merge: String,
}

impl PullRequestRemote {
    fn new() -> Self {
        let remote = TestRepo::init();
        remote
            .write("defs/base.def", "0\n")
            .write("defs/app.def", "0\n");
        remote.commit("first");
        let fork = remote.commit("fork");
        remote.git(&["checkout", "-q", "-b", "feature"]);
        remote.write("defs/app.def", "1\n").commit("app");
        for n in 1..=4 {
            remote
                .write(&format!("apps/{n}.txt"), "x\n")
                .commit("feature");
        }
        let feature = remote.git(&["rev-parse", "HEAD"]);
        remote.git(&["checkout", "-q", "main"]);
        remote.write("defs/base.def", "1\n").commit("main 1");
        let main = remote.write("main.txt", "2\n").commit("main 2");
        remote.git(&["merge", "-q", "--no-ff", "-m", "merge", "feature"]);
        let merge = remote.git(&["rev-parse", "HEAD"]);
        remote.git(&["update-ref", "refs/pull/7/merge", &merge]);
        remote.git(&["reset", "-q", "--hard", &main]);
        PullRequestRemote {
            remote,
            fork,
            main,
            feature,
            merge,
        }
    }

    /// Checks `sha` out the way actions/checkout does: one fetch of one commit, detached.
    fn checkout(&self, sha: &str, depth: Option<&str>) -> TestRepo {
        let clone = TestRepo::init();
        clone.git(&["remote", "add", "origin", &self.remote.url()]);
        let mut fetch = vec!["fetch", "-q", "--no-tags"];
        fetch.extend(depth);
        fetch.extend(["origin", sha]);
        clone.git(&fetch);
        clone.git(&["checkout", "-q", "--detach", sha]);
        clone
    }
}

#[test]
fn a_pull_request_compares_with_the_merge_base() {
    let pr = PullRequestRemote::new();
    let feature_files = files(&[
        "apps/1.txt",
        "apps/2.txt",
        "apps/3.txt",
        "apps/4.txt",
        "defs/app.def",
    ]);
    let fetched_base = format!(
        "fetched {} (the pull request's base commit) from `origin` with up to 50 commits",
        short(&pr.main)
    );
    let fetched_missing_base = format!(
        "fetched {} (the pull request's base commit) from `origin`: it was not in the \
         repository",
        short(&pr.main)
    );
    let deepened = "fetched up to 50 more commits of `HEAD`'s history from `origin` to reach \
                    the merge base with `main`";
    struct Case<'a> {
        name: &'a str,
        /// The commit checked out.
        head: &'a str,
        depth: Option<&'a str>,
        merge_base: &'a str,
        notes: &'a [&'a str],
    }
    let cases = [
        Case {
            name: "GitHub's merge commit",
            head: &pr.merge,
            depth: None,
            merge_base: &pr.main,
            notes: &[],
        },
        Case {
            name: "GitHub's merge commit, shallow",
            head: &pr.merge,
            depth: Some("--depth=1"),
            merge_base: &pr.main,
            notes: &[&fetched_base, deepened],
        },
        // actions/checkout fetched only the head: the base is fetched by sha.
        Case {
            name: "the request's head",
            head: &pr.feature,
            depth: None,
            merge_base: &pr.fork,
            notes: &[&fetched_missing_base],
        },
        Case {
            name: "the request's head, shallow",
            head: &pr.feature,
            depth: Some("--depth=1"),
            merge_base: &pr.fork,
            notes: &[&fetched_base, deepened],
        },
    ];
    for Case {
        name,
        head,
        depth,
        merge_base,
        notes,
    } in cases
    {
        let clone = pr.checkout(head, depth);
        assert_eq!(clone.is_shallow(), depth.is_some(), "{name}: the fixture");

        let changes = detect(clone.path(), &github_pull_request(&pr.main)).expect(name);

        assert_eq!(
            changes.base,
            diff(merge_base, head, "the merge base with `main`"),
            "{name}"
        );
        assert_eq!(changes.files, feature_files, "{name}");
        assert_notes(&changes.notes, notes);
    }
}

#[test]
fn gitlab_s_merge_base_is_used_as_given() {
    let pr = PullRequestRemote::new();
    let context = RefContext {
        merge_base: Some(pr.fork.clone()),
        ..context(Provider::GitLab, "merge_request_event", pull_request())
    };
    let clone = pr.checkout(&pr.feature, Some("--depth=1"));

    let changes = detect(clone.path(), &context).expect("changes");

    assert_eq!(
        changes.base,
        diff(&pr.fork, &pr.feature, "the merge base with `main`")
    );
    assert!(changes.files.contains("defs/app.def"), "{changes:?}");
    assert!(!changes.files.contains("defs/base.def"), "{changes:?}");
    let fetched = format!(
        "the clone is shallow: fetched {} (the merge base with `main`) from `origin` with up \
         to 50 commits of its history",
        short(&pr.fork)
    );
    assert_eq!(changes.notes, [fetched]);
}

#[test]
fn a_long_history_is_fetched_whole() {
    let remote = TestRepo::init();
    remote.write("base.txt", "0\n");
    let fork = remote.commit("fork");
    remote.git(&["branch", "feature"]);
    remote.commit_many("feature", "feature.txt", 600);
    let main = remote.write("main.txt", "1\n").commit("main");
    let feature = remote.git(&["rev-parse", "feature"]);
    let clone = TestRepo::clone(&remote, &["--depth", "1", "--branch", "feature"]);

    let changes = detect(clone.path(), &github_pull_request(&main)).expect("changes");

    assert_eq!(
        changes.base,
        diff(&fork, &feature, "the merge base with `main`")
    );
    assert_eq!(changes.files, files(&["feature.txt"]));
    assert_notes(
        &changes.notes,
        &[
            "fetched ",
            "up to 50 more commits",
            "up to 500 more commits",
            "the clone is shallow: fetched the whole history from `origin` to reach the \
             merge base with `main`",
        ],
    );

    let clone = TestRepo::clone(&remote, &["--depth", "1", "--branch", "feature"]);
    let changes = since(clone.path(), "HEAD~560").expect("changes");
    assert_eq!(
        changes.base,
        diff(
            &clone.git(&["rev-parse", "HEAD~560"]),
            &feature,
            "`--since HEAD~560`"
        )
    );
    assert_notes(
        &changes.notes,
        &["up to 50 more", "up to 500 more", "the whole history"],
    );
}

#[test]
fn a_force_push_falls_back() {
    let remote = TestRepo::init();
    remote.write("a.def", "0\n").commit("first");
    remote.write("b.def", "0\n").commit("second");
    let gone = remote
        .write("a.def", "gone\n")
        .commit("pushed, then forced away");
    remote.git(&["reset", "-q", "--hard", "HEAD~1"]);
    remote.write("a.def", "1\n").commit("forced");
    remote.git(&["reflog", "expire", "--expire=now", "--all"]);
    remote.git(&["gc", "-q", "--prune=now"]);
    let reason = format!(
        "the previous commit {} is not in the repository (force push?)",
        short(&gone)
    );
    let refused = format!(
        "could not fetch {} (the push's previous commit)",
        short(&gone)
    );
    for (name, args) in [
        ("full clone", &[][..]),
        ("shallow clone", &["--depth", "1"]),
    ] {
        let clone = TestRepo::clone(&remote, args);

        let changes = detect(clone.path(), &push(Some(&gone))).expect(name);

        assert_eq!(changes.base, fallback(&reason), "{name}");
        assert!(changes.files.is_empty(), "{name}");
        assert!(
            changes.notes.iter().any(|note| note.starts_with(&refused)),
            "{name}: {:#?}",
            changes.notes
        );
    }
}

#[test]
fn since_compares_with_any_revision() {
    let repo = TestRepo::init();
    let first = repo.write("a.def", "0\n").commit("first");
    repo.git(&["tag", "-a", "-m", "release", "v1.2.0"]);
    let second = repo.write("b.def", "0\n").commit("second");
    let head = repo.write("c.def", "0\n").commit("third");
    let cases = [
        ("v1.2.0", &first, &["b.def", "c.def"][..]),
        ("HEAD~1", &second, &["c.def"]),
        (&first[..12], &first, &["b.def", "c.def"]),
        ("HEAD", &head, &[]),
    ];
    for (revision, base, expected) in cases {
        let changes = since(repo.path(), revision).expect(revision);
        assert_eq!(
            changes.base,
            diff(base, &head, &format!("`--since {revision}`")),
            "{revision}"
        );
        assert_eq!(changes.files, files(expected), "{revision}");
    }
}

#[test]
fn since_a_missing_revision_is_an_error() {
    let remote = TestRepo::init();
    remote.write("a.def", "0\n").commit("first");
    remote.write("a.def", "1\n").commit("second");
    let shallow = TestRepo::clone(&remote, &["--depth", "1"]);
    let cases = [
        (&remote, "no-such-tag", false),
        (&remote, "--output=x", false),
        (&remote, "HEAD~2", false),
        (&shallow, "no-such-tag", true),
    ];
    for (repo, revision, was_shallow) in cases {
        let error = since(repo.path(), revision).expect_err(revision);
        assert!(
            matches!(&error, GitError::RevisionNotFound { revision: r, shallow }
                if r == revision && *shallow == was_shallow),
            "{revision}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("`--since {revision}` names no commit")),
            "{message}"
        );
        assert_eq!(message.contains("shallow"), was_shallow, "{message}");
        assert!(error.help().contains("fetch-depth: 0"), "{}", error.help());
    }
}

#[test]
fn all_asks_no_git() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = GitProgram {
        program: "/nonexistent/sifbake-test/git".into(),
        env: Vec::new(),
    };
    let context = push(Some(ZERO));
    let request = ChangeRequest {
        all: true,
        since: Some("v1"),
        ..request(dir.path(), &context)
    };

    let changes = detect_changes_with(&missing, &request).expect("changes");

    assert_eq!(changes.base, ChangeBase::All);
    assert!(changes.files.is_empty() && changes.notes.is_empty());
}

#[test]
fn without_a_previous_commit_the_planner_falls_back() {
    let repo = TestRepo::init();
    let first = repo.write("a.def", "0\n").commit("the first commit");
    let cases = [
        (
            local(),
            "a local run has no previous commit to compare with; pass `--since REV`",
        ),
        (push(None), "a new branch has no previous commit"),
        (push(Some(ZERO)), "a new branch has no previous commit"),
        (
            RefContext {
                sha: first,
                ..context(Provider::GitHub, "schedule", branch("main"))
            },
            "a scheduled run has no previous commit",
        ),
    ];
    for (context, reason) in cases {
        let changes = detect(repo.path(), &context).expect(reason);
        assert!(
            matches!(&changes.base, ChangeBase::Fallback { reason: r } if r.starts_with(reason)),
            "{changes:?}"
        );
        assert!(changes.files.is_empty() && changes.notes.is_empty());
    }
    // The first commit has no parent to name either.
    assert!(matches!(
        since(repo.path(), "HEAD~1"),
        Err(GitError::RevisionNotFound { .. })
    ));
}

#[test]
fn a_subdirectory_root_sees_only_its_files() {
    let repo = TestRepo::init();
    repo.write("images/defs/a.def", "0\n")
        .write("images/req.txt", "0\n")
        .write("docs/guide.md", "0\n")
        .write("top.txt", "0\n");
    let before = repo.commit("first");
    repo.write("images/defs/a.def", "1\n")
        .write("images/req.txt", "1\n")
        .write("docs/guide.md", "1\n")
        .write("top.txt", "1\n");
    let head = repo.commit("second");
    let root = repo.path().join("images");
    for program in [program(), foreign_owner(&root)] {
        let changes =
            detect_changes_with(&program, &request(&root, &push(Some(&before)))).expect("changes");

        assert_eq!(
            changes.base,
            diff(&before, &head, "the push's previous commit")
        );
        assert_eq!(changes.files, files(&["defs/a.def", "req.txt"]));
    }
}

#[test]
fn uncommitted_changes_are_noted_on_a_developers_machine_only() {
    let repo = TestRepo::init();
    let before = repo.write("a.def", "0\n").commit("first");
    repo.write("b.def", "0\n").commit("second");
    repo.write("a.def", "dirty\n")
        .write("new.def", "untracked\n");

    let changes = since(repo.path(), &before).expect("changes");
    assert_eq!(changes.files, files(&["b.def"]));
    assert_notes(&changes.notes, &["(`git status` lists 2)"]);

    // CI checks out the commit: no `git status` over the whole work tree.
    let changes = detect(repo.path(), &push(Some(&before))).expect("changes");
    assert_eq!(changes.files, files(&["b.def"]));
    assert!(changes.notes.is_empty(), "{:?}", changes.notes);
}

#[test]
fn git_problems_are_errors_with_help() {
    let not_a_repository = tempfile::tempdir().expect("tempdir");
    let empty = TestRepo::init();
    let with_commit = TestRepo::init();
    with_commit.write("a.def", "0\n").commit("first");
    let missing = GitProgram {
        program: "/nonexistent/sifbake-test/git".into(),
        env: Vec::new(),
    };
    let context = push(Some("3333333333333333333333333333333333333333"));
    // (case, git, root, the error's variant)
    let cases = [
        (
            "not a repository",
            &program(),
            not_a_repository.path(),
            "NotARepository",
        ),
        ("no commit yet", &program(), empty.path(), "NoCommit"),
        ("git missing", &missing, with_commit.path(), "NotInstalled"),
    ];
    for (name, program, root, variant) in cases {
        let error = detect_changes_with(program, &request(root, &context)).expect_err(name);
        assert!(
            format!("{error:?}").starts_with(variant),
            "{name}: {error:?}"
        );
        assert!(error.help().contains("--all"), "{name}: {}", error.help());
    }
}

#[test]
fn local_git_reads_the_checkout() {
    let remote = TestRepo::init();
    let first = remote.write("a.def", "0\n").commit("first");
    let head = remote.write("a.def", "1\n").commit("second");
    let on_branch = TestRepo::init();
    on_branch.write("a.def", "0\n").commit("first");
    on_branch.git(&["checkout", "-q", "-b", "feature/x"]);
    let on_branch_head = on_branch.git(&["rev-parse", "HEAD"]);
    let detached = TestRepo::clone(&remote, &[]);
    detached.git(&["checkout", "-q", "--detach", &first]);
    let cloned = TestRepo::clone(&remote, &[]);
    let empty = TestRepo::init();
    let not_a_repository = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "on a branch",
            on_branch.path(),
            Some("feature/x"),
            Some(on_branch_head.as_str()),
            None,
        ),
        (
            "detached, with origin/HEAD",
            detached.path(),
            None,
            Some(first.as_str()),
            Some("main"),
        ),
        (
            "a clone",
            cloned.path(),
            Some("main"),
            Some(head.as_str()),
            Some("main"),
        ),
        ("no commit yet", empty.path(), Some("main"), None, None),
        (
            "not a repository",
            not_a_repository.path(),
            None,
            None,
            None,
        ),
    ];
    for (name, root, branch, sha, default_branch) in cases {
        let expected = LocalGit {
            branch: branch.map(str::to_owned),
            sha: sha.map(str::to_owned),
            default_branch: default_branch.map(str::to_owned),
            head_tags: Vec::new(),
        };
        assert_eq!(local_git_with(&program(), root), expected, "{name}");
    }
}

#[test]
fn branch_names_strip_the_remote() {
    let remote = TestRepo::init();
    remote.write("a.def", "0\n").commit("first");
    remote.git(&["branch", "feature/x"]);
    let mirror = TestRepo::init();
    mirror.write("a.def", "0\n").commit("first");
    mirror.git(&["branch", "release/1"]);
    let clone = TestRepo::clone(&remote, &[]);
    clone.git(&["branch", "topic"]);
    clone.git(&["remote", "add", "up/stream", &mirror.url()]);
    clone.git(&["fetch", "-q", "up/stream"]);
    let not_a_repository = tempfile::tempdir().expect("tempdir");

    assert_eq!(
        branch_names_with(&program(), clone.path()),
        ["feature/x", "main", "release/1", "topic"]
    );
    assert!(branch_names_with(&program(), not_a_repository.path()).is_empty());
}

#[test]
fn a_checkout_owned_by_another_user_is_read() {
    let repo = TestRepo::init();
    repo.write("images/a.def", "0\n");
    let head = repo.commit("first");
    let root = repo.path().join("images");
    let local = local_git_with(&foreign_owner(&root), &root);

    assert_eq!(local.sha.as_deref(), Some(head.as_str()));
    assert_eq!(local.branch.as_deref(), Some("main"));
}
