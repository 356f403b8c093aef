//! The bearer-token flow end to end: `docker-registry` configured for token authentication
//! trusts a token service double on 127.0.0.1, which signs JSON Web Tokens (ES256, its
//! certificate in `x5c`) as the distribution spec's token service does, but only for the
//! test user's Basic credentials. The registry verifies every token's signature, issuer,
//! audience and access claim, so a push that works proves the client asked for the right
//! scope and sent the token as the spec says.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls::SignatureScheme;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sifbake::oci::{Registry, RepositoryRef, SifArtifact};
use sifbake::scs::ServiceErrorKind;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::registry::{Auth, PASSWORD, TestRegistry, USER, have_tool};
use super::{client, sif_file};

const SERVICE: &str = "sifbake-test-registry";
const ISSUER: &str = "sifbake-token-service-double";

/// A token service double: signs tokens for [`USER`]/[`PASSWORD`], refuses anyone else.
pub struct TokenServiceDouble {
    pub server: MockServer,
    pub certificate: PathBuf,
    _dir: tempfile::TempDir,
}

struct Signer {
    key: std::sync::Arc<dyn rustls::sign::SigningKey>,
    certificate_der: Vec<u8>,
    issued: AtomicU64,
}

fn pem_body(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).expect("read PEM");
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).expect("PEM base64")
}

/// An ECDSA signature as DER `SEQUENCE { r, s }` → JWS's fixed 64 bytes `r || s`.
fn der_to_jws(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut at = 2; // SEQUENCE tag and (short) length
    for _ in 0..2 {
        assert_eq!(der[at], 0x02, "INTEGER");
        let len = der[at + 1] as usize;
        let mut value = &der[at + 2..at + 2 + len];
        while value.len() > 32 && value[0] == 0 {
            value = &value[1..];
        }
        out.extend(std::iter::repeat_n(0u8, 32 - value.len()));
        out.extend_from_slice(value);
        at += 2 + len;
    }
    out
}

impl Respond for Signer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let expected = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            == Some(expected.as_str());
        if !authorized {
            return ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"details": "incorrect username or password"}));
        }
        let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        let get = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if get("service").as_deref() != Some(SERVICE) {
            return ResponseTemplate::new(400);
        }
        let access: Vec<serde_json::Value> = get("scope")
            .and_then(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(vec![serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                })])
            })
            .unwrap_or_default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.certificate_der)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": USER,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("jti-{}", self.issued.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signer = self
            .key
            .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
            .expect("a P-256 key");
        let der = signer.sign(signing_input.as_bytes()).expect("sign");
        let token = format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(der_to_jws(&der))
        );
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"token": token}))
    }
}

impl TokenServiceDouble {
    /// Starts the double, or `None` when `openssl` (to make its key) is not installed.
    pub async fn start() -> Option<TokenServiceDouble> {
        if !have_tool("openssl", "openssl") {
            return None;
        }
        let dir = tempfile::tempdir().expect("key directory");
        let key = dir.path().join("key.pem");
        let certificate = dir.path().join("cert.pem");
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=sifbake-token-service-double",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&certificate)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl could not make the double's key");
        sifbake::scs::install_crypto_provider();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pem_body(&key)));
        let key = rustls::crypto::ring::sign::any_ecdsa_type(&der).expect("an ECDSA key");
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::path("/token"))
            .respond_with(Signer {
                key,
                certificate_der: pem_body(&certificate),
                issued: AtomicU64::new(0),
            })
            .mount(&server)
            .await;
        Some(TokenServiceDouble {
            server,
            certificate,
            _dir: dir,
        })
    }

    pub fn auth(&self) -> Auth {
        Auth::Token {
            realm: format!("{}/token", self.server.uri()),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            certificate: self.certificate.clone(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_accepts_the_tokens_the_client_asks_for() {
    let Some(tokens) = TokenServiceDouble::start().await else {
        return;
    };
    let Some(registry) = TestRegistry::start(tokens.auth()) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let sif = sif_file(work.path(), "app.sif", 200_000);
    let repo = RepositoryRef::parse(&registry.oras_ref("acme/app")).unwrap();
    let client = client(&[
        ("SIFBAKE_REGISTRY_USERNAME", USER),
        ("SIFBAKE_REGISTRY_PASSWORD", PASSWORD),
    ]);
    let pushed = client
        .push_sif(&repo, &SifArtifact::new(&sif), &["v1".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        client.resolve_tag(&repo, "v1").await.unwrap(),
        Some(pushed.manifest_digest)
    );

    let wrong = client_with_wrong_password();
    let error = wrong
        .push_sif(&repo, &SifArtifact::new(&sif), &["v2".to_owned()])
        .await
        .unwrap_err();
    assert_eq!(error.kind, ServiceErrorKind::Auth, "{error}");
    assert!(
        error.detail.contains("the token service of 127.0.0.1:"),
        "{error}"
    );
}

fn client_with_wrong_password() -> sifbake::oci::RegistryClient {
    client(&[
        ("SIFBAKE_REGISTRY_USERNAME", USER),
        ("SIFBAKE_REGISTRY_PASSWORD", "not-the-password"),
    ])
}
