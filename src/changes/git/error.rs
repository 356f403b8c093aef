//! Why git could not say what changed.

use std::io;
use std::path::PathBuf;

/// Why git could not answer.
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
    #[error("`{}` is not inside a git repository", root.display())]
    NotARepository { root: PathBuf },
    #[error("`git` is not installed, or not on PATH")]
    NotInstalled,
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
            GitError::NotARepository { .. } => {
                "run sifbake in a git checkout (`-C DIR`), or pass `--all` to build every \
                 target without comparing commits"
            }
            GitError::NotInstalled => {
                "install git (for example `apt-get install git`), or pass `--all` to build \
                 every target without it"
            }
        }
    }
}
