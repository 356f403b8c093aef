//! Image file transfers against the in-process emulator (uploads v1, v2 and multipart;
//! ranged downloads; faults on parts) and against small local servers that misbehave in
//! ways the emulator does not: ignoring `Range`, serving the wrong bytes, dropping a
//! connection in the middle of a part.
//!
//! Retries wait through a recording [`Pause`]; nothing here sleeps or depends on timing.

use std::path::{Path, PathBuf};

use scs_emulator::{Emulator, EmulatorConfig, FaultAction, FaultRule, RunningEmulator};
use sha2::{Digest, Sha256};

use super::transfer::hex;
use super::{
    ConnectOptions, Library, LibraryClient, Pause, PauseLog, RetryPolicy, Token, TransferError,
    TransferOptions, connect,
};
use crate::libref::LibraryRef;

mod misbehaving;

const TOKEN: &str = "q9w7z4x1k3m5v8b2";

async fn start(config: EmulatorConfig) -> RunningEmulator {
    Emulator::start(config.with_token(TOKEN))
        .await
        .unwrap_or_else(|error| panic!("cannot start the emulator: {error}"))
}

/// A client of `url` whose retries record their delays instead of waiting.
async fn client(url: &str) -> (LibraryClient, PauseLog) {
    let (pause, log) = Pause::recording();
    let mut options = ConnectOptions::new(Token::new(TOKEN).expect("token"));
    options.remote = url.to_owned();
    options.retry = RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    }
    .with_pause(pause);
    let connection = connect(&options)
        .await
        .unwrap_or_else(|error| panic!("cannot connect: {error}"));
    let mut library = connection.library;
    // Small parts, so a small file has several.
    library.set_transfer_options(TransferOptions {
        download_part_size: 64 << 10,
        ..TransferOptions::default()
    });
    (library, log)
}

fn container() -> LibraryRef {
    LibraryRef::parse("library://acme/tools/base").expect("ref")
}

/// Writes `size` bytes of a repeatable pattern (not a SIF: the library takes any file).
fn file(dir: &Path, name: &str, size: usize, seed: u8) -> (PathBuf, Vec<u8>) {
    let content: Vec<u8> = (0..size)
        .map(|n| ((n as u64 * 31 + u64::from(seed) * 7) % 253) as u8)
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, &content).expect("write the file");
    (path, content)
}

fn sha256(content: &[u8]) -> String {
    format!("sha256.{}", hex(&Sha256::digest(content)))
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the directory")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn an_uploaded_image_downloads_byte_identical_in_ranges() {
    let emulator = start(EmulatorConfig::default()).await;
    let (library, _) = client(emulator.url()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, content) = file(dir.path(), "image.sif", 300_000, 1);

    let image = library
        .upload_image(&container(), "amd64", &path)
        .await
        .expect("upload");
    assert_eq!(image.hash, sha256(&content));
    assert_eq!(image.size, content.len() as u64);
    assert!(image.uploaded && !image.container_id.is_empty());
    library
        .set_tags(&container(), &image, "amd64", &["1.0".to_owned()])
        .await
        .expect("tag");

    let out = dir.path().join("out").join("pulled.sif");
    std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
    let pulled = library
        .download_image(&container(), "1.0", "amd64", &out)
        .await
        .expect("download");
    assert_eq!(std::fs::read(&out).expect("read"), content);
    assert_eq!((pulled.parts, pulled.ranged), (5, true));
    assert_eq!(pulled.image.id, image.id);
    assert_eq!(listing(&dir.path().join("out")), ["pulled.sif"]);

    // The same file again: found by hash, not sent twice.
    let before = emulator.counters().images_uploaded;
    let again = library
        .upload_image(&container(), "amd64", &path)
        .await
        .expect("upload again");
    assert_eq!(again.id, image.id);
    assert_eq!(emulator.counters().images_uploaded, before);
    emulator.shutdown().await;
}

