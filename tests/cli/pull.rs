//! Image files out of the library: `build --pull DIR`, `sifbake pull`, faults on the
//! download, and Sylabs' own library client (conformance/cmd/libclient) exchanging files
//! with sifbake's client both ways, single-part and multipart.

use std::path::{Path, PathBuf};

use scs_emulator::{FaultAction, FaultRule};
use sha2::{Digest, Sha256};

use crate::go_tools::go_tool;
use crate::support::{Emulated, Repo, TOKEN};

/// `sha256.<hex>` of a file.
fn hash_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256.{hex}")
}

/// The names in `dir`, sorted (none when it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The examples' files, as `build --pull` and `pull` name them.
const EXAMPLE_FILES: [&str; 7] = [
    "analysis.sif",
    "base_amd64.sif",
    "base_arm64.sif",
    "bwa.sif",
    "python.sif",
    "r.sif",
    "samtools.sif",
];

#[test]
fn build_pull_writes_the_library_files_and_pull_fetches_them_again() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--pull", "out", "--format", "json"])
        .run()
        .expect_code(0);
    let result = run.json();
    let out = repo.path().join("out");
    assert_eq!(listing(&out), EXAMPLE_FILES);
    let pulled = result["pulled"].as_array().expect("a pulled list");
    assert_eq!(pulled.len(), EXAMPLE_FILES.len());
    for file in pulled {
        let path = PathBuf::from(file["path"].as_str().expect("path"));
        let (target, arch) = (
            file["target"].as_str().expect("t"),
            file["arch"].as_str().expect("a"),
        );
        // The library's record of the tag the run set: the same bytes.
        let container = match target {
            "bwa" | "samtools" => format!("library://acme-lab/apps/{target}"),
            _ => format!("library://acme-lab/tools/{target}"),
        };
        let image = emulated
            .image(&container, "main", arch)
            .expect("tagged main");
        assert_eq!(hash_of(&path), image.hash, "{target} {arch}");
        assert_eq!(file["hash"].as_str(), Some(image.hash.as_str()));
        assert_eq!(file["size"].as_u64(), Some(image.size));
    }
    assert!(
        run.stderr().contains("sifbake: pulled `base` (arm64)"),
        "{}",
        run.stderr()
    );

    // `sifbake pull` names the same images by the ref's tags.
    let run = emulated
        .sifbake(repo.path())
        .args(["pull", "again", "--targets", "base,bwa"])
        .run()
        .expect_code(0);
    let again = repo.path().join("again");
    assert_eq!(
        listing(&again),
        ["base_amd64.sif", "base_arm64.sif", "bwa.sif"]
    );
    for name in listing(&again) {
        assert_eq!(
            std::fs::read(again.join(&name)).expect("pulled"),
            std::fs::read(out.join(&name)).expect("built"),
            "{name}"
        );
    }
    // stdout is the list of files, for scripts.
    assert_eq!(run.stdout().lines().count(), 3, "{}", run.stdout());
}

#[test]
fn pulling_an_image_never_built_names_target_and_tag() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let run = emulated
        .sifbake(repo.path())
        .args(["pull", "out", "--targets", "r", "--format", "json"])
        .run()
        .expect_code(1);
    assert!(
        run.stderr().contains("cannot pull `r` (amd64) to ")
            && run
                .stderr()
                .contains("the library has no image acme-lab/tools/r:main for amd64"),
        "{}",
        run.stderr()
    );
    assert_eq!(run.json()["pulled"], serde_json::json!([]));
    assert!(listing(&repo.path().join("out")).is_empty());
}

#[test]
fn failed_parts_are_retried_and_a_lasting_fault_leaves_no_file() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    emulated
        .sifbake(repo.path())
        .args(["build", "--targets", "r"])
        .run()
        .expect_code(0);
    emulated.add_fault(
        "GET _download/*",
        2,
        FaultAction::Status {
            status: 503,
            message: None,
        },
    );
    let run = emulated
        .sifbake(repo.path())
        .args(["pull", "out", "--targets", "r"])
        .run()
        .expect_code(0);
    assert!(
        run.stderr().contains("503"),
        "the retries are reported: {}",
        run.stderr()
    );
    assert_eq!(listing(&repo.path().join("out")), ["r.sif"]);

    emulated.add_rule(FaultRule::new(
        "GET _download/*",
        None,
        FaultAction::Status {
            status: 500,
            message: None,
        },
    ));
    let run = emulated
        .sifbake(repo.path())
        .args(["pull", "failed", "--targets", "r"])
        .run()
        .expect_code(3);
    assert!(run.stderr().contains("cannot pull `r`"), "{}", run.stderr());
    assert!(listing(&repo.path().join("failed")).is_empty());
}

