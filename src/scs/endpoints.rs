//! Where the services are, and whether they may be talked to: the frontend's discovery
//! document (PROTOCOL.md §1.1), the plain-HTTP policy (DESIGN.md "Security"), the one-time
//! token check (§1.4) and the library's API version, which picks v1 or v2 tags (§1.2).

use std::fmt;
use std::net::IpAddr;

use reqwest::{Method, Url};

use super::http::{AuthScheme, Call, Transport, endpoint};
use super::retry::transient;
use super::service::{ServiceError, ServiceErrorKind};
use super::wire::{DiscoveryDocument, ServiceEntry, VersionWire};

/// The frontend used when `--remote` is not given.
pub const DEFAULT_REMOTE: &str = "https://cloud.sylabs.io";

/// The discovery document's path; `config.prod.json`, not `config.json` (PROTOCOL.md §5.1).
const DISCOVERY_PATH: [&str; 3] = ["assets", "config", "config.prod.json"];

/// The first library `apiVersion` with arch-aware (v2) tags (PROTOCOL.md §1.2).
const V2_TAGS_SINCE: semver::Version = semver::Version {
    major: 2,
    minor: 0,
    patch: 0,
    pre: semver::Prerelease::EMPTY,
    build: semver::BuildMetadata::EMPTY,
};
const V2_TAGS_PRERELEASE: &str = "alpha.2";

/// Which service a URL is for, in messages.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ServiceKind {
    Builder,
    Frontend,
    Keystore,
    Library,
    Token,
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceKind::Builder => "build service",
            ServiceKind::Frontend => "remote",
            ServiceKind::Keystore => "keystore",
            ServiceKind::Library => "library",
            ServiceKind::Token => "token service",
        })
    }
}

/// The services' base URLs, each ending in `/` so relative paths keep a path prefix.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Endpoints {
    /// `--remote`; where discovery ran and where tokens are generated.
    pub frontend: Url,
    pub builder: Url,
    pub library: Url,
    /// The token service; `None` when discovery was skipped (both URLs given).
    pub token: Option<Url>,
}

/// Which tag endpoints the library speaks.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum TagApi {
    /// `v1/tags`: `{Tag, ImageID}`, no architecture (libraries before 2.0.0-alpha.2).
    V1,
    /// `v2/tags`: `{Arch, Tag, ImageID}`.
    V2,
}

impl TagApi {
    /// Picks the tag API for a library's `apiVersion`: v2 from `2.0.0-alpha.2` on; v1 when it
    /// is missing or unparseable, as the reference client does.
    pub fn for_api_version(api_version: Option<&str>) -> TagApi {
        let Some(text) = api_version else {
            return TagApi::V1;
        };
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let Ok(version) = semver::Version::parse(text) else {
            return TagApi::V1;
        };
        let mut threshold = V2_TAGS_SINCE;
        threshold.pre = semver::Prerelease::new(V2_TAGS_PRERELEASE).unwrap_or_default();
        if version >= threshold {
            TagApi::V2
        } else {
            TagApi::V1
        }
    }
}

/// Why the services could not be reached or used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot set up the HTTP client")]
    Client {
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot find the services of {frontend}")]
    Discovery {
        frontend: String,
        #[source]
        source: ServiceError,
    },
    #[error("refusing plain http for the {service} `{url}`: only loopback addresses may use http")]
    Insecure { service: ServiceKind, url: String },
    #[error("the {service} URL `{url}` is not valid: {reason}")]
    InvalidUrl {
        service: ServiceKind,
        url: String,
        reason: String,
    },
    #[error("{frontend} does not name a {service} (`{key}.uri` in its config.prod.json)")]
    Misconfigured {
        frontend: String,
        service: ServiceKind,
        key: &'static str,
    },
    #[error("{frontend} names no keystore (`keystoreAPI.uri` in its config.prod.json)")]
    NoKeystore { frontend: String },
    #[error("cannot reach the {service}")]
    Service {
        service: ServiceKind,
        #[source]
        source: ServiceError,
    },
    #[error(
        "the token was refused by {url} ({status}): generate a new one at {frontend}auth/tokens"
    )]
    TokenRefused {
        url: String,
        status: String,
        frontend: String,
    },
}

