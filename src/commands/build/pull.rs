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

/// Downloads the run's images to `dir` (relative to `-C`), printing a line per image.
pub async fn after_run(
    stderr: &mut dyn io::Write,
    services: &Services,
    project: &Project,
    summary: &RunSummary,
    dir: &Path,
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
    // `--verify` plugs its check in here (`images::Verify`).
    let downloads = images::download_all(Arc::clone(&services.library), items, None);
    let outcomes = services::reporting_retries(downloads, retries, stderr).await;
    let files = images::report(stderr, &outcomes)?;
    Ok(Pulled {
        files,
        code: images::exit_code(&outcomes),
    })
}
