//! scs-library-client (Sylabs official library client, conformance/cmd/libclient) against the emulator.
//!
//! The driver reports the upload and download path the client chose (from the client's own
//! log); the emulator's counters and library prove that path ran and left the right state.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use scs_emulator::{EmulatorConfig, FaultAction, FaultRule, RunningEmulator, sif};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::go_tools::go_tool;
use crate::support::{Client, TOKEN, data, sha256, start, start_with};

/// The client uploads in parts only above this size (`minimumPartSize`, client/push.go).
const CLIENT_MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
/// The download part size SingularityCE configures, which the driver uses.
const DOWNLOAD_PART_SIZE: u64 = 5 * 1024 * 1024;

/// Runs the driver against `emulator`; returns whether it succeeded, and its output.
async fn run<I, S>(driver: &Path, emulator: &RunningEmulator, args: I) -> (bool, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new(driver)
        .args(["-url", emulator.url(), "-token", TOKEN, "-arch", "amd64"])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stdout, stderr)
}

/// Runs the driver against `emulator`, asserting success; returns its standard output.
async fn libclient<I, S>(driver: &Path, emulator: &RunningEmulator, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let (ok, stdout, stderr) = run(driver, emulator, args).await;
    assert!(
        ok,
        "libclient failed:\n{stdout}\n--- client log ---\n{stderr}"
    );
    stdout
}

