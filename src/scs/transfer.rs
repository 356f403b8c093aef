//! What image file transfers share: their errors and results, the client they use, how a
//! file is cut into ranges, and the pipeline that hashes a file while ranges are still being
//! written into it out of order.
//!
//! Downloads are in `download.rs`, uploads in `upload.rs`; both are methods of
//! [`super::LibraryClient`] through the [`super::Library`] trait.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::http::{CONNECT_TIMEOUT, install_crypto_provider};
use super::service::{Image, ServiceError};

/// How long a transfer may wait for the next bytes before the connection counts as dropped
/// (and the part is retried). There is no limit on a whole transfer: a 10 GB image on a slow
/// line is fine as long as bytes keep coming.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The size of each write to the file and each read of the hashing pass: large enough to
/// make the blocking calls rare, small enough that memory stays flat.
pub(crate) const IO_BUFFER: usize = 1 << 20;

/// How transfers are cut up.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct TransferOptions {
    /// Ranged GETs in flight per download (SingularityCE's default is 3).
    pub download_streams: usize,
    /// Bytes per ranged GET (SingularityCE's default is 5 MiB).
    pub download_part_size: u64,
    /// Multipart upload parts in flight.
    pub upload_streams: usize,
}

impl Default for TransferOptions {
    /// 3 streams of 16 MiB parts: SingularityCE's concurrency, with parts large enough that
    /// a 1 GiB image is 64 requests. On loopback one stream is as fast; more streams only
    /// cost CPU there (BENCHMARKS.md, "Transfer"), while a distant object store needs them.
    fn default() -> Self {
        TransferOptions {
            download_streams: 3,
            download_part_size: 16 << 20,
            upload_streams: 2,
        }
    }
}

/// Which upload endpoints the library speaks (PROTOCOL.md §3.6).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum UploadApi {
    /// `POST v1/imagefile/{id}` with the whole file (libraries before 2.0.0-alpha.1).
    V1,
    /// Presigned PUTs: one, or parts above 64 MiB.
    V2,
}

impl UploadApi {
    /// Picks the upload API for a library's `apiVersion`: v2 from `2.0.0-alpha.1` on; v1 when
    /// it is missing or unparseable, as the reference client does.
    pub fn for_api_version(api_version: Option<&str>) -> UploadApi {
        let Some(text) = api_version else {
            return UploadApi::V1;
        };
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let (Ok(version), Ok(threshold)) = (
            semver::Version::parse(text),
            semver::Version::parse("2.0.0-alpha.1"),
        ) else {
            return UploadApi::V1;
        };
        if version >= threshold {
            UploadApi::V2
        } else {
            UploadApi::V1
        }
    }
}

/// The HTTP client and choices image transfers use, set up by `connect`.
#[derive(Clone, Debug)]
pub struct TransferSetup {
    /// Follows no redirect (the download's 303 is read, not followed: its target gets the
    /// token only when it is the library itself), HTTP/1.1 only (parallel ranges need
    /// parallel connections, not one multiplexed one), and no overall timeout, only
    /// [`STALL_TIMEOUT`] between reads.
    pub client: reqwest::Client,
    pub upload: UploadApi,
    pub options: TransferOptions,
}

impl TransferSetup {
    /// Returns the setup for a library that announced `api_version`; `direct` bypasses the
    /// proxy variables, as for the REST client.
    pub fn new(
        user_agent: &str,
        direct: bool,
        api_version: Option<&str>,
    ) -> Result<TransferSetup, reqwest::Error> {
        install_crypto_provider();
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|certificate| reqwest::Certificate::from_der(certificate.as_ref()).ok());
        let builder = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .tls_certs_merge(roots);
        let builder = if direct { builder.no_proxy() } else { builder };
        Ok(TransferSetup {
            client: builder.build()?,
            upload: UploadApi::for_api_version(api_version),
            options: TransferOptions::default(),
        })
    }
}

/// A downloaded image.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Downloaded {
    /// The library's record of it; the file's SHA-256 is its `hash`.
    pub image: Image,
    /// Where it was written.
    pub path: PathBuf,
    /// Ranged GETs made (1 for a single stream), retries not counted.
    pub parts: usize,
    /// False when the server ignored `Range` and the file came in one stream.
    pub ranged: bool,
}

