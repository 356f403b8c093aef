use reqwest::StatusCode;
use scs_emulator::{EmulatorConfig, FaultAction, FaultRule};
use serde_json::json;

use crate::support::{
    Client, StreamEnd, TOKEN, data, error, finish, follow, start, start_with, submit,
};

const SIMPLE: &str = "Bootstrap: docker\nFrom: alpine\n";

#[tokio::test]
async fn status_faults_fire_n_times_and_are_counted() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    emulator.faults().add(FaultRule::new(
        "POST v1/build",
        Some(2),
        FaultAction::Status {
            status: 503,
            message: Some("maintenance".to_owned()),
        },
    ));
    let body = json!({"definitionRaw": "Qm9vdHN0cmFwOiBkb2NrZXIK"});
    for _ in 0..2 {
        let message = error(
            client.post("/v1/build", &body).await,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        assert_eq!(message, "maintenance");
    }
    data(client.post("/v1/build", &body).await, StatusCode::CREATED).await;
    let counters = emulator.counters();
    assert_eq!(counters.requests_to("POST /v1/build"), 3);
    assert_eq!(counters.builds_submitted, 1, "no double submission");
    assert_eq!(counters.faults_injected, 2);
    assert_eq!(emulator.faults().list()[0].remaining, Some(0));
    emulator.shutdown().await;
}

