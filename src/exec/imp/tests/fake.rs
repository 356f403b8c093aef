//! A scriptable build service and library for the executor's tests.
//!
//! Each build is found by a `# fake: <name>` line in its definition and follows that name's
//! [`Script`]: its log, how long it takes, whether it succeeds, drops its stream, and so
//! on. Time is tokio's (paused in the tests), so "takes 10 s" costs nothing and always
//! orders the same way. Every call is counted and logged in order in `State::calls`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::libref::LibraryRef;
use crate::scs::{
    BuildInfo, BuildRequest, BuildService, ContextArchive, Downloaded, Image, Library,
    ServiceError, ServiceErrorKind, TransferError,
};

/// How one build behaves.
#[derive(Clone, Debug)]
pub struct Script {
    /// From submission to completion.
    pub duration: Duration,
    pub logs: Vec<String>,
    /// The image size; 0 makes the build fail (complete, no image).
    pub size: u64,
    /// The log stream drops half-way through the build.
    pub drop_stream: bool,
    /// Status calls that fail (transiently) before they answer.
    pub status_errors: u32,
    /// The library reports the image with another size than the build did.
    pub wrong_size_in_library: bool,
    /// Tag calls that fail (transiently) before they succeed.
    pub tag_errors: u32,
    /// Submission is refused (a 400; the service did not act on it).
    pub reject_submit: bool,
    /// How long the submission request takes to return.
    pub submit_delay: Duration,
    /// A tag the library refuses for good (a 400).
    pub refuse_tag: Option<String>,
    /// Cancelled as the library receives this tag: a signal arriving mid-sequence.
    pub stop_at_tag: Option<(String, CancellationToken)>,
    /// A tag whose call never returns.
    pub hang_tag: Option<String>,
    /// Another run's image with the same inputs: when the library shows it under the
    /// job's digest tag.
    pub foreign: Option<Foreign>,
    /// What the library says of the foreign image's signers: `None`, nothing (it does not
    /// check); an empty list, unsigned; else signed by these fingerprints.
    pub foreign_signers: Option<Vec<String>>,
    /// The file the library serves for the built image is not a SIF.
    pub corrupt_image: bool,
    /// The library refuses a signed image's upload (a 403).
    pub refuse_upload: bool,
    /// The built image's download does not hash to the library's record.
    pub download_mismatch: bool,
}

/// When another run's image with the same inputs appears under the digest tag.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Foreign {
    /// Before this run submits: it finished meanwhile.
    BeforeSubmit,
    /// Once this run's build is done: it pushed after this one.
    AfterBuild,
}

/// The image another run made (see [`Script::foreign`]).
pub fn foreign_image(name: &str) -> Image {
    Image {
        id: format!("foreign-{name}"),
        hash: format!("sha256.{}", "f".repeat(64)),
        size: 4321,
        container_id: name.to_owned(),
        arch: Some(super::ARCH.to_owned()),
        uploaded: true,
        ..Image::default()
    }
}

impl Default for Script {
    fn default() -> Self {
        Script {
            duration: Duration::from_secs(10),
            logs: vec!["INFO:    Starting build...\n".into(), "done\n".into()],
            size: 1000,
            drop_stream: false,
            status_errors: 0,
            wrong_size_in_library: false,
            tag_errors: 0,
            reject_submit: false,
            submit_delay: Duration::ZERO,
            refuse_tag: None,
            stop_at_tag: None,
            hang_tag: None,
            foreign: None,
            foreign_signers: None,
            corrupt_image: false,
            refuse_upload: false,
            download_mismatch: false,
        }
    }
}

/// One `set_tags` call.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct TagCall {
    pub container: String,
    pub hash: String,
    pub arch: String,
    pub tags: Vec<String>,
}

#[derive(Debug)]
pub struct Build {
    pub id: String,
    pub name: String,
    pub request: BuildRequest,
    pub script: Script,
    pub hash: String,
    pub submitted_at: Instant,
    pub done_at: Instant,
    pub cancelled: bool,
    reported_complete: bool,
    status_errors_left: u32,
}

impl Build {
    fn complete(&self, now: Instant) -> bool {
        self.cancelled || now >= self.done_at
    }

    fn succeeded(&self, now: Instant) -> bool {
        !self.cancelled && now >= self.done_at && self.script.size > 0
    }
}

