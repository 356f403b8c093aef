//! Runs the `git` binary in one repository and reads its answers by exit code and
//! machine-readable output, never by its English messages (CRATES.md §5).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::error::GitError;

/// Variables that point git at another repository than the one found from the directory it
/// runs in: the list `git rev-parse --local-env-vars` prints (git 2.47), which git itself
/// clears before running commands in another repository (a submodule). A git hook sets
/// `GIT_DIR`, so `sifbake plan` run from a pre-push hook would otherwise read the wrong one.
pub(super) const REPOSITORY_VARIABLES: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
];

/// How git is started: `git` from PATH with the caller's environment, plus `env`. Tests put
/// their isolation from the host's git configuration in `env`; production adds nothing.
#[derive(Clone, Debug)]
pub(super) struct GitProgram {
    pub(super) program: OsString,
    pub(super) env: Vec<(OsString, OsString)>,
}

impl Default for GitProgram {
    fn default() -> Self {
        GitProgram {
            program: OsString::from("git"),
            env: Vec::new(),
        }
    }
}

/// A git work tree, seen from a directory inside it.
pub(super) struct Repo<'a> {
    program: &'a GitProgram,
    /// The directory git runs in (the manifest's root, canonical).
    dir: PathBuf,
    /// The work tree's top level, which `safe.directory` must name.
    top: PathBuf,
}

/// What a fetch did, for the notes.
pub(super) enum Fetched {
    Ok,
    /// Git refused or failed; the text says why, in git's words.
    Failed(String),
}

impl<'a> Repo<'a> {
    /// Finds the work tree that holds `root`.
    pub(super) fn open(program: &'a GitProgram, root: &Path) -> Result<Self, GitError> {
        let not_a_repository = || GitError::NotARepository {
            root: root.to_owned(),
        };
        let dir = fs::canonicalize(root).map_err(|_| not_a_repository())?;
        // The top level is found here rather than by `git rev-parse --show-toplevel`: in a
        // container job the checkout belongs to another user, and git refuses to run at all
        // ("dubious ownership") unless `safe.directory` names the top level itself; naming
        // a subdirectory does not help (checked with GIT_TEST_ASSUME_DIFFERENT_OWNER=1,
        // git 2.47). `.git` is a directory, or a file in linked work trees and submodules.
        let top = dir
            .ancestors()
            .find(|dir| dir.join(".git").exists())
            .ok_or_else(not_a_repository)?
            .to_owned();
        Ok(Repo { program, dir, top })
    }

