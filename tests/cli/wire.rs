//! The wire comparison: the same operations performed by Sylabs' own clients (the `scs-build`
//! CLI and `scs-library-client`, pinned in `conformance/`) and by sifbake, each against an
//! emulator that records the shape of every request (never a value). sifbake must use the
//! same endpoints, query keys, header names, authorization scheme, content types, and JSON
//! body keys with the same value types. Every intended difference is listed, with its reason,
//! in `conformance/README.md`; an unlisted difference fails, and so does a listed one that
//! no longer occurs, so the list cannot go stale.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use scs_emulator::{EmulatorConfig, RecordedRequest};

use crate::go_tools::{conformance_dir, go_tool};
use crate::support::{Emulated, Repo, TOKEN, tree};

/// Header names that say how a request travels, not what the protocol is: HTTP/1.1 framing,
/// the websocket handshake, and each HTTP stack's own defaults (Go's adds `Accept-Encoding`,
/// reqwest's `Accept: */*`, which asks for nothing in particular).
const TRANSPORT_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "connection",
    "content-length",
    "host",
    "sec-websocket-extensions",
    "sec-websocket-key",
    "sec-websocket-version",
    "te",
    "transfer-encoding",
    "upgrade",
    "user-agent",
];

const APP_DEF: &str =
    "Bootstrap: docker\nFrom: alpine:3.20\n\n%files\n    data.txt /opt/data.txt\n";
const DATA: &str = "the build context\n";
/// Long enough that the signal always lands while the build runs; the emulator ends it at
/// the cancel, so nothing waits for it. It has `%files` because scs-build v0.9.21 fails on a
/// definition without any ("no paths specified for build context", conformance/README.md).
const SLOW_DEF: &str = "# emulator: duration=1h\nBootstrap: docker\nFrom: alpine:3.20\n\n%files\n    data.txt /opt/data.txt\n";

/// What one side sent to one endpoint, over every call it made there.
#[derive(Debug, Default)]
struct Usage {
    calls: usize,
    query: BTreeSet<String>,
    headers: BTreeSet<String>,
    auth: BTreeSet<String>,
    content_types: BTreeSet<String>,
    body: BTreeMap<String, BTreeSet<String>>,
}

type Wire = BTreeMap<String, Usage>;

fn summarize(requests: &[RecordedRequest]) -> Wire {
    let mut wire = Wire::new();
    for request in requests {
        let usage = wire
            .entry(format!("{} {}", request.method, request.route))
            .or_default();
        usage.calls += 1;
        usage.query.extend(request.query_keys.iter().cloned());
        usage.headers.extend(
            request
                .header_names
                .iter()
                .filter(|name| !TRANSPORT_HEADERS.contains(&name.as_str()))
                .cloned(),
        );
        usage
            .auth
            .insert(request.auth_scheme.clone().unwrap_or_else(|| "none".into()));
        usage.content_types.insert(
            request
                .content_type
                .clone()
                .unwrap_or_else(|| "none".into()),
        );
        for (path, kind) in request.body.iter().flatten() {
            usage
                .body
                .entry(path.clone())
                .or_default()
                .extend(kind.split('|').map(str::to_owned));
        }
    }
    wire
}

/// Every way sifbake's use of the wire differs from the official clients', one line each.
fn differences(sifbake: &Wire, official: &Wire) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for endpoint in sifbake.keys().chain(official.keys()) {
        let (Some(ours), Some(theirs)) = (sifbake.get(endpoint), official.get(endpoint)) else {
            let who = if sifbake.contains_key(endpoint) {
                "only sifbake"
            } else {
                "only official"
            };
            found.insert(format!("{endpoint}: {who}"));
            continue;
        };
        let mut set_diff = |what: &str, ours: &BTreeSet<String>, theirs: &BTreeSet<String>| {
            for extra in ours.difference(theirs) {
                found.insert(format!("{endpoint}: {what} +{extra}"));
            }
            for missing in theirs.difference(ours) {
                found.insert(format!("{endpoint}: {what} -{missing}"));
            }
        };
        set_diff("query", &ours.query, &theirs.query);
        set_diff("header", &ours.headers, &theirs.headers);
        set_diff("auth", &ours.auth, &theirs.auth);
        set_diff("content-type", &ours.content_types, &theirs.content_types);
        let body_keys = |usage: &Usage| -> BTreeSet<String> {
            usage
                .body
                .iter()
                .flat_map(|(path, kinds)| kinds.iter().map(move |kind| format!("{path}:{kind}")))
                .collect()
        };
        set_diff("body", &body_keys(ours), &body_keys(theirs));
    }
    found
}

