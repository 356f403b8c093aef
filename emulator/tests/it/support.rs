//! Helpers shared by the integration tests: a started emulator, an authenticated HTTP
//! client, build submission and log following, and the external-tool gate.

use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use reqwest::{Method, Response, StatusCode};
use scs_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The token every test emulator accepts.
pub const TOKEN: &str = "test-token";

/// Starts an emulator that accepts [`TOKEN`].
pub async fn start() -> RunningEmulator {
    start_with(EmulatorConfig::default()).await
}

/// Starts an emulator with `config` plus [`TOKEN`].
pub async fn start_with(config: EmulatorConfig) -> RunningEmulator {
    Emulator::start(config.with_token(TOKEN)).await.unwrap()
}

/// Returns a plain reqwest client.
///
/// `cargo test --workspace` unifies reqwest's features with sifbake's, which selects rustls
/// without a crypto provider (`rustls-no-provider`); reqwest then panics building a client
/// unless one is installed. Installing ring first works with and without that feature.
pub fn http_client() -> reqwest::Client {
    // An error means a provider is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// An HTTP client bound to one emulator.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(emulator: &RunningEmulator) -> Self {
        Self {
            http: http_client(),
            base: emulator.url().to_owned(),
            token: Some(TOKEN.to_owned()),
        }
    }

    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let builder = self.http.request(method, url);
        match &self.token {
            Some(token) => builder.header("Authorization", format!("Bearer {token}")),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    /// Sends a JSON body WITHOUT a Content-Type header, as the Go library client does.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }
}

/// Reads an enveloped reply, asserting its status; returns `data`.
pub async fn data(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(actual, status, "body: {body}");
    assert!(body.get("error").is_none(), "{body}");
    body["data"].clone()
}

/// Reads an enveloped error, asserting its status and that `error.code` matches; returns
/// the message.
pub async fn error(response: Response, status: StatusCode) -> String {
    let actual = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(actual, status, "body: {body}");
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(body["error"]["code"], json!(status.as_u16()), "{body}");
    assert!(body.get("data").is_none(), "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// Submits a build and returns its `BuildInfo`.
pub async fn submit(client: &Client, definition: &str, library_ref: &str, arch: &str) -> Value {
    submit_with(client, definition, library_ref, arch, None, None).await
}

/// Submits a build with a context digest and working directory.
pub async fn submit_with(
    client: &Client,
    definition: &str,
    library_ref: &str,
    arch: &str,
    context_digest: Option<&str>,
    working_dir: Option<&str>,
) -> Value {
    let mut body = json!({
        "definitionRaw": base64::engine::general_purpose::STANDARD.encode(definition),
        "libraryRef": library_ref,
        "libraryURL": client.base,
        "builderRequirements": {"arch": arch},
    });
    if let Some(digest) = context_digest {
        body["contextDigest"] = json!(digest);
    }
    if let Some(dir) = working_dir {
        body["workingDir"] = json!(dir);
    }
    let response = client
        .request(Method::POST, "/v1/build")
        .header(
            "Authorization",
            format!("BEARER {}", client.token.as_deref().unwrap_or("")),
        )
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let info = data(response, StatusCode::CREATED).await;
    assert_eq!(info["isComplete"], json!(false));
    info
}

/// How a log stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// A close frame with this code.
    Closed(u16),
    /// The connection ended without a close frame.
    Dropped,
}

/// Follows a build's log over the websocket to its end.
pub async fn follow(base: &str, build_id: &str) -> (String, StreamEnd) {
    let url = format!("{}/v1/build-ws/{build_id}", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("BEARER {TOKEN}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut log = String::new();
    let end = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => log.push_str(text.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    // Keep reading so tungstenite sends its close reply, as a real client does.
                    while socket.next().await.is_some() {}
                    return StreamEnd::Closed(frame.map_or(1005, |f| u16::from(f.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return StreamEnd::Dropped,
            }
        }
    })
    .await
    .expect("log stream did not end within 60 s");
    (log, end)
}

/// Follows a build to its end and returns (log, final BuildInfo).
pub async fn finish(client: &Client, build_id: &str) -> (String, Value) {
    let (log, end) = follow(&client.base, build_id).await;
    assert_eq!(end, StreamEnd::Closed(1000), "log: {log}");
    let info = data(
        client.get(&format!("/v1/build/{build_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        info["isComplete"],
        json!(true),
        "status must be final when the stream closes"
    );
    (log, info)
}

/// Downloads an image file, asserting 200.
pub async fn download(client: &Client, path_and_tag: &str, arch: &str) -> Vec<u8> {
    let response = client
        .get(&format!("/v1/imagefile/{path_and_tag}?arch={arch}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = response.bytes().await.unwrap().to_vec();
    assert_eq!(bytes.len(), length);
    bytes
}

/// Returns `sha256.<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!(
        "sha256.{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Returns true if an external tool may be used; false (with a note) if it is missing and
/// not required. Fails the test if `SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1` and it is missing.
pub fn external_tool_available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    let required = std::env::var("SIFBAKE_REQUIRE_EXTERNAL_TOOLS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{what} is required (SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1) but missing"
    );
    eprintln!(
        "note: {what} is not installed; skipping this check (set SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1 to make this a failure)"
    );
    false
}

/// Returns true if `program` runs.
pub fn on_path(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}
