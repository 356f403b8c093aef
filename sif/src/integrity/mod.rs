//! Signing and verifying SIF object groups in the format of sif/v2's `pkg/integrity`, the
//! one `singularity sign` and `singularity verify` use.
//!
//! A signature is a data object of type `DataSignature`, in no group, linked to the group it
//! signs, whose `extra` holds the hash type and the signer's fingerprint. Its data is an
//! OpenPGP clear-signed message whose text is compact JSON:
//! `{"version":1,"header":{"digest":"sha256:…"},"objects":[{"relativeId":0,
//! "descriptorDigest":"sha256:…","objectDigest":"sha256:…"},…]}` — the digests of the
//! header's fixed fields, and per object of its descriptor's fixed fields and of its data.

mod digest;
mod verify;

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::{ArmorOptions, CleartextSignedMessage};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::types::{KeyDetails, Timestamp};
use serde::{Deserialize, Serialize};

pub use digest::{Digest, HashAlg};
pub use verify::{KeySource, SignatureInfo, VerifyError, has_signature, verify, verify_file};

use crate::format::{
    DATA_SIGNATURE, Descriptor, EXTRA_LEN, FormatError, GROUP_MASK, NewObject, Sif,
};
use crate::keys::SecretKey;

/// `crypto.SHA256` as sif's `hashType` stores it in a signature descriptor (`hashSHA256`).
const SIF_HASH_SHA256: i32 = 1;

/// The metadata sif/v2 signs (`imageMetadata`), field names and order as its JSON tags.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageMetadata {
    pub version: i64,
    pub header: HeaderMetadata,
    pub objects: Vec<ObjectMetadata>,
}

/// `headerMetadata`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeaderMetadata {
    pub digest: Digest,
}

/// `objectMetadata`: one signed object, its id relative to the group's lowest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectMetadata {
    #[serde(rename = "relativeId")]
    pub relative_id: u32,
    #[serde(rename = "descriptorDigest")]
    pub descriptor_digest: Digest,
    #[serde(rename = "objectDigest")]
    pub object_digest: Digest,
}

/// Why an image could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("the image has no object group to sign")]
    NoGroups,
    #[error("cannot read or write the image: {0}")]
    Io(#[from] std::io::Error),
    #[error("OpenPGP signing failed: {0}")]
    OpenPgp(String),
}

/// What signing added: one signature object per group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The signer's fingerprint, 40 upper-case hex digits.
    pub fingerprint: String,
    /// `(group id, signature object id)` per signature added.
    pub signatures: Vec<(u32, u32)>,
}

/// The metadata of `group` as sif/v2's `getImageMetadata` computes it, streaming each data
/// object through the hash.
pub fn group_metadata<R: Read + Seek>(
    sif: &Sif,
    reader: &mut R,
    group: u32,
    alg: HashAlg,
) -> Result<ImageMetadata, std::io::Error> {
    let mut objects: Vec<&Descriptor> = sif.group_objects(group);
    objects.sort_by_key(|d| d.id);
    let min_id = sif.min_id(group | GROUP_MASK).unwrap_or(0);
    let mut out = Vec::with_capacity(objects.len());
    for d in objects {
        let relative_id = d.id - min_id;
        out.push(ObjectMetadata {
            relative_id,
            descriptor_digest: Digest::of(alg, &d.integrity_bytes(relative_id)),
            object_digest: Digest::of_range(alg, reader, d.offset as u64, d.size as u64)?,
        });
    }
    Ok(ImageMetadata {
        version: 1,
        header: HeaderMetadata {
            digest: Digest::of(alg, &sif.header.integrity_bytes()),
        },
        objects: out,
    })
}

/// Clear-signs `text` with the key's primary key, SHA-256, as go-crypto's `clearsign.Encode`
/// does for `singularity sign`.
fn clearsign(text: &str, key: &SecretKey) -> Result<String, SignError> {
    let signing = key.signing_key();
    let pgp_err = |err: pgp::errors::Error| SignError::OpenPgp(err.to_string());
    let mut config = SignatureConfig::v4(
        SignatureType::Text,
        signing.algorithm(),
        HashAlgorithm::Sha256,
    );
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now()))
            .map_err(pgp_err)?,
        Subpacket::regular(SubpacketData::IssuerFingerprint(signing.fingerprint()))
            .map_err(pgp_err)?,
    ];
    config.unhashed_subpackets = vec![
        Subpacket::regular(SubpacketData::IssuerKeyId(signing.legacy_key_id())).map_err(pgp_err)?,
    ];
    let message =
        CleartextSignedMessage::new(text, config, signing, key.passphrase()).map_err(pgp_err)?;
    message
        .to_armored_string(ArmorOptions::default())
        .map_err(pgp_err)
}

/// Computes the signature objects for every group of the image, without writing anything.
pub fn signature_objects<R: Read + Seek>(
    sif: &Sif,
    reader: &mut R,
    key: &SecretKey,
) -> Result<Vec<NewObject>, SignError> {
    let groups = sif.group_ids();
    if groups.is_empty() {
        return Err(SignError::NoGroups);
    }
    let mut objects = Vec::with_capacity(groups.len());
    for group in groups {
        let metadata = group_metadata(sif, reader, group, HashAlg::Sha256)?;
        let json = serde_json::to_string(&metadata)
            .map_err(|err| SignError::OpenPgp(format!("encoding the metadata: {err}")))?;
        let message = clearsign(&json, key)?;
        let mut extra = [0; EXTRA_LEN];
        extra[..4].copy_from_slice(&SIF_HASH_SHA256.to_le_bytes());
        let fingerprint = key.fingerprint_bytes();
        extra[4..4 + fingerprint.len()].copy_from_slice(&fingerprint);
        objects.push(NewObject {
            datatype: DATA_SIGNATURE,
            group: 0,
            link: group | GROUP_MASK,
            name: String::new(),
            extra,
            data: message.into_bytes(),
        });
    }
    Ok(objects)
}

/// Signs every object group of the SIF at `path` in place, as `singularity sign` does by
/// default. Everything (digests, signatures, the new header) is computed before the file is
/// written; a failure while writing restores it byte for byte.
pub fn sign_file(path: &Path, key: &SecretKey) -> Result<Signed, SignError> {
    let mut file = File::options().read(true).write(true).open(path)?;
    let sif = Sif::read(&mut file)?;
    let objects = signature_objects(&sif, &mut file, key)?;
    let groups: Vec<u32> = objects.iter().map(|o| o.link & !GROUP_MASK).collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let plan = sif.plan_append(objects, now)?;
    plan.apply(&mut file)?;
    Ok(Signed {
        fingerprint: key.fingerprint(),
        signatures: groups
            .into_iter()
            .zip(plan.descriptors.iter().map(|(_, d)| d.id))
            .collect(),
    })
}
