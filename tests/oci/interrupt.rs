//! An upload cut off in the middle: a proxy on 127.0.0.1 in front of the real registry
//! closes the connection after 200 kB of the first large blob `PUT`. The client must see
//! a transient failure, start the upload again from a new session, and leave the exact
//! file in the registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sifbake::oci::{
    ClientOptions, CredentialSources, Registry, RegistryClient, RepositoryRef, SifArtifact,
};
use sifbake::scs::{Pause, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::registry::{Auth, PASSWORD, TestRegistry, USER};
use super::{oras, run, sif_file};

/// Bytes of the large `PUT` let through before the cut.
const LET_THROUGH: usize = 200_000;

/// A TCP proxy to `upstream` that cuts the first large blob upload once; stops with the
/// test's runtime.
async fn cutting_proxy(upstream: u16, armed: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(relay(inbound, upstream, Arc::clone(&armed)));
        }
    });
    port
}

/// Whether a chunk starts a blob `PUT` with a body larger than what is let through.
fn large_blob_put(chunk: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&chunk[..chunk.len().min(4096)]).to_ascii_lowercase();
    text.starts_with("put /v2/")
        && text.contains("/blobs/uploads/")
        && text
            .split("\r\n")
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse::<usize>().ok())
            .is_some_and(|length| length > LET_THROUGH)
}

async fn relay(inbound: TcpStream, upstream: u16, armed: Arc<AtomicBool>) {
    let Ok(outbound) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_registry, mut to_registry) = outbound.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_registry, &mut to_client).await;
    });
    let mut buffer = vec![0u8; 64 * 1024];
    let mut budget: Option<usize> = None;
    while let Ok(read) = from_client.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        let chunk = &buffer[..read];
        if budget.is_none() && large_blob_put(chunk) && armed.swap(false, Ordering::SeqCst) {
            budget = Some(LET_THROUGH);
        }
        if let Some(left) = budget {
            if read >= left {
                let _ = to_registry.write_all(&chunk[..left]).await;
                break;
            }
            budget = Some(left - read);
        }
        if to_registry.write_all(chunk).await.is_err() {
            break;
        }
    }
    // Dropping both halves closes both connections: the cut.
    down.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_off_is_started_again() {
    let Some(registry) = TestRegistry::start(Auth::Htpasswd) else {
        return;
    };
    let armed = Arc::new(AtomicBool::new(true));
    let proxy = cutting_proxy(registry.port, Arc::clone(&armed)).await;
    let work = tempfile::tempdir().unwrap();
    let sif = sif_file(work.path(), "big.sif", 2 * 1024 * 1024);
    let sources = CredentialSources::from_env(Arc::new(|name| match name {
        "SIFBAKE_REGISTRY_USERNAME" => Some(USER.to_owned()),
        "SIFBAKE_REGISTRY_PASSWORD" => Some(PASSWORD.to_owned()),
        _ => None,
    }));
    let (pause, log) = Pause::recording();
    let options = ClientOptions {
        retry: RetryPolicy::default().with_pause(pause),
        ..ClientOptions::default()
    };
    let client = RegistryClient::new(options, sources).unwrap();
    let repo = RepositoryRef::parse(&format!("oras://127.0.0.1:{proxy}/acme/big")).unwrap();
    let pushed = client
        .push_sif(&repo, &SifArtifact::new(&sif), &["v1".to_owned()])
        .await
        .unwrap();
    assert!(!armed.load(Ordering::SeqCst), "the proxy cut an upload");
    assert_eq!(log.delays().len(), 1, "one restart: {:?}", log.delays());
    assert!(pushed.uploaded);

    let Some(oras) = oras() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    run(std::process::Command::new(&oras)
        .args(["pull", "--plain-http", "-u", USER, "-p", PASSWORD])
        .arg(format!("{}/acme/big:v1", registry.address()))
        .arg("-o")
        .arg(out.path()));
    assert!(
        std::fs::read(out.path().join("big.sif")).unwrap() == std::fs::read(&sif).unwrap(),
        "the registry holds the whole file after the restart"
    );
}
