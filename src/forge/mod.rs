//! Telling the forge (GitHub) about a run: a commit status per target and one pull-request
//! comment kept up to date. Off by default; `--github-statuses` and `--github-comment` turn
//! them on, with a token in `SIFBAKE_GITHUB_TOKEN`.
//!
//! ```text
//! ResultDocument ─▶ commit_status::statuses ─┐
//!                ─▶ report::pr_comment ───────┼─▶ publish::publish(&impl Forge) ─▶ Published (notes, warnings)
//!                                             │            │
//!                                             │            └─ GitHubForge (octocrab on our reqwest client)
//! ```
//!
//! The [`Forge`] trait speaks domain types only; GitHub's JSON stays in `github.rs`. Nothing
//! here changes the run's exit code: a refused call (a fork's pull request gets a read-only
//! token) is a warning.

mod api;
mod commit_status;
mod github;
mod publish;

pub use api::{Forge, ForgeError};
pub use commit_status::{CommitStatus, StatusState, statuses};
pub use github::{DEFAULT_API_URL, GitHubForge, GitHubForgeError};
pub use publish::{CommentRequest, PublishRequest, Published, publish};
