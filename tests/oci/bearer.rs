//! The distribution spec's bearer-token flow and the fault handling, against test doubles
//! on 127.0.0.1 (wiremock): a token service double that hands a token only for the right
//! Basic credentials and scope, and a registry double that answers as the spec says, with
//! 5xx, 429 and an upload that breaks injected.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sifbake::oci::{
    ClientOptions, CredentialSources, Registry, RegistryClient, RepositoryRef, SifArtifact,
};
use sifbake::scs::{Pause, PauseLog, RetryPolicy, ServiceErrorKind};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::sif_file;

const TOKEN: &str = "token-canary-Jm3Xw8Qp5Ry2";

fn client_with_log(user: &str, password: &str) -> (RegistryClient, PauseLog) {
    let (user, password) = (user.to_owned(), password.to_owned());
    let sources = CredentialSources::from_env(Arc::new(move |name| match name {
        "SIFBAKE_REGISTRY_USERNAME" => Some(user.clone()),
        "SIFBAKE_REGISTRY_PASSWORD" => Some(password.clone()),
        _ => None,
    }));
    let (pause, log) = Pause::recording();
    let options = ClientOptions {
        retry: RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        }
        .with_pause(pause),
        ..ClientOptions::default()
    };
    (RegistryClient::new(options, sources).unwrap(), log)
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn repo(server: &MockServer) -> RepositoryRef {
    let port = server.address().port();
    RepositoryRef::parse(&format!("oras://127.0.0.1:{port}/acme/app")).unwrap()
}

/// The registry double's challenge for an unauthenticated request.
async fn challenge(server: &MockServer) {
    let realm = format!("{}/token", server.uri());
    Mock::given(method("HEAD"))
        .and(path("/v2/acme/app/manifests/v1"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!(r#"Bearer realm="{realm}",service="registry-double",scope="repository:acme/app:pull""#),
        ))
        .with_priority(10)
        .mount(server)
        .await;
}

#[tokio::test]
async fn bearer_challenge_token_then_request() {
    let server = MockServer::start().await;
    challenge(&server).await;
    // The token service double: a token only for the right Basic credentials and scope.
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(query_param("service", "registry-double"))
        .and(query_param("scope", "repository:acme/app:pull"))
        .and(header("authorization", basic("bot", "pw-1").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"token": TOKEN})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .and(path("/v2/acme/app/manifests/v1"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).insert_header("Docker-Content-Digest", "sha256:feed"),
        )
        .expect(2)
        .mount(&server)
        .await;
    let (client, _) = client_with_log("bot", "pw-1");
    let repo = repo(&server);
    assert_eq!(
        client.resolve_tag(&repo, "v1").await.unwrap(),
        Some("sha256:feed".to_owned())
    );
    // The token is kept: the second lookup asks the token service nothing.
    assert_eq!(
        client.resolve_tag(&repo, "v1").await.unwrap(),
        Some("sha256:feed".to_owned())
    );
}

#[tokio::test]
async fn a_refusing_token_service_is_an_auth_error() {
    let server = MockServer::start().await;
    challenge(&server).await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string(format!("bad password pw-wrong-canary-77 {TOKEN}")),
        )
        .mount(&server)
        .await;
    let (client, log) = client_with_log("bot", "pw-wrong-canary-77");
    let error = client.resolve_tag(&repo(&server), "v1").await.unwrap_err();
    assert_eq!(error.kind, ServiceErrorKind::Auth);
    assert!(
        error.detail.contains("the token service of 127.0.0.1:"),
        "{error}"
    );
    assert!(
        !format!("{error:?}").contains("pw-wrong-canary-77"),
        "{error:?}"
    );
    assert!(log.delays().is_empty(), "an auth error is not retried");
}

