//! Fixtures shared by the sif crate's tests: keys and small images. No private key is
//! committed: keys are made fresh, Ed25519 ones by pgp (`test_keys.rs`, no Go needed) and,
//! for the shapes only the reference can vouch for (RSA 4096 as `singularity key newpair`
//! makes it, expired, revoked, sign-incapable), by `conformance/cmd/sifsign keygen`.

#![allow(dead_code)]

#[path = "../../../conformance/go_tools.rs"]
pub mod go_tools;
#[path = "../../../emulator/tests/it/test_keys.rs"]
pub mod test_keys;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sifbake_sif::format::{DATA_DEFFILE, DATA_GENERIC_JSON, DATA_PARTITION};
use sifbake_sif::keys::{PublicKey, SecretKey};
use sifbake_sif::write::{ImageSpec, ObjectSpec, write_image};

/// The passphrase of the `protected` key.
pub const PASSPHRASE: &str = "correct horse";

/// An Ed25519 key pair made by pgp, loaded.
pub fn ed25519(user: &str) -> (SecretKey, PublicKey) {
    let key = test_keys::generate(user, None);
    (
        SecretKey::from_armored(&key.secret, "").expect("load the fresh key"),
        PublicKey::from_armored(&key.public).expect("load the fresh public key"),
    )
}

/// The sifsign driver, or `None` (with a note) when Go is missing and not required.
pub fn sifsign() -> Option<PathBuf> {
    go_tools::go_tool("sifsign", "./cmd/sifsign")
}

/// Keys made by the Go reference as `singularity key newpair` makes them, once per test
/// process: `signer` (RSA 4096), `protected` (RSA 4096, [`PASSPHRASE`]), `other`,
/// `expired`, `revoked`, `nosign` (RSA 2048, to keep the tests quick), each as
/// `NAME.key.asc` and `NAME.pub.asc` in the returned directory.
pub fn go_keys() -> Option<&'static Path> {
    static KEYS: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let tool = sifsign()?;
        let dir = tempfile::tempdir().expect("a key directory");
        let cases: [(&str, &[&str]); 6] = [
            ("signer", &[]),
            ("protected", &["-passphrase", PASSPHRASE]),
            ("other", &["-bits", "2048"]),
            ("expired", &["-bits", "2048", "-expired"]),
            ("revoked", &["-bits", "2048", "-revoked"]),
            ("nosign", &["-bits", "2048", "-no-sign"]),
        ];
        for (name, flags) in cases {
            let output = Command::new(&tool)
                .arg("keygen")
                .arg("-private")
                .arg(dir.path().join(format!("{name}.key.asc")))
                .arg("-public")
                .arg(dir.path().join(format!("{name}.pub.asc")))
                .args(["-name", name])
                .args(flags)
                .output()
                .expect("run sifsign keygen");
            assert!(output.status.success(), "keygen {name}: {output:?}");
        }
        Some(dir)
    })
    .as_ref()
    .map(tempfile::TempDir::path)
}

/// The armored text of a Go-made key file (`signer.key.asc`, `other.pub.asc`, ...).
pub fn armored(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).expect("read the key")
}

pub fn secret(dir: &Path, name: &str) -> SecretKey {
    let passphrase = if name == "protected" { PASSPHRASE } else { "" };
    SecretKey::from_armored(&armored(dir, &format!("{name}.key.asc")), passphrase)
        .expect("load the Go-made key")
}

pub fn public(dir: &Path, name: &str) -> PublicKey {
    PublicKey::from_armored(&armored(dir, &format!("{name}.pub.asc"))).expect("load the public key")
}

/// An image shaped like the emulator's builds: definition, JSON, an amd64 primary
/// partition of `partition_len` bytes.
pub fn image(partition_len: usize) -> Vec<u8> {
    let mut extra = Vec::new();
    extra.extend_from_slice(&4_i32.to_le_bytes()); // FsRaw
    extra.extend_from_slice(&2_i32.to_le_bytes()); // PartPrimSys
    extra.extend_from_slice(b"02\0");
    write_image(&ImageSpec {
        id: *b"0123456789abcdef",
        time: 1_577_836_800,
        arch: *b"02\0",
        objects: vec![
            ObjectSpec {
                datatype: DATA_DEFFILE,
                name: String::new(),
                extra: Vec::new(),
                data: b"Bootstrap: docker\nFrom: alpine\n".to_vec(),
            },
            ObjectSpec {
                datatype: DATA_GENERIC_JSON,
                name: "scs-emulator.json".to_owned(),
                extra: Vec::new(),
                data: b"{\"emulated\":true}".to_vec(),
            },
            ObjectSpec {
                datatype: DATA_PARTITION,
                name: "emulated-rootfs".to_owned(),
                extra,
                data: (0..partition_len).map(|i| (i % 251) as u8).collect(),
            },
        ],
    })
}

/// Writes `bytes` to `name` in `dir` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write the image");
    path
}

/// Flips one byte of the file at `offset`.
pub fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[offset as usize] ^= 0xff;
    std::fs::write(path, bytes).expect("write");
}
