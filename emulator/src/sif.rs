//! The emulator's images, written and read with the `sifbake-sif` crate (the SIF layer
//! sifbake itself uses): layout as in sylabs/sif v2, which `tests/it/sif_reference.rs`
//! checks byte for byte.
//!
//! An emulated image holds three objects: the definition (`Def.FILE`), a JSON object that
//! says the image is emulated, and a small raw partition, marked as the primary system
//! partition so that the header's architecture is the build architecture, as a real build's
//! is. It contains no runnable filesystem. The writer is deterministic: timestamps are fixed
//! and the image id is derived from the content.

use sha2::{Digest, Sha256};
use sifbake_sif::format::{DATA_SIGNATURE, Sif};
use sifbake_sif::keys::hex_upper;
use sifbake_sif::write::{DESCRIPTORS_OFFSET, ImageSpec, ObjectSpec, write_image};

pub use sifbake_sif::format::{DATA_DEFFILE, DATA_GENERIC_JSON, DATA_PARTITION};

/// Fixed creation time of emulated images (2020-01-01T00:00:00Z), for reproducibility.
pub const FIXED_TIME: i64 = 1_577_836_800;
/// `FsRaw`.
const FS_RAW: i32 = 4;
/// `PartPrimSys`.
const PART_PRIMARY_SYSTEM: i32 = 2;

/// Returns the SIF header code of a Go architecture name, or `None` if SIF has none.
pub fn arch_code(arch: &str) -> Option<[u8; 3]> {
    let code: &[u8; 2] = match arch {
        "386" => b"01",
        "amd64" => b"02",
        "arm" => b"03",
        "arm64" => b"04",
        "ppc64" => b"05",
        "ppc64le" => b"06",
        "mips" => b"07",
        "mipsle" => b"08",
        "mips64" => b"09",
        "mips64le" => b"10",
        "s390x" => b"11",
        "riscv64" => b"12",
        "loong64" => b"13",
        _ => return None,
    };
    Some([code[0], code[1], 0])
}

/// Returns the Go architecture name of a SIF header code.
pub fn arch_name(code: [u8; 3]) -> Option<&'static str> {
    const NAMES: [&str; 13] = [
        "386", "amd64", "arm", "arm64", "ppc64", "ppc64le", "mips", "mipsle", "mips64", "mips64le",
        "s390x", "riscv64", "loong64",
    ];
    NAMES.into_iter().find(|name| arch_code(name) == Some(code))
}

