//! A library on 127.0.0.1 written for one misbehaviour each: a download target that ignores
//! `Range`, one that serves bytes other than the image's, and one whose connections drop in
//! the middle of every part's first attempt. One request per connection (`Connection:
//! close`), so each test sees exactly the requests made.

use std::sync::{Arc, Mutex, PoisonError};

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::super::http::{REQUEST_TIMEOUT, Transport, http_clients};
use super::super::transfer::TransferSetup;
use super::super::{LibraryClient, RetryPolicy, TagApi};
use super::*;

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Misbehaviour {
    IgnoresRange,
    WrongBytes,
    DropsMidPart,
}

/// The server: what it serves, how, and the `Range` of every blob request it saw.
struct Server {
    url: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(content: Vec<u8>, misbehaviour: Misbehaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ranges);
    let content = Arc::new(content);
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (content, seen) = (Arc::clone(&content), Arc::clone(&seen));
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0_u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let reply = answer(&head, &content, misbehaviour, &seen);
                // The client may hang up on a reply it refuses; nothing to do then.
                let _ = socket.write_all(&reply).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Server { url, ranges, task }
}

fn answer(
    head: &str,
    content: &[u8],
    misbehaviour: Misbehaviour,
    seen: &Mutex<Vec<Option<String>>>,
) -> Vec<u8> {
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let range = head
        .lines()
        .find_map(|line| {
            line.strip_prefix("range: ")
                .or(line.strip_prefix("Range: "))
        })
        .map(str::to_owned);
    let response = |status: &str, headers: &str, body: &[u8]| {
        let mut reply = format!(
            "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(body);
        reply
    };
    if path.starts_with("/v1/images/") {
        let image = serde_json::json!({"data": {
            "id": "img1", "hash": sha256(content), "size": content.len(),
            "container": "c1", "uploaded": true,
        }});
        return response("200 OK", "", image.to_string().as_bytes());
    }
    if path.starts_with("/v1/imagefile/") {
        return response(
            "303 See Other",
            "location: /blob?X-Amz-Signature=s\r\n",
            b"",
        );
    }
    let attempt = {
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.push(range.clone());
        seen.iter().filter(|r| **r == range).count()
    };
    let bounds = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
    match (misbehaviour, bounds) {
        (Misbehaviour::IgnoresRange, _) | (_, None) => response("200 OK", "", content),
        (_, Some((first, last))) => {
            let mut body = content[first..=last].to_vec();
            if misbehaviour == Misbehaviour::WrongBytes && first == 0 {
                body[10] ^= 0xff;
            }
            let headers = format!("content-range: bytes {first}-{last}/{}\r\n", content.len());
            let mut reply = response("206 Partial Content", &headers, &body);
            if misbehaviour == Misbehaviour::DropsMidPart && attempt == 1 && first % 1000 == 0 {
                // The head promises the whole part; half of it arrives.
                reply.truncate(reply.len() - body.len() / 2);
            }
            reply
        }
    }
}

/// A client of `server` that retries without waiting.
fn client_of(server: &Server) -> (LibraryClient, PauseLog) {
    let (pause, log) = Pause::recording();
    let (client, websocket_client) = http_clients("sifbake-test", true).expect("clients");
    let transport = Arc::new(Transport {
        client,
        websocket_client,
        token: Token::new(TOKEN).expect("token"),
        retry: RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        }
        .with_pause(pause),
        request_timeout: REQUEST_TIMEOUT,
    });
    let mut setup = TransferSetup::new("sifbake-test", true, Some("2.0.0-alpha.2")).expect("setup");
    setup.options.download_part_size = 1000;
    let base = Url::parse(&server.url).expect("url");
    (
        LibraryClient::new(transport, base, TagApi::V2).with_transfer(setup),
        log,
    )
}

fn content() -> Vec<u8> {
    (0..4500_u32).map(|n| (n % 241) as u8).collect()
}

#[tokio::test]
async fn a_server_that_ignores_range_is_read_in_one_stream() {
    let server = serve(content(), Misbehaviour::IgnoresRange).await;
    let (library, _) = client_of(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("image.sif");
    let pulled = library
        .download_image(&container(), "latest", "amd64", &out)
        .await
        .expect("download");
    assert_eq!((pulled.parts, pulled.ranged), (1, false));
    assert_eq!(std::fs::read(&out).expect("read"), content());
    // The first part's request was the only one: its 200 carried the whole file.
    let ranges = server
        .ranges
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(ranges, [Some("bytes=0-999".to_owned())]);
}

#[tokio::test]
async fn bytes_that_are_not_the_image_leave_no_file() {
    let server = serve(content(), Misbehaviour::WrongBytes).await;
    let (library, log) = client_of(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let error = library
        .download_image(
            &container(),
            "latest",
            "amd64",
            &dir.path().join("image.sif"),
        )
        .await
        .expect_err("the hash cannot match");
    assert!(
        matches!(error, TransferError::HashMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&sha256(&content())), "{error}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    assert!(log.delays().is_empty(), "a mismatch is not retried");
}

#[tokio::test]
async fn a_dropped_part_resumes_where_it_stopped() {
    let server = serve(content(), Misbehaviour::DropsMidPart).await;
    let (library, log) = client_of(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("image.sif");
    library
        .download_image(&container(), "latest", "amd64", &out)
        .await
        .expect("download");
    assert_eq!(std::fs::read(&out).expect("read"), content());
    let mut ranges: Vec<String> = server
        .ranges
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .flatten()
        .cloned()
        .collect();
    ranges.sort();
    // Each part once in full, then only its second half again.
    assert_eq!(
        ranges,
        [
            "bytes=0-999",
            "bytes=1000-1999",
            "bytes=1500-1999",
            "bytes=2000-2999",
            "bytes=2500-2999",
            "bytes=3000-3999",
            "bytes=3500-3999",
            "bytes=4000-4499",
            "bytes=4250-4499",
            "bytes=500-999",
        ]
    );
    assert_eq!(log.delays().len(), 5);
}
