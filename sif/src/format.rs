//! The SIF layout, as sylabs/sif v2 defines it (`pkg/sif/sif.go`, `descriptor.go`,
//! `create.go`, `add.go`): a 128-byte little-endian global header, a table of fixed-size
//! descriptors (585 bytes each), then the data objects.
//!
//! Only the header and the descriptor table are read into memory; data objects are read by
//! the caller through [`Descriptor::offset`] and [`Descriptor::size`], so a GiB-sized image
//! costs a few kilobytes here.

use std::io::{Read, Seek, SeekFrom};

pub use crate::append::{AppendPlan, NewObject, Storage};

/// Size of the global header.
pub const HEADER_SIZE: usize = 128;
/// Size of one descriptor.
pub const DESCRIPTOR_SIZE: usize = 585;
/// The magic at offset 32, NUL-terminated as the Go implementation writes it.
pub const MAGIC: &[u8; 10] = b"SIF_MAGIC\0";
/// Set on group ids, and on a link that names a group rather than an object.
pub const GROUP_MASK: u32 = 0xf000_0000;
/// Length of a descriptor's name field.
pub const NAME_LEN: usize = 128;
/// Length of a descriptor's extra (type-specific metadata) field.
pub const EXTRA_LEN: usize = 384;
/// An OpenPGP v4 fingerprint, what a signature descriptor's entity holds.
const FINGERPRINT_LEN: usize = 20;
/// The Unix time of Go's zero `time.Time`: what a deterministic SIF stores as its times.
pub const GO_ZERO_TIME: i64 = -62_135_596_800;
/// Descriptor tables larger than this are refused rather than allocated (sif caps nothing,
/// but 65,536 slots is far beyond any image `singularity` makes).
const MAX_DESCRIPTORS: i64 = 65_536;

/// `DataDeffile`.
pub const DATA_DEFFILE: i32 = 0x4001;
/// `DataPartition`.
pub const DATA_PARTITION: i32 = 0x4004;
/// `DataSignature`.
pub const DATA_SIGNATURE: i32 = 0x4005;
/// `DataGenericJSON`.
pub const DATA_GENERIC_JSON: i32 = 0x4006;

/// Why a file is not a SIF this crate can read or extend.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a SIF image (no SIF_MAGIC at offset 32)")]
    NotSif,
    #[error("corrupt SIF: {0}")]
    Corrupt(String),
    #[error(
        "no free descriptor slot (all {0} are used): the image cannot hold another object; rebuild it with more descriptor capacity"
    )]
    NoFreeDescriptor(i64),
}

/// The global header, field by field as `header` in sif/v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub launch_script: [u8; 32],
    pub magic: [u8; 10],
    pub version: [u8; 3],
    pub arch: [u8; 3],
    pub id: [u8; 16],
    pub created_at: i64,
    pub modified_at: i64,
    pub descriptors_free: i64,
    pub descriptors_total: i64,
    pub descriptors_offset: i64,
    pub descriptors_size: i64,
    pub data_offset: i64,
    pub data_size: i64,
}

/// One descriptor, field by field as `rawDescriptor` in sif/v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub datatype: i32,
    pub used: bool,
    pub id: u32,
    /// The raw group field, [`GROUP_MASK`] included; see [`Descriptor::group_id`].
    pub groupid: u32,
    /// An object id, or a group id with [`GROUP_MASK`] set.
    pub link: u32,
    pub offset: i64,
    pub size: i64,
    pub size_with_padding: i64,
    pub created_at: i64,
    pub modified_at: i64,
    pub uid: i64,
    pub gid: i64,
    pub name: [u8; NAME_LEN],
    pub extra: [u8; EXTRA_LEN],
}

/// A SIF's header and its whole descriptor table (used and free slots).
#[derive(Debug, Clone)]
pub struct Sif {
    pub header: Header,
    pub descriptors: Vec<Descriptor>,
}

/// A little-endian cursor over a fixed buffer.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.bytes.split_at(N);
        self.bytes = rest;
        let mut out = [0; N];
        out.copy_from_slice(head);
        out
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
}

impl Header {
    /// Decodes the 128 header bytes.
    pub fn parse(bytes: &[u8; HEADER_SIZE]) -> Self {
        let mut f = Fields { bytes };
        Self {
            launch_script: f.take(),
            magic: f.take(),
            version: f.take(),
            arch: f.take(),
            id: f.take(),
            created_at: f.i64(),
            modified_at: f.i64(),
            descriptors_free: f.i64(),
            descriptors_total: f.i64(),
            descriptors_offset: f.i64(),
            descriptors_size: f.i64(),
            data_offset: f.i64(),
            data_size: f.i64(),
        }
    }

