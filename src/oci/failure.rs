//! Reading what went wrong: a registry's error body, `Retry-After`, and the cause of a
//! failed connection.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use serde::Deserialize;

// The registry speaks HTTP as the Sylabs services do: the same reading of a failed
// connection and of `Retry-After`.
pub use crate::scs::http::{innermost, retry_after};

/// Returns true if and only if TLS refused the connection (a certificate, a handshake).
pub fn has_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    crate::scs::http::chain_has::<rustls::Error>(error)
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
