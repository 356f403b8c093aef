//! Loading keys: each fault is its own error, naming the key.

mod common;

use common::{PASSPHRASE, armored, go_keys, test_keys};
use sifbake_sif::keys::{KeyError, PublicKey, SecretKey};

#[test]
fn a_fresh_key_loads_with_its_fingerprint_and_hides_its_material() {
    let made = test_keys::generate("Signer <s@example.com>", None);
    let key = SecretKey::from_armored(&made.secret, "").unwrap();
    assert_eq!(key.fingerprint(), made.fingerprint);
    assert_eq!(key.fingerprint().len(), 40);
    assert_eq!(key.public_key().fingerprint(), key.fingerprint());
    let debug = format!("{key:?}");
    assert!(
        debug.contains(&made.fingerprint) && !debug.contains("BEGIN"),
        "{debug}"
    );
}

#[test]
fn a_protected_key_needs_its_passphrase() {
    let made = test_keys::generate("P <p@example.com>", Some(PASSPHRASE));
    assert!(SecretKey::from_armored(&made.secret, PASSPHRASE).is_ok());
    for wrong in ["", "hunter2"] {
        let err = SecretKey::from_armored(&made.secret, wrong).unwrap_err();
        assert!(
            matches!(err, KeyError::WrongPassphrase { ref fingerprint } if *fingerprint == made.fingerprint),
            "{err:?}"
        );
        // The message says what to do, and never carries the passphrase.
        let text = err.to_string();
        assert!(text.contains("wrong passphrase"), "{text}");
        assert!(wrong.is_empty() || !text.contains(wrong), "{text}");
    }
}

#[test]
fn a_public_key_or_no_key_is_refused_for_signing() {
    let made = test_keys::generate("S <s@example.com>", None);
    assert!(matches!(
        SecretKey::from_armored(&made.public, ""),
        Err(KeyError::PublicKeyGiven { ref fingerprint }) if *fingerprint == made.fingerprint
    ));
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
}

#[test]
fn public_keys_load_one_or_several_and_export_as_armor() {
    let a = test_keys::generate("A <a@example.com>", None);
    let b = test_keys::generate("B <b@example.com>", None);
    let keys = PublicKey::all_from_armored(&format!("{}\n{}", a.public, b.public)).unwrap();
    let fingerprints: Vec<String> = keys.iter().map(PublicKey::fingerprint).collect();
    assert_eq!(fingerprints, [a.fingerprint.clone(), b.fingerprint]);
    let exported = keys[0].to_armored();
    assert!(exported.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(!exported.contains("PRIVATE"));
    assert_eq!(
        PublicKey::from_armored(&exported).unwrap().fingerprint(),
        a.fingerprint
    );
    // A private key's public half is accepted where a public key is wanted.
    assert_eq!(
        PublicKey::from_armored(&a.secret).unwrap().fingerprint(),
        a.fingerprint
    );
}

/// Keys made as `singularity key newpair` makes them (go-crypto, RSA), faults included.
#[test]
fn newpair_keys_load_and_their_faults_are_refused_each_with_its_reason() {
    let Some(dir) = go_keys() else { return };
    let signer = SecretKey::from_armored(&armored(dir, "signer.key.asc"), "").unwrap();
    let public = PublicKey::from_armored(&armored(dir, "signer.pub.asc")).unwrap();
    assert_eq!(signer.fingerprint(), public.fingerprint());
    let protected = armored(dir, "protected.key.asc");
    assert!(SecretKey::from_armored(&protected, PASSPHRASE).is_ok());
    assert!(matches!(
        SecretKey::from_armored(&protected, "wrong"),
        Err(KeyError::WrongPassphrase { .. })
    ));
    assert!(matches!(
        SecretKey::from_armored(&armored(dir, "signer.pub.asc"), ""),
        Err(KeyError::PublicKeyGiven { ref fingerprint }) if *fingerprint == public.fingerprint()
    ));
    let err = |name: &str| {
        let fingerprint = PublicKey::from_armored(&armored(dir, &format!("{name}.pub.asc")))
            .unwrap()
            .fingerprint();
        let err =
            SecretKey::from_armored(&armored(dir, &format!("{name}.key.asc")), "").unwrap_err();
        assert!(err.to_string().contains(&fingerprint), "{err}");
        err
    };
    assert!(matches!(err("expired"), KeyError::Expired { .. }));
    assert!(matches!(err("revoked"), KeyError::Revoked { .. }));
    assert!(matches!(err("nosign"), KeyError::CannotSign { .. }));
}