/// One data object to store.
#[derive(Debug, Clone)]
pub struct DataObject {
    /// The SIF data type (`DATA_*`).
    pub data_type: i32,
    /// The descriptor name (at most 128 bytes).
    pub name: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Writes an emulated image: definition, emulation JSON and a raw primary partition.
///
/// `arch` must be known to SIF (see [`arch_code`]); the caller validates it when the build is
/// submitted. The same inputs always give the same bytes.
pub fn write_emulated_image(
    arch: [u8; 3],
    definition: &[u8],
    metadata_json: &[u8],
    partition: &[u8],
) -> Vec<u8> {
    let objects = [
        DataObject {
            data_type: DATA_DEFFILE,
            name: String::new(),
            data: definition.to_vec(),
        },
        DataObject {
            data_type: DATA_GENERIC_JSON,
            name: "scs-emulator.json".to_owned(),
            data: metadata_json.to_vec(),
        },
        DataObject {
            data_type: DATA_PARTITION,
            name: "emulated-rootfs".to_owned(),
            data: partition.to_vec(),
        },
    ];
    write(arch, &objects)
}

/// Writes a SIF file holding `objects` in order, all in group 1, with the fixed time and
/// an id derived from the content.
fn write(arch: [u8; 3], objects: &[DataObject]) -> Vec<u8> {
    let objects = objects
        .iter()
        .map(|object| {
            let mut extra = Vec::new();
            if object.data_type == DATA_PARTITION {
                extra.extend_from_slice(&FS_RAW.to_le_bytes());
                extra.extend_from_slice(&PART_PRIMARY_SYSTEM.to_le_bytes());
                extra.extend_from_slice(&arch);
            }
            ObjectSpec {
                datatype: object.data_type,
                name: object.name.clone(),
                extra,
                data: object.data.clone(),
            }
        })
        .collect::<Vec<_>>();
    let has_partition = objects.iter().any(|o| o.datatype == DATA_PARTITION);
    let mut file = write_image(&ImageSpec {
        id: [0; 16],
        time: FIXED_TIME,
        arch: if has_partition { arch } else { *b"00\0" },
        objects,
    });
    let id = image_uuid(&file[DESCRIPTORS_OFFSET..]);
    // The id field of the header (sif's `header.ID`, after launch script, magic, version, arch).
    file[48..64].copy_from_slice(&id);
    file
}

/// Derives a version-4-shaped UUID from the image content, so it is stable across builds.
fn image_uuid(content: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(content);
    let mut id = [0_u8; 16];
    id.copy_from_slice(&digest[..16]);
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// The parts of a SIF file the emulator reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SifInfo {
    /// The header's architecture, if known.
    pub arch: Option<&'static str>,
    /// The used descriptors: (data type, name, data).
    pub objects: Vec<(i32, String, Vec<u8>)>,
    /// Fingerprints (upper-case hex) named by the image's signature objects, in table order;
    /// empty for an unsigned image.
    pub signers: Vec<String>,
    /// Whether the image holds a signature object at all (one may name no fingerprint).
    pub signed: bool,
}

/// Reads the header and data objects of a SIF file; `None` if it is not one.
///
/// The library uses this to learn a pushed image's architecture, as SingularityCE does with
/// `machine.SifArch`, and whether it is signed, as the Sylabs library reports; tests use it
/// to check the emulated images.
pub fn read(bytes: &[u8]) -> Option<SifInfo> {
    let sif = Sif::read(&mut std::io::Cursor::new(bytes)).ok()?;
    if &sif.header.version != b"01\0" {
        return None;
    }
    let mut objects = Vec::new();
    let mut signers = Vec::new();
    for d in sif.used() {
        let start = usize::try_from(d.offset).ok()?;
        let end = start.checked_add(usize::try_from(d.size).ok()?)?;
        objects.push((d.datatype, d.name(), bytes.get(start..end)?.to_vec()));
        if d.datatype == DATA_SIGNATURE {
            let (_, fingerprint) = d.signature_metadata();
            if !fingerprint.is_empty() {
                signers.push(hex_upper(&fingerprint));
            }
        }
    }
    Some(SifInfo {
        arch: arch_name(sif.header.arch),
        objects,
        signers,
        signed: sif.is_signed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_readable_deterministic_image() {
        let arch = arch_code("arm64").unwrap();
        let image = write_emulated_image(arch, b"Bootstrap: docker\n", b"{}", b"partition");
        assert_eq!(
            image,
            write_emulated_image(arch, b"Bootstrap: docker\n", b"{}", b"partition")
        );
        let info = read(&image).unwrap();
        assert_eq!(info.arch, Some("arm64"));
        assert_eq!(info.objects.len(), 3);
        assert_eq!(
            info.objects[0],
            (DATA_DEFFILE, String::new(), b"Bootstrap: docker\n".to_vec())
        );
        assert_eq!(info.objects[1].0, DATA_GENERIC_JSON);
        assert_eq!(info.objects[2].2, b"partition");
        // The partition is aligned, and the header's data size covers it.
        let data_offset = DESCRIPTORS_OFFSET + 585 * 48;
        assert_eq!(image.len() % 4096, b"partition".len());
        let data_size = i64::from_le_bytes(image[120..128].try_into().unwrap());
        assert_eq!(
            usize::try_from(data_size).unwrap(),
            image.len() - data_offset
        );
    }

    #[test]
    fn knows_the_go_architectures() {
        assert_eq!(arch_code("amd64"), Some(*b"02\0"));
        assert_eq!(arch_name(*b"12\0"), Some("riscv64"));
        assert_eq!(arch_code("loong64"), Some(*b"13\0"));
        assert_eq!(arch_code("sparc"), None);
        assert_eq!(arch_name(*b"00\0"), None);
        assert!(read(b"not a sif").is_none());
    }
}
