//! `sifbake build`: plan, ask the library what exists, then build and tag what is missing,
//! in parallel and in dependency order, on the remote build service (or the emulator).

mod lookup;
pub(super) mod mirrors;
pub(super) mod provenance;
mod pull;
mod signals;
mod signing;

use std::io;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use lookup::{Lookups, prefetch, signed_targets};

use super::Output;
use super::output_failure::OutputFailure;
use super::plan::{gather, narrow};
use super::reports::Reports;
use super::services::{self, Services};
use crate::cli::{BuildArgs, Format};
use crate::diagnostic::Diagnostic;
use crate::exec::{
    self, ExecOptions, FailReason, Job, JobsRequest, KnownImages, Outcome, RunSummary,
};
use crate::exit;
use crate::manifest::Publish;
use crate::plan::{Action, Plan};
use crate::project::Project;
use crate::report::build::{BuildReporter, RetryNotice, summary_line, write_summary};
use crate::report::ci::CiLog;
use crate::report::logs::LogFiles;
use crate::report::plan::write_text;
use crate::report::result::ResultDocument;
use crate::scs::Token;
use crate::secrets::Redactor;
use crate::settings::Settings;

/// At most this many builds at once unless `--jobs` says otherwise (DESIGN.md, "Execution").
pub const DEFAULT_MAX_JOBS: usize = 8;

/// Runs `sifbake build`.
pub fn run(settings: &Settings, args: &BuildArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut reports = Reports::new(settings, "build", (&args.report).into(), out.stderr)?;
    let code = runtime.block_on(build(settings, args, out, &mut reports))?;
    reports.finish()?;
    reports.report_failures(out.stderr, code)
}

pub use crate::plan::publish_mode;

