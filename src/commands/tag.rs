//! `sifbake tag`: set the current ref's tags on images that already exist by input digest,
//! building nothing. Pre-release automation: promote what a branch build made.

use std::io;
use std::sync::Arc;

use super::Output;
use super::build::{exit_code, prefetch, signed_targets};
use super::plan::gather;
use super::reports::Reports;
use super::services;
use crate::changes::{ChangeBase, ChangeSet};
use crate::cli::{Format, SelectionArgs, TagArgs};
use crate::diagnostic::Diagnostic;
use crate::exec::ExecOptions;
use crate::exit;
use crate::manifest::Publish;
use crate::plan::{Action, Lookup};
use crate::report::build::write_summary;
use crate::report::logs::LogFiles;
use crate::report::result::ResultDocument;
use crate::scs::Token;
use crate::secrets::Redactor;
use crate::settings::Settings;

/// Runs `sifbake tag`.
pub fn run(settings: &Settings, args: &TagArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut reports = Reports::new(settings, "tag", (&args.report).into(), out.stderr)?;
    let code = runtime.block_on(tag(settings, args, out, &mut reports))?;
    reports.finish()?;
    reports.report_failures(out.stderr, code)
}

async fn tag(
    settings: &Settings,
    args: &TagArgs,
    out: &mut Output<'_>,
    reports: &mut Reports,
) -> io::Result<u8> {
    let Some(project) = super::load_project(settings, &args.manifest, out, reports)? else {
        return Ok(exit::BAD_INPUT);
    };
    // Every selected target is looked up by digest; git history plays no part (`all` only
    // keeps `gather` from reading it).
    let selection = SelectionArgs {
        since: None,
        all: true,
        targets: args.targets.clone(),
        arch: Vec::new(),
        no_deps: false,
    };
    let mut gathered = match gather(settings, &selection, &args.reference, &project) {
        Ok(gathered) => gathered,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    gathered.changes = ChangeSet {
        base: ChangeBase::Fallback {
            reason: "`sifbake tag` finds images by their input digest".to_owned(),
        },
        files: Default::default(),
        notes: Vec::new(),
    };
    let offline = match gathered.plan(&project, &args.targets, None) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    let services::Connected {
        services,
        mut retries,
    } = match services::connect(settings, &args.remote, false, out, reports).await? {
        Ok(connected) => connected,
        Err(code) => return Ok(code),
    };
    let signed = signed_targets(&project);
    let lookup = prefetch(
        Arc::clone(&services.library),
        &offline,
        &project.graph,
        &signed,
    );
    let lookups = match services::reporting_retries(lookup, &mut retries, out.stderr).await {
        Ok(lookups) => lookups,
        Err(error) => {
            services.close().await;
            reports.diagnostics(
                out,
                &[Diagnostic::error("service::lookup", error.to_string())
                    .help(services::lookup_help(&error))],
            )?;
            return Ok(exit::SERVICE);
        }
    };
    let mut plan = match gathered.plan(&project, &args.targets, Some(&lookups)) {
        Ok(mut plan) => {
            plan.notes.extend(lookups.notes());
            plan
        }
        Err(diagnostics) => {
            services.close().await;
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    // Nothing is built: an image without its digest tag is reported, not made.
    let mut missing = Vec::new();
    for target in &mut plan.targets {
        for image in &mut target.images {
            if image.action == Action::Build {
                let tag = image.digest_tag.as_deref();
                let incomplete = tag
                    .is_some_and(|tag| lookups.is_incomplete(&target.reference, &image.arch, tag));
                let unsigned =
                    tag.is_some_and(|tag| lookups.is_unsigned(&target.reference, &image.arch, tag));
                let tag = tag.unwrap_or("with its input digest");
                missing.push(if unsigned {
                    format!(
                        "`{}` ({}): the image tagged {tag} is unsigned, though the target is signed (someone pushed it); `sifbake build` builds and signs it again",
                        target.name, image.arch
                    )
                } else if incomplete {
                    format!(
                        "`{}` ({}): the image tagged {tag} is a record whose upload never completed",
                        target.name, image.arch
                    )
                } else {
                    format!("`{}` ({}): no image tagged {tag}", target.name, image.arch)
                });
                image.action = Action::Skip;
                image.tags.clear();
                image.lookup = Lookup::Missing;
            }
        }
        target.action = target
            .images
            .iter()
            .map(|i| i.action)
            .max()
            .unwrap_or(Action::Skip);
    }
    plan.has_changes = plan.targets.iter().any(|t| t.action != Action::Skip);
    for line in &missing {
        writeln!(
            out.stderr,
            "sifbake: {line}; build it first (`sifbake build`)"
        )?;
    }

    let known = lookups.known_images(&plan);
    let jobs = match super::build::job_list(&project, &plan, true, &known) {
        Ok(jobs) => jobs,
        Err(diagnostic) => {
            services.close().await;
            reports.diagnostics(out, &[diagnostic])?;
            return Ok(exit::BAD_INPUT);
        }
    };
    // A retag reaches the mirrors too: an image missing there is pushed, without a build.
    let mirrors =
        super::build::mirrors::for_run(settings, &args.remote, Publish::Push, &plan, out.stderr)?;
    let mirror_setup = match mirrors {
        Ok(setup) => setup,
        Err(diagnostics) => {
            services.close().await;
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    let scratch = tempfile::Builder::new().prefix("sifbake-tag-").tempdir()?;
    let mut options = ExecOptions::new(scratch.path().to_path_buf());
    options.jobs = super::build::DEFAULT_MAX_JOBS;
    options.library_url = Some(services.library_url.clone());
    options.redactor = Redactor::new(services.token.iter().map(Token::expose));
    if let Some(setup) = mirror_setup {
        options.redactor = options
            .redactor
            .with(setup.secrets.iter().map(String::as_str));
        options.registry = Some(setup.into_client());
    }
    // Nothing is built: the provenance is only the mirrors' annotations.
    options.labels =
        super::build::provenance::labels(settings, &plan.context, &project.manifest.root);
    let run = super::build::run_jobs(
        settings,
        out.stderr,
        &services,
        jobs,
        &options,
        LogFiles::new(None)?,
        &mut retries,
    )
    .await;
    services.close().await;
    let (summary, mut logs) = run?;
    let mut code = exit_code(&summary);
    if !missing.is_empty() && code == exit::SUCCESS {
        code = exit::BUILD_FAILED;
    }
    reports.plan(out, &plan)?;
    let mut document = ResultDocument::new(&plan, Some(&summary), Publish::Push, code);
    document.explain(&summary, &mut logs)?;
    reports.result(out, &plan, &document, Some(&mut logs))?;
    reports.forge(out, settings, &document).await?;
    match args.format {
        Format::Json => out.json(&document)?,
        Format::Text => {
            write_summary(out.stdout, &summary, &document)?;
            crate::report::mirrors::write_text(out.stdout, &document)?;
        }
    }
    Ok(code)
}
