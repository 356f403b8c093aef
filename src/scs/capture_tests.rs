//! The exact bytes the clients send, captured by a one-shot HTTP listener on 127.0.0.1.
//!
//! The emulator is lenient by design (any scheme case, any content type, chunked bodies),
//! so it cannot tell `BEARER` from `Bearer`, see a stray `Authorization` on a presigned
//! upload, or notice a chunked body; these tests read the request itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use reqwest::Url;

use super::build_client::BuildClient;
use super::endpoints::TagApi;
use super::http::{Transport, http_clients};
use super::library_client::LibraryClient;
use super::{BuildRequest, BuildService, ContextArchive, Image, Library, RetryPolicy, Token};
use crate::libref::LibraryRef;

const TOKEN: &str = "capture-token-91ab";

/// One request as received: the request line, lower-cased header names, and the body.
#[derive(Debug)]
struct Captured {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("body: {error}"))
    }
}

/// Listens on 127.0.0.1 for one request and answers it with `status` and `body`.
fn serve_once(status: &str, body: &str) -> (Url, JoinHandle<Captured>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("address: {e}"));
    let url = Url::parse(&format!("http://{address}/")).unwrap_or_else(|e| panic!("{e}"));
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap_or_else(|e| panic!("accept: {e}"));
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader
            .read_line(&mut request_line)
            .unwrap_or_else(|e| panic!("read: {e}"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("read: {e}"));
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader
            .read_exact(&mut body)
            .unwrap_or_else(|e| panic!("read body: {e}"));
        reader
            .get_mut()
            .write_all(response.as_bytes())
            .unwrap_or_else(|e| panic!("write: {e}"));
        Captured {
            request_line: request_line.trim_end().to_owned(),
            headers,
            body,
        }
    });
    (url, handle)
}

fn transport() -> Arc<Transport> {
    let (client, websocket_client) =
        http_clients("sifbake/test", true).unwrap_or_else(|e| panic!("clients: {e}"));
    Arc::new(Transport {
        client,
        websocket_client,
        token: Token::new(TOKEN).unwrap_or_else(|| panic!("token")),
        retry: RetryPolicy::none(),
        request_timeout: super::http::REQUEST_TIMEOUT,
    })
}

fn captured(handle: JoinHandle<Captured>) -> Captured {
    handle
        .join()
        .unwrap_or_else(|_| panic!("the listener failed"))
}

#[tokio::test]
async fn submit_sends_upper_case_bearer_and_json() {
    let (url, handle) = serve_once("201 Created", r#"{"data":{"id":"b1"}}"#);
    let client = BuildClient::new(transport(), url, "https://library.example".into());
    let request = BuildRequest {
        definition: "Bootstrap: docker\nFrom: alpine\n".into(),
        library_ref: None,
        library_url: None,
        arch: "arm64".into(),
        context_digest: None,
        working_dir: None,
    };
    let info = client
        .submit(&request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.id, "b1");
    let request = captured(handle);
    assert_eq!(request.request_line, "POST /v1/build HTTP/1.1");
    assert_eq!(
        request.header("authorization"),
        Some(format!("BEARER {TOKEN}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some("sifbake/test"));
    assert_eq!(
        request.json(),
        serde_json::json!({
            "definitionRaw": "Qm9vdHN0cmFwOiBkb2NrZXIKRnJvbTogYWxwaW5lCg==",
            "libraryRef": "",
            "libraryURL": "https://library.example",
            "builderRequirements": {"arch": "arm64"},
        })
    );
}

#[tokio::test]
async fn the_context_upload_has_no_authorization_and_a_length() {
    // The announce goes to one listener, which points the upload at a second one.
    let (upload_url, upload) = serve_once("200 OK", "");
    let location = format!("{upload_url}_upload/abc?X-Amz-Signature=s");
    let (builder_url, announce) = serve_with_location(&location, r#"{"data":{}}"#);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("context.tar.gz");
    std::fs::write(&path, b"not really gzip").unwrap_or_else(|e| panic!("{e}"));
    let archive = ContextArchive {
        digest: format!("sha256.{}", "0".repeat(64)),
        size: 15,
        path,
    };
    let client = BuildClient::new(transport(), builder_url, String::new());
    client
        .upload_context(&archive)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let announce = captured(announce);
    assert_eq!(announce.request_line, "POST /v1/build-context HTTP/1.1");
    assert_eq!(
        announce.json(),
        serde_json::json!({"size": 15, "digest": archive.digest})
    );
    let upload = captured(upload);
    assert_eq!(
        upload.request_line,
        "PUT /_upload/abc?X-Amz-Signature=s HTTP/1.1"
    );
    assert_eq!(upload.header("authorization"), None);
    assert_eq!(upload.header("content-length"), Some("15"));
    assert_eq!(upload.header("transfer-encoding"), None);
    assert_eq!(
        upload.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(upload.body, b"not really gzip");
}

/// Like [`serve_once`], answering 202 with a `Location` header.
fn serve_with_location(location: &str, body: &str) -> (Url, JoinHandle<Captured>) {
    serve_once(&format!("202 Accepted\r\nlocation: {location}"), body)
}

#[tokio::test]
async fn tags_send_bearer_and_no_content_type() {
    let (url, handle) = serve_once("200 OK", r#"{"data":{}}"#);
    let client = LibraryClient::new(transport(), url, TagApi::V2);
    let image = Image {
        id: "img1".into(),
        hash: String::new(),
        size: 0,
        container_id: "c1".into(),
        arch: None,
        uploaded: true,
        ..Image::default()
    };
    let container = LibraryRef::parse("acme/tools/base").unwrap_or_else(|e| panic!("{e}"));
    client
        .set_tags(&container, &image, "amd64", &["latest".to_owned()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = captured(handle);
    assert_eq!(request.request_line, "POST /v2/tags/c1 HTTP/1.1");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(request.header("content-type"), None);
    assert_eq!(
        request.json(),
        serde_json::json!({"Arch": "amd64", "Tag": "latest", "ImageID": "img1"})
    );
}

#[tokio::test]
async fn a_tag_answered_with_201_is_an_error() {
    let (url, handle) = serve_once("201 Created", r#"{"data":{}}"#);
    let client = LibraryClient::new(transport(), url, TagApi::V1);
    let image = Image {
        id: "img1".into(),
        container_id: "c1".into(),
        ..Image::default()
    };
    let container = LibraryRef::parse("acme/tools/base").unwrap_or_else(|e| panic!("{e}"));
    let error = client
        .set_tags(&container, &image, "amd64", &["latest".to_owned()])
        .await
        .err()
        .unwrap_or_else(|| panic!("201 was accepted"));
    assert_eq!(error.kind, super::ServiceErrorKind::Protocol);
    assert_eq!(captured(handle).request_line, "POST /v1/tags/c1 HTTP/1.1");
}

#[tokio::test]
async fn an_error_that_is_not_an_envelope_falls_back_to_the_status() {
    let (url, handle) = serve_once("502 Bad Gateway", "<html>proxy error</html>");
    let client = BuildClient::new(transport(), url, String::new());
    let error = client
        .status("b1")
        .await
        .err()
        .unwrap_or_else(|| panic!("502 was accepted"));
    assert_eq!(error.detail, "502 Bad Gateway");
    assert!(error.is_transient());
    captured(handle);
}
