//! Verification as sif/v2's default `Verifier` does it for `singularity verify`: every
//! object group must carry a signature, and every signature must be valid, by a known key
//! whose fingerprint the descriptor names, over metadata that matches the image now.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use pgp::composed::CleartextSignedMessage;

use super::{Digest, ImageMetadata};
use crate::format::{DATA_SIGNATURE, Descriptor, FormatError, GROUP_MASK, Sif};
use crate::keys::{PublicKey, hex_upper};

/// The largest signature object read (a real one is under 4 KiB for an RSA 4096 key and a
/// few objects).
const MAX_SIGNATURE_SIZE: i64 = 16 << 20;

/// Where verification finds the public key of a signer, by fingerprint (40 upper-case hex).
///
/// A slice of keys is one; a keystore client (fetching by fingerprint) is another.
pub trait KeySource {
    /// The key with `fingerprint`, `Ok(None)` when this source does not have it.
    fn public_key(&mut self, fingerprint: &str) -> Result<Option<PublicKey>, String>;
}

impl KeySource for [PublicKey] {
    fn public_key(&mut self, fingerprint: &str) -> Result<Option<PublicKey>, String> {
        Ok(self
            .iter()
            .find(|k| k.fingerprint() == fingerprint)
            .cloned())
    }
}

impl KeySource for Vec<PublicKey> {
    fn public_key(&mut self, fingerprint: &str) -> Result<Option<PublicKey>, String> {
        self.as_mut_slice().public_key(fingerprint)
    }
}

impl<F: FnMut(&str) -> Result<Option<PublicKey>, String>> KeySource for F {
    fn public_key(&mut self, fingerprint: &str) -> Result<Option<PublicKey>, String> {
        self(fingerprint)
    }
}

/// One valid signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    pub group: u32,
    pub signature_id: u32,
    pub fingerprint: String,
}

/// Why an image does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("cannot read the image: {0}")]
    Io(#[from] std::io::Error),
    #[error("the image has no object group, so nothing to verify")]
    NoGroups,
    #[error(
        "no signature found for object group {group}: the image is not signed; sign it with `sifbake sign`"
    )]
    NoSignature { group: u32 },
    #[error(
        "signed by key {fingerprint}, which is not among the given public keys; pass it with --key (or fetch it with --keystore)"
    )]
    UnknownSigner { fingerprint: String },
    #[error("cannot get the public key {fingerprint}: {reason}")]
    KeySource { fingerprint: String, reason: String },
    #[error("signature object {id} is not valid: {reason}")]
    BadSignature { id: u32, reason: String },
    #[error("the signer key {fingerprint} is revoked")]
    RevokedKey { fingerprint: String },
    #[error(
        "the global header changed since it was signed (its launch script, magic, version or id)"
    )]
    HeaderMismatch,
    #[error("the descriptor of object {id}{name} changed since it was signed")]
    DescriptorMismatch { id: u32, name: String },
    #[error("the data of object {id}{name} changed since it was signed")]
    ObjectMismatch { id: u32, name: String },
    #[error("object {id} is in signed group {group} but the signature does not cover it")]
    ObjectNotSigned { id: u32, group: u32 },
    #[error("object {id} is covered by the signature of group {group} but is not in the image")]
    SignedObjectMissing { id: u32, group: u32 },
}

fn label(d: &Descriptor) -> String {
    let name = d.name();
    if name.is_empty() {
        String::new()
    } else {
        format!(" ({name})")
    }
}

/// Verifies the SIF at `path`, finding signers' keys in `keys`.
pub fn verify_file(
    path: &Path,
    keys: &mut dyn KeySource,
) -> Result<Vec<SignatureInfo>, VerifyError> {
    let mut file = File::open(path)?;
    verify(&mut file, keys)
}

/// Verifies every object group of the image in `reader`.
pub fn verify<R: Read + Seek>(
    reader: &mut R,
    keys: &mut dyn KeySource,
) -> Result<Vec<SignatureInfo>, VerifyError> {
    let sif = Sif::read(reader)?;
    let groups = sif.group_ids();
    if groups.is_empty() {
        return Err(VerifyError::NoGroups);
    }
    let mut verified = Vec::new();
    for group in groups {
        let signatures: Vec<&Descriptor> = sif
            .used()
            .filter(|d| d.datatype == DATA_SIGNATURE && d.link == group | GROUP_MASK)
            .collect();
        if signatures.is_empty() {
            return Err(VerifyError::NoSignature { group });
        }
        for sig in signatures {
            let fingerprint = verify_signature(&sif, reader, group, sig, keys)?;
            verified.push(SignatureInfo {
                group,
                signature_id: sig.id,
                fingerprint,
            });
        }
    }
    Ok(verified)
}

