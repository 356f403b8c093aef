//! The HTTP side of the registry client: which scheme and client a registry gets, the
//! authentication dance (basic, or the distribution spec's bearer-token challenge), and
//! every failure as a [`ServiceError`] whose text never holds a credential.
//!
//! TLS and proxies are those of the Sylabs clients: reqwest on rustls with ring, Mozilla's
//! roots merged with the system's, `HTTPS_PROXY`/`NO_PROXY` honoured, except for a registry
//! on this machine, which is reached directly and over plain HTTP (a proxy cannot reach the
//! runner's loopback). Any other registry is HTTPS unless `allow_insecure` is set.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use reqwest::header::{self, HeaderValue};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;

use super::challenge::{self, Challenge};
use super::credentials::{Credential, CredentialSources};
use super::failure::{has_tls_error, innermost, registry_message, retry_after};
use super::reference::RepositoryRef;
use crate::scs::{ServiceError, ServiceErrorKind};
use crate::secrets::Redactor;

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a request needs the token to allow.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Access {
    Pull,
    Push,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        }
    }
}

/// The clients and the credentials and tokens learned so far.
pub struct Transport {
    proxied: reqwest::Client,
    direct: reqwest::Client,
    allow_insecure: bool,
    pub request_timeout: Duration,
    credentials: CredentialSources,
    /// The `Authorization` value that worked, per registry, repository and access.
    auth: Mutex<HashMap<(String, String, Access), HeaderValue>>,
    /// Every secret sent so far: registry error texts are masked against them.
    secrets: Mutex<Vec<String>>,
    /// Credentials found per registry: a credential helper runs once per registry.
    found: Mutex<HashMap<String, Option<Credential>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("allow_insecure", &self.allow_insecure)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub fn new(
        user_agent: &str,
        credentials: CredentialSources,
        allow_insecure: bool,
        request_timeout: Duration,
    ) -> Result<Transport, reqwest::Error> {
        crate::scs::install_crypto_provider();
        let builder = || {
            let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .filter_map(|certificate| {
                    reqwest::Certificate::from_der(certificate.as_ref()).ok()
                });
            reqwest::Client::builder()
                .user_agent(user_agent)
                .connect_timeout(CONNECT_TIMEOUT)
                .tls_certs_merge(roots)
        };
        let secrets = credentials.known_secrets();
        Ok(Transport {
            proxied: builder().build()?,
            direct: builder().no_proxy().build()?,
            allow_insecure,
            request_timeout,
            credentials,
            auth: Mutex::new(HashMap::new()),
            secrets: Mutex::new(secrets),
            found: Mutex::new(HashMap::new()),
        })
    }

