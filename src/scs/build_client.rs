//! The build service over HTTP (PROTOCOL.md §2): [`BuildClient`] implements
//! [`BuildService`] with the build client's wire habits (`BEARER`, JSON with a content type,
//! any 2xx accepted).
//!
//! Retries: reads, context uploads, deletes and cancels are retried on any transient fault
//! (deletes and cancels quickly: they run under the executor's clean-up bound); a submission
//! only when the service cannot have acted on it, so a build is never started twice (a
//! timeout or a reset after sending may hide a build that started).

use std::sync::Arc;

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, Url};
use tokio::sync::mpsc;
use tokio_util::io::ReaderStream;

use super::http::{AuthScheme, Call, CallBody, Transport, endpoint, human_size};
use super::retry::{transient, transient_not_acted_on};
use super::service::{
    BuildInfo, BuildRequest, BuildService, ContextArchive, ServiceError, ServiceErrorKind,
};
use super::wire::{BuildInfoWire, ContextBody, SubmitBody};
use super::ws;

/// A client of one build service.
#[derive(Clone, Debug)]
pub struct BuildClient {
    transport: Arc<Transport>,
    base: Url,
    /// Sent as `libraryURL` when a request names no library: the builder pulls
    /// `Bootstrap: library` bases from it and pushes the image there.
    default_library_url: String,
}

impl BuildClient {
    /// Returns a client of the build service at `base` (ending in `/`).
    pub(crate) fn new(
        transport: Arc<Transport>,
        base: Url,
        default_library_url: String,
    ) -> BuildClient {
        BuildClient {
            transport,
            base,
            default_library_url,
        }
    }

    /// Returns the build service's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[&str]) -> Url {
        endpoint(&self.base, segments)
    }

    /// One attempt at B5 (+ B6 when the service asks for the archive).
    async fn upload_once(&self, archive: &ContextArchive, doing: &str) -> Result<(), ServiceError> {
        let transport = &self.transport;
        let body = serde_json::to_vec(&ContextBody {
            size: archive.size,
            digest: &archive.digest,
        })
        .map_err(|error| transport.error(ServiceErrorKind::Protocol, doing, error.to_string()))?;
        let reply = transport
            .call(Call {
                method: Method::POST,
                url: self.url(&["v1", "build-context"]),
                auth: Some(AuthScheme::UpperBearer),
                body: Some(CallBody::Json(body)),
                doing,
            })
            .await?;
        // No `Location`: the service has this context already (PROTOCOL.md §2.5).
        let Some(location) = reply
            .headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
        else {
            return Ok(());
        };
        let target = self.base.join(location).map_err(|error| {
            transport.error(
                ServiceErrorKind::Protocol,
                doing,
                format!("the upload location `{location}` is not a URL: {error}"),
            )
        })?;
        self.put_archive(archive, target, doing).await
    }

    /// B6: streams the archive from disk to the presigned URL. No `Authorization` (the URL
    /// is the capability, and it may point at another host) and no timeout (the reference
    /// client dropped its timeout for large contexts).
    async fn put_archive(
        &self,
        archive: &ContextArchive,
        target: Url,
        doing: &str,
    ) -> Result<(), ServiceError> {
        let transport = &self.transport;
        let local = |error: std::io::Error| {
            transport.error(
                ServiceErrorKind::Protocol,
                doing,
                format!("cannot read `{}`: {error}", archive.path.display()),
            )
        };
        let file = tokio::fs::File::open(&archive.path).await.map_err(local)?;
        let length = file.metadata().await.map_err(local)?.len();
        if length != archive.size {
            return Err(transport.error(
                ServiceErrorKind::Protocol,
                doing,
                format!(
                    "`{}` is {length} bytes, but {} were announced",
                    archive.path.display(),
                    archive.size
                ),
            ));
        }
        let response = transport
            .client
            .put(target)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            // Set explicitly: a streamed body would otherwise go chunked, which presigned
            // object-store URLs refuse.
            .header(header::CONTENT_LENGTH, HeaderValue::from(length))
            .body(reqwest::Body::wrap_stream(ReaderStream::with_capacity(
                file,
                1 << 20,
            )))
            .send()
            .await
            .map_err(|error| transport.transport_error(&error, doing))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(transport.status_error(response, doing).await)
        }
    }

    async fn build_info(&self, call: Call<'_>) -> Result<BuildInfo, ServiceError> {
        let doing = call.doing;
        let transport = &self.transport;
        let wire: BuildInfoWire = transport.call(call).await?.decode(transport, doing)?;
        wire.into_domain().ok_or_else(|| {
            transport.error(
                ServiceErrorKind::Protocol,
                doing,
                "the reply names no build id".to_owned(),
            )
        })
    }
}

