//! The git ref a run builds for, read from GitHub Actions, GitLab CI or local git.
//!
//! Values in, values out: the caller passes a variable lookup, the GitHub event payload (if
//! any) and what local git says; `settings.rs` reads the real environment and
//! `changes/git.rs` runs git. Flags (`--ref`, `--sha`) override what was detected.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use serde::Serialize;

/// Where the run comes from.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    GitHub,
    GitLab,
    Local,
}

/// What kind of ref is built.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RefKind {
    Branch {
        name: String,
    },
    Tag {
        name: String,
    },
    /// A GitHub pull request or GitLab merge request.
    PullRequest {
        number: u64,
        /// The branch the request comes from, when known.
        head_branch: Option<String>,
        /// The branch it targets, when known.
        base_branch: Option<String>,
    },
    /// A detached checkout with no branch or tag.
    Detached,
}

/// The git context of a run.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct RefContext {
    pub provider: Provider,
    /// The CI event as the provider names it (`push`, `pull_request`, `merge_request_event`,
    /// `schedule`, ...), or `local`.
    pub event: String,
    #[serde(rename = "ref")]
    pub kind: RefKind,
    /// The commit the images are built from. On pull requests this is the request's head
    /// commit, not the merge commit GitHub checks out: tags must name a commit that exists in
    /// the branch.
    pub sha: String,
    /// The repository's default branch, when known.
    pub default_branch: Option<String>,
    /// The commit the branch pointed at before this push (`None` for a new branch).
    pub before: Option<String>,
    /// For pull requests: the target branch's commit the request is compared with.
    pub base_sha: Option<String>,
    /// For merge requests whose CI computed it (GitLab): the merge base itself.
    pub merge_base: Option<String>,
}

impl RefContext {
    /// Returns true if and only if this is a push (or scheduled/manual run) on the default
    /// branch.
    pub fn on_default_branch(&self) -> bool {
        match (&self.kind, &self.default_branch) {
            (RefKind::Branch { name }, Some(default)) => name == default,
            _ => false,
        }
    }

    /// Returns true if and only if this run is for a pull or merge request.
    pub fn is_pull_request(&self) -> bool {
        matches!(self.kind, RefKind::PullRequest { .. })
    }

    /// Returns a short description for reports: `branch main`, `tag v1.2.3`, `pull request #4`.
    pub fn describe(&self) -> String {
        match &self.kind {
            RefKind::Branch { name } => format!("branch `{name}`"),
            RefKind::Tag { name } => format!("tag `{name}`"),
            RefKind::PullRequest { number, .. } => match self.provider {
                Provider::GitLab => format!("merge request !{number}"),
                _ => format!("pull request #{number}"),
            },
            RefKind::Detached => "a detached checkout".to_owned(),
        }
    }
}

/// What local git says about the checkout, for runs outside CI.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct LocalGit {
    /// The checked-out branch, if any.
    pub branch: Option<String>,
    /// `HEAD`'s commit.
    pub sha: Option<String>,
    /// The remote's default branch (`origin/HEAD`), if known.
    pub default_branch: Option<String>,
    /// The tags pointing at `HEAD`, sorted: a checkout detached at a tag builds that tag.
    pub head_tags: Vec<String>,
}

/// Command-line overrides.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Overrides {
    /// `--ref`: `refs/heads/x`, `refs/tags/v1`, `refs/pull/42/merge`, or a branch name (a
    /// bare name is resolved through git before it gets here).
    pub reference: Option<String>,
    /// `--sha`.
    pub sha: Option<String>,
    /// `--default-branch`.
    pub default_branch: Option<String>,
}

/// Why no context could be worked out.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum ContextError {
    #[error("`{value}` is not a git ref sifbake understands")]
    InvalidRef { value: String },
    #[error("{variable} is not set, though {provider} is")]
    MissingVariable {
        provider: &'static str,
        variable: &'static str,
    },
    #[error("no commit to build: not in CI, and git could not read HEAD")]
    NoCommit,
}

impl ContextError {
    /// Returns what the user can do about it.
    pub fn help(&self) -> &'static str {
        match self {
            ContextError::InvalidRef { .. } => {
                "pass `--ref refs/heads/BRANCH`, `--ref refs/tags/TAG`, `--ref refs/pull/N/head` or a branch name"
            }
            ContextError::MissingVariable { .. } => {
                "run sifbake inside the CI job itself, or pass `--ref` and `--sha`"
            }
            ContextError::NoCommit => "run sifbake inside a git checkout, or pass `--sha`",
        }
    }
}

