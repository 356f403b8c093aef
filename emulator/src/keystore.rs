//! The OpenPGP keystore: HKP (draft-shaw-openpgp-hkp) as Sylabs' key service speaks it to
//! `scs-key-client`, the client `singularity key push/pull/search` and `verify` use.
//!
//! | Method | Path | Input | Reply |
//! |---|---|---|---|
//! | POST | `/pks/add` | form `keytext=<armored public keys>` | 200, `{"data": {"fingerprints": [...]}}` |
//! | GET | `/pks/lookup?op=get&search=0x<hex>` | fingerprint (40), key ID (16 or 8), or text | 200 `application/pgp-keys` |
//! | GET | `/pks/lookup?op=index&options=mr&search=...` | as above | 200, machine-readable index |
//!
//! Both need the token, as on the real service (SingularityCE sends it on every keystore
//! request and explains a 401 on lookups too). Errors are the JSON envelope the client reads
//! with `jsonresp.ReadError`. A key ID may come without leading zeros: SingularityCE's verify
//! formats the 64-bit ID with `%#x`. `op=index` answers the machine-readable format whether
//! or not `options=mr` is given (the human one is HTML nobody here reads).

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::envelope::{self, ApiError};
use crate::state::AppState;

mod parse;

pub use parse::parse_keytext;

/// One public key the keystore holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredKey {
    /// The primary key's fingerprint, 40 upper-case hex digits.
    pub fingerprint: String,
    /// The 64-bit key IDs of the primary key and its subkeys, 16 upper-case hex digits each:
    /// a signature names the (sub)key that made it.
    pub key_ids: Vec<String>,
    /// The user IDs (`Name <email>`).
    pub user_ids: Vec<String>,
    /// The OpenPGP public-key algorithm number (1 RSA, 17 DSA, 22 EdDSA, ...).
    pub algorithm: u8,
    /// The key size in bits, 0 when the algorithm has none to speak of.
    pub bits: u32,
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// The key as uploaded, ASCII-armored, public packets only.
    pub armored: String,
}

/// The keys, by fingerprint.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Keystore {
    keys: BTreeMap<String, StoredKey>,
}

impl Keystore {
    /// Adds keys, replacing any with the same fingerprint (a re-upload carries the newest
    /// self-signatures); returns their fingerprints.
    pub fn add(&mut self, keys: Vec<StoredKey>) -> Vec<String> {
        keys.into_iter()
            .map(|key| {
                let fingerprint = key.fingerprint.clone();
                self.keys.insert(fingerprint.clone(), key);
                fingerprint
            })
            .collect()
    }

    /// Returns every key, by fingerprint.
    pub fn all(&self) -> Vec<StoredKey> {
        self.keys.values().cloned().collect()
    }

    /// Returns the keys a search names.
    fn find(&self, search: &Search) -> Vec<&StoredKey> {
        self.keys
            .values()
            .filter(|key| search.matches(key))
            .collect()
    }
}

/// What `search=` names.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    /// A v4 fingerprint.
    Fingerprint(String),
    /// A v3 fingerprint (128 bits): no key here is v3, so it matches nothing.
    V3Fingerprint,
    /// A 64-bit key ID, its leading zeros possibly dropped.
    LongId(u64),
    /// A 32-bit key ID.
    ShortId(u32),
    /// Words of a user ID, lower-cased.
    Text(String),
}

impl Search {
    fn parse(text: &str) -> Result<Search, ApiError> {
        let text = text.trim();
        let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) else {
            if text.is_empty() {
                return Err(ApiError::bad_request("`search` is empty"));
            }
            return Ok(Search::Text(text.to_lowercase()));
        };
        let invalid = || {
            ApiError::bad_request(format!(
                "`search={text}` is not a key ID (8 or 16 hex digits) or a fingerprint (32 or 40)"
            ))
        };
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        match hex.len() {
            40 => Ok(Search::Fingerprint(hex.to_ascii_uppercase())),
            32 => Ok(Search::V3Fingerprint),
            9..=16 => u64::from_str_radix(hex, 16)
                .map(Search::LongId)
                .map_err(|_| invalid()),
            1..=8 => u32::from_str_radix(hex, 16)
                .map(Search::ShortId)
                .map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }

    fn matches(&self, key: &StoredKey) -> bool {
        let ids = || {
            key.key_ids
                .iter()
                .filter_map(|id| u64::from_str_radix(id, 16).ok())
        };
        match self {
            Search::Fingerprint(fingerprint) => key.fingerprint == *fingerprint,
            Search::V3Fingerprint => false,
            Search::LongId(wanted) => ids().any(|id| id == *wanted),
            // The low 32 bits of the 64-bit ID; truncation is the point.
            Search::ShortId(wanted) => ids().any(|id| id as u32 == *wanted),
            Search::Text(words) => key
                .user_ids
                .iter()
                .any(|uid| uid.to_lowercase().contains(words.as_str())),
        }
    }
}

