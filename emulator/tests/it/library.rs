use reqwest::{Method, StatusCode};
use scs_emulator::{EmulatorConfig, sif};
use serde_json::{Value, json};

use crate::support::{Client, data, download, error, sha256, start, start_with};

/// Creates entity/collection/container the way the Go client does (zero-valued keys,
/// no Content-Type) and returns the container's id.
async fn create_container(
    client: &Client,
    entity: &str,
    collection: &str,
    container: &str,
) -> String {
    let entity = data(
        client
            .post("/v1/entities", &json!({"name": entity, "description": "No description", "createdAt": "0001-01-01T00:00:00Z", "collections": null, "size": 0, "deleted": false}))
            .await,
        StatusCode::OK,
    )
    .await;
    let collection = data(
        client
            .post("/v1/collections", &json!({"name": collection, "entity": entity["id"], "description": "No description", "containers": null}))
            .await,
        StatusCode::OK,
    )
    .await;
    let container = data(
        client
            .post("/v1/containers", &json!({"name": container, "collection": collection["id"], "description": "No description", "imageTags": null, "archTags": null}))
            .await,
        StatusCode::OK,
    )
    .await;
    container["id"].as_str().unwrap().to_owned()
}

fn image_bytes(arch: &str, text: &str) -> Vec<u8> {
    sif::write_emulated_image(
        sif::arch_code(arch).unwrap(),
        format!("Bootstrap: docker\nFrom: {text}\n").as_bytes(),
        b"{}",
        text.as_bytes(),
    )
}