#[tokio::test]
async fn rate_limits_send_retry_after() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    emulator.faults().add(FaultRule::new(
        "GET v1/entities/*",
        Some(1),
        FaultAction::RateLimit {
            retry_after_seconds: 7,
        },
    ));
    let response = client.get("/v1/entities/acme").await;
    assert_eq!(response.headers()["retry-after"], "7");
    error(response, StatusCode::TOO_MANY_REQUESTS).await;
    error(client.get("/v1/entities/acme").await, StatusCode::NOT_FOUND).await;
    emulator.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn latency_delays_but_does_not_fail() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    emulator.faults().add(FaultRule::new(
        "GET version",
        Some(1),
        FaultAction::Latency { delay_ms: 30_000 },
    ));
    // The paused clock auto-advances through the injected delay.
    let before = tokio::time::Instant::now();
    data(client.get("/version").await, StatusCode::OK).await;
    assert!(before.elapsed() >= std::time::Duration::from_secs(30));
    assert_eq!(emulator.counters().faults_injected, 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_reset_fault_kills_the_connection_mid_upload() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    emulator.faults().add(FaultRule::new(
        "POST v1/imagefile/*",
        Some(1),
        FaultAction::Reset { after_bytes: 1024 },
    ));
    let body = vec![0_u8; 1024 * 1024];
    let result = client
        .request(
            reqwest::Method::POST,
            "/v1/imagefile/0123456789abcdef01234567",
        )
        .body(body.clone())
        .send()
        .await;
    assert!(
        result.is_err(),
        "expected a connection error, got {result:?}"
    );
    // The next request is served normally.
    let response = client
        .request(
            reqwest::Method::POST,
            "/v1/imagefile/0123456789abcdef01234567",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    error(response, StatusCode::NOT_FOUND).await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_dropped_websocket_ends_without_close_1000_while_the_build_succeeds() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    emulator.faults().add(FaultRule::new(
        "v1/build-ws/*",
        Some(1),
        FaultAction::DropWebsocket { after_frames: 1 },
    ));
    let info = submit(&client, SIMPLE, "library://a/b/dropped", "amd64").await;
    let id = info["id"].as_str().unwrap().to_owned();
    let (log, end) = follow(&client.base, &id).await;
    assert_eq!(end, StreamEnd::Dropped);
    assert_eq!(log.lines().count(), 1, "{log}");
    // A second stream (a client's fallback) gets the whole log and a normal close.
    let (_, info) = finish(&client, &id).await;
    assert!(info["imageSize"].as_u64().is_some());
    emulator.shutdown().await;
}

#[tokio::test]
async fn fail_build_faults_come_from_config_and_admin_api() {
    let emulator = start_with(EmulatorConfig {
        faults: vec![FaultRule::new(
            "*",
            Some(1),
            FaultAction::FailBuild {
                reason: "disk full".to_owned(),
            },
        )],
        ..EmulatorConfig::default()
    })
    .await;
    let client = Client::new(&emulator);
    let info = submit(&client, SIMPLE, "", "amd64").await;
    let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info.get("imageSize").is_none());
    assert!(log.contains("disk full"), "{log}");
    let info = submit(&client, SIMPLE, "", "amd64").await;
    let (_, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info["imageSize"].as_u64().is_some());
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_manages_faults_and_reports_counters() {
    let emulator = start_with(EmulatorConfig {
        admin_token: Some("admin".to_owned()),
        ..EmulatorConfig::default()
    })
    .await;
    let user = Client::new(&emulator);
    let admin = Client::new(&emulator).with_token(Some("admin"));
    error(user.get("/_emulator/counters").await, StatusCode::FORBIDDEN).await;
    error(
        Client::new(&emulator)
            .with_token(None)
            .get("/_emulator/counters")
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let rule = json!({"route": "GET v1/entities/*", "times": 1, "action": {"kind": "status", "status": 500}});
    let created = data(
        admin.post("/_emulator/faults", &rule).await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["id"].as_u64().unwrap();
    let listed = data(admin.get("/_emulator/faults").await, StatusCode::OK).await;
    assert_eq!(listed[0]["rule"]["action"]["kind"], json!("status"));
    error(
        user.get("/v1/entities/x").await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    let counters = data(admin.get("/_emulator/counters").await, StatusCode::OK).await;
    assert_eq!(counters["requests"]["GET /v1/entities/{entity}"], json!(1));
    assert_eq!(counters["faultsInjected"], json!(1));

    assert_eq!(
        admin
            .delete(&format!("/_emulator/faults/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    error(
        admin.delete(&format!("/_emulator/faults/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let bad = admin
        .post("/_emulator/faults", &json!({"action": {"kind": "explode"}}))
        .await;
    error(bad, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        admin.delete("/_emulator/faults").await.status(),
        StatusCode::NO_CONTENT
    );

    let info = submit(&user, SIMPLE, "", "amd64").await;
    let id = info["id"].as_str().unwrap().to_owned();
    finish(&user, &id).await;
    let builds = data(admin.get("/_emulator/builds").await, StatusCode::OK).await;
    assert_eq!(builds[0]["id"], json!(id));
    let log = admin
        .get(&format!("/_emulator/builds/{id}/log"))
        .await
        .text()
        .await
        .unwrap();
    assert!(log.starts_with("INFO:    Emulated build"), "{log}");
    assert_eq!(
        admin
            .post("/_emulator/counters/_reset", &json!({}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(emulator.counters().builds_submitted, 0);
    assert_ne!(TOKEN, "admin");
    emulator.shutdown().await;
}

#[tokio::test]
async fn shape_build_faults_set_duration_log_volume_and_outcome_over_http() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let rule = json!({
        "route": "POST v1/build",
        "times": 1,
        "action": {"kind": "shape-build", "durationMs": 5, "logBytes": 70000, "fail": "shaped failure"}
    });
    data(
        client.post("/_emulator/faults", &rule).await,
        StatusCode::CREATED,
    )
    .await;
    // The admin shape wins over the definition's own directive.
    let definition = "Bootstrap: docker\n# emulator: log-bytes=10\n";
    let info = submit(&client, definition, "", "amd64").await;
    let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info.get("imageSize").is_none());
    assert!(log.contains("Emulating 5ms of build work"), "{log}");
    assert!(
        log.contains("FATAL:   While performing build: shaped failure"),
        "{log}"
    );
    let filler: usize = log
        .split_inclusive('\n')
        .filter(|line| line.starts_with("+ emulated"))
        .map(str::len)
        .sum();
    assert!(filler > 69_900 && filler <= 70_000, "{filler}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_live_log_streams_and_ends_running_builds() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let emulator = start().await;
    let client = Client::new(&emulator);
    let info = submit(
        &client,
        "Bootstrap: docker\n# emulator: duration=1h\n",
        "",
        "amd64",
    )
    .await;
    let url = format!(
        "{}/v1/build-ws/{}",
        emulator.url().replacen("http", "ws", 1),
        info["id"].as_str().unwrap()
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // The first frame proves the session is streaming before the emulator stops.
    assert!(matches!(socket.next().await, Some(Ok(Message::Text(_)))));
    // Read concurrently, so the client answers the close handshake while the emulator stops.
    let read = async {
        let mut log = String::new();
        while let Some(Ok(message)) = socket.next().await {
            match message {
                Message::Text(text) => log.push_str(text.as_str()),
                Message::Close(frame) => {
                    while socket.next().await.is_some() {}
                    return (log, frame.map(|f| u16::from(f.code)));
                }
                _ => {}
            }
        }
        (log, None)
    };
    let ((log, close_code), ()) = tokio::join!(read, emulator.shutdown());
    // The build ends first, saying why, and the stream then closes normally.
    assert!(log.contains("cancelled: emulator shutting down"), "{log}");
    assert_eq!(close_code, Some(1000));
}
