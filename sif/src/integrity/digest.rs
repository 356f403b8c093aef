//! Digests as sif/v2's integrity metadata writes them: `"<name>:<lower-hex>"`, over
//! the hash algorithms its `supportedDigestAlgorithms` names.

use std::io::{Read, Seek, SeekFrom};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// Bytes read per step when hashing a data object: large enough that the hash, not the
/// reads, sets the pace; small enough that memory stays flat for any image size.
const CHUNK: usize = 1 << 20;

/// A hash algorithm sif/v2 accepts in signature metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha512_224,
    Sha512_256,
}

impl HashAlg {
    const ALL: [HashAlg; 6] = [
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sha512_224,
        HashAlg::Sha512_256,
    ];

    /// The name before the colon.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha224 => "sha224",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
            HashAlg::Sha512_224 => "sha512_224",
            HashAlg::Sha512_256 => "sha512_256",
        }
    }

    fn size(self) -> usize {
        match self {
            HashAlg::Sha224 | HashAlg::Sha512_224 => 28,
            HashAlg::Sha256 | HashAlg::Sha512_256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    fn hasher(self) -> Hasher {
        match self {
            HashAlg::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            HashAlg::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlg::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            HashAlg::Sha512_224 => Hasher::Sha512_224(sha2::Sha512_224::new()),
            HashAlg::Sha512_256 => Hasher::Sha512_256(sha2::Sha512_256::new()),
        }
    }
}

enum Hasher {
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    Sha512_224(sha2::Sha512_224),
    Sha512_256(sha2::Sha512_256),
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha224(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Sha512_224(h) => h.update(bytes),
            Hasher::Sha512_256(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
            Hasher::Sha512_224(h) => h.finalize().to_vec(),
            Hasher::Sha512_256(h) => h.finalize().to_vec(),
        }
    }
}

/// One digest of the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub alg: HashAlg,
    pub value: Vec<u8>,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(alg: HashAlg, bytes: &[u8]) -> Self {
        let mut hasher = alg.hasher();
        hasher.update(bytes);
        Self {
            alg,
            value: hasher.finish(),
        }
    }

    /// The digest of `size` bytes of `reader` from `offset`, read a chunk at a time.
    pub fn of_range<R: Read + Seek>(
        alg: HashAlg,
        reader: &mut R,
        offset: u64,
        size: u64,
    ) -> std::io::Result<Self> {
        reader.seek(SeekFrom::Start(offset))?;
        let mut hasher = alg.hasher();
        let mut buffer = vec![0; CHUNK.min(size as usize).max(1)];
        let mut left = size;
        while left > 0 {
            let want = buffer.len().min(left as usize);
            reader.read_exact(&mut buffer[..want])?;
            hasher.update(&buffer[..want]);
            left -= want as u64;
        }
        Ok(Self {
            alg,
            value: hasher.finish(),
        })
    }

    /// The digest as the metadata holds it, `sha256:<hex>`.
    pub fn to_text(&self) -> String {
        let hex: String = self.value.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.alg.name())
    }

    /// Parses `name:hex`, refusing unknown algorithms and wrong lengths as sif does.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, hex) = text
            .split_once(':')
            .ok_or_else(|| format!("digest {text:?} has no algorithm"))?;
        let alg = HashAlg::ALL
            .into_iter()
            .find(|alg| alg.name() == name)
            .ok_or_else(|| format!("digest algorithm {name:?} is not supported"))?;
        if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("digest {text:?} is not hexadecimal"));
        }
        let value: Vec<u8> = (0..hex.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect();
        if value.len() != alg.size() {
            return Err(format!("digest {text:?} has the wrong length"));
        }
        Ok(Self { alg, value })
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_and_refuse_bad_text() {
        let d = Digest::of(HashAlg::Sha256, b"abc");
        assert_eq!(
            d.to_text(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::parse(&d.to_text()).as_ref(), Ok(&d));
        assert!(Digest::parse("md5:00").is_err());
        assert!(Digest::parse("sha256:00").is_err());
        assert!(Digest::parse("sha256").is_err());
        let mut cursor = std::io::Cursor::new(b"xxabcyy".to_vec());
        assert_eq!(
            Digest::of_range(HashAlg::Sha256, &mut cursor, 2, 3).ok(),
            Some(d)
        );
    }
}
