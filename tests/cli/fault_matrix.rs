//! The fault matrix: every endpoint `sifbake build` calls, under every fault the emulator can
//! inject (5xx bursts, 429 with `Retry-After`, latency past the request timeout, connection
//! resets, a dropped log stream, a lasting refusal) and an emulator restarted mid-run; the
//! calls only a signed build makes have their rows in [`signed`].
//!
//! [`CASES`] is the one table: [`every_injected_fault_case`] runs each row against its own
//! emulator and asserts the exit code, the result document, the library's final state (tags
//! only on complete images; the ref tags all or none) and the emulator's counters (no build
//! submitted twice, every injected fault fired); the restart rows have tests of their own.
//! `RELIABILITY.md` holds the table rendered from [`CASES`] ([`the_matrix_in_reliability_md_is_generated`]),
//! so the document cannot drift from what is tested.
//!
//! Retries wait for real (1 s, 2 s, 4 s, with jitter): the rows run several at a time, each
//! against its own emulator, to keep the whole matrix to about a minute.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scs_emulator::{EmulatorConfig, FaultAction, FaultRule};
use serde_json::Value;

use crate::support::{Emulated, Repo, TOKEN, repo_root};

mod signed;

/// An endpoint sifbake calls.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Endpoint {
    Discovery,
    TokenStatus,
    LibraryVersion,
    ImageLookup,
    TagsV2,
    TagsV1,
    ContextAnnounce,
    ContextUpload,
    Submit,
    LogStream,
    BuildStatus,
    Cancel,
    ContextDelete,
    /// A signed build's download of its unsigned image: the library's redirect.
    SignDownload,
    /// The ranged `GET`s of the presigned download URL.
    SignDownloadRange,
    /// The signed upload's entity, collection and container lookups.
    EntityLookup,
    CollectionLookup,
    ContainerLookup,
    /// `POST v2/imagefile/{id}`: the signed upload's presigned URL.
    SignedUploadStart,
    /// The `PUT` of the signed file to that URL.
    SignedUploadPut,
    /// `PUT v2/imagefile/{id}/_complete`.
    SignedUploadComplete,
    /// The signing key pushed to the keystore (`keystore: true`).
    KeystoreAdd,
    /// The whole emulator (restarts).
    Everything,
}

impl Endpoint {
    /// The emulator's fault pattern for it.
    fn pattern(self) -> &'static str {
        match self {
            Endpoint::Discovery => "GET assets/config/config.prod.json",
            Endpoint::TokenStatus => "GET v1/token-status",
            Endpoint::LibraryVersion => "GET version",
            Endpoint::ImageLookup => "GET v1/images/*",
            Endpoint::TagsV2 => "POST v2/tags/*",
            Endpoint::TagsV1 => "POST v1/tags/*",
            Endpoint::ContextAnnounce => "POST v1/build-context",
            Endpoint::ContextUpload => "PUT _upload/*",
            Endpoint::Submit => "POST v1/build",
            Endpoint::LogStream => "GET v1/build-ws/*",
            Endpoint::BuildStatus => "GET v1/build/*",
            Endpoint::Cancel => "PUT v1/build/*/_cancel",
            Endpoint::ContextDelete => "DELETE v1/build-context/*",
            Endpoint::SignDownload => "GET v1/imagefile/*",
            Endpoint::SignDownloadRange => "GET _download/*",
            Endpoint::EntityLookup => "GET v1/entities/*",
            Endpoint::CollectionLookup => "GET v1/collections/*",
            Endpoint::ContainerLookup => "GET v1/containers/*",
            Endpoint::SignedUploadStart => "POST v2/imagefile/*",
            // Context uploads use presigned `PUT`s too; `app`'s comes only after `base` is
            // signed, uploaded and tagged, so the rule's firings all meet `base`'s upload.
            Endpoint::SignedUploadPut => "PUT _upload/*",
            Endpoint::SignedUploadComplete => "PUT v2/imagefile/*/_complete",
            Endpoint::KeystoreAdd => "POST pks/add",
            Endpoint::Everything => "*",
        }
    }

    /// How the matrix names it.
    fn describe(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery `GET /assets/config/config.prod.json`",
            Endpoint::TokenStatus => "token check `GET /v1/token-status`",
            Endpoint::LibraryVersion => "library `GET /version`",
            Endpoint::ImageLookup => "image lookup `GET /v1/images/…`",
            Endpoint::TagsV2 => "tags `POST /v2/tags/{container}`",
            Endpoint::TagsV1 => "tags `POST /v1/tags/{container}` (v1-only library)",
            Endpoint::ContextAnnounce => "context `POST /v1/build-context`",
            Endpoint::ContextUpload => "context upload `PUT` (presigned URL)",
            Endpoint::Submit => "submit `POST /v1/build`",
            Endpoint::LogStream => "log stream `GET /v1/build-ws/{id}`",
            Endpoint::BuildStatus => "status `GET /v1/build/{id}`",
            Endpoint::Cancel => "cancel `PUT /v1/build/{id}/_cancel`",
            Endpoint::ContextDelete => "context delete `DELETE /v1/build-context/{digest}`",
            Endpoint::SignDownload => "sign: download `GET /v1/imagefile/…:sha256.…`",
            Endpoint::SignDownloadRange => "sign: download `GET` ranges (presigned URL)",
            Endpoint::EntityLookup => "sign: entity `GET /v1/entities/…`",
            Endpoint::CollectionLookup => "sign: collection `GET /v1/collections/…`",
            Endpoint::ContainerLookup => "sign: container `GET /v1/containers/…`",
            Endpoint::SignedUploadStart => "sign: upload `POST /v2/imagefile/{id}`",
            Endpoint::SignedUploadPut => "sign: upload `PUT` (presigned URL)",
            Endpoint::SignedUploadComplete => "sign: upload `PUT /v2/imagefile/{id}/_complete`",
            Endpoint::KeystoreAdd => "keystore `POST /pks/add`",
            Endpoint::Everything => "the whole emulator (`--data-dir`)",
        }
    }
}

