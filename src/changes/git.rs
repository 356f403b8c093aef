//! Which files changed since the last build, from git history (DESIGN.md, "Change detection").
//!
//! The base commit depends on the event: `--since REV`, a pull request's merge base, or a
//! push's previous commit. CI checkouts are often shallow (actions/checkout fetches one
//! commit), so a missing base is fetched step by step before giving up. Giving up is not an
//! error: the result then says why, and the planner compares input digests instead. Git runs
//! here and nowhere else; what it says is handed on as plain data.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod error;
mod repo;

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::context::{LocalGit, Provider, RefContext, RefKind, is_zero_sha};

pub use self::error::GitError;
use self::repo::{Fetched, GitProgram, Repo};

/// How deep a shallow clone is fetched, step by step, before its whole history is: enough
/// for a usual pull request first, a long-lived branch next. tj-actions/changed-files repeats
/// one fixed step (`--deepen=<fetch_depth>`, 25 by default, up to 10-20 times,
/// `src/changedFiles.ts`); growing steps reach a distant base in fewer round trips.
const DEPTHS: [u32; 2] = [50, 500];

/// What to compare.
#[derive(Clone, Copy, Debug)]
pub struct ChangeRequest<'a> {
    /// The manifest's repository root; may be a subdirectory of the git work tree.
    pub root: &'a Path,
    pub context: &'a RefContext,
    /// `--since REV`.
    pub since: Option<&'a str>,
    /// `--all`: everything counts as changed, and git is not asked.
    pub all: bool,
    /// The remote a shallow clone is deepened from (`origin`).
    pub remote: &'a str,
}

/// What the changes are relative to.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeBase {
    /// `--all`: every target counts as changed.
    All,
    /// Files changed between two commits (full shas). `how` says where `base` came from:
    /// "the push's previous commit", "the merge base with `main`", "`--since v1.2.0`".
    Diff {
        base: String,
        head: String,
        how: String,
    },
    /// No usable base: the planner compares input digests instead. `reason` is shown to
    /// users ("a new branch has no previous commit to compare with").
    Fallback { reason: String },
}

/// The files that changed, and how that was worked out.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct ChangeSet {
    pub base: ChangeBase,
    /// Changed paths relative to the root, `/`-separated: deleted files and both sides of
    /// renames included, files outside the root left out. Empty unless `base` is a diff.
    pub files: BTreeSet<String>,
    /// What was done that users should know ("the clone is shallow: fetched …").
    pub notes: Vec<String>,
}

/// Works out the base commit for the request and the files changed since.
pub fn detect_changes(request: &ChangeRequest<'_>) -> Result<ChangeSet, GitError> {
    detect_changes_with(&GitProgram::default(), request)
}

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

/// The git tags of the clone, for `latest` rules that compare a release with the others.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct RepositoryTags {
    /// Every tag name; empty when git cannot tell.
    pub names: Vec<String>,
    /// The clone is shallow, so it may hold only the tags of the commits fetched.
    pub shallow: bool,
}

/// Returns the clone's tags and whether it is shallow; empty when git cannot tell.
pub fn repository_tags(root: &Path) -> RepositoryTags {
    let program = GitProgram::default();
    let Ok(repo) = Repo::open(&program, root) else {
        return RepositoryTags::default();
    };
    RepositoryTags {
        names: repo.all_tags().unwrap_or_default(),
        shallow: repo.is_shallow().unwrap_or(false),
    }
}

