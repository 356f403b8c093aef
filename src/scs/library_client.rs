//! The container library over HTTP (PROTOCOL.md §3.3–3.4): [`LibraryClient`] implements
//! [`Library`] with the library client's wire habits (`Bearer`, JSON bodies without a content
//! type, exactly 200 for tag calls).
//!
//! Every call here is idempotent (a lookup; setting a tag to the same image twice leaves one
//! tag), so all are retried on transient faults.

use std::path::Path;
use std::sync::Arc;

use reqwest::{Method, StatusCode, Url};

use super::endpoints::TagApi;
use super::http::{AuthScheme, Call, CallBody, Transport, endpoint};
use super::retry::transient;
use super::service::{Image, Library, ServiceError, ServiceErrorKind};
use super::transfer::{Downloaded, TransferError, TransferOptions, TransferSetup};
use super::wire::{ImageWire, TagV1, TagV2};
use crate::libref::LibraryRef;

/// A client of one library.
#[derive(Clone, Debug)]
pub struct LibraryClient {
    pub(super) transport: Arc<Transport>,
    pub(super) base: Url,
    tags: TagApi,
    /// How image files move (`download.rs`, `upload.rs`); `None` until `connect` sets it.
    pub(super) transfer: Option<TransferSetup>,
}

impl LibraryClient {
    /// Returns a client of the library at `base` (ending in `/`) that sets tags through `tags`.
    pub(crate) fn new(transport: Arc<Transport>, base: Url, tags: TagApi) -> LibraryClient {
        LibraryClient {
            transport,
            base,
            tags,
            transfer: None,
        }
    }

    /// Returns this client with image file transfers set up.
    #[must_use]
    pub(crate) fn with_transfer(mut self, setup: TransferSetup) -> LibraryClient {
        self.transfer = Some(setup);
        self
    }

    /// Changes how downloads and uploads are cut up (for benchmarks and tests); no effect on
    /// a client without transfers.
    pub fn set_transfer_options(&mut self, options: TransferOptions) {
        if let Some(setup) = &mut self.transfer {
            setup.options = options;
        }
    }

    /// Returns the library's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Returns the tag API in use.
    pub fn tag_api(&self) -> TagApi {
        self.tags
    }

    async fn find_once(&self, url: &Url, doing: &str) -> Result<Option<Image>, ServiceError> {
        let transport = &self.transport;
        let response = transport
            .send(Call {
                method: Method::GET,
                url: url.clone(),
                auth: Some(AuthScheme::Bearer),
                body: None,
                doing,
            })
            .await?;
        // 404 is the library's "no such image" (also for a missing entity, collection or
        // container); anything else that is not 2xx is an error.
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let wire: ImageWire = transport
            .read_envelope(response, doing)
            .await?
            .decode(transport, doing)?;
        wire.into_domain().map(Some).ok_or_else(|| {
            transport.error(
                ServiceErrorKind::Protocol,
                doing,
                "the image in the reply has no `id` or `container`".to_owned(),
            )
        })
    }

    async fn tag_once(&self, url: &Url, body: &[u8], doing: &str) -> Result<(), ServiceError> {
        let transport = &self.transport;
        let response = transport
            .send(Call {
                method: Method::POST,
                url: url.clone(),
                auth: Some(AuthScheme::Bearer),
                body: Some(CallBody::UntypedJson(body.to_vec())),
                doing,
            })
            .await?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(());
        }
        if status.is_success() {
            // The library client accepts exactly 200 for tag calls (PROTOCOL.md §5.10); a
            // server that answers otherwise does not behave as the protocol says.
            return Err(transport.error(
                ServiceErrorKind::Protocol,
                doing,
                format!("the library answered {status} where the protocol says 200 OK"),
            ));
        }
        Err(transport.status_error(response, doing).await)
    }
}

impl Library for LibraryClient {
    async fn find_image(
        &self,
        container: &LibraryRef,
        tag: &str,
        arch: &str,
    ) -> Result<Option<Image>, ServiceError> {
        let doing = format!("reading image {}:{tag} for {arch}", container.path());
        let last = format!("{}:{tag}", container.container);
        let mut url = endpoint(
            &self.base,
            &[
                "v1",
                "images",
                &container.entity,
                &container.collection,
                &last,
            ],
        );
        // `arch` is always sent, even empty (PROTOCOL.md §3.2).
        url.query_pairs_mut().append_pair("arch", arch);
        self.transport
            .retry
            .run(|| self.find_once(&url, &doing), transient)
            .await
    }

    async fn set_tags(
        &self,
        container: &LibraryRef,
        image: &Image,
        arch: &str,
        tags: &[String],
    ) -> Result<(), ServiceError> {
        let version = match self.tags {
            TagApi::V1 => "v1",
            TagApi::V2 => "v2",
        };
        let url = endpoint(&self.base, &[version, "tags", &image.container_id]);
        for tag in tags {
            let doing = format!(
                "tagging image {} as {}:{tag} for {arch}",
                image.id,
                container.path()
            );
            let body = match self.tags {
                TagApi::V1 => serde_json::to_vec(&TagV1 {
                    tag,
                    image_id: &image.id,
                }),
                TagApi::V2 => serde_json::to_vec(&TagV2 {
                    arch,
                    tag,
                    image_id: &image.id,
                }),
            }
            .map_err(|error| {
                self.transport
                    .error(ServiceErrorKind::Protocol, &doing, error.to_string())
            })?;
            self.transport
                .retry
                .run(|| self.tag_once(&url, &body, &doing), transient)
                .await?;
        }
        Ok(())
    }

    async fn download_image(
        &self,
        container: &LibraryRef,
        tag: &str,
        arch: &str,
        destination: &Path,
    ) -> Result<Downloaded, TransferError> {
        self.download_file(container, tag, arch, destination).await
    }

    async fn upload_image(
        &self,
        container: &LibraryRef,
        arch: &str,
        file: &Path,
    ) -> Result<Image, TransferError> {
        self.upload_file(container, arch, file).await
    }
}