/// When the restart rows restart the emulator.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum RestartAt {
    /// While `base` builds: the build is lost (builds are not persisted).
    DuringBuild,
    /// After `base` is built and tagged, before `app` is submitted.
    BetweenBuilds,
}

/// What goes wrong.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Fault {
    /// `times` answers with this 5xx status.
    Status { status: u16, times: u64 },
    /// `times` answers 429 with `Retry-After: seconds`.
    RateLimit { seconds: u64, times: u64 },
    /// One request held for `ms`, past the run's `--request-timeout` of [`REQUEST_TIMEOUT`].
    Latency { ms: u64 },
    /// One request whose connection is reset after `after_bytes` of its body.
    Reset { after_bytes: u64 },
    /// `times` log streams dropped without a close frame after `after_frames` frames.
    DropWebsocket { after_frames: u64, times: u64 },
    /// Every request answered with this status, for as long as the run lasts.
    Refused { status: u16 },
    /// The emulator binary restarted on the same port and data directory.
    Restart(RestartAt),
}

impl Fault {
    fn describe(self) -> String {
        match self {
            Fault::Status { status, times } => format!("{status} × {times}"),
            Fault::RateLimit { seconds, times } => {
                format!("429 `Retry-After: {seconds}` × {times}")
            }
            Fault::Latency { ms } => format!(
                "{} s latency (request timeout {} s)",
                ms / 1000,
                REQUEST_TIMEOUT.as_secs()
            ),
            Fault::Reset { after_bytes: 0 } => "connection reset".to_owned(),
            Fault::Reset { after_bytes } => {
                format!("connection reset after {after_bytes} bytes of the body")
            }
            Fault::DropWebsocket {
                after_frames,
                times,
            } => format!("dropped after {after_frames} frame (no close frame) × {times}"),
            Fault::Refused { status } => format!("{status}, every time"),
            Fault::Restart(RestartAt::DuringBuild) => "restarted while a build runs".to_owned(),
            Fault::Restart(RestartAt::BetweenBuilds) => "restarted between two builds".to_owned(),
        }
    }

    /// The rule the emulator gets, for the injected kinds.
    fn rule(self, endpoint: Endpoint) -> Option<FaultRule> {
        let (times, action) = match self {
            Fault::Status { status, times } => (
                times,
                FaultAction::Status {
                    status,
                    message: None,
                },
            ),
            Fault::RateLimit { seconds, times } => (
                times,
                FaultAction::RateLimit {
                    retry_after_seconds: seconds,
                },
            ),
            Fault::Latency { ms } => (1, FaultAction::Latency { delay_ms: ms }),
            Fault::Reset { after_bytes } => (1, FaultAction::Reset { after_bytes }),
            Fault::DropWebsocket {
                after_frames,
                times,
            } => (times, FaultAction::DropWebsocket { after_frames }),
            Fault::Refused { status } => {
                let action = FaultAction::Status {
                    status,
                    message: None,
                };
                return Some(FaultRule::new(endpoint.pattern(), None, action));
            }
            Fault::Restart(_) => return None,
        };
        Some(FaultRule::new(endpoint.pattern(), Some(times), action))
    }

    /// How many times the rule must have fired.
    fn times(self) -> u64 {
        match self {
            Fault::Status { times, .. }
            | Fault::RateLimit { times, .. }
            | Fault::DropWebsocket { times, .. } => times,
            // A refusal is not retried: it meets one request.
            Fault::Latency { .. } | Fault::Reset { .. } | Fault::Refused { .. } => 1,
            Fault::Restart(_) => 0,
        }
    }
}

