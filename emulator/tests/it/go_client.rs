//! The Debian-packaged Go library client (`golang-github-apptainer-container-library-client-dev`)
//! pushes, tags, gets, pulls, searches and deletes against the emulator, built offline in
//! GOPATH mode from `tests/go-client/`.

use std::path::{Path, PathBuf};

use scs_emulator::{EmulatorConfig, sif};
use tokio::process::Command;

use crate::support::{TOKEN, external_tool_available, on_path, start_with};

const GO_LIBRARY: &str =
    "/usr/share/gocode/src/github.com/apptainer/container-library-client/client";

/// Builds the driver; `None` if Go or the library is missing (and not required).
async fn build_driver(work: &Path) -> Option<PathBuf> {
    let present = on_path("go") && Path::new(GO_LIBRARY).is_dir();
    if !external_tool_available(
        "go (golang-go) with golang-github-apptainer-container-library-client-dev",
        present,
    ) {
        return None;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go-client");
    let binary = work.join("go-client");
    let output = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&source)
        .env("GO111MODULE", "off")
        .env(
            "GOPATH",
            format!("{}:/usr/share/gocode", work.join("gopath").display()),
        )
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        // A cache kept between runs: compiling the GOPATH sources from scratch took over a
        // minute of every test run.
        .env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache-gopath"),
        )
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "go build failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(binary)
}

async fn run_driver(driver: &Path, url: &str, image: &Path, reference: &str) -> String {
    let output = Command::new(driver)
        .args([
            "-url", url, "-token", TOKEN, "-arch", "amd64", "-ref", reference, "-sif",
        ])
        .arg(image)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.trim_end().ends_with("PASS"),
        "Go driver failed:\n{stdout}\n--- client log ---\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{stdout}");
    format!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr))
}

fn write_image(dir: &Path, name: &str, partition: &[u8]) -> PathBuf {
    let bytes = sif::write_emulated_image(
        sif::arch_code("amd64").unwrap(),
        b"Bootstrap: docker\nFrom: alpine\n",
        b"{\"pushed-by\":\"go driver test\"}",
        partition,
    );
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_library_client_round_trips_against_v2_and_v1_libraries() {
    let work = tempfile::tempdir().unwrap();
    let Some(driver) = build_driver(work.path()).await else {
        return;
    };
    let image = write_image(work.path(), "small.sif", b"small partition");

    let v2 = start_with(EmulatorConfig::default()).await;
    let log = run_driver(&driver, v2.url(), &image, "gotest/tools/hello").await;
    assert!(
        log.contains("legacyPostFileV2 calling v2/imagefile/"),
        "v2 single-part upload used"
    );
    assert!(log.contains("setTag calling v2/tags/"), "v2 arch tags used");
    let counters = v2.counters();
    assert_eq!(
        counters.images_uploaded, 1,
        "the second push found the image uploaded"
    );
    assert_eq!(counters.images_downloaded, 2);
    v2.shutdown().await;

    let v1 = start_with(EmulatorConfig::default().v1_only()).await;
    let log = run_driver(&driver, v1.url(), &image, "gotest/tools/old").await;
    assert!(
        log.contains("postFile calling v1/imagefile/"),
        "legacy upload used"
    );
    assert!(log.contains("setTag calling v1/tags/"), "v1 tags used");
    v1.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_library_client_uses_multipart_above_64_mib() {
    let work = tempfile::tempdir().unwrap();
    let Some(driver) = build_driver(work.path()).await else {
        return;
    };
    let partition: Vec<u8> = (0..64 * 1024 * 1024 + 100_000_u32)
        .map(|i| (i % 251) as u8)
        .collect();
    let image = write_image(work.path(), "big.sif", &partition);
    let emulator = start_with(EmulatorConfig::default()).await;
    let log = run_driver(&driver, emulator.url(), &image, "gotest/tools/big").await;
    assert!(log.contains("totalParts=[2]"), "multipart upload used");
    emulator.shutdown().await;
}
