//! How a run behaves: parallelism, failure policy, cancellation, retries and polling.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::scs::ServiceError;
use crate::secrets::Redactor;

/// The settings of one run.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// The most builds in flight at once (`--jobs`); 0 counts as 1. Retags take no slot.
    pub jobs: usize,
    /// `--fail-fast`: on the first failure cancel the running builds and start nothing new.
    /// Otherwise (`--keep-going`) everything not built on a failed job still runs.
    pub fail_fast: bool,
    /// Cancelled by the caller on SIGINT/SIGTERM: running builds are cancelled remotely,
    /// nothing new starts, and [`execute`](super::execute) returns.
    pub cancel: CancellationToken,
    /// A directory the run may write build-context archives in (one subdirectory per job);
    /// the caller creates it and removes it after the run (a temporary directory).
    pub scratch: PathBuf,
    /// The library this run looks images up and tags in. It is sent as the request's
    /// `libraryURL`, which says where the builder pulls `Bootstrap: library` bases from
    /// (SingularityCE's remote builder sends it so); the builder pushes to its own library,
    /// which its reply names, and a reply naming another one fails the job at once.
    pub library_url: Option<String>,
    /// Retries of transient failures of calls that are safe to repeat.
    pub retry: RetryPolicy,
    /// Polling of a build's status after its log stream dropped.
    pub poll: PollPolicy,
    /// The longest a clean-up call (cancelling a build, deleting a context) may take.
    pub cleanup_timeout: Duration,
    /// Masks the secrets sifbake holds in build logs, whatever the builder echoes.
    pub redactor: Redactor,
    /// `%labels` added to every definition as it is submitted (provenance: revision,
    /// source, created, ...). Added after the input digest was taken, so they never make an
    /// image look changed.
    pub labels: Vec<(String, String)>,
    /// The registry client mirrors are pushed with; without one, nothing is mirrored.
    pub registry: Option<super::mirror::MirrorClient>,
    /// The key that signs each signed target's images, by target name. A published job of
    /// such a target builds ephemeral and tags only the signed upload (`sign.rs`).
    pub signers: std::collections::HashMap<String, std::sync::Arc<super::sign::Signer>>,
    /// Keep each signed upload in `scratch` (`sign::kept_signed`) for `build --pull`.
    pub keep_signed: bool,
}

impl ExecOptions {
    /// Returns the defaults: one build at a time, keep going, no retries beyond the policy's.
    pub fn new(scratch: PathBuf) -> Self {
        ExecOptions {
            jobs: 1,
            fail_fast: false,
            cancel: CancellationToken::new(),
            scratch,
            library_url: None,
            // The HTTP clients already retry every call with backoff; retrying again here
            // would multiply the attempts (4 × 5) and the waits. Callers with plain clients
            // (tests) raise it.
            retry: RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
            poll: PollPolicy::default(),
            // SingularityCE gives its cancel request 5 s (PROTOCOL.md §2.4).
            cleanup_timeout: Duration::from_secs(5),
            redactor: Redactor::default(),
            labels: Vec::new(),
            registry: None,
            signers: std::collections::HashMap::new(),
            keep_signed: false,
        }
    }
}

/// Exponential backoff for transient failures.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub initial: Duration,
    /// The longest wait the backoff reaches (a `Retry-After` may ask for more).
    pub max: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this, as the clients do
    /// (a service asking for a day must not hold a CI job for a day).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Returns the wait after failed attempt `attempt` (from 1): the backoff, or the
    /// service's `Retry-After` when that is longer, up to [`RetryPolicy::max_retry_after`].
    pub fn delay(&self, attempt: u32, error: &ServiceError) -> Duration {
        let backoff = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max);
        error.retry_after.map_or(backoff, |after| {
            after.min(self.max_retry_after.max(backoff)).max(backoff)
        })
    }
}

/// How often a build's status is polled while it runs.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct PollPolicy {
    /// The wait after the first answer saying "not complete"; it doubles up to `max`.
    pub initial: Duration,
    pub max: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scs::ServiceErrorKind;

    fn rate_limited(after: Option<u64>) -> ServiceError {
        let mut error = ServiceError::new(ServiceErrorKind::RateLimited, "testing", "");
        error.retry_after = after.map(Duration::from_secs);
        error
    }

    #[test]
    fn delays_back_off_and_honour_retry_after_within_the_cap() {
        let policy = RetryPolicy::default();
        let secs = |attempt, after| policy.delay(attempt, &rate_limited(after)).as_secs();
        assert_eq!(
            [1, 2, 3, 4, 5, 6].map(|n| secs(n, None)),
            [1, 2, 4, 8, 16, 30]
        );
        assert_eq!(secs(1, Some(7)), 7);
        assert_eq!(secs(4, Some(3)), 8, "the backoff when it is longer");
        assert_eq!(secs(1, Some(86_400)), 60, "a day is cut to the cap");
        assert_eq!(secs(1, Some(u64::MAX / 4)), 60);
    }
}
