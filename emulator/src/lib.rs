//! `scs-emulator`: a faithful, fault-injecting stand-in for the Sylabs build service and
//! container library (SCS), written from the protocol reference (`PROTOCOL.md`), not from
//! sifbake's types, so it can catch sifbake's mistakes.
//!
//! One listener plays every service: discovery (`/assets/config/config.prod.json`),
//! `/version`, token status, the build service (submit, status, websocket log, cancel,
//! build contexts) and the library (entities, collections, containers, images, v1/v2 tags,
//! v1/v2/multipart uploads, downloads with ranges, search, delete) and the OpenPGP keystore
//! (HKP `/pks/add` and `/pks/lookup`).
//!
//! Builds are emulated and say so: the first log line is
//! `INFO:    Emulated build by scs-emulator: no container was actually built`. They check the
//! definition's `Bootstrap: library` bases and `%files` sources, obey `# emulator:`
//! directives (`duration=2s`, `fail="reason"`, `log-bytes=N`), and publish a real,
//! deterministic SIF file.
//!
//! ```no_run
//! # async fn demo() -> Result<(), scs_emulator::Error> {
//! use scs_emulator::{Emulator, EmulatorConfig, FaultAction, FaultRule};
//!
//! let emulator = Emulator::start(EmulatorConfig::default().with_token("secret")).await?;
//! emulator.faults().add(FaultRule::new(
//!     "POST v1/build",
//!     Some(1),
//!     FaultAction::Status { status: 503, message: None },
//! ));
//! // ... point a client at emulator.url() ...
//! assert_eq!(emulator.counters().builds_submitted, 0);
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod admin;
mod apiver;
mod auth;
mod build;
mod buildctx;
mod config;
mod conn;
mod counters;
mod deffile;
mod directives;
mod discovery;
mod envelope;
mod error;
mod faults;
mod ids;
mod keystore;
mod library;
mod persist;
mod presigned;
mod record;
mod router;
mod server;
pub mod sif;
mod state;
mod timefmt;
mod uploads;

pub use config::{DEFAULT_LIBRARY_API_VERSION, DEFAULT_MAX_BUILD_DURATION, EmulatorConfig};
pub use counters::Counters;
pub use error::Error;
pub use faults::{ActiveFault, FaultAction, FaultRule};
pub use keystore::StoredKey;
pub use record::RecordedRequest;
pub use server::{Emulator, Faults, RunningEmulator};
pub use timefmt::parse_duration;