    /// `http(s)://registry/v2/<repository>/<segments…>`.
    pub fn url(&self, repo: &RepositoryRef, segments: &[&str]) -> Url {
        let scheme = if repo.is_loopback() || self.allow_insecure {
            "http"
        } else {
            "https"
        };
        // Docker Hub's name in refs and logins is not the host its API answers on.
        let registry = match repo.registry().as_str() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io".to_owned(),
            other => other.to_owned(),
        };
        let mut text = format!("{scheme}://{registry}/v2/{}", repo.repository());
        for segment in segments {
            text.push('/');
            text.push_str(segment);
        }
        // The parts were validated by `RepositoryRef` and digests and tags by their callers.
        Url::parse(&text).unwrap_or_else(|_| Url::parse("http://invalid./").expect("static URL"))
    }

    fn client_for(&self, url: &Url) -> &reqwest::Client {
        if host_is_loopback(url) {
            &self.direct
        } else {
            &self.proxied
        }
    }

    /// Sends a request built by `build` (called again for the authenticated attempt); a 401
    /// is answered once with credentials or a token, as the registry's challenge asks.
    pub async fn send(
        &self,
        repo: &RepositoryRef,
        access: Access,
        doing: &str,
        url: &Url,
        build: &(dyn Fn(&reqwest::Client) -> Result<RequestBuilder, ServiceError> + Sync),
    ) -> Result<Response, ServiceError> {
        let key = (repo.registry(), repo.repository().to_owned(), access);
        let client = self.client_for(url);
        let cached = self.lock_auth().get(&key).cloned();
        let mut request = build(client)?;
        if let Some(value) = &cached {
            request = request.header(header::AUTHORIZATION, value.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_error(&error, doing))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .and_then(challenge::parse);
        let Some(challenge) = challenge else {
            return Err(self.status_error(response, doing).await);
        };
        let (value, credential) = self.authenticate(repo, access, &challenge, doing).await?;
        let response = build(client)?
            .header(header::AUTHORIZATION, value.clone())
            .send()
            .await
            .map_err(|error| self.transport_error(&error, doing))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            self.lock_auth().remove(&key);
            let detail = match &credential {
                Some(credential) => format!(
                    "{} refused the credentials of `{}` from {}; check them, and that they may {} {}",
                    repo.registry(),
                    credential.username,
                    credential.source,
                    access.actions().replace(',', " and "),
                    repo
                ),
                None => no_credentials(repo),
            };
            return Err(self.error(ServiceErrorKind::Auth, doing, detail));
        }
        self.lock_auth().insert(key, value);
        Ok(response)
    }

    /// Returns the `Authorization` value the challenge asks for, and the credential used.
    async fn authenticate(
        &self,
        repo: &RepositoryRef,
        access: Access,
        challenge: &Challenge,
        doing: &str,
    ) -> Result<(HeaderValue, Option<Credential>), ServiceError> {
        let credential = self.credential(&repo.registry(), doing)?;
        if let Some(credential) = &credential {
            self.remember_secret(credential.password.expose());
            // A registry that echoes the request's headers would show the Basic value.
            self.remember_secret(&basic_token(credential));
        }
        match challenge {
            Challenge::Basic => {
                let credential = credential.ok_or_else(|| {
                    self.error(ServiceErrorKind::Auth, doing, no_credentials(repo))
                })?;
                Ok((basic(&credential)?, Some(credential)))
            }
            Challenge::Bearer { realm, service, .. } => {
                let token = self
                    .fetch_token(
                        repo,
                        access,
                        realm,
                        service.as_deref(),
                        credential.as_ref(),
                        doing,
                    )
                    .await?;
                self.remember_secret(&token);
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        self.error(
                            ServiceErrorKind::Protocol,
                            doing,
                            "the token service sent a token an HTTP header cannot carry".to_owned(),
                        )
                    })?;
                value.set_sensitive(true);
                Ok((value, credential))
            }
        }
    }

    /// GETs a token from the realm (distribution spec, "Token Authentication").
    async fn fetch_token(
        &self,
        repo: &RepositoryRef,
        access: Access,
        realm: &str,
        service: Option<&str>,
        credential: Option<&Credential>,
        doing: &str,
    ) -> Result<String, ServiceError> {
        let mut url = Url::parse(realm).map_err(|_| {
            self.error(
                ServiceErrorKind::Protocol,
                doing,
                format!("{} sent a token realm that is not a URL", repo.registry()),
            )
        })?;
        // Credentials go to the realm: never in clear text over the network.
        if url.scheme() != "https" && !host_is_loopback(&url) && !self.allow_insecure {
            return Err(self.error(
                ServiceErrorKind::Protocol,
                doing,
                format!(
                    "{} sends clients to a token service over plain HTTP ({}); sifbake only sends credentials there with --allow-insecure",
                    repo.registry(),
                    url.origin().ascii_serialization()
                ),
            ));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair(
                "scope",
                &format!("repository:{}:{}", repo.repository(), access.actions()),
            );
        }
        let mut request = self
            .client_for(&url)
            .get(url.clone())
            .timeout(self.request_timeout);
        if let Some(credential) = credential {
            request = request.header(header::AUTHORIZATION, basic(credential)?);
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_error(&error, doing))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let detail = match credential {
                Some(credential) => format!(
                    "the token service of {} refused the credentials of `{}` from {}; check them, and that they may {} {}",
                    repo.registry(),
                    credential.username,
                    credential.source,
                    access.actions().replace(',', " and "),
                    repo
                ),
                None => no_credentials(repo),
            };
            return Err(self.error(ServiceErrorKind::Auth, doing, detail));
        }
        if !status.is_success() {
            return Err(self.status_error(response, doing).await);
        }
        #[derive(Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
        }
        let reply: TokenReply = response.json().await.map_err(|_| {
            self.error(
                ServiceErrorKind::Protocol,
                doing,
                format!(
                    "the token service of {} did not answer with a token",
                    repo.registry()
                ),
            )
        })?;
        reply
            .token
            .or(reply.access_token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                self.error(
                    ServiceErrorKind::Protocol,
                    doing,
                    format!("the token service of {} sent no token", repo.registry()),
                )
            })
    }

    /// The credential for a registry, looked up once.
    fn credential(&self, registry: &str, doing: &str) -> Result<Option<Credential>, ServiceError> {
        if let Some(found) = self
            .found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(registry)
        {
            return Ok(found.clone());
        }
        let found = self
            .credentials
            .lookup(registry)
            .map_err(|error| self.error(ServiceErrorKind::Auth, doing, error.0))?;
        self.found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(registry.to_owned(), found.clone());
        Ok(found)
    }

    fn lock_auth(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String, Access), HeaderValue>> {
        self.auth.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember_secret(&self, secret: &str) {
        let mut secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        if !secrets.iter().any(|known| known == secret) {
            secrets.push(secret.to_owned());
        }
    }

    /// Returns an error whose text has every secret sent so far masked.
    pub fn error(&self, kind: ServiceErrorKind, doing: &str, detail: String) -> ServiceError {
        let secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        let redactor = Redactor::new(secrets.iter().map(String::as_str));
        let kind = match kind {
            ServiceErrorKind::Status { code, message } => ServiceErrorKind::Status {
                code,
                message: redactor.redact(&message).into_owned(),
            },
            other => other,
        };
        ServiceError::new(
            kind,
            redactor.redact(doing).into_owned(),
            redactor.redact(&detail).into_owned(),
        )
    }

    /// Turns a non-2xx response into an error, with the registry's own message (the
    /// distribution spec's `{"errors": [{"code", "message"}]}`) when it sent one.
    pub async fn status_error(&self, response: Response, doing: &str) -> ServiceError {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let message = response
            .bytes()
            .await
            .map(|bytes| registry_message(&bytes))
            .unwrap_or_default();
        let code = status.as_u16();
        let reason = status.canonical_reason().unwrap_or("");
        let status_text = format!("{code} {reason}").trim_end().to_owned();
        let detail = if message.is_empty() {
            status_text
        } else {
            format!("{status_text}: {message}")
        };
        let kind = match code {
            401 => ServiceErrorKind::Auth,
            403 => ServiceErrorKind::Forbidden,
            429 => ServiceErrorKind::RateLimited,
            _ => ServiceErrorKind::Status { code, message },
        };
        let mut error = self.error(kind, doing, detail);
        error.retry_after = retry_after;
        error
    }

    /// Classifies a failure to get an answer.
    pub fn transport_error(&self, error: &reqwest::Error, doing: &str) -> ServiceError {
        let host = error
            .url()
            .and_then(|url| {
                url.host_str().map(|host| match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                })
            })
            .unwrap_or_else(|| "the registry".to_owned());
        let cause = innermost(error);
        let (kind, detail) = if has_tls_error(error) {
            (
                ServiceErrorKind::Protocol,
                format!("the TLS connection to {host} failed: {cause}"),
            )
        } else if error.is_connect() {
            (
                ServiceErrorKind::Connect,
                format!("cannot connect to {host}: {cause}"),
            )
        } else if error.is_timeout() {
            (
                ServiceErrorKind::Timeout,
                format!("{host} did not answer in time"),
            )
        } else if error.is_builder() {
            (
                ServiceErrorKind::Protocol,
                format!("cannot build the request: {cause}"),
            )
        } else {
            (
                ServiceErrorKind::Timeout,
                format!("the connection to {host} broke before the answer arrived: {cause}"),
            )
        };
        self.error(kind, doing, detail)
    }
}

