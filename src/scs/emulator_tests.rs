//! The HTTP clients against the in-process emulator on 127.0.0.1: discovery, token checks,
//! builds with contexts and log streams, the library, and retries under injected faults.
//!
//! Retries wait through a recording [`Pause`], so the tests assert the delays asked for and
//! never sleep; nothing here depends on timing.

use std::path::Path;

use scs_emulator::{Emulator, EmulatorConfig, FaultAction, FaultRule, RunningEmulator};
use tokio::sync::mpsc;

use super::{
    BuildInfo, BuildRequest, BuildService, ConnectError, ConnectOptions, Connection,
    ContextArchive, Image, Library, Pause, PauseLog, RetryPolicy, ServiceError, ServiceErrorKind,
    TagApi, Token, connect, pack_context,
};
use crate::libref::LibraryRef;

mod build;
mod connecting;
mod library;
mod retries;

/// The token every test emulator accepts.
const TOKEN: &str = "emulator-test-token-5e3f";

/// Starts an emulator that accepts [`TOKEN`].
async fn start(config: EmulatorConfig) -> RunningEmulator {
    match Emulator::start(config.with_token(TOKEN)).await {
        Ok(emulator) => emulator,
        Err(error) => panic!("cannot start the emulator: {error}"),
    }
}

/// Options for `emulator`, with retries that record their delays instead of waiting.
fn options(emulator: &RunningEmulator) -> (ConnectOptions, PauseLog) {
    let (pause, log) = Pause::recording();
    let mut options = ConnectOptions::new(token(TOKEN));
    options.remote = emulator.url().to_owned();
    options.retry = RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    }
    .with_pause(pause);
    (options, log)
}

fn token(value: &str) -> Token {
    Token::new(value).unwrap_or_else(|| panic!("`{value}` is not a token"))
}

/// Connects to `emulator`.
async fn connected(emulator: &RunningEmulator) -> (Connection, PauseLog) {
    let (options, log) = options(emulator);
    match connect(&options).await {
        Ok(connection) => (connection, log),
        Err(error) => panic!(
            "cannot connect: {error}: {:?}",
            std::error::Error::source(&error)
        ),
    }
}

fn libref(text: &str) -> LibraryRef {
    LibraryRef::parse(text).unwrap_or_else(|error| panic!("{error}"))
}

fn request(definition: &str, destination: Option<&str>) -> BuildRequest {
    BuildRequest {
        definition: definition.to_owned(),
        library_ref: destination.map(libref),
        library_url: None,
        arch: "amd64".to_owned(),
        context_digest: None,
        working_dir: None,
    }
}

/// Returns the value of a result the test expects to be `Ok`.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|error| panic!("{what}: {error}"))
}

/// Streams a build's log to its end; returns the log and how the stream ended.
async fn follow(build: &impl BuildService, id: &str) -> (String, Result<(), ServiceError>) {
    let (sender, mut receiver) = mpsc::channel::<String>(16);
    let collect = async {
        let mut log = String::new();
        while let Some(chunk) = receiver.recv().await {
            log.push_str(&chunk);
        }
        log
    };
    let (result, log) = tokio::join!(build.stream_log(id, sender), collect);
    (log, result)
}

/// Submits a build, follows its log and returns its final status.
async fn build_to_the_end(connection: &Connection, request: &BuildRequest) -> (BuildInfo, String) {
    let info = ok(connection.build.submit(request).await, "submit");
    let (log, end) = follow(&connection.build, &info.id).await;
    ok(end, "log stream");
    let info = ok(connection.build.status(&info.id).await, "status");
    (info, log)
}

/// Packs `files` (relative to `root`) into a context in `root`.
fn context(root: &Path, files: &[&str]) -> ContextArchive {
    let files: Vec<String> = files.iter().map(|f| (*f).to_owned()).collect();
    ok(pack_context(root, &files, root), "pack the context")
}

fn status_fault(route: &str, times: u64, status: u16) -> FaultRule {
    FaultRule::new(
        route,
        Some(times),
        FaultAction::Status {
            status,
            message: None,
        },
    )
}

/// Asserts that neither the error's text nor its debug form holds the token.
fn assert_no_token(error: &dyn std::fmt::Debug, text: &str) {
    let debug = format!("{error:?}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!debug.contains(TOKEN), "{debug}");
}

/// A definition the emulator builds at once.
const QUICK: &str = "Bootstrap: docker\nFrom: alpine:3.20\n\n%post\n    echo built\n";

/// Returns the error of a result the test expects to fail.
fn err<T: std::fmt::Debug, E>(result: Result<T, E>) -> E {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error,
    }
}
