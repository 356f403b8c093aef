//! Writing a whole SIF from its objects, laid out as sif/v2's `CreateContainer` lays it: the
//! descriptor table at 4096 with 48 slots, objects in order after it, partitions aligned to
//! 4096 bytes, every object in group 1.

use crate::format::{
    DATA_PARTITION, DESCRIPTOR_SIZE, Descriptor, EXTRA_LEN, GROUP_MASK, HEADER_SIZE, Header, MAGIC,
    NAME_LEN,
};

/// Where the descriptor table starts (sif's default).
pub const DESCRIPTORS_OFFSET: usize = 4096;
/// Number of descriptor slots (sif's default).
pub const DESCRIPTOR_CAPACITY: usize = 48;
/// Alignment of partitions.
pub const PARTITION_ALIGNMENT: usize = 4096;
/// The launch script real images carry, so `./image.sif` starts Singularity.
pub const LAUNCH_SCRIPT: &str = "#!/usr/bin/env run-singularity\n";

/// One data object to store.
#[derive(Debug, Clone)]
pub struct ObjectSpec {
    pub datatype: i32,
    /// At most 128 bytes; longer names are cut.
    pub name: String,
    /// Type-specific metadata (a partition's fs type, part type and arch).
    pub extra: Vec<u8>,
    pub data: Vec<u8>,
}

/// An image to write.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub id: [u8; 16],
    /// Creation and modification time of the image and of every object.
    pub time: i64,
    /// The header's architecture code (`"02\0"` is amd64; `"00\0"` unknown).
    pub arch: [u8; 3],
    pub objects: Vec<ObjectSpec>,
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Writes `spec` as a SIF file.
pub fn write_image(spec: &ImageSpec) -> Vec<u8> {
    let table_size = DESCRIPTOR_SIZE * DESCRIPTOR_CAPACITY;
    let data_offset = DESCRIPTORS_OFFSET + table_size;
    let mut file = vec![0_u8; data_offset];
    let mut table = Vec::with_capacity(table_size);
    for (index, object) in spec.objects.iter().take(DESCRIPTOR_CAPACITY).enumerate() {
        let unaligned = file.len();
        let offset = if object.datatype == DATA_PARTITION {
            unaligned.div_ceil(PARTITION_ALIGNMENT) * PARTITION_ALIGNMENT
        } else {
            unaligned
        };
        file.resize(offset, 0);
        file.extend_from_slice(&object.data);
        let mut name = [0_u8; NAME_LEN];
        let name_len = object.name.len().min(NAME_LEN);
        name[..name_len].copy_from_slice(&object.name.as_bytes()[..name_len]);
        let mut extra = [0_u8; EXTRA_LEN];
        let extra_len = object.extra.len().min(EXTRA_LEN);
        extra[..extra_len].copy_from_slice(&object.extra[..extra_len]);
        let descriptor = Descriptor {
            datatype: object.datatype,
            used: true,
            id: u32::try_from(index + 1).unwrap_or(u32::MAX),
            groupid: 1 | GROUP_MASK,
            link: 0,
            offset: to_i64(offset),
            size: to_i64(object.data.len()),
            size_with_padding: to_i64(offset - unaligned + object.data.len()),
            created_at: spec.time,
            modified_at: spec.time,
            uid: 0,
            gid: 0,
            name,
            extra,
        };
        table.extend_from_slice(&descriptor.to_bytes());
    }
    table.resize(table_size, 0);
    file[DESCRIPTORS_OFFSET..data_offset].copy_from_slice(&table);
    let used = spec.objects.len().min(DESCRIPTOR_CAPACITY);
    let mut launch_script = [0_u8; 32];
    launch_script[..LAUNCH_SCRIPT.len()].copy_from_slice(LAUNCH_SCRIPT.as_bytes());
    let header = Header {
        launch_script,
        magic: *MAGIC,
        version: *b"01\0",
        arch: spec.arch,
        id: spec.id,
        created_at: spec.time,
        modified_at: spec.time,
        descriptors_free: to_i64(DESCRIPTOR_CAPACITY - used),
        descriptors_total: to_i64(DESCRIPTOR_CAPACITY),
        descriptors_offset: to_i64(DESCRIPTORS_OFFSET),
        descriptors_size: to_i64(table_size),
        data_offset: to_i64(data_offset),
        data_size: to_i64(file.len() - data_offset),
    };
    file[..HEADER_SIZE].copy_from_slice(&header.to_bytes());
    file
}
