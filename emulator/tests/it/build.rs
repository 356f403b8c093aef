use std::io::Write;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use scs_emulator::{EmulatorConfig, sif};
use serde_json::json;

use crate::support::{
    Client, StreamEnd, data, download, error, finish, follow, sha256, start, start_with, submit,
    submit_with,
};

const SIMPLE: &str = "Bootstrap: docker\nFrom: alpine:3.19\n\n%post\n    echo hello\n";

#[tokio::test]
async fn a_build_streams_its_log_closes_with_1000_and_publishes_its_image() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let info = submit(
        &client,
        SIMPLE,
        "library://acme/tools/hello:1.0,stable",
        "arm64",
    )
    .await;
    let id = info["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(
        info["libraryRef"],
        json!("library://acme/tools/hello:1.0,stable")
    );
    assert_eq!(info["libraryURL"], json!(emulator.url()));

    let (log, info) = finish(&client, &id).await;
    let mut lines = log.lines();
    assert_eq!(
        lines.next(),
        Some("INFO:    Emulated build by scs-emulator: no container was actually built")
    );
    assert_eq!(lines.next(), Some("INFO:    Starting build..."));
    assert_eq!(
        lines.next(),
        Some(
            "INFO:    Setting maximum build duration to 1h0m0s (the build service's own limit; the client may cancel sooner)"
        )
    );
    let size = info["imageSize"].as_u64().unwrap();
    assert!(size > 0);
    let checksum = info["imageChecksum"].as_str().unwrap();

    // Published under the ref's tags for the build arch only.
    for tag in ["1.0", "stable"] {
        let image = download(&client, &format!("acme/tools/hello:{tag}"), "arm64").await;
        assert_eq!(image.len() as u64, size);
        assert_eq!(sha256(&image), checksum);
        let parsed = sif::read(&image).unwrap();
        assert_eq!(parsed.arch, Some("arm64"));
        assert_eq!(parsed.objects[0].0, sif::DATA_DEFFILE);
        assert_eq!(parsed.objects[0].2, SIMPLE.as_bytes());
        let metadata: serde_json::Value = serde_json::from_slice(&parsed.objects[1].2).unwrap();
        assert_eq!(metadata["emulated"], json!(true));
    }
    error(
        client
            .get("/v1/images/acme/tools/hello:1.0?arch=amd64")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let tags = data(
        client
            .get(&format!(
                "/v2/tags/{}",
                data(
                    client.get("/v1/containers/acme/tools/hello").await,
                    StatusCode::OK
                )
                .await["id"]
                    .as_str()
                    .unwrap()
            ))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(tags["arm64"]["1.0"].is_string(), "{tags}");
    assert_eq!(emulator.counters().builds_submitted, 1);
    assert_eq!(emulator.counters().builds_succeeded, 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_build_without_library_ref_is_ephemeral() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let info = submit(&client, SIMPLE, "", "amd64").await;
    let id = info["id"].as_str().unwrap().to_owned();
    let expected = format!("library://emulated-user/remote-builds/rb-{id}");
    assert_eq!(info["libraryRef"], json!(expected));
    let (_, info) = finish(&client, &id).await;
    let image = download(
        &client,
        &format!("emulated-user/remote-builds/rb-{id}:latest"),
        "amd64",
    )
    .await;
    assert_eq!(sha256(&image), info["imageChecksum"].as_str().unwrap());
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_opaque_ref_spelling_is_accepted() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let info = submit(&client, SIMPLE, "library:acme/tools/opaque", "amd64").await;
    finish(&client, info["id"].as_str().unwrap()).await;
    download(&client, "acme/tools/opaque:latest", "amd64").await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn images_are_deterministic_per_definition_context_and_arch() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let mut checksums = Vec::new();
    for (reference, arch) in [
        ("a/b/one", "amd64"),
        ("a/b/two", "amd64"),
        ("a/b/three", "ppc64le"),
    ] {
        let info = submit(&client, SIMPLE, &format!("library://{reference}"), arch).await;
        let (_, info) = finish(&client, info["id"].as_str().unwrap()).await;
        checksums.push(info["imageChecksum"].as_str().unwrap().to_owned());
    }
    assert_eq!(checksums[0], checksums[1]);
    assert_ne!(checksums[0], checksums[2]);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_fail_directive_fails_the_build_with_its_reason() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let definition = "Bootstrap: docker\nFrom: alpine\n# emulator: fail=\"apt-get exploded\"\n";
    let info = submit(&client, definition, "library://acme/tools/broken", "amd64").await;
    let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info.get("imageSize").is_none(), "{info}");
    assert!(
        log.contains("FATAL:   While performing build: apt-get exploded"),
        "{log}"
    );
    error(
        client
            .get("/v1/images/acme/tools/broken:latest?arch=amd64")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(emulator.counters().builds_failed, 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn bad_directives_and_headerless_definitions_fail_with_a_reason() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    for (definition, expected) in [
        (
            "Bootstrap: docker\n# emulator: speed=fast\n",
            "unknown emulator directive `speed`",
        ),
        ("%post\n  echo no header\n", "no `Bootstrap:` header"),
        (
            "Bootstrap: localimage\nFrom: /x.sif\n",
            "cannot be built remotely",
        ),
    ] {
        let info = submit(&client, definition, "", "amd64").await;
        let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
        assert!(info.get("imageSize").is_none());
        assert!(log.contains(expected), "{log}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn log_bytes_are_streamed_in_chunks() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let definition = "Bootstrap: docker\n# emulator: log-bytes=300000 duration=20ms\n";
    let info = submit(&client, definition, "", "amd64").await;
    let (log, _) = finish(&client, info["id"].as_str().unwrap()).await;
    let filler: usize = log
        .split_inclusive('\n')
        .filter(|line| line.starts_with("+ emulated"))
        .map(str::len)
        .sum();
    // The last chunk may end inside a line, which is then not counted by the filter.
    assert!(filler <= 300_000 && filler > 299_900, "{filler}");
    assert!(log.contains("Emulating 20ms of build work"));
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_build_over_the_maximum_duration_is_cancelled_with_the_real_log_lines() {
    let emulator =
        start_with(EmulatorConfig::default().with_max_build_duration(Duration::from_millis(50)))
            .await;
    let client = Client::new(&emulator);
    let definition = "Bootstrap: docker\n# emulator: duration=1h\n";
    let info = submit(&client, definition, "library://acme/tools/slow", "amd64").await;
    let id = info["id"].as_str().unwrap().to_owned();
    let (log, info) = finish(&client, &id).await;
    assert!(
        log.contains("INFO:    Setting maximum build duration to 50ms"),
        "{log}"
    );
    assert!(
        log.contains(&format!("Build {id} exceeded max build time (50ms)\n")),
        "{log}"
    );
    assert!(log.contains(&format!("Build {id} cancelled: ")), "{log}");
    assert!(info.get("imageSize").is_none());
    emulator.shutdown().await;
}

#[tokio::test]
async fn cancel_ends_a_running_build_without_an_image() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let info = submit(
        &client,
        "Bootstrap: docker\n# emulator: duration=1h\n",
        "library://a/b/c",
        "amd64",
    )
    .await;
    let id = info["id"].as_str().unwrap().to_owned();
    let response = client
        .request(Method::PUT, &format!("/v1/build/{id}/_cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (log, info) = finish(&client, &id).await;
    assert!(
        log.contains(&format!("Build {id} cancelled: cancel requested by client")),
        "{log}"
    );
    assert!(info.get("imageSize").is_none());
    assert_eq!(emulator.counters().builds_cancelled, 1);
    // Cancelling a finished build is harmless.
    let again = client
        .request(Method::PUT, &format!("/v1/build/{id}/_cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_late_websocket_replays_the_whole_log() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let info = submit(&client, SIMPLE, "", "amd64").await;
    let id = info["id"].as_str().unwrap().to_owned();
    let (first, _) = finish(&client, &id).await;
    let (second, end) = follow(&client.base, &id).await;
    assert_eq!(end, StreamEnd::Closed(1000));
    assert_eq!(first, second);
    assert_eq!(emulator.build_log(&id).as_deref(), Some(first.as_str()));
    emulator.shutdown().await;
}

#[tokio::test]
async fn malformed_submissions_are_refused() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let cases = [
        ("{not json".to_owned(), "malformed JSON"),
        (json!({"libraryRef": ""}).to_string(), "definitionRaw is required"),
        (json!({"definitionRaw": "%%%"}).to_string(), "not base64"),
        (json!({"definitionRaw": "Qm9vdHN0cmFwOiBkb2NrZXI=", "libraryRef": "library://only/two"}).to_string(), "exactly entity/collection/container"),
        (json!({"definitionRaw": "Qm9vdHN0cmFwOiBkb2NrZXI=", "builderRequirements": {"arch": "sparc"}}).to_string(), "unsupported build architecture"),
        (json!({"definitionRaw": "Qm9vdHN0cmFwOiBkb2NrZXI=", "contextDigest": format!("sha256.{}", "0".repeat(64))}).to_string(), "has not been uploaded"),
    ];
    for (body, expected) in cases {
        let response = client
            .request(Method::POST, "/v1/build")
            .body(body)
            .send()
            .await
            .unwrap();
        let message = error(response, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(expected), "{message}");
    }
    assert_eq!(emulator.counters().builds_submitted, 0);
    let unknown = "0123456789abcdef01234567";
    error(
        client.get(&format!("/v1/build/{unknown}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let response = client
        .request(Method::PUT, &format!("/v1/build/{unknown}/_cancel"))
        .send()
        .await
        .unwrap();
    error(response, StatusCode::NOT_FOUND).await;
    let url = format!(
        "{}/v1/build-ws/{unknown}",
        emulator.url().replacen("http", "ws", 1)
    );
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request
        .headers_mut()
        .insert("Authorization", "Bearer test-token".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404)
        }
        other => panic!("expected 404, got {other:?}"),
    }
    emulator.shutdown().await;
}

/// Builds a gzipped tar like the clients do: rootless paths, parent directories first.
fn context_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar_bytes = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar_bytes);
        let mut dirs = std::collections::BTreeSet::new();
        for (path, contents) in files {
            let parts: Vec<&str> = path.split('/').collect();
            for end in 1..parts.len() {
                let dir = format!("{}/", parts[..end].join("/"));
                if dirs.insert(dir.clone()) {
                    let mut header = tar::Header::new_gnu();
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, dir, std::io::empty())
                        .unwrap();
                }
            }
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(contents.len() as u64);
            builder.append_data(&mut header, path, *contents).unwrap();
        }
        builder.finish().unwrap();
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&tar_bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn build_contexts_are_announced_uploaded_checked_used_and_deleted() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let archive = context_archive(&[("home/u/proj/data/a.txt", b"a"), ("etc/app.conf", b"c")]);
    let digest = sha256(&archive);
    let announce = json!({"size": archive.len(), "digest": digest});
    let response = client.post("/v1/build-context", &announce).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(emulator.url()), "{location}");
    assert!(
        location.contains("X-Amz-SignedHeaders=host%3Bx-amz-content-sha256"),
        "{location}"
    );

    // Wrong bytes and wrong size are refused; the right upload needs no Authorization.
    let anonymous = crate::support::http_client();
    let mut wrong = archive.clone();
    wrong[10] ^= 0xff;
    let response = anonymous.put(&location).body(wrong).send().await.unwrap();
    error(response, StatusCode::BAD_REQUEST).await;
    let response = anonymous
        .put(&location)
        .body(archive[1..].to_vec())
        .send()
        .await
        .unwrap();
    error(response, StatusCode::BAD_REQUEST).await;
    let response = anonymous
        .put(&location)
        .header("Content-Type", "application/octet-stream")
        .body(archive.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(emulator.counters().contexts_uploaded, 1);

    // A second announcement has no Location: the client skips the upload.
    let response = client.post("/v1/build-context", &announce).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.headers().get("location").is_none());

    let good = "Bootstrap: docker\n%files\n    data/a.txt /opt/a.txt\n    /etc/app.conf\n    data/*.txt /opt/\n";
    let info = submit_with(
        &client,
        good,
        "library://a/b/files",
        "amd64",
        Some(&digest),
        Some("/home/u/proj"),
    )
    .await;
    let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info["imageSize"].as_u64().unwrap() > 0, "{log}");
    assert!(
        log.contains(&format!("3 source(s) found in build context {digest}")),
        "{log}"
    );

    let missing = "Bootstrap: docker\n%files\n    data/missing.txt\n";
    let info = submit_with(
        &client,
        missing,
        "",
        "amd64",
        Some(&digest),
        Some("/home/u/proj"),
    )
    .await;
    let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info.get("imageSize").is_none());
    assert!(log.contains("`data/missing.txt` (line 3, resolved to /home/u/proj/data/missing.txt) is not in the uploaded build context"), "{log}");

    let info = submit(&client, good, "", "amd64").await;
    let (log, _) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(log.contains("needs a build context"), "{log}");

    let response = client.delete(&format!("/v1/build-context/{digest}")).await;
    data(response, StatusCode::OK).await;
    error(
        client.delete(&format!("/v1/build-context/{digest}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let bad = client
        .post(
            "/v1/build-context",
            &json!({"size": 1, "digest": "sha256:abc"}),
        )
        .await;
    error(bad, StatusCode::BAD_REQUEST).await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn library_bases_are_checked_against_the_library() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let base = submit(&client, SIMPLE, "library://acme/tools/base:1.0", "amd64").await;
    finish(&client, base["id"].as_str().unwrap()).await;

    let dependent = "Bootstrap: library\nFrom: acme/tools/base:1.0\n";
    let info = submit(&client, dependent, "library://acme/tools/app", "amd64").await;
    let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info["imageSize"].as_u64().is_some(), "{log}");
    assert!(
        log.contains("base library://acme/tools/base:1.0 found in the library"),
        "{log}"
    );

    // Held entity, missing tag or arch: the build fails.
    for (definition, arch) in [
        ("Bootstrap: library\nFrom: acme/tools/base:2.0\n", "amd64"),
        (dependent, "arm64"),
    ] {
        let info = submit(&client, definition, "", arch).await;
        let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
        assert!(info.get("imageSize").is_none());
        assert!(log.contains("does not exist in the library"), "{log}");
    }

    // An entity the emulator does not hold is an external public image...
    let external = "Bootstrap: library\nFrom: library://alpine:3.19\n";
    let info = submit(&client, external, "", "amd64").await;
    let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info["imageSize"].as_u64().is_some());
    assert!(log.contains("treated as an external public image"), "{log}");
    emulator.shutdown().await;

    // ...unless bases are strict.
    let strict = start_with(EmulatorConfig::default().with_strict_bases(true)).await;
    let client = Client::new(&strict);
    let info = submit(&client, external, "", "amd64").await;
    let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
    assert!(info.get("imageSize").is_none());
    assert!(
        log.contains("library://library/default/alpine:3.19 (amd64) does not exist in the library"),
        "{log}"
    );
    strict.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_count_tells_cancelled_builds_from_running_ones() {
    let emulator = start().await;
    let client = Client::new(&emulator);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let info = submit(
            &client,
            "Bootstrap: docker\n# emulator: duration=1h\n",
            "library://a/b/c",
            "amd64",
        )
        .await;
        ids.push(info["id"].as_str().unwrap().to_owned());
    }
    // The reply comes before the build's task has noticed the cancel; the count after
    // shutdown does not depend on which is first.
    let response = client
        .request(Method::PUT, &format!("/v1/build/{}/_cancel", ids[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let counters = emulator.shutdown_and_count().await;
    assert_eq!(counters.builds_submitted, 2);
    assert_eq!(counters.builds_cancelled, 1, "the one still running is not");
    assert_eq!(counters.builds_failed, 2, "both ended without an image");
}