async fn build(
    settings: &Settings,
    args: &BuildArgs,
    out: &mut Output<'_>,
    reports: &mut Reports,
) -> io::Result<u8> {
    let Some(project) = super::load_project(settings, &args.manifest, out, reports)? else {
        return Ok(exit::BAD_INPUT);
    };
    let gathered = match gather(settings, &args.selection, &args.reference, &project) {
        Ok(gathered) => gathered,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    // The whole selection's plan (`--arch` applied) is what the library is asked about:
    // with `--no-deps` it holds the images the named targets build on.
    let planned = gathered
        .plan(&project, &args.selection.targets, None)
        .and_then(|mut plan| {
            crate::plan::narrow::keep_archs(&mut plan, &args.selection.arch)?;
            let narrowed = narrow(plan.clone(), &args.selection)?.0;
            Ok((plan, narrowed))
        });
    let (full_offline, offline) = match planned {
        Ok(plans) => plans,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    let publish = publish_mode(&project.manifest.publish, &gathered.context);
    if publish == Publish::Skip {
        if settings.verbosity >= 0 {
            write_text(out.stderr, &offline, out.color)?;
        }
        writeln!(
            out.stderr,
            "sifbake: the manifest's `publish` says `skip` for {}: nothing is built",
            gathered.context.describe()
        )?;
        let run = Finished::nothing_run(&offline, publish);
        return finish(settings, args, out, reports, run).await;
    }
    if !offline.has_changes {
        if settings.verbosity >= 0 {
            write_text(out.stderr, &offline, out.color)?;
        }
        writeln!(out.stderr, "sifbake: nothing changed, nothing to build")?;
        let run = Finished::nothing_run(&offline, publish);
        return finish(settings, args, out, reports, run).await;
    }

    // The signing keys before any request: a key that cannot sign stops the run here.
    let signing = match signing::load(&project, &offline, publish, &signing::from_env) {
        Ok(signing) => signing,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    if settings
        .var(crate::context::vars::GITHUB_ACTIONS)
        .as_deref()
        == Some("true")
    {
        for secret in &signing.secrets {
            super::reports::mask(out.stderr, secret)?;
        }
    }

    // From here on a signal cancels the run, and the result (marked cancelled) is still
    // written: while connecting and looking images up, and then during the builds.
    let cancel = CancellationToken::new();
    let signals = signals::watch(cancel.clone());
    let connected = tokio::select! {
        connected = services::connect(settings, &args.remote, true, out, reports) => Some(connected?),
        () = cancel.cancelled() => None,
    };
    let services::Connected {
        services,
        mut retries,
    } = match connected {
        Some(Ok(connected)) => connected,
        Some(Err(code)) => return Ok(code),
        None => {
            return cancelled_before_run(settings, args, out, reports, &offline, publish, &signals)
                .await;
        }
    };
    let context = BuildContext {
        settings,
        args,
        project: &project,
        gathered: &gathered,
        full_offline: &full_offline,
        publish,
        signals: &signals,
        cancel,
        signing: &signing,
    };
    let code = build_with(&context, out, reports, &offline, &services, &mut retries).await;
    services.close().await;
    code
}

/// What `build_with` reads and never changes.
struct BuildContext<'a> {
    settings: &'a Settings,
    args: &'a BuildArgs,
    project: &'a Project,
    gathered: &'a super::plan::Gathered,
    /// The offline plan before `--no-deps`, whose images the library is asked about.
    full_offline: &'a Plan,
    publish: Publish,
    signals: &'a signals::Signals,
    /// The signing keys of the run's signed targets.
    signing: &'a signing::Signing,
    cancel: CancellationToken,
}

/// Writes the result of a run that a signal stopped before any build started.
async fn cancelled_before_run(
    settings: &Settings,
    args: &BuildArgs,
    out: &mut Output<'_>,
    reports: &mut Reports,
    plan: &Plan,
    publish: Publish,
    signals: &signals::Signals,
) -> io::Result<u8> {
    writeln!(out.stderr, "sifbake: cancelled before any build started")?;
    let run = Finished {
        code: signals.exit_code(),
        cancelled: true,
        ..Finished::nothing_run(plan, publish)
    };
    finish(settings, args, out, reports, run).await
}

async fn build_with(
    context: &BuildContext<'_>,
    out: &mut Output<'_>,
    reports: &mut Reports,
    offline: &Plan,
    services: &Services,
    retries: &mut mpsc::UnboundedReceiver<RetryNotice>,
) -> io::Result<u8> {
    let BuildContext {
        settings,
        args,
        project,
        gathered,
        full_offline,
        publish,
        signals,
        ..
    } = *context;
    let signed = signed_targets(project);
    let lookup = prefetch(
        Arc::clone(&services.library),
        full_offline,
        &project.graph,
        &signed,
    );
    let looked_up = tokio::select! {
        lookups = services::reporting_retries(lookup, retries, out.stderr) => Some(lookups),
        () = context.cancel.cancelled() => None,
    };
    let Some(looked_up) = looked_up else {
        return cancelled_before_run(settings, args, out, reports, offline, publish, signals).await;
    };
    let lookups = match looked_up {
        Ok(lookups) => lookups,
        Err(error) => {
            reports.diagnostics(
                out,
                &[Diagnostic::error("service::lookup", error.to_string())
                    .help(services::lookup_help(&error))],
            )?;
            return Ok(exit::SERVICE);
        }
    };
    let planned = gathered
        .plan(project, &args.selection.targets, Some(&lookups))
        .and_then(|mut full| {
            full.notes.extend(lookups.notes());
            let (plan, prerequisites) = narrow(full.clone(), &args.selection)?;
            Ok((full, plan, prerequisites))
        });
    let (full, plan, prerequisites) = match planned {
        Ok(plans) => plans,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    if settings.verbosity >= 0 {
        write_text(out.stderr, &plan, out.color)?;
    }
    if services.library.tag_api() == crate::scs::TagApi::V1 && publish == Publish::Push {
        for target in plan
            .targets
            .iter()
            .filter(|t| t.images.len() > 1 && t.action != Action::Skip)
        {
            writeln!(
                out.stderr,
                "sifbake: warning: the library only speaks v1 tags, which have no architecture: the tags of `{}` for {} overwrite each other",
                target.name,
                target
                    .images
                    .iter()
                    .map(|i| i.arch.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )?;
        }
    }
    // `--no-deps` builds on what an earlier job built: a base missing from the library
    // means the jobs ran out of order, and building without it would pin nothing.
    let missing: Vec<Diagnostic> = prerequisites
        .iter()
        .filter(|p| lookups.image(&p.target, &p.arch).is_none())
        .map(|p| {
            let level = full.targets.iter().find(|t| t.name == p.target);
            let published = publish == Publish::Push;
            crate::plan::narrow::missing_prerequisite(p, level.map(|t| t.level), published)
        })
        .collect();
    if !missing.is_empty() {
        reports.diagnostics(out, &missing)?;
        return Ok(exit::BUILD_FAILED);
    }
    let mirror_setup = match mirrors::for_run(settings, &args.remote, publish, &plan, out.stderr)? {
        Ok(setup) => setup,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    if args.dry_run {
        writeln!(
            out.stderr,
            "sifbake: --dry-run: connected and planned; nothing was built"
        )?;
        let run = Finished::nothing_run(&plan, publish);
        return finish(settings, args, out, reports, run).await;
    }
    // From the whole plan: the images of targets `--no-deps` left out are bases to pin.
    let known = lookups.known_images(&full);
    let jobs = match job_list(project, &plan, publish == Publish::Push, &known) {
        Ok(jobs) => jobs,
        Err(diagnostic) => {
            reports.diagnostics(out, &[diagnostic])?;
            return Ok(exit::BAD_INPUT);
        }
    };
    let build_jobs = jobs
        .iter()
        .filter(|job| job.kind() == exec::JobKind::Build)
        .count();
    let keys = &context.signing.keystore_keys;
    match services::reporting_retries(signing::push_keys(services, keys), retries, out.stderr).await
    {
        Ok(pushed) if settings.verbosity >= 0 => {
            for line in pushed {
                writeln!(out.stderr, "sifbake: {line}")?;
            }
        }
        Ok(_) => {}
        Err(diagnostic) => {
            reports.diagnostics(out, &[diagnostic])?;
            return Ok(exit::SERVICE);
        }
    }
    let scratch = tempfile::Builder::new().prefix("sifbake-run-").tempdir()?;
    let mut options = ExecOptions::new(scratch.path().to_path_buf());
    options.jobs = match args.jobs {
        Some(jobs) => usize::from(jobs),
        None => build_jobs.clamp(1, DEFAULT_MAX_JOBS),
    };
    options.fail_fast = args.fail_fast;
    options.library_url = Some(services.library_url.clone());
    options.redactor = Redactor::new(services.token.iter().map(Token::expose));
    if let Some(setup) = mirror_setup {
        options.redactor = options
            .redactor
            .with(setup.secrets.iter().map(String::as_str));
        options.registry = Some(setup.into_client());
    }
    options.redactor = options
        .redactor
        .with(context.signing.secrets.iter().map(String::as_str));
    options.signers = context.signing.signers.clone();
    // The mirrors push a signed file from there too, rather than download it again.
    options.keep_signed = args.pull.is_some() || options.registry.is_some();
    options.labels = provenance::labels(settings, &plan.context, &project.manifest.root);
    options.cancel = context.cancel.clone();

    let log_dir = args
        .log_dir
        .as_deref()
        .map(|dir| settings.base_dir().join(dir));
    let logs = LogFiles::new(log_dir.as_deref()).map_err(|error| {
        let dir = log_dir
            .as_deref()
            .unwrap_or(std::path::Path::new("a temporary directory"));
        io::Error::new(
            error.kind(),
            format!(
                "cannot create the log directory `{}`: {error}",
                dir.display()
            ),
        )
    })?;
    let (summary, mut logs) = run_jobs(
        settings, out.stderr, services, jobs, &options, logs, retries,
    )
    .await?;

    let mut code = if summary.was_cancelled() {
        signals.exit_code()
    } else {
        exit_code(&summary)
    };
    let mut pulled = Vec::new();
    if let Some(dir) = args.pull.as_deref().filter(|_| !summary.was_cancelled()) {
        let dir = settings.base_dir().join(dir);
        let run = pull::after_run(
            out.stderr,
            services,
            project,
            &summary,
            &dir,
            scratch.path(),
            retries,
        )
        .await?;
        pulled = run.files;
        if code == exit::SUCCESS {
            code = run.code;
        }
    }
    let run = Finished {
        plan: &plan,
        summary: Some(&summary),
        publish,
        code,
        logs: Some(&mut logs),
        cancelled: false,
        pulled,
    };
    finish(settings, args, out, reports, run).await
}

/// Returns the executor's jobs for a plan, or the diagnostic of the bug that prevents them.
pub fn job_list(
    project: &Project,
    plan: &Plan,
    publish: bool,
    known_images: &KnownImages,
) -> Result<Vec<Job>, Diagnostic> {
    exec::jobs(&JobsRequest {
        project,
        plan,
        publish,
        known_images,
    })
    .map_err(|error| {
        Diagnostic::error("exec::jobs", error.to_string())
            .help("this is a bug in sifbake; please report it")
    })
}

/// Runs jobs on the services with a reporter on `stderr` (a live view on a terminal outside
/// CI); returns what happened and the logs.
pub async fn run_jobs(
    settings: &Settings,
    stderr: &mut dyn io::Write,
    services: &Services,
    jobs: Vec<Job>,
    options: &ExecOptions,
    logs: LogFiles,
    retries: &mut mpsc::UnboundedReceiver<RetryNotice>,
) -> io::Result<(RunSummary, LogFiles)> {
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ci = CiLog::detect(&|name| settings.var(name));
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let timeouts: Vec<_> = jobs.iter().map(|job| (job.id, job.timeout)).collect();
    let run = exec::execute(
        jobs,
        Arc::clone(&services.build),
        Arc::clone(&services.library),
        options,
        sender,
    );
    let live = settings.stderr_terminal && ci == CiLog::Plain && settings.verbosity >= 0;
    let mut reporter =
        BuildReporter::new(stderr, ci, logs, epoch, settings.verbosity).with_timeouts(timeouts);
    if live {
        reporter = reporter.with_live_view();
    }
    let report = report_events(&mut reporter, &mut receiver, retries, live);
    let (summary, reported) = tokio::join!(run, report);
    let logs = reporter.into_logs();
    reported?;
    Ok((summary, logs))
}

/// Feeds the executor's events to the reporter until the run ends; on a terminal, also
/// ticks the live view's clocks.
pub async fn report_events(
    reporter: &mut BuildReporter<'_>,
    receiver: &mut mpsc::UnboundedReceiver<exec::Event>,
    retries: &mut mpsc::UnboundedReceiver<RetryNotice>,
    live: bool,
) -> io::Result<()> {
    let start = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(200));
    let mut result = Ok(());
    loop {
        tokio::select! {
            event = receiver.recv() => {
                let Some(event) = event else { break };
                // Keep draining on a write error: the run must still finish and clean up.
                if let Err(error) = reporter.on_event(&event) {
                    result = Err(error);
                }
            }
            Some(notice) = retries.recv() => {
                if let Err(error) = reporter.on_retry(start.elapsed(), &notice) {
                    result = Err(error);
                }
            }
            _ = ticker.tick(), if live => reporter.tick(start.elapsed()),
        }
    }
    result
}

/// Maps a finished run to its exit code: 1 when a build failed, 3 when only service calls
/// failed (nothing wrong with the definitions), 0 otherwise.
pub fn exit_code(summary: &RunSummary) -> u8 {
    // A mirror that failed leaves the library as it should be: a service failure (3),
    // unless a build failure's 1 applies.
    if !summary.any_failed() {
        return if summary.any_mirror_failed() {
            exit::SERVICE
        } else {
            exit::SUCCESS
        };
    }
    let only_service = summary.jobs.iter().all(|job| match &job.outcome {
        Outcome::Failed { reason } => {
            matches!(
                reason,
                FailReason::Service { .. }
                    | FailReason::Tagging { .. }
                    | FailReason::LibraryMismatch { .. }
                    | FailReason::SignDownload { .. }
                    | FailReason::SignedUpload { .. }
            )
        }
        Outcome::TimedOut { .. } => false,
        _ => true,
    });
    if only_service {
        exit::SERVICE
    } else {
        exit::BUILD_FAILED
    }
}

/// How a run ended, for [`finish`].
struct Finished<'a> {
    plan: &'a Plan,
    /// `None` when nothing ran.
    summary: Option<&'a RunSummary>,
    publish: Publish,
    code: u8,
    /// The builds' logs, for the JUnit report.
    logs: Option<&'a mut LogFiles>,
    /// A signal stopped the run before any build started (a run's summary says so itself).
    cancelled: bool,
    /// The files `--pull` wrote.
    pulled: Vec<crate::report::result::PulledFile>,
}

impl<'a> Finished<'a> {
    fn nothing_run(plan: &'a Plan, publish: Publish) -> Self {
        Finished {
            plan,
            summary: None,
            publish,
            code: exit::SUCCESS,
            logs: None,
            cancelled: false,
            pulled: Vec::new(),
        }
    }
}

/// Writes the result (a table, or the JSON document) to stdout, reports it to CI, and
/// returns its exit code.
async fn finish(
    settings: &Settings,
    args: &BuildArgs,
    out: &mut Output<'_>,
    reports: &mut Reports,
    run: Finished<'_>,
) -> io::Result<u8> {
    let Finished {
        plan,
        summary,
        publish,
        code,
        logs,
        cancelled,
        pulled,
    } = run;
    reports.plan(out, plan)?;
    let mut document = ResultDocument::new(plan, summary, publish, code);
    document.cancelled |= cancelled;
    document.pulled = pulled;
    let mut logs = logs;
    if let (Some(summary), Some(logs)) = (summary, logs.as_deref_mut()) {
        document.explain(summary, logs)?;
        for failure in logs.failures() {
            reports.output_failed(OutputFailure::new(
                format!("the build log of `{}` ({})", failure.target, failure.arch),
                &failure.path,
                io::Error::new(failure.error.kind(), failure.error.to_string()),
            ));
        }
    }
    reports.result(out, plan, &document, logs)?;
    reports.forge(out, settings, &document).await?;
    match args.format {
        Format::Json => out.json(&document)?,
        // `-q`: the counts line alone is the result.
        Format::Text if settings.verbosity < 0 => {
            if let Some(summary) = summary {
                writeln!(out.stdout, "{}", summary_line(summary))?;
            }
        }
        Format::Text => {
            if let Some(summary) = summary {
                write_summary(out.stdout, summary, &document)?;
                crate::report::mirrors::write_text(out.stdout, &document)?;
            }
            let unchanged = plan
                .targets
                .iter()
                .filter(|t| t.action == Action::Skip)
                .count();
            if unchanged > 0 {
                writeln!(
                    out.stdout,
                    "{} unchanged",
                    crate::report::plural(unchanged, "target")
                )?;
            }
        }
    }
    Ok(code)
}