    /// Encodes the header as it is stored.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = Vec::with_capacity(HEADER_SIZE);
        out.extend_from_slice(&self.launch_script);
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&self.version);
        out.extend_from_slice(&self.arch);
        out.extend_from_slice(&self.id);
        for value in [
            self.created_at,
            self.modified_at,
            self.descriptors_free,
            self.descriptors_total,
            self.descriptors_offset,
            self.descriptors_size,
            self.data_offset,
            self.data_size,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        let mut bytes = [0; HEADER_SIZE];
        bytes.copy_from_slice(&out);
        bytes
    }

    /// The bytes sif/v2's `GetHeaderIntegrityReader` yields: launch script, magic, version
    /// and id. Times and counts are left out so that adding a signature keeps them valid.
    pub fn integrity_bytes(&self) -> Vec<u8> {
        [
            &self.launch_script[..],
            &self.magic[..],
            &self.version[..],
            &self.id[..],
        ]
        .concat()
    }

    /// `true` for an image made with sif's deterministic option: nil id, zero times.
    pub fn is_deterministic(&self) -> bool {
        self.id == [0; 16] && self.created_at == GO_ZERO_TIME && self.modified_at == GO_ZERO_TIME
    }
}

impl Descriptor {
    /// Decodes one 585-byte descriptor.
    pub fn parse(bytes: &[u8; DESCRIPTOR_SIZE]) -> Self {
        let mut f = Fields { bytes };
        Self {
            datatype: i32::from_le_bytes(f.take()),
            used: f.take::<1>()[0] != 0,
            id: f.u32(),
            groupid: f.u32(),
            link: f.u32(),
            offset: f.i64(),
            size: f.i64(),
            size_with_padding: f.i64(),
            created_at: f.i64(),
            modified_at: f.i64(),
            uid: f.i64(),
            gid: f.i64(),
            name: f.take(),
            extra: f.take(),
        }
    }

    /// Encodes the descriptor as it is stored.
    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_SIZE] {
        let mut out = Vec::with_capacity(DESCRIPTOR_SIZE);
        out.extend_from_slice(&self.datatype.to_le_bytes());
        out.push(u8::from(self.used));
        for value in [self.id, self.groupid, self.link] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for value in [
            self.offset,
            self.size,
            self.size_with_padding,
            self.created_at,
            self.modified_at,
            self.uid,
            self.gid,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.extra);
        let mut bytes = [0; DESCRIPTOR_SIZE];
        bytes.copy_from_slice(&out);
        bytes
    }

    /// The group this object belongs to, 0 for none.
    pub fn group_id(&self) -> u32 {
        self.groupid & !GROUP_MASK
    }

    /// The group a link names, when it names one (signatures link to groups).
    pub fn linked_group(&self) -> Option<u32> {
        (self.link & GROUP_MASK != 0).then_some(self.link & !GROUP_MASK)
    }

    /// The name, up to its first NUL.
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// Hash type and signer fingerprint of a signature descriptor (sif's `signature` extra:
    /// an int32 hash type then 256 bytes of entity). As sif/v2 reads it: the fingerprint is
    /// the entity's first 20 bytes, zero bytes included (a fingerprint may end in one),
    /// and empty when all 20 are zero (no signer named).
    pub fn signature_metadata(&self) -> (i32, Vec<u8>) {
        let hash_type =
            i32::from_le_bytes([self.extra[0], self.extra[1], self.extra[2], self.extra[3]]);
        let fingerprint = &self.extra[4..4 + FINGERPRINT_LEN];
        if fingerprint.iter().all(|&b| b == 0) {
            return (hash_type, Vec::new());
        }
        (hash_type, fingerprint.to_vec())
    }

    /// The bytes sif/v2's `GetIntegrityReader` yields for this descriptor: the fields that
    /// do not change when objects are added, with the id relative to the group's lowest.
    pub fn integrity_bytes(&self, relative_id: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 1 + 4 + 4 + 8 * 4 + NAME_LEN + EXTRA_LEN);
        out.extend_from_slice(&self.datatype.to_le_bytes());
        out.push(u8::from(self.used));
        out.extend_from_slice(&relative_id.to_le_bytes());
        out.extend_from_slice(&self.link.to_le_bytes());
        for value in [self.size, self.created_at, self.uid, self.gid] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.extra);
        out
    }
}