/// The repository a row runs on: `base`, then `app`, which builds on `base` and has a
/// `%files` source (so a context is announced, uploaded and deleted).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Scenario {
    /// Both build in about a second.
    Standard,
    /// `app` runs for an hour and its `timeout: 3s` cancels it.
    AppTimesOut,
    /// Both signed by a key made for the row ([`signed`]).
    Signed(signed::Signing),
}

/// How the run ends.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Outcome {
    /// Both images built, checked and tagged.
    BothBuilt,
    /// `base` failed for the service's reason; `app` was skipped; nothing tagged.
    BaseFailed,
    /// `base` built and tagged; `app` timed out and was not tagged.
    AppTimedOut,
    /// The run stopped before submitting anything.
    NothingBuilt,
}

/// What a row asserts.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    pub exit: i32,
    pub outcome: Outcome,
    /// Builds the emulator accepted (counted across restarts): never more than one per image.
    pub submitted: u64,
    /// Remote builds cancelled (the timeout rows).
    pub cancelled: u64,
    /// What else the row shows, for the matrix.
    pub note: &'static str,
}

/// One row of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub id: &'static str,
    pub endpoint: Endpoint,
    pub fault: Fault,
    pub scenario: Scenario,
    pub expect: Expect,
}

/// The request timeout the latency rows run with (`--request-timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The latency the latency rows inject: past [`REQUEST_TIMEOUT`].
const LATENCY_MS: u64 = 4_000;

const fn ok(note: &'static str) -> Expect {
    Expect {
        exit: 0,
        outcome: Outcome::BothBuilt,
        submitted: 2,
        cancelled: 0,
        note,
    }
}

const fn timed_out(note: &'static str) -> Expect {
    Expect {
        exit: 1,
        outcome: Outcome::AppTimedOut,
        submitted: 2,
        cancelled: 1,
        note,
    }
}

/// A submission that may have reached the service fails its image, and is not sent again.
const fn not_resubmitted(note: &'static str) -> Expect {
    Expect {
        exit: 3,
        outcome: Outcome::BaseFailed,
        submitted: 0,
        cancelled: 0,
        note,
    }
}

const fn case(id: &'static str, endpoint: Endpoint, fault: Fault, expect: Expect) -> Case {
    Case {
        id,
        endpoint,
        fault,
        scenario: Scenario::Standard,
        expect,
    }
}

const fn on_timeout(id: &'static str, endpoint: Endpoint, fault: Fault, expect: Expect) -> Case {
    Case {
        id,
        endpoint,
        fault,
        scenario: Scenario::AppTimesOut,
        expect,
    }
}

const S503X3: Fault = Fault::Status {
    status: 503,
    times: 3,
};
const S502X3: Fault = Fault::Status {
    status: 502,
    times: 3,
};
const S500X1: Fault = Fault::Status {
    status: 500,
    times: 1,
};
const S504X1: Fault = Fault::Status {
    status: 504,
    times: 1,
};
const RATE: Fault = Fault::RateLimit {
    seconds: 2,
    times: 2,
};
const SLOW: Fault = Fault::Latency { ms: LATENCY_MS };
const RESET: Fault = Fault::Reset { after_bytes: 0 };

const RETRIED: &str = "retried";
const SLOW_RETRIED: &str = "the request timed out and was retried";
const NO_TIMEOUT: &str = "no request timeout on this call: it waits";
const CLEANUP_RETRIED: &str = "retried after 250 ms, 500 ms, 1 s: within the 5 s clean-up bound";

