//! Transport security: plain `http://` to anything but this machine is refused without
//! `--allow-insecure` (before any connection is made), and TLS is always verified: an
//! untrusted certificate or a wrong name fails the run, `--allow-insecure` does not change
//! that, and no flag, variable or code path turns verification off.
//!
//! Every server here listens on 127.0.0.1. A non-loopback host is reached through an HTTP
//! proxy on loopback (the emulator itself, which routes absolute-form requests by path), so
//! no test touches another machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::support::{Emulated, Repo, Sifbake, TOKEN, repo_root};

#[test]
fn plain_http_elsewhere_is_refused_before_connecting() {
    let repo = Repo::from_examples();
    let emulated = Emulated::start();
    let cases: &[&[&str]] = &[
        &["--remote", "http://cloud.example"],
        &["--remote", "http://10.1.2.3:8080"],
        &["--remote", "http://[fd00::1]"],
        &["--remote", "http://localhost.example.com"],
        &[
            "--builder-url",
            "http://build.example",
            "--library-url",
            &emulated.url(),
        ],
        &[
            "--builder-url",
            &emulated.url(),
            "--library-url",
            "http://library.example",
        ],
    ];
    for args in cases {
        for command in ["build", "tag"] {
            let run = Sifbake::new(repo.path())
                .env("SYLABS_TOKEN", TOKEN)
                // Were a request made, it would go here and be counted.
                .env("HTTP_PROXY", emulated.url())
                .args([command])
                .args(*args)
                .run()
                .expect_code(2);
            let stderr = run.stderr();
            assert!(
                stderr.contains("refusing plain http") && stderr.contains("--allow-insecure"),
                "{command} {args:?}: {stderr}"
            );
        }
    }
    assert!(
        emulated.counters().requests.is_empty(),
        "nothing was sent: {:?}",
        emulated.counters().requests
    );
}

#[test]
fn plain_http_services_named_by_discovery_are_refused_too() {
    // A frontend on loopback whose discovery document names plain-http services elsewhere.
    let document = r#"{"builderAPI": {"uri": "http://build.example"}, "libraryAPI": {"uri": "https://library.example"}, "tokenAPI": {"uri": "https://auth.example/token"}}"#;
    let server = OneShot::serve(document);
    let repo = Repo::from_examples();
    let run = Sifbake::new(repo.path())
        .env("SYLABS_TOKEN", TOKEN)
        .args(["build", "--all", "--remote", &server.url])
        .run()
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("refusing plain http for the build service `http://build.example/`"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        server.requests(),
        vec!["GET /assets/config/config.prod.json"]
    );
}

#[test]
fn allow_insecure_lets_plain_http_to_other_hosts_through() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    // `sylabs.test` resolves nowhere; the proxy (the emulator) answers for it.
    let run = emulated
        .sifbake(repo.path())
        .env("HTTP_PROXY", emulated.url())
        .args(["build", "--all", "--targets", "bwa", "--format", "json"])
        .args(["--remote", "http://sylabs.test", "--allow-insecure"])
        .run()
        .expect_code(0);
    let result: serde_json::Value = serde_json::from_str(&run.stdout()).expect("result");
    assert_eq!(result["targets"][0]["images"][0]["status"], "built");
    let counters = emulated.counters();
    assert_eq!(
        counters.requests_to("GET /assets/config/config.prod.json"),
        1
    );
    assert_eq!(counters.builds_submitted, 1);

    // The same without the flag: refused, and nothing more reaches the proxy.
    emulated
        .sifbake(repo.path())
        .env("HTTP_PROXY", emulated.url())
        .args(["build", "--all", "--remote", "http://sylabs.test"])
        .run()
        .expect_code(2);
    assert_eq!(emulated.counters().requests, counters.requests);
}

