//! Builds: contexts, submission, the log stream, status, cancel and ephemeral builds.

use super::*;

#[tokio::test]
async fn a_build_round_trip_with_a_context() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let dir = ok(tempfile::tempdir(), "temp dir");
    let root = ok(dir.path().canonicalize(), "canonical temp dir");
    ok(std::fs::create_dir_all(root.join("data")), "mkdir");
    ok(
        std::fs::write(root.join("data/hello.txt"), "hello\n"),
        "write",
    );
    let archive = context(&root, &["data/hello.txt"]);

    ok(connection.build.upload_context(&archive).await, "upload");
    // The same digest again: the service has it, so nothing is uploaded.
    ok(
        connection.build.upload_context(&archive).await,
        "upload again",
    );
    let counters = emulator.counters();
    assert_eq!(counters.contexts_uploaded, 1);
    assert_eq!(counters.requests_to("POST /v1/build-context"), 2);
    assert_eq!(counters.requests_to("PUT /_upload/{token}"), 1);

    let definition =
        "Bootstrap: docker\nFrom: alpine:3.20\n\n%files\n    data/hello.txt /opt/hello.txt\n";
    let mut request = request(definition, Some("library://acme/tools/base:inputs-0123"));
    request.context_digest = Some(archive.digest.clone());
    request.working_dir = Some(root.display().to_string());
    let submitted = ok(connection.build.submit(&request).await, "submit");
    assert!(!submitted.id.is_empty());
    let (log, end) = follow(&connection.build, &submitted.id).await;
    ok(end, "log stream");
    assert!(log.contains("Emulated build"), "{log}");
    assert_eq!(Some(log), emulator.build_log(&submitted.id));

    let info = ok(connection.build.status(&submitted.id).await, "status");
    assert!(info.succeeded(), "{info:?}");
    assert_eq!(info.id, submitted.id);
    assert!(
        info.image_checksum
            .as_deref()
            .is_some_and(|c| c.starts_with("sha256."))
    );
    assert!(
        info.library_ref
            .as_deref()
            .is_some_and(|r| r.contains("acme/tools/base")),
        "{info:?}"
    );

    ok(
        connection.build.delete_context(&archive.digest).await,
        "delete",
    );
    let error = err(connection.build.delete_context(&archive.digest).await);
    assert!(
        matches!(error.kind, ServiceErrorKind::Status { code: 404, .. }),
        "{error}"
    );
    assert!(
        error
            .doing
            .starts_with("deleting the build context sha256.")
    );
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_ephemeral_build_sends_an_empty_ref() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let (info, _) = build_to_the_end(&connection, &request(QUICK, None)).await;
    assert!(info.succeeded(), "{info:?}");
    // The service chose the location: it got an empty `libraryRef`.
    let location = info.library_ref.unwrap_or_default();
    assert!(
        location.starts_with("library://emulated-user/remote-builds/rb-"),
        "{location}"
    );
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_failed_build_is_complete_without_an_image() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let definition = format!("{QUICK}# emulator: fail=\"no mirror\"\n");
    let (info, log) = build_to_the_end(&connection, &request(&definition, None)).await;
    assert!(info.complete && !info.succeeded(), "{info:?}");
    assert!(log.contains("no mirror"), "{log}");
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn cancel_ends_a_running_build() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let definition = format!("{QUICK}# emulator: duration=1h\n");
    let submitted = ok(
        connection.build.submit(&request(&definition, None)).await,
        "submit",
    );
    ok(connection.build.cancel(&submitted.id).await, "cancel");
    // The stream still ends normally: the service closes it once the build has ended.
    let (_, end) = follow(&connection.build, &submitted.id).await;
    ok(end, "log stream");
    let info = ok(connection.build.status(&submitted.id).await, "status");
    assert!(info.complete && !info.succeeded(), "{info:?}");
    assert_eq!(emulator.counters().builds_cancelled, 1);
    let error = err(connection.build.cancel("no-such-build").await);
    assert!(
        matches!(error.kind, ServiceErrorKind::Status { code: 404, .. }),
        "{error}"
    );
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_dropped_log_stream_is_reported_as_such() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, log) = connected(&emulator).await;
    // Enough log for several frames (64 KiB each), so one arrives before the drop.
    let definition = format!("{QUICK}# emulator: log-bytes=200000\n");
    let submitted = ok(
        connection.build.submit(&request(&definition, None)).await,
        "submit",
    );
    emulator.faults().add(FaultRule::new(
        "v1/build-ws/*",
        Some(1),
        FaultAction::DropWebsocket { after_frames: 1 },
    ));
    let (received, end) = follow(&connection.build, &submitted.id).await;
    let error = err(end);
    assert_eq!(error.kind, ServiceErrorKind::StreamDropped, "{error}");
    assert!(error.is_transient());
    assert!(
        !received.is_empty(),
        "the frame before the drop is forwarded"
    );
    assert!(
        log.delays().is_empty(),
        "a dropped stream is not retried here"
    );
    assert_no_token(&error, &error.to_string());
    // The build itself is fine; the caller asks the status.
    let info = ok(connection.build.status(&submitted.id).await, "status");
    assert!(info.succeeded(), "{info:?}");
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_log_stream_of_an_unknown_build_is_a_status_error() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let (_, end) = follow(&connection.build, "no-such-build").await;
    let error = err(end);
    assert!(
        matches!(error.kind, ServiceErrorKind::Status { code: 404, .. }),
        "{error}"
    );
    drop(connection);
    emulator.shutdown().await;
}
