//! OpenPGP keys as `singularity key newpair` makes them (RSA 4096, ProtonMail go-crypto), read
//! from ASCII armor.
//!
//! A private key is checked completely when it is loaded (passphrase, expiry, revocation,
//! signing capability), so that signing never fails half-way through and every refusal says
//! exactly what is wrong with the key. Neither type prints key material: their `Debug` shows
//! the fingerprint only.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::{
    ArmorOptions, PublicOrSecret, SignedKeyDetails, SignedPublicKey, SignedSecretKey,
};
use pgp::packet::Signature;
use pgp::types::{KeyDetails, Password};

/// Why a key cannot be used. Each variant names the key by fingerprint when it has one.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text holds no OpenPGP key block at all.
    #[error(
        "not an OpenPGP key: {0}; give an ASCII-armored key as `singularity key export --armor` writes it"
    )]
    NotOpenPgp(String),
    /// A public key was given where signing needs the private key.
    #[error(
        "key {fingerprint} is a public key, but signing needs the private key; export it with `singularity key export --secret --armor`"
    )]
    PublicKeyGiven { fingerprint: String },
    /// The passphrase does not decrypt the private key.
    #[error(
        "wrong passphrase for private key {fingerprint}; set the passphrase variable to the key's passphrase"
    )]
    WrongPassphrase { fingerprint: String },
    /// The key's self-signature says it has expired.
    #[error(
        "key {fingerprint} expired at unix time {expired_at}; extend its expiry or make a new key with `singularity key newpair`"
    )]
    Expired {
        fingerprint: String,
        expired_at: u64,
    },
    /// The key carries a revocation signature.
    #[error("key {fingerprint} is revoked; sign with a key that is not revoked")]
    Revoked { fingerprint: String },
    /// The primary key's flags do not allow signing (`singularity sign` signs with it).
    #[error(
        "key {fingerprint} cannot sign: its primary key lacks the signing capability; use a key made by `singularity key newpair`"
    )]
    CannotSign { fingerprint: String },
    /// The armored block holds several private keys: which one to sign with is ambiguous.
    #[error(
        "the key file holds {count} private keys; give a file with exactly one (the one to sign with)"
    )]
    SeveralSecretKeys { count: usize },
    /// The armored block is OpenPGP but holds no key.
    #[error("the armored block holds no OpenPGP key")]
    NoKey,
}

/// A private key, unlocked and checked, ready to sign.
pub struct SecretKey {
    key: SignedSecretKey,
    passphrase: Password,
}

/// A public key, to verify signatures or to publish.
#[derive(Clone)]
pub struct PublicKey {
    key: SignedPublicKey,
}

/// `bytes` as upper-case hex, the way `singularity` and HKP print fingerprints.
pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn parse_all(armored: &str) -> Result<Vec<PublicOrSecret>, KeyError> {
    // A keyring export may be several armor blocks one after the other; the parser reads
    // one block, so each is given to it separately.
    let starts: Vec<usize> = armored
        .match_indices("-----BEGIN PGP ")
        .map(|(at, _)| at)
        .collect();
    let blocks: Vec<&str> = if starts.len() <= 1 {
        vec![armored]
    } else {
        starts
            .iter()
            .enumerate()
            .map(|(i, &start)| &armored[start..starts.get(i + 1).copied().unwrap_or(armored.len())])
            .collect()
    };
    let mut keys = Vec::new();
    for block in blocks {
        let (parsed, _headers) = PublicOrSecret::from_armor_many_buf(block.as_bytes())
            .map_err(|err| KeyError::NotOpenPgp(err.to_string()))?;
        for key in parsed {
            keys.push(key.map_err(|err| KeyError::NotOpenPgp(err.to_string()))?);
        }
    }
    if keys.is_empty() {
        return Err(KeyError::NoKey);
    }
    Ok(keys)
}

/// The newest self-certification of the primary key: the one whose flags and expiry count.
fn primary_self_signature<'a>(
    details: &'a SignedKeyDetails,
    fingerprint: &pgp::types::Fingerprint,
    key_id: &pgp::types::KeyId,
) -> Option<&'a Signature> {
    // Third-party certifications say nothing about the key's own flags or expiry.
    let self_issued = |sig: &&Signature| {
        let by_fp = sig.issuer_fingerprint().contains(&fingerprint);
        let by_id = sig.issuer_key_id().contains(&key_id);
        let no_issuer = sig.issuer_fingerprint().is_empty() && sig.issuer_key_id().is_empty();
        by_fp || by_id || no_issuer
    };
    details
        .users
        .iter()
        .flat_map(|user| user.signatures.iter())
        .chain(details.direct_signatures.iter())
        .filter(self_issued)
        .max_by_key(|sig| sig.created().map_or(0, |t| t.as_secs()))
}

