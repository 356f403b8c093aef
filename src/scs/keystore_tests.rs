//! The keystore client against the in-process emulator: discovery of `keystoreAPI`, push,
//! fetch by fingerprint, the parsed key for `verify --keystore`, and retries. Retries wait
//! through a recording pause, so nothing here sleeps.

use scs_emulator::{Emulator, EmulatorConfig, FaultAction, FaultRule, RunningEmulator};

use super::{
    ConnectError, ConnectOptions, FetchKeyError, KeystoreClient, Pause, PauseLog, RetryPolicy,
    ServiceErrorKind, Token, connect_keystore,
};

#[path = "../../emulator/tests/it/test_keys.rs"]
pub(crate) mod test_keys;

const TOKEN: &str = "keystore-test-token-91c2";

async fn start(config: EmulatorConfig) -> RunningEmulator {
    match Emulator::start(config.with_token(TOKEN)).await {
        Ok(emulator) => emulator,
        Err(error) => panic!("cannot start the emulator: {error}"),
    }
}

fn options(emulator: &RunningEmulator, token: &str) -> (ConnectOptions, PauseLog) {
    let (pause, log) = Pause::recording();
    let mut options = ConnectOptions::new(Token::new(token).expect("a token"));
    options.remote = emulator.url().to_owned();
    options.retry = RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    }
    .with_pause(pause);
    (options, log)
}

async fn keystore(emulator: &RunningEmulator) -> (KeystoreClient, PauseLog) {
    let (options, log) = options(emulator, TOKEN);
    match connect_keystore(&options, None).await {
        Ok(client) => (client, log),
        Err(error) => panic!("cannot find the keystore: {error}"),
    }
}

#[tokio::test]
async fn a_pushed_key_is_fetched_by_fingerprint_and_parsed() {
    let emulator = start(EmulatorConfig::default()).await;
    let (client, _) = keystore(&emulator).await;
    assert_eq!(client.url().as_str(), format!("{}/", emulator.url()));
    let key = test_keys::generate("Fetch Me <fetch@example.org>", None);
    client.push(&key.public).await.expect("pushed");

    let text = client
        .fetch(&key.fingerprint.to_lowercase())
        .await
        .expect("fetched")
        .expect("the key is there");
    assert!(text.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{text}");
    let public = client
        .fetch_public_key(&key.fingerprint)
        .await
        .expect("fetched")
        .expect("the key is there");
    assert_eq!(public.fingerprint(), key.fingerprint);

    let unknown = "AB".repeat(20);
    assert!(client.fetch(&unknown).await.expect("asked").is_none());
    assert!(
        client
            .fetch_public_key(&unknown)
            .await
            .expect("asked")
            .is_none()
    );
    let requests = emulator.counters();
    assert_eq!(requests.requests_to("POST /pks/add"), 1);
    assert_eq!(requests.requests_to("GET /pks/lookup"), 4);
    emulator.shutdown().await;
}

#[tokio::test]
async fn transient_faults_are_retried_and_refusals_are_not() {
    let emulator = start(EmulatorConfig::default()).await;
    let (client, log) = keystore(&emulator).await;
    let key = test_keys::generate("Retry <retry@example.org>", None);
    let faults = emulator.faults();
    faults.add(FaultRule::new(
        "POST pks/add",
        Some(2),
        FaultAction::Status {
            status: 503,
            message: None,
        },
    ));
    client
        .push(&key.public)
        .await
        .expect("pushed after retries");
    assert_eq!(log.delays().len(), 2, "{:?}", log.delays());
    assert_eq!(emulator.keys().len(), 1);

    faults.add(FaultRule::new(
        "GET pks/lookup",
        Some(4),
        FaultAction::Status {
            status: 502,
            message: None,
        },
    ));
    let error = client
        .fetch(&key.fingerprint)
        .await
        .expect_err("four 502s outlast the retries");
    assert_eq!(
        error.kind,
        ServiceErrorKind::Status {
            code: 502,
            message: "injected fault: 502 Bad Gateway".to_owned()
        }
    );
    assert!(super::keystore_unavailable(&error));

    let (options, _) = options(&emulator, "not-the-token");
    let stranger = connect_keystore(&options, None).await.expect("discovered");
    let error = stranger.push(&key.public).await.expect_err("refused token");
    assert_eq!(error.kind, ServiceErrorKind::Auth);
    assert!(!super::keystore_unavailable(&error));
    let error = stranger
        .fetch_public_key(&key.fingerprint)
        .await
        .expect_err("refused token");
    assert!(matches!(error, FetchKeyError::Service(_)), "{error}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_remote_without_a_keystore_says_so_and_an_override_needs_no_discovery() {
    let emulator = start(EmulatorConfig::default().without_keystore()).await;
    let (options, _) = options(&emulator, TOKEN);
    let error = connect_keystore(&options, None)
        .await
        .expect_err("no keystoreAPI");
    assert!(matches!(error, ConnectError::NoKeystore { .. }), "{error}");
    assert!(error.help().contains("--keystore-url"));

    let keystore_host = start(EmulatorConfig::default()).await;
    let mut options = options;
    options.remote = "https://frontend.invalid".to_owned();
    let client = connect_keystore(&options, Some(keystore_host.url()))
        .await
        .expect("no discovery needed");
    let key = test_keys::generate("Override <override@example.org>", None);
    client.push(&key.public).await.expect("pushed");
    assert_eq!(keystore_host.keys()[0].fingerprint, key.fingerprint);

    let error = connect_keystore(&options, Some("http://keys.example.com"))
        .await
        .expect_err("plain http to another host");
    assert!(matches!(error, ConnectError::Insecure { .. }), "{error}");
    emulator.shutdown().await;
    keystore_host.shutdown().await;
}
