//! The OpenPGP keystore client: HKP as `scs-key-client` speaks it for `singularity key push`
//! and `verify` (PROTOCOL.md §1.1 `keystoreAPI`).
//!
//! ```text
//! push:  POST <keystore>/pks/add      form keytext=<armored public key>, Bearer token
//! fetch: GET  <keystore>/pks/lookup?op=get&search=0x<fingerprint>&exact=on
//!        → 200 application/pgp-keys, 404 when the keystore has no such key
//! ```
//!
//! The paths are absolute on the keystore's host, as the official client resolves them
//! (`/pks/add` against the base URL replaces any path the base has). The token is sent as
//! `Bearer`, as SingularityCE's keyserver transport sets it. Both calls are idempotent, so
//! every transient fault is retried.

use std::sync::Arc;

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use sifbake_sif::keys::{KeyError, PublicKey};

use super::connect::ConnectOptions;
use super::endpoints::{ConnectError, ServiceKind, discover, is_loopback, service_url};
use super::http::{AuthScheme, Transport, http_clients};
use super::retry::transient;
use super::service::{ServiceError, ServiceErrorKind};

/// A keystore, with the token and retries of the run.
#[derive(Clone, Debug)]
pub struct KeystoreClient {
    transport: Arc<Transport>,
    base: Url,
}

/// Why a key could not be fetched from the keystore and read.
#[derive(Debug, thiserror::Error)]
pub enum FetchKeyError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(
        "the keystore {keystore} answered for {fingerprint} with a key sifbake cannot read: {source}"
    )]
    Unreadable {
        keystore: String,
        fingerprint: String,
        #[source]
        source: KeyError,
    },
    #[error(
        "the keystore {keystore} answered for {fingerprint} with other keys ({found}); it is not to be trusted for this one"
    )]
    Mismatch {
        keystore: String,
        fingerprint: String,
        found: String,
    },
}

impl KeystoreClient {
    /// Returns a client of the keystore at `base` (normalised by `service_url`).
    pub(crate) fn new(transport: Arc<Transport>, base: Url) -> KeystoreClient {
        KeystoreClient { transport, base }
    }

    /// The keystore's base URL, for messages.
    pub fn url(&self) -> &Url {
        &self.base
    }