/// `POST /pks/add`.
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "`/pks/add` takes a form (`Content-Type: application/x-www-form-urlencoded`)",
        ));
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body)
        .map_err(|error| ApiError::bad_request(format!("malformed form body: {error}")))?;
    let keytext = form
        .get("keytext")
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("the form has no `keytext`"))?;
    let keys = parse_keytext(keytext).map_err(ApiError::bad_request)?;
    let fingerprints = state.keystore().add(keys);
    state.persist_keys().await?;
    tracing::info!(?fingerprints, "keys added");
    Ok(envelope::data(json!({"fingerprints": fingerprints})))
}

/// The query of `GET /pks/lookup`.
#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    op: Option<String>,
    search: Option<String>,
}

/// `GET /pks/lookup`.
pub async fn lookup(
    State(state): State<AppState>,
    Query(query): Query<LookupQuery>,
) -> Result<Response, ApiError> {
    let op = query
        .op
        .ok_or_else(|| ApiError::bad_request("`op` is missing"))?;
    let search = Search::parse(query.search.as_deref().unwrap_or_default())?;
    let keystore = state.keystore();
    let found = keystore.find(&search);
    match op.as_str() {
        "get" => {
            if found.is_empty() {
                return Err(ApiError::not_found("no keys found"));
            }
            let text: String = found.iter().map(|key| key.armored.as_str()).collect();
            Ok(([(header::CONTENT_TYPE, "application/pgp-keys")], text).into_response())
        }
        "index" | "vindex" => {
            if found.is_empty() {
                return Err(ApiError::not_found("no keys found"));
            }
            Ok((
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                machine_readable_index(&found),
            )
                .into_response())
        }
        other => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("`op={other}` is not implemented (get, index and vindex are)"),
        )),
    }
}

/// The HKP machine-readable index: `info:1:N`, then per key
/// `pub:FINGERPRINT:ALGO:BITS:CREATED:EXPIRES:FLAGS` and its `uid:ESCAPED:CREATED::` lines.
fn machine_readable_index(keys: &[&StoredKey]) -> String {
    let mut text = format!("info:1:{}\n", keys.len());
    for key in keys {
        let bits = if key.bits == 0 {
            String::new()
        } else {
            key.bits.to_string()
        };
        text.push_str(&format!(
            "pub:{}:{}:{bits}:{}::\n",
            key.fingerprint, key.algorithm, key.created
        ));
        for uid in &key.user_ids {
            let escaped: String = form_escape(uid);
            text.push_str(&format!("uid:{escaped}:{}::\n", key.created));
        }
    }
    text
}

/// Percent-escapes a user ID as HKP asks (`:` and `%` and anything not printable ASCII);
/// clients read it with `url.QueryUnescape`, so a space stays a space.
fn form_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b':' | b'%' | b'+' => format!("%{b:02X}"),
            0x21..=0x7e | b' ' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fingerprint: &str, subkey: &str, uid: &str) -> StoredKey {
        StoredKey {
            fingerprint: fingerprint.to_owned(),
            key_ids: vec![fingerprint[24..].to_owned(), subkey.to_owned()],
            user_ids: vec![uid.to_owned()],
            algorithm: 1,
            bits: 4096,
            created: 1_700_000_000,
            armored: format!("armored {fingerprint}\n"),
        }
    }

    #[test]
    fn searches_by_fingerprint_key_id_and_words() {
        let mut keystore = Keystore::default();
        let a = "0123456789ABCDEF0123456700C0FFEE12345678";
        let b = "FEDCBA9876543210FEDCBA9876543210FEDCBA98";
        keystore.add(vec![
            key(a, "1111222233334444", "Alice <alice@example.org>"),
            key(b, "5555666677778888", "Bob: the builder <bob@example.org>"),
        ]);
        let found = |search: &str| -> Vec<String> {
            keystore
                .find(&Search::parse(search).expect(search))
                .iter()
                .map(|key| key.fingerprint.clone())
                .collect()
        };
        assert_eq!(found(&format!("0x{}", a.to_lowercase())), [a]);
        assert_eq!(found("0x00C0FFEE12345678"), [a]);
        // `%#x` of a uint64 drops the leading zeros.
        assert_eq!(found("0xc0ffee12345678"), [a]);
        assert_eq!(found("0x12345678"), [a]);
        assert_eq!(found("0x5555666677778888"), [b]);
        assert_eq!(found("bob@EXAMPLE"), [b]);
        assert!(found("0x0123456789abcdef0123456789abcdef").is_empty());
        assert!(found("carol").is_empty());
        for bad in ["0x", "0xabcz", &format!("0x{}", "a".repeat(20)), " "] {
            assert!(Search::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_index_is_what_singularity_key_search_parses() {
        let stored = key(
            "0123456789ABCDEF0123456700C0FFEE12345678",
            "1111222233334444",
            "Bob: the builder <bob@example.org>",
        );
        let text = machine_readable_index(&[&stored]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "info:1:1");
        let public: Vec<&str> = lines[1].split(':').collect();
        assert_eq!(public.len(), 7, "{text}");
        assert_eq!(public[1], stored.fingerprint);
        assert_eq!(public[3], "4096");
        assert_eq!(
            lines[2],
            "uid:Bob%3A the builder <bob@example.org>:1700000000::"
        );
    }
}