impl Sif {
    /// Reads the header and descriptor table, checking that the table and every used
    /// object lie inside a file of `len` bytes.
    pub fn read<R: Read + Seek>(reader: &mut R) -> Result<Self, FormatError> {
        let len = reader.seek(SeekFrom::End(0))?;
        reader.seek(SeekFrom::Start(0))?;
        let mut bytes = [0; HEADER_SIZE];
        if len < HEADER_SIZE as u64 {
            return Err(FormatError::NotSif);
        }
        reader.read_exact(&mut bytes)?;
        let header = Header::parse(&bytes);
        if &header.magic != MAGIC {
            return Err(FormatError::NotSif);
        }
        let total = header.descriptors_total;
        if !(0..=MAX_DESCRIPTORS).contains(&total) {
            return Err(FormatError::Corrupt(format!(
                "descriptor count {total} out of range"
            )));
        }
        let table_len = total as u64 * DESCRIPTOR_SIZE as u64;
        let table_end = u64::try_from(header.descriptors_offset)
            .ok()
            .and_then(|offset| offset.checked_add(table_len));
        let Some(table_end) = table_end.filter(|&end| end <= len) else {
            return Err(FormatError::Corrupt(format!(
                "the descriptor table (offset {}, {total} descriptors) lies outside the {len}-byte file",
                header.descriptors_offset
            )));
        };
        let _ = table_end;
        reader.seek(SeekFrom::Start(header.descriptors_offset as u64))?;
        let mut table = vec![0; table_len as usize];
        reader.read_exact(&mut table)?;
        let mut descriptors = Vec::with_capacity(total as usize);
        for chunk in table.chunks_exact(DESCRIPTOR_SIZE) {
            let mut raw = [0; DESCRIPTOR_SIZE];
            raw.copy_from_slice(chunk);
            descriptors.push(Descriptor::parse(&raw));
        }
        for d in descriptors.iter().filter(|d| d.used) {
            let end = u64::try_from(d.offset)
                .ok()
                .zip(u64::try_from(d.size).ok())
                .and_then(|(offset, size)| offset.checked_add(size));
            if end.is_none_or(|end| end > len) {
                return Err(FormatError::Corrupt(format!(
                    "object {} (offset {}, size {}) lies outside the {len}-byte file; the image is truncated",
                    d.id, d.offset, d.size
                )));
            }
        }
        Ok(Self {
            header,
            descriptors,
        })
    }

    /// The descriptors in use, in table order.
    pub fn used(&self) -> impl Iterator<Item = &Descriptor> {
        self.descriptors.iter().filter(|d| d.used)
    }

    /// The lowest object id of `group` (sif's `minIDs`), if the group has objects.
    pub fn min_id(&self, group_raw: u32) -> Option<u32> {
        self.used()
            .filter(|d| d.groupid == group_raw)
            .map(|d| d.id)
            .min()
    }

    /// Every object group that has objects, ascending (integrity's `getGroupIDs`).
    pub fn group_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .used()
            .map(Descriptor::group_id)
            .filter(|&g| g != 0)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The objects of `group`, in table order.
    pub fn group_objects(&self, group: u32) -> Vec<&Descriptor> {
        self.used().filter(|d| d.group_id() == group).collect()
    }

    /// `true` when the image holds at least one signature object.
    pub fn is_signed(&self) -> bool {
        self.used().any(|d| d.datatype == DATA_SIGNATURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(entity: &[u8]) -> Descriptor {
        let mut extra = [0; EXTRA_LEN];
        extra[..4].copy_from_slice(&1i32.to_le_bytes());
        extra[4..4 + entity.len()].copy_from_slice(entity);
        Descriptor {
            datatype: 0,
            used: true,
            id: 1,
            groupid: 0,
            link: 0,
            offset: 0,
            size: 0,
            size_with_padding: 0,
            created_at: 0,
            modified_at: 0,
            uid: 0,
            gid: 0,
            name: [0; NAME_LEN],
            extra,
        }
    }

    #[test]
    fn a_fingerprint_ending_in_zero_bytes_is_read_whole() {
        let mut fingerprint = [0xAB; FINGERPRINT_LEN];
        fingerprint[18..].fill(0);
        assert_eq!(
            signature(&fingerprint).signature_metadata(),
            (1, fingerprint.to_vec())
        );
        assert_eq!(signature(&[]).signature_metadata(), (1, Vec::new()));
    }
}