fn detect_changes_with(
    program: &GitProgram,
    request: &ChangeRequest<'_>,
) -> Result<ChangeSet, GitError> {
    // Nothing to compare, so no git: `--all` and the digest fallback work without it.
    let nothing = |base| ChangeSet {
        base,
        files: BTreeSet::new(),
        notes: Vec::new(),
    };
    let lookup = match wanted(request) {
        Want::All => return Ok(nothing(ChangeBase::All)),
        Want::Fallback(reason) => return Ok(nothing(ChangeBase::Fallback { reason })),
        Want::Git(lookup) => lookup,
    };
    let repo = Repo::open(program, request.root)?;
    let head = repo.head()?;
    let mut search = Search {
        repo: &repo,
        remote: request.remote,
        head: &head,
        notes: Vec::new(),
    };
    let base = resolve(&mut search, lookup)?;
    let mut notes = search.notes;
    let files = match &base {
        ChangeBase::Diff { base, head, .. } => {
            // Only on a developer's machine, where edits not yet committed are common: CI
            // checks out the commit itself, and `git status` stats every file of the work
            // tree, which took ten times as long as the diff in a 20,000-file repository.
            let uncommitted = if request.context.provider == Provider::Local {
                repo.uncommitted_paths()?
            } else {
                0
            };
            if uncommitted > 0 {
                notes.push(format!(
                    "the working tree differs from `HEAD` under the root (`git status` lists \
                     {uncommitted}): git compares commits, so uncommitted changes do not count"
                ));
            }
            repo.changed_paths(base, head)?
        }
        ChangeBase::All | ChangeBase::Fallback { .. } => BTreeSet::new(),
    };
    Ok(ChangeSet { base, files, notes })
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
        head_tags: repo.tags_at_head().unwrap_or_default(),
    }
}

/// What a bare name given as `--ref NAME` is in a repository.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum RefName {
    Tag,
    Branch,
    /// A tag and a branch of that name both exist.
    Both,
    /// Neither exists (or git cannot tell).
    Neither,
}

/// Looks a bare `--ref NAME` up: a tag (`refs/tags/NAME`), a branch (`refs/heads/NAME`, or
/// `refs/remotes/origin/NAME` in a CI clone), both, or neither.
pub fn ref_name(root: &Path, name: &str) -> RefName {
    let program = GitProgram::default();
    let Ok(repo) = Repo::open(&program, root) else {
        return RefName::Neither;
    };
    let has = |full: String| repo.has_ref(&full).unwrap_or(false);
    let tag = has(format!("refs/tags/{name}"));
    let branch = has(format!("refs/heads/{name}")) || has(format!("refs/remotes/origin/{name}"));
    match (tag, branch) {
        (true, true) => RefName::Both,
        (true, false) => RefName::Tag,
        (false, true) => RefName::Branch,
        (false, false) => RefName::Neither,
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

/// What to compare with, decided from the request alone.
#[derive(Debug, Eq, PartialEq)]
enum Want {
    All,
    Git(Lookup),
    Fallback(String),
}

/// A base commit to look up in git.
#[derive(Debug, Eq, PartialEq)]
enum Lookup {
    /// `--since REV`.
    Since(String),
    /// A commit given by CI: a push's previous commit, or the merge base GitLab computed.
    Commit {
        sha: String,
        how: String,
        /// The fallback reason when the commit cannot be found.
        missing: String,
    },
    /// The merge base of a pull request's base commit and `HEAD`.
    MergeBase { base_sha: String, how: String },
}

fn wanted(request: &ChangeRequest<'_>) -> Want {
    if request.all {
        return Want::All;
    }
    // CI wrappers pass unset inputs as empty variables: empty means not given.
    fn given(value: Option<&str>) -> Option<&str> {
        value.map(str::trim).filter(|v| !v.is_empty())
    }
    if let Some(since) = given(request.since) {
        return Want::Git(Lookup::Since(since.to_owned()));
    }
    let context = request.context;
    let commit = |value: &Option<String>| {
        given(value.as_deref())
            .filter(|sha| !is_zero_sha(sha))
            .map(str::to_owned)
    };
    if let RefKind::PullRequest { base_branch, .. } = &context.kind {
        let how = match base_branch {
            Some(branch) => format!("the merge base with `{branch}`"),
            None => "the merge base with the target branch".to_owned(),
        };
        if let Some(sha) = commit(&context.merge_base) {
            let missing = format!("the merge base {} is not in the repository", short(&sha));
            return Want::Git(Lookup::Commit { sha, how, missing });
        }
        if let Some(base_sha) = commit(&context.base_sha) {
            return Want::Git(Lookup::MergeBase { base_sha, how });
        }
    } else if let Some(sha) = commit(&context.before) {
        let missing = format!(
            "the previous commit {} is not in the repository (force push?)",
            short(&sha)
        );
        return Want::Git(Lookup::Commit {
            sha,
            how: "the push's previous commit".to_owned(),
            missing,
        });
    }
    Want::Fallback(no_base(context))
}

/// Returns why a run without a base commit has none.
fn no_base(context: &RefContext) -> String {
    let what = match (context.provider, &context.kind, context.event.as_str()) {
        (Provider::Local, ..) => {
            return "a local run has no previous commit to compare with; pass `--since REV` \
                    (for example `--since origin/main`) to compare with one"
                .to_owned();
        }
        (Provider::GitLab, RefKind::PullRequest { .. }, _) => {
            return "the merge request's target commit is not known".to_owned();
        }
        (_, RefKind::PullRequest { .. }, _) => {
            return "the pull request's base commit is not known".to_owned();
        }
        (_, _, "schedule") => "a scheduled run".to_owned(),
        (_, _, "workflow_dispatch" | "web") => "a manually started run".to_owned(),
        (_, RefKind::Branch { .. }, "push") => "a new branch".to_owned(),
        (_, RefKind::Tag { .. }, "push") => "a tag push".to_owned(),
        (_, RefKind::Detached, "push") => "a detached checkout".to_owned(),
        (_, _, event) => format!("a `{event}` run"),
    };
    format!("{what} has no previous commit to compare with")
}

/// Looks for the base in the repository, fetching what is missing.
struct Search<'r> {
    repo: &'r Repo<'r>,
    remote: &'r str,
    head: &'r str,
    notes: Vec<String>,
}

/// A commit to fetch by its sha, and what to call it in notes.
struct Target<'t> {
    sha: &'t str,
    label: &'t str,
}

