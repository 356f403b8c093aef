use reqwest::StatusCode;
use scs_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::support::{Client, data, error, start, start_with};

#[tokio::test]
async fn discovery_document_points_every_service_at_the_emulator() {
    let emulator = start().await;
    let client = Client::new(&emulator).with_token(None);
    let response = client.get("/assets/config/config.prod.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("data").is_none(), "discovery is not enveloped");
    for service in ["libraryAPI", "builderAPI", "tokenAPI", "keystoreAPI"] {
        assert_eq!(body[service]["uri"], json!(emulator.url()), "{service}");
    }
    assert!(emulator.url().starts_with("http://127.0.0.1:"));
    emulator.shutdown().await;
}

#[tokio::test]
async fn version_announces_the_configured_api_version() {
    let emulator = start().await;
    let info = data(
        Client::new(&emulator)
            .with_token(None)
            .get("/version")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(info["apiVersion"], json!("2.0.0-alpha.2"));
    assert!(
        info["version"]
            .as_str()
            .unwrap()
            .starts_with("scs-emulator")
    );
    emulator.shutdown().await;

    let v1 = start_with(EmulatorConfig::default().v1_only()).await;
    let info = data(Client::new(&v1).get("/version").await, StatusCode::OK).await;
    assert!(info.get("apiVersion").is_none(), "{info}");
    v1.shutdown().await;

    let custom = start_with(EmulatorConfig {
        library_api_version: Some("2.0.0-alpha.1".to_owned()),
        ..EmulatorConfig::default()
    })
    .await;
    let info = data(Client::new(&custom).get("/version").await, StatusCode::OK).await;
    assert_eq!(info["apiVersion"], json!("2.0.0-alpha.1"));
    custom.shutdown().await;
}

#[tokio::test]
async fn an_unparseable_api_version_is_a_configuration_error() {
    let result = scs_emulator::Emulator::start(EmulatorConfig {
        library_api_version: Some("two".to_owned()),
        ..EmulatorConfig::default()
    })
    .await;
    assert!(matches!(result, Err(scs_emulator::Error::Config { .. })));
}

#[tokio::test]
async fn token_status_accepts_known_tokens_in_any_scheme_case() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    for scheme in ["Bearer", "BEARER", "bearer"] {
        let response = client
            .http
            .get(format!("{}/v1/token-status", emulator.url()))
            .header(
                "Authorization",
                format!("{scheme} {}", crate::support::TOKEN),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    let wrong = client.with_token(Some("nope"));
    let message = error(
        wrong.get("/v1/token-status").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(message.contains("invalid"), "{message}");
    let none = Client::new(&emulator).with_token(None);
    error(none.get("/v1/token-status").await, StatusCode::UNAUTHORIZED).await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn protected_endpoints_refuse_missing_and_unknown_tokens() {
    let emulator = start().await;
    let none = Client::new(&emulator).with_token(None);
    let wrong = Client::new(&emulator).with_token(Some("wrong"));
    for client in [&none, &wrong] {
        error(
            client.get("/v1/entities/acme").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        error(
            client.post("/v1/build", &json!({})).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        error(
            client.get("/v1/build/0123456789abcdef01234567").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        error(
            client.get("/v1/imagefile/a/b/c:latest?arch=").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // The websocket handshake is refused too.
    let url = format!(
        "{}/v1/build-ws/0123456789abcdef01234567",
        emulator.url().replacen("http", "ws", 1)
    );
    let result = tokio_tungstenite::connect_async(url).await;
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401);
        }
        other => panic!("expected a 401 handshake failure, got {other:?}"),
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn open_mode_accepts_requests_without_a_token() {
    let emulator = scs_emulator::Emulator::start(EmulatorConfig::default())
        .await
        .unwrap();
    let client = Client::new(&emulator).with_token(None);
    error(
        client.get("/v1/entities/nobody").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        client.get("/v1/token-status").await.status(),
        StatusCode::OK
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn unknown_endpoints_get_an_enveloped_404_and_identity_is_bare_json() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    error(client.get("/v1/no-such-thing").await, StatusCode::NOT_FOUND).await;
    let user: Value = client
        .get("/v1/rbac/users/current")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["username"], json!("emulated-user"));
    emulator.shutdown().await;
}
