//! The state shared by every handler and background build task.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::apiver::Features;
use crate::build::BuildRegistry;
use crate::buildctx::ContextStore;
use crate::counters::CounterStore;
use crate::envelope::ApiError;
use crate::faults::FaultRegistry;
use crate::ids::IdGenerator;
use crate::keystore::Keystore;
use crate::library::Library;
use crate::persist::Persistence;
use crate::record::Recorder;
use crate::uploads::UploadRegistry;

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Accepted bearer tokens; empty means open mode.
    pub tokens: Vec<String>,
    /// Admin token, if any.
    pub admin_token: Option<String>,
    /// The user tokens authenticate as.
    pub user: String,
    /// Whether every library base must exist.
    pub strict_bases: bool,
    /// Maximum build duration.
    pub max_build_duration: Duration,
    /// Build duration without a directive.
    pub default_build_duration: Duration,
    /// The announced library `apiVersion`.
    pub api_version: Option<String>,
    /// The library features the version implies.
    pub features: Features,
    /// Whether the wire recorder is on.
    pub record_requests: bool,
    /// Whether the keystore is served.
    pub keystore: bool,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// Settings fixed at start.
    pub settings: Settings,
    /// The base URL clients reach this emulator at (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// Id generator.
    pub ids: IdGenerator,
    /// Traffic counters.
    pub counters: CounterStore,
    /// The shapes of the requests served, when recording is on.
    pub recorder: Recorder,
    /// Installed faults.
    pub faults: FaultRegistry,
    /// The library.
    pub library: Mutex<Library>,
    /// The OpenPGP keystore.
    pub keystore: Mutex<Keystore>,
    /// Where the library persists, if anywhere.
    pub persistence: Option<Persistence>,
    /// Builds.
    pub builds: BuildRegistry,
    /// Build contexts.
    pub contexts: ContextStore,
    /// Pending presigned uploads.
    pub uploads: UploadRegistry,
    /// Cancelled when the emulator shuts down.
    pub shutdown: CancellationToken,
    /// Background tasks (builds, websocket sessions) awaited at shutdown.
    pub tasks: TaskTracker,
}

/// The handle handlers receive.
pub type AppState = Arc<Shared>;

impl Shared {
    /// Locks the library.
    pub fn library(&self) -> MutexGuard<'_, Library> {
        // Library mutations validate before they change anything, so a panic elsewhere
        // cannot leave it half-updated; a poisoned lock is still usable.
        self.library.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Persists the library if a data directory is configured.
    pub async fn persist(&self) -> Result<(), ApiError> {
        let Some(persistence) = &self.persistence else {
            return Ok(());
        };
        persistence.save(&self.library).await.map_err(|error| {
            tracing::error!(error = %error, "failed to persist the library");
            ApiError::internal(format!("failed to persist the library: {error}"))
        })
    }

    /// Locks the keystore.
    pub fn keystore(&self) -> MutexGuard<'_, Keystore> {
        // Additions replace whole entries, so a poisoned lock holds no half-made key.
        self.keystore.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Persists the keystore if a data directory is configured.
    pub async fn persist_keys(&self) -> Result<(), ApiError> {
        let Some(persistence) = &self.persistence else {
            return Ok(());
        };
        persistence
            .save_keys(&self.keystore)
            .await
            .map_err(|error| {
                tracing::error!(error = %error, "failed to persist the keystore");
                ApiError::internal(format!("failed to persist the keystore: {error}"))
            })
    }

    /// Returns an absolute URL on this emulator for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}
