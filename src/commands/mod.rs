//! One file per subcommand. Each takes the resolved settings and its own arguments, writes
//! through an [`Output`], and returns the exit code.

use std::io;

use crate::cli::ManifestArgs;
use crate::project::{self, Project};
use crate::settings::Settings;

pub mod build;
pub mod completions;
pub mod init;
pub mod inspect;
pub mod key;
pub mod output;
pub mod output_failure;
pub mod plan;
pub mod pull;
pub mod reports;
pub mod services;
pub mod sign;
pub mod tag;
pub mod validate;
pub mod verify;

pub use output::Output;

/// Loads the project for `plan`, `build` and `tag`: its errors are reported and give `None`
/// (the caller exits with `BAD_INPUT`); its warnings are reported and the reports learn
/// where it lives.
fn load_project(
    settings: &Settings,
    manifest: &ManifestArgs,
    out: &mut Output<'_>,
    reports: &mut reports::Reports,
) -> io::Result<Option<Project>> {
    let project = match project::load(&settings.manifest_request(manifest)) {
        Ok(project) => project,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(None);
        }
    };
    reports.set_project(&project.manifest.root, project.manifest.manifest_path());
    reports.diagnostics(out, &project.warnings)?;
    Ok(Some(project))
}
