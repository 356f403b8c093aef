//! `sifbake pull [DIR]`: download, for each selected target and architecture, the image the
//! current ref's tags name, to `DIR/<target>.sif` (`<target>_<arch>.sif` for a target built
//! for several architectures). The tags are those `sifbake tag` would set; the first the
//! ref's rules give names the image, and the digest tag when the rules give none (a pull
//! request, say).

pub mod images;

use std::io;
use std::sync::Arc;

use super::Output;
use super::plan::gather;
use super::reports::Reports;
use super::services;
use crate::changes::{ChangeBase, ChangeSet};
use crate::cli::{Format, PullArgs, SelectionArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::settings::Settings;
use images::{PullItem, PulledFile};

/// `--format json` of `sifbake pull`.
#[derive(Debug, serde::Serialize)]
pub struct PullDocument {
    pub schema: &'static str,
    pub exit_code: u8,
    pub pulled: Vec<PulledFile>,
}

/// The version of the pull document.
pub const PULL_SCHEMA: &str = "sifbake/pull/v1";

/// Runs `sifbake pull`.
pub fn run(settings: &Settings, args: &PullArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut reports = Reports::new(settings, "pull", Default::default(), out.stderr)?;
    let code = runtime.block_on(pull(settings, args, out, &mut reports))?;
    reports.finish()?;
    reports.report_failures(out.stderr, code)
}

async fn pull(
    settings: &Settings,
    args: &PullArgs,
    out: &mut Output<'_>,
    reports: &mut Reports,
) -> io::Result<u8> {
    let Some(project) = super::load_project(settings, &args.manifest, out, reports)? else {
        return Ok(exit::BAD_INPUT);
    };
    let dir = settings
        .base_dir()
        .join(args.dir.as_deref().unwrap_or(std::path::Path::new(".")));
    let items = match ref_items(settings, &project, &args.targets, &args.reference, &dir) {
        Ok(items) => items,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    // The keys first: a key file that cannot be read is bad input, before any download.
    let keys = if args.verify || !args.keys.keys.is_empty() || args.keys.keystore {
        match super::verify::read_keys(settings, &args.keys, out)? {
            Ok(keys) => Some(keys),
            Err(code) => return Ok(code),
        }
    } else {
        None
    };
    if let Err(error) = images::prepare_dir(&dir) {
        reports.diagnostics(
            out,
            &[Diagnostic::error("pull::dir", error.to_string())
                .help("give a directory sifbake can create and write to")],
        )?;
        return Ok(exit::OUTPUT);
    }
    let services::Connected {
        services,
        mut retries,
    } = match services::connect(settings, &args.remote, false, out, reports).await? {
        Ok(connected) => connected,
        Err(code) => return Ok(code),
    };
    let check = match keys {
        None => None,
        Some(keys) => {
            let keystore = if args.keys.keystore {
                match super::verify::keyring::connect(&services).await {
                    Ok(keystore) => Some((keystore, tokio::runtime::Handle::current())),
                    Err(diagnostic) => {
                        reports.diagnostics(out, &[*diagnostic])?;
                        services.close().await;
                        return Ok(exit::SERVICE);
                    }
                }
            } else {
                None
            };
            let ring = super::verify::keyring::KeyRing::new(keys, keystore);
            Some(super::verify::keyring::pull_check(ring))
        }
    };
    let downloads = images::download_all(Arc::clone(&services.library), items, check);
    let outcomes = services::reporting_retries(downloads, &mut retries, out.stderr).await;
    services.close().await;
    let pulled = images::report(out.stderr, &outcomes)?;
    let code = images::exit_code(&outcomes);
    match args.format {
        Format::Json => out.json(&PullDocument {
            schema: PULL_SCHEMA,
            exit_code: code,
            pulled,
        })?,
        Format::Text => {
            for file in &pulled {
                writeln!(out.stdout, "{}", file.path.display())?;
            }
        }
    }
    Ok(code)
}

/// The images the current ref's tags name for the selected targets (all when none), as
/// items to download into `dir`: the first tag the ref's rules give names the image, and
/// the digest tag when the rules give none. `verify` with no file selects the same.
pub fn ref_items(
    settings: &Settings,
    project: &crate::project::Project,
    targets: &[String],
    reference: &crate::cli::RefArgs,
    dir: &std::path::Path,
) -> Result<Vec<PullItem>, Vec<Diagnostic>> {
    let selection = SelectionArgs {
        since: None,
        all: true,
        targets: targets.to_vec(),
        arch: Vec::new(),
        no_deps: false,
    };
    let mut gathered = gather(settings, &selection, reference, project)?;
    // As `sifbake tag`: every selected target's tags, git history playing no part.
    gathered.changes = ChangeSet {
        base: ChangeBase::Fallback {
            reason: "`sifbake pull` names images by the ref's tags".to_owned(),
        },
        files: Default::default(),
        notes: Vec::new(),
    };
    let plan = gathered.plan(project, targets, None)?;
    let mut items = Vec::new();
    for target in plan
        .targets
        .iter()
        .filter(|t| targets.is_empty() || targets.contains(&t.name))
    {
        let several = several_archs(project, &target.name, target.images.len());
        for image in &target.images {
            let Some(tag) = image.tags.first().or(image.digest_tag.as_ref()) else {
                continue;
            };
            items.push(PullItem {
                target: target.name.clone(),
                arch: image.arch.clone(),
                container: target.reference.with_tags(Vec::new()),
                tag: tag.clone(),
                path: images::file_for(dir, &target.name, &image.arch, several),
            });
        }
    }
    Ok(items)
}

/// Whether a target is built for several architectures: by the manifest, so a job that
/// selected one of them names its file as the others do.
pub fn several_archs(project: &crate::project::Project, target: &str, planned: usize) -> bool {
    project
        .manifest
        .targets
        .iter()
        .find(|t| t.name == target)
        .map_or(planned, |t| t.arch.len())
        > 1
}
