//! `sifbake key push`: the public key lands in the keystore the remote's discovery names, as
//! Sylabs' own key client (conformance/cmd/keyclient) then reads it; a private key publishes
//! its public part only; a keystore that is down or missing exits 3 and says what to do; the
//! token never shows.

use std::path::Path;
use std::process::Command;

use scs_emulator::{EmulatorConfig, FaultAction, FaultRule};

use crate::go_tools::go_tool;
use crate::support::{Emulated, Run, TOKEN};
use crate::test_keys::{TestKey, generate};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write the key file");
}

fn pushed(emulated: &Emulated, key: &TestKey) -> bool {
    emulated
        .keys()
        .iter()
        .any(|stored| stored.fingerprint == key.fingerprint)
}

#[test]
fn a_public_key_is_pushed_to_the_discovered_keystore_and_read_by_the_key_client() {
    let emulated = Emulated::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let key = generate("CI Signer <ci@example.org>", None);
    write(dir.path(), "signer.pub.asc", &key.public);

    let run = emulated
        .sifbake(dir.path())
        .args(["key", "push", "signer.pub.asc"])
        .run()
        .expect_code(0);
    let keystore = format!("{}/", emulated.url());
    assert_eq!(
        run.stdout(),
        format!(
            "pushed public key {} to the keystore {keystore}\n",
            key.fingerprint
        )
    );
    assert!(pushed(&emulated, &key), "{:?}", emulated.keys());
    assert_eq!(emulated.counters().requests_to("POST /pks/add"), 1);

    let json = emulated
        .sifbake(dir.path())
        .args(["key", "push", "signer.pub.asc", "--format", "json"])
        .run()
        .expect_code(0)
        .json();
    assert_eq!(json["fingerprint"], key.fingerprint.as_str());
    assert_eq!(json["keystore"], keystore.as_str());

    // Sylabs' client, as `singularity key pull` and `verify` ask for it. It refuses a token
    // over plain http unless the host is literally `localhost`.
    let Some(keyclient) = go_tool("keyclient", "./cmd/keyclient") else {
        return;
    };
    let port = emulated.url().rsplit(':').next().expect("port").to_owned();
    let output = Command::new(keyclient)
        .args(["-url", &format!("http://localhost:{port}")])
        .args(["-token-env", "KEYCLIENT_TOKEN", "get", &key.fingerprint])
        .env("KEYCLIENT_TOKEN", TOKEN)
        .output()
        .expect("run keyclient");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fetched = sifbake_sif::keys::PublicKey::from_armored(&stdout).expect("a public key");
    assert_eq!(fetched.fingerprint(), key.fingerprint);
}

#[test]
fn a_private_key_publishes_only_its_public_part() {
    let emulated = Emulated::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let passphrase = "correct horse 81";
    let key = generate("Release Key <release@example.org>", Some(passphrase));
    write(dir.path(), "release.asc", &key.secret);

    let run = emulated
        .sifbake(dir.path())
        .args([
            "key",
            "push",
            "release.asc",
            "--passphrase-env",
            "RELEASE_PASS",
        ])
        .env("RELEASE_PASS", passphrase)
        .run()
        .expect_code(0);
    assert!(run.stdout().contains(&key.fingerprint), "{}", run.stdout());
    let stored = emulated.keys();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].fingerprint, key.fingerprint);
    assert!(stored[0].armored.contains("BEGIN PGP PUBLIC KEY BLOCK"));
    for text in [run.stdout(), run.stderr(), stored[0].armored.clone()] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains(passphrase), "{text}");
    }

    // A wrong or missing passphrase stops before anything is sent, naming file and variable.
    let run = emulated
        .sifbake(dir.path())
        .args(["key", "push", "release.asc"])
        .env("SIFBAKE_SIGN_PASSPHRASE", "wrong")
        .run()
        .expect_code(2);
    let stderr = flat(&run.stderr());
    assert!(
        stderr.contains("release.asc") && stderr.contains("wrong passphrase"),
        "{stderr}"
    );
    assert!(
        stderr.contains("SIFBAKE_SIGN_PASSPHRASE does not hold"),
        "{stderr}"
    );
    let run = emulated
        .sifbake(dir.path())
        .args(["key", "push", "release.asc"])
        .run()
        .expect_code(2);
    assert!(
        flat(&run.stderr()).contains("set SIFBAKE_SIGN_PASSPHRASE"),
        "{}",
        run.stderr()
    );
    assert_eq!(emulated.counters().requests_to("POST /pks/add"), 1);
}

