//! The registry client: the few distribution-spec calls a SIF mirror needs, on the reqwest
//! stack the Sylabs clients use.
//!
//! A push hashes the file first when the caller does not know its digest (on a blocking
//! thread, in 1 MiB reads), asks whether each blob is there (`HEAD`), uploads what is
//! missing, then `PUT`s the manifest once per tag. A blob another repository of the same
//! registry received from this client is mounted instead of sent again
//! (`POST …/blobs/uploads/?mount=&from=`). An upload is one `POST` opening the session and
//! one streamed `PUT` of the whole file (the spec's monolithic upload): the file is read
//! in 256 KiB pieces, so memory stays flat whatever its size. An upload that fails on the
//! way (a 5xx, a broken connection) is restarted from a new session, under the usual retry
//! policy; a 429's `Retry-After` is honoured.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest, Sha256};

use super::artifact::{self, SifArtifact};
use super::credentials::CredentialSources;
use super::reference::RepositoryRef;
use super::registry::{Pushed, Registry};
use super::transport::{Access, Transport};
use crate::scs::{RetryPolicy, ServiceError, ServiceErrorKind};

/// How much of the file one read takes while uploading.
const UPLOAD_BUFFER: usize = 256 * 1024;

/// How a [`RegistryClient`] is set up.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub user_agent: String,
    pub retry: RetryPolicy,
    /// Plain HTTP to registries not on this machine (`--allow-insecure`).
    pub allow_insecure: bool,
    /// How long one call other than a blob upload may take.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            user_agent: crate::scs::user_agent(),
            retry: RetryPolicy::default(),
            allow_insecure: false,
            request_timeout: crate::scs::REQUEST_TIMEOUT,
        }
    }
}

/// Pushes SIF images to OCI registries; one per run, shared by every mirror.
#[derive(Debug)]
pub struct RegistryClient {
    transport: Transport,
    retry: RetryPolicy,
    /// Blobs this client put in a repository, by registry and digest: the source of a
    /// cross-repository mount.
    placed: Mutex<HashMap<(String, String), String>>,
}

impl RegistryClient {
    pub fn new(
        options: ClientOptions,
        credentials: CredentialSources,
    ) -> Result<RegistryClient, ServiceError> {
        let transport = Transport::new(
            &options.user_agent,
            credentials,
            options.allow_insecure,
            options.request_timeout,
        )
        .map_err(|error| {
            ServiceError::new(
                ServiceErrorKind::Protocol,
                "setting up the registry client",
                error.to_string(),
            )
        })?;
        Ok(RegistryClient {
            transport,
            retry: options.retry,
            placed: Mutex::new(HashMap::new()),
        })
    }

    /// Returns true if the repository has the blob.
    pub async fn blob_exists(
        &self,
        repo: &RepositoryRef,
        digest: &str,
    ) -> Result<bool, ServiceError> {
        let doing = format!("checking for blob {digest} in {repo}");
        let url = self.transport.url(repo, &["blobs", digest]);
        let timeout = self.transport.request_timeout;
        self.retry
            .run(
                || async {
                    let response = self
                        .transport
                        .send(repo, Access::Push, &doing, &url, &|client| {
                            Ok(client.head(url.clone()).timeout(timeout))
                        })
                        .await?;
                    match response.status() {
                        status if status.is_success() => Ok(true),
                        StatusCode::NOT_FOUND => Ok(false),
                        _ => Err(self.transport.status_error(response, &doing).await),
                    }
                },
                ServiceError::is_transient,
            )
            .await
    }