fn write_image(dir: &Path, name: &str, partition: &[u8]) -> PathBuf {
    let bytes = sif::write_emulated_image(
        sif::arch_code("amd64").unwrap(),
        b"Bootstrap: docker\nFrom: alpine\n",
        b"{\"pushed-by\":\"libclient test\"}",
        partition,
    );
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn small_partition() -> Vec<u8> {
    (0..50_000_u32).map(|i| (i % 239) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_runs_single_part_and_multipart_round_trips() {
    let Some(driver) = go_tool("libclient", "./cmd/libclient") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let image = write_image(work.path(), "small.sif", &small_partition());
    let small_size = std::fs::metadata(&image).unwrap().len();
    let big_size = CLIENT_MULTIPART_THRESHOLD + 100_000;
    assert!(small_size < CLIENT_MULTIPART_THRESHOLD);
    let emulator = start().await;

    let size_arg = big_size.to_string();
    let out = libclient(
        &driver,
        &emulator,
        [
            OsStr::new("scenario"),
            OsStr::new("-sif"),
            image.as_os_str(),
            OsStr::new("-ref"),
            OsStr::new("lib/client/hello"),
            OsStr::new("-multipart-size"),
            OsStr::new(&size_arg),
        ],
    )
    .await;
    assert!(out.trim_end().ends_with("PASS"), "{out}");
    let big_parts = big_size.div_ceil(CLIENT_MULTIPART_THRESHOLD);
    let big_ranges = big_size.div_ceil(DOWNLOAD_PART_SIZE);
    for line in [
        format!("push lib/client/hello:1.0,latest size={small_size} upload=v2-single"),
        "push again upload=none".to_owned(),
        format!("push lib/client/hello:big,latest size={big_size} upload=v2-multipart/{big_parts}"),
        "concurrent pull 1.0 byte-identical download=ranged/1".to_owned(),
        format!("concurrent pull big byte-identical download=ranged/{big_ranges}"),
    ] {
        assert!(out.contains(&line), "missing `{line}` in:\n{out}");
    }

    let counters = emulator.counters();
    let requests = |route: &str| counters.requests_to(route);
    // One single-part upload (small), one in parts (big), none for the re-push.
    assert_eq!(counters.images_uploaded, 2);
    assert_eq!(
        requests("POST /v1/images"),
        2,
        "the re-push created no image"
    );
    assert_eq!(requests("POST /v2/imagefile/{image}"), 1);
    assert_eq!(requests("PUT /v2/imagefile/{image}/_complete"), 1);
    assert_eq!(requests("POST /v2/imagefile/{image}/_multipart"), 1);
    assert_eq!(requests("PUT /v2/imagefile/{image}/_multipart"), big_parts);
    assert_eq!(requests("PUT /v2/imagefile/{image}/_multipart_complete"), 1);
    assert_eq!(requests("PUT /v2/imagefile/{image}/_multipart_abort"), 0);
    assert_eq!(requests("POST /v1/imagefile/{*path}"), 0);
    assert_eq!(requests("PUT /_upload/{token}"), 1 + big_parts);
    // Tags: 1.0 and latest, again, extra, big and latest; all arch tags.
    assert_eq!(requests("POST /v2/tags/{container}"), 6);
    assert_eq!(requests("POST /v1/tags/{container}"), 0);
    // Downloads: small concurrent and single-stream, big concurrent; every one redirected,
    // the concurrent ones fetched in ranged parts from the presigned URL.
    assert_eq!(counters.images_downloaded, 3);
    assert_eq!(requests("GET /v1/imagefile/{*path}"), 3);
    assert_eq!(requests("GET /_download/{token}"), 1 + 1 + big_ranges);
    assert_eq!(requests("DELETE /v1/images/{*path}"), 2);

    let client = Client::new(&emulator);
    let container = data(
        client.get("/v1/containers/lib/client/hello").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(container["images"], json!([]), "{container}");
    assert_eq!(container["imageTags"], json!({}), "{container}");
    assert_eq!(container["archTags"], json!({}), "{container}");
    assert_eq!(container["downloadCount"], json!(3), "{container}");
    emulator.shutdown().await;
}

/// The driver's `get` answer: the image JSON.
async fn get_image(driver: &Path, emulator: &RunningEmulator, reference: &str) -> Value {
    let out = libclient(driver, emulator, ["get", reference]).await;
    serde_json::from_str(out.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_operations_leave_the_library_as_the_client_asked() {
    let Some(driver) = go_tool("libclient", "./cmd/libclient") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let image = write_image(work.path(), "one.sif", &small_partition());
    let bytes = std::fs::read(&image).unwrap();
    let hash = sha256(&bytes);
    let emulator = start().await;
    let client = Client::new(&emulator);

    let out = libclient(
        &driver,
        &emulator,
        [
            OsStr::new("push"),
            image.as_os_str(),
            OsStr::new("ops/tools/one:1.0"),
        ],
    )
    .await;
    assert!(out.contains("upload=v2-single"), "{out}");

    let by_tag = get_image(&driver, &emulator, "ops/tools/one:1.0").await;
    let stored = data(
        client.get("/v1/images/ops/tools/one:1.0?arch=amd64").await,
        StatusCode::OK,
    )
    .await;
    for key in [
        "id",
        "hash",
        "size",
        "uploaded",
        "arch",
        "container",
        "tags",
    ] {
        assert_eq!(by_tag[key], stored[key], "{key}: {by_tag} vs {stored}");
    }
    assert_eq!(by_tag["hash"], json!(hash));
    assert_eq!(by_tag["size"], json!(bytes.len()));
    let by_hash = get_image(&driver, &emulator, &format!("ops/tools/one:{hash}")).await;
    assert_eq!(by_hash["id"], by_tag["id"]);
    let image_id = by_tag["id"].as_str().unwrap().to_owned();
    let container_id = by_tag["container"].as_str().unwrap().to_owned();

    let out = libclient(&driver, &emulator, ["tag", "ops/tools/one:1.0", "stable"]).await;
    assert!(out.contains("(v2 tags)"), "{out}");
    let arch_tags = data(
        client.get(&format!("/v2/tags/{container_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        arch_tags,
        json!({"amd64": {"1.0": image_id, "stable": image_id}}),
        "a tagged push sets only its tags, a tag only for its arch"
    );
    assert_eq!(
        emulator.counters().requests_to("POST /v2/tags/{container}"),
        2
    );

    // A re-push of the same file only tags.
    let out = libclient(
        &driver,
        &emulator,
        [
            OsStr::new("push"),
            image.as_os_str(),
            OsStr::new("ops/tools/one:2.0"),
        ],
    )
    .await;
    assert!(out.contains("upload=none"), "{out}");
    let counters = emulator.counters();
    assert_eq!(counters.images_uploaded, 1);
    assert_eq!(counters.requests_to("POST /v1/images"), 1);
    assert_eq!(
        get_image(&driver, &emulator, "ops/tools/one:2.0").await["id"],
        json!(image_id)
    );

    let pulled = work.path().join("pulled.sif");
    let out = libclient(
        &driver,
        &emulator,
        [
            OsStr::new("pull"),
            OsStr::new("ops/tools/one:stable"),
            pulled.as_os_str(),
        ],
    )
    .await;
    assert!(out.contains("download=ranged/1"), "{out}");
    assert_eq!(std::fs::read(&pulled).unwrap(), bytes);

    let out = libclient(&driver, &emulator, ["search", "one"]).await;
    let results: Value = serde_json::from_str(out.trim()).unwrap();
    let found: Vec<&Value> = results["image"].as_array().unwrap().iter().collect();
    assert_eq!(found.len(), 1, "{results}");
    // The driver searches with an arch, as SingularityCE does, which limits it to images.
    assert_eq!(results["container"], json!([]), "{results}");
    assert_eq!(found[0]["id"], json!(image_id));

    libclient(&driver, &emulator, ["delete", "ops/tools/one:stable"]).await;
    let response = client
        .get(&format!("/v1/images/ops/tools/one:{hash}?arch=amd64"))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let container = data(
        client.get("/v1/containers/ops/tools/one").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(container["images"], json!([]));
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_v1_library_the_client_uploads_raw_and_sets_plain_tags() {
    let Some(driver) = go_tool("libclient", "./cmd/libclient") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let image = write_image(work.path(), "old.sif", &small_partition());
    let emulator = start_with(EmulatorConfig::default().v1_only()).await;
    let out = libclient(
        &driver,
        &emulator,
        [
            OsStr::new("push"),
            image.as_os_str(),
            OsStr::new("old/tools/one"),
        ],
    )
    .await;
    assert!(out.contains("upload=v1"), "{out}");
    let out = libclient(&driver, &emulator, ["tag", "old/tools/one:latest", "kept"]).await;
    assert!(out.contains("(v1 tags)"), "{out}");
    let counters = emulator.counters();
    assert_eq!(counters.images_uploaded, 1);
    assert_eq!(counters.requests_to("POST /v1/imagefile/{*path}"), 1);
    assert_eq!(counters.requests_to("POST /v1/tags/{container}"), 2);
    let client = Client::new(&emulator);
    let container = data(
        client.get("/v1/containers/old/tools/one").await,
        StatusCode::OK,
    )
    .await;
    let id = container["images"][0].clone();
    assert_eq!(container["imageTags"], json!({"latest": id, "kept": id}));
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_falls_back_from_multipart_and_aborts_a_failed_part() {
    let Some(driver) = go_tool("libclient", "./cmd/libclient") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let partition: Vec<u8> = (0..CLIENT_MULTIPART_THRESHOLD + 100_000)
        .map(|i| (i % 251) as u8)
        .collect();
    let image = write_image(work.path(), "big.sif", &partition);
    let hash = sha256(&std::fs::read(&image).unwrap());
    let push = |reference: &'static str| {
        [
            OsStr::new("push").to_owned(),
            image.as_os_str().to_owned(),
            OsStr::new(reference).to_owned(),
        ]
    };
    let emulator = start().await;
    let client = Client::new(&emulator);

    // A library without multipart (404 on the start) gets the file in one part.
    emulator.faults().add(FaultRule::new(
        "POST v2/imagefile/*/_multipart",
        Some(1),
        FaultAction::Status {
            status: 404,
            message: None,
        },
    ));
    let out = libclient(&driver, &emulator, push("big/tools/fallback")).await;
    assert!(out.contains("upload=v2-single"), "{out}");
    let counters = emulator.counters();
    assert_eq!(counters.requests_to("POST /v2/imagefile/{image}"), 1);
    assert_eq!(
        counters.requests_to("PUT /v2/imagefile/{image}/_multipart"),
        0
    );
    assert_eq!(counters.images_uploaded, 1);

    // A part the object store refuses: the client aborts, the image stays not uploaded,
    // and the next push uploads it in parts from the start.
    emulator.faults().add(FaultRule::new(
        "PUT _upload/*",
        Some(1),
        FaultAction::Status {
            status: 500,
            message: None,
        },
    ));
    let (ok, out, log) = run(&driver, &emulator, push("big/tools/retried")).await;
    assert!(!ok, "a refused part fails the push:\n{out}");
    assert!(log.contains("Aborting multipart upload"), "{log}");
    let counters = emulator.counters();
    assert_eq!(
        counters.requests_to("PUT /v2/imagefile/{image}/_multipart_abort"),
        1
    );
    let stored = data(
        client
            .get(&format!("/v1/images/big/tools/retried:{hash}?arch=amd64"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored["uploaded"], json!(false), "{stored}");

    let out = libclient(&driver, &emulator, push("big/tools/retried")).await;
    assert!(out.contains("upload=v2-multipart/2"), "{out}");
    let counters = emulator.counters();
    assert_eq!(counters.images_uploaded, 2);
    assert_eq!(
        counters.requests_to("POST /v1/images"),
        2,
        "the image was reused"
    );
    let stored = data(
        client
            .get(&format!("/v1/images/big/tools/retried:{hash}?arch=amd64"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored["uploaded"], json!(true), "{stored}");
    assert_eq!(stored["tags"], json!(["latest"]), "{stored}");
    emulator.shutdown().await;
}