#[tokio::test]
async fn faults_are_retried_and_a_broken_upload_restarts() {
    let server = MockServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let sif = sif_file(work.path(), "app.sif", 300_000);
    // Blob checks: two 503s, then "not there".
    Mock::given(method("HEAD"))
        .and(path(format!(
            "/v2/acme/app/blobs/{}",
            sifbake::oci::file_digest(&sif).await.unwrap().0
        )))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(5)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/acme/app/blobs/uploads/"))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("Location", "/v2/acme/app/blobs/uploads/session-1?_state=x"),
        )
        .expect(3)
        .mount(&server)
        .await;
    // The SIF's upload fails once after its body was sent: the upload starts over.
    Mock::given(method("PUT"))
        .and(path("/v2/acme/app/blobs/uploads/session-1"))
        .and(|request: &wiremock::Request| request.body.len() > 2)
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v2/acme/app/blobs/uploads/session-1"))
        .respond_with(ResponseTemplate::new(201))
        .with_priority(5)
        .mount(&server)
        .await;
    // The first tag: slowed down once with Retry-After.
    Mock::given(method("PUT"))
        .and(path("/v2/acme/app/manifests/v1"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v2/acme/app/manifests/v1"))
        .respond_with(ResponseTemplate::new(201))
        .with_priority(5)
        .mount(&server)
        .await;
    let (client, log) = client_with_log("bot", "pw");
    let pushed = client
        .push_sif(&repo(&server), &SifArtifact::new(&sif), &["v1".to_owned()])
        .await
        .unwrap();
    assert!(pushed.uploaded);
    let delays = log.delays();
    assert_eq!(delays.len(), 4, "{delays:?}");
    assert_eq!(
        delays[3],
        Duration::from_secs(7),
        "Retry-After is honoured: {delays:?}"
    );
    let requests = server.received_requests().await.unwrap();
    let sif_puts = requests
        .iter()
        .filter(|r| r.method.as_str() == "PUT" && r.body.len() == 300_000)
        .count();
    assert_eq!(sif_puts, 2, "the broken upload was sent again whole");
}

/// The secrets canary for registry credentials: a registry that echoes the request's
/// `Authorization` header and the password in its error bodies, on every path that makes an
/// error (basic auth, token, a 5xx after retries), never gets them into the error's text.
#[tokio::test]
async fn registry_credentials_never_show_in_errors() {
    const CANARY: &str = "regpw-canary-Vx7Lq2Mz9Kd4";
    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    let echo = |request: &wiremock::Request| {
        let header = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        serde_json::json!({"errors": [{"code": "DENIED", "message": format!("got {header} and {CANARY}")}]})
    };
    // Manifests read by digest (a retag): a Basic challenge, then a 500 echoing the request.
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/manifests/basic"))
        .and(|request: &wiremock::Request| !request.headers.contains_key("authorization"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", r#"Basic realm="r""#),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/app/manifests/basic"))
        .respond_with(move |request: &wiremock::Request| {
            ResponseTemplate::new(500).set_body_json(echo(request))
        })
        .with_priority(5)
        .mount(&server)
        .await;
    // Under a bearer challenge: the token is granted, then echoed back in a 400.
    Mock::given(method("GET"))
        .and(path("/v2/acme/other/manifests/bearer"))
        .and(|request: &wiremock::Request| !request.headers.contains_key("authorization"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!(r#"Bearer realm="{realm}",service="s""#),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": TOKEN})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/acme/other/manifests/bearer"))
        .respond_with(move |request: &wiremock::Request| {
            ResponseTemplate::new(400).set_body_json(echo(request))
        })
        .with_priority(5)
        .mount(&server)
        .await;
    let (client, _) = client_with_log("bot", CANARY);
    let basic_value = base64::engine::general_purpose::STANDARD.encode(format!("bot:{CANARY}"));
    let mut texts = Vec::new();
    let other = RepositoryRef::parse(&format!(
        "oras://127.0.0.1:{}/acme/other",
        server.address().port()
    ))
    .unwrap();
    for (repo, tag) in [(repo(&server), "basic"), (other, "bearer")] {
        let error = client
            .tag_manifest(&repo, tag, &["copy".to_owned()])
            .await
            .unwrap_err();
        texts.push(format!("{error} | {error:?}"));
    }
    for text in &texts {
        for secret in [
            CANARY,
            &CANARY[6..18],
            TOKEN,
            &TOKEN[6..18],
            basic_value.as_str(),
        ] {
            assert!(!text.contains(secret), "`{secret}` leaked: {text}");
        }
    }
    assert!(
        texts[0].contains("500 Internal Server Error"),
        "{}",
        texts[0]
    );
    assert!(texts[1].contains("DENIED: got Bearer ***"), "{}", texts[1]);
}