async fn create_image(client: &Client, container_id: &str, bytes: &[u8]) -> Value {
    data(
        client
            .post("/v1/images", &json!({"hash": sha256(bytes), "container": container_id, "description": "", "uploaded": false}))
            .await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn entities_collections_and_containers_are_created_and_found() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    error(client.get("/v1/entities/acme").await, StatusCode::NOT_FOUND).await;
    error(
        client.get("/v1/collections/acme/tools").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error(
        client.get("/v1/containers/acme/tools/hello").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let container_id = create_container(&client, "acme", "tools", "hello").await;
    let entity = data(client.get("/v1/entities/acme").await, StatusCode::OK).await;
    assert_eq!(entity["name"], json!("acme"));
    assert_eq!(entity["collections"].as_array().unwrap().len(), 1);
    assert_eq!(
        entity["createdAt"].as_str().unwrap().len(),
        20,
        "RFC 3339: {entity}"
    );
    let collection = data(
        client.get("/v1/collections/acme/tools").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(collection["entity"], entity["id"]);
    assert_eq!(collection["entityName"], json!("acme"));
    let container = data(
        client.get("/v1/containers/acme/tools/hello").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(container["id"], json!(container_id));
    assert_eq!(container["collectionName"], json!("tools"));
    assert_eq!(container["images"], json!([]));
    assert_eq!(container["archTags"], json!({}));

    // Duplicates conflict; bad names, unknown parents and malformed bodies are refused.
    error(
        client.post("/v1/entities", &json!({"name": "acme"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    error(
        client.post("/v1/entities", &json!({"name": "Acme"})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        client
            .post("/v1/entities", &json!({"description": "x"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        client
            .post("/v1/collections", &json!({"name": "x", "entity": "nope"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        client
            .post(
                "/v1/containers",
                &json!({"name": "x", "collection": "nope"}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let response = client
        .request(Method::POST, "/v1/entities")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    let message = error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("malformed JSON"), "{message}");
    emulator.shutdown().await;
}

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
    let anonymous = reqwest::Client::new();
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
async fn tags_v1_and_v2_use_capitalised_bodies_and_answer_exactly_200() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let container_id = create_container(&client, "acme", "tools", "tagged").await;
    let amd = image_bytes("amd64", "amd");
    let arm = image_bytes("arm64", "arm");
    let mut ids = Vec::new();
    for bytes in [&amd, &arm] {
        let image = create_image(&client, &container_id, bytes).await;
        let id = image["id"].as_str().unwrap().to_owned();
        client
            .request(Method::POST, &format!("/v1/imagefile/{id}"))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        ids.push(id);
    }
    let tags = data(
        client.get(&format!("/v2/tags/{container_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(tags, json!({}));
    for (arch, id) in [("amd64", &ids[0]), ("arm64", &ids[1])] {
        let response = client
            .post(
                &format!("/v2/tags/{container_id}"),
                &json!({"Arch": arch, "Tag": "latest", "ImageID": id}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let tags = data(
        client.get(&format!("/v2/tags/{container_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        tags,
        json!({"amd64": {"latest": ids[0]}, "arm64": {"latest": ids[1]}})
    );
    for (arch, id) in [("amd64", &ids[0]), ("arm64", &ids[1])] {
        let image = data(
            client
                .get(&format!("/v1/images/acme/tools/tagged:latest?arch={arch}"))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(image["id"], json!(id));
        assert_eq!(image["tags"], json!(["latest"]));
    }

    let response = client
        .post(
            &format!("/v1/tags/{container_id}"),
            &json!({"Tag": "v1tag", "ImageID": ids[0]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tags = data(
        client.get(&format!("/v1/tags/{container_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(tags["v1tag"], json!(ids[0]));
    // The v1 tag moved `latest` for the legacy view; the v2 tag keeps it per arch.
    let image = data(
        client.get("/v1/images/acme/tools/tagged:v1tag?arch=").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(image["id"], json!(ids[0]));

    error(
        client
            .post(
                &format!("/v1/tags/{container_id}"),
                &json!({"Tag": "Bad Tag", "ImageID": ids[0]}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        client
            .post(
                &format!("/v1/tags/{container_id}"),
                &json!({"Tag": "x", "ImageID": "0123456789abcdef01234567"}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        client
            .post(
                &format!("/v2/tags/{container_id}"),
                &json!({"Tag": "x", "ImageID": ids[0]}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        client.get("/v1/tags/0123456789abcdef01234567").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error(
        client.get("/v2/tags/0123456789abcdef01234567").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_v1_only_library_has_no_v2_endpoints() {
    let emulator = start_with(EmulatorConfig::default().v1_only()).await;
    let client = Client::new(&emulator);
    let container_id = create_container(&client, "acme", "tools", "old").await;
    error(
        client.get(&format!("/v2/tags/{container_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error(
        client
            .post(
                "/v2/imagefile/0123456789abcdef01234567",
                &json!({"filesize": 1}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    data(
        client.get(&format!("/v1/tags/{container_id}")).await,
        StatusCode::OK,
    )
    .await;
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
async fn search_delete_and_oci_redirect() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let container_id = create_container(&client, "acme", "tools", "searchable").await;
    let bytes = image_bytes("amd64", "search");
    let image = create_image(&client, &container_id, &bytes).await;
    let id = image["id"].as_str().unwrap();
    client
        .request(Method::POST, &format!("/v1/imagefile/{id}"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    client
        .post(
            &format!("/v2/tags/{container_id}"),
            &json!({"Arch": "amd64", "Tag": "latest", "ImageID": id}),
        )
        .await;

    let results = data(
        client.get("/v1/search?value=search&arch=amd64").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(results["container"].as_array().unwrap().len(), 1);
    assert_eq!(results["image"][0]["id"], json!(id));
    assert_eq!(results["entity"], json!([]));
    let results = data(
        client.get("/v1/search?value=SEARCH&arch=arm64").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(results["image"], json!([]));
    error(
        client.get("/v1/search?value=ab").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let response = client
        .get("/v1/oci-redirect?namespace=acme/tools/searchable&mapped=1&accessTypes=pull,push")
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    error(
        client
            .delete("/v1/images/acme/tools/searchable:nope?arch=amd64")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let deleted = data(
        client
            .delete("/v1/images/acme/tools/searchable:latest?arch=amd64")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deleted["id"], json!(id));
    error(
        client
            .get("/v1/images/acme/tools/searchable:latest?arch=amd64")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let tags = data(
        client.get(&format!("/v2/tags/{container_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(tags, json!({}));
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
    let anonymous = reqwest::Client::new();
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
