//! Signing a job's image before any tag names it.
//!
//! A signed target builds ephemeral: the builder's output (unsigned) goes to the service's
//! scratch container and never gets a tag. The job then downloads it by its checksum into
//! the run's scratch directory, signs it there (one signature object per object group, as
//! `singularity sign`), and uploads the signed file to the target's container. Only that
//! image is tagged, the digest tag included, so a later run adopting by digest tag always
//! finds a signed image. Any failure leaves no tag moved and no file behind.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sifbake_sif::integrity::{self, SignError};
use sifbake_sif::keys::SecretKey;

use crate::libref::LibraryRef;
use crate::scs::{BuildInfo, Image, Library, TransferError};

use super::events::{BuiltImage, FailReason, RetryWhat};
use super::job::Job;
use super::pin;
use super::retry::persist;
use super::runner::Shared;

/// An unlocked private key that signs the images of one or more targets. Loaded once per
/// key by the caller, before anything is submitted; it never appears in a report (its
/// `Debug` shows the fingerprint only).
pub struct Signer {
    key: SecretKey,
    fingerprint: String,
}

impl Signer {
    /// Wraps an unlocked key.
    pub fn new(key: SecretKey) -> Self {
        let fingerprint = key.fingerprint();
        Signer { key, fingerprint }
    }

    /// The key's fingerprint, 40 upper-case hex digits.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The key, to sign with.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Where a signed upload is kept for `build --pull` (`ExecOptions::keep_signed`), by the
/// library's hash of it.
pub fn kept_signed(scratch: &Path, hash: &str) -> PathBuf {
    scratch.join("signed").join(format!("{hash}.sif"))
}

/// Removes the job's signing directory however the job ends, its future dropped included:
/// an unsigned or half-signed copy must not outlive the job.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Retries a transfer while it fails transiently, reporting each retry as `what`; a
/// transfer's own failures (a hash mismatch, a missing image) end it at once.
async fn transfer<T, F, Fut, B, L>(
    shared: &Shared<B, L>,
    job: &Job,
    what: RetryWhat,
    mut call: F,
) -> Result<T, TransferError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TransferError>>,
{
    let attempt = || {
        let fut = call();
        async move {
            match fut.await {
                Ok(value) => Ok(Ok(value)),
                Err(TransferError::Service(error)) => Err(error),
                Err(other) => Ok(Err(other)),
            }
        }
    };
    // The image is built: a library busy for a while must not lose it.
    match persist(
        &shared.emitter,
        &shared.options.retry,
        job.id,
        what,
        attempt,
    )
    .await
    {
        Ok(result) => result,
        Err(error) => Err(TransferError::Service(error)),
    }
}

/// Brings the builder's unsigned image back, signs it and uploads the signed file to the
/// job's container; returns the signed image, ready to tag.
pub(super) async fn sign_and_upload<B, L: Library>(
    shared: &Shared<B, L>,
    job: &Job,
    signer: &Arc<Signer>,
    info: &BuildInfo,
) -> Result<(BuiltImage, Image), FailReason> {
    let built = info.library_ref.as_deref().and_then(pin::library_path);
    let (Some(path), Some(checksum)) = (built, info.image_checksum.clone()) else {
        return Err(FailReason::SignDownload {
            image: info
                .library_ref
                .clone()
                .unwrap_or_else(|| format!("build {}", info.id)),
            error: "the build service named no image location and checksum to download".into(),
        });
    };
    let image_name = format!("{path}:{checksum}");
    let container = LibraryRef::parse(&path).map_err(|error| FailReason::SignDownload {
        image: image_name.clone(),
        error: error.to_string(),
    })?;
    let directory = shared.options.scratch.join(format!("sign-{}", job.id.0));
    tokio::fs::create_dir_all(&directory)
        .await
        .map_err(|error| FailReason::Signing {
            image: image_name.clone(),
            error: format!("cannot create `{}`: {error}", directory.display()),
        })?;
    let _cleanup = ScratchDir(directory.clone());
    let file = directory.join(format!("{}.sif", job.arch));
    let downloaded = transfer(shared, job, RetryWhat::DownloadImage, || {
        shared
            .library
            .download_image(&container, &checksum, &job.arch, &file)
    })
    .await
    .map_err(|error| FailReason::SignDownload {
        image: image_name.clone(),
        error: error.to_string(),
    })?;
    // The library's hash of the file it served must be the builder's: anything else is not
    // the image this job built.
    if downloaded.image.hash != checksum {
        return Err(FailReason::SignDownload {
            image: image_name,
            error: format!(
                "the library served {}, not the built image {checksum}",
                downloaded.image.hash
            ),
        });
    }
    sign_file(signer, &file, &image_name).await?;
    let uploaded = transfer(shared, job, RetryWhat::UploadImage, || {
        shared
            .library
            .upload_image(&job.container, &job.arch, &file)
    })
    .await
    .map_err(|error| FailReason::SignedUpload {
        container: job.container.path(),
        arch: job.arch.clone(),
        error: error.to_string(),
    })?;
    if shared.options.keep_signed {
        // `build --pull` takes it from here instead of downloading it again; if the move
        // fails, it downloads it.
        let kept = kept_signed(&shared.options.scratch, &uploaded.hash);
        if let Some(parent) = kept.parent()
            && tokio::fs::create_dir_all(parent).await.is_ok()
        {
            let _ = tokio::fs::rename(&file, &kept).await;
        }
    }
    let image = BuiltImage {
        path: Some(job.container.path()),
        hash: Some(uploaded.hash.clone()),
        size: uploaded.size,
        signed_by: Some(signer.fingerprint().to_owned()),
    };
    Ok((image, uploaded))
}

/// Signs `file` in place off the async threads (hashing a GiB-sized image is blocking work).
async fn sign_file(signer: &Arc<Signer>, file: &Path, image: &str) -> Result<(), FailReason> {
    let signer = Arc::clone(signer);
    let path = file.to_path_buf();
    let signed = tokio::task::spawn_blocking(move || integrity::sign_file(&path, signer.key()))
        .await
        .map_err(|error| FailReason::Internal {
            detail: error.to_string(),
        })?;
    signed.map(drop).map_err(|error| FailReason::Signing {
        image: image.to_owned(),
        error: match &error {
            SignError::Format(sifbake_sif::format::FormatError::NoFreeDescriptor(_)) => {
                format!("{error} (every descriptor slot of the builder's image is used)")
            }
            _ => error.to_string(),
        },
    })
}
