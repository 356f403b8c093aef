//! A build: its request, its log, its outcome, and the `BuildInfo` clients read.
//!
//! The log is an append-only list of chunks plus a watch channel, so any number of
//! websocket sessions can replay it from the start and then follow it live. The outcome is
//! always set before the log is marked done, so a client that saw the stream close reads a
//! final status (PROTOCOL.md §2.4).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::directives::Directives;
use crate::library::LibraryRef;
use crate::timefmt::rfc3339_from_unix;

/// What the client asked for, validated.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The definition bytes.
    pub definition: Vec<u8>,
    /// The parsed destination, `None` for an ephemeral build.
    pub destination: Option<LibraryRef>,
    /// `libraryURL` as sent.
    pub library_url: String,
    /// The build architecture (Go name).
    pub arch: String,
    /// `contextDigest`, if any.
    pub context_digest: Option<String>,
    /// `workingDir`, `/` when absent.
    pub working_dir: String,
    /// Directives forced by a `fail-build` or `shape-build` fault; they win over the
    /// definition's own.
    pub overrides: Option<Directives>,
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An image was published.
    Succeeded {
        /// Image size in bytes.
        size: u64,
        /// `sha256.<hex>` of the image.
        checksum: String,
    },
    /// The build failed, timed out or was cancelled.
    Failed,
}

/// Mutable status of a build.
#[derive(Debug, Clone, Default)]
struct Status {
    start_time: Option<u64>,
    complete_time: Option<u64>,
    outcome: Option<Outcome>,
}

/// Log progress published to websocket sessions: chunks so far and whether the log ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Number of chunks appended.
    pub chunks: usize,
    /// True once the log is complete (and the outcome final).
    pub done: bool,
}

/// One build.
#[derive(Debug)]
pub struct Build {
    /// The 24-hex id.
    pub id: String,
    /// The request.
    pub request: BuildRequest,
    /// Where the result goes: the destination, or the ephemeral ref.
    pub result_ref: String,
    /// The library base URL holding the result.
    pub library_url: String,
    /// Submission time, Unix seconds.
    pub submit_time: u64,
    /// Cancelled by `_cancel`.
    pub cancel: CancellationToken,
    status: Mutex<Status>,
    log: Mutex<Vec<String>>,
    progress: watch::Sender<Progress>,
}

impl Build {
    /// Creates a submitted build.
    pub fn new(
        id: String,
        request: BuildRequest,
        result_ref: String,
        library_url: String,
        submit_time: u64,
    ) -> Self {
        Self {
            id,
            request,
            result_ref,
            library_url,
            submit_time,
            cancel: CancellationToken::new(),
            status: Mutex::new(Status::default()),
            log: Mutex::new(Vec::new()),
            progress: watch::Sender::new(Progress::default()),
        }
    }

    fn status(&self) -> MutexGuard<'_, Status> {
        // Status fields are plain values written one at a time; poisoning cannot tear them.
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self) -> MutexGuard<'_, Vec<String>> {
        // The log is append-only; a poisoned lock still holds whole chunks.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the start time.
    pub fn mark_started(&self, now: u64) {
        self.status().start_time = Some(now);
    }

    /// Appends a chunk of log output.
    pub fn append(&self, text: impl Into<String>) {
        let chunks = {
            let mut log = self.log();
            log.push(text.into());
            log.len()
        };
        self.progress
            .send_modify(|progress| progress.chunks = chunks);
    }

    /// Sets the outcome, runs `counted` once, then marks the log done; later calls are
    /// ignored. `counted` runs before the stream can close, so a client that saw the close
    /// (and exited, like scs-build) finds the emulator's counters final.
    pub fn finish(&self, outcome: Outcome, now: u64, counted: impl FnOnce(&Outcome)) {
        {
            let mut status = self.status();
            if status.outcome.is_some() {
                return;
            }
            counted(&outcome);
            status.outcome = Some(outcome);
            status.complete_time = Some(now);
            status.start_time.get_or_insert(now);
        }
        self.progress.send_modify(|progress| progress.done = true);
    }

    /// Returns the log chunks from index `from` on, and whether the log is complete.
    ///
    /// `done` is read before the chunks, so when it is true the chunks returned are all.
    pub fn chunks_since(&self, from: usize) -> (Vec<String>, bool) {
        let done = self.progress.borrow().done;
        let log = self.log();
        (
            log.get(from..).map(<[String]>::to_vec).unwrap_or_default(),
            done,
        )
    }

    /// Returns the whole log as one string.
    pub fn log_text(&self) -> String {
        self.log().concat()
    }

    /// Subscribes to log progress.
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Returns the `BuildInfo` view (PROTOCOL.md §2.3), with the older clients' time fields.
    pub fn info(&self) -> Value {
        let status = self.status().clone();
        let time = |t: Option<u64>| t.map(rfc3339_from_unix);
        let mut info = json!({
            "id": self.id,
            "isComplete": status.outcome.is_some(),
            "libraryRef": self.result_ref,
            "libraryURL": self.library_url,
            "submitTime": rfc3339_from_unix(self.submit_time),
            "startTime": time(status.start_time),
            "completeTime": time(status.complete_time),
            "definitionRaw": base64::engine::general_purpose::STANDARD.encode(&self.request.definition),
            "builderRequirements": {"arch": self.request.arch},
        });
        if let (Some(Outcome::Succeeded { size, checksum }), Some(map)) =
            (&status.outcome, info.as_object_mut())
        {
            map.insert("imageSize".to_owned(), json!(size));
            map.insert("imageChecksum".to_owned(), json!(checksum));
        }
        info
    }
}

/// All builds by id.
#[derive(Debug, Default)]
pub struct BuildRegistry {
    builds: Mutex<HashMap<String, Arc<Build>>>,
}

impl BuildRegistry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Build>>> {
        // Inserts are whole; a poisoned lock still holds a consistent map.
        self.builds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a build.
    pub fn insert(&self, build: Arc<Build>) {
        self.lock().insert(build.id.clone(), build);
    }

    /// Returns a build by id.
    pub fn get(&self, id: &str) -> Option<Arc<Build>> {
        self.lock().get(id).cloned()
    }

    /// Returns every build.
    pub fn all(&self) -> Vec<Arc<Build>> {
        let mut builds: Vec<Arc<Build>> = self.lock().values().cloned().collect();
        builds.sort_by_key(|build| (build.submit_time, build.id.clone()));
        builds
    }
}