/// Why an image could not be transferred.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// A library call failed (after its retries).
    #[error("{0}")]
    Service(#[from] ServiceError),
    /// The library has no image under that tag for that architecture.
    #[error("the library has no image {image} for {arch}")]
    NotFound { image: String, arch: String },
    /// The library has a record, but its upload never completed: there is no file.
    #[error("the library's image {image} for {arch} is a record whose upload never completed")]
    Incomplete { image: String, arch: String },
    /// The bytes received are not the image the library describes.
    #[error(
        "the file downloaded for {image} has SHA-256 {actual} ({size} bytes), but the library says sha256.{expected}"
    )]
    HashMismatch {
        image: String,
        expected: String,
        actual: String,
        size: u64,
    },
    /// A local file could not be read or written.
    #[error("{doing} `{}`: {source}", path.display())]
    File {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// This library implementation does not move image files (test doubles).
    #[error("this library client cannot transfer image files")]
    Unsupported,
}

impl TransferError {
    pub(crate) fn file(doing: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        TransferError::File {
            doing,
            path: path.into(),
            source,
        }
    }
}

/// Cuts `size` bytes into consecutive ranges of `part_size` (the last one shorter); none for
/// an empty file.
pub fn split_ranges(size: u64, part_size: u64) -> Vec<Range<u64>> {
    let part_size = part_size.max(1);
    (0..size.div_ceil(part_size))
        .map(|index| {
            let start = index * part_size;
            start..(start + part_size).min(size)
        })
        .collect()
}

/// The `Range` header asking for what is left of `part` once `done` bytes of it arrived:
/// `None` when nothing is left.
pub fn range_header(part: &Range<u64>, done: u64) -> Option<String> {
    let start = part.start + done;
    (start < part.end).then(|| format!("bytes={start}-{}", part.end - 1))
}

/// Reads `Content-Range: bytes a-b/total` into `(a, b + 1, total)`; `None` when it is not
/// a satisfied byte range with a known total.
pub fn content_range(value: &str) -> Option<(u64, u64, u64)> {
    let spec = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = spec.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, total) = (
        first.trim().parse::<u64>().ok()?,
        last.trim().parse::<u64>().ok()?,
        total.trim().parse::<u64>().ok()?,
    );
    (first <= last && last < total).then_some((first, last + 1, total))
}

/// Hashes a file while ranges of it are written in any order: writers report each range
/// they wrote, and a blocking task reads and hashes the file up to the first gap. The bytes
/// are read back from the page cache, so nothing is held in memory to reorder them.
pub struct HashingPipeline {
    frontier: Mutex<Frontier>,
}

struct Frontier {
    /// Every byte before this was written (and handed to the hasher).
    end: u64,
    /// Written ranges after a gap: start → end.
    pending: BTreeMap<u64, u64>,
    /// `None` once the hasher is told to stop.
    hasher: Option<mpsc::Sender<u64>>,
}

