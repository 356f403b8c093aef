//! Fixtures shared by the sif crate's tests: keys made by the conformance driver
//! (`conformance/cmd/sifsign keygen`, as `singularity key newpair`) and small images.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sifbake_sif::format::{DATA_DEFFILE, DATA_GENERIC_JSON, DATA_PARTITION};
use sifbake_sif::keys::{PublicKey, SecretKey};
use sifbake_sif::write::{ImageSpec, ObjectSpec, write_image};

/// The passphrase of `protected.key.asc`.
pub const PASSPHRASE: &str = "correct horse";

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn armored(name: &str) -> String {
    std::fs::read_to_string(data(name)).expect("read the key fixture")
}

pub fn secret(name: &str) -> SecretKey {
    SecretKey::from_armored(&armored(name), "").expect("load the fixture key")
}

pub fn public(name: &str) -> PublicKey {
    PublicKey::from_armored(&armored(name)).expect("load the fixture public key")
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