    /// Runs git and returns its output, whatever its exit status.
    fn run(&self, args: &[&str]) -> Result<Output, GitError> {
        let mut safe_directory = OsString::from("safe.directory=");
        safe_directory.push(&self.top);
        let mut command = Command::new(&self.program.program);
        command
            .arg("-C")
            .arg(&self.dir)
            // Command-line configuration is "protected", so git honours safe.directory
            // from it (git commit 779ea93); never `*`, which would trust any repository.
            .arg("-c")
            .arg(safe_directory)
            .args(["-c", "core.quotepath=off"])
            .args(args)
            // Git's messages reach users in errors and notes; C keeps them in one language
            // that matches what people search for.
            .env("LC_ALL", "C")
            // A fetch must fail, not wait for a password nobody will type.
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null());
        for name in REPOSITORY_VARIABLES {
            command.env_remove(name);
        }
        command.envs(self.program.env.iter().map(|(k, v)| (k, v)));
        command.output().map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => GitError::NotInstalled,
            _ => GitError::CannotRun { source },
        })
    }

    /// Runs git; a non-zero exit status is an error.
    fn run_ok(&self, args: &[&str]) -> Result<Output, GitError> {
        let output = self.run(args)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(failed(args, &output))
        }
    }

    /// Runs git for a single line of output, where exit status 1 means "none".
    fn run_optional(&self, args: &[&str]) -> Result<Option<String>, GitError> {
        let output = self.run(args)?;
        match output.status.code() {
            Some(0) => Ok(Some(first_line(&output.stdout))),
            Some(1) => Ok(None),
            _ => Err(failed(args, &output)),
        }
    }

    /// Returns the full sha of the commit `revision` names, if it is in the repository.
    pub(super) fn commit(&self, revision: &str) -> Result<Option<String>, GitError> {
        let peeled = format!("{revision}^{{commit}}");
        self.run_optional(&["rev-parse", "--verify", "-q", "--end-of-options", &peeled])
    }

    /// Returns `HEAD`'s full sha.
    pub(super) fn head(&self) -> Result<String, GitError> {
        self.commit("HEAD")?.ok_or_else(|| GitError::NoCommit {
            root: self.dir.clone(),
        })
    }

    /// Returns true if and only if the clone is shallow (some commits lack their parents).
    pub(super) fn is_shallow(&self) -> Result<bool, GitError> {
        let output = self.run_ok(&["rev-parse", "--is-shallow-repository"])?;
        Ok(first_line(&output.stdout) == "true")
    }

    /// Returns the best common ancestor of two commits, if their known history has one.
    pub(super) fn merge_base(&self, one: &str, other: &str) -> Result<Option<String>, GitError> {
        self.run_optional(&["merge-base", "--end-of-options", one, other])
    }

    /// Returns the ref a symbolic ref points at (`refs/heads/main`), or `None`.
    pub(super) fn symbolic_ref(&self, name: &str) -> Option<String> {
        self.run_optional(&["symbolic-ref", "-q", "--end-of-options", name])
            .ok()
            .flatten()
    }

    /// Fetches from `remote`; `args` go between the options and the remote.
    pub(super) fn fetch(
        &self,
        remote: &str,
        args: &[&str],
        refspecs: &[&str],
    ) -> Result<Fetched, GitError> {
        // No tags (they drag in history), no FETCH_HEAD (a local run keeps the user's), no
        // submodules (nothing sifbake compares lives in them).
        let mut all = vec![
            "fetch",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
        ];
        all.extend_from_slice(args);
        all.extend(["--end-of-options", remote]);
        all.extend_from_slice(refspecs);
        let output = self.run(&all)?;
        if output.status.success() {
            Ok(Fetched::Ok)
        } else {
            Ok(Fetched::Failed(complaint(&output)))
        }
    }

    /// Returns the paths that differ between two commits, relative to the root; both sides
    /// of a rename; nothing outside the root.
    pub(super) fn changed_paths(
        &self,
        base: &str,
        head: &str,
    ) -> Result<BTreeSet<String>, GitError> {
        let output = self.run_ok(&[
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            "--relative",
            // Configuration could otherwise hide submodule changes or colour the names.
            "--ignore-submodules=none",
            "--no-color",
            base,
            head,
            "--",
        ])?;
        Ok(nul_separated(&output.stdout).collect())
    }

    /// Returns how many paths under the root differ from `HEAD` in the index or the work
    /// tree, untracked ones included.
    pub(super) fn uncommitted_paths(&self) -> Result<usize, GitError> {
        let output = self.run_ok(&[
            "status",
            "--porcelain=v1",
            "-z",
            "--no-renames",
            "--untracked-files=normal",
            "--",
            ".",
        ])?;
        Ok(output
            .stdout
            .split(|&b| b == 0)
            .filter(|r| !r.is_empty())
            .count())
    }

    /// Returns every ref under `refs/heads` and `refs/remotes` that is not symbolic.
    pub(super) fn branch_refs(&self) -> Result<Vec<String>, GitError> {
        let output = self.run_ok(&[
            "for-each-ref",
            "--format=%(refname)%00%(symref)",
            "refs/heads",
            "refs/remotes",
        ])?;
        // Ref names cannot hold newlines or NUL (git check-ref-format), so lines are safe.
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| match line.split_once('\0') {
                Some((name, "")) => Some(name.to_owned()),
                _ => None,
            })
            .collect())
    }

    /// Returns the names of the tags pointing at `HEAD`, sorted.
    pub(super) fn tags_at_head(&self) -> Result<Vec<String>, GitError> {
        let output = self.run_ok(&[
            "for-each-ref",
            "--points-at=HEAD",
            "--format=%(refname:strip=2)",
            "refs/tags",
        ])?;
        let mut tags: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// Returns the names of every tag of the clone, unsorted.
    pub(super) fn all_tags(&self) -> Result<Vec<String>, GitError> {
        let output = self.run_ok(&["for-each-ref", "--format=%(refname:strip=2)", "refs/tags"])?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Returns true if and only if the full ref `name` (`refs/tags/v1`) exists.
    pub(super) fn has_ref(&self, name: &str) -> Result<bool, GitError> {
        Ok(self
            .run_optional(&["rev-parse", "--verify", "-q", "--end-of-options", name])?
            .is_some())
    }

    /// Returns the names of the configured remotes.
    pub(super) fn remotes(&self) -> Result<Vec<String>, GitError> {
        let output = self.run_ok(&["remote"])?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }
}

/// Splits `-z` output into paths. Paths that are not UTF-8 are left out: they cannot appear
/// in a manifest or def file, and input globs skip them too (`manifest/files.rs`).
fn nul_separated(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes
        .split(|&b| b == 0)
        .filter(|path| !path.is_empty())
        .filter_map(|path| String::from_utf8(path.to_vec()).ok())
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Returns the first line git printed on stderr, for people to read (what follows it is
/// advice such as "Please make sure you have the correct access rights"), or the exit status.
fn complaint(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map_or_else(|| output.status.to_string(), str::to_owned)
}

fn failed(args: &[&str], output: &Output) -> GitError {
    GitError::CommandFailed {
        command: args.join(" "),
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    }
}
