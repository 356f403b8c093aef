//! The upload's pre-pass: size, SHA-256 and MD5 of a whole file, read once, the two digests
//! computed on two threads (the library wants both before the first byte is sent,
//! PROTOCOL.md §3.6), and the SHA-256 of one part of it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::transfer::{IO_BUFFER, hex};

/// Chunks queued for each hashing thread: bounds memory to a few buffers.
const QUEUED: usize = 4;

/// What the library is told about a file before it is uploaded.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Checksums {
    pub size: u64,
    /// Lowercase hex, without the `sha256.` prefix.
    pub sha256: String,
    /// Lowercase hex.
    pub md5: String,
}

/// Reads `path` once and returns its checksums. Blocking: call it off the async threads.
pub fn checksums(path: &Path) -> io::Result<Checksums> {
    let mut file = File::open(path)?;
    let (to_sha256, sha256_chunks) = sync_channel::<Arc<Vec<u8>>>(QUEUED);
    let (to_md5, md5_chunks) = sync_channel::<Arc<Vec<u8>>>(QUEUED);
    std::thread::scope(|scope| {
        let sha256 = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in sha256_chunks {
                hasher.update(chunk.as_slice());
            }
            hex(&hasher.finalize())
        });
        let md5 = scope.spawn(move || {
            let mut hasher = Md5::new();
            for chunk in md5_chunks {
                hasher.update(chunk.as_slice());
            }
            hex(&hasher.finalize())
        });
        let mut size = 0_u64;
        let read = loop {
            let mut buffer = vec![0_u8; IO_BUFFER];
            let length = match read_full(&mut file, &mut buffer) {
                Ok(0) => break Ok(()),
                Ok(length) => length,
                Err(error) => break Err(error),
            };
            buffer.truncate(length);
            size += length as u64;
            let chunk = Arc::new(buffer);
            // A hashing thread only stops by panicking, which the join below reports.
            if to_sha256.send(Arc::clone(&chunk)).is_err() || to_md5.send(chunk).is_err() {
                break Ok(());
            }
        };
        drop((to_sha256, to_md5));
        let sha256 = sha256
            .join()
            .map_err(|_| io::Error::other("the SHA-256 thread panicked"))?;
        let md5 = md5
            .join()
            .map_err(|_| io::Error::other("the MD5 thread panicked"))?;
        read.map(|()| Checksums { size, sha256, md5 })
    })
}

/// Returns the SHA-256 (lowercase hex) of `length` bytes of `file` from `offset`. Blocking.
pub fn part_sha256(file: &File, offset: u64, length: u64) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; IO_BUFFER];
    let mut done = 0_u64;
    while done < length {
        let step = usize::try_from(length - done)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        file.read_exact_at(&mut buffer[..step], offset + done)?;
        hasher.update(&buffer[..step]);
        done += step as u64;
    }
    Ok(hex(&hasher.finalize()))
}

/// Fills `buffer` unless the file ends first; returns the bytes read.
fn read_full(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(length) => filled += length,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn both_digests_match_one_shot_hashing() {
        let content: Vec<u8> = (0..2_500_000_u32).map(|n| (n * 7 % 256) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&content).expect("write");
        let sums = checksums(file.path()).expect("checksums");
        assert_eq!(sums.size, content.len() as u64);
        assert_eq!(sums.sha256, hex(&Sha256::digest(&content)));
        assert_eq!(sums.md5, hex(&Md5::digest(&content)));
        let part = part_sha256(file.as_file(), 1_000_000, 1_200_000).expect("part");
        assert_eq!(part, hex(&Sha256::digest(&content[1_000_000..2_200_000])));
    }

    #[test]
    fn an_empty_file_has_the_empty_digests() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let sums = checksums(file.path()).expect("checksums");
        assert_eq!(sums.size, 0);
        assert_eq!(
            sums.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(sums.md5, "d41d8cd98f00b204e9800998ecf8427e");
    }
}