/// Everything the fake saw.
#[derive(Debug, Default)]
pub struct State {
    scripts: HashMap<String, Script>,
    pub builds: Vec<Build>,
    /// Calls in order: `submit app`, `complete app` (the first status saying so),
    /// `find app`, `tags app`, `cancel app`, `upload <digest>`, `delete <digest>`.
    pub calls: Vec<String>,
    pub status_calls: usize,
    pub max_in_flight: usize,
    pub tag_calls: Vec<TagCall>,
    pub cancels: Vec<String>,
    pub uploads: Vec<ContextArchive>,
    /// Whether each uploaded archive existed on disk when it was uploaded.
    pub upload_files_existed: Vec<bool>,
    pub deletes: Vec<String>,
    pub find_calls: usize,
    /// Image files uploaded (signed images), with their bytes.
    pub image_uploads: Vec<(String, String, Vec<u8>)>,
    tag_errors_left: HashMap<String, u32>,
}

impl State {
    /// Returns the builds submitted for `name`.
    pub fn builds_of(&self, name: &str) -> Vec<&Build> {
        self.builds.iter().filter(|b| b.name == name).collect()
    }

    /// Returns the position of a call in `calls`.
    pub fn position(&self, call: &str) -> usize {
        self.calls
            .iter()
            .position(|c| c == call)
            .unwrap_or_else(|| panic!("no call `{call}` in {:?}", self.calls))
    }
}

pub struct Fake {
    state: Mutex<State>,
}

