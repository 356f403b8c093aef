//! The SIF reference (sylabs/sif v2 `integrity`, through `conformance/cmd/sifsign`) judges
//! sifbake's signatures, and sifbake verifies the reference's: every image sifbake signs
//! verifies with the Go verifier; one changed byte of a data object makes both reject it;
//! keys and signatures made by the Go side (as `singularity key newpair` and `sign`) work
//! here.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{PASSPHRASE, flip, go_keys, image, public, secret, sifsign, write};
use sifbake_sif::format::{DATA_PARTITION, Sif};
use sifbake_sif::integrity::{VerifyError, sign_file, verify_file};
use sifbake_sif::keys::{PublicKey, SecretKey};

fn run(tool: &Path, args: &[&str]) -> Output {
    Command::new(tool).args(args).output().expect("run sifsign")
}

fn go_verify(tool: &Path, image: &Path, key: &Path) -> Output {
    run(
        tool,
        &[
            "verify",
            "-key",
            key.to_str().unwrap(),
            image.to_str().unwrap(),
        ],
    )
}

fn partition_offset(path: &Path) -> u64 {
    let sif = Sif::read(&mut std::fs::File::open(path).unwrap()).unwrap();
    sif.used()
        .find(|d| d.datatype == DATA_PARTITION)
        .map(|d| d.offset as u64)
        .unwrap()
}

/// A SIF made by siftool (Debian's sylabs/sif CLI), when it is installed.
fn siftool_image(dir: &Path) -> Option<std::path::PathBuf> {
    let path = dir.join("siftool.sif");
    let made = Command::new("siftool")
        .arg("new")
        .arg(&path)
        .output()
        .is_ok_and(|o| o.status.success());
    if !made {
        eprintln!("note: siftool is not installed; signing only sifbake-written images");
        return None;
    }
    let payload = dir.join("payload.bin");
    std::fs::write(&payload, vec![7_u8; 70_000]).unwrap();
    let def = dir.join("def.txt");
    std::fs::write(&def, "Bootstrap: library\nFrom: alpine\n").unwrap();
    let labels = dir.join("labels.json");
    std::fs::write(&labels, "{\"a\":\"b\"}").unwrap();
    // Two object groups: `singularity sign` signs each, and so must sifbake.
    for (datatype, file, extra) in [
        ("1", &def, vec!["--groupid", "1"]),
        (
            "4",
            &payload,
            vec![
                "--groupid",
                "1",
                "--parttype",
                "2",
                "--partfs",
                "1",
                "--partarch",
                "2",
            ],
        ),
        ("6", &labels, vec!["--groupid", "2"]),
    ] {
        let output = Command::new("siftool")
            .arg("add")
            .args(["--datatype", datatype])
            .args(extra)
            .arg(&path)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "siftool add: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Some(path)
}

#[test]
fn images_sifbake_signs_verify_with_the_reference_and_tampering_fails_both() {
    let (Some(tool), Some(keys_dir)) = (sifsign(), go_keys()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut images = vec![
        write(dir.path(), "small.sif", &image(100)),
        write(dir.path(), "large.sif", &image(3 << 20)),
    ];
    images.extend(siftool_image(dir.path()));
    let key = secret(keys_dir, "signer");
    let public_path = keys_dir.join("signer.pub.asc");
    let mut keys = vec![public(keys_dir, "signer")];
    for path in &images {
        let signed = sign_file(path, &key).unwrap();
        let groups = if path.ends_with("siftool.sif") { 2 } else { 1 };
        assert_eq!(signed.signatures.len(), groups, "{}", path.display());
        let output = go_verify(&tool, path, &public_path);
        assert!(
            output.status.success(),
            "the reference rejects {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        verify_file(path, &mut keys).unwrap();

        // With another key the reference cannot verify either.
        let other = go_verify(&tool, path, &keys_dir.join("other.pub.asc"));
        assert!(!other.status.success());

        flip(path, partition_offset(path) + 10);
        let output = go_verify(&tool, path, &public_path);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("integrity"), "{stderr}");
        assert!(matches!(
            verify_file(path, &mut keys),
            Err(VerifyError::ObjectMismatch { .. })
        ));
    }
}

#[test]
fn images_the_reference_signs_verify_here() {
    let (Some(tool), Some(keys_dir)) = (sifsign(), go_keys()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A fresh RSA 4096 key, as `singularity key newpair` makes it, passphrase-protected.
    let private = dir.path().join("new.key.asc");
    let public_path = dir.path().join("new.pub.asc");
    let output = run(
        &tool,
        &[
            "keygen",
            "-private",
            private.to_str().unwrap(),
            "-public",
            public_path.to_str().unwrap(),
            "-passphrase",
            PASSPHRASE,
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let fingerprint = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let new_key = PublicKey::from_armored(&std::fs::read_to_string(&public_path).unwrap()).unwrap();
    assert_eq!(new_key.fingerprint(), fingerprint);

    let path = write(dir.path(), "go.sif", &image(50_000));
    let output = run(
        &tool,
        &[
            "sign",
            "-key",
            private.to_str().unwrap(),
            "-passphrase",
            PASSPHRASE,
            path.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let mut keys = vec![new_key.clone()];
    let verified = verify_file(&path, &mut keys).unwrap();
    assert_eq!(verified[0].fingerprint, fingerprint);
    let mut wrong = vec![public(keys_dir, "signer")];
    assert!(matches!(
        verify_file(&path, &mut wrong),
        Err(VerifyError::UnknownSigner { fingerprint: ref fp }) if *fp == fingerprint
    ));

    // sifbake signs with the same fresh key, and the reference accepts both signatures.
    let key =
        SecretKey::from_armored(&std::fs::read_to_string(&private).unwrap(), PASSPHRASE).unwrap();
    sign_file(&path, &key).unwrap();
    assert_eq!(verify_file(&path, &mut keys).unwrap().len(), 2);
    let output = go_verify(&tool, &path, &public_path);
    assert!(output.status.success(), "{output:?}");

    flip(&path, partition_offset(&path) + 1);
    assert!(verify_file(&path, &mut keys).is_err());
    assert!(!go_verify(&tool, &path, &public_path).status.success());
}
