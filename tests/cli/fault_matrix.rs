//! The fault matrix: every endpoint `sifbake build` calls, under every fault the emulator can
//! inject (5xx bursts, 429 with `Retry-After`, latency past the request timeout, connection
//! resets, a dropped log stream, a lasting refusal) and an emulator restarted mid-run; the
//! calls only a signed build makes have their rows in [`signed`].
//!
//! [`CASES`] (in [`table`]) then [`signed::CASES`] are the one table: [`every_injected_fault_case`]
//! runs each row against its own emulator and asserts the exit code, the result document, the
//! library's final state (tags only on complete images; the ref tags all or none; in signed
//! rows, only on signed uploads) and the emulator's counters (no build submitted twice, every
//! injected fault fired); the restart rows have tests of their own ([`restart`]).
//! `RELIABILITY.md` holds the table rendered from them ([`the_matrix_in_reliability_md_is_generated`]),
//! so the document cannot drift from what is tested.
//!
//! Retries wait for real (1 s, 2 s, 4 s, with jitter): the rows run several at a time, each
//! against its own emulator, to keep the whole matrix to about a minute.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scs_emulator::{EmulatorConfig, FaultAction, FaultRule};
use serde_json::Value;

use crate::support::{Emulated, Repo};

mod restart;
mod signed;
mod table;

use table::CASES;

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
