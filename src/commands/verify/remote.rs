//! `sifbake verify` against the services: with no file, the images the current ref's tags
//! name (selected as `sifbake pull` selects them) are downloaded to a temporary directory,
//! verified and deleted; with `--keystore`, signers' keys come from the remote's keystore.

use std::io;
use std::sync::Arc;

use sifbake_sif::keys::PublicKey;
use tokio::runtime::Handle;

use super::keyring::KeyRing;
use super::{ImageFile, verify_images};
use crate::cli::VerifyArgs;
use crate::commands::Output;
use crate::commands::pull::{images, ref_items};
use crate::commands::reports::Reports;
use crate::commands::services::{self, Services};
use crate::exit;
use crate::settings::Settings;

/// Runs `verify` for the ref's images (no file given) or with `--keystore`.
pub fn run(
    settings: &Settings,
    args: &VerifyArgs,
    keys: Vec<PublicKey>,
    out: &mut Output<'_>,
) -> io::Result<u8> {
    // Several threads: verifying blocks one while a keystore fetch runs on another.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut reports = Reports::new(settings, "verify", Default::default(), out.stderr)?;
    let code = runtime.block_on(verify(settings, args, keys, out, &mut reports))?;
    reports.finish()?;
    reports.report_failures(out.stderr, code)
}

async fn verify(
    settings: &Settings,
    args: &VerifyArgs,
    keys: Vec<PublicKey>,
    out: &mut Output<'_>,
    reports: &mut Reports,
) -> io::Result<u8> {
    let project = if args.images.is_empty() {
        match crate::commands::load_project(settings, &args.manifest, out, reports)? {
            Some(project) => Some(project),
            None => return Ok(exit::BAD_INPUT),
        }
    } else {
        None
    };
    let services::Connected {
        services,
        mut retries,
    } = match services::connect(settings, &args.remote, false, out, reports).await? {
        Ok(connected) => connected,
        Err(code) => return Ok(code),
    };
    let code = verify_with(
        settings,
        args,
        keys,
        project.as_ref(),
        &services,
        &mut retries,
        out,
        reports,
    )
    .await;
    services.close().await;
    code
}

#[allow(clippy::too_many_arguments)]
async fn verify_with(
    settings: &Settings,
    args: &VerifyArgs,
    keys: Vec<PublicKey>,
    project: Option<&crate::project::Project>,
    services: &Services,
    retries: &mut tokio::sync::mpsc::UnboundedReceiver<crate::report::build::RetryNotice>,
    out: &mut Output<'_>,
    reports: &mut Reports,
) -> io::Result<u8> {
    let keystore = if args.keys.keystore {
        match super::keyring::connect(services).await {
            Ok(keystore) => Some((keystore, Handle::current())),
            Err(diagnostic) => {
                reports.diagnostics(out, &[*diagnostic])?;
                return Ok(exit::SERVICE);
            }
        }
    } else {
        None
    };
    // The downloads live only as long as the check: the directory goes with this function.
    let scratch = tempfile::Builder::new()
        .prefix("sifbake-verify-")
        .tempdir()?;
    let (files, download_code): (Vec<ImageFile>, u8) = match project {
        None => (
            args.images
                .iter()
                .map(|image| ImageFile {
                    label: image.display().to_string(),
                    path: settings.base_dir().join(image),
                })
                .collect(),
            exit::SUCCESS,
        ),
        Some(project) => {
            let items = match ref_items(
                settings,
                project,
                &args.targets,
                &args.reference,
                scratch.path(),
            ) {
                Ok(items) => items,
                Err(diagnostics) => {
                    reports.diagnostics(out, &diagnostics)?;
                    return Ok(exit::BAD_INPUT);
                }
            };
            let downloads = images::download_all(Arc::clone(&services.library), items, None);
            let outcomes = services::reporting_retries(downloads, retries, out.stderr).await;
            // The temporary files are not worth a line each; failures are.
            for (item, result) in &outcomes {
                if let Err(error) = result {
                    writeln!(
                        out.stderr,
                        "sifbake: error: cannot download `{}` ({}) {}:{} to verify it: {error}",
                        item.target,
                        item.arch,
                        item.container.path(),
                        item.tag
                    )?;
                }
            }
            let files = outcomes
                .iter()
                .filter(|(_, result)| result.is_ok())
                .map(|(item, _)| ImageFile {
                    label: format!(
                        "{} ({}) {}:{}",
                        item.target,
                        item.arch,
                        item.container.path(),
                        item.tag
                    ),
                    path: item.path.clone(),
                })
                .collect();
            (files, images::exit_code(&outcomes))
        }
    };
    let mut ring = KeyRing::new(keys, keystore);
    let verified =
        tokio::task::block_in_place(|| verify_images(&files, &mut ring, args.format, out))?;
    Ok(download_code.max(verified))
}
