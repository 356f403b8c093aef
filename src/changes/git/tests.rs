use std::fs;
use std::process::Command;

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
    // As in a container job: git refuses to run unless `safe.directory` names the work
    // tree's top level; naming the subdirectory sifbake runs in is not enough.
    let foreign = [("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")];
    let refused = git_command(&root, &["rev-parse", "HEAD"])
        .envs(foreign)
        .output()
        .expect("git runs");
    assert!(!refused.status.success(), "the fixture must look foreign");

    let local = local_git_with(&program_with(&foreign), &root);

    assert_eq!(local.sha.as_deref(), Some(head.as_str()));
    assert_eq!(local.branch.as_deref(), Some("main"));
}
