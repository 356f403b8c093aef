//! What changed since the last build: git history (`git`).

mod git;

pub use git::{GitError, branch_names, local_git};
