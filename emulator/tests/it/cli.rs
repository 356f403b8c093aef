use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn the_binary_prints_its_url_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scs-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--token",
            "T1",
            "--token",
            "T2",
            "--max-build-duration",
            "20m",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let http = crate::support::http_client();
    for token in ["T1", "T2"] {
        let response = http
            .get(format!("{url}/v1/token-status"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        lines.next_line().await.unwrap(),
        None,
        "only the URL is printed on stdout"
    );
}

#[tokio::test]
async fn bad_flags_are_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_scs-emulator"))
        .args(["--max-build-duration", "soon"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let output = Command::new(env!("CARGO_BIN_EXE_scs-emulator"))
        .args(["--fault", "{\"action\":{\"kind\":\"nope\"}}"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
}
