//! The emulator's configuration, shared by the library API and the command line.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::faults::FaultRule;

/// The library `apiVersion` announced by default: it turns on v2 uploads and v2 arch tags in
/// clients (PROTOCOL.md §1.2), the newest behaviour real clients know.
pub const DEFAULT_LIBRARY_API_VERSION: &str = "2.0.0-alpha.2";

/// The maximum build duration the real service announces today (PROTOCOL.md §2.7).
pub const DEFAULT_MAX_BUILD_DURATION: Duration = Duration::from_secs(3600);

/// How the emulator is set up. Build with `EmulatorConfig::default()` and struct update
/// syntax, or with the `with_*` methods.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Bearer tokens accepted on every protected endpoint. With none, the emulator runs
    /// open: any request is accepted, with or without a token.
    pub tokens: Vec<String>,
    /// Token for the admin API under `/_emulator/`. With none, any accepted token works.
    pub admin_token: Option<String>,
    /// Directory where images and library metadata persist across restarts; `None` keeps
    /// everything in memory.
    pub data_dir: Option<PathBuf>,
    /// The library `apiVersion` to announce; `None` announces none (a v1-only library).
    pub library_api_version: Option<String>,
    /// Fail builds whose `Bootstrap: library` base is not in this emulator's library, instead
    /// of treating bases under unknown entities as external public images.
    pub strict_bases: bool,
    /// The longest a build may run before it is cancelled, as the real service does.
    pub max_build_duration: Duration,
    /// How long a build takes when its definition has no `# emulator: duration=` directive.
    pub default_build_duration: Duration,
    /// The user name tokens authenticate as; ephemeral builds land under this entity.
    pub user: String,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// Record the shape of every request (`RunningEmulator::recorded_requests`,
    /// `GET /_emulator/requests`): for comparing clients' use of the protocol.
    pub record_requests: bool,
    /// Serve the HKP keystore and name it as `keystoreAPI` in the discovery document; off,
    /// the remote has no keystore, as some private deployments.
    pub keystore: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tokens: Vec::new(),
            admin_token: None,
            data_dir: None,
            library_api_version: Some(DEFAULT_LIBRARY_API_VERSION.to_owned()),
            strict_bases: false,
            max_build_duration: DEFAULT_MAX_BUILD_DURATION,
            default_build_duration: Duration::ZERO,
            user: "emulated-user".to_owned(),
            faults: Vec::new(),
            record_requests: false,
            keystore: true,
        }
    }
}

impl EmulatorConfig {
    /// Adds an accepted bearer token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.tokens.push(token.into());
        self
    }

    /// Sets the data directory.
    #[must_use]
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Makes the library announce no `apiVersion`, so clients use the v1 endpoints only.
    #[must_use]
    pub fn v1_only(mut self) -> Self {
        self.library_api_version = None;
        self
    }

    /// Turns strict base checking on or off.
    #[must_use]
    pub fn with_strict_bases(mut self, strict: bool) -> Self {
        self.strict_bases = strict;
        self
    }

    /// Sets the maximum build duration.
    #[must_use]
    pub fn with_max_build_duration(mut self, duration: Duration) -> Self {
        self.max_build_duration = duration;
        self
    }

    /// Turns the wire recorder on or off.
    #[must_use]
    pub fn with_recording(mut self, record: bool) -> Self {
        self.record_requests = record;
        self
    }

    /// Leaves the keystore out: no `keystoreAPI` in discovery, no `/pks/` routes.
    #[must_use]
    pub fn without_keystore(mut self) -> Self {
        self.keystore = false;
        self
    }

    /// Sets the build duration used when a definition has no directive.
    #[must_use]
    pub fn with_default_build_duration(mut self, duration: Duration) -> Self {
        self.default_build_duration = duration;
        self
    }
}
