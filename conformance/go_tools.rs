//! Builds the conformance drivers of `conformance/` (a Go module: Sylabs' own clients and
//! SingularityCE's parser, pinned in its go.mod) for the Rust tests that run them.
//!
//! Included with `#[path]` by the sifbake and scs-emulator integration tests, so both build
//! the drivers the same way. Go's build cache makes every build after the first cheap.

// Each including crate uses only some of these.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// `true` when a missing tool must fail the test (CI), rather than skip it with a note.
pub fn tools_required() -> bool {
    std::env::var("SIFBAKE_REQUIRE_EXTERNAL_TOOLS").is_ok_and(|v| v == "1")
}

/// The `conformance/` directory: found upward from the crate that includes this file.
pub fn conformance_dir() -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|dir| dir.join("conformance"))
        .find(|dir| dir.join("go.mod").is_file())
        .expect("conformance/go.mod above the crate")
}

/// Builds `package` (`./cmd/NAME` of the conformance module, or a package of one of its
/// pinned dependencies) as `name`, once per test process, and returns the binary's path.
///
/// `None` when Go is not installed and tools are not required (a note is printed); a
/// panic when Go is missing but required, or when the build fails: a driver that does not
/// build is a broken test, never a skip.
pub fn go_tool(name: &str, package: &str) -> Option<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let path = build(name, package);
    built.insert(name.to_owned(), path.clone());
    path
}

fn build(name: &str, package: &str) -> Option<PathBuf> {
    let go_present = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !go_present {
        assert!(
            !tools_required(),
            "Go is required for the conformance driver `{name}` (SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1) but `go` is not on PATH"
        );
        eprintln!(
            "note: Go is not installed; skipping the `{name}` conformance check (set SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1 to make this a failure)"
        );
        return None;
    }
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    std::fs::create_dir_all(&out_dir).expect("create the conformance driver directory");
    let binary = out_dir.join(name);
    let output = Command::new("go")
        .args(["build", "-buildvcs=false", "-o"])
        .arg(&binary)
        .arg(package)
        .current_dir(conformance_dir())
        // Only the pinned versions of go.sum: never a silent upgrade during a test.
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .expect("run go build");
    assert!(
        output.status.success(),
        "go build {package} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(binary)
}
