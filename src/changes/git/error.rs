//! Why git could not say what changed.

use std::io;
use std::path::PathBuf;

/// Why git could not say what changed. Commits that cannot be found or fetched are not errors
/// (the planner compares input digests instead); only what the user must fix is.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run `git`")]
    CannotRun {
        #[source]
        source: io::Error,
    },
    #[error("`git {command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The arguments after `git`, as typed in a shell (without the `-c`/`-C` options).
        command: String,
        /// `exit status 128`, or how the process ended.
        status: String,
        /// What git printed on stderr, trimmed.
        stderr: String,
    },
    #[error("the repository at `{}` has no commit checked out", root.display())]
    NoCommit { root: PathBuf },
    #[error("`{}` is not inside a git repository", root.display())]
    NotARepository { root: PathBuf },
    #[error("`git` is not installed, or not on PATH")]
    NotInstalled,
    #[error(
        "`--since {revision}` names no commit in this repository{}",
        if *shallow { "; the clone is shallow, and fetching more history did not find it" } else { "" }
    )]
    RevisionNotFound {
        revision: String,
        /// Whether the clone was shallow, so history was fetched before giving up.
        shallow: bool,
    },
}

impl GitError {
    /// Returns what the user can do about it.
    pub fn help(&self) -> &'static str {
        match self {
            GitError::CannotRun { .. } => {
                "check that the `git` found on PATH can be run; `--all` builds every target \
                 without asking git"
            }
            GitError::CommandFailed { .. } => {
                "run the same git command in the repository to see what is wrong; `--all` \
                 builds every target without asking git"
            }
            GitError::NoCommit { .. } => {
                "commit the definition files first, or pass `--all` to build every target"
            }
            GitError::NotARepository { .. } => {
                "run sifbake in a git checkout (`-C DIR`), or pass `--all` to build every \
                 target without comparing commits"
            }
            GitError::NotInstalled => {
                "install git (for example `apt-get install git`), or pass `--all` to build \
                 every target without it"
            }
            GitError::RevisionNotFound { .. } => {
                "check the revision with `git rev-parse --verify REV`; a CI checkout may lack \
                 it: fetch the whole history (actions/checkout `fetch-depth: 0`, GitLab \
                 `GIT_DEPTH: 0`) and, for a tag, the tags (`fetch-tags: true`)"
            }
        }
    }
}