/// A TLS server on 127.0.0.1 with a certificate from the test CA (`tests/fixtures/tls`),
/// which answers every request 404. Counts handshakes that completed and failed.
struct TlsServer {
    url: String,
    handshakes: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// Serves `certificate` (`loopback`: valid for 127.0.0.1; `wrong-name`: for
    /// `sifbake.invalid` only).
    fn start(certificate: &str) -> TlsServer {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = repo_root().join("tests/fixtures/tls");
        let chain = CertificateDer::pem_file_iter(dir.join(format!("{certificate}.pem")))
            .expect("certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate");
        let key =
            PrivateKeyDer::from_pem_file(dir.join(format!("{certificate}.key"))).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (handshakes, refused, requests, stop) = (
                Arc::clone(&handshakes),
                Arc::clone(&refused),
                Arc::clone(&requests),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    serve_tls(&config, stream, &handshakes, &refused, &requests);
                }
            })
        };
        TlsServer {
            url: format!("https://{addr}"),
            handshakes,
            refused,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn counts(&self) -> (usize, usize, usize) {
        (
            self.handshakes.load(Ordering::SeqCst),
            self.refused.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst),
        )
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("https://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_tls(
    config: &Arc<rustls::ServerConfig>,
    stream: TcpStream,
    handshakes: &AtomicUsize,
    refused: &AtomicUsize,
    requests: &AtomicUsize,
) {
    let Ok(connection) = rustls::ServerConnection::new(Arc::clone(config)) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(connection, stream);
    // Drives the handshake; a client that distrusts the certificate aborts it here.
    loop {
        if !tls.conn.is_handshaking() {
            handshakes.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            refused.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    let mut reader = BufReader::new(&mut tls);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
    }
    let body = r#"{"error":{"code":404,"message":"nothing here (tls test server)"}}"#;
    let _ = write!(
        tls,
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
}

fn build_against(server: &TlsServer, extra: &[&str], trust_test_ca: bool) -> crate::support::Run {
    let repo = Repo::from_examples();
    let mut sifbake = Sifbake::new(repo.path())
        .env("SYLABS_TOKEN", TOKEN)
        .args(["build", "--all", "--remote", &server.url])
        .args(extra);
    if trust_test_ca {
        sifbake = sifbake.env(
            "SSL_CERT_FILE",
            repo_root().join("tests/fixtures/tls/ca.pem"),
        );
    }
    sifbake.run()
}

#[test]
fn an_untrusted_certificate_fails_the_run_even_with_allow_insecure() {
    for extra in [&[][..], &["--allow-insecure"][..]] {
        let server = TlsServer::start("loopback");
        let run = build_against(&server, extra, false).expect_code(3);
        let stderr = flat(&run.stderr());
        assert!(
            stderr.contains("the TLS connection to 127.0.0.1")
                && stderr.contains("invalid peer certificate"),
            "{extra:?}: {stderr}"
        );
        // Not retried (it will not get better), and no request was sent.
        assert_eq!(server.counts(), (0, 1, 0), "{extra:?}: {stderr}");
    }
}

#[test]
fn the_trust_store_decides_and_names_are_checked() {
    // Trusting the test CA (as a corporate root would be) lets the same server through:
    // the handshake completes and the 404 is the service's answer.
    let server = TlsServer::start("loopback");
    let run = build_against(&server, &[], true).expect_code(3);
    assert!(
        run.stderr().contains("404") && !run.stderr().contains("TLS"),
        "{}",
        run.stderr()
    );
    assert_eq!(server.counts(), (1, 0, 1), "{}", run.stderr());

    // A trusted certificate for another name is still refused.
    let server = TlsServer::start("wrong-name");
    let run = build_against(&server, &[], true).expect_code(3);
    assert!(
        flat(&run.stderr()).contains("invalid peer certificate: certificate not valid for name"),
        "{}",
        run.stderr()
    );
    assert_eq!(server.counts(), (0, 1, 0), "{}", run.stderr());
}

#[test]
fn no_code_path_turns_verification_off() {
    // The switches reqwest and rustls offer for it; none may appear in sifbake's sources.
    let forbidden = [
        "danger_accept_invalid_certs",
        "danger_accept_invalid_hostnames",
        "tls_danger",
        "dangerous()",
        "ServerCertVerifier",
        "NoCertificateVerification",
        "tls_built_in_root_certs(false)",
    ];
    let mut found = Vec::new();
    for file in rust_files(&repo_root().join("src")) {
        let text = std::fs::read_to_string(&file).expect("read");
        for word in forbidden {
            if text.contains(word) {
                found.push(format!("{}: {word}", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
    // And no flag offers it.
    let help = Sifbake::new(&repo_root())
        .args(["build", "--help"])
        .run()
        .expect_code(0)
        .stdout()
        .to_lowercase();
    for word in [
        "verify",
        "certificate",
        "skip-tls",
        "no-tls",
        "insecure-skip",
    ] {
        assert!(!help.contains(word), "`build --help` mentions `{word}`");
    }
}

/// Returns miette's wrapped message as one line: words joined by single spaces, without the
/// frame's `│`.
fn flat(text: &str) -> String {
    text.split_whitespace()
        .filter(|word| *word != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_request_timeout_must_be_a_duration() {
    let repo = Repo::from_examples();
    for bad in ["0s", "soon", "-1s", "1d"] {
        let run = Sifbake::new(repo.path())
            .args(["build", "--emulate", &format!("--request-timeout={bad}")])
            .run()
            .expect_code(2);
        assert!(
            run.stderr().contains("is not a duration"),
            "{}",
            run.stderr()
        );
    }
}

/// A plain HTTP server on 127.0.0.1 that answers every request with one JSON document
/// (without an envelope, as the discovery document is served) and records the request
/// lines. Serves until dropped.
struct OneShot {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OneShot {
    fn serve(body: &'static str) -> OneShot {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let mut reader = BufReader::new(&mut stream);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        continue;
                    }
                    let mut header = String::new();
                    while reader.read_line(&mut header).is_ok() && !header.trim().is_empty() {
                        header.clear();
                    }
                    let request = line
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ");
                    seen.lock().expect("lock").push(request);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let mut rest = Vec::new();
                    let _ = stream.read_to_end(&mut rest);
                }
            })
        };
        OneShot {
            url,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for OneShot {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