#[test]
fn bad_key_files_are_refused_before_any_request() {
    let emulated = Emulated::start();
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "notes.asc", "not a key at all\n");
    let run = emulated
        .sifbake(dir.path())
        .args(["key", "push", "notes.asc"])
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("`notes.asc`") || run.stderr().contains("notes.asc"));
    assert!(
        run.stderr().contains("not an OpenPGP key"),
        "{}",
        run.stderr()
    );
    let run = emulated
        .sifbake(dir.path())
        .args(["key", "push", "missing.asc"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("cannot read the key file"),
        "{}",
        run.stderr()
    );
    assert!(
        emulated.counters().requests.is_empty(),
        "{:?}",
        emulated.counters()
    );
}

/// stderr with the diagnostics' line wrapping and gutter undone, for phrase matching.
fn flat(text: &str) -> String {
    text.split_whitespace()
        .filter(|word| *word != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

fn expect_down(run: Run, what: &str) -> String {
    let stderr = flat(&run.expect_code(3).stderr());
    assert!(stderr.contains(what), "{stderr}");
    stderr
}

#[test]
fn a_keystore_that_is_down_or_missing_exits_3_and_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = generate("Ops <ops@example.org>", None);
    write(dir.path(), "ops.asc", &key.public);

    let emulated = Emulated::start();
    // As many 503s as one push makes attempts.
    emulated.add_rule(FaultRule::new(
        "POST pks/add",
        Some(4),
        FaultAction::Status {
            status: 503,
            message: Some("keystore maintenance".to_owned()),
        },
    ));
    let stderr = expect_down(
        emulated
            .sifbake(dir.path())
            .args(["key", "push", "ops.asc"])
            .run(),
        "is unavailable",
    );
    assert!(stderr.contains(&emulated.url()), "{stderr}");
    assert!(
        stderr.contains("503 Service Unavailable: keystore maintenance"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was published"), "{stderr}");
    // Retried as a transient fault, as the other clients do, before giving up.
    assert_eq!(emulated.counters().requests_to("POST /pks/add"), 4);
    assert!(!pushed(&emulated, &key));

    let without = Emulated::with(EmulatorConfig::default().without_keystore());
    let stderr = expect_down(
        without
            .sifbake(dir.path())
            .args(["key", "push", "ops.asc"])
            .run(),
        "names no keystore",
    );
    assert!(stderr.contains("--keystore-url"), "{stderr}");
    assert!(without.counters().requests_to("POST /pks/add") == 0);

    // `--keystore-url` skips discovery; a refused token is told apart from an outage.
    let run = without
        .sifbake(dir.path())
        .args(["key", "push", "ops.asc", "--keystore-url", &emulated.url()])
        .env("SYLABS_TOKEN", "expired-token")
        .run();
    expect_down(run, "refused the token");
    without
        .sifbake(dir.path())
        .args(["key", "push", "ops.asc", "--keystore-url", &emulated.url()])
        .run()
        .expect_code(0);
    assert!(pushed(&emulated, &key));
}

#[test]
fn the_token_never_shows_even_when_the_keystore_echoes_it() {
    const CANARY: &str = "sbk-canary-keys-Hq3Tz8Wm5Lp2";
    const FRAGMENT: &str = "Hq3Tz8Wm5Lp2";
    let emulated = Emulated::with_token(EmulatorConfig::default(), CANARY);
    // A transient echo (retried), then a refusal echoing it again: the first run fails.
    emulated.add_rule(FaultRule::new(
        "POST pks/add",
        Some(1),
        FaultAction::Status {
            status: 502,
            message: Some(format!("upstream rejected Authorization: Bearer {CANARY}")),
        },
    ));
    emulated.add_rule(FaultRule::new(
        "POST pks/add",
        Some(1),
        FaultAction::Status {
            status: 400,
            message: Some(format!("bad token {CANARY}")),
        },
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let key = generate("Canary <canary@example.org>", None);
    write(dir.path(), "canary.asc", &key.public);
    let mask = format!("::add-mask::{CANARY}");
    for (code, format, github) in [
        (3, "text", false),
        (0, "text", false),
        (0, "json", false),
        (0, "text", true),
    ] {
        let mut run = emulated.sifbake(dir.path()).args([
            "-vv",
            "key",
            "push",
            "canary.asc",
            "--format",
            format,
        ]);
        if github {
            run = run.env("GITHUB_ACTIONS", "true");
        }
        let run = run.run().expect_code(code);
        // In GitHub Actions the token is masked first: the runner consumes that line.
        assert_eq!(run.stderr().lines().any(|line| line == mask), github);
        for text in [run.stdout(), run.stderr()] {
            let leaked: Vec<&str> = text
                .lines()
                .filter(|line| *line != mask && line.contains(FRAGMENT))
                .collect();
            assert!(leaked.is_empty(), "the token leaked:\n{text}");
        }
        if code == 3 {
            assert!(run.stderr().contains("bad token"), "{}", run.stderr());
        }
    }
    assert!(pushed(&emulated, &key));
}

/// What one request looked like on the wire, without what only says how it travelled.
fn shape(request: &scs_emulator::RecordedRequest) -> String {
    let headers: Vec<&str> = request
        .header_names
        .iter()
        .map(String::as_str)
        .filter(|name| {
            ![
                "accept",
                "accept-encoding",
                "content-length",
                "host",
                "user-agent",
            ]
            .contains(name)
        })
        .collect();
    format!(
        "{} {} query={:?} headers={headers:?} content-type={:?} status={}",
        request.method, request.route, request.query_keys, request.content_type, request.status
    )
}

#[test]
fn push_and_lookup_are_scs_key_clients_on_the_wire() {
    let Some(keyclient) = go_tool("keyclient", "./cmd/keyclient") else {
        return;
    };
    let emulated = Emulated::with(EmulatorConfig::default().with_recording(true));
    let dir = tempfile::tempdir().expect("temp dir");
    let key = generate("Wire <wire@example.org>", None);
    write(dir.path(), "wire.asc", &key.public);
    let port = emulated.url().rsplit(':').next().expect("port").to_owned();
    let go = |args: &[&str]| {
        let output = Command::new(&keyclient)
            .args(["-url", &format!("http://localhost:{port}")])
            .args(["-token-env", "KEYCLIENT_TOKEN"])
            .args(args)
            .env("KEYCLIENT_TOKEN", TOKEN)
            .output()
            .expect("run keyclient");
        assert!(output.status.success(), "{output:?}");
    };
    let file = dir.path().join("wire.asc");
    go(&["push", &file.to_string_lossy()]);
    // As `singularity key pull` and `verify` look a key up.
    go(&["get", &key.fingerprint]);
    let theirs = emulated.recorded_requests();

    emulated
        .sifbake(dir.path())
        .args(["key", "push", "wire.asc", "--keystore-url", &emulated.url()])
        .run()
        .expect_code(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options =
        sifbake::scs::ConnectOptions::new(sifbake::scs::Token::new(TOKEN).expect("token"));
    let found = runtime.block_on(async {
        let client = sifbake::scs::connect_keystore(&options, Some(&emulated.url()))
            .await
            .expect("keystore");
        client
            .fetch_public_key(&key.fingerprint)
            .await
            .expect("fetched")
    });
    assert_eq!(
        found.map(|key| key.fingerprint()),
        Some(key.fingerprint.clone())
    );
    let ours = emulated.recorded_requests()[theirs.len()..].to_vec();
    let theirs: Vec<String> = theirs.iter().map(shape).collect();
    let ours: Vec<String> = ours.iter().map(shape).collect();
    assert_eq!(ours, theirs);
    // The one intended difference: the bare client spells the scheme `BEARER`; SingularityCE's
    // keyserver transport, which `singularity key push` goes through, replaces the header
    // with `Bearer <token>`, as sifbake sends it.
    let schemes: Vec<Option<String>> = emulated
        .recorded_requests()
        .into_iter()
        .map(|request| request.auth_scheme)
        .collect();
    assert_eq!(
        schemes,
        ["BEARER", "BEARER", "Bearer", "Bearer"].map(|scheme| Some(scheme.to_owned()))
    );
}
