//! A real OCI registry for tests and benchmarks: Debian's `docker-registry` (the
//! distribution project's registry, 2.8) on 127.0.0.1, a free port, storage in a temporary
//! directory and one htpasswd user; stopped (killed and reaped) when dropped.
//!
//! Included with `#[path]` by the `oci` integration tests and the benchmarks.

// Each including crate uses only some of these.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The registry binary Debian installs.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
/// The user every test registry has.
pub const USER: &str = "mirror-bot";
/// Its password: distinctive, so a leak of it is found by the canary checks.
pub const PASSWORD: &str = "reg-canary-Hq4Wz8Lm2Px7";

/// A running registry.
pub struct TestRegistry {
    child: Child,
    pub port: u16,
    /// Holds the configuration, the htpasswd file and the storage.
    pub dir: tempfile::TempDir,
}

/// `true` when a missing tool must fail the test (CI) rather than skip it.
fn tools_required() -> bool {
    std::env::var("SIFBAKE_REQUIRE_EXTERNAL_TOOLS").is_ok_and(|v| v == "1")
}

/// Returns `true` if `program` can be run, or panics when tools are required.
pub fn have_tool(program: &str, package: &str) -> bool {
    let present = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !present {
        assert!(
            !tools_required(),
            "`{program}` is required (SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1); install Debian's `{package}`"
        );
        eprintln!(
            "note: `{program}` is not installed (Debian `{package}`); skipping (set SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1 to make this a failure)"
        );
    }
    present
}

/// The htpasswd line for the test user (bcrypt, as the registry requires).
fn htpasswd_line() -> String {
    let output = Command::new("htpasswd")
        .args(["-Bbn", USER, PASSWORD])
        .output()
        .expect("run htpasswd (Debian apache2-utils)");
    assert!(output.status.success(), "htpasswd failed");
    String::from_utf8(output.stdout).expect("htpasswd output is text")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

/// How the registry authenticates clients.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No authentication.
    None,
    /// The htpasswd user ([`USER`], [`PASSWORD`]), asked for with a Basic challenge.
    Htpasswd,
    /// Bearer tokens from a token service: its realm URL, the service and issuer names,
    /// and the certificate (PEM) whose key signs the tokens.
    Token {
        realm: String,
        service: String,
        issuer: String,
        certificate: PathBuf,
    },
}

impl TestRegistry {
    /// Starts a registry, or returns `None` (with a note) when `docker-registry` or
    /// `htpasswd` is not installed and tools are not required.
    pub fn start(auth: Auth) -> Option<TestRegistry> {
        if !Path::new(REGISTRY_BINARY).exists() {
            assert!(
                !tools_required(),
                "{REGISTRY_BINARY} is required (SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1); install Debian's `docker-registry`"
            );
            eprintln!("note: {REGISTRY_BINARY} is not installed; skipping");
            return None;
        }
        if matches!(auth, Auth::Htpasswd) && !have_tool("htpasswd", "apache2-utils") {
            return None;
        }
        let dir = tempfile::tempdir().expect("registry directory");
        let auth_section = match &auth {
            Auth::None => String::new(),
            Auth::Htpasswd => {
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, htpasswd_line()).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: sifbake-test\n    path: {}\n",
                    htpasswd.display()
                )
            }
            Auth::Token {
                realm,
                service,
                issuer,
                certificate,
            } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                certificate.display()
            ),
        };
        // A port taken between choosing it and the registry binding it makes the registry
        // exit: try a few ports.
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_section}",
                    dir.path().join("data").display()
                ),
            )
            .expect("write registry config");
            let mut child = Command::new(REGISTRY_BINARY)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start docker-registry");
            if await_ready(&mut child) {
                return Some(TestRegistry { child, port, dir });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start on any of 5 ports");
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `oras://127.0.0.1:PORT/<repository>`.
    pub fn oras_ref(&self, repository: &str) -> String {
        format!("oras://127.0.0.1:{}/{repository}", self.port)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the registry's "listening on" line, which it logs once its socket is bound;
/// `false` if it exits first (a port taken meanwhile). The rest of its log is drained on a
/// thread of its own so a full pipe never blocks it.
fn await_ready(child: &mut Child) -> bool {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("the registry's stderr is piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("msg=\"listening on "));
    if ready {
        std::thread::spawn(move || lines.for_each(drop));
    } else {
        let _ = child.kill();
        let _ = child.wait();
    }
    ready
}

/// The status line of a plain GET, or `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
