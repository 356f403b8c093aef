//! The HTTP layer both clients share: one set of reqwest clients, the token, the retry
//! policy; building service URLs; reading the JSON envelope; and turning every failure into
//! a [`ServiceError`] whose detail never holds the token.
//!
//! Envelope rule (PROTOCOL.md §0.1): a 2xx body is `{"data": …}`, unless it carries a
//! non-null `error`; a non-2xx body is read for `error.message`, and when it is not an
//! envelope (a proxy's HTML page, hinkskalle's own error shape) the HTTP status alone is
//! the message.

use std::sync::Once;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use super::auth::Token;
use super::retry::RetryPolicy;
use super::service::{ServiceError, ServiceErrorKind};
use super::wire::{Envelope, error_message};

/// The per-request timeout for REST calls, as the reference build client (PROTOCOL.md §2.1).
/// Context uploads and the log stream have none.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting (TCP and TLS) may take, for every request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Installs ring as the process's rustls crypto provider, once. reqwest is built with
/// `rustls-no-provider` (no aws-lc C build, CRATES.md §3) and panics when it builds a client
/// and no provider is installed.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means another provider is installed already (by the binary or a test);
        // reqwest then uses that one, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Builds the REST client and the websocket client: same user agent, roots and proxy
/// settings. `direct` bypasses the proxy variables (for loopback services: a proxy cannot
/// reach the runner's own loopback, and reqwest does not exempt it by itself).
///
/// TLS verification is never turned off. Mozilla's roots (webpki-root-certs) are added to the
/// system's, so a scratch or distroless image without a CA bundle still verifies, while
/// `SSL_CERT_FILE` and corporate roots keep working (CRATES.md §3).
pub fn http_clients(
    user_agent: &str,
    direct: bool,
) -> Result<(reqwest::Client, reqwest::Client), reqwest::Error> {
    install_crypto_provider();
    let builder = || {
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|certificate| reqwest::Certificate::from_der(certificate.as_ref()).ok());
        let builder = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_certs_merge(roots);
        if direct { builder.no_proxy() } else { builder }
    };
    Ok((builder().build()?, builder().http1_only().build()?))
}

/// How the `Authorization` header spells its scheme (PROTOCOL.md §0.2).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum AuthScheme {
    /// `BEARER <token>`: the build client's spelling, on REST and websocket alike.
    UpperBearer,
    /// `Bearer <token>`: the library client, token status.
    Bearer,
}

/// What a call sends.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: Method,
    pub url: Url,
    /// `None` sends no `Authorization` header (discovery, presigned uploads).
    pub auth: Option<AuthScheme>,
    pub body: Option<CallBody>,
    /// The lowercase fragment errors start with.
    pub doing: &'a str,
}

/// A request body.
#[derive(Debug)]
pub enum CallBody {
    /// JSON with `Content-Type: application/json` (build service).
    Json(Vec<u8>),
    /// JSON without a `Content-Type`, as the Go library client sends it (PROTOCOL.md §3.2).
    UntypedJson(Vec<u8>),
}

/// A successful reply.
#[derive(Debug)]
pub struct Reply {
    pub headers: HeaderMap,
    /// The envelope's `data` (or the bare JSON body, for [`Transport::call_bare`]).
    pub data: Option<serde_json::Value>,
}

impl Reply {
    /// Decodes `data` into `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(
        self,
        transport: &Transport,
        doing: &str,
    ) -> Result<T, ServiceError> {
        let data = self.data.ok_or_else(|| {
            transport.error(
                ServiceErrorKind::Protocol,
                doing,
                "the reply has no `data`".to_owned(),
            )
        })?;
        serde_json::from_value(data).map_err(|error| {
            transport.error(
                ServiceErrorKind::Protocol,
                doing,
                format!("the reply's `data` is not what the protocol describes: {error}"),
            )
        })
    }
}