/// The matrix. Every row ends in success unless the fault is one sifbake must not paper
/// over: a submission that may have reached the service is never sent again.
pub const CASES: &[Case] = &[
    case("discovery-503x3", Endpoint::Discovery, S503X3, ok(RETRIED)),
    case("discovery-429", Endpoint::Discovery, RATE, ok(RETRIED)),
    case(
        "discovery-latency",
        Endpoint::Discovery,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case("discovery-reset", Endpoint::Discovery, RESET, ok(RETRIED)),
    case("token-502x3", Endpoint::TokenStatus, S502X3, ok(RETRIED)),
    case("token-429", Endpoint::TokenStatus, RATE, ok(RETRIED)),
    case(
        "token-latency",
        Endpoint::TokenStatus,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case("token-reset", Endpoint::TokenStatus, RESET, ok(RETRIED)),
    case(
        "version-503x3",
        Endpoint::LibraryVersion,
        S503X3,
        ok(RETRIED),
    ),
    case("version-429", Endpoint::LibraryVersion, RATE, ok(RETRIED)),
    case(
        "version-latency",
        Endpoint::LibraryVersion,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case(
        "version-reset",
        Endpoint::LibraryVersion,
        RESET,
        ok(RETRIED),
    ),
    case("images-502x3", Endpoint::ImageLookup, S502X3, ok(RETRIED)),
    case("images-429", Endpoint::ImageLookup, RATE, ok(RETRIED)),
    case(
        "images-latency",
        Endpoint::ImageLookup,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case("images-reset", Endpoint::ImageLookup, RESET, ok(RETRIED)),
    case(
        "tags-500x3",
        Endpoint::TagsV2,
        Fault::Status {
            status: 500,
            times: 3,
        },
        ok(RETRIED),
    ),
    case("tags-429", Endpoint::TagsV2, RATE, ok(RETRIED)),
    case("tags-latency", Endpoint::TagsV2, SLOW, ok(SLOW_RETRIED)),
    case(
        "tags-reset",
        Endpoint::TagsV2,
        Fault::Reset { after_bytes: 8 },
        ok(RETRIED),
    ),
    case(
        "tags-v1-503x2",
        Endpoint::TagsV1,
        Fault::Status {
            status: 503,
            times: 2,
        },
        ok(RETRIED),
    ),
    case(
        "context-503x3",
        Endpoint::ContextAnnounce,
        S503X3,
        ok(RETRIED),
    ),
    case("context-429", Endpoint::ContextAnnounce, RATE, ok(RETRIED)),
    case(
        "context-latency",
        Endpoint::ContextAnnounce,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case(
        "context-reset",
        Endpoint::ContextAnnounce,
        Fault::Reset { after_bytes: 8 },
        ok(RETRIED),
    ),
    case(
        "upload-503x3",
        Endpoint::ContextUpload,
        S503X3,
        ok("announced again and re-uploaded"),
    ),
    case(
        "upload-429",
        Endpoint::ContextUpload,
        RATE,
        ok("announced again and re-uploaded"),
    ),
    case(
        "upload-latency",
        Endpoint::ContextUpload,
        SLOW,
        ok(NO_TIMEOUT),
    ),
    case(
        "upload-reset",
        Endpoint::ContextUpload,
        Fault::Reset { after_bytes: 64 },
        ok("announced again and re-uploaded"),
    ),
    case(
        "submit-503x3",
        Endpoint::Submit,
        S503X3,
        ok("refused submissions are sent again: the service did not act on them"),
    ),
    case(
        "submit-429",
        Endpoint::Submit,
        RATE,
        ok("refused submissions are sent again: the service did not act on them"),
    ),
    case(
        "submit-latency",
        Endpoint::Submit,
        SLOW,
        not_resubmitted(
            "never sent twice (it may have started a build): one request; `base` fails, `app` is skipped",
        ),
    ),
    case(
        "submit-reset",
        Endpoint::Submit,
        Fault::Reset { after_bytes: 16 },
        not_resubmitted(
            "never sent twice once on the wire: one request; `base` fails, `app` is skipped",
        ),
    ),
    case(
        "log-503x3",
        Endpoint::LogStream,
        S503X3,
        ok("the handshake is retried"),
    ),
    case(
        "log-dropped",
        Endpoint::LogStream,
        Fault::DropWebsocket {
            after_frames: 1,
            times: 2,
        },
        ok("falls back to polling the status; log marked incomplete"),
    ),
    case(
        "log-429",
        Endpoint::LogStream,
        RATE,
        ok("the handshake is retried"),
    ),
    case("log-latency", Endpoint::LogStream, SLOW, ok(NO_TIMEOUT)),
    case(
        "log-reset",
        Endpoint::LogStream,
        RESET,
        ok("the handshake is retried"),
    ),
    case("status-503x3", Endpoint::BuildStatus, S503X3, ok(RETRIED)),
    case("status-429", Endpoint::BuildStatus, RATE, ok(RETRIED)),
    case(
        "status-latency",
        Endpoint::BuildStatus,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case("status-reset", Endpoint::BuildStatus, RESET, ok(RETRIED)),
    on_timeout(
        "cancel-504x1",
        Endpoint::Cancel,
        S504X1,
        timed_out(CLEANUP_RETRIED),
    ),
    on_timeout(
        "cancel-429",
        Endpoint::Cancel,
        Fault::RateLimit {
            seconds: 3,
            times: 1,
        },
        timed_out("`Retry-After` is cut to 1 s for clean-up calls"),
    ),
    on_timeout(
        "cancel-latency",
        Endpoint::Cancel,
        SLOW,
        timed_out("the cancel times out after 2 s and is retried within the 5 s bound"),
    ),
    on_timeout(
        "cancel-502x2",
        Endpoint::Cancel,
        Fault::Status {
            status: 502,
            times: 2,
        },
        timed_out(CLEANUP_RETRIED),
    ),
    on_timeout(
        "cancel-503x3",
        Endpoint::Cancel,
        S503X3,
        timed_out(CLEANUP_RETRIED),
    ),
    case(
        "delete-500x1",
        Endpoint::ContextDelete,
        S500X1,
        ok(CLEANUP_RETRIED),
    ),
    case(
        "delete-503x3",
        Endpoint::ContextDelete,
        S503X3,
        ok(CLEANUP_RETRIED),
    ),
    case(
        "delete-429",
        Endpoint::ContextDelete,
        RATE,
        ok("`Retry-After` is cut to 1 s for clean-up calls"),
    ),
    case(
        "delete-latency",
        Endpoint::ContextDelete,
        SLOW,
        ok("the delete times out after 2 s and is retried within the 5 s bound"),
    ),
    case(
        "restart-during-build",
        Endpoint::Everything,
        Fault::Restart(RestartAt::DuringBuild),
        Expect {
            submitted: 1,
            ..not_resubmitted(
                "the running build is lost (builds are not persisted): `base` fails cleanly, nothing tagged, nothing resubmitted",
            )
        },
    ),
    case(
        "restart-between-builds",
        Endpoint::Everything,
        Fault::Restart(RestartAt::BetweenBuilds),
        ok("the library persists: `app` is submitted after the restart and builds on `base`"),
    ),
];

/// Every row: the unsigned matrix, then the calls only a signed build makes.
fn all_cases() -> impl Iterator<Item = &'static Case> {
    CASES.iter().chain(signed::CASES)
}

fn find(id: &str) -> &'static Case {
    CASES
        .iter()
        .find(|case| case.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

/// Writes the scenario's repository.
fn repository(scenario: Scenario) -> Repo {
    let repo = Repo::empty();
    let (timeout, app_duration) = match scenario {
        Scenario::Standard | Scenario::Signed(_) => ("", ""),
        Scenario::AppTimesOut => ("    timeout: 3s\n", "# emulator: duration=1h\n"),
    };
    let sign = match scenario {
        Scenario::Signed(signing) => signed::defaults_line(signing),
        Scenario::Standard | Scenario::AppTimesOut => String::new(),
    };
    repo.commit_files(
        "matrix",
        &[
            (
                "sifbake.yaml",
                &format!(
                    "version: 1\ndefaults:\n  library: library://acme/matrix\n{sign}targets:\n  base:\n    def: base.def\n  app:\n    def: app.def\n{timeout}"
                ),
            ),
            (
                "base.def",
                "# emulator: duration=1s\nBootstrap: docker\nFrom: alpine:3.20\n\n%post\n    echo base\n",
            ),
            (
                "app.def",
                &format!(
                    "{app_duration}Bootstrap: library\nFrom: acme/matrix/base\n\n%files\n    data.txt /opt/data.txt\n\n%post\n    echo app\n"
                ),
            ),
            ("data.txt", "some data\n"),
        ],
    );
    repo
}

/// The arguments of every matrix run.
fn build_args(case: &Case) -> Vec<String> {
    let mut args: Vec<String> = ["build", "--format", "json", "--default-branch", "main"]
        .map(str::to_owned)
        .to_vec();
    if matches!(case.fault, Fault::Latency { .. }) {
        args.push("--request-timeout".to_owned());
        args.push(format!("{}s", REQUEST_TIMEOUT.as_secs()));
    }
    args
}

/// Looks up `(target, arch)` in a result document.
fn image_of<'a>(result: &'a Value, target: &str) -> &'a Value {
    &result["targets"]
        .as_array()
        .and_then(|targets| targets.iter().find(|t| t["name"] == target))
        .unwrap_or_else(|| panic!("no {target} in {result}"))["images"][0]
}

/// Checks the result document and the library against the expected outcome; returns the
/// problems found.
fn check_outcome(
    expect: &Expect,
    result: &Value,
    lookup: &dyn Fn(&str, &str) -> Option<sifbake::scs::Image>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let (base, app) = match expect.outcome {
        Outcome::BothBuilt => ("built", "built"),
        Outcome::BaseFailed => ("failed", "skipped"),
        Outcome::AppTimedOut => ("built", "timed-out"),
        Outcome::NothingBuilt => ("skipped", "skipped"),
    };
    for (target, status) in [("base", base), ("app", app)] {
        let image = image_of(result, target);
        if image["status"] != status {
            problems.push(format!(
                "{target} is {} (expected {status}): {}",
                image["status"], image["reason"]
            ));
        }
        let container = format!("acme/matrix/{target}");
        let digest_tag = image["digest_tag"].as_str().unwrap_or_default().to_owned();
        if status == "built" {
            // Every tag the run reports is in the library, on the image it built.
            let hash = image["image"]["hash"].as_str().unwrap_or_default();
            let tags: Vec<&str> = image["tags"]
                .as_array()
                .map(|tags| tags.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if tags != ["main", "latest", digest_tag.as_str()] {
                problems.push(format!("{target} reports tags {tags:?}"));
            }
            for tag in tags {
                match lookup(&container, tag) {
                    Some(found) if found.hash == hash && found.size > 0 => {}
                    other => problems.push(format!(
                        "{target}:{tag} in the library is {other:?}, not {hash}"
                    )),
                }
            }
        } else {
            // Nothing half-tagged: none of the ref tags; the digest tag only on a complete
            // image the service itself published.
            if image["tags"]
                .as_array()
                .is_some_and(|tags| !tags.is_empty())
            {
                problems.push(format!("{target} reports tags {}", image["tags"]));
            }
            for tag in ["main", "latest"] {
                if let Some(found) = lookup(&container, tag) {
                    problems.push(format!("{target}:{tag} is in the library: {found:?}"));
                }
            }
            if let Some(found) = lookup(&container, &digest_tag)
                && found.size == 0
            {
                problems.push(format!("{target}:{digest_tag} names an empty image"));
            }
        }
    }
    if result["exit_code"] != expect.exit {
        problems.push(format!("the result says exit {}", result["exit_code"]));
    }
    problems
}

/// Runs one injected-fault row; returns the problems found.
fn run_case(case: &Case) -> Vec<String> {
    let config = if case.endpoint == Endpoint::TagsV1 {
        EmulatorConfig::default().v1_only()
    } else {
        EmulatorConfig::default()
    };
    let emulated = Emulated::with(config);
    if let Some(rule) = case.fault.rule(case.endpoint) {
        emulated.add_rule(rule);
    }
    let repo = repository(case.scenario);
    let key = matches!(case.scenario, Scenario::Signed(_)).then(signed::key);
    let mut command = emulated.sifbake(repo.path());
    if let Some(key) = &key {
        command = command.env(signed::KEY_VAR, &key.secret);
    }
    let run = command
        .args(build_args(case))
        .timeout(Duration::from_secs(300))
        .run();
    let mut problems = Vec::new();
    if run.code() != case.expect.exit {
        problems.push(format!(
            "exit {} (expected {})",
            run.code(),
            case.expect.exit
        ));
    }
    // A run stopped before building has no result to report: its diagnostic says why.
    let result: Option<Value> = match serde_json::from_str(&run.stdout()) {
        Ok(result) => Some(result),
        Err(_) if case.expect.outcome == Outcome::NothingBuilt => None,
        Err(error) => {
            problems.push(format!("no result document: {error}"));
            return with_output(problems, &run.stdout(), &run.stderr());
        }
    };
    let lookup = |container: &str, tag: &str| emulated.image(container, tag, "amd64");
    match &result {
        Some(result) => problems.extend(check_outcome(&case.expect, result, &lookup)),
        None => {
            for target in ["base", "app"] {
                for tag in ["main", "latest"] {
                    if let Some(found) = lookup(&format!("acme/matrix/{target}"), tag) {
                        problems.push(format!("{target}:{tag} is in the library: {found:?}"));
                    }
                }
            }
        }
    }
    if let Some(key) = &key {
        let counters = emulated.counters();
        problems.extend(signed::check(
            &case.expect,
            result.as_ref(),
            &emulated.url(),
            key,
            &counters,
        ));
    }
    let faults = emulated.faults();
    let counters = emulated.finish();
    if counters.builds_submitted != case.expect.submitted {
        problems.push(format!(
            "{} builds submitted (expected {})",
            counters.builds_submitted, case.expect.submitted
        ));
    }
    let submissions = counters.requests_to("POST /v1/build");
    let refused = match (case.endpoint, case.fault) {
        (Endpoint::Submit, Fault::Status { times, .. } | Fault::RateLimit { times, .. }) => times,
        _ => 0,
    };
    // A run that stops before building submits nothing; a failed one submitted `base` once.
    let attempted = if case.expect.outcome == Outcome::NothingBuilt {
        0
    } else {
        case.expect.submitted.max(u64::from(case.expect.exit == 3))
    };
    if submissions != attempted + refused {
        problems.push(format!(
            "{submissions} submission requests (expected {} accepted or cut off + {refused} refused)",
            attempted
        ));
    }
    if counters.builds_cancelled != case.expect.cancelled {
        problems.push(format!(
            "{} builds cancelled (expected {})",
            counters.builds_cancelled, case.expect.cancelled
        ));
    }
    let mut fired = 0;
    for fault in faults {
        fired += fault.fired;
        let expected = case.fault.times();
        if fault.fired != expected {
            problems.push(format!(
                "the fault fired {} times (expected {expected})",
                fault.fired
            ));
        }
    }
    // Clean-up: the context is deleted once `app` ran.
    let deletes = counters.requests_to("DELETE /v1/build-context/{digest}");
    let answered = deletes
        - if case.endpoint == Endpoint::ContextDelete {
            fired
        } else {
            0
        };
    let app_ran = matches!(
        case.expect.outcome,
        Outcome::BothBuilt | Outcome::AppTimedOut
    );
    let expected = u64::from(app_ran);
    if answered != expected {
        problems.push(format!(
            "{answered} context deletions answered (expected {expected})"
        ));
    }
    if counters.contexts_uploaded != u64::from(app_ran) {
        problems.push(format!("{} contexts uploaded", counters.contexts_uploaded));
    }
    if std::env::var_os("SIFBAKE_MATRIX_ROW").is_some() {
        eprintln!("{}", run.stderr());
    }
    with_output(problems, &run.stdout(), &run.stderr())
}

fn with_output(mut problems: Vec<String>, stdout: &str, stderr: &str) -> Vec<String> {
    if !problems.is_empty() {
        problems.push(format!("--- stdout\n{stdout}\n--- stderr\n{stderr}"));
    }
    problems
}

/// How many rows run at once: they mostly wait on backoff, not on the CPU.
const PARALLEL_ROWS: usize = 8;

#[test]
fn every_injected_fault_case() {
    // `SIFBAKE_MATRIX_ROW=<id>` runs one row and shows its stderr, for debugging.
    let only = std::env::var("SIFBAKE_MATRIX_ROW").ok();
    let rows: Vec<&Case> = all_cases()
        .filter(|case| !matches!(case.fault, Fault::Restart(_)))
        .filter(|case| only.as_deref().is_none_or(|id| id == case.id))
        .collect();
    assert!(!rows.is_empty(), "no row {only:?}");
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_ROWS {
            scope.spawn(|| {
                while let Some(case) = rows.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let problems = run_case(case);
                    if !problems.is_empty() {
                        failures
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(format!("case {}:\n  {}", case.id, problems.join("\n  ")));
                    }
                }
            });
        }
    });
    let failures = failures
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}

/// The `scs-emulator` binary on a data directory, stopped by [`Server::stop`] or on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts it on `addr` (`127.0.0.1:0` picks a port) with these `--fault` rules.
    fn start(addr: &str, data_dir: &std::path::Path, faults: &[FaultRule]) -> Server {
        let mut command = Command::new(emulator_binary());
        command
            .args(["--listen", addr, "--token", TOKEN, "--data-dir"])
            .arg(data_dir);
        for rule in faults {
            command
                .arg("--fault")
                .arg(serde_json::to_string(rule).expect("rule"));
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scs-emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the emulator prints its URL");
        assert!(line.starts_with("http://"), "{line}");
        Server {
            child,
            url: line.trim().to_owned(),
        }
    }

    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// Reads the counters through the admin API.
    fn counters(&self) -> scs_emulator::Counters {
        block_on(async {
            let reply: Value = http_client()
                .get(format!("{}/_emulator/counters", self.url))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("counters")
                .json()
                .await
                .expect("json");
            serde_json::from_value(reply["data"].clone()).expect("counters")
        })
    }

    /// Stops it with `signal` (`TERM`: a clean restart; `KILL`: a crash) and waits.
    fn stop(mut self, signal: &str) {
        self.signal(signal);
    }

    fn signal(&mut self, signal: &str) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal("KILL");
    }
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn http_client() -> reqwest::Client {
    sifbake::scs::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// The emulator binary, built beside the test binary's own (`cargo test --workspace`
/// builds it; a `-p sifbake` run builds it here).
fn emulator_binary() -> std::path::PathBuf {
    let path = assert_cmd::cargo::cargo_bin("scs-emulator");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "scs-emulator", "--bin", "scs-emulator"])
            .current_dir(repo_root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "cannot build scs-emulator");
    }
    path
}

