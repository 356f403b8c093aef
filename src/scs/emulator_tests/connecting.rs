//! Discovery, overrides, the plain-HTTP policy and the token check.

use super::*;

#[tokio::test]
async fn discovers_the_services_and_checks_the_token_once() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let base = format!("{}/", emulator.url());
    let endpoints = &connection.endpoints;
    assert_eq!(endpoints.frontend.as_str(), base);
    assert_eq!(endpoints.builder.as_str(), base);
    assert_eq!(endpoints.library.as_str(), base);
    assert_eq!(
        endpoints.token.as_ref().map(|u| u.as_str()),
        Some(base.as_str())
    );
    assert!(connection.token_verified);
    assert_eq!(
        connection.library_api_version.as_deref(),
        Some("2.0.0-alpha.2")
    );
    assert_eq!(connection.library.tag_api(), TagApi::V2);
    let counters = emulator.counters();
    assert_eq!(
        counters.requests_to("GET /assets/config/config.prod.json"),
        1
    );
    assert_eq!(counters.requests_to("GET /v1/token-status"), 1);
    assert_eq!(counters.requests_to("GET /version"), 1);
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn both_overrides_skip_discovery_and_the_token_check() {
    let emulator = start(EmulatorConfig::default()).await;
    let (mut options, _) = options(&emulator);
    // Never contacted: with both services given there is nothing to discover.
    options.remote = "https://cloud.sylabs.io".to_owned();
    options.builder_url = Some(format!("{}/builder-prefix", emulator.url()));
    options.library_url = Some(emulator.url().to_owned());
    let connection = ok(connect(&options).await, "connect");
    assert_eq!(
        connection.endpoints.builder.as_str(),
        format!("{}/builder-prefix/", emulator.url())
    );
    assert_eq!(connection.endpoints.token, None);
    assert!(!connection.token_verified);
    let counters = emulator.counters();
    assert_eq!(
        counters.requests_to("GET /assets/config/config.prod.json"),
        0
    );
    assert_eq!(counters.requests_to("GET /v1/token-status"), 0);
    assert_eq!(counters.requests_to("GET /version"), 1);
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn one_override_replaces_one_discovered_service() {
    let emulator = start(EmulatorConfig::default()).await;
    let old_library = start(EmulatorConfig::default().v1_only()).await;
    let (mut options, _) = options(&emulator);
    options.library_url = Some(old_library.url().to_owned());
    let connection = ok(connect(&options).await, "connect");
    assert_eq!(
        connection.endpoints.builder.as_str(),
        format!("{}/", emulator.url())
    );
    assert_eq!(
        connection.endpoints.library.as_str(),
        format!("{}/", old_library.url())
    );
    assert_eq!(connection.library_api_version, None);
    assert_eq!(connection.library.tag_api(), TagApi::V1);
    assert_eq!(
        emulator
            .counters()
            .requests_to("GET /assets/config/config.prod.json"),
        1
    );
    drop(connection);
    emulator.shutdown().await;
    old_library.shutdown().await;
}

#[tokio::test]
async fn plain_http_is_refused_for_other_hosts_unless_allowed() {
    let emulator = start(EmulatorConfig::default()).await;
    let (mut options, _) = options(&emulator);
    options.builder_url = Some("http://build.example.com".to_owned());
    let error = err(connect(&options).await);
    assert_eq!(
        error.to_string(),
        "refusing plain http for the build service `http://build.example.com/`: only \
         loopback addresses may use http"
    );
    // With the flag the URL is accepted; both overrides given, nothing is contacted but
    // the library, which is the emulator.
    options.allow_insecure = true;
    options.library_url = Some(emulator.url().to_owned());
    let connection = ok(connect(&options).await, "connect");
    assert_eq!(
        connection.endpoints.builder.as_str(),
        "http://build.example.com/"
    );
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_refused_token_says_where_to_get_a_new_one() {
    let emulator = start(EmulatorConfig::default()).await;
    let (mut options, _) = options(&emulator);
    let wrong = "not-the-emulator-token-7c1d";
    options.token = token(wrong);
    let error = err(connect(&options).await);
    let text = error.to_string();
    assert_eq!(
        text,
        format!(
            "the token was refused by {}/ (401 Unauthorized): generate a new one at {}/auth/tokens",
            emulator.url(),
            emulator.url()
        )
    );
    assert!(!text.contains(wrong) && !format!("{error:?}").contains(wrong));
    assert!(matches!(error, ConnectError::TokenRefused { .. }));
    emulator.shutdown().await;
}

#[tokio::test]
async fn without_discovery_a_bad_token_shows_on_the_first_call() {
    let emulator = start(EmulatorConfig::default()).await;
    let (mut options, _) = options(&emulator);
    options.builder_url = Some(emulator.url().to_owned());
    options.library_url = Some(emulator.url().to_owned());
    options.token = token("also-wrong-4b2a");
    let connection = ok(connect(&options).await, "connect");
    let error = err(connection.build.submit(&request(QUICK, None)).await);
    assert_eq!(error.kind, ServiceErrorKind::Auth);
    assert!(error.detail.starts_with("401 Unauthorized"), "{error}");
    assert!(!error.to_string().contains("also-wrong-4b2a"));
    assert_eq!(emulator.counters().builds_submitted, 0);
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn discovery_failures_name_the_remote() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator
        .faults()
        .add(status_fault("GET assets/config/config.prod.json", 1, 404));
    let (options, log) = options(&emulator);
    let error = err(connect(&options).await);
    assert_eq!(
        error.to_string(),
        format!("cannot find the services of {}/", emulator.url())
    );
    let source = match &error {
        ConnectError::Discovery { source, .. } => source,
        other => panic!("expected a discovery error, got {other:?}"),
    };
    assert_eq!(
        source.detail,
        "404 Not Found: injected fault: 404 Not Found"
    );
    assert!(log.delays().is_empty(), "a 404 is not retried");
    emulator.shutdown().await;
}