fn no_credentials(repo: &RepositoryRef) -> String {
    let registry = repo.registry();
    format!(
        "{registry} asks for credentials and none are set for it; run `docker login {registry}` (or `oras login`), or set {prefix}_USERNAME and {prefix}_PASSWORD",
        prefix = super::credentials::registry_env_prefix(&registry)
    )
}

fn basic_token(credential: &Credential) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        credential.username,
        credential.password.expose()
    ))
}

fn basic(credential: &Credential) -> Result<HeaderValue, ServiceError> {
    let encoded = basic_token(credential);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
        ServiceError::new(
            ServiceErrorKind::Auth,
            "preparing the request",
            "the registry credentials hold characters an HTTP header cannot carry",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn host_is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_use_plain_http_others_https() {
        let transport = Transport::new(
            "test",
            CredentialSources::none(),
            false,
            Duration::from_secs(1),
        )
        .unwrap();
        let local = RepositoryRef::parse("oras://127.0.0.1:5000/a/b").unwrap();
        assert_eq!(
            transport.url(&local, &["blobs", "uploads", ""]).as_str(),
            "http://127.0.0.1:5000/v2/a/b/blobs/uploads/"
        );
        let remote = RepositoryRef::parse("oras://ghcr.io/a/b").unwrap();
        assert_eq!(
            transport.url(&remote, &["manifests", "v1"]).as_str(),
            "https://ghcr.io/v2/a/b/manifests/v1"
        );
        let hub = RepositoryRef::parse("oras://docker.io/acme/b").unwrap();
        assert_eq!(
            transport.url(&hub, &["tags", "list"]).as_str(),
            "https://registry-1.docker.io/v2/acme/b/tags/list"
        );
    }
}
