//! What changed since the last build: git history (`git`).

mod git;

pub use git::{
    ChangeBase, ChangeRequest, ChangeSet, GitError, branch_names, detect_changes, local_git,
};
