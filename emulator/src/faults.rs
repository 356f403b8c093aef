//! Fault injection: rules that make chosen requests fail, stall, reset or misbehave.
//!
//! A rule names a route pattern, an action and how many times it fires. Patterns are
//! `"METHOD path"` or just `"path"`, the path without its leading `/`, where `*` matches any
//! run of characters (slashes included): `"POST v1/build"`, `"PUT v2/imagefile/*"`,
//! `"v1/build-ws/*"`, `"*"`. The first matching rule with firings left is used.
//!
//! HTTP actions (`status`, `rate-limit`, `latency`, `reset`) are applied by [`fault_layer`]
//! before authentication; `drop-websocket` is consulted by the log stream, and `fail-build`
//! and `shape-build` when a build is submitted (pattern matched against `POST v1/build`).

use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::conn::ConnHandle;
use crate::counters::Counter;
use crate::envelope::ApiError;
use crate::state::AppState;

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum FaultAction {
    /// Answer with this status and an enveloped error.
    Status {
        /// The HTTP status (400–599).
        status: u16,
        /// The error message; a default names the fault.
        #[serde(default)]
        message: Option<String>,
    },
    /// Answer 429 Too Many Requests with a `Retry-After` header.
    RateLimit {
        /// The `Retry-After` value in seconds.
        #[serde(default = "default_retry_after")]
        retry_after_seconds: u64,
    },
    /// Delay the request, then handle it normally.
    Latency {
        /// The added delay in milliseconds.
        delay_ms: u64,
    },
    /// Read this many bytes of the request body, then reset the TCP connection (RST).
    Reset {
        /// Bytes of request body read before the reset.
        #[serde(default)]
        after_bytes: u64,
    },
    /// Drop a build's log websocket after this many frames, without a close frame.
    DropWebsocket {
        /// Frames sent before the drop.
        #[serde(default)]
        after_frames: u64,
    },
    /// Make the next submitted build fail with this reason.
    FailBuild {
        /// The reason printed in the build log.
        reason: String,
    },
    /// Shape the next submitted build as `# emulator:` directives would; set fields win
    /// over the definition's directives.
    ShapeBuild {
        /// Build duration in milliseconds.
        #[serde(default)]
        duration_ms: Option<u64>,
        /// Bytes of filler log.
        #[serde(default)]
        log_bytes: Option<u64>,
        /// Failure reason.
        #[serde(default)]
        fail: Option<String>,
    },
}

fn default_retry_after() -> u64 {
    1
}

impl FaultAction {
    /// Returns true for actions applied to plain HTTP requests by [`fault_layer`].
    pub fn is_http(&self) -> bool {
        matches!(
            self,
            Self::Status { .. }
                | Self::RateLimit { .. }
                | Self::Latency { .. }
                | Self::Reset { .. }
        )
    }
}

/// A fault rule as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// The route pattern (see the module docs); `*` when absent.
    #[serde(default = "any_route")]
    pub route: String,
    /// How many times the rule fires; absent means until it is removed.
    #[serde(default)]
    pub times: Option<u64>,
    /// What happens.
    pub action: FaultAction,
}

fn any_route() -> String {
    "*".to_owned()
}

impl FaultRule {
    /// Creates a rule that fires `times` times on `route`.
    pub fn new(route: impl Into<String>, times: Option<u64>, action: FaultAction) -> Self {
        Self {
            route: route.into(),
            times,
            action,
        }
    }
}

/// An installed rule with its id and remaining firings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveFault {
    /// The id to remove it by.
    pub id: u64,
    /// The rule.
    pub rule: FaultRule,
    /// Firings left (`None` = unlimited).
    pub remaining: Option<u64>,
    /// How often it has fired.
    pub fired: u64,
}

/// The installed rules.
#[derive(Debug, Default)]
pub struct FaultRegistry {
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    faults: Vec<ActiveFault>,
}

impl FaultRegistry {
    /// Installs a rule and returns its id.
    pub fn add(&self, rule: FaultRule) -> u64 {
        let mut registry = self.lock();
        registry.next_id += 1;
        let id = registry.next_id;
        let remaining = rule.times;
        registry.faults.push(ActiveFault {
            id,
            rule,
            remaining,
            fired: 0,
        });
        id
    }

    /// Removes a rule; returns false if there was none with this id.
    pub fn remove(&self, id: u64) -> bool {
        let mut registry = self.lock();
        let before = registry.faults.len();
        registry.faults.retain(|fault| fault.id != id);
        registry.faults.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().faults.clear();
    }

    /// Returns the installed rules.
    pub fn list(&self) -> Vec<ActiveFault> {
        self.lock().faults.clone()
    }

