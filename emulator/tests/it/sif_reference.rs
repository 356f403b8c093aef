//! sif/v2 (the SIF reference implementation, conformance/cmd/sifcheck) reads every emulated build.
//!
//! What a SingularityCE build writes (internal/pkg/build/assemblers/sif.go, `createSIF`):
//! the definition (`DataDeffile`) first, then the bundle's generic JSON objects sorted by
//! name, then one partition with `PartPrimSys` and the build architecture, which sif/v2
//! copies into the header; every object in the default group 1, none linked; the launch
//! script `#!/usr/bin/env run-singularity`.

use std::path::{Path, PathBuf};

use scs_emulator::sif;
use serde_json::Value;
use tokio::process::Command;

use crate::go_tools::go_tool;
use crate::support::{Client, download, finish, start, submit};

/// Every architecture sif/v2 v2.24.2 knows (`getSIFArch`, pkg/sif/arch.go).
const SIF_ARCHES: [&str; 13] = [
    "386", "amd64", "arm", "arm64", "ppc64", "ppc64le", "mips", "mipsle", "mips64", "mips64le",
    "s390x", "riscv64", "loong64",
];

const DEFINITIONS: [&str; 4] = [
    "Bootstrap: docker\nFrom: alpine:3.19\n\n%post\n    apk add curl\n",
    "Bootstrap: library\nFrom: alpine:3.19\n# emulator: log-bytes=1000\n%runscript\n    echo hi\n",
    "BootStrap: debootstrap\nOSVersion: bookworm\nMirrorURL: http://deb.debian.org/debian\n%labels\n    Author x\n",
    "Bootstrap: docker\nFrom: golang:1.22\nStage: build\n%post\n    go version\n\nBootstrap: docker\nFrom: alpine\n%files from build\n    /usr/local/go/VERSION /VERSION\n%environment\n    export A=1\n",
];

/// Runs sifcheck on `files`; returns its exit success and one JSON document per file.
async fn sifcheck(tool: &Path, files: &[PathBuf]) -> (bool, Vec<Value>, String) {
    let output = Command::new(tool)
        .args(files)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let docs = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), docs, stderr)
}

/// Asserts that `doc` (sif/v2's reading of `bytes`) holds what a SingularityCE build of
/// `definition` for `arch` holds.
fn assert_like_a_singularity_build(doc: &Value, bytes: &[u8], definition: &str, arch: &str) {
    let context = format!("{arch}: {doc}");
    assert_eq!(doc["primaryArch"], arch, "{context}");
    assert_eq!(doc["version"], "01", "{context}");
    assert_eq!(
        doc["launchScript"], "#!/usr/bin/env run-singularity\n",
        "{context}"
    );
    assert_ne!(
        doc["id"], "00000000-0000-0000-0000-000000000000",
        "{context}"
    );
    let descriptors = doc["descriptors"].as_array().unwrap();
    let used = descriptors.len() as i64;
    let total = doc["descriptorsTotal"].as_i64().unwrap();
    assert_eq!(doc["descriptorsFree"].as_i64().unwrap(), total - used);
    let data_end = doc["dataOffset"].as_i64().unwrap() + doc["dataSize"].as_i64().unwrap();
    assert_eq!(
        data_end,
        bytes.len() as i64,
        "the data section ends the file"
    );

    for (index, descriptor) in descriptors.iter().enumerate() {
        assert_eq!(descriptor["id"], index + 1, "ids in order: {context}");
        assert_eq!(descriptor["group"], 1, "default object group: {context}");
        assert_eq!(descriptor["link"], 0, "nothing linked: {context}");
    }
    let (first, rest) = descriptors.split_first().unwrap();
    let (last, middle) = rest.split_last().unwrap();
    assert_eq!(first["datatype"], "Def.FILE", "{context}");
    assert_eq!(first["text"], definition, "the definition as submitted");
    assert_eq!(last["datatype"], "FS", "{context}");
    let partition = &last["partition"];
    assert_eq!(partition["type"], "*System", "PartPrimSys: {context}");
    assert_eq!(partition["arch"], arch, "{context}");
    // No root filesystem is built, and a Squashfs type would make SingularityCE try to
    // mount these placeholder bytes; Raw says what they are.
    assert_eq!(partition["fs"], "Raw", "{context}");
    let names: Vec<&str> = middle
        .iter()
        .map(|d| {
            assert_eq!(d["datatype"], "JSON.Generic", "{context}");
            serde_json::from_str::<Value>(d["text"].as_str().unwrap()).expect("valid JSON");
            d["name"].as_str().unwrap()
        })
        .collect();
    assert!(names.is_sorted(), "JSON objects sorted by name: {names:?}");

    // The emulator's own reader (which the library uses for a pushed image's arch) agrees.
    let own = sif::read(bytes).unwrap();
    assert_eq!(own.arch, Some(arch));
    assert_eq!(own.objects.len(), descriptors.len());
    assert_eq!(own.objects[0].2, definition.as_bytes());
}