impl ConnectError {
    /// Returns what the user can do about it.
    pub fn help(&self) -> &'static str {
        match self {
            ConnectError::Client { .. } => "this is a bug in sifbake; please report it",
            ConnectError::Discovery { .. } | ConnectError::Misconfigured { .. } => {
                "check `--remote`, or give both `--builder-url` and `--library-url`"
            }
            ConnectError::Insecure { .. } => {
                "use https, or pass `--allow-insecure` if this network is trusted"
            }
            ConnectError::InvalidUrl { .. } => "give an absolute http(s) URL",
            ConnectError::NoKeystore { .. } => {
                "give the keystore with `--keystore-url`, or a `--remote` that has one"
            }
            ConnectError::Service { .. } => {
                "check the network and the service's status, then run again"
            }
            ConnectError::TokenRefused { .. } => {
                "store the new token in the SYLABS_TOKEN secret (or `--token-file`)"
            }
        }
    }
}

/// Parses a service URL and applies the plain-HTTP policy: `https` always; `http` only for
/// loopback hosts (127.0.0.0/8, ::1, `localhost`) or with `allow_insecure`. A bare host
/// (`cloud.sylabs.io`, as `remote.yaml` writes it) means https. The result ends in `/`.
pub fn service_url(
    text: &str,
    service: ServiceKind,
    allow_insecure: bool,
) -> Result<Url, ConnectError> {
    let invalid = |reason: String| ConnectError::InvalidUrl {
        service,
        url: without_credentials(text),
        reason,
    };
    let trimmed = text.trim();
    // `http:/host` or `https:host` is a scheme misspelt, not a host named `http`: without
    // this, it would be looked up as one, and fail as a network problem.
    if let Some((scheme, rest)) = trimmed.split_once(':')
        && ["http", "https"].contains(&scheme.to_ascii_lowercase().as_str())
        && !rest.starts_with("//")
    {
        let rest = rest.trim_start_matches('/');
        return Err(invalid(format!(
            "a scheme is followed by `://`: did you mean `{}://{rest}`?",
            scheme.to_ascii_lowercase()
        )));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|error| invalid(error.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure || is_loopback(&url) => {}
        "http" => {
            return Err(ConnectError::Insecure {
                service,
                url: without_credentials(url.as_str()),
            });
        }
        other => return Err(invalid(format!("the scheme `{other}` is not http(s)"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs and error messages.
        return Err(invalid("it holds a user name or password".to_owned()));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Returns a URL as written, for messages, with any user name and password in it replaced
/// by `***`: a URL is refused for holding them, and the refusal must not print them. Works
/// on text that does not parse as a URL too (the refusal may be for that).
pub fn without_credentials(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(at) => text.split_at(at + 3),
        None => ("", text),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => text.to_owned(),
    }
}

/// Returns true if and only if the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.trim_end_matches('.').eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// What discovery found.
#[derive(Debug)]
pub struct Discovered {
    pub builder: Option<String>,
    pub library: Option<String>,
    pub token: Option<String>,
    pub keystore: Option<String>,
}

/// Reads the frontend's discovery document (no token is sent).
pub async fn discover(transport: &Transport, frontend: &Url) -> Result<Discovered, ConnectError> {
    let url = endpoint(frontend, &DISCOVERY_PATH);
    let doing = format!("reading {url}");
    let discovery_error = |source| ConnectError::Discovery {
        frontend: frontend.to_string(),
        source,
    };
    let reply = transport
        .retry
        .run(
            || {
                transport.call_bare(Call {
                    method: Method::GET,
                    url: url.clone(),
                    auth: None,
                    body: None,
                    doing: &doing,
                })
            },
            transient,
        )
        .await
        .map_err(discovery_error)?;
    let document: DiscoveryDocument = match reply.data {
        Some(data) => serde_json::from_value(data).map_err(|error| {
            discovery_error(transport.error(
                ServiceErrorKind::Protocol,
                &doing,
                format!("it is not a discovery document: {error}"),
            ))
        })?,
        None => DiscoveryDocument::default(),
    };
    let uri = |entry: &Option<ServiceEntry>| {
        entry
            .as_ref()
            .and_then(ServiceEntry::uri)
            .map(str::to_owned)
    };
    Ok(Discovered {
        builder: uri(&document.builder),
        library: uri(&document.library),
        token: uri(&document.token),
        keystore: uri(&document.keystore),
    })
}

/// Checks the token once (`GET <tokenAPI>/v1/token-status`, `Bearer`): 200 means valid.
///
/// A 4xx is a refused token, whatever the code (SingularityCE sees 404, hinkskalle and the
/// emulator 401). 429 and 5xx are the service's trouble, retried and then reported as such
/// rather than blamed on the token.
pub async fn verify_token(
    transport: &Transport,
    token_service: &Url,
    frontend: &Url,
) -> Result<(), ConnectError> {
    let url = endpoint(token_service, &["v1", "token-status"]);
    let doing = "checking the token";
    let result = transport
        .retry
        .run(
            || async {
                let response = transport
                    .send(Call {
                        method: Method::GET,
                        url: url.clone(),
                        auth: Some(AuthScheme::Bearer),
                        body: None,
                        doing,
                    })
                    .await?;
                if response.status() == reqwest::StatusCode::OK {
                    Ok(())
                } else {
                    Err(transport.status_error(response, doing).await)
                }
            },
            transient,
        )
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(error) => match &error.kind {
            ServiceErrorKind::Auth
            | ServiceErrorKind::Forbidden
            | ServiceErrorKind::Status { .. }
                if !error.is_transient() =>
            {
                Err(ConnectError::TokenRefused {
                    url: token_service.to_string(),
                    status: status_only(&error),
                    frontend: frontend.to_string(),
                })
            }
            _ => Err(ConnectError::Service {
                service: ServiceKind::Token,
                source: error,
            }),
        },
    }
}

/// Returns the `<code> <reason>` part of a status error's detail.
fn status_only(error: &ServiceError) -> String {
    error
        .detail
        .split_once(':')
        .map_or(error.detail.as_str(), |(status, _)| status)
        .to_owned()
}

/// Reads the library's `apiVersion` (`GET version`). `Ok(None)` when it announces none or
/// has no version endpoint (an error status): the oldest behaviour, as the reference client.
///
/// A transient failure that outlasts the retries is an error instead: falling back to v1
/// tags on a v2 library would silently write tags without an architecture.
pub async fn library_api_version(
    transport: &Transport,
    library: &Url,
) -> Result<Option<String>, ConnectError> {
    let url = endpoint(library, &["version"]);
    let doing = "reading the library's version";
    let result = transport
        .retry
        .run(
            || {
                transport.call(Call {
                    method: Method::GET,
                    url: url.clone(),
                    auth: Some(AuthScheme::Bearer),
                    body: None,
                    doing,
                })
            },
            transient,
        )
        .await;
    let reply = match result {
        Ok(reply) => reply,
        Err(error) if !error.is_transient() && error.kind != ServiceErrorKind::Auth => {
            return Ok(None);
        }
        Err(error) => {
            return Err(ConnectError::Service {
                service: ServiceKind::Library,
                source: error,
            });
        }
    };
    let version: VersionWire = reply
        .data
        .and_then(|data| serde_json::from_value(data).ok())
        .unwrap_or_default();
    Ok(version.api_version.filter(|v| !v.trim().is_empty()))
}

/// Whether two service URLs name the same service: scheme, host, port and path, a trailing
/// `/` aside. Text that is not a URL is compared as written.
pub fn same_service(a: &str, b: &str) -> bool {
    let key = |url: &str| match reqwest::Url::parse(url) {
        Ok(url) => format!(
            "{}://{}:{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default().to_ascii_lowercase(),
            url.port_or_known_default().unwrap_or_default(),
            url.path().trim_end_matches('/')
        ),
        Err(_) => url.trim_end_matches('/').to_owned(),
    };
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_unless_allowed() {
        let cases = [
            (
                "https://cloud.sylabs.io",
                false,
                Ok("https://cloud.sylabs.io/"),
            ),
            ("cloud.sylabs.io", false, Ok("https://cloud.sylabs.io/")),
            (
                "https://lib.example/prefix?x=1#y",
                false,
                Ok("https://lib.example/prefix/"),
            ),
            ("http://127.0.0.1:8080", false, Ok("http://127.0.0.1:8080/")),
            ("http://127.3.2.1", false, Ok("http://127.3.2.1/")),
            ("http://[::1]:9000/x/", false, Ok("http://[::1]:9000/x/")),
            ("http://LocalHost:80", false, Ok("http://localhost/")),
            ("http://build.example", false, Err("refusing plain http")),
            ("http://10.0.0.1", false, Err("refusing plain http")),
            (
                "http://localhost.example.com",
                false,
                Err("refusing plain http"),
            ),
            ("http://build.example", true, Ok("http://build.example/")),
            (
                "ftp://x.example",
                true,
                Err("the scheme `ftp` is not http(s)"),
            ),
            (
                "https://user:pw@x.example",
                false,
                Err("user name or password"),
            ),
            ("https://", false, Err("is not valid")),
            (
                "http:/10.0.0.1",
                false,
                Err("did you mean `http://10.0.0.1`?"),
            ),
            (
                "HTTPS:cloud.sylabs.io",
                false,
                Err("did you mean `https://cloud.sylabs.io`?"),
            ),
            (
                "cloud.example:8443",
                false,
                Ok("https://cloud.example:8443/"),
            ),
        ];
        for (text, allow, expected) in cases {
            let actual = service_url(text, ServiceKind::Builder, allow)
                .map(|url| url.to_string())
                .map_err(|error| error.to_string());
            match (expected, actual) {
                (Ok(expected), Ok(actual)) => assert_eq!(actual, expected, "{text}"),
                (Err(expected), Err(actual)) => {
                    assert!(actual.contains(expected), "{text}: {actual}");
                }
                (expected, actual) => panic!("{text}: expected {expected:?}, got {actual:?}"),
            }
        }
    }

    #[test]
    fn refusals_never_print_credentials() {
        let cases = [
            ("http://user:s3cret@build.example", false),
            ("https://user:s3cret@build.example/x", false),
            ("https://s3cret@build.example", false),
            ("https://user:s3cret@bad host.example", false),
            ("ftp://user:s3cret@x.example", true),
            ("user:s3cret@build.example", false),
            ("https://user:s3c@ret@build.example", false),
        ];
        for (text, allow) in cases {
            let error = service_url(text, ServiceKind::Library, allow)
                .expect_err(text)
                .to_string();
            assert!(!error.contains("s3c"), "{text}: {error}");
            assert!(error.contains("***@"), "{text}: {error}");
        }
        assert_eq!(
            without_credentials("https://build.example/a@b"),
            "https://build.example/a@b"
        );
        assert_eq!(without_credentials("no url at all"), "no url at all");
    }

    #[test]
    fn v2_tags_from_alpha_2() {
        let cases = [
            (None, TagApi::V1),
            (Some(""), TagApi::V1),
            (Some("garbage"), TagApi::V1),
            (Some("1.9.9"), TagApi::V1),
            (Some("2.0.0-alpha.1"), TagApi::V1),
            (Some("2.0.0-alpha.2"), TagApi::V2),
            (Some("2.0.0-beta.1"), TagApi::V2),
            (Some("2.0.0"), TagApi::V2),
            (Some("v2.1.0"), TagApi::V2),
            (Some("3.0.0-rc.1"), TagApi::V2),
        ];
        for (version, expected) in cases {
            assert_eq!(TagApi::for_api_version(version), expected, "{version:?}");
        }
    }
}
