use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::manifest::{LoadRequest, load};

fn write(root: &Path, path: &str, contents: &[u8]) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, contents).expect("write");
}

/// A small repository: base ← app (From + %files), and an unrelated tool.
fn repository(root: &Path) {
    write(
        root,
        "sifbake.yaml",
        b"version: 1\ndefaults:\n  library: library://acme/tools\n  arch: [amd64, arm64]\ntargets:\n  base:\n    def: base.def\n  app:\n    def: app/app.def\n    inputs: [\"requirements/*.txt\"]\n    args: { VERSION: \"1.0\" }\n  tool:\n    def: tool.def\n",
    );
    write(root, "base.def", b"Bootstrap: docker\nFrom: ubuntu:24.04\n");
    write(
        root,
        "app/app.def",
        b"Bootstrap: library\nFrom: acme/tools/base\n\n%files\n    run.sh /usr/local/bin/run.sh\n    data /data\n\n%post\n    echo {{ VERSION }}\n",
    );
    write(root, "app/run.sh", b"#!/bin/sh\necho run\n");
    write(root, "app/data/a.csv", b"x,y\n1,2\n");
    write(root, "requirements/base.txt", b"numpy\n");
    write(root, "tool.def", b"Bootstrap: docker\nFrom: alpine\n");
}

fn digests(root: &Path) -> (Manifest, Digests) {
    let manifest = load(&LoadRequest {
        manifest: root.join("sifbake.yaml"),
        root: None,
        display_base: root.to_path_buf(),
    })
    .unwrap_or_else(|d| panic!("{d:?}"));
    let graph = Graph::build(&manifest).unwrap_or_else(|d| panic!("{d:?}"));
    let digests = compute(&manifest, &graph).expect("digests");
    (manifest, digests)
}

fn digest_of(manifest: &Manifest, digests: &Digests, name: &str, arch: &str) -> String {
    let index = manifest
        .targets
        .iter()
        .position(|t| t.name == name)
        .expect("target");
    digests.get(index, arch).expect("digest").to_owned()
}

#[test]
fn two_clones_give_identical_digests() {
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    repository(one.path());
    repository(two.path());
    // Different modification times must not matter.
    let later = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    File::options()
        .write(true)
        .open(two.path().join("app/run.sh"))
        .expect("open")
        .set_modified(later)
        .expect("mtime");
    let (m1, d1) = digests(one.path());
    let (_, d2) = digests(two.path());
    assert_eq!(d1, d2);
    assert_ne!(
        digest_of(&m1, &d1, "app", "amd64"),
        digest_of(&m1, &d1, "app", "arm64")
    );
    for by_arch in &d1.per_target {
        for digest in by_arch.values() {
            assert_eq!(digest.len(), 64);
            assert!(
                digest
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
    }
}

#[test]
fn each_input_moves_the_digest_of_its_target_and_dependents_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    repository(root);
    let (manifest, before) = digests(root);
    let all = |d: &Digests| -> Vec<String> {
        ["base", "app", "tool"]
            .iter()
            .map(|n| digest_of(&manifest, d, n, "amd64"))
            .collect()
    };
    let original = all(&before);

    type Change = fn(&Path);
    let changes: [(&str, Change, [bool; 3]); 7] = [
        (
            "base definition",
            |r| write(r, "base.def", b"Bootstrap: docker\nFrom: ubuntu:25.04\n"),
            [true, true, false],
        ),
        (
            "a %files source",
            |r| write(r, "app/run.sh", b"#!/bin/sh\necho changed\n"),
            [false, true, false],
        ),
        (
            "a file in a %files directory",
            |r| write(r, "app/data/b.csv", b"new\n"),
            [false, true, false],
        ),
        (
            "an inputs match",
            |r| write(r, "requirements/base.txt", b"numpy==2\n"),
            [false, true, false],
        ),
        (
            "a build argument",
            |r| {
                let text = std::fs::read_to_string(r.join("sifbake.yaml")).expect("read");
                write(
                    r,
                    "sifbake.yaml",
                    text.replace("\"1.0\"", "\"1.1\"").as_bytes(),
                );
            },
            [false, true, false],
        ),
        (
            "the executable bit",
            |r| {
                let path = r.join("app/run.sh");
                let mut permissions = std::fs::metadata(&path).expect("meta").permissions();
                permissions.set_mode(0o755);
                std::fs::set_permissions(&path, permissions).expect("chmod");
            },
            [false, true, false],
        ),
        (
            "an unrelated file",
            |r| write(r, "README.md", b"hello\n"),
            [false, false, false],
        ),
    ];
    for (name, change, moved) in changes {
        let copy = tempfile::tempdir().expect("tempdir");
        repository(copy.path());
        change(copy.path());
        let (_, after) = digests(copy.path());
        let now = all(&after);
        for (index, target) in ["base", "app", "tool"].iter().enumerate() {
            assert_eq!(
                now[index] != original[index],
                moved[index],
                "{name}: {target}"
            );
        }
    }
}

#[test]
fn crlf_text_hashes_like_lf_text_but_binary_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "lf.txt", b"a\nb\n");
    write(dir.path(), "crlf.txt", b"a\r\nb\r\n");
    write(dir.path(), "lone-cr.txt", b"a\rb\n");
    write(dir.path(), "bin-lf", b"\0a\nb\n");
    write(dir.path(), "bin-crlf", b"\0a\r\nb\r\n");
    let hash = |p: &str| hash_file(&dir.path().join(p)).expect("hash").sha256;
    assert_eq!(hash("lf.txt"), hash("crlf.txt"));
    assert_ne!(hash("lf.txt"), hash("lone-cr.txt"));
    assert_ne!(hash("bin-lf"), hash("bin-crlf"));
    assert_eq!(hash_text(b"x\r\ny"), hash_text(b"x\ny"));
}

