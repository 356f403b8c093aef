//! [`Forge`] on GitHub's REST API, through octocrab on our own reqwest client: one TLS stack
//! (ring, Mozilla's roots added to the system's) and `HTTPS_PROXY` honoured (CRATES.md §2).
//!
//! Routes are called by path with our own small wire types instead of octocrab's models:
//! octocrab's `Comment` requires a dozen fields we never read, and its `update_comment`
//! sends POST where the API documents PATCH. `GITHUB_API_URL` is the base, so GitHub
//! Enterprise Server (`https://ghe.example/api/v3`) works the same.

use std::time::Duration;

use octocrab::{Octocrab, Page};
use serde::Deserialize;
use serde_json::json;

use super::api::{Forge, ForgeError};
use super::commit_status::CommitStatus;

/// The API when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// How many pages of comments (100 each) are searched for the marker.
const COMMENT_PAGES: usize = 20;

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A repository on a GitHub (or GitHub Enterprise Server) API.
pub struct GitHubForge {
    client: Octocrab,
    /// `owner/name`.
    repository: String,
}

/// Why the client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GitHubForgeError {
    #[error("the GitHub API URL `{url}` is not usable: {detail}")]
    ApiUrl { url: String, detail: String },
    #[error("the repository `{repository}` is not `owner/name`")]
    Repository { repository: String },
    #[error("cannot make an HTTP client: {detail}")]
    Client { detail: String },
}

#[derive(Deserialize)]
struct WireComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

impl GitHubForge {
    /// Returns a client for `repository` (`owner/name`) on the API at `api_url`, sending
    /// `token`. `user_agent` names sifbake and its version.
    pub fn new(
        api_url: &str,
        repository: &str,
        token: &str,
        user_agent: &str,
    ) -> Result<Self, GitHubForgeError> {
        let valid = repository.split_once('/').is_some_and(|(owner, name)| {
            !owner.is_empty() && !name.is_empty() && !name.contains('/')
        });
        if !valid {
            return Err(GitHubForgeError::Repository {
                repository: repository.to_owned(),
            });
        }
        crate::scs::install_crypto_provider();
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|certificate| reqwest::Certificate::from_der(certificate.as_ref()).ok());
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .tls_certs_merge(roots)
            .build()
            .map_err(|error| GitHubForgeError::Client {
                detail: error.to_string(),
            })?;
        let api_error = |detail: String| GitHubForgeError::ApiUrl {
            url: api_url.to_owned(),
            detail,
        };
        let client = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|error| api_error(error.to_string()))?
            .personal_token(token.to_owned())
            .build_with_reqwest(http)
            .map_err(|error| api_error(error.to_string()))?;
        Ok(GitHubForge {
            client,
            repository: repository.to_owned(),
        })
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{rest}", self.repository)
    }
}

/// Turns octocrab's error into ours: GitHub's status and message, or the transport's.
fn forge_error(error: octocrab::Error) -> ForgeError {
    match error {
        octocrab::Error::GitHub { source, .. } => ForgeError {
            status: Some(source.status_code.as_u16()),
            message: source.message.clone(),
        },
        other => {
            // Display of some variants appends a backtrace after a blank line.
            let text = other.to_string();
            let first = text.split("\n\n").next().unwrap_or_default().to_owned();
            ForgeError {
                status: None,
                message: first,
            }
        }
    }
}

impl Forge for GitHubForge {
    async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<(), ForgeError> {
        let mut body = json!({
            "state": status.state.as_str(),
            "context": status.context,
            "description": status.description,
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        self.client
            .post::<_, serde_json::Value>(self.route(&format!("statuses/{sha}")), Some(&body))
            .await
            .map(|_| ())
            .map_err(forge_error)
    }

    async fn find_comment(
        &self,
        pull_request: u64,
        marker: &str,
    ) -> Result<Option<u64>, ForgeError> {
        let mut page: Option<Page<WireComment>> = Some(
            self.client
                .get(
                    self.route(&format!("issues/{pull_request}/comments")),
                    Some(&[("per_page", "100")]),
                )
                .await
                .map_err(forge_error)?,
        );
        let mut pages = 0;
        while let Some(current) = page {
            if let Some(found) = current
                .items
                .iter()
                .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
            {
                return Ok(Some(found.id));
            }
            pages += 1;
            if pages >= COMMENT_PAGES {
                break;
            }
            page = self
                .client
                .get_page::<WireComment>(&current.next)
                .await
                .map_err(forge_error)?;
        }
        Ok(None)
    }

    async fn create_comment(&self, pull_request: u64, body: &str) -> Result<u64, ForgeError> {
        self.client
            .post::<_, WireComment>(
                self.route(&format!("issues/{pull_request}/comments")),
                Some(&json!({ "body": body })),
            )
            .await
            .map(|c| c.id)
            .map_err(forge_error)
    }

    async fn update_comment(&self, comment: u64, body: &str) -> Result<(), ForgeError> {
        self.client
            .patch::<WireComment, _, _>(
                self.route(&format!("issues/comments/{comment}")),
                Some(&json!({ "body": body })),
            )
            .await
            .map(|_| ())
            .map_err(forge_error)
    }
}
