//! A writer (and a small reader) for the Singularity Image Format.
//!
//! Layout as in sylabs/sif v2 (`pkg/sif/sif.go`, `descriptor.go`, `create.go`): a 128-byte
//! little-endian global header, a descriptor table at offset 4096 of `capacity` descriptors
//! of 585 bytes each, then the data objects, partitions aligned to 4096 bytes. siftool reads
//! what this writes (see `tests/siftool.rs`).
//!
//! An emulated image holds three objects: the definition (`Def.FILE`), a JSON object that
//! says the image is emulated, and a small raw partition, marked as the primary system
//! partition so that the header's architecture is the build architecture, as a real build's
//! is. It contains no runnable filesystem. The writer is deterministic: timestamps are fixed
//! and the image id is derived from the content.

use sha2::{Digest, Sha256};

/// The SIF magic, NUL-terminated as in the Go implementation.
const MAGIC: &[u8; 10] = b"SIF_MAGIC\0";
/// The only SIF version in use ("01").
const VERSION: &[u8; 3] = b"01\0";
/// The launch script real images carry, so `./image.sif` starts Singularity.
const LAUNCH_SCRIPT: &str = "#!/usr/bin/env run-singularity\n";
/// Size of the global header.
pub const HEADER_SIZE: usize = 128;
/// Size of one descriptor.
pub const DESCRIPTOR_SIZE: usize = 585;
/// Where the descriptor table starts (sylabs/sif default).
const DESCRIPTORS_OFFSET: usize = 4096;
/// Number of descriptor slots (sylabs/sif default).
const DESCRIPTOR_CAPACITY: usize = 48;
/// Alignment of partitions.
const PARTITION_ALIGNMENT: usize = 4096;
/// Fixed creation time of emulated images (2020-01-01T00:00:00Z), for reproducibility.
pub const FIXED_TIME: i64 = 1_577_836_800;
/// Group flag set on group ids (`descrGroupMask`).
const GROUP_MASK: u32 = 0xf000_0000;

/// `DataDeffile`.
pub const DATA_DEFFILE: i32 = 0x4001;
/// `DataPartition`.
pub const DATA_PARTITION: i32 = 0x4004;
/// `DataGenericJSON`.
pub const DATA_GENERIC_JSON: i32 = 0x4006;
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

/// Writes a SIF file holding `objects` in order.
fn write(arch: [u8; 3], objects: &[DataObject]) -> Vec<u8> {
    let descriptors_size = DESCRIPTOR_SIZE * DESCRIPTOR_CAPACITY;
    let data_offset = DESCRIPTORS_OFFSET + descriptors_size;
    let mut file = vec![0_u8; data_offset];
    let mut descriptors = Vec::with_capacity(descriptors_size);
    let mut header_arch = *b"00\0";
    for (index, object) in objects.iter().enumerate() {
        let unaligned = file.len();
        let offset = if object.data_type == DATA_PARTITION {
            unaligned.div_ceil(PARTITION_ALIGNMENT) * PARTITION_ALIGNMENT
        } else {
            unaligned
        };
        file.resize(offset, 0);
        file.extend_from_slice(&object.data);
        let mut extra = Vec::new();
        if object.data_type == DATA_PARTITION {
            extra.extend_from_slice(&FS_RAW.to_le_bytes());
            extra.extend_from_slice(&PART_PRIMARY_SYSTEM.to_le_bytes());
            extra.extend_from_slice(&arch);
            header_arch = arch;
        }
        let id = u32::try_from(index + 1).unwrap_or(u32::MAX);
        descriptors.extend_from_slice(&descriptor(
            object,
            id,
            offset,
            offset - unaligned + object.data.len(),
            &extra,
        ));
    }
    descriptors.resize(descriptors_size, 0);
    file[DESCRIPTORS_OFFSET..data_offset].copy_from_slice(&descriptors);

    let used = objects.len();
    let data_size = file.len() - data_offset;
    let mut header = Vec::with_capacity(HEADER_SIZE);
    let mut launch = [0_u8; 32];
    launch[..LAUNCH_SCRIPT.len()].copy_from_slice(LAUNCH_SCRIPT.as_bytes());
    header.extend_from_slice(&launch);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(VERSION);
    header.extend_from_slice(&header_arch);
    header.extend_from_slice(&image_uuid(&file[DESCRIPTORS_OFFSET..]));
    for value in [
        FIXED_TIME,
        FIXED_TIME,
        to_i64(DESCRIPTOR_CAPACITY - used),
        to_i64(DESCRIPTOR_CAPACITY),
        to_i64(DESCRIPTORS_OFFSET),
        to_i64(descriptors_size),
        to_i64(data_offset),
        to_i64(data_size),
    ] {
        header.extend_from_slice(&value.to_le_bytes());
    }
    file[..HEADER_SIZE].copy_from_slice(&header);
    file
}

