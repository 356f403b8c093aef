//! Reading what went wrong: a registry's error body, `Retry-After`, and the cause of a
//! failed connection.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use serde::Deserialize;

/// The deepest cause's words: the OS's or TLS's own, without reqwest's layers around them.
pub fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    deepest.to_string()
}

pub fn has_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(cause) = next {
        if cause.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && has_tls_error(inner)
        {
            return true;
        }
        next = cause.source();
    }
    false
}

/// Reads `Retry-After` in seconds (the HTTP-date form falls back to backoff).
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

/// The registry's error text: `CODE: message` per error, or the start of a non-JSON body.
pub fn registry_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<RegistryError>,
    }
    #[derive(Deserialize)]
    struct RegistryError {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        return parsed
            .errors
            .iter()
            .map(
                |error| match (error.code.is_empty(), error.message.is_empty()) {
                    (false, false) => format!("{}: {}", error.code, error.message),
                    (false, true) => error.code.clone(),
                    _ => error.message.clone(),
                },
            )
            .collect::<Vec<_>>()
            .join("; ");
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_messages() {
        assert_eq!(
            registry_message(br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"x"}]}"#),
            "BLOB_UNKNOWN: blob unknown to registry"
        );
        assert_eq!(registry_message(b"<html>bad gateway</html>"), "");
    }
}
