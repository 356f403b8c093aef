//! The library: image lookups and tags, v2 and v1-only.

use super::*;

/// Builds `destination` on the emulator and returns the image found by its first tag.
async fn built_image(connection: &Connection, destination: &str) -> Image {
    let (info, _) = build_to_the_end(connection, &request(QUICK, Some(destination))).await;
    assert!(info.succeeded(), "{info:?}");
    let reference = libref(destination);
    let tag = reference.tags_or_default().remove(0);
    let image = ok(
        connection
            .library
            .find_image(&reference, &tag, "amd64")
            .await,
        "find the built image",
    );
    let image = image.unwrap_or_else(|| panic!("{destination} was not published"));
    assert_eq!(Some(image.hash.clone()), info.image_checksum);
    assert_eq!(image.size, info.image_size);
    image
}

#[tokio::test]
async fn find_image_hit_and_miss() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let image = built_image(&connection, "library://acme/tools/base:inputs-00aa").await;
    assert!(!image.id.is_empty() && !image.container_id.is_empty());
    assert_eq!(image.arch.as_deref(), Some("amd64"));
    let base = libref("library://acme/tools/base");
    let by_hash = ok(
        connection
            .library
            .find_image(&base, &image.hash, "amd64")
            .await,
        "find by hash",
    );
    assert_eq!(by_hash.as_ref().map(|i| &i.id), Some(&image.id));
    for (reference, tag) in [
        ("library://acme/tools/base", "inputs-ffff"),
        ("library://acme/tools/nothing-here", "latest"),
        ("library://nobody/at/all", "latest"),
    ] {
        let found = ok(
            connection
                .library
                .find_image(&libref(reference), tag, "amd64")
                .await,
            "lookup",
        );
        assert_eq!(found, None, "{reference}:{tag}");
    }
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn set_tags_uses_v2_arch_tags() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let image = built_image(&connection, "library://acme/tools/base:inputs-00bb").await;
    let base = libref("library://acme/tools/base");
    let tags = vec!["main".to_owned(), "sha-1234567".to_owned()];
    ok(
        connection
            .library
            .set_tags(&base, &image, "amd64", &tags)
            .await,
        "set tags",
    );
    for tag in &tags {
        let found = ok(
            connection.library.find_image(&base, tag, "amd64").await,
            "find by new tag",
        );
        assert_eq!(found.map(|i| i.id), Some(image.id.clone()), "{tag}");
    }
    let counters = emulator.counters();
    assert_eq!(counters.requests_to("POST /v2/tags/{container}"), 2);
    assert_eq!(counters.requests_to("POST /v1/tags/{container}"), 0);
    ok(
        connection
            .library
            .set_tags(&base, &image, "amd64", &[])
            .await,
        "no tags",
    );
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn set_tags_falls_back_to_v1_on_an_old_library() {
    let emulator = start(EmulatorConfig::default().v1_only()).await;
    let (connection, _) = connected(&emulator).await;
    assert_eq!(connection.library_api_version, None);
    assert_eq!(connection.library.tag_api(), TagApi::V1);
    let image = built_image(&connection, "library://acme/tools/old:inputs-00cc").await;
    let reference = libref("library://acme/tools/old");
    ok(
        connection
            .library
            .set_tags(&reference, &image, "amd64", &["stable".to_owned()])
            .await,
        "set tags",
    );
    let found = ok(
        connection
            .library
            .find_image(&reference, "stable", "amd64")
            .await,
        "find by v1 tag",
    );
    assert_eq!(found.map(|i| i.id), Some(image.id));
    let counters = emulator.counters();
    assert_eq!(counters.requests_to("POST /v1/tags/{container}"), 1);
    assert_eq!(counters.requests_to("POST /v2/tags/{container}"), 0);
    drop(connection);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_tag_for_an_unknown_container_is_an_error_with_context() {
    let emulator = start(EmulatorConfig::default()).await;
    let (connection, _) = connected(&emulator).await;
    let image = Image {
        id: "img-missing".into(),
        hash: String::new(),
        size: 0,
        container_id: "no-such-container".into(),
        arch: None,
        uploaded: true,
        ..Image::default()
    };
    let error = err(connection
        .library
        .set_tags(
            &libref("acme/tools/base"),
            &image,
            "amd64",
            &["x".to_owned()],
        )
        .await);
    assert_eq!(
        error.doing,
        "tagging image img-missing as acme/tools/base:x for amd64"
    );
    assert!(
        matches!(error.kind, ServiceErrorKind::Status { .. }),
        "{error}"
    );
    drop(connection);
    emulator.shutdown().await;
}
