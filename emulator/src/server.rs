//! Starting, serving and stopping the emulator.
//!
//! Connections are served by hyper directly rather than `axum::serve`, because a `reset`
//! fault must be able to kill the one TCP connection a request arrived on (see `conn.rs`).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::apiver::{ApiVersion, Features};
use crate::build::BuildRegistry;
use crate::buildctx::ContextStore;
use crate::config::EmulatorConfig;
use crate::conn::{ConnHandle, ResettableStream};
use crate::counters::{CounterStore, Counters};
use crate::error::Error;
use crate::faults::{ActiveFault, FaultRegistry, FaultRule};
use crate::ids::IdGenerator;
use crate::keystore::{Keystore, StoredKey};
use crate::library::Library;
use crate::persist::Persistence;
use crate::record::{RecordedRequest, Recorder};
use crate::router::router;
use crate::state::{AppState, Settings, Shared};
use crate::uploads::UploadRegistry;

/// How long connections get to finish their requests at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Entry point: starts emulators.
#[derive(Debug, Clone, Copy)]
pub struct Emulator;

impl Emulator {
    /// Binds the listener, loads any persisted library and starts serving.
    ///
    /// The emulator accepts connections once this returns; [`RunningEmulator::url`] is its
    /// base URL, which every service in its discovery document points at.
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, Error> {
        let api_version = match &config.library_api_version {
            Some(text) => Some(ApiVersion::parse(text).ok_or_else(|| Error::Config {
                message: format!("library API version `{text}` is not a semantic version"),
            })?),
            None => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let url = format!("http://{}", reachable(addr));
        let (persistence, library, keystore) = match &config.data_dir {
            Some(dir) => {
                let (persistence, library) = Persistence::open(dir).await?;
                let keystore = persistence.load_keys().await?;
                (Some(persistence), library, keystore)
            }
            None => (None, Library::default(), Keystore::default()),
        };
        let faults = FaultRegistry::default();
        for rule in config.faults {
            faults.add(rule);
        }
        let state = Arc::new(Shared {
            settings: Settings {
                tokens: config.tokens,
                admin_token: config.admin_token,
                user: config.user,
                strict_bases: config.strict_bases,
                max_build_duration: config.max_build_duration,
                default_build_duration: config.default_build_duration,
                api_version: config.library_api_version,
                features: Features::from_version(api_version.as_ref()),
                record_requests: config.record_requests,
                keystore: config.keystore,
            },
            base_url: url.clone(),
            ids: IdGenerator::new(),
            counters: CounterStore::default(),
            recorder: Recorder::default(),
            faults,
            library: Mutex::new(library),
            keystore: Mutex::new(keystore),
            persistence,
            builds: BuildRegistry::default(),
            contexts: ContextStore::default(),
            uploads: UploadRegistry::default(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        let app = router(Arc::clone(&state));
        let accept = tokio::spawn(accept_loop(listener, app, state.shutdown.clone()));
        tracing::info!(%url, "scs-emulator listening");
        Ok(RunningEmulator {
            state,
            url,
            addr,
            accept: Some(accept),
        })
    }
}

/// Returns an address clients can connect to: loopback for a wildcard bind.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// Accepts connections until shutdown, then waits for them to finish.
async fn accept_loop(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "failed to accept a connection");
                continue;
            }
        };
        // Small JSON replies and log frames should not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(stream, app.clone(), shutdown.clone()));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Serves one connection until it ends, a fault resets it, or shutdown.
async fn serve_connection(stream: tokio::net::TcpStream, app: Router, shutdown: CancellationToken) {
    let handle = ConnHandle::default();
    let io = TokioIo::new(ResettableStream::new(stream, handle.clone()));
    let request_handle = handle.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(request_handle.clone());
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let connection = http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        () = handle.reset_requested() => {
            tracing::info!("resetting a connection (injected fault)");
        }
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
    }
}

/// A running emulator. Dropping it stops it in the background; [`RunningEmulator::shutdown`]
/// stops it and waits.
#[derive(Debug)]
pub struct RunningEmulator {
    state: AppState,
    url: String,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// Returns the base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Returns the bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns a snapshot of the request and build counters.
    pub fn counters(&self) -> Counters {
        self.state.counters.snapshot()
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        self.state.counters.reset();
    }

    /// Returns the shapes of the requests served so far (empty unless
    /// [`EmulatorConfig::record_requests`] is on).
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.state.recorder.snapshot()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_recorded_requests(&self) {
        self.state.recorder.clear();
    }

    /// Returns a handle to install and remove faults.
    pub fn faults(&self) -> Faults {
        Faults {
            state: Arc::clone(&self.state),
        }
    }

    /// Returns a build's log so far, or `None` for an unknown build.
    pub fn build_log(&self, build_id: &str) -> Option<String> {
        self.state
            .builds
            .get(build_id)
            .map(|build| build.log_text())
    }

    /// Returns the keys the keystore holds, by fingerprint.
    pub fn keys(&self) -> Vec<StoredKey> {
        self.state.keystore().all()
    }

    /// Stops accepting, ends builds and log streams, and waits for connections to finish.
    pub async fn shutdown(mut self) {
        self.state.shutdown.cancel();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        self.state.tasks.close();
        self.state.tasks.wait().await;
        tracing::info!(url = %self.url, "scs-emulator stopped");
    }

    /// Stops the emulator as [`RunningEmulator::shutdown`] does, then returns the counters,
    /// final once every build task has ended: a build cancelled just before is counted as
    /// cancelled (its task counts it when it notices), one still running as neither.
    pub async fn shutdown_and_count(self) -> Counters {
        let state = Arc::clone(&self.state);
        self.shutdown().await;
        state.counters.snapshot()
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// An in-process handle on an emulator's faults.
#[derive(Debug, Clone)]
pub struct Faults {
    state: AppState,
}

impl Faults {
    /// Installs a rule and returns its id.
    pub fn add(&self, rule: FaultRule) -> u64 {
        self.state.faults.add(rule)
    }

    /// Removes a rule; returns false if unknown.
    pub fn remove(&self, id: u64) -> bool {
        self.state.faults.remove(id)
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.state.faults.clear();
    }

    /// Returns the installed rules with their remaining firings.
    pub fn list(&self) -> Vec<ActiveFault> {
        self.state.faults.list()
    }
}