/// The clients, token and policies shared by the build and library clients.
#[derive(Debug)]
pub struct Transport {
    /// REST calls (HTTP/2 when the server offers it).
    pub client: reqwest::Client,
    /// The log stream: HTTP/1.1 only, because reqwest-websocket 0.6 cannot upgrade an HTTP/2
    /// connection (its `native.rs` refuses `Version::HTTP_2`), and a REST client would
    /// negotiate HTTP/2 through ALPN.
    pub websocket_client: reqwest::Client,
    pub token: Token,
    pub retry: RetryPolicy,
    /// How long one REST call may take ([`REQUEST_TIMEOUT`] unless the caller says
    /// otherwise).
    pub request_timeout: Duration,
}

impl Transport {
    /// Returns an error whose detail has the token masked, however it got there.
    pub fn error(&self, kind: ServiceErrorKind, doing: &str, detail: String) -> ServiceError {
        let kind = match kind {
            ServiceErrorKind::Status { code, message } => ServiceErrorKind::Status {
                code,
                message: self.token.redact(&message),
            },
            other => other,
        };
        ServiceError::new(kind, self.token.redact(doing), self.token.redact(&detail))
    }

    /// Returns the `Authorization` value, marked sensitive so reqwest never logs it.
    pub fn authorization(&self, scheme: AuthScheme) -> Result<HeaderValue, ServiceError> {
        let prefix = match scheme {
            AuthScheme::UpperBearer => "BEARER",
            AuthScheme::Bearer => "Bearer",
        };
        let mut value = HeaderValue::from_str(&format!("{prefix} {}", self.token.expose()))
            .map_err(|_| {
                ServiceError::new(
                    ServiceErrorKind::Auth,
                    "preparing the request",
                    "the token holds characters an HTTP header cannot carry",
                )
            })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Sends a call with the REST timeout and reads an enveloped reply; non-2xx is an error.
    pub async fn call(&self, call: Call<'_>) -> Result<Reply, ServiceError> {
        let doing = call.doing;
        let response = self.send(call).await?;
        self.read_envelope(response, doing).await
    }

    /// Sends a call and reads a bare (not enveloped) JSON reply, as the discovery document.
    pub async fn call_bare(&self, call: Call<'_>) -> Result<Reply, ServiceError> {
        let doing = call.doing;
        let response = self.send(call).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_error(response, doing).await);
        }
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.transport_error(&error, doing))?;
        let data = serde_json::from_slice(&bytes).map_err(|error| {
            self.error(
                ServiceErrorKind::Protocol,
                doing,
                format!("the reply is not JSON ({status}): {error}"),
            )
        })?;
        Ok(Reply {
            headers,
            data: Some(data),
        })
    }

    /// Sends a call with the REST timeout; returns the response whatever its status.
    pub async fn send(&self, call: Call<'_>) -> Result<reqwest::Response, ServiceError> {
        let mut request = self
            .client
            .request(call.method, call.url)
            .timeout(self.request_timeout);
        if let Some(scheme) = call.auth {
            request = request.header(header::AUTHORIZATION, self.authorization(scheme)?);
        }
        request = match call.body {
            Some(CallBody::Json(bytes)) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes),
            Some(CallBody::UntypedJson(bytes)) => request.body(bytes),
            None => request,
        };
        request
            .send()
            .await
            .map_err(|error| self.transport_error(&error, call.doing))
    }

    /// Reads an enveloped reply: `data` on 2xx, the error otherwise.
    pub async fn read_envelope(
        &self,
        response: reqwest::Response,
        doing: &str,
    ) -> Result<Reply, ServiceError> {
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_error(response, doing).await);
        }
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.transport_error(&error, doing))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Reply {
                headers,
                data: None,
            });
        }
        let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|error| {
            self.error(
                ServiceErrorKind::Protocol,
                doing,
                format!("the reply ({status}) is not the service's JSON envelope: {error}"),
            )
        })?;
        if let Some(error) = envelope.error {
            // An error inside a 2xx reply still is the error (the reference clients read
            // `error` first).
            let code = error.code.unwrap_or(status.as_u16());
            let message = error.message.unwrap_or_default();
            return Err(self.error_for_status(code, &message, None, doing));
        }
        Ok(Reply {
            headers,
            data: envelope.data.filter(|data| !data.is_null()),
        })
    }

    /// Turns a non-2xx response into an error, reading `error.message` when the body is an
    /// envelope.
    pub async fn status_error(&self, response: reqwest::Response, doing: &str) -> ServiceError {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        // A body that cannot be read leaves the status as the whole message.
        let message = match response.bytes().await {
            Ok(bytes) => error_message(&bytes),
            Err(_) => String::new(),
        };
        self.error_for_status(status.as_u16(), &message, retry_after, doing)
    }

    /// Returns the error for an HTTP status and the service's message, in the build client's
    /// format: `<code> <reason>` or `<code> <reason>: <message>`.
    pub fn error_for_status(
        &self,
        code: u16,
        message: &str,
        retry_after: Option<Duration>,
        doing: &str,
    ) -> ServiceError {
        let reason = StatusCode::from_u16(code)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("");
        let status_text = format!("{code} {reason}").trim_end().to_owned();
        let message = message.trim();
        let detail = if message.is_empty() {
            status_text
        } else {
            format!("{status_text}: {message}")
        };
        let kind = match code {
            401 => ServiceErrorKind::Auth,
            403 => ServiceErrorKind::Forbidden,
            429 => ServiceErrorKind::RateLimited,
            _ => ServiceErrorKind::Status {
                code,
                message: message.to_owned(),
            },
        };
        let mut error = self.error(kind, doing, detail);
        error.retry_after = retry_after;
        error
    }

    /// Classifies a failure to get an answer at all, and says it in a line.
    pub fn transport_error(&self, error: &reqwest::Error, doing: &str) -> ServiceError {
        let host = error
            .url()
            .map_or_else(|| "the service".to_owned(), host_of);
        let cause = innermost(error);
        let (kind, detail) = if chain_has::<rustls::Error>(error) {
            // A certificate the roots do not vouch for will not get better by retrying.
            (
                ServiceErrorKind::Protocol,
                format!("the TLS connection to {host} failed: {cause}"),
            )
        } else if error.is_connect() {
            // Nothing reached the service: refused, unreachable, no DNS, connect timeout.
            (
                ServiceErrorKind::Connect,
                format!("cannot connect to {host}: {cause}"),
            )
        } else if error.is_builder() || error.is_redirect() || error.is_decode() {
            // reqwest names the URL in its message; a presigned upload URL carries its
            // signature in the query, which is as good as a password while it lasts.
            let mut detail = error_chain(error);
            if let Some(url) = error.url() {
                detail = detail.replace(url.as_str(), &without_query(url));
            }
            (ServiceErrorKind::Protocol, detail)
        } else if error.is_timeout() {
            // The service may have acted on the request; `Timeout` is the kind that says so.
            (
                ServiceErrorKind::Timeout,
                format!("{host} did not answer in time"),
            )
        } else {
            // The connection broke once the request may have been sent: as unknown an
            // outcome as a timeout, so the same kind.
            (
                ServiceErrorKind::Timeout,
                format!("the connection to {host} broke before the answer arrived: {cause}"),
            )
        };
        self.error(kind, doing, detail)
    }
}

