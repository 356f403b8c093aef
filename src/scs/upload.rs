//! Uploading a SIF file to the library (PROTOCOL.md §3.5–3.6), as scs-library-client's
//! `UploadImage` does, without the tags (the caller sets them with `set_tags`):
//!
//! ```text
//! pre-pass (blocking threads): size, SHA-256, MD5
//! GET/POST v1/entities, v1/collections, v1/containers     find or create, 404 = missing
//! GET v1/images/{e}/{c}/{n}:sha256.<hex>?arch=             uploaded already? done
//!   └─ POST v1/images {hash, container}                     else the record to upload to
//! v2, > 64 MiB: POST _multipart → per part: PUT _multipart (presigned URL), PUT the part,
//!               PUT _multipart_complete (PUT _multipart_abort on failure); 404 = single
//! v2:           POST v2/imagefile/{id} → PUT the file to uploadURL → PUT _complete
//! v1:           POST v1/imagefile/{id} with the file
//! ```
//!
//! Presigned URLs get no `Authorization`. Every step is idempotent or made so (a create
//! that meets 409 reads what another writer created) and retried on transient faults; a
//! file body is re-opened for each attempt, so nothing is held in memory.

use std::io::{self, SeekFrom};
use std::path::Path;

use futures_util::TryStreamExt;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::checksums::{Checksums, checksums, part_sha256};
use super::http::{AuthScheme, Call, CallBody, endpoint, without_query};
use super::library_client::LibraryClient;
use super::retry::transient;
use super::service::{Image, Library, ServiceError, ServiceErrorKind};
use super::transfer::{TransferError, TransferSetup, UploadApi, split_ranges};
use crate::libref::LibraryRef;

mod records;

/// Files above this many bytes go up in parts (the client's `minimumPartSize`).
pub const MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;

/// The header S3 checks a payload against.
const AMZ_SHA256: &str = "x-amz-content-sha256";

/// What the description of a created entity, collection, container or image says.
const DESCRIPTION: &str = "No description";

/// What one attempt produced: `Err` outside is a service error (retried when transient); a
/// local file error comes inside, so it is never retried.
type Attempt<T> = Result<Result<T, TransferError>, ServiceError>;

/// `POST v2/imagefile/{id}/_multipart`'s `data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MultipartStart {
    #[serde(rename = "uploadID", alias = "uploadId")]
    upload_id: String,
    #[serde(rename = "totalParts")]
    total_parts: u64,
    #[serde(rename = "partSize")]
    part_size: u64,
    options: MultipartOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MultipartOptions {
    s3compliant: Option<String>,
}

/// What one upload shares.
struct Upload<'a> {
    client: &'a LibraryClient,
    setup: &'a TransferSetup,
    path: &'a Path,
    sums: &'a Checksums,
    image_id: String,
    doing: String,
}

impl LibraryClient {
    /// Uploads `path` to `container` for `arch` (see the module docs).
    pub(super) async fn upload_file(
        &self,
        container: &LibraryRef,
        arch: &str,
        path: &Path,
    ) -> Result<Image, TransferError> {
        let setup = self.transfer_setup()?;
        let owned = path.to_path_buf();
        let sums = tokio::task::spawn_blocking(move || checksums(&owned))
            .await
            .map_err(io::Error::other)
            .and_then(|result| result)
            .map_err(|error| TransferError::file("cannot read", path, error))?;
        if sums.size == 0 {
            return Err(TransferError::file(
                "cannot upload",
                path,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file is empty, not a SIF image",
                ),
            ));
        }
        let hash = format!("sha256.{}", sums.sha256);
        let container_id = self.find_or_create(container).await?;
        let image = match self.find_image(container, &hash, arch).await? {
            Some(image) if image.uploaded => return Ok(image),
            Some(image) => image,
            None => self.create_image(container, &hash, &container_id).await?,
        };
        let upload = Upload {
            client: self,
            setup,
            path,
            sums: &sums,
            image_id: image.id.clone(),
            doing: format!("uploading `{}` to {}", path.display(), container.path()),
        };
        match setup.upload {
            UploadApi::V1 => upload.v1().await?,
            UploadApi::V2 if sums.size > MULTIPART_THRESHOLD => {
                if !upload.multipart().await? {
                    upload.single().await?;
                }
            }
            UploadApi::V2 => upload.single().await?,
        }
        // The library's own record now; a library that resolves hashes only for images of
        // a known arch may not find it yet, and its `_complete` already said yes.
        let found = self.find_image(container, &hash, arch).await?;
        Ok(found.filter(|image| image.uploaded).unwrap_or(Image {
            size: sums.size,
            uploaded: true,
            ..image
        }))
    }
}

