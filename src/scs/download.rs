//! Downloading an image file from the library (PROTOCOL.md §3.7), as SingularityCE's
//! concurrent downloader does (scs-library-client `client/pull.go`, `downloader.go`):
//!
//! ```text
//! GET v1/images/{e}/{c}/{n}:{tag}?arch=        the record: hash and size
//! GET v1/imagefile/{e}/{c}/{n}:sha256.<hex>?arch=   (by hash: a tag moved meanwhile cannot
//!    └─ 303 Location: <presigned URL>                 mix two images)
//!         └─ GET Range: bytes=a-b  × N parts, a few at a time, each retried and resumed
//!    └─ 200: the file in one stream
//! ```
//!
//! Parts are written by position into a temporary file beside the destination while a
//! blocking task hashes the written prefix; the file gets its final name only once its size
//! and SHA-256 are the library's. The token goes to the redirect target only when it is the
//! library's own scheme, host and port (the fix for CVE-2022-23538). A server that ignores
//! `Range` (200 to the first part) is read as one stream, restarted from the start on a
//! dropped connection.

use std::io;
use std::ops::Range;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use reqwest::header;
use reqwest::{Method, StatusCode, Url};

use super::http::{AuthScheme, endpoint, innermost};
use super::library_client::LibraryClient;
use super::retry::transient;
use super::service::{Image, Library, ServiceError, ServiceErrorKind};
use super::transfer::{
    Downloaded, HashingPipeline, IO_BUFFER, STALL_TIMEOUT, TransferError, TransferSetup,
    content_range, range_header, split_ranges,
};
use crate::libref::LibraryRef;

/// Where the library said the file is.
enum Located {
    /// A 3xx with a `Location`: fetched in ranges.
    Redirect(Url),
    /// 200: the body is the file (fetched again from the same URL on a retry).
    Direct(Url, reqwest::Response),
}

/// What every part of one download shares.
struct Fetch<'a> {
    client: &'a LibraryClient,
    setup: &'a TransferSetup,
    url: Url,
    /// Whether the URL is the library's own origin, which may see the token.
    send_token: bool,
    file: Arc<std::fs::File>,
    /// The file the user asked for, for messages (the bytes go to a temporary beside it).
    destination: &'a Path,
    pipeline: &'a HashingPipeline,
    doing: String,
}

impl LibraryClient {
    /// Downloads `container:tag` for `arch` to `destination` (see the module docs).
    pub(super) async fn download_file(
        &self,
        container: &LibraryRef,
        tag: &str,
        arch: &str,
        destination: &Path,
    ) -> Result<Downloaded, TransferError> {
        let setup = self.transfer_setup()?;
        let name = format!("{}:{tag}", container.path());
        let image = self
            .find_image(container, tag, arch)
            .await?
            .ok_or_else(|| TransferError::NotFound {
                image: name.clone(),
                arch: arch.to_owned(),
            })?;
        if !image.uploaded {
            return Err(TransferError::Incomplete {
                image: name,
                arch: arch.to_owned(),
            });
        }
        let directory = match destination.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let temporary = tempfile::Builder::new()
            .prefix(".sifbake-pull-")
            .suffix(".part")
            // A SIF file starts with a `#!` line: it runs as a program, as `singularity
            // pull` leaves it (the umask still applies).
            .permissions(std::fs::Permissions::from_mode(0o755))
            .tempfile_in(directory)
            .map_err(|error| TransferError::file("cannot create a file in", directory, error))?;
        let file = Arc::new(
            temporary
                .as_file()
                .try_clone()
                .map_err(|error| TransferError::file("cannot open", temporary.path(), error))?,
        );
        let doing = format!("downloading image {name} for {arch}");
        let (pipeline, hashing) = HashingPipeline::start(Arc::clone(&file));
        let fetch = Fetch {
            client: self,
            setup,
            url: self.base.clone(),
            send_token: true,
            file,
            destination,
            pipeline: &pipeline,
            doing,
        };
        let fetched = self.fetch_into(fetch, container, &image, arch).await;
        pipeline.finish();
        let hashed = hashing.await;
        let (parts, ranged) = fetched?;
        let (actual, size) = hashed
            .map_err(io::Error::other)
            .and_then(|result| result)
            .map_err(|error| TransferError::file("cannot read back", temporary.path(), error))?;
        let expected = image.hash.strip_prefix("sha256.").unwrap_or(&image.hash);
        if actual != expected || size != image.size {
            return Err(TransferError::HashMismatch {
                image: name,
                expected: expected.to_owned(),
                actual,
                size,
            });
        }
        // No fsync: the rename protects against a sifbake that dies, which is what a CI job
        // does; a machine crash loses the job anyway.
        temporary
            .persist(destination)
            .map_err(|error| TransferError::file("cannot write", destination, error.error))?;
        Ok(Downloaded {
            image,
            path: destination.to_path_buf(),
            parts,
            ranged,
        })
    }

