use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::library::{create_container, create_image, image_bytes};
use crate::support::{Client, data, download, error, sha256, start};

#[tokio::test]
async fn the_v1_upload_checks_the_hash_and_marks_the_image_uploaded() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let container_id = create_container(&client, "acme", "tools", "v1up").await;
    let bytes = image_bytes("amd64", "v1");
    let image = create_image(&client, &container_id, &bytes).await;
    assert_eq!(image["uploaded"], json!(false));
    assert!(image["id"].is_string());
    let id = image["id"].as_str().unwrap();
    error(
        client
            .post(
                "/v1/images",
                &json!({"hash": sha256(&bytes), "container": container_id}),
            )
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    error(
        client
            .post(
                "/v1/images",
                &json!({"hash": "sha256:abc", "container": container_id}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let mut tampered = bytes.clone();
    tampered[200] ^= 1;
    let response = client
        .request(Method::POST, &format!("/v1/imagefile/{id}"))
        .body(tampered)
        .send()
        .await
        .unwrap();
    let message = error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("hash"), "{message}");
    let response = client
        .request(Method::POST, "/v1/imagefile/0123456789abcdef01234567")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    error(response, StatusCode::NOT_FOUND).await;
    let response = client
        .request(Method::POST, &format!("/v1/imagefile/{id}"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let by_hash = data(
        client
            .get(&format!(
                "/v1/images/acme/tools/v1up:{}?arch=amd64",
                sha256(&bytes)
            ))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_hash["uploaded"], json!(true));
    assert_eq!(by_hash["size"], json!(bytes.len()));
    assert_eq!(
        by_hash["arch"],
        json!("amd64"),
        "arch read from the SIF header"
    );
    // A hash only resolves for its own arch.
    error(
        client
            .get(&format!(
                "/v1/images/acme/tools/v1up:{}?arch=arm64",
                sha256(&bytes)
            ))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(emulator.counters().images_uploaded, 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_v2_single_upload_uses_a_presigned_url_and_complete() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let container_id = create_container(&client, "acme", "tools", "v2up").await;
    let bytes = image_bytes("arm64", "v2");
    let image = create_image(&client, &container_id, &bytes).await;
    let id = image["id"].as_str().unwrap();
    let hex = sha256(&bytes).trim_start_matches("sha256.").to_owned();

    let wrong = client
        .post(
            &format!("/v2/imagefile/{id}"),
            &json!({"filesize": bytes.len(), "sha256sum": "0".repeat(64)}),
        )
        .await;
    error(wrong, StatusCode::BAD_REQUEST).await;
    error(
        client
            .put(&format!("/v2/imagefile/{id}/_complete"), &json!({}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let md5 = {
        use md5::Digest;
        md5::Md5::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let reply = data(
        client
            .post(
                &format!("/v2/imagefile/{id}"),
                &json!({"filesize": bytes.len(), "sha256sum": hex, "md5sum": md5}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let url = reply["uploadURL"].as_str().unwrap().to_owned();
    assert!(
        url.contains("X-Amz-SignedHeaders=host%3Bx-amz-content-sha256"),
        "{url}"
    );
    let anonymous = crate::support::http_client();
    let response = anonymous
        .put(&url)
        .header("x-amz-content-sha256", "0".repeat(64))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    error(response, StatusCode::BAD_REQUEST).await;
    let response = anonymous
        .put(&url)
        .body(bytes[1..].to_vec())
        .send()
        .await
        .unwrap();
    error(response, StatusCode::BAD_REQUEST).await;
    let response = anonymous
        .put(&url)
        .header("Content-Type", "application/octet-stream")
        .header("x-amz-content-sha256", &hex)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The URL is single-use.
    let response = anonymous
        .put(&url)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    error(response, StatusCode::NOT_FOUND).await;
    let complete = data(
        client
            .put(&format!("/v2/imagefile/{id}/_complete"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(complete["quota"]["quotaUsage"], json!(bytes.len()));
    assert!(
        complete["containerUrl"]
            .as_str()
            .unwrap()
            .ends_with("/library/acme/tools/v2up")
    );

    // Tag it (v2, exactly 200) and pull it back.
    let response = client
        .post(
            &format!("/v2/tags/{container_id}"),
            &json!({"Arch": "arm64", "Tag": "latest", "ImageID": id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        download(&client, "acme/tools/v2up:latest", "arm64").await,
        bytes
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn downloads_honour_ranges_and_report_content_length() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let container_id = create_container(&client, "acme", "tools", "ranged").await;
    let bytes = image_bytes("amd64", "ranged");
    let image = create_image(&client, &container_id, &bytes).await;
    let id = image["id"].as_str().unwrap();
    // Not uploaded yet: not downloadable.
    client
        .post(
            &format!("/v1/tags/{container_id}"),
            &json!({"Tag": "latest", "ImageID": id}),
        )
        .await;
    error(
        client
            .get("/v1/imagefile/acme/tools/ranged:latest?arch=amd64")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    client
        .request(Method::POST, &format!("/v1/imagefile/{id}"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();

    assert_eq!(
        download(&client, "acme/tools/ranged", "amd64").await,
        bytes,
        "tag defaults to latest"
    );
    let total = bytes.len();
    let response = client
        .request(
            Method::GET,
            "/v1/imagefile/acme/tools/ranged:latest?arch=amd64",
        )
        .header("Range", "bytes=0-1023")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes 0-1023/{total}").as_str()
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[..1024]);
    let response = client
        .request(
            Method::GET,
            "/v1/imagefile/acme/tools/ranged:latest?arch=amd64",
        )
        .header("Range", format!("bytes={}-", total - 10))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[total - 10..]
    );
    let response = client
        .request(
            Method::GET,
            "/v1/imagefile/acme/tools/ranged:latest?arch=amd64",
        )
        .header("Range", format!("bytes={total}-"))
        .send()
        .await
        .unwrap();
    error(response, StatusCode::RANGE_NOT_SATISFIABLE).await;
    error(
        client
            .get("/v1/imagefile/acme/tools/ranged:nope?arch=amd64")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let container = data(
        client.get("/v1/containers/acme/tools/ranged").await,
        StatusCode::OK,
    )
    .await;
    assert!(container["downloadCount"].as_u64().unwrap() >= 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn multipart_uploads_join_parts_and_check_tokens() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let container_id = create_container(&client, "acme", "tools", "multi").await;
    // Just over one part: the part size is the clients' 64 MiB threshold.
    let mut bytes = image_bytes("amd64", "multi");
    bytes.resize(64 * 1024 * 1024 + 4096, 7);
    let image = create_image(&client, &container_id, &bytes).await;
    let id = image["id"].as_str().unwrap();
    let start = data(
        client
            .post(
                &format!("/v2/imagefile/{id}/_multipart"),
                &json!({"filesize": bytes.len()}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(start["totalParts"], json!(2));
    assert_eq!(start["options"]["s3compliant"], json!("true"));
    let upload_id = start["uploadID"].as_str().unwrap().to_owned();
    let part_size = usize::try_from(start["partSize"].as_u64().unwrap()).unwrap();
    let parts = [&bytes[..part_size], &bytes[part_size..]];
    let anonymous = crate::support::http_client();
    let mut completed = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let number = index + 1;
        let hex = sha256(part).trim_start_matches("sha256.").to_owned();
        let presigned = data(
            client.put(&format!("/v2/imagefile/{id}/_multipart"), &json!({"partSize": part.len(), "uploadID": upload_id, "partNumber": number, "sha256sum": hex})).await,
            StatusCode::OK,
        )
        .await;
        let response = anonymous
            .put(presigned["presignedURL"].as_str().unwrap())
            .header("x-amz-content-sha256", &hex)
            .body(part.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        completed.push(
            json!({"partNumber": number, "token": response.headers()["etag"].to_str().unwrap()}),
        );
    }
    let bad = json!({"uploadID": upload_id, "completedParts": [completed[0], {"partNumber": 2, "token": "\"forged\""}]});
    error(
        client
            .put(&format!("/v2/imagefile/{id}/_multipart_complete"), &bad)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let good = json!({"uploadID": upload_id, "completedParts": completed});
    data(
        client
            .put(&format!("/v2/imagefile/{id}/_multipart_complete"), &good)
            .await,
        StatusCode::OK,
    )
    .await;
    let image = data(
        client
            .get(&format!(
                "/v1/images/acme/tools/multi:{}?arch=amd64",
                sha256(&bytes)
            ))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(image["uploaded"], json!(true));
    // The upload is gone once complete; aborting an unknown upload is a 404.
    error(
        client
            .put(
                &format!("/v2/imagefile/{id}/_multipart_abort"),
                &json!({"uploadID": upload_id}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    emulator.shutdown().await;
}