    /// Fires the first rule that matches the request and `wanted`, if any.
    pub fn take(
        &self,
        method: &str,
        path: &str,
        wanted: impl Fn(&FaultAction) -> bool,
    ) -> Option<FaultAction> {
        let mut registry = self.lock();
        let fault = registry.faults.iter_mut().find(|fault| {
            fault.remaining != Some(0)
                && wanted(&fault.rule.action)
                && route_matches(&fault.rule.route, method, path)
        })?;
        fault.fired += 1;
        if let Some(remaining) = fault.remaining.as_mut() {
            *remaining -= 1;
        }
        Some(fault.rule.action.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Every update leaves the registry consistent, so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Returns true if `pattern` matches a request.
pub fn route_matches(pattern: &str, method: &str, path: &str) -> bool {
    let path = path.trim_start_matches('/');
    let (method_pattern, path_pattern) = match pattern.trim().split_once(' ') {
        Some((m, p)) => (Some(m), p.trim().trim_start_matches('/')),
        None => (None, pattern.trim().trim_start_matches('/')),
    };
    method_pattern.is_none_or(|m| m.eq_ignore_ascii_case(method)) && wildcard(path_pattern, path)
}

/// Matches `*` against any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    let Some(first) = pieces.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Counts the request, then applies the first matching HTTP fault, if any.
pub async fn fault_layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    let method = request.method().as_str().to_owned();
    state.counters.record_request(format!("{method} {route}"));
    let fault = state
        .faults
        .take(&method, request.uri().path(), FaultAction::is_http);
    let Some(action) = fault else {
        return next.run(request).await;
    };
    state.counters.bump(Counter::FaultsInjected);
    tracing::info!(%method, path = %request.uri().path(), ?action, "injecting fault");
    match action {
        FaultAction::Latency { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            next.run(request).await
        }
        FaultAction::Status { status, message } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = message.unwrap_or_else(|| format!("injected fault: {status}"));
            ApiError::new(status, message).into_response()
        }
        FaultAction::RateLimit {
            retry_after_seconds,
        } => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit exceeded (injected)",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            response
        }
        FaultAction::Reset { after_bytes } => reset_connection(request, after_bytes).await,
        FaultAction::DropWebsocket { .. }
        | FaultAction::FailBuild { .. }
        | FaultAction::ShapeBuild { .. } => next.run(request).await,
    }
}

/// Reads `after_bytes` of the body, then resets the connection this request came on.
async fn reset_connection(request: Request, after_bytes: u64) -> Response {
    let Some(connection) = request.extensions().get::<ConnHandle>().cloned() else {
        return ApiError::internal("reset fault needs a real connection").into_response();
    };
    let mut stream = request.into_body().into_data_stream();
    let mut read: u64 = 0;
    while read < after_bytes {
        match stream.next().await {
            Some(Ok(chunk)) => read += chunk.len() as u64,
            Some(Err(_)) | None => break,
        }
    }
    connection.reset();
    // The connection task drops this future together with the connection, so nothing is
    // ever sent: the client sees the reset, not a response.
    std::future::pending::<()>().await;
    Response::new(Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_route_patterns() {
        assert!(route_matches("POST v1/build", "POST", "/v1/build"));
        assert!(!route_matches("POST v1/build", "GET", "/v1/build"));
        assert!(!route_matches("POST v1/build", "POST", "/v1/build-context"));
        assert!(route_matches("v1/build*", "GET", "/v1/build/abc"));
        assert!(route_matches(
            "put v2/imagefile/*/_complete",
            "PUT",
            "/v2/imagefile/x/_complete"
        ));
        assert!(!route_matches(
            "PUT v2/imagefile/*/_complete",
            "PUT",
            "/v2/imagefile/x"
        ));
        assert!(route_matches("*", "DELETE", "/anything/at/all"));
        assert!(route_matches(
            "/v1/images/*",
            "GET",
            "/v1/images/a/b/c:latest"
        ));
    }

    #[test]
    fn rules_fire_the_configured_number_of_times() {
        let registry = FaultRegistry::default();
        let action = FaultAction::Status {
            status: 503,
            message: None,
        };
        let id = registry.add(FaultRule::new("POST v1/build", Some(2), action.clone()));
        assert_eq!(
            registry.take("GET", "/v1/build", FaultAction::is_http),
            None
        );
        assert_eq!(
            registry.take("POST", "/v1/build", FaultAction::is_http),
            Some(action.clone())
        );
        assert_eq!(
            registry.take("POST", "/v1/build", FaultAction::is_http),
            Some(action)
        );
        assert_eq!(
            registry.take("POST", "/v1/build", FaultAction::is_http),
            None
        );
        assert_eq!(registry.list()[0].fired, 2);
        assert!(registry.remove(id));
        assert!(!registry.remove(id));
    }

    #[test]
    fn rules_deserialize_from_the_documented_json() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"route":"GET v1/build/*","times":1,"action":{"kind":"rate-limit","retryAfterSeconds":3}}"#,
        )
        .unwrap();
        assert_eq!(
            rule.action,
            FaultAction::RateLimit {
                retry_after_seconds: 3
            }
        );
        let rule: FaultRule =
            serde_json::from_str(r#"{"action":{"kind":"fail-build","reason":"boom"}}"#).unwrap();
        assert_eq!(rule.route, "*");
        assert_eq!(rule.times, None);
    }
}