    /// Writes the image's bytes into the file; returns the parts fetched and whether ranges
    /// were honoured.
    async fn fetch_into(
        &self,
        mut fetch: Fetch<'_>,
        container: &LibraryRef,
        image: &Image,
        arch: &str,
    ) -> Result<(usize, bool), TransferError> {
        let located = self
            .locate(fetch.setup, container, image, arch, &fetch.doing)
            .await?;
        let url = match located {
            Located::Direct(url, response) => {
                fetch.url = url;
                fetch.single_stream(Some(response)).await?;
                return Ok((1, false));
            }
            Located::Redirect(url) => url,
        };
        // The token goes only to the library's own origin.
        fetch.send_token = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default();
        fetch.url = url;
        let ranges = split_ranges(image.size, fetch.setup.options.download_part_size);
        let Some(first) = ranges.first().cloned() else {
            // An empty file: nothing to range over.
            fetch.single_stream(None).await?;
            return Ok((1, false));
        };
        let file = Arc::clone(&fetch.file);
        let size = image.size;
        tokio::task::spawn_blocking(move || file.set_len(size))
            .await
            .map_err(io::Error::other)
            .and_then(|result| result)
            .map_err(|error| TransferError::file("cannot write", fetch.destination, error))?;
        // The first part doubles as the probe: a 200 says the server ignores ranges.
        let (ranged, first_response) = self
            .transport
            .retry
            .run(|| fetch.open(&first, 0, size), transient)
            .await?;
        if !ranged {
            fetch.single_stream(Some(first_response)).await?;
            return Ok((1, false));
        }
        let count = ranges.len();
        let mut first_response = Some(first_response);
        let fetch = &fetch;
        futures_util::stream::iter(ranges.into_iter().map(|range| {
            let opened = first_response.take();
            Ok::<_, TransferError>((range, opened))
        }))
        .try_for_each_concurrent(
            fetch.setup.options.download_streams.max(1),
            |(range, opened)| fetch.part(range, opened, size),
        )
        .await?;
        Ok((count, true))
    }

    /// Asks the library where the file of `image` is, by its hash.
    async fn locate(
        &self,
        setup: &TransferSetup,
        container: &LibraryRef,
        image: &Image,
        arch: &str,
        doing: &str,
    ) -> Result<Located, TransferError> {
        let last = format!("{}:{}", container.container, image.hash);
        let mut url = endpoint(
            &self.base,
            &[
                "v1",
                "imagefile",
                &container.entity,
                &container.collection,
                &last,
            ],
        );
        url.query_pairs_mut().append_pair("arch", arch);
        let transport = &self.transport;
        let attempt = || async {
            let response = setup
                .client
                .request(Method::GET, url.clone())
                .header(
                    header::AUTHORIZATION,
                    transport.authorization(AuthScheme::Bearer)?,
                )
                .send()
                .await
                .map_err(|error| transport.transport_error(&error, doing))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| url.join(value).ok())
                    .ok_or_else(|| {
                        transport.error(
                            ServiceErrorKind::Protocol,
                            doing,
                            format!("the library answered {status} without a usable Location"),
                        )
                    })?;
                return Ok(Some(Located::Redirect(location)));
            }
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if status == StatusCode::OK {
                return Ok(Some(Located::Direct(url.clone(), response)));
            }
            Err(transport.status_error(response, doing).await)
        };
        transport
            .retry
            .run(attempt, transient)
            .await?
            .ok_or_else(|| TransferError::NotFound {
                image: format!("{}:{}", container.path(), image.hash),
                arch: arch.to_owned(),
            })
    }

    pub(super) fn transfer_setup(&self) -> Result<&TransferSetup, TransferError> {
        self.transfer.as_ref().ok_or(TransferError::Unsupported)
    }
}