    /// Uploads a blob from `path` (or `bytes`), restarting the upload on a transient failure.
    async fn upload_blob(
        &self,
        repo: &RepositoryRef,
        digest: &str,
        size: u64,
        source: BlobSource<'_>,
    ) -> Result<(), ServiceError> {
        let doing = format!("uploading blob {digest} to {repo}");
        let mount_from = self
            .placed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(repo.registry(), digest.to_owned()))
            .filter(|from| *from != repo.repository())
            .cloned();
        self.retry
            .run(
                || self.upload_once(repo, digest, size, &source, mount_from.as_deref(), &doing),
                ServiceError::is_transient,
            )
            .await?;
        self.remember_placed(repo, digest);
        Ok(())
    }

    async fn upload_once(
        &self,
        repo: &RepositoryRef,
        digest: &str,
        size: u64,
        source: &BlobSource<'_>,
        mount_from: Option<&str>,
        doing: &str,
    ) -> Result<(), ServiceError> {
        let timeout = self.transport.request_timeout;
        let mut start = self.transport.url(repo, &["blobs", "uploads", ""]);
        if let Some(from) = mount_from {
            start
                .query_pairs_mut()
                .append_pair("mount", digest)
                .append_pair("from", from);
        }
        let response = self
            .transport
            .send(repo, Access::Push, doing, &start, &|client| {
                Ok(client
                    .post(start.clone())
                    .header(header::CONTENT_LENGTH, "0")
                    .timeout(timeout))
            })
            .await?;
        match response.status() {
            // Mounted: the registry had the blob in the other repository.
            StatusCode::CREATED if mount_from.is_some() => return Ok(()),
            StatusCode::ACCEPTED => {}
            _ => return Err(self.transport.status_error(response, doing).await),
        }
        let mut location = location(&response, &start).ok_or_else(|| {
            self.transport.error(
                ServiceErrorKind::Protocol,
                doing,
                "the registry opened an upload without a Location".to_owned(),
            )
        })?;
        location.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .transport
            .send(repo, Access::Push, doing, &location, &|client| {
                let request = client
                    .put(location.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size.to_string());
                Ok(match source {
                    BlobSource::Bytes(bytes) => request.body(bytes.to_vec()).timeout(timeout),
                    // No fixed limit for a file of any size, but never a hang: at least
                    // 64 KiB/s on average.
                    BlobSource::File(path) => request
                        .body(file_body(path, doing)?)
                        .timeout(timeout + Duration::from_secs(size / (64 * 1024))),
                })
            })
            .await?;
        if response.status() == StatusCode::CREATED {
            return Ok(());
        }
        Err(self.transport.status_error(response, doing).await)
    }

    fn remember_placed(&self, repo: &RepositoryRef, digest: &str) {
        self.placed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (repo.registry(), digest.to_owned()),
                repo.repository().to_owned(),
            );
    }

    /// Uploads a blob unless the repository has it; returns true if it was sent.
    async fn ensure_blob(
        &self,
        repo: &RepositoryRef,
        digest: &str,
        size: u64,
        source: BlobSource<'_>,
    ) -> Result<bool, ServiceError> {
        if self.blob_exists(repo, digest).await? {
            self.remember_placed(repo, digest);
            return Ok(false);
        }
        self.upload_blob(repo, digest, size, source).await?;
        Ok(true)
    }

    /// `PUT`s a manifest under a tag (or a digest).
    async fn put_manifest(
        &self,
        repo: &RepositoryRef,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), ServiceError> {
        let doing = format!("tagging {repo}:{reference}");
        if !reference.starts_with("sha256:") && !is_valid_tag(reference) {
            return Err(ServiceError::new(
                ServiceErrorKind::Protocol,
                doing,
                format!(
                    "`{reference}` is not a valid OCI tag (letters, digits, `_`, `.` and `-`, not starting with `.` or `-`, at most 128 characters)"
                ),
            ));
        }
        let url = self.transport.url(repo, &["manifests", reference]);
        let timeout = self.transport.request_timeout;
        let content_type = HeaderValue::from_str(media_type).map_err(|_| {
            self.transport.error(
                ServiceErrorKind::Protocol,
                &doing,
                format!("the manifest media type `{media_type}` cannot be sent"),
            )
        })?;
        self.retry
            .run(
                || async {
                    let response = self
                        .transport
                        .send(repo, Access::Push, &doing, &url, &|client| {
                            Ok(client
                                .put(url.clone())
                                .header(header::CONTENT_TYPE, content_type.clone())
                                .body(bytes.to_vec())
                                .timeout(timeout))
                        })
                        .await?;
                    if response.status().is_success() {
                        Ok(())
                    } else {
                        Err(self.transport.status_error(response, &doing).await)
                    }
                },
                ServiceError::is_transient,
            )
            .await
    }

    /// `GET`s a manifest: its media type and bytes, or `None` if the reference is unknown.
    async fn get_manifest(
        &self,
        repo: &RepositoryRef,
        reference: &str,
        method: Method,
        access: Access,
    ) -> Result<Option<(String, Option<String>, Vec<u8>)>, ServiceError> {
        let doing = format!("reading {repo}:{reference}");
        let url = self.transport.url(repo, &["manifests", reference]);
        let timeout = self.transport.request_timeout;
        self.retry
            .run(
                || async {
                    let response = self
                        .transport
                        .send(repo, access, &doing, &url, &|client| {
                            Ok(client
                                .request(method.clone(), url.clone())
                                .header(header::ACCEPT, artifact::MANIFEST_ACCEPT)
                                .timeout(timeout))
                        })
                        .await?;
                    let status = response.status();
                    if status == StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    if !status.is_success() {
                        return Err(self.transport.status_error(response, &doing).await);
                    }
                    let header_text = |name: &str| {
                        response
                            .headers()
                            .get(name)
                            .and_then(|value| value.to_str().ok())
                            .map(str::to_owned)
                    };
                    let media_type = header_text(header::CONTENT_TYPE.as_str())
                        .unwrap_or_else(|| artifact::OCI_MANIFEST.to_owned());
                    let digest = header_text("docker-content-digest");
                    let bytes = response
                        .bytes()
                        .await
                        .map_err(|error| self.transport.transport_error(&error, &doing))?;
                    Ok(Some((media_type, digest, bytes.to_vec())))
                },
                ServiceError::is_transient,
            )
            .await
    }
}