/// Variables of GitHub Actions and GitLab CI that the context is read from.
pub mod vars {
    pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
    pub const GITHUB_EVENT_NAME: &str = "GITHUB_EVENT_NAME";
    pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
    pub const GITHUB_REF: &str = "GITHUB_REF";
    pub const GITHUB_SHA: &str = "GITHUB_SHA";
    pub const GITHUB_HEAD_REF: &str = "GITHUB_HEAD_REF";
    pub const GITHUB_BASE_REF: &str = "GITHUB_BASE_REF";
    pub const GITLAB_CI: &str = "GITLAB_CI";
    pub const CI_PIPELINE_SOURCE: &str = "CI_PIPELINE_SOURCE";
    pub const CI_COMMIT_REF_NAME: &str = "CI_COMMIT_REF_NAME";
    pub const CI_COMMIT_BRANCH: &str = "CI_COMMIT_BRANCH";
    pub const CI_COMMIT_TAG: &str = "CI_COMMIT_TAG";
    pub const CI_COMMIT_SHA: &str = "CI_COMMIT_SHA";
    pub const CI_COMMIT_BEFORE_SHA: &str = "CI_COMMIT_BEFORE_SHA";
    pub const CI_DEFAULT_BRANCH: &str = "CI_DEFAULT_BRANCH";
    pub const CI_MERGE_REQUEST_IID: &str = "CI_MERGE_REQUEST_IID";
    pub const CI_MERGE_REQUEST_DIFF_BASE_SHA: &str = "CI_MERGE_REQUEST_DIFF_BASE_SHA";
    pub const CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: &str = "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME";
    pub const CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: &str = "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA";
    pub const CI_MERGE_REQUEST_TARGET_BRANCH_NAME: &str = "CI_MERGE_REQUEST_TARGET_BRANCH_NAME";
    /// The project's web address: the `source` provenance label.
    pub const CI_PROJECT_URL: &str = "CI_PROJECT_URL";

    /// Every variable above, for tests that scrub the environment.
    pub const ALL: &[&str] = &[
        GITHUB_ACTIONS,
        GITHUB_EVENT_NAME,
        GITHUB_EVENT_PATH,
        GITHUB_REF,
        GITHUB_SHA,
        GITHUB_HEAD_REF,
        GITHUB_BASE_REF,
        GITLAB_CI,
        CI_PIPELINE_SOURCE,
        CI_COMMIT_REF_NAME,
        CI_COMMIT_BRANCH,
        CI_COMMIT_TAG,
        CI_COMMIT_SHA,
        CI_COMMIT_BEFORE_SHA,
        CI_DEFAULT_BRANCH,
        CI_MERGE_REQUEST_IID,
        CI_MERGE_REQUEST_DIFF_BASE_SHA,
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME,
        CI_MERGE_REQUEST_SOURCE_BRANCH_SHA,
        CI_MERGE_REQUEST_TARGET_BRANCH_NAME,
        CI_PROJECT_URL,
    ];
}

/// Returns the provider the environment belongs to.
pub fn provider(var: &dyn Fn(&str) -> Option<String>) -> Provider {
    if var(vars::GITHUB_ACTIONS).as_deref() == Some("true") {
        Provider::GitHub
    } else if var(vars::GITLAB_CI).as_deref() == Some("true") {
        Provider::GitLab
    } else {
        Provider::Local
    }
}

/// Works out the context of a run.
///
/// `var` reads an environment variable; `payload` is GitHub's event payload (the JSON file
/// at `GITHUB_EVENT_PATH`); `local` is what git says, used outside CI and to fill gaps.
pub fn detect(
    var: &dyn Fn(&str) -> Option<String>,
    payload: Option<&serde_json::Value>,
    local: &LocalGit,
    overrides: &Overrides,
) -> Result<RefContext, ContextError> {
    // Empty variables mean unset: GitLab defines many of them as "" outside their pipelines.
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let mut context = match provider(&var) {
        Provider::GitHub => github(&var, payload)?,
        Provider::GitLab => gitlab(&var)?,
        Provider::Local => RefContext {
            provider: Provider::Local,
            event: "local".to_owned(),
            kind: match (&local.branch, local.head_tags.first()) {
                (Some(name), _) => RefKind::Branch { name: name.clone() },
                (None, Some(tag)) => RefKind::Tag { name: tag.clone() },
                (None, None) => RefKind::Detached,
            },
            sha: local.sha.clone().unwrap_or_default(),
            default_branch: local.default_branch.clone(),
            before: None,
            base_sha: None,
            merge_base: None,
        },
    };
    if context.default_branch.is_none() {
        context.default_branch = local.default_branch.clone();
    }
    if let Some(reference) = &overrides.reference {
        context.kind = parse_ref(reference)?;
    }
    if let Some(sha) = &overrides.sha {
        context.sha = sha.clone();
    }
    if let Some(default_branch) = &overrides.default_branch {
        context.default_branch = Some(default_branch.clone());
    }
    if context.sha.is_empty() {
        return Err(ContextError::NoCommit);
    }
    Ok(context)
}

fn require(
    var: &dyn Fn(&str) -> Option<String>,
    provider: &'static str,
    variable: &'static str,
) -> Result<String, ContextError> {
    var(variable).ok_or(ContextError::MissingVariable { provider, variable })
}

