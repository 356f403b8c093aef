//! Signing in place and verifying, without the Go reference (see `conformance.rs` for it).

mod common;

use common::{ed25519, flip, image, write};
use sifbake_sif::format::{DATA_SIGNATURE, FormatError, GROUP_MASK, Sif};
use sifbake_sif::integrity::{SignError, VerifyError, has_signature, sign_file, verify_file};
use sifbake_sif::keys::PublicKey;

fn read_sif(path: &std::path::Path) -> Sif {
    Sif::read(&mut std::fs::File::open(path).unwrap()).unwrap()
}

#[test]
fn a_signed_image_verifies_and_carries_the_signature_object() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.sif", &image(10_000));
    let before = std::fs::read(&path).unwrap();
    assert!(!has_signature(&path).unwrap());
    let (key, public) = ed25519("Signer <s@example.com>");
    let signed = sign_file(&path, &key).unwrap();
    assert_eq!(signed.fingerprint, key.fingerprint());
    assert_eq!(signed.signatures, [(1, 4)]);
    assert!(has_signature(&path).unwrap());

    let after = std::fs::read(&path).unwrap();
    let sif = read_sif(&path);
    let sig = sif.used().find(|d| d.datatype == DATA_SIGNATURE).unwrap();
    assert_eq!((sig.id, sig.group_id(), sig.link), (4, 0, 1 | GROUP_MASK));
    let (hash_type, fingerprint) = sig.signature_metadata();
    assert_eq!(hash_type, 1);
    assert_eq!(fingerprint, key.fingerprint_bytes());
    // Appended after the old data; everything before it unchanged but the header and slot 4.
    assert_eq!(sig.offset as usize, before.len());
    assert_eq!(after.len(), before.len() + sig.size as usize);
    assert_eq!(&after[128..4096 + 3 * 585], &before[128..4096 + 3 * 585]);
    assert_eq!(
        &after[4096 + 4 * 585..before.len()],
        &before[4096 + 4 * 585..]
    );
    assert_eq!(sif.header.descriptors_free, 44);
    assert_eq!(
        sif.header.data_size,
        after.len() as i64 - sif.header.data_offset
    );
    let text = String::from_utf8(after[sig.offset as usize..].to_vec()).unwrap();
    assert!(text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{\"version\":1,\"header\":{\"digest\":\"sha256:"), "{text}");

    let mut keys = vec![ed25519("Other <o@example.com>").1, public];
    let verified = verify_file(&path, &mut keys).unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].fingerprint, key.fingerprint());
}

#[test]
fn verification_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let unsigned = write(dir.path(), "unsigned.sif", &image(5000));
    let (key, public) = ed25519("Signer <s@example.com>");
    let mut keys = vec![public];
    assert!(matches!(
        verify_file(&unsigned, &mut keys),
        Err(VerifyError::NoSignature { group: 1 })
    ));

    let path = write(dir.path(), "a.sif", &image(5000));
    sign_file(&path, &key).unwrap();
    let pristine = std::fs::read(&path).unwrap();
    let sif = read_sif(&path);

    let mut others = vec![ed25519("Other <o@example.com>").1];
    match verify_file(&path, &mut others) {
        Err(VerifyError::UnknownSigner { fingerprint }) => {
            assert_eq!(fingerprint, key.fingerprint());
        }
        other => panic!("expected UnknownSigner, got {other:?}"),
    }

    let partition = sif.used().find(|d| d.id == 3).unwrap();
    flip(&path, partition.offset as u64 + 100);
    let err = verify_file(&path, &mut keys).unwrap_err();
    assert!(
        matches!(err, VerifyError::ObjectMismatch { id: 3, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("object 3 (emulated-rootfs)"),
        "{err}"
    );

    std::fs::write(&path, &pristine).unwrap();
    flip(&path, 48); // the image id
    assert!(matches!(
        verify_file(&path, &mut keys),
        Err(VerifyError::HeaderMismatch)
    ));

    std::fs::write(&path, &pristine).unwrap();
    flip(&path, 4096 + 585 + 73); // object 2's name
    assert!(matches!(
        verify_file(&path, &mut keys),
        Err(VerifyError::DescriptorMismatch { id: 2, .. })
    ));

    std::fs::write(&path, &pristine).unwrap();
    let sig = read_sif(&path)
        .used()
        .find(|d| d.datatype == DATA_SIGNATURE)
        .unwrap()
        .clone();
    // Inside the signed JSON text: `{"version":1,...` — change a digest digit.
    let at = pristine[sig.offset as usize..]
        .windows(7)
        .position(|w| w == b"sha256:")
        .unwrap();
    let mut tampered = pristine.clone();
    let i = sig.offset as usize + at + 7;
    tampered[i] = if tampered[i] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, &tampered).unwrap();
    assert!(matches!(
        verify_file(&path, &mut keys),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn a_closure_is_a_key_source_and_its_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.sif", &image(100));
    let (key, _) = ed25519("Signer <s@example.com>");
    sign_file(&path, &key).unwrap();
    let mut asked = Vec::new();
    let mut source = |fp: &str| -> Result<Option<PublicKey>, String> {
        asked.push(fp.to_owned());
        Err("keystore down".to_owned())
    };
    let err = verify_file(&path, &mut source).unwrap_err();
    assert!(matches!(err, VerifyError::KeySource { .. }), "{err:?}");
    assert_eq!(asked, [key.fingerprint()]);
}

#[test]
fn signing_twice_adds_a_second_signature_and_both_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.sif", &image(100));
    let (first, first_public) = ed25519("Signer <s@example.com>");
    let (other, other_public) = ed25519("Other <o@example.com>");
    sign_file(&path, &first).unwrap();
    let second = sign_file(&path, &other).unwrap();
    assert_eq!(second.signatures, [(1, 5)]);
    let mut keys = vec![first_public, other_public];
    assert_eq!(verify_file(&path, &mut keys).unwrap().len(), 2);
}

#[test]
fn refusals_leave_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = ed25519("Signer <s@example.com>");
    // A SIF whose 48 descriptors are all used.
    let mut bytes = image(10);
    let total = 48;
    for slot in 3..total {
        let at = 4096 + slot * 585;
        bytes[at..at + 4].copy_from_slice(&0x4007_i32.to_le_bytes());
        bytes[at + 4] = 1;
        bytes[at + 5..at + 9].copy_from_slice(&(slot as u32 + 1).to_le_bytes());
        bytes[at + 9..at + 13].copy_from_slice(&(1 | GROUP_MASK).to_le_bytes());
        bytes[at + 17..at + 25].copy_from_slice(&4096_i64.to_le_bytes());
    }
    let full = write(dir.path(), "full.sif", &bytes);
    match sign_file(&full, &key) {
        Err(SignError::Format(FormatError::NoFreeDescriptor(48))) => {}
        other => panic!("expected NoFreeDescriptor, got {other:?}"),
    }
    assert_eq!(std::fs::read(&full).unwrap(), bytes);

    let not_sif = write(dir.path(), "x.sif", b"#!/bin/sh\necho not a sif\n");
    assert!(matches!(
        sign_file(&not_sif, &key),
        Err(SignError::Format(FormatError::NotSif))
    ));

    let mut truncated = image(10_000);
    truncated.truncate(truncated.len() - 10);
    let truncated_path = write(dir.path(), "t.sif", &truncated);
    let err = sign_file(&truncated_path, &key).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(std::fs::read(&truncated_path).unwrap(), truncated);
}