impl Fetch<'_> {
    fn request(&self, range: Option<&str>) -> Result<reqwest::RequestBuilder, ServiceError> {
        let mut request = self.setup.client.get(self.url.clone());
        if self.send_token {
            request = request.header(
                header::AUTHORIZATION,
                self.client.transport.authorization(AuthScheme::Bearer)?,
            );
        }
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        Ok(request)
    }

    fn error(&self, kind: ServiceErrorKind, detail: String) -> ServiceError {
        self.client.transport.error(kind, &self.doing, detail)
    }

    /// A body that stops arriving is a dropped or stalled connection, whatever reqwest calls
    /// it ("error decoding response body" for an early end): transient, so the part resumes.
    fn body_error(&self, error: &reqwest::Error) -> ServiceError {
        let detail = if error.is_timeout() {
            format!("no bytes arrived for {}s", STALL_TIMEOUT.as_secs())
        } else {
            format!("the connection broke mid-transfer: {}", innermost(error))
        };
        self.error(ServiceErrorKind::Timeout, detail)
    }

    /// Sends the GET for what is left of `part`; returns whether the answer is that range
    /// (206), or the whole file (200, taken only for the very first request of a download).
    async fn open(
        &self,
        part: &Range<u64>,
        done: u64,
        size: u64,
    ) -> Result<(bool, reqwest::Response), ServiceError> {
        let transport = &self.client.transport;
        let range = range_header(part, done).unwrap_or_default();
        let response = self
            .request(Some(&range))?
            .send()
            .await
            .map_err(|error| transport.transport_error(&error, &self.doing))?;
        let status = response.status();
        if status == StatusCode::OK && part.start == 0 && done == 0 {
            return Ok((false, response));
        }
        if status != StatusCode::PARTIAL_CONTENT {
            if status.is_success() {
                return Err(self.error(
                    ServiceErrorKind::Protocol,
                    format!("asked for {range}, the server answered {status}"),
                ));
            }
            return Err(transport.status_error(response, &self.doing).await);
        }
        let answered = response
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|value| value.to_str().ok())
            .and_then(content_range);
        match answered {
            Some((start, end, total))
                if start == part.start + done && end == part.end && total == size =>
            {
                Ok((true, response))
            }
            _ => Err(self.error(
                ServiceErrorKind::Protocol,
                format!(
                    "asked for {range} of {size} bytes, the server sent Content-Range {:?}",
                    response.headers().get(header::CONTENT_RANGE)
                ),
            )),
        }
    }

    /// Fetches one part, resuming after what already arrived when a connection drops.
    async fn part(
        &self,
        part: Range<u64>,
        opened: Option<reqwest::Response>,
        size: u64,
    ) -> Result<(), TransferError> {
        let done = std::sync::atomic::AtomicU64::new(0);
        let opened = std::sync::Mutex::new(opened);
        let attempt = || async {
            let already = done.load(std::sync::atomic::Ordering::SeqCst);
            let ready = opened
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let response = match ready {
                Some(response) => response,
                None => match self.open(&part, already, size).await? {
                    (true, response) => response,
                    (false, _) => {
                        return Err(self.error(
                            ServiceErrorKind::Protocol,
                            "the server stopped honouring Range".to_owned(),
                        ));
                    }
                },
            };
            let start = part.start + already;
            let copied = self.copy(response, start, part.end - start).await;
            let written = match &copied {
                Ok(Ok(written)) | Ok(Err((written, _))) => *written,
                Err(_) => 0,
            };
            done.fetch_add(written, std::sync::atomic::Ordering::SeqCst);
            match copied {
                Ok(Ok(_)) => Ok(Ok(())),
                Ok(Err((_, error))) => Err(error),
                Err(error) => Ok(Err(error)),
            }
        };
        let transport = &self.client.transport;
        transport.retry.run(attempt, transient).await?
    }

    /// Reads the whole file in one stream, from the start again after a dropped connection.
    async fn single_stream(
        &self,
        response: Option<reqwest::Response>,
    ) -> Result<(), TransferError> {
        let transport = &self.client.transport;
        let opened = std::sync::Mutex::new(response);
        let attempt = || async {
            let ready = opened
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let response = match ready {
                Some(response) => response,
                None => {
                    let response = self
                        .request(None)?
                        .send()
                        .await
                        .map_err(|error| transport.transport_error(&error, &self.doing))?;
                    if response.status() != StatusCode::OK {
                        return Err(transport.status_error(response, &self.doing).await);
                    }
                    response
                }
            };
            let limit = response.content_length().unwrap_or(u64::MAX);
            match self.copy(response, 0, limit).await {
                Ok(Ok(written)) => {
                    let file = Arc::clone(&self.file);
                    // A retry after a longer first attempt must not leave its tail behind.
                    let truncated = tokio::task::spawn_blocking(move || file.set_len(written))
                        .await
                        .map_err(io::Error::other)
                        .and_then(|result| result);
                    Ok(truncated.map_err(|error| {
                        TransferError::file("cannot write", self.destination, error)
                    }))
                }
                Ok(Err((_, error))) => Err(error),
                Err(error) => Ok(Err(error)),
            }
        };
        transport.retry.run(attempt, transient).await?
    }

    /// Copies a response body into the file from `offset`, at most `limit` bytes; returns
    /// the bytes written, with the error that stopped the body early, if any. The outer
    /// `Err` is a local file error.
    ///
    /// Two buffers: while one is written on a blocking thread, the next fills from the
    /// socket, so receiving never waits for the disk.
    async fn copy(
        &self,
        response: reqwest::Response,
        offset: u64,
        limit: u64,
    ) -> Result<Result<u64, (u64, ServiceError)>, TransferError> {
        let mut body = response.bytes_stream();
        let mut buffer = Vec::with_capacity(IO_BUFFER);
        let mut spare = Vec::with_capacity(IO_BUFFER);
        let mut in_flight: Option<PendingWrite> = None;
        // Bytes handed to writes, and bytes known written.
        let (mut queued, mut written) = (0_u64, 0_u64);
        loop {
            let chunk = body.next().await;
            let end = !matches!(chunk, Some(Ok(_)));
            let mut overflow = false;
            if let Some(Ok(bytes)) = &chunk {
                overflow = queued + (buffer.len() + bytes.len()) as u64 > limit;
                if !overflow {
                    buffer.extend_from_slice(bytes);
                }
            }
            if buffer.len() >= IO_BUFFER || ((end || overflow) && !buffer.is_empty()) {
                if let Some(pending) = in_flight.take() {
                    let (data, length) = self.settle(pending).await?;
                    written += length;
                    spare = data;
                }
                spare.clear();
                let data = std::mem::replace(&mut buffer, std::mem::take(&mut spare));
                queued += data.len() as u64;
                in_flight = Some(self.start_write(data, offset + queued));
            }
            if (end || overflow)
                && let Some(pending) = in_flight.take()
            {
                written += self.settle(pending).await?.1;
            }
            if overflow {
                let error = self.error(
                    ServiceErrorKind::Protocol,
                    format!("the server sent more than the {limit} bytes asked for"),
                );
                return Ok(Err((written, error)));
            }
            match chunk {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Ok(Err((written, self.body_error(&error)))),
                None if written < limit && limit != u64::MAX => {
                    let error = self.error(
                        ServiceErrorKind::Timeout,
                        format!("the transfer ended after {written} of {limit} bytes"),
                    );
                    return Ok(Err((written, error)));
                }
                None => return Ok(Ok(written)),
            }
        }
    }

    /// Starts writing `data` so that it ends at `end` (on a blocking thread).
    fn start_write(&self, data: Vec<u8>, end: u64) -> PendingWrite {
        let file = Arc::clone(&self.file);
        let start = end - data.len() as u64;
        let task = tokio::task::spawn_blocking(move || {
            let result = file.write_all_at(&data, start);
            (data, result)
        });
        PendingWrite { task, start }
    }

    /// Waits for a write; reports its range to the hashing pipeline; returns the buffer and
    /// its length.
    async fn settle(&self, pending: PendingWrite) -> Result<(Vec<u8>, u64), TransferError> {
        let (data, result) = pending.task.await.map_err(|error| {
            TransferError::file("cannot write", self.destination, io::Error::other(error))
        })?;
        result.map_err(|error| TransferError::file("cannot write", self.destination, error))?;
        let length = data.len() as u64;
        self.pipeline.written(pending.start..pending.start + length);
        Ok((data, length))
    }
}

/// A buffer being written to the file.
struct PendingWrite {
    task: tokio::task::JoinHandle<(Vec<u8>, io::Result<()>)>,
    start: u64,
}