/// The distribution spec's tag grammar: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric() || first == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Where a blob's bytes come from.
enum BlobSource<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

fn file_body(path: &Path, doing: &str) -> Result<reqwest::Body, ServiceError> {
    let file = std::fs::File::open(path).map_err(|error| {
        ServiceError::new(
            ServiceErrorKind::Protocol,
            doing,
            format!("cannot read {}: {error}", path.display()),
        )
    })?;
    let stream =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), UPLOAD_BUFFER);
    Ok(reqwest::Body::wrap_stream(stream))
}

/// The upload session's URL: `Location`, relative to the request's when it is a path.
fn location(response: &reqwest::Response, base: &Url) -> Option<Url> {
    let value = response.headers().get(header::LOCATION)?.to_str().ok()?;
    base.join(value).ok()
}

/// `sha256:<hex>` and size of a file, read on a blocking thread.
pub async fn file_digest(path: &Path) -> Result<(String, u64), ServiceError> {
    let owned = path.to_path_buf();
    let doing = format!("hashing {}", path.display());
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        let mut file = std::fs::File::open(&owned)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1024 * 1024];
        let mut size = 0u64;
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            size += read as u64;
        }
        Ok((
            format!("sha256:{}", artifact::hex(&hasher.finalize())),
            size,
        ))
    })
    .await;
    match result {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(error)) => Err(ServiceError::new(
            ServiceErrorKind::Protocol,
            doing,
            format!("cannot read the image: {error}"),
        )),
        Err(error) => Err(ServiceError::new(
            ServiceErrorKind::Protocol,
            doing,
            error.to_string(),
        )),
    }
}

impl Registry for RegistryClient {
    async fn resolve_tag(
        &self,
        repo: &RepositoryRef,
        tag: &str,
    ) -> Result<Option<String>, ServiceError> {
        let Some((_, digest, bytes)) = self
            .get_manifest(repo, tag, Method::HEAD, Access::Pull)
            .await?
        else {
            return Ok(None);
        };
        if let Some(digest) = digest {
            return Ok(Some(digest));
        }
        // No digest header: the body's hash is the digest (a HEAD has no body, so GET).
        let fetched = self
            .get_manifest(repo, tag, Method::GET, Access::Pull)
            .await?;
        Ok(fetched
            .map(|(_, _, body)| artifact::sha256_digest(&body))
            .or_else(|| (!bytes.is_empty()).then(|| artifact::sha256_digest(&bytes))))
    }

    async fn push_sif(
        &self,
        repo: &RepositoryRef,
        sif: &SifArtifact,
        tags: &[String],
    ) -> Result<Pushed, ServiceError> {
        let (layer_digest, size) = match &sif.digest {
            Some(digest) => {
                let size = std::fs::metadata(&sif.path)
                    .map_err(|error| {
                        ServiceError::new(
                            ServiceErrorKind::Protocol,
                            format!("pushing {} to {repo}", sif.path.display()),
                            format!("cannot read {}: {error}", sif.path.display()),
                        )
                    })?
                    .len();
                (digest.clone(), size)
            }
            None => file_digest(&sif.path).await?,
        };
        let config = artifact::config_descriptor();
        self.ensure_blob(
            repo,
            &config.digest,
            config.size,
            BlobSource::Bytes(artifact::EMPTY_CONFIG),
        )
        .await?;
        let uploaded = self
            .ensure_blob(repo, &layer_digest, size, BlobSource::File(&sif.path))
            .await?;
        let manifest = artifact::manifest_bytes(sif, &layer_digest, size);
        let manifest_digest = artifact::sha256_digest(&manifest);
        if tags.is_empty() {
            self.put_manifest(repo, &manifest_digest, artifact::OCI_MANIFEST, &manifest)
                .await?;
        }
        for tag in tags {
            self.put_manifest(repo, tag, artifact::OCI_MANIFEST, &manifest)
                .await?;
        }
        Ok(Pushed {
            manifest_digest,
            layer_digest,
            size,
            uploaded,
        })
    }

    async fn tag_manifest(
        &self,
        repo: &RepositoryRef,
        digest: &str,
        tags: &[String],
    ) -> Result<(), ServiceError> {
        let Some((media_type, _, bytes)) = self
            .get_manifest(repo, digest, Method::GET, Access::Push)
            .await?
        else {
            return Err(self.transport.error(
                ServiceErrorKind::Status {
                    code: 404,
                    message: String::new(),
                },
                &format!("tagging {repo}@{digest}"),
                format!("{repo} has no manifest {digest}; push the image first"),
            ));
        };
        for tag in tags {
            self.put_manifest(repo, tag, &media_type, &bytes).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_distribution_grammar() {
        for good in [
            "latest",
            "1.0",
            "sha256.0123abcd",
            "_x",
            "v1-arm64",
            &"a".repeat(128),
        ] {
            assert!(is_valid_tag(good), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a+b", &"a".repeat(129)] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }
}
