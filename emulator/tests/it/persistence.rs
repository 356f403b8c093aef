use reqwest::StatusCode;
use scs_emulator::EmulatorConfig;
use serde_json::json;

use crate::support::{Client, data, download, error, finish, start_with, submit};

#[tokio::test]
async fn a_restarted_emulator_keeps_its_library() {
    let dir = tempfile::tempdir().unwrap();
    let config = || EmulatorConfig::default().with_data_dir(dir.path());
    let first = start_with(config()).await;
    let client = Client::new(&first);
    let info = submit(
        &client,
        "Bootstrap: docker\nFrom: alpine\n",
        "library://keep/this/image:1.0",
        "amd64",
    )
    .await;
    finish(&client, info["id"].as_str().unwrap()).await;
    let gone = submit(
        &client,
        "Bootstrap: docker\nFrom: busybox\n",
        "library://keep/this/gone",
        "amd64",
    )
    .await;
    finish(&client, gone["id"].as_str().unwrap()).await;
    data(
        client
            .delete("/v1/images/keep/this/gone:latest?arch=amd64")
            .await,
        StatusCode::OK,
    )
    .await;
    let before = download(&client, "keep/this/image:1.0", "amd64").await;
    first.shutdown().await;
    assert!(dir.path().join("library.json").is_file());
    assert_eq!(
        std::fs::read_dir(dir.path().join("images"))
            .unwrap()
            .count(),
        1,
        "deleted image files are removed"
    );

    let second = start_with(config()).await;
    let client = Client::new(&second);
    assert_eq!(
        download(&client, "keep/this/image:1.0", "amd64").await,
        before
    );
    let image = data(
        client
            .get("/v1/images/keep/this/image:1.0?arch=amd64")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(image["tags"], json!(["1.0"]));
    error(
        client
            .get("/v1/images/keep/this/gone:latest?arch=amd64")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    second.shutdown().await;
}

#[tokio::test]
async fn a_corrupt_library_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("library.json"), b"{not json").unwrap();
    let result =
        scs_emulator::Emulator::start(EmulatorConfig::default().with_data_dir(dir.path())).await;
    assert!(matches!(
        result,
        Err(scs_emulator::Error::CorruptState { .. })
    ));
}