impl HashingPipeline {
    /// Starts hashing `file` as its ranges are reported; the returned task ends with the
    /// SHA-256 (lowercase hex) and the bytes hashed once [`HashingPipeline::finish`] is called.
    pub fn start(
        file: Arc<std::fs::File>,
    ) -> (
        HashingPipeline,
        tokio::task::JoinHandle<io::Result<(String, u64)>>,
    ) {
        let (sender, receiver) = mpsc::channel::<u64>();
        let task = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            let mut buffer = vec![0_u8; IO_BUFFER];
            let mut hashed = 0_u64;
            for frontier in receiver {
                while hashed < frontier {
                    let length = usize::try_from(frontier - hashed)
                        .unwrap_or(usize::MAX)
                        .min(buffer.len());
                    file.read_exact_at(&mut buffer[..length], hashed)?;
                    hasher.update(&buffer[..length]);
                    hashed += length as u64;
                }
            }
            Ok((hex(&hasher.finalize()), hashed))
        });
        let pipeline = HashingPipeline {
            frontier: Mutex::new(Frontier {
                end: 0,
                pending: BTreeMap::new(),
                hasher: Some(sender),
            }),
        };
        (pipeline, task)
    }

    /// Records that `range` of the file is written.
    pub fn written(&self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let mut frontier = self.frontier.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = frontier.pending.entry(range.start).or_insert(range.end);
        *entry = (*entry).max(range.end);
        let before = frontier.end;
        while let Some((&start, &end)) = frontier.pending.first_key_value() {
            if start > frontier.end {
                break;
            }
            frontier.pending.pop_first();
            frontier.end = frontier.end.max(end);
        }
        if frontier.end > before
            && let Some(hasher) = &frontier.hasher
        {
            // A hasher that stopped (on a read error) reports it when joined.
            let _ = hasher.send(frontier.end);
        }
    }

    /// Tells the hasher no more ranges come; its task then ends.
    pub fn finish(&self) {
        self.frontier
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hasher = None;
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_file_once_in_order() {
        assert_eq!(split_ranges(0, 8), Vec::<Range<u64>>::new());
        assert_eq!(split_ranges(1, 8), vec![0..1]);
        assert_eq!(split_ranges(8, 8), vec![0..8]);
        assert_eq!(split_ranges(17, 8), vec![0..8, 8..16, 16..17]);
        assert_eq!(split_ranges(3, 0), vec![0..1, 1..2, 2..3]);
        let size = 1_000_003;
        let ranges = split_ranges(size, 4096);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(size));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn a_resumed_part_asks_only_for_what_is_left() {
        assert_eq!(range_header(&(0..10), 0).as_deref(), Some("bytes=0-9"));
        assert_eq!(
            range_header(&(100..200), 37).as_deref(),
            Some("bytes=137-199")
        );
        assert_eq!(
            range_header(&(100..200), 99).as_deref(),
            Some("bytes=199-199")
        );
        assert_eq!(range_header(&(100..200), 100), None);
    }

    #[test]
    fn content_ranges_are_read_strictly() {
        assert_eq!(content_range("bytes 0-9/100"), Some((0, 10, 100)));
        assert_eq!(content_range("bytes 90-99/100"), Some((90, 100, 100)));
        assert_eq!(content_range("bytes 0-100/100"), None);
        assert_eq!(content_range("bytes */100"), None);
        assert_eq!(content_range("bytes 0-9/*"), None);
        assert_eq!(content_range("items 0-9/100"), None);
    }

    #[test]
    fn upload_api_follows_the_library_version() {
        let cases = [
            (None, UploadApi::V1),
            (Some("garbage"), UploadApi::V1),
            (Some("1.9.0"), UploadApi::V1),
            (Some("2.0.0-alpha.0"), UploadApi::V1),
            (Some("2.0.0-alpha.1"), UploadApi::V2),
            (Some("2.0.0-alpha.2"), UploadApi::V2),
            (Some("v2.1.0"), UploadApi::V2),
        ];
        for (version, expected) in cases {
            assert_eq!(UploadApi::for_api_version(version), expected, "{version:?}");
        }
    }

    #[tokio::test]
    async fn the_pipeline_hashes_ranges_written_out_of_order() {
        let content: Vec<u8> = (0..3_000_000_u32).map(|n| (n % 251) as u8).collect();
        let file = tempfile::tempfile().expect("temp file");
        file.set_len(content.len() as u64).expect("size");
        let file = Arc::new(file);
        let (pipeline, task) = HashingPipeline::start(Arc::clone(&file));
        let ranges = split_ranges(content.len() as u64, 700_000);
        // Written last to first, one range twice (as a retried single stream does).
        for range in ranges.iter().rev().chain(ranges.first()) {
            let (start, end) = (range.start as usize, range.end as usize);
            file.write_all_at(&content[start..end], range.start)
                .expect("write");
            pipeline.written(range.clone());
        }
        pipeline.finish();
        let (hash, hashed) = task.await.expect("joined").expect("hashed");
        assert_eq!(hashed, content.len() as u64);
        assert_eq!(hash, hex(&Sha256::digest(&content)));
    }
}