/// Looks an image up through sifbake's own client.
fn lookup_in(url: &str, container: &str, tag: &str) -> Option<sifbake::scs::Image> {
    use sifbake::scs::Library;
    block_on(async {
        let token = sifbake::scs::Token::new(TOKEN).expect("token");
        let options = sifbake::scs::ConnectOptions {
            remote: url.to_owned(),
            ..sifbake::scs::ConnectOptions::new(token)
        };
        let connection = sifbake::scs::connect(&options).await.expect("connect");
        let reference = sifbake::libref::LibraryRef::parse(container).expect("ref");
        connection
            .library
            .find_image(&reference, tag, "amd64")
            .await
            .expect("find image")
    })
}

/// Runs a restart row: sifbake against the emulator binary, which is stopped with `signal`
/// as soon as sifbake's stderr shows `trigger`, and started again on the same port and data
/// directory. Asserts what every row asserts, with the counters of both lifetimes added up.
fn run_with_restart(
    case: &Case,
    repo: &Repo,
    first_faults: &[FaultRule],
    trigger: &str,
    signal: &str,
) {
    let data = tempfile::tempdir().expect("data dir");
    let first = Server::start("127.0.0.1:0", data.path(), first_faults);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("sifbake"))
        .args(build_args(case))
        .args(["--remote", &first.url])
        .current_dir(repo.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", data.path())
        .env("NO_COLOR", "1")
        .env("SYLABS_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sifbake");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        let found = line.contains(trigger);
        seen.push(line);
        if found {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|line| line.contains(trigger)),
        "sifbake ended before `{trigger}`:\n{}",
        seen.join("\n")
    );
    let before = first.counters();
    let addr = first.addr();
    first.stop(signal);
    let second = Server::start(&addr, data.path(), &[]);
    seen.extend(lines.map_while(Result::ok));
    let output = child.wait_with_output().expect("wait");
    let after = second.counters();

    let mut problems = Vec::new();
    if output.status.code() != Some(case.expect.exit) {
        problems.push(format!(
            "exit {:?} (expected {})",
            output.status.code(),
            case.expect.exit
        ));
    }
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(result) => problems.extend(check_outcome(&case.expect, &result, &|container, tag| {
            lookup_in(&second.url, container, tag)
        })),
        Err(error) => problems.push(format!("no result document: {error}")),
    }
    let submitted = before.builds_submitted + after.builds_submitted;
    if submitted != case.expect.submitted {
        problems.push(format!(
            "{submitted} builds submitted (expected {}): {before:?} then {after:?}",
            case.expect.submitted
        ));
    }
    second.stop("TERM");
    assert!(
        problems.is_empty(),
        "{}\n--- stderr\n{}",
        problems.join("\n"),
        seen.join("\n")
    );
}