/// Checks what signing needs of a key: not revoked, not expired, allowed to sign.
fn check_usable(
    details: &SignedKeyDetails,
    fp: &pgp::types::Fingerprint,
    key_id: &pgp::types::KeyId,
    created_at: u32,
) -> Result<(), KeyError> {
    let fingerprint = hex_upper(fp.as_bytes());
    if !details.revocation_signatures.is_empty() {
        return Err(KeyError::Revoked { fingerprint });
    }
    let Some(sig) = primary_self_signature(details, fp, key_id) else {
        return Ok(());
    };
    if let Some(lifetime) = sig.key_expiration_time()
        && lifetime.as_secs() != 0
    {
        let expired_at = u64::from(created_at) + u64::from(lifetime.as_secs());
        if expired_at <= now_secs() {
            return Err(KeyError::Expired {
                fingerprint,
                expired_at,
            });
        }
    }
    let flags = sig.key_flags();
    // A self-signature without a key-flags subpacket puts no limit on the key's use.
    let has_flags = flags != pgp::packet::KeyFlags::default();
    if has_flags && !flags.sign() {
        return Err(KeyError::CannotSign { fingerprint });
    }
    Ok(())
}

impl SecretKey {
    /// Reads one ASCII-armored private key and unlocks it with `passphrase` (ignored when the
    /// key is not encrypted), refusing keys that cannot sign now.
    pub fn from_armored(armored: &str, passphrase: &str) -> Result<Self, KeyError> {
        let keys = parse_all(armored)?;
        let mut secrets: Vec<SignedSecretKey> = Vec::new();
        let mut first_public = None;
        for key in keys {
            match key {
                PublicOrSecret::Secret(secret) => secrets.push(secret),
                PublicOrSecret::Public(public) => {
                    first_public.get_or_insert(hex_upper(public.fingerprint().as_bytes()));
                }
            }
        }
        let key = match secrets.len() {
            0 => {
                return Err(match first_public {
                    Some(fingerprint) => KeyError::PublicKeyGiven { fingerprint },
                    None => KeyError::NoKey,
                });
            }
            1 => secrets.remove(0),
            count => return Err(KeyError::SeveralSecretKeys { count }),
        };
        let fp = key.fingerprint();
        let fingerprint = hex_upper(fp.as_bytes());
        let passphrase = Password::from(passphrase);
        let unlocked = key
            .primary_key
            .unlock(&passphrase, |_, _| Ok(()))
            .map_err(|_| KeyError::WrongPassphrase {
                fingerprint: fingerprint.clone(),
            })?;
        unlocked.map_err(|_| KeyError::WrongPassphrase {
            fingerprint: fingerprint.clone(),
        })?;
        check_usable(
            &key.details,
            &fp,
            &key.legacy_key_id(),
            key.created_at().as_secs(),
        )?;
        Ok(Self { key, passphrase })
    }

    /// The primary key's fingerprint: 40 upper-case hex digits for a v4 key.
    pub fn fingerprint(&self) -> String {
        hex_upper(self.key.fingerprint().as_bytes())
    }

    /// The raw fingerprint, as stored in a SIF signature descriptor.
    pub fn fingerprint_bytes(&self) -> Vec<u8> {
        self.key.fingerprint().as_bytes().to_vec()
    }

    /// The public half, to publish or to verify with.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.to_public_key(),
        }
    }

    pub(crate) fn signing_key(&self) -> &pgp::packet::SecretKey {
        &self.key.primary_key
    }

    pub(crate) fn passphrase(&self) -> &Password {
        &self.passphrase
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Reads the first key of an ASCII-armored block (a private key gives its public half).
    pub fn from_armored(armored: &str) -> Result<Self, KeyError> {
        let mut keys = Self::all_from_armored(armored)?;
        Ok(keys.remove(0))
    }

    /// Reads every key of an ASCII-armored block (a keyring export may hold several).
    pub fn all_from_armored(armored: &str) -> Result<Vec<Self>, KeyError> {
        Ok(parse_all(armored)?
            .into_iter()
            .map(|key| Self {
                key: match key {
                    PublicOrSecret::Public(public) => public,
                    PublicOrSecret::Secret(secret) => secret.to_public_key(),
                },
            })
            .collect())
    }

    /// The primary key's fingerprint: 40 upper-case hex digits for a v4 key.
    pub fn fingerprint(&self) -> String {
        hex_upper(self.key.fingerprint().as_bytes())
    }

    /// The raw fingerprint bytes.
    pub fn fingerprint_bytes(&self) -> Vec<u8> {
        self.key.fingerprint().as_bytes().to_vec()
    }

    /// The key as an ASCII-armored public key block, as `singularity key export --armor`
    /// writes it and an HKP keystore takes it.
    pub fn to_armored(&self) -> String {
        // Serialising a key that was just parsed cannot fail; an empty string would be caught
        // by the keystore anyway, but keep the error visible in the text.
        self.key
            .to_armored_string(ArmorOptions::default())
            .unwrap_or_else(|err| format!("(cannot armor key {}: {err})", self.fingerprint()))
    }

    /// `true` when the key (any of its signing keys) is revoked.
    pub fn is_revoked(&self) -> bool {
        !self.key.details.revocation_signatures.is_empty()
    }

    pub(crate) fn inner(&self) -> &SignedPublicKey {
        &self.key
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}
