//! Errors that stop the emulator from starting or from saving its state.
//!
//! Request-level failures are not here: they are answered to the client as enveloped JSON
//! errors (see `envelope.rs`) and never end the server.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// An error that prevents the emulator from starting or persisting its library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("failed to bind `{addr}`")]
    Bind {
        /// The address that was requested.
        addr: SocketAddr,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The configuration is inconsistent (for example an unparseable library API version).
    #[error("invalid emulator configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// The data directory holds a library or keystore document that cannot be read.
    #[error("failed to read the saved state in `{path}`")]
    CorruptState {
        /// The file that failed to parse.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Reading or writing a file in the data directory failed.
    #[error("failed to access `{path}`")]
    DataDir {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}
