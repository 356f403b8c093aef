//! Presigned upload and download URLs served by the emulator itself, and multipart upload
//! state.
//!
//! Real SCS hands out S3 URLs; clients PUT to them without an Authorization header
//! (PROTOCOL.md §0.2), so the unguessable token in the URL is the only capability. The
//! query carries `X-Amz-SignedHeaders=host%3Bx-amz-content-sha256`: the `;` is
//! percent-encoded because Go (since 1.17) drops query pairs with a raw `;`, and listing
//! `x-amz-content-sha256` makes the Go client send the file's SHA-256, which is checked.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::ids::IdGenerator;

/// What a presigned URL accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingUpload {
    /// A whole image (v2 single-part upload).
    Image {
        /// The image id.
        image_id: String,
        /// The announced size.
        size: u64,
        /// The announced SHA-256, bare hex.
        sha256: String,
        /// The announced MD5, bare hex, if any.
        md5: Option<String>,
    },
    /// One part of a multipart upload.
    Part {
        /// The multipart upload id.
        upload_id: String,
        /// The 1-based part number.
        part_number: u32,
        /// The announced part size.
        size: u64,
        /// The announced part SHA-256, if any.
        sha256: Option<String>,
    },
    /// A build context.
    Context {
        /// The context digest (`sha256.<hex>`).
        digest: String,
    },
}

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub struct Multipart {
    /// The image being uploaded.
    pub image_id: String,
    /// The announced file size.
    pub file_size: u64,
    /// The size of every part but the last.
    pub part_size: u64,
    /// The number of parts.
    pub total_parts: u32,
    /// Received parts: number -> (bytes, ETag).
    pub parts: BTreeMap<u32, (Bytes, String)>,
}

/// How many download URLs stay valid: real presigned URLs expire after a while, and a
/// count (not a clock) keeps tests deterministic.
const DOWNLOAD_URLS_KEPT: usize = 1024;

#[derive(Debug, Default)]
struct Inner {
    pending: HashMap<String, PendingUpload>,
    multipart: HashMap<String, Multipart>,
    /// Bytes received for v2 single-part uploads, waiting for `_complete`.
    received: HashMap<String, Bytes>,
    /// Download URL token -> image hash; reusable, since a concurrent download fetches
    /// every part from the one URL it was redirected to.
    downloads: HashMap<String, String>,
    /// Download tokens, oldest first, for expiry.
    download_order: VecDeque<String>,
}

/// The upload registry.
#[derive(Debug, Default)]
pub struct UploadRegistry {
    inner: Mutex<Inner>,
}

impl UploadRegistry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update replaces whole entries, so a poisoned lock still holds valid data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a pending upload and returns the path of its presigned URL, query included.
    pub fn presign(&self, ids: &IdGenerator, upload: PendingUpload) -> String {
        let token = format!("{}{}", ids.next_id(), ids.next_id());
        self.lock().pending.insert(token.clone(), upload);
        format!(
            "/_upload/{token}?X-Amz-Algorithm=EMULATED&X-Amz-Expires=3600&X-Amz-SignedHeaders=host%3Bx-amz-content-sha256"
        )
    }

    /// Registers a download of the image file with `hash` and returns the path of its
    /// presigned URL, query included; the oldest URLs expire beyond a fixed number.
    pub fn presign_download(&self, ids: &IdGenerator, hash: &str) -> String {
        let token = format!("{}{}", ids.next_id(), ids.next_id());
        let mut inner = self.lock();
        inner.downloads.insert(token.clone(), hash.to_owned());
        inner.download_order.push_back(token.clone());
        while inner.download_order.len() > DOWNLOAD_URLS_KEPT {
            if let Some(expired) = inner.download_order.pop_front() {
                inner.downloads.remove(&expired);
            }
        }
        format!("/_download/{token}?X-Amz-Algorithm=EMULATED&X-Amz-Expires=3600")
    }

    /// Returns the image hash a download token stands for.
    pub fn download(&self, token: &str) -> Option<String> {
        self.lock().downloads.get(token).cloned()
    }

    /// Returns the pending upload for a token.
    pub fn pending(&self, token: &str) -> Option<PendingUpload> {
        self.lock().pending.get(token).cloned()
    }

    /// Forgets a token once its upload succeeded.
    pub fn finish(&self, token: &str) {
        self.lock().pending.remove(token);
    }

    /// Records the bytes of a v2 single-part upload.
    pub fn receive(&self, image_id: &str, bytes: Bytes) {
        self.lock().received.insert(image_id.to_owned(), bytes);
    }

    /// Takes the received bytes of a v2 single-part upload.
    pub fn take_received(&self, image_id: &str) -> Option<Bytes> {
        self.lock().received.remove(image_id)
    }

    /// Starts a multipart upload and returns its id.
    pub fn start_multipart(&self, ids: &IdGenerator, upload: Multipart) -> String {
        let id = ids.next_id();
        self.lock().multipart.insert(id.clone(), upload);
        id
    }

    /// Returns a multipart upload.
    pub fn multipart(&self, upload_id: &str) -> Option<Multipart> {
        self.lock().multipart.get(upload_id).cloned()
    }

    /// Records a received part; false if the upload is gone.
    pub fn add_part(&self, upload_id: &str, part_number: u32, bytes: Bytes, etag: String) -> bool {
        match self.lock().multipart.get_mut(upload_id) {
            Some(upload) => {
                upload.parts.insert(part_number, (bytes, etag));
                true
            }
            None => false,
        }
    }

    /// Ends a multipart upload, returning it.
    pub fn take_multipart(&self, upload_id: &str) -> Option<Multipart> {
        let mut inner = self.lock();
        inner
            .pending
            .retain(|_, pending| !matches!(pending, PendingUpload::Part { upload_id: id, .. } if id == upload_id));
        inner.multipart.remove(upload_id)
    }
}
