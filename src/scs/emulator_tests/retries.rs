//! Retries under injected faults: which calls are retried, how long they wait, and that a
//! build is never submitted twice.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn a_burst_of_5xx_on_a_read_is_retried() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    emulator
        .faults()
        .add(status_fault("GET v1/images/*", 2, 502));
    let found = ok(
        connection
            .library
            .find_image(&libref("acme/tools/base"), "latest", "amd64")
            .await,
        "find after two 502s",
    );
    assert_eq!(found, None);
    assert_eq!(emulator.counters().requests_to("GET /v1/images/{*path}"), 3);
    // Exponential backoff from the default first delay, no jitter in tests.
    assert_eq!(
        log.delays(),
        vec![Duration::from_secs(1), Duration::from_secs(2)]
    );
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn retries_give_up_after_the_last_attempt() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    emulator
        .faults()
        .add(status_fault("GET v1/images/*", 10, 503));
    let error = err(connection
        .library
        .find_image(&libref("acme/tools/base"), "latest", "amd64")
        .await);
    assert!(
        matches!(error.kind, ServiceErrorKind::Status { code: 503, .. }),
        "{error}"
    );
    assert_eq!(
        error.doing,
        "reading image acme/tools/base:latest for amd64"
    );
    assert_eq!(emulator.counters().requests_to("GET /v1/images/{*path}"), 4);
    assert_eq!(log.delays().len(), 3);
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    emulator.faults().add(FaultRule::new(
        "GET v1/images/*",
        Some(1),
        FaultAction::RateLimit {
            retry_after_seconds: 7,
        },
    ));
    ok(
        connection
            .library
            .find_image(&libref("acme/tools/base"), "latest", "amd64")
            .await,
        "find after a 429",
    );
    assert_eq!(log.delays(), vec![Duration::from_secs(7)]);
    // A longer Retry-After is cut to the cap (60 s by default).
    emulator.faults().add(FaultRule::new(
        "GET v1/images/*",
        Some(1),
        FaultAction::RateLimit {
            retry_after_seconds: 3600,
        },
    ));
    ok(
        connection
            .library
            .find_image(&libref("acme/tools/base"), "latest", "amd64")
            .await,
        "find after a long 429",
    );
    assert_eq!(
        log.delays(),
        vec![Duration::from_secs(7), Duration::from_secs(60)]
    );
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn submit_is_retried_after_a_503_and_starts_one_build() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    emulator.faults().add(status_fault("POST v1/build", 1, 503));
    let info = ok(
        connection.build.submit(&request(QUICK, None)).await,
        "submit",
    );
    assert!(!info.id.is_empty());
    let counters = emulator.counters();
    assert_eq!(counters.builds_submitted, 1);
    assert_eq!(counters.requests_to("POST /v1/build"), 2);
    assert_eq!(log.delays().len(), 1);
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn submit_is_not_retried_after_a_reset() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    emulator.faults().add(FaultRule::new(
        "POST v1/build",
        Some(1),
        FaultAction::Reset { after_bytes: 0 },
    ));
    let error = err(connection.build.submit(&request(QUICK, None)).await);
    // The request may have been acted on: never sent again.
    assert!(!error.not_acted_on(), "{error:?}");
    assert_eq!(error.kind, ServiceErrorKind::Timeout, "{error}");
    assert_eq!(error.doing, "submitting the ephemeral build for amd64");
    assert_no_token(&error, &error.to_string());
    let counters = emulator.counters();
    assert_eq!(counters.requests_to("POST /v1/build"), 1);
    assert!(counters.builds_submitted <= 1);
    assert!(log.delays().is_empty());
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn submit_is_not_retried_after_a_client_error() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    let mut bad = request(QUICK, None);
    bad.arch = "vax".to_owned();
    let error = err(connection.build.submit(&bad).await);
    assert!(
        matches!(error.kind, ServiceErrorKind::Status { code: 400, .. }),
        "{error}"
    );
    assert!(
        error.detail.contains("unsupported build architecture"),
        "{error}"
    );
    assert_eq!(emulator.counters().requests_to("POST /v1/build"), 1);
    assert!(log.delays().is_empty());
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_failed_context_upload_is_announced_and_sent_again() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    let dir = ok(tempfile::tempdir(), "temp dir");
    let root = ok(dir.path().canonicalize(), "canonical temp dir");
    ok(
        std::fs::write(root.join("input.txt"), "x".repeat(10_000)),
        "write",
    );
    let archive = context(&root, &["input.txt"]);
    emulator.faults().add(status_fault("PUT _upload/*", 1, 503));
    ok(connection.build.upload_context(&archive).await, "upload");
    let counters = emulator.counters();
    assert_eq!(counters.contexts_uploaded, 1);
    assert_eq!(counters.requests_to("POST /v1/build-context"), 2);
    assert_eq!(counters.requests_to("PUT /_upload/{token}"), 2);
    assert_eq!(log.delays().len(), 1);
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn cancel_and_status_are_retried_on_5xx() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    let definition = format!("{QUICK}# emulator: duration=1h\n");
    let info = ok(
        connection.build.submit(&request(&definition, None)).await,
        "submit",
    );
    emulator
        .faults()
        .add(status_fault("PUT v1/build/*/_cancel", 1, 500));
    ok(connection.build.cancel(&info.id).await, "cancel");
    emulator
        .faults()
        .add(status_fault("GET v1/build/*", 1, 503));
    ok(connection.build.status(&info.id).await, "status");
    assert_eq!(log.delays().len(), 2);
    drop(connection);
    emulator.shutdown().await;
}