#[tokio::test]
async fn files_above_64_mib_go_up_in_parts() {
    let emulator = start(EmulatorConfig::default().with_recording(true)).await;
    let (library, _) = client(emulator.url()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let size = (64 << 20) + 12_345;
    let (path, content) = file(dir.path(), "big.sif", size, 2);
    let image = library
        .upload_image(&container(), "amd64", &path)
        .await
        .expect("multipart upload");
    assert_eq!(
        (image.hash.clone(), image.size),
        (sha256(&content), size as u64)
    );
    let parts = emulator
        .recorded_requests()
        .iter()
        .filter(|request| {
            request.method == "PUT" && request.route == "/v2/imagefile/{image}/_multipart"
        })
        .count();
    assert_eq!(parts, 2);
    let out = dir.path().join("big-pulled.sif");
    library
        .download_image(&container(), &image.hash, "amd64", &out)
        .await
        .expect("download by hash");
    assert!(std::fs::read(&out).expect("read") == content);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_v1_library_takes_the_file_in_one_post() {
    let emulator = start(EmulatorConfig::default().v1_only()).await;
    let (library, _) = client(emulator.url()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, content) = file(dir.path(), "old.sif", 10_000, 3);
    let image = library
        .upload_image(&container(), "amd64", &path)
        .await
        .expect("v1 upload");
    assert_eq!(image.hash, sha256(&content));
    let out = dir.path().join("old-pulled.sif");
    library
        .download_image(&container(), &image.hash, "amd64", &out)
        .await
        .expect("download");
    assert_eq!(std::fs::read(&out).expect("read"), content);
    emulator.shutdown().await;
}

#[tokio::test]
async fn failed_parts_and_steps_are_retried() {
    let emulator = start(EmulatorConfig::default()).await;
    let (library, log) = client(emulator.url()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, content) = file(dir.path(), "image.sif", 200_000, 4);
    let faults = emulator.faults();
    let unavailable = FaultAction::Status {
        status: 503,
        message: None,
    };
    faults.add(FaultRule::new(
        "PUT _upload/*",
        Some(1),
        unavailable.clone(),
    ));
    faults.add(FaultRule::new(
        "POST v1/containers",
        Some(1),
        unavailable.clone(),
    ));
    let image = library
        .upload_image(&container(), "amd64", &path)
        .await
        .expect("upload despite faults");
    faults.add(FaultRule::new("GET _download/*", Some(3), unavailable));
    let out = dir.path().join("pulled.sif");
    library
        .download_image(&container(), &image.hash, "amd64", &out)
        .await
        .expect("download despite faults");
    assert_eq!(std::fs::read(&out).expect("read"), content);
    assert_eq!(log.delays().len(), 5, "{:?}", log.delays());
    assert!(faults.list().iter().all(|fault| fault.remaining == Some(0)));
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_part_that_keeps_failing_leaves_no_file() {
    let emulator = start(EmulatorConfig::default()).await;
    let (library, _) = client(emulator.url()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = file(dir.path(), "image.sif", 200_000, 5);
    let image = library
        .upload_image(&container(), "amd64", &path)
        .await
        .expect("upload");
    std::fs::remove_file(&path).expect("remove");
    emulator.faults().add(FaultRule::new(
        "GET _download/*",
        None,
        FaultAction::Status {
            status: 502,
            message: None,
        },
    ));
    let error = library
        .download_image(
            &container(),
            &image.hash,
            "amd64",
            &dir.path().join("x.sif"),
        )
        .await
        .expect_err("every attempt fails");
    assert!(
        matches!(&error, TransferError::Service(e) if e.detail.starts_with("502")),
        "{error}"
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    let missing = library
        .download_image(
            &container(),
            "no-such-tag",
            "amd64",
            &dir.path().join("y.sif"),
        )
        .await
        .expect_err("no such tag");
    assert_eq!(
        missing.to_string(),
        "the library has no image acme/tools/base:no-such-tag for amd64"
    );
    emulator.shutdown().await;
}