/// Encodes one descriptor (`rawDescriptor`, packed little-endian).
fn descriptor(object: &DataObject, id: u32, offset: usize, padded: usize, extra: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DESCRIPTOR_SIZE);
    out.extend_from_slice(&object.data_type.to_le_bytes());
    out.push(1); // used
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(1 | GROUP_MASK).to_le_bytes()); // default object group 1
    out.extend_from_slice(&0_u32.to_le_bytes()); // not linked
    for value in [
        to_i64(offset),
        to_i64(object.data.len()),
        to_i64(padded),
        FIXED_TIME,
        FIXED_TIME,
        0, // uid, deprecated
        0, // gid, deprecated
    ] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    let mut name = [0_u8; 128];
    let name_bytes = object.name.as_bytes();
    let name_len = name_bytes.len().min(name.len());
    name[..name_len].copy_from_slice(&name_bytes[..name_len]);
    out.extend_from_slice(&name);
    let mut extra_field = [0_u8; 384];
    extra_field[..extra.len()].copy_from_slice(extra);
    out.extend_from_slice(&extra_field);
    out
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

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The parts of a SIF file the emulator reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SifInfo {
    /// The header's architecture, if known.
    pub arch: Option<&'static str>,
    /// The used descriptors: (data type, name, data).
    pub objects: Vec<(i32, String, Vec<u8>)>,
}

/// Reads the header and data objects of a SIF file; `None` if it is not one.
///
/// The library uses this to learn a pushed image's architecture, as SingularityCE does with
/// `machine.SifArch`; tests use it to check the emulated images.
pub fn read(bytes: &[u8]) -> Option<SifInfo> {
    if bytes.len() < HEADER_SIZE || &bytes[32..42] != MAGIC || &bytes[42..45] != VERSION {
        return None;
    }
    let arch = arch_name([bytes[45], bytes[46], bytes[47]]);
    let field = |at: usize| -> Option<i64> {
        Some(i64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let total = usize::try_from(field(88)?).ok()?;
    let table = usize::try_from(field(96)?).ok()?;
    let mut objects = Vec::new();
    for index in 0..total {
        let start = table.checked_add(index.checked_mul(DESCRIPTOR_SIZE)?)?;
        let raw = bytes.get(start..start + DESCRIPTOR_SIZE)?;
        if raw[4] == 0 {
            continue;
        }
        let data_type = i32::from_le_bytes(raw[0..4].try_into().ok()?);
        let offset = usize::try_from(i64::from_le_bytes(raw[17..25].try_into().ok()?)).ok()?;
        let size = usize::try_from(i64::from_le_bytes(raw[25..33].try_into().ok()?)).ok()?;
        let name_raw = &raw[73..201];
        let name_len = name_raw
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(name_raw.len());
        let name = String::from_utf8_lossy(&name_raw[..name_len]).into_owned();
        let data = bytes.get(offset..offset.checked_add(size)?)?.to_vec();
        objects.push((data_type, name, data));
    }
    Some(SifInfo { arch, objects })
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
        let data_offset = DESCRIPTORS_OFFSET + DESCRIPTOR_SIZE * DESCRIPTOR_CAPACITY;
        assert_eq!(image.len() % PARTITION_ALIGNMENT, b"partition".len());
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
