use reqwest::{Method, StatusCode};
use scs_emulator::{EmulatorConfig, sif};
use serde_json::{Value, json};

use crate::support::{Client, data, error, sha256, start, start_with};

/// Creates entity/collection/container the way the Go client does (zero-valued keys,
/// no Content-Type) and returns the container's id.
pub async fn create_container(
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

pub fn image_bytes(arch: &str, text: &str) -> Vec<u8> {
    sif::write_emulated_image(
        sif::arch_code(arch).unwrap(),
        format!("Bootstrap: docker\nFrom: {text}\n").as_bytes(),
        b"{}",
        text.as_bytes(),
    )
}

pub async fn create_image(client: &Client, container_id: &str, bytes: &[u8]) -> Value {
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
    // An arch filter limits the search to images (scs-library-client client/search.go).
    assert_eq!(results["container"], json!([]));
    assert_eq!(results["image"][0]["id"], json!(id));
    assert_eq!(results["entity"], json!([]));
    let results = data(client.get("/v1/search?value=search").await, StatusCode::OK).await;
    assert_eq!(results["container"].as_array().unwrap().len(), 1);
    assert_eq!(results["image"][0]["id"], json!(id));
    let results = data(
        client.get("/v1/search?value=search&signed=true").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(results["image"], json!([]), "emulated images are unsigned");
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

/// The library reports an image whose SIF holds a signature object as signed, with the
/// signer's fingerprint, as the Sylabs library does after scanning an upload.
#[tokio::test]
async fn a_signed_upload_is_reported_signed_with_its_fingerprint() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let container_id = create_container(&client, "acme", "tools", "signedimg").await;
    let key = crate::test_keys::generate("Signer <signer@example.com>", None);
    let secret = sifbake_sif::keys::SecretKey::from_armored(&key.secret, "").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.sif");
    std::fs::write(&path, image_bytes("amd64", "signed")).unwrap();
    sifbake_sif::integrity::sign_file(&path, &secret).unwrap();
    let signed = std::fs::read(&path).unwrap();
    let unsigned = image_bytes("amd64", "unsigned");

    let mut expected = Vec::new();
    for (bytes, is_signed) in [(&signed, true), (&unsigned, false)] {
        let image = create_image(&client, &container_id, bytes).await;
        assert_eq!(image["signed"], json!(false), "unknown before the upload");
        let id = image["id"].as_str().unwrap().to_owned();
        client
            .request(Method::POST, &format!("/v1/imagefile/{id}"))
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        let fingerprints = if is_signed {
            json!([key.fingerprint])
        } else {
            json!([])
        };
        expected.push((id, json!(is_signed), fingerprints));
    }
    let results = data(
        client.get("/v1/search?value=signedimg").await,
        StatusCode::OK,
    )
    .await;
    for (id, is_signed, fingerprints) in expected {
        let image = results["image"]
            .as_array()
            .unwrap()
            .iter()
            .find(|image| image["id"] == json!(id))
            .unwrap();
        assert_eq!(image["signed"], is_signed, "{image}");
        assert_eq!(image["fingerprints"], fingerprints, "{image}");
    }
    let results = data(
        client.get("/v1/search?value=signedimg&signed=true").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(results["image"].as_array().unwrap().len(), 1, "{results}");
    assert_eq!(results["image"][0]["signed"], json!(true));
    let info = sif::read(&signed).unwrap();
    assert!(info.signed && !sif::read(&unsigned).unwrap().signed);
}