#[test]
fn a_file_that_is_not_the_image_is_refused_and_removed() {
    let repo = Repo::from_examples();
    let library = tempfile::tempdir().expect("library dir");
    let emulate = |args: &[&str]| {
        crate::support::Sifbake::new(repo.path())
            .args(args)
            .args(["--emulate", "--emulate-dir"])
            .arg(library.path())
            .run()
    };
    let _ = emulate(&["build", "--targets", "r"]).expect_code(0);
    // The library's copy of the file changes behind its record's back.
    let images = library.path().join("images");
    for name in listing(&images) {
        let path = images.join(name);
        let mut bytes = std::fs::read(&path).expect("image");
        bytes[100] ^= 0xff;
        std::fs::write(&path, bytes).expect("corrupt");
    }
    let run = emulate(&["pull", "out", "--targets", "r"]).expect_code(3);
    assert!(run.stderr().contains("has SHA-256"), "{}", run.stderr());
    assert!(listing(&repo.path().join("out")).is_empty());
}

/// A client of the emulator through sifbake's library API, and a runtime to drive it.
fn api(emulated: &Emulated) -> (tokio::runtime::Runtime, sifbake::scs::LibraryClient) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token = sifbake::scs::Token::new(TOKEN).expect("token");
    let options = sifbake::scs::ConnectOptions {
        remote: emulated.url(),
        ..sifbake::scs::ConnectOptions::new(token)
    };
    let connection = runtime
        .block_on(sifbake::scs::connect(&options))
        .expect("connect");
    (runtime, connection.library)
}

/// A file of `size` bytes: the library takes any file, SIF or not.
fn payload(dir: &Path, name: &str, size: usize) -> PathBuf {
    let path = dir.join(name);
    let bytes: Vec<u8> = (0..size).map(|n| (n * 13 % 251) as u8).collect();
    std::fs::write(&path, bytes).expect("write");
    path
}

fn libclient(emulated: &Emulated, args: &[&str]) -> String {
    let driver = go_tool("libclient", "./cmd/libclient").expect("checked by the caller");
    let output = std::process::Command::new(driver)
        .args(["-url", &emulated.url(), "-token", TOKEN, "-arch", "amd64"])
        .args(args)
        .output()
        .expect("run libclient");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "libclient {args:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_library_client_pulls_what_sifbake_uploaded() {
    if go_tool("libclient", "./cmd/libclient").is_none() {
        return;
    }
    let emulated = Emulated::start();
    let (runtime, library) = api(&emulated);
    let dir = tempfile::tempdir().expect("tempdir");
    use sifbake::scs::Library;
    // One file in one PUT, one above 64 MiB in parts.
    for (name, size) in [("small.sif", 700_000), ("big.sif", (64 << 20) + 4321)] {
        let file = payload(dir.path(), name, size);
        let container =
            sifbake::libref::LibraryRef::parse("library://acme/uploads/image").expect("ref");
        let tag = name.trim_end_matches(".sif").to_owned();
        runtime.block_on(async {
            let image = library
                .upload_image(&container, "amd64", &file)
                .await
                .expect("upload");
            library
                .set_tags(&container, &image, "amd64", std::slice::from_ref(&tag))
                .await
                .expect("tag");
        });
        let out = dir.path().join(format!("{tag}.libclient"));
        let said = libclient(
            &emulated,
            &[
                "pull",
                &format!("acme/uploads/image:{tag}"),
                &out.to_string_lossy(),
            ],
        );
        assert!(said.contains("download=ranged/"), "{said}");
        assert!(
            std::fs::read(&out).expect("pulled") == std::fs::read(&file).expect("original"),
            "{name}"
        );
    }
}

#[test]
fn sifbake_downloads_what_the_library_client_pushed() {
    if go_tool("libclient", "./cmd/libclient").is_none() {
        return;
    }
    let emulated = Emulated::start();
    let (runtime, library) = api(&emulated);
    let dir = tempfile::tempdir().expect("tempdir");
    use sifbake::scs::Library;
    for (name, size, path) in [
        ("small.sif", 300_000, "v2-single"),
        ("big.sif", (64 << 20) + 999, "v2-multipart/2"),
    ] {
        let file = payload(dir.path(), name, size);
        let tag = name.trim_end_matches(".sif");
        let said = libclient(
            &emulated,
            &[
                "push",
                &file.to_string_lossy(),
                &format!("acme/pushed/image:{tag}"),
            ],
        );
        assert!(said.contains(&format!("upload={path}")), "{said}");
        let container =
            sifbake::libref::LibraryRef::parse("library://acme/pushed/image").expect("ref");
        let out = dir.path().join(format!("{tag}.sifbake"));
        let downloaded = runtime
            .block_on(library.download_image(&container, tag, "amd64", &out))
            .expect("download");
        assert!(downloaded.ranged);
        assert_eq!(downloaded.image.hash, hash_of(&file));
        assert!(
            std::fs::read(&out).expect("pulled") == std::fs::read(&file).expect("original"),
            "{name}"
        );
    }
}