fn verify_signature<R: Read + Seek>(
    sif: &Sif,
    reader: &mut R,
    group: u32,
    sig: &Descriptor,
    keys: &mut dyn KeySource,
) -> Result<String, VerifyError> {
    let bad = |reason: String| VerifyError::BadSignature { id: sig.id, reason };
    // A clear-signed metadata message is a few KiB; refuse to load a huge object as one.
    if sig.size > MAX_SIGNATURE_SIZE {
        return Err(bad(format!(
            "it is {} bytes, too large for a signature",
            sig.size
        )));
    }
    let mut data = vec![0; sig.size as usize];
    reader.seek(SeekFrom::Start(sig.offset as u64))?;
    reader.read_exact(&mut data)?;
    let text = String::from_utf8(data)
        .map_err(|_| bad("it is not an OpenPGP clear-signed message".to_owned()))?;
    let (message, _) = CleartextSignedMessage::from_string(&text)
        .map_err(|err| bad(format!("it is not an OpenPGP clear-signed message ({err})")))?;
    let (_, descriptor_fp) = sig.signature_metadata();
    let fingerprint = if descriptor_fp.is_empty() {
        message
            .signatures()
            .iter()
            .flat_map(|s| s.issuer_fingerprint())
            .map(|fp| hex_upper(fp.as_bytes()))
            .next()
            .ok_or_else(|| bad("it names no signer".to_owned()))?
    } else {
        hex_upper(&descriptor_fp)
    };
    let key = keys
        .public_key(&fingerprint)
        .map_err(|reason| VerifyError::KeySource {
            fingerprint: fingerprint.clone(),
            reason,
        })?
        .ok_or_else(|| VerifyError::UnknownSigner {
            fingerprint: fingerprint.clone(),
        })?;
    if key.is_revoked() {
        return Err(VerifyError::RevokedKey { fingerprint });
    }
    message
        .verify(key.inner())
        .map_err(|_| bad(format!("the OpenPGP signature does not verify with key {fingerprint}: the signed text or the signature was altered")))?;
    let metadata: ImageMetadata =
        serde_json::from_str(message.signed_text().trim_end()).map_err(|err| {
            bad(format!(
                "its signed text is not sif/v2 integrity metadata ({err})"
            ))
        })?;
    check_metadata(sif, reader, group, &metadata)?;
    Ok(fingerprint)
}

/// Compares signed metadata with the image as it is now (sif's `imageMetadata.matches`).
fn check_metadata<R: Read + Seek>(
    sif: &Sif,
    reader: &mut R,
    group: u32,
    metadata: &ImageMetadata,
) -> Result<(), VerifyError> {
    let min_id = sif.min_id(group | GROUP_MASK).unwrap_or(0);
    let objects = sif.group_objects(group);
    for d in &objects {
        if !metadata
            .objects
            .iter()
            .any(|m| m.relative_id + min_id == d.id)
        {
            return Err(VerifyError::ObjectNotSigned { id: d.id, group });
        }
    }
    for m in &metadata.objects {
        let id = m.relative_id.saturating_add(min_id);
        if !objects.iter().any(|d| d.id == id) {
            return Err(VerifyError::SignedObjectMissing { id, group });
        }
    }
    let header = &metadata.header.digest;
    if Digest::of(header.alg, &sif.header.integrity_bytes()) != *header {
        return Err(VerifyError::HeaderMismatch);
    }
    for d in objects {
        let relative_id = d.id - min_id;
        let Some(m) = metadata
            .objects
            .iter()
            .find(|m| m.relative_id == relative_id)
        else {
            continue;
        };
        let alg = m.descriptor_digest.alg;
        if Digest::of(alg, &d.integrity_bytes(relative_id)) != m.descriptor_digest {
            return Err(VerifyError::DescriptorMismatch {
                id: d.id,
                name: label(d),
            });
        }
        let alg = m.object_digest.alg;
        if Digest::of_range(alg, reader, d.offset as u64, d.size as u64)? != m.object_digest {
            return Err(VerifyError::ObjectMismatch {
                id: d.id,
                name: label(d),
            });
        }
    }
    Ok(())
}

/// Recomputes nothing: whether the image at `path` holds any signature object.
pub fn has_signature(path: &Path) -> Result<bool, FormatError> {
    let mut file = File::open(path)?;
    Ok(Sif::read(&mut file)?.is_signed())
}