#[test]
fn restart_during_a_build() {
    let case = find("restart-during-build");
    let repo = repository(case.scenario);
    // `base` runs for a minute, long enough to be caught running; the crash (SIGKILL) drops
    // its log stream without a word.
    let base = std::fs::read_to_string(repo.path().join("base.def")).expect("base.def");
    repo.commit_files(
        "slow base",
        &[("base.def", &base.replace("duration=1s", "duration=60s"))],
    );
    run_with_restart(case, &repo, &[], "base (amd64): submitted build", "KILL");
}

#[test]
fn restart_between_builds() {
    let case = find("restart-between-builds");
    let repo = repository(case.scenario);
    // `app`'s context announcement is held, so the restart (SIGTERM, a clean stop) happens
    // after `base` is tagged and before `app` is submitted, whatever the timing.
    let hold = FaultRule::new(
        Endpoint::ContextAnnounce.pattern(),
        Some(1),
        FaultAction::Latency { delay_ms: 60_000 },
    );
    run_with_restart(case, &repo, &[hold], "base (amd64): built", "TERM");
}

/// Renders the matrix as the Markdown table RELIABILITY.md holds.
pub fn render() -> String {
    let mut out = String::from(
        "| Case | Endpoint | Fault | Exit | Images | Builds submitted | Notes |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for case in all_cases() {
        let expect = &case.expect;
        let images = match expect.outcome {
            Outcome::BothBuilt if matches!(case.scenario, Scenario::Signed(_)) => {
                "`base`, `app` built, signed and tagged".to_owned()
            }
            Outcome::BothBuilt => "`base`, `app` built and tagged".to_owned(),
            Outcome::NothingBuilt => "nothing submitted; no tag set".to_owned(),
            Outcome::BaseFailed => "`base` failed, `app` skipped; no tag set".to_owned(),
            Outcome::AppTimedOut => format!(
                "`base` built and tagged; `app` timed out, no tag, remote build {}",
                if expect.cancelled > 0 {
                    "cancelled"
                } else {
                    "**not** cancelled"
                }
            ),
        };
        let scenario = match case.scenario {
            Scenario::Standard => "",
            Scenario::AppTimesOut => " (`app` has `timeout: 3s`)",
            Scenario::Signed(signed::Signing::Signed) => " (signed build)",
            Scenario::Signed(signed::Signing::WithKeystore) => " (signed build, `keystore: true`)",
        };
        out.push_str(&format!(
            "| `{}` | {}{scenario} | {} | {} | {images} | {} | {} |\n",
            case.id,
            case.endpoint.describe(),
            case.fault.describe(),
            expect.exit,
            expect.submitted,
            expect.note,
        ));
    }
    out
}

#[test]
fn the_matrix_in_reliability_md_is_generated() {
    crate::support::check_generated("fault-matrix", &render());
}
