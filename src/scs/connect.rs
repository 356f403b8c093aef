//! Setting up the clients a run uses: find the services, check the token once, learn the
//! library's tag API, and hand back a build client and a library client that share one
//! HTTP stack.
//!
//! ```text
//! --remote (default https://cloud.sylabs.io)
//!    └─ GET /assets/config/config.prod.json   (skipped when --builder-url and --library-url
//!         builderAPI / libraryAPI / tokenAPI    are both given; each overrides its entry)
//!    └─ plain-http policy on every URL
//!    └─ GET <tokenAPI>/v1/token-status         (when the token service is known)
//!    └─ GET <libraryAPI>/version → apiVersion → v1 or v2 tags
//! ```

use std::sync::Arc;
use std::time::Duration;

use super::auth::Token;
use super::build_client::BuildClient;
use super::endpoints::{
    ConnectError, DEFAULT_REMOTE, Endpoints, ServiceKind, TagApi, discover, is_loopback,
    library_api_version, service_url, verify_token,
};
use super::http::{REQUEST_TIMEOUT, Transport, http_clients};
use super::library_client::LibraryClient;
use super::retry::RetryPolicy;
use super::transfer::TransferSetup;

/// What `connect` needs: the command line's service flags and the token.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// The frontend (`--remote`), where discovery runs.
    pub remote: String,
    /// `--builder-url`: overrides the discovered build service.
    pub builder_url: Option<String>,
    /// `--library-url`: overrides the discovered library.
    pub library_url: Option<String>,
    /// `--allow-insecure`: plain http to hosts other than loopback.
    pub allow_insecure: bool,
    pub token: Token,
    pub retry: RetryPolicy,
    /// How long one REST call may take before it counts as unanswered (a timeout, retried
    /// like a dropped connection, except for a build submission). Context uploads and the
    /// log stream have no such limit.
    pub request_timeout: Duration,
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// Whether the run builds: `tag` only reads and tags in the library, and a remote with a
    /// library but no build service is enough for it.
    pub needs_builder: bool,
}

impl ConnectOptions {
    /// Returns the options for the default remote, with default retries.
    pub fn new(token: Token) -> ConnectOptions {
        ConnectOptions {
            remote: DEFAULT_REMOTE.to_owned(),
            builder_url: None,
            library_url: None,
            allow_insecure: false,
            token,
            retry: RetryPolicy::default(),
            request_timeout: REQUEST_TIMEOUT,
            user_agent: user_agent(),
            needs_builder: true,
        }
    }
}

/// Returns `sifbake/<version>`.
pub fn user_agent() -> String {
    format!("sifbake/{}", env!("CARGO_PKG_VERSION"))
}

/// The clients of one remote, and what was learned setting them up.
#[derive(Clone, Debug)]
pub struct Connection {
    pub build: BuildClient,
    pub library: LibraryClient,
    pub endpoints: Endpoints,
    /// False when the remote has no build service and the caller said it needs none: `build`
    /// then holds a client of the frontend that is never called.
    pub has_builder: bool,
    /// The library's `apiVersion`, if it announced one.
    pub library_api_version: Option<String>,
    /// Whether the token was checked against the token service (not when discovery was
    /// skipped: the first call then tells).
    pub token_verified: bool,
}

/// Finds the services, checks the token, and returns the clients.
pub async fn connect(options: &ConnectOptions) -> Result<Connection, ConnectError> {
    let insecure = options.allow_insecure;
    let frontend = service_url(&options.remote, ServiceKind::Frontend, insecure)?;
    let builder_override = options
        .builder_url
        .as_deref()
        .map(|url| service_url(url, ServiceKind::Builder, insecure))
        .transpose()?;
    let library_override = options
        .library_url
        .as_deref()
        .map(|url| service_url(url, ServiceKind::Library, insecure))
        .transpose()?;

    // The proxy variables are skipped when every URL contacted up front is loopback (the
    // emulator): a proxy cannot reach the runner's own loopback. The frontend is contacted
    // only when an override is missing.
    let skips_discovery = builder_override.is_some() && library_override.is_some();
    let direct = [
        (!skips_discovery).then_some(&frontend),
        builder_override.as_ref(),
        library_override.as_ref(),
    ]
    .into_iter()
    .flatten()
    .all(is_loopback);
    let (client, websocket_client) = http_clients(&options.user_agent, direct)
        .map_err(|source| ConnectError::Client { source })?;
    let transport = Arc::new(Transport {
        client,
        websocket_client,
        token: options.token.clone(),
        retry: options.retry.clone(),
        request_timeout: options.request_timeout,
    });

    let mut has_builder = true;
    let endpoints = match (builder_override, library_override) {
        (Some(builder), Some(library)) => Endpoints {
            frontend,
            builder,
            library,
            token: None,
        },
        (builder_override, library_override) => {
            let discovered = discover(&transport, &frontend).await?;
            let pick = |overridden: Option<reqwest::Url>,
                        found: Option<String>,
                        service: ServiceKind,
                        key: &'static str| match (overridden, found) {
                (Some(url), _) => Ok(url),
                (None, Some(found)) => service_url(&found, service, insecure),
                (None, None) => Err(ConnectError::Misconfigured {
                    frontend: frontend.to_string(),
                    service,
                    key,
                }),
            };
            // scs-build refuses a remote without both services ("remote server is
            // misconfigured", PROTOCOL.md §1.1); a run needs both too.
            let builder = match (&builder_override, &discovered.builder) {
                (None, None) if !options.needs_builder => {
                    has_builder = false;
                    frontend.clone()
                }
                _ => pick(
                    builder_override,
                    discovered.builder,
                    ServiceKind::Builder,
                    "builderAPI",
                )?,
            };
            let library = pick(
                library_override,
                discovered.library,
                ServiceKind::Library,
                "libraryAPI",
            )?;
            let token = discovered
                .token
                .map(|url| service_url(&url, ServiceKind::Token, insecure))
                .transpose()?;
            Endpoints {
                frontend,
                builder,
                library,
                token,
            }
        }
    };

    let token_verified = match &endpoints.token {
        Some(token_service) => {
            verify_token(&transport, token_service, &endpoints.frontend).await?;
            true
        }
        None => false,
    };
    let library_api_version = library_api_version(&transport, &endpoints.library).await?;
    let tags = TagApi::for_api_version(library_api_version.as_deref());
    let transfer = TransferSetup::new(&options.user_agent, direct, library_api_version.as_deref())
        .map_err(|source| ConnectError::Client { source })?;
    let library_url = endpoints.library.as_str().trim_end_matches('/').to_owned();
    Ok(Connection {
        build: BuildClient::new(
            Arc::clone(&transport),
            endpoints.builder.clone(),
            library_url,
        ),
        library: LibraryClient::new(transport, endpoints.library.clone(), tags)
            .with_transfer(transfer),
        endpoints,
        has_builder,
        library_api_version,
        token_verified,
    })
}
