//! OpenPGP keys made fresh for a test, so no private key is ever committed: an Ed25519
//! primary key that certifies and signs, with an encryption subkey (the shape of a key
//! `gpg --quick-gen-key` makes; a signature names the subkey or primary key that made it).
//!
//! Included with `#[path]` by the emulator's and sifbake's integration tests.

// Each including crate uses only some of these.
#![allow(dead_code)]

use pgp::composed::{
    ArmorOptions, EncryptionCaps, KeyType, SecretKeyParamsBuilder, SignedPublicKey,
    SubkeyParamsBuilder,
};
use pgp::crypto::ecc_curve::ECCCurve;
use pgp::types::KeyDetails;

/// A generated key pair, armored.
pub struct TestKey {
    /// The private key, ASCII-armored (encrypted when a passphrase was given).
    pub secret: String,
    /// The public key, ASCII-armored.
    pub public: String,
    /// The primary key's fingerprint, 40 upper-case hex digits.
    pub fingerprint: String,
    /// The encryption subkey's 64-bit key ID, 16 upper-case hex digits.
    pub subkey_id: String,
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Generates a key for `user_id`, its private part locked with `passphrase` if given.
pub fn generate(user_id: &str, passphrase: Option<&str>) -> TestKey {
    let mut subkey = SubkeyParamsBuilder::default();
    subkey
        .key_type(KeyType::ECDH(ECCCurve::Curve25519Legacy))
        .can_sign(false)
        .can_encrypt(EncryptionCaps::All)
        .can_authenticate(false);
    if let Some(passphrase) = passphrase {
        subkey.passphrase(Some(passphrase.to_owned()));
    }
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .can_encrypt(EncryptionCaps::None)
        .primary_user_id(user_id.into())
        .passphrase(passphrase.map(str::to_owned))
        .subkeys(vec![subkey.build().expect("subkey parameters")]);
    let secret = params
        .build()
        .expect("key parameters")
        .generate(rand::thread_rng())
        .expect("generate the key");
    let public = SignedPublicKey::from(secret.clone());
    TestKey {
        secret: secret
            .to_armored_string(ArmorOptions::default())
            .expect("armor the private key"),
        public: public
            .to_armored_string(ArmorOptions::default())
            .expect("armor the public key"),
        fingerprint: hex_upper(public.fingerprint().as_bytes()),
        subkey_id: hex_upper(public.public_subkeys[0].key.legacy_key_id().as_ref()),
    }
}
