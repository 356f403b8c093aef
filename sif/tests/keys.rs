//! Loading keys: each fault is its own error, naming the key.

mod common;

use common::{PASSPHRASE, armored, public};
use sifbake_sif::keys::{KeyError, PublicKey, SecretKey};

#[test]
fn a_newpair_key_loads_with_its_fingerprint() {
    let key = SecretKey::from_armored(&armored("signer.key.asc"), "").unwrap();
    assert_eq!(
        key.fingerprint(),
        "4B3F9220CB19AAEA0C8C6437059007119B922A05"
    );
    assert_eq!(key.public_key().fingerprint(), key.fingerprint());
    assert_eq!(public("signer.pub.asc").fingerprint(), key.fingerprint());
    // Debug output shows the fingerprint, never key material.
    let debug = format!("{key:?}");
    assert!(
        debug.contains("4B3F9220") && !debug.contains("BEGIN"),
        "{debug}"
    );
}

#[test]
fn a_protected_key_needs_its_passphrase() {
    let text = armored("protected.key.asc");
    let key = SecretKey::from_armored(&text, PASSPHRASE).unwrap();
    assert_eq!(
        key.fingerprint(),
        "034916A7ED60CD6D2D2EFD5C7FFC929B5E001BC8"
    );
    for wrong in ["", "correct horse battery"] {
        match SecretKey::from_armored(&text, wrong) {
            Err(KeyError::WrongPassphrase { fingerprint }) => {
                assert_eq!(fingerprint, key.fingerprint());
            }
            other => panic!("expected WrongPassphrase, got {other:?}"),
        }
    }
}

#[test]
fn faulty_keys_are_refused_each_with_its_reason() {
    let err = |name: &str| SecretKey::from_armored(&armored(name), "").unwrap_err();
    assert!(
        matches!(err("signer.pub.asc"), KeyError::PublicKeyGiven { ref fingerprint } if fingerprint == "4B3F9220CB19AAEA0C8C6437059007119B922A05")
    );
    assert!(
        matches!(err("expired.key.asc"), KeyError::Expired { ref fingerprint, .. } if fingerprint == "82CF92B5FA3523D9652A79C7800CCCC889ED426B")
    );
    assert!(
        matches!(err("revoked.key.asc"), KeyError::Revoked { ref fingerprint } if fingerprint == "370B42BAF913387D08FA1E5DF07DACD30BE4B8AC")
    );
    assert!(
        matches!(err("nosign.key.asc"), KeyError::CannotSign { ref fingerprint } if fingerprint == "39E0455CE4AEAC48E56779D7A7BA48A1108401D7")
    );
    for not_pgp in [
        "",
        "hello",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    ] {
        let err = SecretKey::from_armored(not_pgp, "").unwrap_err();
        assert!(
            matches!(err, KeyError::NotOpenPgp(_) | KeyError::NoKey),
            "{not_pgp:?}: {err:?}"
        );
        assert!(PublicKey::from_armored(not_pgp).is_err());
    }
    // Messages say what to do, and never carry the passphrase.
    let text = SecretKey::from_armored(&armored("protected.key.asc"), "hunter2")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("wrong passphrase") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn public_keys_load_one_or_several_and_export_as_armor() {
    let both = format!(
        "{}\n{}",
        armored("signer.pub.asc"),
        armored("other.pub.asc")
    );
    let keys = PublicKey::all_from_armored(&both).unwrap();
    let fingerprints: Vec<String> = keys.iter().map(PublicKey::fingerprint).collect();
    assert_eq!(
        fingerprints,
        [
            "4B3F9220CB19AAEA0C8C6437059007119B922A05",
            "398968CDF1E07043868EEF69BBC6EB80B55B9FB9"
        ]
    );
    let exported = keys[0].to_armored();
    assert!(exported.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(!exported.contains("PRIVATE"));
    assert_eq!(
        PublicKey::from_armored(&exported).unwrap().fingerprint(),
        fingerprints[0]
    );
    // A private key's public half is accepted where a public key is wanted.
    assert_eq!(
        PublicKey::from_armored(&armored("signer.key.asc"))
            .unwrap()
            .fingerprint(),
        fingerprints[0]
    );
}