impl BuildService for BuildClient {
    /// Announces the archive and uploads it when asked. A retry announces it again: the
    /// presigned URL may be single-use, and if the failed upload did arrive the service now
    /// answers without a `Location`. The archive is re-opened and streamed on each attempt,
    /// never held in memory.
    async fn upload_context(&self, archive: &ContextArchive) -> Result<(), ServiceError> {
        let doing = format!("uploading the build context ({})", human_size(archive.size));
        self.transport
            .retry
            .run(|| self.upload_once(archive, &doing), transient)
            .await
    }

    async fn delete_context(&self, digest: &str) -> Result<(), ServiceError> {
        let doing = format!("deleting the build context {digest}");
        let transport = &self.transport;
        transport
            .retry
            .for_cleanup()
            .run(
                || async {
                    transport
                        .call(Call {
                            method: Method::DELETE,
                            url: self.url(&["v1", "build-context", digest]),
                            auth: Some(AuthScheme::UpperBearer),
                            body: None,
                            doing: &doing,
                        })
                        .await
                        .map(drop)
                },
                transient,
            )
            .await
    }

    async fn submit(&self, request: &BuildRequest) -> Result<BuildInfo, ServiceError> {
        let doing = match &request.library_ref {
            Some(destination) => {
                format!("submitting the build of {destination} for {}", request.arch)
            }
            None => format!("submitting the ephemeral build for {}", request.arch),
        };
        let transport = &self.transport;
        let body = serde_json::to_vec(&SubmitBody::new(request, &self.default_library_url))
            .map_err(|error| {
                transport.error(ServiceErrorKind::Protocol, &doing, error.to_string())
            })?;
        transport
            .retry
            .run(
                || {
                    self.build_info(Call {
                        method: Method::POST,
                        url: self.url(&["v1", "build"]),
                        auth: Some(AuthScheme::UpperBearer),
                        body: Some(CallBody::Json(body.clone())),
                        doing: &doing,
                    })
                },
                transient_not_acted_on,
            )
            .await
    }

    async fn status(&self, id: &str) -> Result<BuildInfo, ServiceError> {
        let doing = format!("reading the status of build {id}");
        self.transport
            .retry
            .run(
                || {
                    self.build_info(Call {
                        method: Method::GET,
                        url: self.url(&["v1", "build", id]),
                        auth: Some(AuthScheme::UpperBearer),
                        body: None,
                        doing: &doing,
                    })
                },
                transient,
            )
            .await
    }

    async fn stream_log(&self, id: &str, output: mpsc::Sender<String>) -> Result<(), ServiceError> {
        ws::stream_log(&self.transport, &self.base, id, output).await
    }

    async fn cancel(&self, id: &str) -> Result<(), ServiceError> {
        let doing = format!("cancelling build {id}");
        let transport = &self.transport;
        transport
            .retry
            .for_cleanup()
            .run(
                || async {
                    let response = transport
                        .send(Call {
                            method: Method::PUT,
                            url: self.url(&["v1", "build", id, "_cancel"]),
                            auth: Some(AuthScheme::UpperBearer),
                            body: None,
                            doing: &doing,
                        })
                        .await?;
                    // Any 2xx, whatever the body (mock servers answer 204, PROTOCOL.md §5.6).
                    if response.status().is_success() {
                        Ok(())
                    } else {
                        Err(transport.status_error(response, &doing).await)
                    }
                },
                transient,
            )
            .await
    }
}
