//! How the clients retry a call that failed for a transient reason: exponential backoff with
//! jitter, a few attempts, and the service's `Retry-After` (capped) when it sent one.
//!
//! Which calls may be retried is decided by the caller ([`RetryPolicy::run`] takes the test):
//! reads, uploads, tags, deletes and cancels on any transient fault; a build submission only
//! when the service cannot have acted on it ([`ServiceError::not_acted_on`]).
//!
//! The wait itself is a [`Pause`], so tests replace the clock with one that records the
//! delays and returns at once: no test sleeps, and none depends on timing.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::service::ServiceError;

/// A future the retry loop awaits between attempts.
pub type PauseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Waits between attempts; [`Pause::tokio`] sleeps, [`Pause::recording`] only records.
#[derive(Clone)]
pub struct Pause(Arc<dyn Fn(Duration) -> PauseFuture + Send + Sync>);

impl Pause {
    /// Sleeps on tokio's clock.
    pub fn tokio() -> Pause {
        Pause(Arc::new(|delay| Box::pin(tokio::time::sleep(delay))))
    }

    /// Returns at once, and records each delay it was asked for in the returned log.
    pub fn recording() -> (Pause, PauseLog) {
        let log = PauseLog::default();
        let delays = Arc::clone(&log.0);
        let pause = Pause(Arc::new(move |delay| {
            delays
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(delay);
            Box::pin(std::future::ready(()))
        }));
        (pause, log)
    }
}

impl fmt::Debug for Pause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pause")
    }
}

// A named type rather than a closure: backon wants a `'static` sleeper, and a closure made
// inside the generic `run` would carry the caller's lifetimes in its type.
impl backon::Sleeper for Pause {
    type Sleep = PauseFuture;

    fn sleep(&self, delay: Duration) -> PauseFuture {
        (self.0)(delay)
    }
}

/// The delays a [`Pause::recording`] was asked for.
#[derive(Clone, Debug, Default)]
pub struct PauseLog(Arc<Mutex<Vec<Duration>>>);

impl PauseLog {
    /// Returns the delays so far, oldest first.
    pub fn delays(&self) -> Vec<Duration> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Told about each retry before its wait: the error that failed the attempt, the attempt's
/// number (from 1) and the wait. The command line shows these, so a stalled run says why.
#[derive(Clone)]
pub struct RetryObserver(Arc<ObserveFn>);

/// What a [`RetryObserver`] calls: the error, the attempt that failed, the wait.
type ObserveFn = dyn Fn(&ServiceError, u32, Duration) + Send + Sync;

impl RetryObserver {
    /// Returns an observer calling `observe`.
    pub fn new(observe: impl Fn(&ServiceError, u32, Duration) + Send + Sync + 'static) -> Self {
        RetryObserver(Arc::new(observe))
    }
}

impl fmt::Debug for RetryObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryObserver")
    }
}

/// How a failed call is retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means no retry.
    pub attempts: usize,
    /// The first delay; it doubles after each attempt.
    pub min_delay: Duration,
    /// The longest delay backoff reaches.
    pub max_delay: Duration,
    /// The longest a `Retry-After` is honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// Adds a random part (up to the delay itself) so parallel builds do not retry in step.
    pub jitter: bool,
    /// How the delay is waited out.
    pub pause: Pause,
    /// Told about each retry, if set.
    pub observer: Option<RetryObserver>,
}

impl Default for RetryPolicy {
    /// Four attempts over about 7 s (1 s, 2 s, 4 s plus jitter); a `Retry-After` of up to 60 s
    /// is honoured.
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
            pause: Pause::tokio(),
            observer: None,
        }
    }
}

impl RetryPolicy {
    /// Returns a policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Returns the policy for clean-up calls (cancelling a build, deleting a context): the
    /// same attempts, but a backoff of 250 ms, 500 ms, 1 s (at most twice that with
    /// jitter), so that every attempt fits in the few seconds the executor gives a clean-up
    /// (5 s, as SingularityCE gives its cancel). With the usual 1 s, 2 s, 4 s the last
    /// attempts came after that bound: a build whose cancel met two or three 5xx in a row
    /// was left running.
    #[must_use]
    pub fn for_cleanup(&self) -> RetryPolicy {
        RetryPolicy {
            min_delay: self.min_delay.min(Duration::from_millis(250)),
            max_delay: self.max_delay.min(Duration::from_secs(1)),
            max_retry_after: self.max_retry_after.min(Duration::from_secs(1)),
            ..self.clone()
        }
    }

    /// Returns this policy with another way to wait.
    #[must_use]
    pub fn with_pause(mut self, pause: Pause) -> RetryPolicy {
        self.pause = pause;
        self
    }

    /// Runs `call` until it succeeds, fails with an error `retry_when` refuses, or the attempts
    /// are used up.
    pub async fn run<T, F, Fut>(
        &self,
        call: F,
        retry_when: fn(&ServiceError) -> bool,
    ) -> Result<T, ServiceError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let mut backoff = ExponentialBuilder::new()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1));
        if self.jitter {
            backoff = backoff.with_jitter();
        }
        let max_retry_after = self.max_retry_after;
        let observer = self.observer.clone();
        let mut attempt = 0;
        call.retry(backoff)
            .sleep(self.pause.clone())
            .when(retry_when)
            .notify(move |error, delay| {
                attempt += 1;
                if let Some(observer) = &observer {
                    (observer.0)(error, attempt, delay);
                }
            })
            .adjust(move |error, delay| {
                // `None` means the attempts are used up; a Retry-After does not add one.
                delay.map(|delay| match error.retry_after {
                    Some(asked) => asked.min(max_retry_after),
                    None => delay,
                })
            })
            .await
    }
}

