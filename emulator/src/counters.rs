//! Counters of what the emulator received, so tests can assert on traffic ("one build was
//! submitted, not two").

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A snapshot of the counters.
///
/// `requests` counts every request that reached a route, keyed by `"METHOD /route/{param}"`
/// (for example `"POST /v1/build"`), including requests later refused by a fault or by
/// authentication. The named counters count outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Requests received per route.
    pub requests: BTreeMap<String, u64>,
    /// Builds accepted by `POST /v1/build`.
    pub builds_submitted: u64,
    /// Builds that finished with an image.
    pub builds_succeeded: u64,
    /// Builds that finished without an image (failure, timeout or cancellation).
    pub builds_failed: u64,
    /// Builds cancelled through `_cancel`.
    pub builds_cancelled: u64,
    /// Build contexts whose upload was accepted.
    pub contexts_uploaded: u64,
    /// Images whose upload completed (v1, v2 single or v2 multipart).
    pub images_uploaded: u64,
    /// Image downloads served.
    pub images_downloaded: u64,
    /// Websocket log streams opened.
    pub websocket_sessions: u64,
    /// Requests answered by an injected fault instead of the real handler.
    pub faults_injected: u64,
}

impl Counters {
    /// Returns the number of requests received on a route key such as `"POST /v1/build"`.
    pub fn requests_to(&self, route: &str) -> u64 {
        self.requests.get(route).copied().unwrap_or(0)
    }
}

/// The named counters, for [`CounterStore::bump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// See [`Counters::builds_submitted`].
    BuildsSubmitted,
    /// See [`Counters::builds_succeeded`].
    BuildsSucceeded,
    /// See [`Counters::builds_failed`].
    BuildsFailed,
    /// See [`Counters::builds_cancelled`].
    BuildsCancelled,
    /// See [`Counters::contexts_uploaded`].
    ContextsUploaded,
    /// See [`Counters::images_uploaded`].
    ImagesUploaded,
    /// See [`Counters::images_downloaded`].
    ImagesDownloaded,
    /// See [`Counters::websocket_sessions`].
    WebsocketSessions,
    /// See [`Counters::faults_injected`].
    FaultsInjected,
}

/// The live counters behind a lock.
#[derive(Debug, Default)]
pub struct CounterStore {
    inner: Mutex<Counters>,
}

impl CounterStore {
    /// Counts one request on `route`.
    pub fn record_request(&self, route: String) {
        let mut counters = self.lock();
        *counters.requests.entry(route).or_insert(0) += 1;
    }

    /// Adds one to a named counter.
    pub fn bump(&self, counter: Counter) {
        let mut counters = self.lock();
        let slot = match counter {
            Counter::BuildsSubmitted => &mut counters.builds_submitted,
            Counter::BuildsSucceeded => &mut counters.builds_succeeded,
            Counter::BuildsFailed => &mut counters.builds_failed,
            Counter::BuildsCancelled => &mut counters.builds_cancelled,
            Counter::ContextsUploaded => &mut counters.contexts_uploaded,
            Counter::ImagesUploaded => &mut counters.images_uploaded,
            Counter::ImagesDownloaded => &mut counters.images_downloaded,
            Counter::WebsocketSessions => &mut counters.websocket_sessions,
            Counter::FaultsInjected => &mut counters.faults_injected,
        };
        *slot += 1;
    }

    /// Returns a copy of the counters.
    pub fn snapshot(&self) -> Counters {
        self.lock().clone()
    }

    /// Sets every counter back to zero.
    pub fn reset(&self) {
        *self.lock() = Counters::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while holding this lock cannot leave the counters inconsistent (each
        // update is a single increment), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