/// Returns `host:port` of a URL, for messages.
fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => url.to_string(),
    }
}

/// Returns a URL for messages: without user name, password, query or fragment.
pub fn without_query(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Returns the deepest cause's message: the OS's or TLS's own words, without the layers of
/// "error sending request" around it.
pub fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    deepest.to_string()
}

/// Returns `error` and its causes, joined with `: `, without repeats.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Returns true if and only if an error of type `T` is in the chain.
///
/// An `io::Error` wrapping another error reports that error's *source* as its own, skipping
/// the wrapped error itself (std's `impl Error for io::Error`): hyper hands rustls's
/// certificate errors up inside one, so the wrapped error is looked at too.
pub(crate) fn chain_has<T: std::error::Error + 'static>(
    error: &(dyn std::error::Error + 'static),
) -> bool {
    let mut next = Some(error);
    while let Some(cause) = next {
        if cause.is::<T>() {
            return true;
        }
        if let Some(wrapped) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && chain_has::<T>(wrapped)
        {
            return true;
        }
        next = cause.source();
    }
    false
}

/// Reads `Retry-After` in seconds. The HTTP-date form is ignored (backoff applies instead):
/// the services are not known to send it, and parsing it needs a date library.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Returns `base` with `segments` appended to its path, each percent-encoded as needed
/// (ids and digests are opaque; a `/` in one must not open another path level).
pub fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Formats a byte count for people: `812 B`, `12.3 MB`, `1.5 GB` (SI units).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    // Precision loss is irrelevant at one decimal.
    let mut value = bytes as f64 / 1000.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 999.95 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport() -> Transport {
        let (client, websocket_client) = http_clients("sifbake-test", true).expect("clients");
        Transport {
            client,
            websocket_client,
            token: Token::new("tok-123").expect("token"),
            retry: RetryPolicy::none(),
            request_timeout: REQUEST_TIMEOUT,
        }
    }

    #[test]
    fn endpoints_keep_the_base_path_and_encode_ids() {
        let base = Url::parse("https://build.example/prefix/").expect("url");
        assert_eq!(
            endpoint(&base, &["v1", "build", "abc", "_cancel"]).as_str(),
            "https://build.example/prefix/v1/build/abc/_cancel"
        );
        let bare = Url::parse("https://library.example").expect("url");
        assert_eq!(
            endpoint(&bare, &["v1", "images", "a", "b", "c:latest"]).as_str(),
            "https://library.example/v1/images/a/b/c:latest"
        );
        assert_eq!(
            endpoint(&bare, &["v1", "tags", "../x/y"]).as_str(),
            "https://library.example/v1/tags/..%2Fx%2Fy"
        );
    }

    #[test]
    fn status_errors_read_like_the_build_client() {
        let transport = transport();
        let error = transport.error_for_status(404, "build x not found", None, "reading");
        assert_eq!(
            error.to_string(),
            "reading failed: 404 Not Found: build x not found"
        );
        assert_eq!(
            error.kind,
            ServiceErrorKind::Status {
                code: 404,
                message: "build x not found".into()
            }
        );
        let error = transport.error_for_status(401, "", None, "submitting the build");
        assert_eq!(error.kind, ServiceErrorKind::Auth);
        assert_eq!(error.detail, "401 Unauthorized");
        let error =
            transport.error_for_status(429, "slow down", Some(Duration::from_secs(3)), "reading");
        assert_eq!(error.kind, ServiceErrorKind::RateLimited);
        assert_eq!(error.retry_after, Some(Duration::from_secs(3)));
        assert!(error.is_transient() && error.not_acted_on());
    }

    #[test]
    fn details_never_hold_the_token() {
        let transport = transport();
        let error =
            transport.error_for_status(400, "bad header: BEARER tok-123", None, "doing tok-123");
        let text = format!("{error} {error:?}");
        assert!(!text.contains("tok-123"), "{text}");
        let value = transport
            .authorization(AuthScheme::UpperBearer)
            .expect("valid header");
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().ok(), Some("BEARER tok-123"));
        assert!(!format!("{value:?}").contains("tok-123"));
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = Outer(std::io::Error::other(tls));
        assert!(chain_has::<rustls::Error>(&wrapped));
        let plain = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(!chain_has::<rustls::Error>(&plain));
    }

    #[test]
    fn urls_in_messages_lose_credentials_and_signatures() {
        let url = Url::parse("https://u:pw@bucket.example/ctx?X-Amz-Signature=abc#f").expect("url");
        assert_eq!(without_query(&url), "https://bucket.example/ctx");
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(" 12 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(12)));
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn sizes_read_well() {
        let cases = [
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1.0 kB"),
            (12_345_678, "12.3 MB"),
            (999_960, "1.0 MB"),
            (1_500_000_000, "1.5 GB"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(human_size(bytes), expected, "{bytes}");
        }
    }
}
