//! Sets the statuses and the sticky comment through a [`Forge`], and says what happened.
//! Failures are warnings: the images are built whatever GitHub thinks of the token.

use super::api::{Forge, ForgeError};
use super::commit_status::CommitStatus;

/// What to publish.
#[derive(Clone, Debug, Default)]
pub struct PublishRequest {
    /// The commit the statuses are set on (a pull request's head commit).
    pub sha: String,
    /// The statuses; empty when not asked for.
    pub statuses: Vec<CommitStatus>,
    /// The comment, when asked for and the run is for a pull request.
    pub comment: Option<CommentRequest>,
}

/// The sticky comment: found by its marker and replaced, or created.
#[derive(Clone, Debug)]
pub struct CommentRequest {
    pub pull_request: u64,
    /// A hidden line (`<!-- … -->`) in the body that identifies the comment.
    pub marker: String,
    /// The whole body, marker included.
    pub body: String,
}

/// What publishing did: lines for the log, and warnings.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Published {
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Sets the statuses, stopping at the first refusal (the rest would be refused too), then
/// creates or updates the comment.
pub async fn publish<F: Forge + Sync>(forge: &F, request: &PublishRequest) -> Published {
    let mut published = Published::default();
    let mut set = 0;
    for status in &request.statuses {
        match forge.set_status(&request.sha, status).await {
            Ok(()) => set += 1,
            Err(error) => {
                published.warnings.push(format!(
                    "cannot set the commit status `{}`: {error}{}",
                    status.context,
                    hint(&error, "statuses: write")
                ));
                break;
            }
        }
    }
    if set > 0 {
        let short: String = request.sha.chars().take(7).collect();
        published.notes.push(format!(
            "set {} on {short}",
            crate::report::plural(set, "commit status").replace("statuss", "statuses")
        ));
    }
    if let Some(comment) = &request.comment {
        match sticky(forge, comment).await {
            Ok((id, true)) => published.notes.push(format!(
                "updated comment {id} on pull request #{}",
                comment.pull_request
            )),
            Ok((id, false)) => published.notes.push(format!(
                "commented on pull request #{} (comment {id})",
                comment.pull_request
            )),
            Err(error) => published.warnings.push(format!(
                "cannot comment on pull request #{}: {error}{}",
                comment.pull_request,
                hint(&error, "pull-requests: write")
            )),
        }
    }
    published
}

/// Returns the comment's id and whether it existed.
async fn sticky<F: Forge + Sync>(
    forge: &F,
    comment: &CommentRequest,
) -> Result<(u64, bool), ForgeError> {
    match forge
        .find_comment(comment.pull_request, &comment.marker)
        .await?
    {
        Some(id) => {
            forge.update_comment(id, &comment.body).await?;
            Ok((id, true))
        }
        None => forge
            .create_comment(comment.pull_request, &comment.body)
            .await
            .map(|id| (id, false)),
    }
}

fn hint(error: &ForgeError, permission: &str) -> String {
    if error.is_permission() {
        format!(
            " (the token may not do this: a pull request from a fork gets a read-only token; elsewhere give the job `permissions: {permission}`)"
        )
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::forge::StatusState;

    /// A forge in memory: comments by id, statuses as set, and an optional refusal.
    #[derive(Default)]
    struct Fake {
        comments: Mutex<Vec<(u64, u64, String)>>,
        statuses: Mutex<Vec<(String, CommitStatus)>>,
        refuse: Option<u16>,
    }

    impl Fake {
        fn refusal(&self) -> Result<(), ForgeError> {
            match self.refuse {
                Some(status) => Err(ForgeError {
                    status: Some(status),
                    message: "Resource not accessible by integration".to_owned(),
                }),
                None => Ok(()),
            }
        }
    }

    impl Forge for Fake {
        async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<(), ForgeError> {
            self.refusal()?;
            self.statuses
                .lock()
                .expect("lock")
                .push((sha.to_owned(), status.clone()));
            Ok(())
        }

        async fn find_comment(
            &self,
            pull_request: u64,
            marker: &str,
        ) -> Result<Option<u64>, ForgeError> {
            Ok(self
                .comments
                .lock()
                .expect("lock")
                .iter()
                .find(|(_, pr, body)| *pr == pull_request && body.contains(marker))
                .map(|(id, _, _)| *id))
        }

        async fn create_comment(&self, pull_request: u64, body: &str) -> Result<u64, ForgeError> {
            self.refusal()?;
            let mut comments = self.comments.lock().expect("lock");
            let id = 100 + comments.len() as u64;
            comments.push((id, pull_request, body.to_owned()));
            Ok(id)
        }

        async fn update_comment(&self, comment: u64, body: &str) -> Result<(), ForgeError> {
            self.refusal()?;
            for entry in self.comments.lock().expect("lock").iter_mut() {
                if entry.0 == comment {
                    entry.2 = body.to_owned();
                }
            }
            Ok(())
        }
    }

    fn status(context: &str) -> CommitStatus {
        CommitStatus {
            state: StatusState::Success,
            context: context.to_owned(),
            description: "built".to_owned(),
            target_url: None,
        }
    }

    fn request(body: &str) -> PublishRequest {
        PublishRequest {
            sha: "abcdef0123".to_owned(),
            statuses: vec![status("sifbake/a"), status("sifbake/b")],
            comment: Some(CommentRequest {
                pull_request: 7,
                marker: "<!-- sifbake -->".to_owned(),
                body: format!("<!-- sifbake -->\n{body}"),
            }),
        }
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn the_comment_is_created_once_then_updated_in_place() {
        let forge = Fake::default();
        let first = block_on(publish(&forge, &request("first")));
        assert_eq!(
            first.notes,
            [
                "set 2 commit statuses on abcdef0",
                "commented on pull request #7 (comment 100)"
            ]
        );
        let second = block_on(publish(&forge, &request("second")));
        assert_eq!(second.notes[1], "updated comment 100 on pull request #7");
        let comments = forge.comments.lock().expect("lock");
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0].2, "<!-- sifbake -->\nsecond");
        assert_eq!(forge.statuses.lock().expect("lock").len(), 4);
    }

    #[test]
    fn a_read_only_token_gives_warnings_not_failures() {
        let forge = Fake {
            refuse: Some(403),
            ..Fake::default()
        };
        let published = block_on(publish(&forge, &request("x")));
        assert!(published.notes.is_empty(), "{published:?}");
        assert_eq!(published.warnings.len(), 2, "one per kind: {published:?}");
        assert!(
            published.warnings[0].starts_with(
                "cannot set the commit status `sifbake/a`: HTTP 403: Resource not accessible by integration (the token may not do this"
            ),
            "{published:?}"
        );
        assert!(published.warnings[1].contains("pull-requests: write"));
    }
}