/// The differences `conformance/README.md` lists between its `wire-differences` markers:
/// the first column of each table row, in backticks.
fn listed_differences() -> BTreeSet<String> {
    let path = conformance_dir().join("README.md");
    let text = std::fs::read_to_string(&path).expect("conformance/README.md");
    let begin = text
        .find("<!-- BEGIN wire-differences -->")
        .expect("conformance/README.md has a `<!-- BEGIN wire-differences -->` marker");
    let end = text
        .find("<!-- END wire-differences -->")
        .expect("conformance/README.md has an `<!-- END wire-differences -->` marker");
    text[begin..end]
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |"))
        .map(|(difference, _)| difference.replace("\\|", "|"))
        .collect()
}

fn recording_emulator() -> Emulated {
    Emulated::with(EmulatorConfig::default().with_recording(true))
}

/// The official clients: a build with `%files` for two architectures to a library ref, an
/// image looked up by tag, a tag set, and a build cancelled by SIGINT.
fn official_side(scs_build: &Path, libclient: &Path) -> Vec<RecordedRequest> {
    let emulated = recording_emulator();
    let url = emulated.url();
    let work = tree(&[
        ("app.def", APP_DEF),
        ("data.txt", DATA),
        ("slow.def", SLOW_DEF),
    ]);
    let build = |args: &[&str]| {
        let mut command = Command::new(scs_build);
        command
            .args(["build", "--url", &url, "--auth-token", TOKEN])
            .args(args)
            .current_dir(work.path())
            .env("HOME", work.path());
        command
    };

    // One call per architecture: scs-build v0.9.21 given two archs and a library ref makes
    // the second an ephemeral build and fails on a file named `-amd64` (conformance/README.md).
    for arch in ["amd64", "arm64"] {
        let output = build(&["--arch", arch, "app.def", "library:wire/test/app:v1"])
            .output()
            .expect("run scs-build");
        assert!(
            output.status.success(),
            "scs-build failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    for op in [
        vec!["get", "wire/test/app:v1"],
        vec!["tag", "wire/test/app:v1", "extra"],
    ] {
        let output = Command::new(libclient)
            .args(["-url", &url, "-token", TOKEN, "-arch", "amd64"])
            .args(&op)
            .output()
            .expect("run libclient");
        assert!(
            output.status.success(),
            "libclient {op:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let mut child = build(&["--arch", "amd64", "slow.def", "library:wire/test/slow:v1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scs-build");
    // The build runs once its log streams: the emulator's first log line says so.
    // Read on after the signal too: a closed pipe would kill scs-build with SIGPIPE at its
    // next log line, before it could cancel.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    for line in stdout.by_ref().map_while(Result::ok) {
        let running = line.contains("Emulated build by scs-emulator");
        seen.push(line);
        if running {
            break;
        }
    }
    if !seen.iter().any(|line| line.contains("Emulated build")) {
        let output = child.wait_with_output().expect("wait for scs-build");
        panic!(
            "scs-build ended before its build ran:\n{}\n{}",
            seen.join("\n"),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    signal(child.id(), "INT");
    seen.extend(stdout.map_while(Result::ok));
    let output = child.wait_with_output().expect("wait for scs-build");
    assert!(
        !output.status.success(),
        "scs-build succeeded although interrupted"
    );

    let requests = emulated.recorded_requests();
    let counters = emulated.finish();
    assert_eq!(
        counters.builds_cancelled,
        1,
        "scs-build cancelled its build:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        table("official", &summarize(&requests))
    );
    requests
}

/// sifbake: the same build (a target with `%files` for two architectures), whose image
/// lookups and tags are sifbake's own, then a build cancelled by SIGTERM.
fn sifbake_side() -> Vec<RecordedRequest> {
    let emulated = recording_emulator();
    let repo = Repo::empty();
    repo.commit_files(
        "app",
        &[
            (
                "sifbake.yaml",
                "version: 1\ntargets:\n  app:\n    def: app.def\n    ref: library://wire/test/app\n    arch: [amd64, arm64]\n",
            ),
            ("app.def", APP_DEF),
            ("data.txt", DATA),
        ],
    );
    emulated
        .sifbake(repo.path())
        .args(["build", "--default-branch", "main"])
        .run()
        .expect_code(0);

    let slow = Repo::empty();
    slow.commit_files(
        "slow",
        &[
            (
                "sifbake.yaml",
                "version: 1\ntargets:\n  slow:\n    def: slow.def\n    ref: library://wire/test/slow\n",
            ),
            ("slow.def", SLOW_DEF),
            ("data.txt", DATA),
        ],
    );
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("sifbake"))
        .args([
            "build",
            "--default-branch",
            "main",
            "--remote",
            &emulated.url(),
        ])
        .current_dir(slow.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", slow.path())
        .env("NO_COLOR", "1")
        .env("SYLABS_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sifbake");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    for line in stderr.by_ref().map_while(Result::ok) {
        let submitted = line.contains("submitted build");
        seen.push(line);
        if submitted {
            break;
        }
    }
    signal(child.id(), "TERM");
    seen.extend(stderr.map_while(Result::ok));
    let status = child.wait().expect("wait for sifbake");
    assert_eq!(status.code(), Some(143), "{}", seen.join("\n"));

    let requests = emulated.recorded_requests();
    let counters = emulated.finish();
    assert_eq!(counters.builds_cancelled, 1, "sifbake cancelled its build");
    requests
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

fn drivers() -> Option<(PathBuf, PathBuf)> {
    let scs_build = go_tool(
        "scs-build",
        "github.com/sylabs/scs-build-client/cmd/scs-build",
    )?;
    let libclient = go_tool("libclient", "./cmd/libclient")?;
    Some((scs_build, libclient))
}

fn table(name: &str, wire: &Wire) -> String {
    let mut text = format!("{name}:\n");
    for (endpoint, usage) in wire {
        text.push_str(&format!(
            "  {endpoint} ×{} query {:?} headers {:?} auth {:?} content {:?} body {:?}\n",
            usage.calls, usage.query, usage.headers, usage.auth, usage.content_types, usage.body
        ));
    }
    text
}

#[test]
fn sifbake_speaks_the_protocol_as_the_official_clients_do() {
    let Some((scs_build, libclient)) = drivers() else {
        return;
    };
    let official = summarize(&official_side(&scs_build, &libclient));
    let sifbake = summarize(&sifbake_side());
    eprintln!(
        "{}{}",
        table("official", &official),
        table("sifbake", &sifbake)
    );

    let found = differences(&sifbake, &official);
    let listed = listed_differences();
    let unlisted: Vec<_> = found.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&found).collect();
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "sifbake's requests differ from the official clients' in ways conformance/README.md \
         does not list (fix sifbake, or list the difference with its reason):\n{}\n\
         listed but no longer seen (remove them from the list):\n{}",
        unlisted
            .iter()
            .map(|line| format!("  `{line}`"))
            .collect::<Vec<_>>()
            .join("\n"),
        stale
            .iter()
            .map(|line| format!("  `{line}`"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

#[test]
fn every_kind_of_difference_is_found() {
    let request = |route: &str, query: &[&str], body: &[(&str, &str)]| RecordedRequest {
        method: "POST".into(),
        route: route.into(),
        query_keys: query.iter().map(|key| (*key).to_owned()).collect(),
        header_names: vec!["authorization".into(), "host".into()],
        auth_scheme: Some("Bearer".into()),
        content_type: None,
        body: Some(
            body.iter()
                .map(|(path, kind)| ((*path).to_owned(), (*kind).to_owned()))
                .collect(),
        ),
        status: 200,
    };
    let ours = summarize(&[
        request("/a", &["arch"], &[("x", "string")]),
        request("/mine", &[], &[]),
    ]);
    let mut theirs_request = request("/a", &["tag"], &[("x", "number")]);
    theirs_request.auth_scheme = None;
    theirs_request.header_names = vec!["host".into()];
    let theirs = summarize(&[theirs_request, request("/theirs", &[], &[])]);
    let found: Vec<String> = differences(&ours, &theirs).into_iter().collect();
    assert_eq!(
        found,
        [
            "POST /a: auth +Bearer",
            "POST /a: auth -none",
            "POST /a: body +x:string",
            "POST /a: body -x:number",
            "POST /a: header +authorization",
            "POST /a: query +arch",
            "POST /a: query -tag",
            "POST /mine: only sifbake",
            "POST /theirs: only official",
        ]
    );
}