/// Asserts that sif/v2, writing the objects it read from `path`, writes `bytes` again:
/// the same offsets, alignment, padding, descriptor fields and header.
async fn assert_laid_out_as_sif_v2_would(tool: &Path, path: &Path, bytes: &[u8]) {
    let copy = path.with_extension("sif-v2.sif");
    let output = Command::new(tool)
        .arg("-rewrite")
        .arg(&copy)
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rewritten = std::fs::read(&copy).unwrap();
    let first_difference = bytes.iter().zip(&rewritten).position(|(a, b)| a != b);
    assert!(
        first_difference.is_none() && bytes.len() == rewritten.len(),
        "{}: sif/v2 writes {} bytes, the emulator {}; first difference at {first_difference:?}",
        path.display(),
        rewritten.len(),
        bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sif_v2_reads_every_emulated_build_as_a_singularity_build() {
    let Some(tool) = go_tool("sifcheck", "./cmd/sifcheck") else {
        return;
    };
    let emulator = start().await;
    let client = Client::new(&emulator);
    let work = tempfile::tempdir().unwrap();
    // Each definition for a few architectures, and every architecture at least once.
    let mut builds: Vec<(&str, &str)> = Vec::new();
    for (index, arch) in SIF_ARCHES.iter().enumerate() {
        builds.push((DEFINITIONS[index % DEFINITIONS.len()], arch));
    }
    builds.push((DEFINITIONS[3], "amd64"));
    builds.push((DEFINITIONS[0], "arm64"));

    let mut files = Vec::new();
    for (index, (definition, arch)) in builds.iter().enumerate() {
        let reference = format!("library://sif/reference/image{index}:latest");
        let info = submit(&client, definition, &reference, arch).await;
        let (log, info) = finish(&client, info["id"].as_str().unwrap()).await;
        assert!(
            info["imageSize"].as_u64().is_some_and(|size| size > 0),
            "{arch}: {info} {log}"
        );
        let bytes = download(&client, &format!("sif/reference/image{index}:latest"), arch).await;
        let path = work.path().join(format!("image{index}-{arch}.sif"));
        std::fs::write(&path, &bytes).unwrap();
        files.push((path, bytes));
    }
    let paths: Vec<PathBuf> = files.iter().map(|(path, _)| path.clone()).collect();
    let (ok, docs, stderr) = sifcheck(&tool, &paths).await;
    assert!(ok, "sif/v2 refused an emulated image: {stderr}");
    assert_eq!(docs.len(), builds.len());
    for ((doc, (path, bytes)), (definition, arch)) in docs.iter().zip(&files).zip(&builds) {
        assert_like_a_singularity_build(doc, bytes, definition, arch);
        assert_laid_out_as_sif_v2_would(&tool, path, bytes).await;
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn sifcheck_refuses_what_is_not_a_whole_sif() {
    let Some(tool) = go_tool("sifcheck", "./cmd/sifcheck") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let image = sif::write_emulated_image(
        sif::arch_code("amd64").unwrap(),
        b"Bootstrap: scratch\n",
        b"{}",
        b"partition",
    );
    let whole = work.path().join("whole.sif");
    std::fs::write(&whole, &image).unwrap();
    let (ok, docs, _) = sifcheck(&tool, std::slice::from_ref(&whole)).await;
    assert!(ok);
    assert_like_a_singularity_build(&docs[0], &image, "Bootstrap: scratch\n", "amd64");
    assert_laid_out_as_sif_v2_would(&tool, &whole, &image).await;

    // Cut inside the descriptor table: sif/v2 cannot read the descriptors.
    let truncated = work.path().join("truncated.sif");
    std::fs::write(&truncated, &image[..5000]).unwrap();
    let (ok, _, stderr) = sifcheck(&tool, &[truncated]).await;
    assert!(!ok, "a truncated SIF must be refused");
    assert!(stderr.contains("truncated.sif"), "{stderr}");
}