impl Upload<'_> {
    fn transport(&self) -> &super::http::Transport {
        &self.client.transport
    }

    fn url(&self, segments: &[&str]) -> Url {
        endpoint(&self.client.base, segments)
    }

    /// A library call with a JSON body, retried on transient faults; `None` on 404.
    async fn call(
        &self,
        method: Method,
        url: &Url,
        body: serde_json::Value,
        doing: &str,
    ) -> Result<Option<serde_json::Value>, ServiceError> {
        let transport = self.transport();
        let bytes = serde_json::to_vec(&body).map_err(|error| {
            transport.error(ServiceErrorKind::Protocol, doing, error.to_string())
        })?;
        let attempt = || async {
            let response = transport
                .send(Call {
                    method: method.clone(),
                    url: url.clone(),
                    auth: Some(AuthScheme::Bearer),
                    body: Some(CallBody::UntypedJson(bytes.clone())),
                    doing,
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let reply = transport.read_envelope(response, doing).await?;
            Ok(Some(reply.data.unwrap_or(serde_json::Value::Null)))
        };
        transport.retry.run(attempt, transient).await
    }

    /// A `data.<key>` URL from a reply.
    fn url_in(
        &self,
        reply: Option<serde_json::Value>,
        key: &str,
        doing: &str,
    ) -> Result<Url, ServiceError> {
        reply
            .as_ref()
            .and_then(|data| data.get(key))
            .and_then(serde_json::Value::as_str)
            .filter(|url| !url.is_empty())
            .and_then(|url| self.client.base.join(url).ok())
            .ok_or_else(|| {
                self.transport().error(
                    ServiceErrorKind::Protocol,
                    doing,
                    format!("the reply has no `{key}`"),
                )
            })
    }

    /// The bytes `range` of the file as a streamed body, opened afresh for each attempt.
    async fn body(&self, offset: u64, length: u64) -> Result<reqwest::Body, TransferError> {
        let mut file = tokio::fs::File::open(self.path)
            .await
            .map_err(|error| TransferError::file("cannot read", self.path, error))?;
        file.seek(SeekFrom::Start(offset))
            .await
            .map_err(|error| TransferError::file("cannot read", self.path, error))?;
        let stream = ReaderStream::with_capacity(file.take(length), 256 << 10);
        Ok(reqwest::Body::wrap_stream(stream.map_err(io::Error::other)))
    }

    /// Sends `length` bytes from `offset` to `url`; returns the response if it is exactly
    /// 200 (the client accepts nothing else from these endpoints).
    async fn send_file(
        &self,
        method: Method,
        url: &Url,
        (offset, length): (u64, u64),
        headers: &[(&'static str, String)],
        bearer: bool,
        doing: &str,
    ) -> Attempt<reqwest::Response> {
        let transport = self.transport();
        let body = match self.body(offset, length).await {
            Ok(body) => body,
            Err(error) => return Ok(Err(error)),
        };
        let mut request = self
            .setup
            .client
            .request(method, url.clone())
            .header(header::CONTENT_LENGTH, length)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        if bearer {
            request = request.header(
                header::AUTHORIZATION,
                transport.authorization(AuthScheme::Bearer)?,
            );
        }
        let response = request
            .send()
            .await
            .map_err(|error| transport.transport_error(&error, doing))?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(Ok(response));
        }
        if status.is_success() {
            return Err(transport.error(
                ServiceErrorKind::Protocol,
                doing,
                format!(
                    "{} answered {status} where the protocol says 200 OK",
                    without_query(url)
                ),
            ));
        }
        Err(transport.status_error(response, doing).await)
    }

    /// `POST v1/imagefile/{id}` with the whole file.
    async fn v1(&self) -> Result<(), TransferError> {
        let url = self.url(&["v1", "imagefile", &self.image_id]);
        let attempt = || async {
            self.send_file(
                Method::POST,
                &url,
                (0, self.sums.size),
                &[],
                true,
                &self.doing,
            )
            .await
            .map(|sent| sent.map(drop))
        };
        self.transport().retry.run(attempt, transient).await?
    }

    /// One presigned PUT of the whole file, then `_complete`.
    async fn single(&self) -> Result<(), TransferError> {
        let start = self.url(&["v2", "imagefile", &self.image_id]);
        let body = json!({
            "filesize": self.sums.size,
            "sha256sum": self.sums.sha256,
            "md5sum": self.sums.md5,
        });
        let attempt = || async {
            let reply = self
                .call(Method::POST, &start, body.clone(), &self.doing)
                .await?;
            let url = self.url_in(reply, "uploadURL", &self.doing)?;
            // S3 wants the header only when the URL's signature covers it.
            let signed = url.query_pairs().any(|(key, value)| {
                key.eq_ignore_ascii_case("X-Amz-SignedHeaders")
                    && value
                        .split(';')
                        .any(|name| name.eq_ignore_ascii_case(AMZ_SHA256))
            });
            let mut headers = vec![("content-type", "application/octet-stream".to_owned())];
            if signed {
                headers.push((AMZ_SHA256, self.sums.sha256.clone()));
            }
            self.send_file(
                Method::PUT,
                &url,
                (0, self.sums.size),
                &headers,
                false,
                &self.doing,
            )
            .await
            .map(|sent| sent.map(drop))
        };
        self.transport().retry.run(attempt, transient).await??;
        let complete = self.url(&["v2", "imagefile", &self.image_id, "_complete"]);
        self.call(Method::PUT, &complete, json!({}), &self.doing)
            .await?;
        Ok(())
    }

    /// The upload in parts; `false` when the library does not offer it (404).
    async fn multipart(&self) -> Result<bool, TransferError> {
        let url = self.url(&["v2", "imagefile", &self.image_id, "_multipart"]);
        let doing = &self.doing;
        let Some(reply) = self
            .call(
                Method::POST,
                &url,
                json!({"filesize": self.sums.size}),
                doing,
            )
            .await?
        else {
            return Ok(false);
        };
        let start: MultipartStart = serde_json::from_value(reply).unwrap_or_default();
        let ranges = split_ranges(self.sums.size, start.part_size);
        if start.upload_id.is_empty()
            || start.part_size == 0
            || ranges.len() as u64 != start.total_parts
        {
            return Err(self
                .transport()
                .error(
                    ServiceErrorKind::Protocol,
                    doing,
                    format!(
                        "the library offered {} parts of {} bytes for {} bytes",
                        start.total_parts, start.part_size, self.sums.size
                    ),
                )
                .into());
        }
        // `s3compliant` missing or "true" means S3 checks the part's SHA-256 header.
        let s3 = start
            .options
            .s3compliant
            .as_deref()
            .is_none_or(|value| value.eq_ignore_ascii_case("true"));
        let parts =
            futures_util::stream::iter(ranges.into_iter().enumerate().map(Ok::<_, TransferError>))
                .map_ok(|(index, range)| self.part(&url, &start.upload_id, index + 1, range, s3))
                .try_buffered(self.setup.options.upload_streams.max(1))
                .try_collect::<Vec<serde_json::Value>>()
                .await;
        let parts = match parts {
            Ok(parts) => parts,
            Err(error) => {
                let abort = self.url(&["v2", "imagefile", &self.image_id, "_multipart_abort"]);
                // Best effort: the upload failed already, and an abandoned upload expires.
                let _ = self
                    .call(
                        Method::PUT,
                        &abort,
                        json!({"uploadID": start.upload_id}),
                        doing,
                    )
                    .await;
                return Err(error);
            }
        };
        let complete = self.url(&["v2", "imagefile", &self.image_id, "_multipart_complete"]);
        let body = json!({"uploadID": start.upload_id, "completedParts": parts});
        self.call(Method::PUT, &complete, body, doing).await?;
        Ok(true)
    }

    /// Uploads part `number` (from 1); returns its `{partNumber, token}`.
    async fn part(
        &self,
        url: &Url,
        upload_id: &str,
        number: usize,
        range: std::ops::Range<u64>,
        s3: bool,
    ) -> Result<serde_json::Value, TransferError> {
        let length = range.end - range.start;
        let path = self.path.to_path_buf();
        let sha256 = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)?;
            part_sha256(&file, range.start, length)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|result| result)
        .map_err(|error| TransferError::file("cannot read", self.path, error))?;
        let doing = format!("{} (part {number})", self.doing);
        let body = json!({
            "partSize": length,
            "uploadID": upload_id,
            "partNumber": number,
            "sha256sum": sha256,
        });
        let attempt = || async {
            let reply = self.call(Method::PUT, url, body.clone(), &doing).await?;
            let presigned = self.url_in(reply, "presignedURL", &doing)?;
            let headers = if s3 {
                vec![(AMZ_SHA256, sha256.clone())]
            } else {
                Vec::new()
            };
            let response = match self
                .send_file(
                    Method::PUT,
                    &presigned,
                    (range.start, length),
                    &headers,
                    false,
                    &doing,
                )
                .await?
            {
                Ok(response) => response,
                Err(error) => return Ok(Err(error)),
            };
            let token = response
                .headers()
                .get(header::ETAG)
                .and_then(|value: &HeaderValue| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            Ok(Ok(json!({"partNumber": number, "token": token})))
        };
        self.transport().retry.run(attempt, transient).await?
    }
}