fn github(
    var: &dyn Fn(&str) -> Option<String>,
    payload: Option<&serde_json::Value>,
) -> Result<RefContext, ContextError> {
    const PROVIDER: &str = "GitHub Actions";
    let event = require(var, PROVIDER, vars::GITHUB_EVENT_NAME)?;
    let reference = require(var, PROVIDER, vars::GITHUB_REF)?;
    let merge_sha = require(var, PROVIDER, vars::GITHUB_SHA)?;
    let text = |pointer: &str| {
        payload
            .and_then(|p| p.pointer(pointer))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let mut kind = parse_ref(&reference)?;
    if let RefKind::PullRequest {
        number,
        head_branch,
        base_branch,
    } = &mut kind
    {
        if let Some(n) = payload
            .and_then(|p| p.pointer("/pull_request/number"))
            .and_then(serde_json::Value::as_u64)
        {
            *number = n;
        }
        *head_branch = var(vars::GITHUB_HEAD_REF).or_else(|| text("/pull_request/head/ref"));
        *base_branch = var(vars::GITHUB_BASE_REF).or_else(|| text("/pull_request/base/ref"));
    }
    let is_pr = matches!(kind, RefKind::PullRequest { .. });
    // On pull_request events GITHUB_SHA is the merge commit GitHub made; the request's own
    // head commit is in the payload (actions/checkout#27, docker/metadata-action#206).
    let sha = if is_pr {
        text("/pull_request/head/sha").unwrap_or(merge_sha)
    } else {
        merge_sha
    };
    Ok(RefContext {
        provider: Provider::GitHub,
        event,
        kind,
        sha,
        default_branch: text("/repository/default_branch"),
        before: text("/before").filter(|s| !is_zero_sha(s)),
        base_sha: if is_pr {
            text("/pull_request/base/sha")
        } else {
            None
        },
        merge_base: None,
    })
}

fn gitlab(var: &dyn Fn(&str) -> Option<String>) -> Result<RefContext, ContextError> {
    const PROVIDER: &str = "GitLab CI";
    let event = var(vars::CI_PIPELINE_SOURCE).unwrap_or_else(|| "push".to_owned());
    let commit_sha = require(var, PROVIDER, vars::CI_COMMIT_SHA)?;
    let (kind, sha) = if let Some(iid) = var(vars::CI_MERGE_REQUEST_IID) {
        let number = iid.parse().map_err(|_| ContextError::InvalidRef {
            value: format!("{}={iid}", vars::CI_MERGE_REQUEST_IID),
        })?;
        // In merged-results pipelines CI_COMMIT_SHA is GitLab's merge commit; the source
        // branch's own head is CI_MERGE_REQUEST_SOURCE_BRANCH_SHA.
        let sha = var(vars::CI_MERGE_REQUEST_SOURCE_BRANCH_SHA).unwrap_or(commit_sha);
        (
            RefKind::PullRequest {
                number,
                head_branch: var(vars::CI_MERGE_REQUEST_SOURCE_BRANCH_NAME),
                base_branch: var(vars::CI_MERGE_REQUEST_TARGET_BRANCH_NAME),
            },
            sha,
        )
    } else if let Some(tag) = var(vars::CI_COMMIT_TAG) {
        (RefKind::Tag { name: tag }, commit_sha)
    } else if let Some(branch) =
        var(vars::CI_COMMIT_BRANCH).or_else(|| var(vars::CI_COMMIT_REF_NAME))
    {
        (RefKind::Branch { name: branch }, commit_sha)
    } else {
        (RefKind::Detached, commit_sha)
    };
    let is_pr = matches!(kind, RefKind::PullRequest { .. });
    Ok(RefContext {
        provider: Provider::GitLab,
        event,
        kind,
        sha,
        default_branch: var(vars::CI_DEFAULT_BRANCH),
        before: var(vars::CI_COMMIT_BEFORE_SHA).filter(|s| !is_zero_sha(s)),
        base_sha: None,
        merge_base: if is_pr {
            var(vars::CI_MERGE_REQUEST_DIFF_BASE_SHA)
        } else {
            None
        },
    })
}

/// Parses `refs/heads/x`, `refs/tags/x`, `refs/pull/N/merge|head`, `refs/merge-requests/N/head`,
/// or a plain branch name.
pub fn parse_ref(reference: &str) -> Result<RefKind, ContextError> {
    let invalid = || ContextError::InvalidRef {
        value: reference.to_owned(),
    };
    let reference = reference.trim();
    if reference.is_empty() {
        return Err(invalid());
    }
    if let Some(name) = reference.strip_prefix("refs/heads/") {
        return Ok(RefKind::Branch {
            name: name.to_owned(),
        });
    }
    if let Some(name) = reference.strip_prefix("refs/tags/") {
        return Ok(RefKind::Tag {
            name: name.to_owned(),
        });
    }
    let request = reference
        .strip_prefix("refs/pull/")
        .or_else(|| reference.strip_prefix("refs/merge-requests/"));
    if let Some(rest) = request {
        let number = rest
            .split('/')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(invalid)?;
        return Ok(RefKind::PullRequest {
            number,
            head_branch: None,
            base_branch: None,
        });
    }
    if reference.starts_with("refs/") {
        return Err(invalid());
    }
    Ok(RefKind::Branch {
        name: reference.to_owned(),
    })
}

/// Returns true if and only if `sha` is git's all-zero id, which CI systems send as the
/// "before" commit of a new branch or tag.
pub fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests;