    fn path(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    /// Uploads an ASCII-armored public key (`singularity key push`).
    ///
    /// The caller makes sure the text holds public key packets only: the keystore publishes
    /// whatever it is sent.
    pub async fn push(&self, armored_public: &str) -> Result<(), ServiceError> {
        let url = self.path("/pks/add");
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("keytext", armored_public)
            .finish();
        let doing = format!("pushing the public key to the keystore {}", self.base);
        let transport = &self.transport;
        transport
            .retry
            .run(
                || async {
                    let response = transport
                        .client
                        .request(Method::POST, url.clone())
                        .timeout(transport.request_timeout)
                        .header(
                            header::AUTHORIZATION,
                            transport.authorization(AuthScheme::Bearer)?,
                        )
                        .header(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/x-www-form-urlencoded"),
                        )
                        .body(body.clone())
                        .send()
                        .await
                        .map_err(|error| transport.transport_error(&error, &doing))?;
                    if response.status().is_success() {
                        Ok(())
                    } else {
                        Err(transport.status_error(response, &doing).await)
                    }
                },
                transient,
            )
            .await
    }

    /// Fetches the armored key with this fingerprint (40 hex digits, any case), as
    /// `singularity key pull` and `verify` do; `None` when the keystore has none.
    pub async fn fetch(&self, fingerprint: &str) -> Result<Option<String>, ServiceError> {
        let mut url = self.path("/pks/lookup");
        url.query_pairs_mut()
            .append_pair("search", &format!("0x{}", fingerprint.to_ascii_lowercase()))
            .append_pair("op", "get")
            .append_pair("exact", "on");
        let doing = format!("fetching key {fingerprint} from the keystore {}", self.base);
        let transport = &self.transport;
        transport
            .retry
            .run(
                || async {
                    let response = transport
                        .client
                        .request(Method::GET, url.clone())
                        .timeout(transport.request_timeout)
                        .header(
                            header::AUTHORIZATION,
                            transport.authorization(AuthScheme::Bearer)?,
                        )
                        .send()
                        .await
                        .map_err(|error| transport.transport_error(&error, &doing))?;
                    match response.status() {
                        StatusCode::NOT_FOUND => Ok(None),
                        status if status.is_success() => response
                            .text()
                            .await
                            .map(Some)
                            .map_err(|error| transport.transport_error(&error, &doing)),
                        _ => Err(transport.status_error(response, &doing).await),
                    }
                },
                transient,
            )
            .await
    }

    /// Fetches and reads the public key with this fingerprint, for `verify --keystore`:
    /// `None` when the keystore has none. Of what the keystore returns, only the key with
    /// exactly this fingerprint is taken.
    pub async fn fetch_public_key(
        &self,
        fingerprint: &str,
    ) -> Result<Option<PublicKey>, FetchKeyError> {
        let Some(text) = self.fetch(fingerprint).await? else {
            return Ok(None);
        };
        let keys =
            PublicKey::all_from_armored(&text).map_err(|source| FetchKeyError::Unreadable {
                keystore: self.base.to_string(),
                fingerprint: fingerprint.to_owned(),
                source,
            })?;
        let wanted = fingerprint.to_ascii_uppercase();
        let found: Vec<String> = keys.iter().map(PublicKey::fingerprint).collect();
        keys.into_iter()
            .find(|key| key.fingerprint() == wanted)
            .map(Some)
            .ok_or_else(|| FetchKeyError::Mismatch {
                keystore: self.base.to_string(),
                fingerprint: wanted,
                found: found.join(", "),
            })
    }
}

/// Finds the keystore of `options.remote` (its discovery document's `keystoreAPI`), or takes
/// `keystore_url`, under the same plain-HTTP policy, TLS roots, proxy rule, token and
/// retries as the build and library clients. The builder and library fields of `options`
/// are not used. No request goes to the keystore yet.
pub async fn connect_keystore(
    options: &ConnectOptions,
    keystore_url: Option<&str>,
) -> Result<KeystoreClient, ConnectError> {
    let insecure = options.allow_insecure;
    let transport = |direct: bool| -> Result<Arc<Transport>, ConnectError> {
        let (client, websocket_client) = http_clients(&options.user_agent, direct)
            .map_err(|source| ConnectError::Client { source })?;
        Ok(Arc::new(Transport {
            client,
            websocket_client,
            token: options.token.clone(),
            retry: options.retry.clone(),
            request_timeout: options.request_timeout,
        }))
    };
    let base = match keystore_url {
        Some(url) => service_url(url, ServiceKind::Keystore, insecure)?,
        None => {
            let frontend = service_url(&options.remote, ServiceKind::Frontend, insecure)?;
            let discovered = discover(&*transport(is_loopback(&frontend))?, &frontend).await?;
            let found = discovered
                .keystore
                .ok_or_else(|| ConnectError::NoKeystore {
                    frontend: frontend.to_string(),
                })?;
            service_url(&found, ServiceKind::Keystore, insecure)?
        }
    };
    // A proxy cannot reach the runner's own loopback (see `connect`).
    Ok(KeystoreClient::new(transport(is_loopback(&base))?, base))
}

/// Whether a keystore failure is the keystore being unavailable (rather than refusing the
/// request): what `key push` reports as "down".
pub fn keystore_unavailable(error: &ServiceError) -> bool {
    matches!(
        error.kind,
        ServiceErrorKind::Connect | ServiceErrorKind::Timeout | ServiceErrorKind::RateLimited
    ) || matches!(error.kind, ServiceErrorKind::Status { code, .. } if code >= 500)
}