fn resolve(search: &mut Search<'_>, lookup: Lookup) -> Result<ChangeBase, GitError> {
    let head = search.head.to_owned();
    let diff = |base: String, how: String| ChangeBase::Diff {
        base,
        head: head.clone(),
        how,
    };
    match lookup {
        Lookup::Since(revision) => {
            let how = format!("`--since {revision}`");
            // Only a full sha can be fetched by name; anything else (`HEAD~3`, a tag)
            // can only come into reach by deepening.
            let target = is_full_sha(&revision).then_some(Target {
                sha: &revision,
                label: &how,
            });
            let shallow = search.repo.is_shallow()?;
            match search.reach(target, &how, &|repo| repo.commit(&revision))? {
                Some(base) => Ok(diff(base, how)),
                None => Err(GitError::RevisionNotFound { revision, shallow }),
            }
        }
        Lookup::Commit { sha, how, missing } => {
            let target = is_full_sha(&sha).then_some(Target {
                sha: &sha,
                label: &how,
            });
            match search.reach(target, &how, &|repo| repo.commit(&sha))? {
                Some(base) => Ok(diff(base, how)),
                None => Ok(ChangeBase::Fallback { reason: missing }),
            }
        }
        Lookup::MergeBase { base_sha, how } => {
            let label = "the pull request's base commit";
            let target = is_full_sha(&base_sha).then_some(Target {
                sha: &base_sha,
                label,
            });
            let goal = |repo: &Repo<'_>| match repo.commit(&base_sha)? {
                Some(base) => repo.merge_base(&base, &head),
                None => Ok(None),
            };
            if let Some(base) = search.reach(target, &how, &goal)? {
                return Ok(diff(base, how));
            }
            let reason = if search.repo.commit(&base_sha)?.is_some() {
                format!(
                    "`HEAD` and the base commit {} share no history",
                    short(&base_sha)
                )
            } else {
                format!(
                    "the pull request's base commit {} is not in the repository",
                    short(&base_sha)
                )
            };
            Ok(ChangeBase::Fallback { reason })
        }
    }
}

type Goal<'g> = dyn Fn(&Repo<'_>) -> Result<Option<String>, GitError> + 'g;

