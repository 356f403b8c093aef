//! Identifier generation: 24 lowercase hex digits, shaped like MongoDB ObjectIDs.
//!
//! SCS uses ObjectIDs for builds, entities, collections, containers and images (PROTOCOL.md
//! §2.3, §3.2). Like an ObjectID, each id is a 4-byte timestamp, 5 bytes unique to this
//! emulator instance and a 3-byte counter, so ids stay unique across restarts with a
//! persisted `--data-dir`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Generates unique 24-hex identifiers.
#[derive(Debug)]
pub struct IdGenerator {
    instance: [u8; 5],
    counter: AtomicU32,
}

impl IdGenerator {
    /// Creates a generator whose instance bytes come from the clock, the process id and the
    /// generator's own address, hashed.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let mut hasher = Sha256::new();
        hasher.update(nanos.to_le_bytes());
        hasher.update(std::process::id().to_le_bytes());
        let local = 0_u8;
        hasher.update(format!("{:p}", &local).as_bytes());
        let digest = hasher.finalize();
        let mut instance = [0_u8; 5];
        instance.copy_from_slice(&digest[..5]);
        let start = u32::from_le_bytes([digest[5], digest[6], digest[7], 0]);
        Self {
            instance,
            counter: AtomicU32::new(start),
        }
    }

    /// Returns a fresh identifier.
    pub fn next_id(&self) -> String {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let counter = self.counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        let mut bytes = Vec::with_capacity(12);
        // Truncation is the ObjectID layout: the low 32 bits of the Unix time.
        bytes.extend_from_slice(&(seconds as u32).to_be_bytes());
        bytes.extend_from_slice(&self.instance);
        bytes.extend_from_slice(&counter.to_be_bytes()[1..]);
        hex(&bytes)
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// Returns the lowercase hex encoding of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Returns true if `id` has the shape of an id this emulator hands out.
#[cfg(test)]
pub fn is_object_id(id: &str) -> bool {
    id.len() == 24
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_24_hex() {
        let generator = IdGenerator::new();
        let a = generator.next_id();
        let b = generator.next_id();
        assert!(is_object_id(&a), "{a}");
        assert!(is_object_id(&b), "{b}");
        assert_ne!(a, b);
        assert!(!is_object_id("ABCDEF0123456789abcdef01"));
    }
}