/// Returns true for the errors any idempotent call may be retried on.
pub fn transient(error: &ServiceError) -> bool {
    error.is_transient()
}

/// Returns true for the errors a build submission may be retried on: transient, and the
/// service cannot have acted on the request (never delivered, 429, or an error status), so a
/// retry cannot start a second build.
pub fn transient_not_acted_on(error: &ServiceError) -> bool {
    error.is_transient() && error.not_acted_on()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::scs::service::ServiceErrorKind;

    fn status(code: u16) -> ServiceError {
        ServiceError::new(
            ServiceErrorKind::Status {
                code,
                message: String::new(),
            },
            "testing",
            "",
        )
    }

    fn policy() -> (RetryPolicy, PauseLog) {
        let (pause, log) = Pause::recording();
        let policy = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        }
        .with_pause(pause);
        (policy, log)
    }

    /// Fails with the given errors in turn, then succeeds.
    async fn run_with(
        policy: &RetryPolicy,
        errors: Vec<ServiceError>,
        when: fn(&ServiceError) -> bool,
    ) -> (Result<(), ServiceError>, usize) {
        let calls = AtomicUsize::new(0);
        let result = policy
            .run(
                || {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    let outcome = match errors.get(n) {
                        Some(error) => Err(error.clone()),
                        None => Ok(()),
                    };
                    async move { outcome }
                },
                when,
            )
            .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn the_observer_hears_each_retry_with_its_wait() {
        let (policy, _) = policy();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&heard);
        let policy = RetryPolicy {
            observer: Some(RetryObserver::new(move |error, attempt, delay| {
                sink.lock().unwrap_or_else(PoisonError::into_inner).push((
                    error.kind.clone(),
                    attempt,
                    delay,
                ));
            })),
            ..policy
        };
        let (result, calls) = run_with(&policy, vec![status(502), status(503)], transient).await;
        assert!(result.is_ok());
        assert_eq!(calls, 3);
        let heard = heard.lock().unwrap_or_else(PoisonError::into_inner).clone();
        assert_eq!(
            heard,
            vec![
                (status(502).kind, 1, Duration::from_secs(1)),
                (status(503).kind, 2, Duration::from_secs(2)),
            ]
        );
    }

    #[tokio::test]
    async fn backs_off_exponentially_up_to_the_attempts() {
        let (policy, log) = policy();
        let (result, calls) = run_with(&policy, vec![status(503); 5], transient).await;
        assert_eq!(result.map_err(|e| e.kind), Err(status(503).kind));
        assert_eq!(calls, 4);
        assert_eq!(log.delays(), [1, 2, 4].map(Duration::from_secs).to_vec());
    }

    #[tokio::test]
    async fn honours_retry_after_within_the_cap() {
        let (policy, log) = policy();
        let mut slow = ServiceError::new(ServiceErrorKind::RateLimited, "testing", "");
        slow.retry_after = Some(Duration::from_secs(7));
        let mut very_slow = slow.clone();
        very_slow.retry_after = Some(Duration::from_secs(3600));
        let (result, calls) = run_with(&policy, vec![slow, very_slow], transient).await;
        assert!(result.is_ok());
        assert_eq!(calls, 3);
        assert_eq!(
            log.delays(),
            vec![Duration::from_secs(7), Duration::from_secs(60)]
        );
    }

    #[tokio::test]
    async fn stops_on_errors_the_test_refuses() {
        let (policy, log) = policy();
        let timeout = ServiceError::new(ServiceErrorKind::Timeout, "testing", "");
        let (result, calls) = run_with(&policy, vec![timeout], transient_not_acted_on).await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
        let (result, calls) = run_with(&policy, vec![status(404)], transient).await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
        assert!(log.delays().is_empty());
        let (result, calls) = run_with(&policy, vec![status(502)], transient_not_acted_on).await;
        assert!(result.is_ok());
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    async fn clean_up_retries_fit_in_a_few_seconds() {
        let (policy, log) = policy();
        let cleanup = policy.for_cleanup();
        let (result, calls) = run_with(&cleanup, vec![status(503); 3], transient).await;
        assert!(result.is_ok());
        assert_eq!(calls, 4);
        assert_eq!(
            log.delays(),
            [250, 500, 1000].map(Duration::from_millis).to_vec()
        );
        let mut slow = ServiceError::new(ServiceErrorKind::RateLimited, "testing", "");
        slow.retry_after = Some(Duration::from_secs(30));
        let (result, _) = run_with(&cleanup, vec![slow], transient).await;
        assert!(result.is_ok());
        assert_eq!(log.delays().last(), Some(&Duration::from_secs(1)));
        // With jitter, the worst case still leaves time for the last attempt.
        let jittered = RetryPolicy::default().for_cleanup();
        let worst: Duration = (0..jittered.attempts - 1)
            .map(|n| (jittered.min_delay * 2u32.pow(n as u32)).min(jittered.max_delay) * 2)
            .sum();
        assert!(worst <= Duration::from_millis(3500), "{worst:?}");
    }

    #[tokio::test]
    async fn none_means_one_attempt() {
        let (pause, log) = Pause::recording();
        let policy = RetryPolicy::none().with_pause(pause);
        let (result, calls) = run_with(&policy, vec![status(503)], transient).await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
        assert!(log.delays().is_empty());
    }
}