impl Fake {
    /// Returns a fake whose builds follow these scripts (others the default one).
    pub fn new(scripts: &[(&str, Script)]) -> Arc<Fake> {
        let mut state = State::default();
        for (name, script) in scripts {
            state.scripts.insert((*name).to_owned(), script.clone());
            state
                .tag_errors_left
                .insert((*name).to_owned(), script.tag_errors);
        }
        Arc::new(Fake {
            state: Mutex::new(state),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }
}

fn marker(definition: &str) -> String {
    definition
        .lines()
        .find_map(|line| line.trim().strip_prefix("# fake: "))
        .unwrap_or("unnamed")
        .to_owned()
}

fn not_found(doing: &str) -> ServiceError {
    ServiceError::new(
        ServiceErrorKind::Status {
            code: 404,
            message: "not found".into(),
        },
        doing,
        "not found",
    )
}

impl BuildService for Fake {
    async fn upload_context(&self, archive: &ContextArchive) -> Result<(), ServiceError> {
        let mut state = self.state();
        state.calls.push(format!("upload {}", archive.digest));
        state.uploads.push(archive.clone());
        state.upload_files_existed.push(archive.path.is_file());
        Ok(())
    }

    async fn delete_context(&self, digest: &str) -> Result<(), ServiceError> {
        let mut state = self.state();
        state.calls.push(format!("delete {digest}"));
        state.deletes.push(digest.to_owned());
        Ok(())
    }

    async fn submit(&self, request: &BuildRequest) -> Result<BuildInfo, ServiceError> {
        let name = marker(&request.definition);
        let delay = self
            .state()
            .scripts
            .get(&name)
            .map_or(Duration::ZERO, |script| script.submit_delay);
        tokio::time::sleep(delay).await;
        let mut state = self.state();
        let script = state.scripts.get(&name).cloned().unwrap_or_default();
        state.calls.push(format!("submit {name}"));
        if script.reject_submit {
            return Err(ServiceError::new(
                ServiceErrorKind::Status {
                    code: 400,
                    message: "bad definition".into(),
                },
                "submitting the build",
                "bad definition",
            ));
        }
        let now = Instant::now();
        let in_flight = state.builds.iter().filter(|b| !b.complete(now)).count() + 1;
        state.max_in_flight = state.max_in_flight.max(in_flight);
        let number = state.builds.len() + 1;
        let id = format!("build-{number}");
        state.builds.push(Build {
            id: id.clone(),
            name,
            request: request.clone(),
            hash: format!("sha256.{number:064x}"),
            submitted_at: now,
            done_at: now + script.duration,
            cancelled: false,
            reported_complete: false,
            status_errors_left: script.status_errors,
            script,
        });
        Ok(BuildInfo {
            id,
            ..BuildInfo::default()
        })
    }

    async fn status(&self, id: &str) -> Result<BuildInfo, ServiceError> {
        let mut state = self.state();
        state.status_calls += 1;
        let now = Instant::now();
        let Some(build) = state.builds.iter_mut().find(|b| b.id == id) else {
            return Err(not_found("reading the build status"));
        };
        if build.status_errors_left > 0 {
            build.status_errors_left -= 1;
            return Err(ServiceError::new(
                ServiceErrorKind::Connect,
                "reading the build status",
                "connection refused",
            ));
        }
        let complete = build.complete(now);
        let succeeded = build.succeeded(now);
        let first_complete = complete && !build.reported_complete;
        build.reported_complete |= complete;
        let info = BuildInfo {
            id: build.id.clone(),
            complete,
            image_size: if succeeded { build.script.size } else { 0 },
            image_checksum: succeeded.then(|| build.hash.clone()),
            library_ref: Some(match &build.request.library_ref {
                Some(reference) => reference.to_string(),
                None => format!("library://alice/remote-builds/rb-{}:latest", build.id),
            }),
            library_url: None,
        };
        if first_complete {
            let call = format!("complete {}", build.name);
            state.calls.push(call);
        }
        Ok(info)
    }

    async fn stream_log(&self, id: &str, output: mpsc::Sender<String>) -> Result<(), ServiceError> {
        let (logs, done_at, drop_at) = {
            let state = self.state();
            let Some(build) = state.builds.iter().find(|b| b.id == id) else {
                return Err(not_found("reading the build log"));
            };
            (
                build.script.logs.clone(),
                build.done_at,
                build
                    .script
                    .drop_stream
                    .then(|| build.submitted_at + build.script.duration / 2),
            )
        };
        for chunk in logs {
            let _ = output.send(chunk).await;
        }
        if let Some(drop_at) = drop_at {
            sleep_until(drop_at).await;
            return Err(ServiceError::new(
                ServiceErrorKind::StreamDropped,
                "reading the build log",
                "websocket: close 1006 (abnormal closure)",
            ));
        }
        sleep_until(done_at).await;
        Ok(())
    }

    async fn cancel(&self, id: &str) -> Result<(), ServiceError> {
        let mut state = self.state();
        state.cancels.push(id.to_owned());
        let Some(build) = state.builds.iter_mut().find(|b| b.id == id) else {
            return Err(not_found("cancelling the build"));
        };
        build.cancelled = true;
        let call = format!("cancel {}", build.name);
        state.calls.push(call);
        Ok(())
    }
}

impl Library for Fake {
    async fn find_image(
        &self,
        container: &LibraryRef,
        tag: &str,
        arch: &str,
    ) -> Result<Option<Image>, ServiceError> {
        let mut state = self.state();
        state.find_calls += 1;
        state.calls.push(format!("find {}", container.container));
        let now = Instant::now();
        let name = &container.container;
        let foreign = state.scripts.get(name).and_then(|script| script.foreign);
        let signers = state
            .scripts
            .get(name)
            .and_then(|script| script.foreign_signers.clone());
        let built = state
            .builds
            .iter()
            .any(|b| b.name == *name && b.succeeded(now));
        let visible = match foreign {
            Some(Foreign::BeforeSubmit) => true,
            Some(Foreign::AfterBuild) => built,
            None => false,
        };
        if visible && tag.starts_with("inputs-") {
            let mut image = foreign_image(name);
            if let Some(signers) = signers {
                image.signed = Some(!signers.is_empty());
                image.fingerprints = signers;
            }
            return Ok(Some(image));
        }
        let image = state
            .builds
            .iter()
            .filter(|b| b.succeeded(now) && b.request.arch == arch)
            .filter(|b| {
                b.request.library_ref.as_ref().is_some_and(|r| {
                    r.same_container(container)
                        && (b.hash == tag || r.tags.iter().any(|t| t == tag))
                })
            })
            .map(|b| Image {
                id: format!("image-{}", b.id),
                hash: b.hash.clone(),
                size: b.script.size + u64::from(b.script.wrong_size_in_library),
                container_id: container.path(),
                arch: Some(arch.to_owned()),
                uploaded: true,
                ..Image::default()
            })
            .next_back();
        Ok(image)
    }

    async fn set_tags(
        &self,
        container: &LibraryRef,
        image: &Image,
        arch: &str,
        tags: &[String],
    ) -> Result<(), ServiceError> {
        let script = self
            .state()
            .scripts
            .get(&container.container)
            .cloned()
            .unwrap_or_default();
        let is = |wanted: &Option<String>| wanted.as_deref() == tags.first().map(String::as_str);
        if let Some((tag, stop)) = &script.stop_at_tag
            && tags.first() == Some(tag)
        {
            stop.cancel();
        }
        if is(&script.hang_tag) {
            std::future::pending::<()>().await;
        }
        if is(&script.refuse_tag) {
            return Err(ServiceError::new(
                ServiceErrorKind::Status {
                    code: 400,
                    message: "tag refused".into(),
                },
                "setting tags",
                "400 Bad Request: tag refused",
            ));
        }
        let mut state = self.state();
        state.calls.push(format!("tags {}", container.container));
        if let Some(left) = state.tag_errors_left.get_mut(&container.container)
            && *left > 0
        {
            *left -= 1;
            return Err(ServiceError::new(
                ServiceErrorKind::Status {
                    code: 503,
                    message: "unavailable".into(),
                },
                "setting tags",
                "service unavailable",
            ));
        }
        state.tag_calls.push(TagCall {
            container: container.container.clone(),
            hash: image.hash.clone(),
            arch: arch.to_owned(),
            tags: tags.to_vec(),
        });
        Ok(())
    }

    async fn download_image(
        &self,
        _container: &LibraryRef,
        tag: &str,
        arch: &str,
        destination: &std::path::Path,
    ) -> Result<Downloaded, TransferError> {
        let (name, corrupt, mismatch) = {
            let state = self.state();
            let build = state.builds.iter().find(|b| b.hash == tag);
            let Some(build) = build else {
                return Err(TransferError::NotFound {
                    image: tag.to_owned(),
                    arch: arch.to_owned(),
                });
            };
            (
                build.name.clone(),
                build.script.corrupt_image,
                build.script.download_mismatch,
            )
        };
        if mismatch {
            return Err(TransferError::HashMismatch {
                image: tag.to_owned(),
                expected: tag.trim_start_matches("sha256.").to_owned(),
                actual: "0".repeat(64),
                size: 1,
            });
        }
        let bytes = if corrupt {
            b"<html>not an image</html>".to_vec()
        } else {
            built_sif(&name)
        };
        std::fs::write(destination, &bytes)
            .map_err(|error| TransferError::file("writing", destination, error))?;
        self.state().calls.push(format!("download {name}"));
        Ok(Downloaded {
            image: Image {
                id: format!("unsigned-{name}"),
                hash: tag.to_owned(),
                size: bytes.len() as u64,
                container_id: "alice/remote-builds".into(),
                arch: Some(arch.to_owned()),
                uploaded: true,
                ..Image::default()
            },
            path: destination.to_path_buf(),
            parts: 1,
            ranged: false,
        })
    }

    async fn upload_image(
        &self,
        container: &LibraryRef,
        arch: &str,
        file: &std::path::Path,
    ) -> Result<Image, TransferError> {
        let name = container.container.clone();
        let script = self.state().scripts.get(&name).cloned().unwrap_or_default();
        if script.refuse_upload {
            return Err(TransferError::Service(ServiceError::new(
                ServiceErrorKind::Forbidden,
                "uploading the image",
                "403 Forbidden",
            )));
        }
        let bytes =
            std::fs::read(file).map_err(|error| TransferError::file("reading", file, error))?;
        let hash = {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(&bytes);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256.{hex}")
        };
        let mut state = self.state();
        state.calls.push(format!("upload-image {name}"));
        let size = bytes.len() as u64;
        state
            .image_uploads
            .push((container.path(), arch.to_owned(), bytes));
        Ok(Image {
            id: format!("signed-{name}"),
            hash,
            size,
            container_id: container.path(),
            arch: Some(arch.to_owned()),
            uploaded: true,
            ..Image::default()
        })
    }
}

/// A SIF as the builder would write it for the build `name`.
fn built_sif(name: &str) -> Vec<u8> {
    use sifbake_sif::write::{ImageSpec, ObjectSpec};
    let spec = ImageSpec {
        objects: vec![ObjectSpec {
            datatype: sifbake_sif::format::DATA_DEFFILE,
            name: String::new(),
            extra: Vec::new(),
            data: format!("Bootstrap: docker\nFrom: alpine\n# fake: {name}\n").into_bytes(),
        }],
        id: [7; 16],
        time: 1_700_000_000,
        arch: *b"02\0",
    };
    sifbake_sif::write::write_image(&spec)
}
