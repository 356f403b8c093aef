//! Git, through its command line: what it says about the checkout. Git runs here and
//! nowhere else; what it says is handed on as plain data.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod error;
mod repo;

use std::collections::BTreeSet;
use std::path::Path;

use crate::context::LocalGit;

pub use self::error::GitError;
use self::repo::{GitProgram, Repo};

/// Returns what git says about the checkout at `root`; each field is `None` when git cannot
/// tell (no repository, a detached `HEAD`, no commit, no `origin/HEAD`).
pub fn local_git(root: &Path) -> LocalGit {
    local_git_with(&GitProgram::default(), root)
}

/// Returns the names of the local and remote-tracking branches, without the remote's prefix,
/// deduplicated and sorted; empty when git cannot tell.
pub fn branch_names(root: &Path) -> Vec<String> {
    branch_names_with(&GitProgram::default(), root)
}

fn local_git_with(program: &GitProgram, root: &Path) -> LocalGit {
    let Ok(repo) = Repo::open(program, root) else {
        return LocalGit::default();
    };
    let under = |name: &str, prefix: &str| {
        repo.symbolic_ref(name)
            .and_then(|target| target.strip_prefix(prefix).map(str::to_owned))
    };
    LocalGit {
        branch: under("HEAD", "refs/heads/"),
        sha: repo.commit("HEAD").ok().flatten(),
        default_branch: under("refs/remotes/origin/HEAD", "refs/remotes/origin/"),
    }
}

fn branch_names_with(program: &GitProgram, root: &Path) -> Vec<String> {
    let Ok(repo) = Repo::open(program, root) else {
        return Vec::new();
    };
    let (Ok(refs), Ok(mut remotes)) = (repo.branch_refs(), repo.remotes()) else {
        return Vec::new();
    };
    // Remote names may hold `/` (`upstream/mirror`): try the longest first.
    remotes.sort_by_key(|remote| std::cmp::Reverse(remote.len()));
    let names: BTreeSet<String> = refs
        .iter()
        .filter_map(|name| {
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                return Some(branch);
            }
            let tracking = name.strip_prefix("refs/remotes/")?;
            remotes
                .iter()
                .find_map(|remote| tracking.strip_prefix(remote.as_str())?.strip_prefix('/'))
                // A ref left behind by a removed remote: its first component was the remote.
                .or_else(|| tracking.split_once('/').map(|(_, branch)| branch))
        })
        .map(str::to_owned)
        .collect();
    names.into_iter().collect()
}

#[cfg(test)]
mod tests;
