//! The seam between sifbake and a forge's API.

use std::fmt;
use std::future::Future;

use super::commit_status::CommitStatus;

/// What sifbake asks of a forge. Implemented by [`super::GitHubForge`]; tests drive the
/// publishing logic with a fake, and the GitHub client against a fake API on 127.0.0.1.
pub trait Forge {
    /// Sets a status on a commit (a new status with the same context replaces the old).
    fn set_status(
        &self,
        sha: &str,
        status: &CommitStatus,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Returns the id of the first comment on a pull request whose body contains `marker`.
    fn find_comment(
        &self,
        pull_request: u64,
        marker: &str,
    ) -> impl Future<Output = Result<Option<u64>, ForgeError>> + Send;

    /// Adds a comment to a pull request; returns its id.
    fn create_comment(
        &self,
        pull_request: u64,
        body: &str,
    ) -> impl Future<Output = Result<u64, ForgeError>> + Send;

    /// Replaces the body of a comment.
    fn update_comment(
        &self,
        comment: u64,
        body: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
}

/// A call the forge refused or that did not reach it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ForgeError {
    /// The HTTP status, when the forge answered.
    pub status: Option<u16>,
    /// What went wrong; never holds the token.
    pub message: String,
}

impl ForgeError {
    /// Returns true if and only if the token may not do this (HTTP 401, 403 or 404: GitHub
    /// answers 404 for what a token cannot see). A fork's pull request gets a read-only
    /// token, so this is expected there.
    pub fn is_permission(&self) -> bool {
        matches!(self.status, Some(401 | 403 | 404))
    }
}

impl fmt::Display for ForgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "HTTP {status}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}
