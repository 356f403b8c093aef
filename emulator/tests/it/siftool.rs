//! siftool (Debian package `siftool`) accepts every image the emulator builds, and its
//! `Def.FILE` object holds the submitted definition.

use std::path::Path;

use tokio::process::Command;

use crate::support::{Client, download, external_tool_available, finish, start, submit};

async fn siftool(args: &[&str], image: &Path) -> String {
    let output = Command::new("siftool")
        .args(args)
        .arg(image)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "siftool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siftool_reads_every_emulated_image() {
    if !external_tool_available("siftool", crate::support::on_path("siftool")) {
        return;
    }
    let emulator = start().await;
    let client = Client::new(&emulator);
    let work = tempfile::tempdir().unwrap();
    let definitions = [
        (
            "Bootstrap: docker\nFrom: alpine:3.19\n\n%post\n    apk add curl\n",
            "amd64",
        ),
        (
            "Bootstrap: library\nFrom: alpine:3.19\n# emulator: log-bytes=1000\n%runscript\n    echo hi\n",
            "arm64",
        ),
        (
            "BootStrap: debootstrap\nOSVersion: bookworm\nMirrorURL: http://deb.debian.org/debian\n%labels\n    Author x\n",
            "ppc64le",
        ),
    ];
    for (index, (definition, arch)) in definitions.iter().enumerate() {
        let info = submit(
            &client,
            definition,
            &format!("library://sif/tool/image{index}"),
            arch,
        )
        .await;
        finish(&client, info["id"].as_str().unwrap()).await;
        let bytes = download(&client, &format!("sif/tool/image{index}:latest"), arch).await;
        let path = work.path().join(format!("image{index}.sif"));
        std::fs::write(&path, &bytes).unwrap();

        let list = siftool(&["list"], &path).await;
        assert!(list.contains("Def.FILE"), "{list}");
        assert!(list.contains("JSON.Generic"), "{list}");
        assert!(list.contains(&format!("FS (Raw/*System/{arch})")), "{list}");
        let header = siftool(&["header"], &path).await;
        assert!(
            header.contains(&format!("Primary Architecture: {arch}")),
            "{header}"
        );
        assert!(header.contains("Descriptors Total:    48"), "{header}");
        for id in ["1", "2", "3"] {
            let info = siftool(&["info", id], &path).await;
            let has_id = info.lines().any(|line| {
                let line = line.trim();
                line.starts_with("ID:") && line.ends_with(&format!(" {id}"))
            });
            assert!(has_id, "{info}");
        }
        let partition = siftool(&["info", "3"], &path).await;
        assert!(
            partition.contains("Partition Type:   *System"),
            "{partition}"
        );
        assert!(
            partition.contains(&format!("Architecture:     {arch}")),
            "{partition}"
        );
        let deffile = siftool(&["dump", "1"], &path).await;
        assert_eq!(
            &deffile, definition,
            "Def.FILE holds the submitted definition"
        );
        let metadata = siftool(&["dump", "2"], &path).await;
        assert!(metadata.contains("\"emulated\": true"), "{metadata}");
    }
    emulator.shutdown().await;
}
