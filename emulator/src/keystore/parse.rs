//! Reading `keytext`: the keys an upload holds, with what lookups and the index need.
//!
//! The fingerprint and the stored armor come from `sifbake_sif::keys`, the reading sifbake
//! signs and verifies with. The index's details (subkey IDs, user IDs, algorithm, size,
//! creation time) are not in that API, so they are read from the same armor with `pgp`, the
//! crate under it.

use pgp::composed::PublicOrSecret;
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, PublicParams};
use sifbake_sif::keys::{PublicKey, hex_upper};

use super::StoredKey;

/// Reads every key of an armored upload; refuses private keys (a keystore publishes public
/// keys only, and a client that sends one has leaked it) and text that holds no key.
pub fn parse_keytext(keytext: &str) -> Result<Vec<StoredKey>, String> {
    let not_a_key =
        |error: &dyn std::fmt::Display| format!("`keytext` is not an armored OpenPGP key: {error}");
    let (packets, _headers) =
        PublicOrSecret::from_armor_many_buf(keytext.as_bytes()).map_err(|e| not_a_key(&e))?;
    let parsed: Vec<PublicOrSecret> = packets
        .collect::<Result<_, _>>()
        .map_err(|e| not_a_key(&e))?;
    if parsed.is_empty() {
        return Err("`keytext` holds no OpenPGP key".to_owned());
    }
    let mut keys = Vec::with_capacity(parsed.len());
    let public = PublicKey::all_from_armored(keytext).map_err(|e| not_a_key(&e))?;
    for (key, exported) in parsed.into_iter().zip(public) {
        let key = match key {
            PublicOrSecret::Public(key) => key,
            PublicOrSecret::Secret(secret) => {
                return Err(format!(
                    "`keytext` holds the private key {}: a keystore takes public keys only",
                    hex_upper(secret.fingerprint().as_bytes())
                ));
            }
        };
        let fingerprint = exported.fingerprint();
        let key_ids = std::iter::once(key.primary_key.legacy_key_id())
            .chain(key.public_subkeys.iter().map(|sub| sub.key.legacy_key_id()))
            .map(|id| hex_upper(id.as_ref()))
            .collect();
        let user_ids = key
            .details
            .users
            .iter()
            .map(|user| String::from_utf8_lossy(user.id.id()).into_owned())
            .collect();
        keys.push(StoredKey {
            fingerprint,
            key_ids,
            user_ids,
            algorithm: key.primary_key.algorithm().into(),
            bits: bits(key.primary_key.public_params()),
            created: u64::from(key.primary_key.created_at().as_secs()),
            armored: exported.to_armored(),
        });
    }
    Ok(keys)
}

/// The key size as `gpg` shows it: the modulus or prime's bit count, read from the MPI the
/// parameters start with; 255 for the 25519 curves.
fn bits(params: &PublicParams) -> u32 {
    match params {
        PublicParams::RSA(_) | PublicParams::DSA(_) | PublicParams::Elgamal(_) => params
            .to_bytes()
            .ok()
            .and_then(|bytes| {
                Some(u32::from(u16::from_be_bytes([
                    *bytes.first()?,
                    *bytes.get(1)?,
                ])))
            })
            .unwrap_or(0),
        PublicParams::Ed25519(_) | PublicParams::X25519(_) | PublicParams::EdDSALegacy(_) => 255,
        PublicParams::Ed448(_) | PublicParams::X448(_) => 448,
        _ => 0,
    }
}