#[test]
fn crlf_split_across_chunks_is_still_one_line_ending() {
    let whole = b"line one\r\nline two\r\n\r\rend\r";
    for split in 0..=whole.len() {
        let mut hasher = Sha256::new();
        let held = feed_normalised(&mut hasher, &whole[..split], false);
        let held = feed_normalised(&mut hasher, &whole[split..], held);
        if held {
            hasher.update(b"\r");
        }
        let split_hash: [u8; 32] = hasher.finalize().into();
        assert_eq!(split_hash, hash_text(whole), "split at {split}");
    }
    assert_eq!(
        hash_text(whole),
        hash_text(b"line one\nline two\n\r\rend\r")
    );
}

#[test]
fn a_missing_file_names_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = hash_files(dir.path(), &["gone.txt"]).expect_err("missing");
    assert_eq!(error.path, "gone.txt");
    assert!(error.to_string().contains("cannot read `gone.txt`"));
}

#[test]
fn digests_computed_in_steps_equal_digests_computed_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    repository(dir.path());
    let (manifest, all) = digests(dir.path());
    let graph = Graph::build(&manifest).unwrap_or_else(|d| panic!("{d:?}"));
    let app = manifest
        .targets
        .iter()
        .position(|t| t.name == "app")
        .expect("app");
    let tool = manifest
        .targets
        .iter()
        .position(|t| t.name == "tool")
        .expect("tool");
    let mut wanted = vec![false; manifest.targets.len()];
    wanted[app] = true;
    let mut stepwise = Digests::default();
    stepwise.ensure(&manifest, &graph, &wanted).expect("app");
    // app and the base it builds on, not the unrelated tool.
    assert_eq!(
        digest_of(&manifest, &stepwise, "app", "amd64"),
        digest_of(&manifest, &all, "app", "amd64")
    );
    assert_eq!(
        digest_of(&manifest, &stepwise, "base", "arm64"),
        digest_of(&manifest, &all, "base", "arm64")
    );
    assert_eq!(stepwise.get(tool, "amd64"), None);
    stepwise
        .ensure(&manifest, &graph, &vec![true; manifest.targets.len()])
        .expect("all");
    assert_eq!(stepwise, all);
}

#[test]
fn file_hashes_are_lowercase_hex_sha256() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "abc.txt", b"abc");
    let hash = hash_file(&dir.path().join("abc.txt")).expect("hash");
    // SHA-256("abc"), FIPS 180-2's first example.
    assert_eq!(
        hash.sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(!hash.executable);
}

/// Digests are tags in users' libraries: a manifest that sets none of the later keys
/// (`labels`, `sign`, `mirrors`) must keep the digest it had before they existed.
#[test]
fn a_manifest_without_the_later_keys_keeps_its_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    repository(dir.path());
    let (manifest, digests) = digests(dir.path());
    assert_eq!(
        digest_of(&manifest, &digests, "app", "amd64"),
        "19f0d408182e90b4daa5df165f00badd34eb54207ae5f91d0f14e71ff2cf547c"
    );
}

/// Rewrites the fixture's manifest with `extra` under the `app` target.
fn app_with(root: &Path, extra: &str) {
    let manifest = format!(
        "version: 1\ndefaults:\n  library: library://acme/tools\n  arch: [amd64, arm64]\ntargets:\n  base:\n    def: base.def\n  app:\n    def: app/app.def\n    inputs: [\"requirements/*.txt\"]\n    args: {{ VERSION: \"1.0\" }}\n{extra}  tool:\n    def: tool.def\n"
    );
    write(root, "sifbake.yaml", manifest.as_bytes());
}

#[test]
fn labels_and_signing_move_the_digest_and_mirrors_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    repository(dir.path());
    let digest = |extra: &str| {
        app_with(dir.path(), extra);
        let (manifest, digests) = digests(dir.path());
        (
            digest_of(&manifest, &digests, "app", "amd64"),
            digest_of(&manifest, &digests, "tool", "amd64"),
        )
    };
    let (plain, tool) = digest("");
    assert_eq!(
        plain, "19f0d408182e90b4daa5df165f00badd34eb54207ae5f91d0f14e71ff2cf547c",
        "the rewritten fixture is the same manifest"
    );
    let (labelled, tool_after) = digest("    labels: {team: hpc}\n");
    assert_ne!(labelled, plain);
    assert_eq!(tool_after, tool, "only the labelled target moves");
    assert_ne!(digest("    labels: {team: bio}\n").0, labelled);
    let (signed, _) = digest("    sign: {key: SIGNING_KEY}\n");
    assert_ne!(signed, plain);
    assert_eq!(
        digest("    sign: {key: OTHER_KEY, passphrase: PASS, keystore: true}\n").0,
        signed,
        "which key signs is not an input"
    );
    assert_eq!(digest("    sign: false\n").0, plain);
    assert_eq!(
        digest("    mirrors: [\"oras://ghcr.io/acme/{{target}}\"]\n").0,
        plain
    );
    assert_eq!(digest("    labels: {}\n").0, plain);
}
