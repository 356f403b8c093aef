//! The HKP keystore: over HTTP, and judged by Sylabs' own key client
//! (conformance/cmd/keyclient, scs-key-client v0.7.7) as `singularity key push`, `key pull`,
//! `key search` and `verify` use it.

use std::path::Path;

use reqwest::StatusCode;
use scs_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;
use tokio::process::Command;

use crate::go_tools::go_tool;
use crate::support::{Client, TOKEN, data, error, start, start_with};
use crate::test_keys::{TestKey, generate};

/// `POST /pks/add` as the key client sends it.
async fn push(client: &Client, keytext: &str) -> reqwest::Response {
    let body = serde_urlencoded::to_string([("keytext", keytext)]).unwrap();
    client
        .request(reqwest::Method::POST, "/pks/add")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn lookup(client: &Client, query: &str) -> reqwest::Response {
    client.get(&format!("/pks/lookup?{query}")).await
}

#[tokio::test]
async fn keys_are_added_and_found_by_fingerprint_key_id_and_user_id() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let key = generate("Alice Example <alice@example.org>", None);
    let added = data(push(&client, &key.public).await, StatusCode::OK).await;
    assert_eq!(added["fingerprints"][0], key.fingerprint.as_str());

    for search in [
        format!("0x{}", key.fingerprint),
        format!("0x{}", key.fingerprint.to_lowercase()),
        format!("0x{}", &key.fingerprint[24..]),
        format!("0x{}", &key.fingerprint[32..]),
        format!("0x{}", key.subkey_id),
    ] {
        let response = lookup(&client, &format!("op=get&search={search}&exact=on")).await;
        assert_eq!(response.status(), StatusCode::OK, "{search}");
        assert_eq!(
            response.headers()["content-type"],
            "application/pgp-keys",
            "{search}"
        );
        let text = response.text().await.unwrap();
        let found = sifbake_sif::keys::PublicKey::from_armored(&text).unwrap();
        assert_eq!(found.fingerprint(), key.fingerprint, "{search}");
        assert!(!text.contains("PRIVATE"), "{text}");
    }

    let index = lookup(
        &client,
        "op=index&search=alice%40example&options=mr&fingerprint=on",
    )
    .await;
    assert_eq!(index.status(), StatusCode::OK);
    let index = index.text().await.unwrap();
    assert!(index.starts_with("info:1:1\n"), "{index}");
    assert!(
        index.contains(&format!("pub:{}:22:255:", key.fingerprint)),
        "{index}"
    );
    assert!(
        index.contains("uid:Alice Example <alice@example.org>:"),
        "{index}"
    );

    let missing = format!("op=get&search=0x{}", "AB".repeat(20));
    assert_eq!(
        error(lookup(&client, &missing).await, StatusCode::NOT_FOUND).await,
        "no keys found"
    );
    assert_eq!(emulator.keys().len(), 1);
    assert_eq!(emulator.keys()[0].fingerprint, key.fingerprint);
    let listed = data(client.get("/_emulator/keys").await, StatusCode::OK).await;
    assert_eq!(listed[0]["fingerprint"], key.fingerprint.as_str());
    emulator.shutdown().await;
}