impl Search<'_> {
    /// Returns what `goal` finds, fetching history until it finds something or nothing more
    /// can be fetched: the target itself and 50 more commits of `HEAD`'s history, then 500,
    /// then the whole history. `label` names what is looked for, in notes.
    fn reach(
        &mut self,
        target: Option<Target<'_>>,
        label: &str,
        goal: &Goal<'_>,
    ) -> Result<Option<String>, GitError> {
        let repo = self.repo;
        if let Some(found) = goal(repo)? {
            return Ok(Some(found));
        }
        let missing = |repo: &Repo<'_>| -> Result<Option<&Target<'_>>, GitError> {
            match &target {
                Some(target) if repo.commit(target.sha)?.is_none() => Ok(Some(target)),
                _ => Ok(None),
            }
        };
        if !repo.is_shallow()? {
            // A complete clone has every commit its refs reach; the one wanted may still be
            // on the remote, on a ref this checkout did not fetch.
            if let Some(target) = missing(repo)? {
                self.fetch_commit(target, None)?;
                return goal(repo);
            }
            return Ok(None);
        }
        // Once the remote refuses the target (it is gone), asking again is pointless; it
        // may still be reached through `HEAD`'s history if the remote only refuses
        // fetching commits by sha.
        let mut target_fetchable = true;
        for depth in DEPTHS {
            if target_fetchable && let Some(target) = missing(repo)? {
                target_fetchable = self.fetch_commit(target, Some(depth))?;
                if let Some(found) = goal(repo)? {
                    return Ok(Some(found));
                }
            }
            if !repo.is_shallow()? {
                return Ok(None);
            }
            let deepen = format!("--deepen={depth}");
            let fetched = repo.fetch(self.remote, &[&deepen], &[self.head])?;
            if !self.note(
                fetched,
                &format!(
                    "the clone is shallow: fetched up to {depth} more commits of `HEAD`'s \
                     history from `{}` to reach {label}",
                    self.remote
                ),
                "more history",
            ) {
                // The remote is unreachable or refuses `HEAD`: more depth will not help.
                return Ok(None);
            }
            if let Some(found) = goal(repo)? {
                return Ok(Some(found));
            }
        }
        if !repo.is_shallow()? {
            return Ok(None);
        }
        let present = match &target {
            Some(target) if missing(repo)?.is_none() => Some(target.sha),
            _ => None,
        };
        let refspecs: Vec<&str> = std::iter::once(self.head).chain(present).collect();
        let fetched = repo.fetch(self.remote, &["--unshallow"], &refspecs)?;
        self.note(
            fetched,
            &format!(
                "the clone is shallow: fetched the whole history from `{}` to reach {label}",
                self.remote
            ),
            "the whole history",
        );
        if target_fetchable && let Some(target) = missing(repo)? {
            self.fetch_commit(target, None)?;
        }
        goal(repo)
    }

    /// Fetches one commit by sha, with `depth` commits of history in a shallow clone (none
    /// given: all of it). Returns whether the remote gave it.
    fn fetch_commit(&mut self, target: &Target<'_>, depth: Option<u32>) -> Result<bool, GitError> {
        let short = short(target.sha);
        let done = match depth {
            Some(depth) => format!(
                "the clone is shallow: fetched {short} ({}) from `{}` with up to {depth} commits \
                 of its history",
                target.label, self.remote
            ),
            None => format!(
                "fetched {short} ({}) from `{}`: it was not in the repository",
                target.label, self.remote
            ),
        };
        let depth = depth.map(|depth| format!("--depth={depth}"));
        let depth = depth.as_deref();
        let fetched = self
            .repo
            .fetch(self.remote, depth.as_slice(), &[target.sha])?;
        Ok(self.note(fetched, &done, &format!("{short} ({})", target.label)))
    }

    /// Records how a fetch went; returns whether it worked.
    fn note(&mut self, fetched: Fetched, done: &str, what: &str) -> bool {
        match fetched {
            Fetched::Ok => {
                self.notes.push(done.to_owned());
                true
            }
            Fetched::Failed(why) => {
                self.notes.push(format!(
                    "could not fetch {what} from `{}`: {why}",
                    self.remote
                ));
                false
            }
        }
    }
}

/// Returns true if and only if `text` is a full SHA-1 or SHA-256 object name, which a remote
/// can be asked for by name.
fn is_full_sha(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Returns the 7-digit abbreviation git shows by default.
fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests;
