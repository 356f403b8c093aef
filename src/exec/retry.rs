//! Retrying calls that are safe to repeat, with backoff, telling reporters each time.
//!
//! Only idempotent calls go through here (uploading a context keyed by its digest, reading
//! a status, finding an image, setting tags). `submit` never does: the client already
//! retries a submission the service did not act on, and a second one could start a second
//! build (DESIGN.md, "Execution").

use std::future::Future;

use tokio::time::sleep;

use crate::scs::ServiceError;

use super::events::{Emitter, EventKind, RetryWhat};
use super::job::JobId;
use super::options::RetryPolicy;

/// Calls `call` until it succeeds, fails for good, or has failed `policy.attempts` times.
pub(super) async fn retry<T, F, Fut>(
    emitter: &Emitter,
    policy: &RetryPolicy,
    job: JobId,
    what: RetryWhat,
    call: F,
) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    attempt(emitter, policy, job, what, call, policy.attempts).await
}

/// Calls `call` until it succeeds or fails for good, however many transient failures come
/// first: for calls whose giving up would waste a build the service has made or is making
/// (following a running build, finding and tagging its image). A service out for minutes
/// during an hour-long build must not cost the build; the job's own timeout bounds the wait.
pub(super) async fn persist<T, F, Fut>(
    emitter: &Emitter,
    policy: &RetryPolicy,
    job: JobId,
    what: RetryWhat,
    call: F,
) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    attempt(emitter, policy, job, what, call, u32::MAX).await
}

/// Calls `call` up to `limit` times while it fails transiently, telling reporters of each
/// retry and waiting the policy's delay.
async fn attempt<T, F, Fut>(
    emitter: &Emitter,
    policy: &RetryPolicy,
    job: JobId,
    what: RetryWhat,
    mut call: F,
    limit: u32,
) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let mut attempt: u32 = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() && attempt < limit => {
                let delay = policy.delay(attempt, &error);
                emitter.emit(EventKind::Retrying {
                    job,
                    what,
                    attempt,
                    delay,
                    error: (&error).into(),
                });
                sleep(delay).await;
                attempt = attempt.saturating_add(1);
            }
            Err(error) => return Err(error),
        }
    }
}