#[tokio::test]
async fn bad_uploads_and_lookups_are_refused_with_the_reason() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let key = generate("Bob <bob@example.org>", Some("pw"));

    let message = error(push(&client, &key.secret).await, StatusCode::BAD_REQUEST).await;
    assert!(
        message.contains("private key") && message.contains(&key.fingerprint),
        "{message}"
    );
    let message = error(push(&client, "hello").await, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("not an armored OpenPGP key"), "{message}");
    let empty = client
        .request(reqwest::Method::POST, "/pks/add")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("other=1")
        .send()
        .await
        .unwrap();
    assert!(
        error(empty, StatusCode::BAD_REQUEST)
            .await
            .contains("no `keytext`")
    );
    let json = client
        .request(reqwest::Method::POST, "/pks/add")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    error(json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    error(
        lookup(&client, "op=get&search=0xnothex").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        lookup(&client, "op=stats&search=x").await,
        StatusCode::NOT_IMPLEMENTED,
    )
    .await;
    error(lookup(&client, "search=x").await, StatusCode::BAD_REQUEST).await;

    let anonymous = Client::new(&emulator).with_token(None);
    error(
        push(&anonymous, &key.public).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let stranger = Client::new(&emulator).with_token(Some("not-the-token"));
    error(
        lookup(&stranger, &format!("op=get&search=0x{}", key.fingerprint)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(emulator.keys().is_empty());
    emulator.shutdown().await;
}

#[tokio::test]
async fn keys_persist_across_restarts_and_a_keystore_can_be_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate("Carol <carol@example.org>", None);
    let first = start_with(EmulatorConfig::default().with_data_dir(dir.path())).await;
    data(
        push(&Client::new(&first), &key.public).await,
        StatusCode::OK,
    )
    .await;
    first.shutdown().await;
    let second = start_with(EmulatorConfig::default().with_data_dir(dir.path())).await;
    let response = lookup(
        &Client::new(&second),
        &format!("op=get&search=0x{}", key.fingerprint),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    second.shutdown().await;

    let without = start_with(EmulatorConfig::default().without_keystore()).await;
    let client = Client::new(&without);
    let discovery: Value = client
        .get("/assets/config/config.prod.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(discovery.get("keystoreAPI").is_none(), "{discovery}");
    assert!(discovery.get("libraryAPI").is_some(), "{discovery}");
    error(push(&client, &key.public).await, StatusCode::NOT_FOUND).await;
    without.shutdown().await;
}

/// Runs the key client; returns whether it succeeded, stdout and stderr.
async fn keyclient(
    driver: &Path,
    url: &str,
    token: Option<&str>,
    args: &[&str],
) -> (bool, String, String) {
    let mut command = Command::new(driver);
    command.args(["-url", url]);
    if let Some(token) = token {
        command
            .args(["-token-env", "KEYCLIENT_TOKEN"])
            .env("KEYCLIENT_TOKEN", token);
    }
    let output = command
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The client refuses a token over plain HTTP unless the host is literally `localhost`.
fn localhost_url(emulator: &RunningEmulator) -> String {
    format!("http://localhost:{}", emulator.local_addr().port())
}

fn write_key(dir: &Path, key: &TestKey) -> String {
    let path = dir.join(format!("{}.asc", key.fingerprint));
    std::fs::write(&path, &key.public).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn scs_key_client_pushes_pulls_and_searches() {
    let Some(driver) = go_tool("keyclient", "./cmd/keyclient") else {
        return;
    };
    let emulator = start().await;
    let url = localhost_url(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let key = generate("Dana Builder <dana@example.org>", None);
    let file = write_key(dir.path(), &key);

    let (ok, stdout, stderr) = keyclient(&driver, &url, Some(TOKEN), &["push", &file]).await;
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(emulator.keys()[0].fingerprint, key.fingerprint);

    // `key pull` and `verify` by fingerprint, and by the 64-bit key ID verify derives from a
    // signature, printed with `%#x` (no leading zeros).
    let long_id = format!(
        "{:#x}",
        u64::from_str_radix(&key.fingerprint[24..], 16).unwrap()
    );
    for (op, search) in [
        ("get", key.fingerprint.as_str()),
        ("get", &key.fingerprint[24..]),
        ("lookup", long_id.as_str()),
        ("lookup", &format!("0x{}", key.subkey_id)),
    ] {
        let (ok, stdout, stderr) = keyclient(&driver, &url, Some(TOKEN), &[op, search]).await;
        assert!(ok, "{op} {search}: {stderr}");
        let found = sifbake_sif::keys::PublicKey::from_armored(&stdout).unwrap();
        assert_eq!(found.fingerprint(), key.fingerprint, "{op} {search}");
    }

    let (ok, stdout, stderr) = keyclient(&driver, &url, Some(TOKEN), &["index", "dana"]).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("pub:{}:", key.fingerprint)),
        "{stdout}"
    );

    let (ok, _, stderr) = keyclient(&driver, &url, Some(TOKEN), &["get", &"AB".repeat(20)]).await;
    assert!(!ok && stderr.contains("status: 404"), "{stderr}");
    assert!(stderr.contains("no keys found"), "{stderr}");
    let (ok, _, stderr) = keyclient(&driver, &url, Some("wrong"), &["push", &file]).await;
    assert!(!ok && stderr.contains("status: 401"), "{stderr}");
    let (ok, _, stderr) = keyclient(&driver, &url, None, &["get", &key.fingerprint]).await;
    assert!(!ok && stderr.contains("status: 401"), "{stderr}");
    emulator.shutdown().await;
}
