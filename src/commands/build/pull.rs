//! `build --pull DIR`: once the run is over, every image it built or retagged (with its
//! hash) is downloaded to DIR, by hash, so a tag moved by another run meanwhile cannot
//! swap the file.

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::super::pull::images::{self, PullItem, PulledFile};
use super::super::pull::several_archs;
use super::super::services::{self, Services};
use crate::exec::RunSummary;
use crate::libref::LibraryRef;
use crate::project::Project;
use crate::report::build::RetryNotice;

/// What `--pull` wrote, and its exit code (0 when every file was written).
pub struct Pulled {
    pub files: Vec<PulledFile>,
    pub code: u8,
}

/// Downloads the run's images to `dir` (relative to `-C`), printing a line per image. A
/// signed image the run kept in `scratch` (`exec::kept_signed`) is moved there instead.
pub async fn after_run(
    stderr: &mut dyn io::Write,
    services: &Services,
    project: &Project,
    summary: &RunSummary,
    dir: &Path,
    scratch: &Path,
    retries: &mut mpsc::UnboundedReceiver<RetryNotice>,
) -> io::Result<Pulled> {
    if let Err(error) = images::prepare_dir(dir) {
        writeln!(stderr, "sifbake: error: --pull: {error}")?;
        return Ok(Pulled {
            files: Vec::new(),
            code: crate::exit::OUTPUT,
        });
    }
    let items: Vec<PullItem> = summary
        .jobs
        .iter()
        .filter_map(|job| {
            let image = job.image()?;
            let hash = image.hash.clone()?;
            let container = LibraryRef::parse(image.path.as_deref()?).ok()?;
            let several = several_archs(project, &job.target, 1);
            Some(PullItem {
                target: job.target.clone(),
                arch: job.arch.clone(),
                container,
                tag: hash,
                path: images::file_for(dir, &job.target, &job.arch, several),
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    let mut missing = Vec::new();
    for item in items {
        match take_kept(scratch, &item) {
            Some(downloaded) => outcomes.push((item, Ok(downloaded))),
            None => missing.push(item),
        }
    }
    let downloads = images::download_all(Arc::clone(&services.library), missing, None);
    outcomes.extend(services::reporting_retries(downloads, retries, stderr).await);
    let files = images::report(stderr, &outcomes)?;
    Ok(Pulled {
        files,
        code: images::exit_code(&outcomes),
    })
}

/// Moves the signed file the run kept for `item` into place: it is the file the library
/// took, whose hash the tags name. `None` leaves it to be downloaded (nothing kept, or the
/// move failed, e.g. across file systems).
fn take_kept(scratch: &Path, item: &PullItem) -> Option<crate::scs::Downloaded> {
    let kept = crate::exec::kept_signed(scratch, &item.tag);
    let metadata = std::fs::metadata(&kept).ok()?;
    std::fs::rename(&kept, &item.path).ok()?;
    Some(crate::scs::Downloaded {
        image: crate::scs::Image {
            hash: item.tag.clone(),
            size: metadata.len(),
            arch: Some(item.arch.clone()),
            uploaded: true,
            ..crate::scs::Image::default()
        },
        path: item.path.clone(),
        parts: 0,
        ranged: false,
    })
}
