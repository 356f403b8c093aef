//! What `plan`, `build` and `tag` report to CI besides stdout and stderr, wired to the
//! environment: GitHub step outputs, the step summary, annotations, commit statuses and the
//! pull-request comment; GitLab's JUnit and dotenv reports. The formats are in `report/`
//! and `forge/`; this file decides when each is written and where to.
//!
//! | report | when |
//! |---|---|
//! | `::add-mask::` | GitHub Actions, and a GitHub token is used (the Sylabs token is masked where it is read) |
//! | annotations | `GITHUB_ACTIONS=true`: every diagnostic, every failed image (10 per level) |
//! | step outputs | `GITHUB_OUTPUT` is set |
//! | step summary | `GITHUB_STEP_SUMMARY` is set and `--summary` is not `false` |
//! | statuses, comment | `--github-statuses`, `--github-comment`, with `SIFBAKE_GITHUB_TOKEN` |
//! | JUnit | `--junit FILE` (`build`, `tag`) |
//! | dotenv | `--dotenv FILE` |

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Output;
use super::output_failure::{self, OutputFailure};
use crate::cli::{PlanReportArgs, ReportArgs};
use crate::context::{RefKind, vars};
use crate::diagnostic::Diagnostic;
use crate::env;
use crate::forge::{self, CommentRequest, GitHubForge, PublishRequest};
use crate::plan::Plan;
use crate::report::annotations::{Annotation, Annotator, Level};
use crate::report::ci::workflow_command;
use crate::report::diagnostics::{count_summary, one_line};
use crate::report::dotenv::{self, DOTENV_LIMIT, Value};
use crate::report::junit::{LOG_TAIL_BYTES, write_junit, write_stopped_junit};
use crate::report::logs::LogFiles;
use crate::report::metadata;
use crate::report::outputs::{Outputs, plan_outputs, result_outputs};
use crate::report::result::ResultDocument;
use crate::report::step_summary::{
    STEP_SUMMARY_LIMIT, assemble, write_plan, write_problems, write_result,
};
use crate::report::{github, pr_comment};
use crate::settings::Settings;

/// The largest step output GitHub takes, in bytes.
const OUTPUT_LIMIT: usize = 1024 * 1024;

/// Room in the step summary for the lists of problems.
const PROBLEMS_BUDGET: usize = 128 * 1024;

/// Which reports a command was asked for.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub summary: bool,
    pub junit: Option<PathBuf>,
    pub dotenv: Option<PathBuf>,
    pub statuses: bool,
    pub comment: bool,
}

impl From<&PlanReportArgs> for ReportOptions {
    fn from(args: &PlanReportArgs) -> Self {
        ReportOptions {
            summary: args.summary,
            dotenv: args.dotenv.clone(),
            ..ReportOptions::default()
        }
    }
}

impl From<&ReportArgs> for ReportOptions {
    fn from(args: &ReportArgs) -> Self {
        ReportOptions {
            summary: args.summary,
            junit: args.junit.clone(),
            dotenv: args.dotenv.clone(),
            statuses: args.github_statuses,
            comment: args.github_comment,
        }
    }
}

/// The reports of one command, gathered as it runs and written when it ends.
pub struct Reports {
    command: &'static str,
    options: ReportOptions,
    /// `GITHUB_ACTIONS=true`: annotations and masks.
    github: bool,
    output_file: Option<PathBuf>,
    summary_file: Option<PathBuf>,
    /// The directory sifbake was started in. `--junit` and `--dotenv` are relative to it,
    /// not to `-C`: CI collects report artifacts from the job's directory.
    cwd: PathBuf,
    workspace: Option<PathBuf>,
    /// The repository root and the manifest's path in it, once the manifest is loaded.
    root: Option<PathBuf>,
    manifest_path: Option<String>,
    annotator: Annotator,
    diagnostics: Vec<Diagnostic>,
    /// The table of the step summary: the plan, replaced by the result once there is one.
    table: Option<String>,
    dotenv: Vec<(&'static str, Value)>,
    junit_written: bool,
    github_token: Option<String>,
    /// Reports and logs that could not be written; the others still are.
    failures: Vec<OutputFailure>,
    /// For the provenance labels of the `labels` and `version` outputs.
    settings: Settings,
}

impl Reports {
    /// Returns the reports of `command`. In GitHub Actions, masks the GitHub token first.
    pub fn new(
        settings: &Settings,
        command: &'static str,
        options: ReportOptions,
        stderr: &mut dyn Write,
    ) -> io::Result<Self> {
        let github = settings.var(vars::GITHUB_ACTIONS).as_deref() == Some("true");
        let github_token = (options.statuses || options.comment)
            .then(|| settings.secrets.get(env::SIFBAKE_GITHUB_TOKEN))
            .flatten()
            .filter(|t| !t.trim().is_empty());
        if github && let Some(token) = &github_token {
            mask(stderr, token)?;
        }
        let summary_file = settings
            .var(env::GITHUB_STEP_SUMMARY)
            .filter(|_| options.summary)
            .filter(|f| !f.is_empty())
            .map(PathBuf::from);
        Ok(Reports {
            command,
            options,
            github,
            output_file: settings
                .var(env::GITHUB_OUTPUT)
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            summary_file,
            cwd: settings.cwd.clone(),
            workspace: settings
                .var(env::GITHUB_WORKSPACE)
                .filter(|w| !w.is_empty())
                .map(PathBuf::from),
            root: None,
            manifest_path: None,
            annotator: Annotator::new(),
            diagnostics: Vec::new(),
            table: None,
            dotenv: Vec::new(),
            junit_written: false,
            github_token,
            failures: Vec::new(),
            settings: settings.clone(),
        })
    }

    /// Remembers where the repository and the manifest are, once the manifest is loaded.
    pub fn set_project(&mut self, root: &Path, manifest_path: String) {
        self.root = Some(root.to_path_buf());
        self.manifest_path = Some(manifest_path);
    }

    /// Shows diagnostics on stderr and, in GitHub Actions, as annotations on their files;
    /// keeps them for the step summary.
    pub fn diagnostics(&mut self, out: &mut Output<'_>, list: &[Diagnostic]) -> io::Result<()> {
        out.diagnostics(list)?;
        if self.github {
            for diagnostic in list {
                let annotation =
                    Annotation::from_diagnostic(diagnostic, &|name| self.repository_path(name));
                self.annotator.emit(out.stderr, annotation)?;
            }
        }
        self.diagnostics.extend_from_slice(list);
        Ok(())
    }

    /// Sets the step summary's section of a command with no plan or result (`validate`).
    pub fn summary_section(&mut self, text: String) {
        if self.summary_file.is_some() {
            self.table = Some(text);
        }
    }

    /// Reports the final plan: step outputs, the summary table, dotenv variables.
    pub fn plan(&mut self, out: &mut Output<'_>, plan: &Plan) -> io::Result<()> {
        // The labels the images get (build's provenance), so `labels` and `version` say
        // what `singularity inspect` will.
        let labels = self.root.as_deref().map_or_else(Vec::new, |root| {
            super::build::provenance::labels(&self.settings, &plan.context, root)
        });
        let mut outputs = plan_outputs(plan)?;
        outputs.extend(metadata::outputs(plan, &labels).map_err(io::Error::other)?);
        self.outputs(out, outputs)?;
        if self.summary_file.is_some() {
            let mut text = Vec::new();
            write_plan(&mut text, plan, self.table_budget())?;
            self.table = Some(String::from_utf8_lossy(&text).into_owned());
        }
        self.dotenv.extend(dotenv::plan_variables(plan));
        self.dotenv.extend(metadata::variables(plan, &labels));
        Ok(())
    }

    /// Reports the result of `build` or `tag`: step outputs, annotations for failed images,
    /// the summary table, JUnit and dotenv. `logs` gives the end of failed builds' logs.
    pub fn result(
        &mut self,
        out: &mut Output<'_>,
        plan: &Plan,
        document: &ResultDocument<'_>,
        logs: Option<&mut LogFiles>,
    ) -> io::Result<()> {
        self.outputs(out, result_outputs(document)?)?;
        if self.github {
            for target in &document.targets {
                let def = plan
                    .targets
                    .iter()
                    .find(|t| t.name == target.name)
                    .and_then(|t| self.root.as_ref().map(|root| root.join(&t.def)))
                    .map(|path| self.workspace_relative(&path));
                for image in &target.images {
                    if matches!(image.status, "failed" | "timed-out") {
                        let annotation = Annotation::failed_image(
                            &target.name,
                            &image.arch,
                            image.status,
                            image.reason.as_deref().unwrap_or("see the build log"),
                            def.clone(),
                        );
                        self.annotator.emit(out.stderr, annotation)?;
                    }
                }
            }
        }
        if self.summary_file.is_some() {
            let mut text = Vec::new();
            write_result(&mut text, self.command, document, self.table_budget())?;
            self.table = Some(String::from_utf8_lossy(&text).into_owned());
        }
        if let Some(path) = &self.options.junit {
            let path = self.cwd.join(path);
            let mut tails = std::collections::HashMap::new();
            if let Some(logs) = logs {
                for target in &document.targets {
                    for image in &target.images {
                        if matches!(image.status, "failed" | "timed-out")
                            && let Some(tail) =
                                logs.tail(&target.name, &image.arch, LOG_TAIL_BYTES)?
                        {
                            tails.insert((target.name.clone(), image.arch.clone()), tail);
                        }
                    }
                }
            }
            let tail = |target: &str, arch: &str| {
                tails.get(&(target.to_owned(), arch.to_owned())).cloned()
            };
            let written = create(&path).and_then(|mut file| {
                write_junit(&mut file, self.command, document, &tail)?;
                file.sync_all()
            });
            if let Err(error) = written {
                self.failures
                    .push(OutputFailure::new("the JUnit report", &path, error));
            }
            self.junit_written = true;
        }
        self.dotenv.extend(dotenv::result_variables(document));
        Ok(())
    }

    /// Sets commit statuses and the pull-request comment, when asked for. Problems are
    /// warnings; the exit code does not change.
    pub async fn forge(
        &mut self,
        out: &mut Output<'_>,
        settings: &Settings,
        document: &ResultDocument<'_>,
    ) -> io::Result<()> {
        if !self.options.statuses && !self.options.comment {
            return Ok(());
        }
        let Some(token) = self.github_token.clone() else {
            return self.warn(
                out,
                "--github-statuses and --github-comment need a token in SIFBAKE_GITHUB_TOKEN (the action passes `github-token`); skipped",
            );
        };
        let Some(repository) = settings
            .var(env::GITHUB_REPOSITORY)
            .filter(|r| !r.is_empty())
        else {
            return self.warn(
                out,
                "--github-statuses and --github-comment need GITHUB_REPOSITORY (`owner/name`); skipped",
            );
        };
        let api = settings
            .var(env::GITHUB_API_URL)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| forge::DEFAULT_API_URL.to_owned());
        let run_url = match (
            settings.var(env::GITHUB_SERVER_URL),
            settings.var(env::GITHUB_RUN_ID),
        ) {
            (Some(server), Some(run)) if !server.is_empty() && !run.is_empty() => Some(format!(
                "{}/{repository}/actions/runs/{run}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        let client = match GitHubForge::new(&api, &repository, &token, &crate::scs::user_agent()) {
            Ok(client) => client,
            Err(error) => return self.warn(out, &format!("{error}; no statuses or comment")),
        };
        let mut request = PublishRequest {
            sha: document.context.sha.clone(),
            ..PublishRequest::default()
        };
        if self.options.statuses {
            request.statuses = forge::statuses(document, run_url.as_deref());
        }
        if self.options.comment {
            match &document.context.kind {
                RefKind::PullRequest { number, .. } => {
                    let manifest = self.manifest_path.clone().unwrap_or_default();
                    let mut body = Vec::new();
                    pr_comment::write_comment(
                        &mut body,
                        self.command,
                        document,
                        &manifest,
                        run_url.as_deref(),
                    )?;
                    request.comment = Some(CommentRequest {
                        pull_request: *number,
                        marker: pr_comment::marker(&manifest),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                }
                _ => writeln!(
                    out.stderr,
                    "sifbake: --github-comment: {} is not a pull request; no comment",
                    document.context.describe()
                )?,
            }
        }
        let published = forge::publish(&client, &request).await;
        for note in &published.notes {
            writeln!(out.stderr, "sifbake: GitHub: {note}")?;
        }
        for warning in &published.warnings {
            self.warn(out, warning)?;
        }
        Ok(())
    }

    /// Writes what is written at the end: the step summary, JUnit for a run that never got
    /// a result, the dotenv report.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(path) = self.options.junit.clone().filter(|_| !self.junit_written) {
            let errors: Vec<&Diagnostic> =
                self.diagnostics.iter().filter(|d| d.is_error()).collect();
            if !errors.is_empty() {
                let path = self.cwd.join(path);
                let written = create(&path).and_then(|mut file| {
                    write_stopped_junit(&mut file, self.command, &errors)?;
                    file.sync_all()
                });
                if let Err(error) = written {
                    self.failures
                        .push(OutputFailure::new("the JUnit report", &path, error));
                }
            }
        }
        if let Some(path) = &self.options.dotenv {
            let path = self.cwd.join(path);
            let written = create(&path).and_then(|mut file| {
                dotenv::write_dotenv(&mut file, &self.dotenv, DOTENV_LIMIT)?;
                file.sync_all()
            });
            if let Err(error) = written {
                self.failures
                    .push(OutputFailure::new("the dotenv report", &path, error));
            }
        }
        let Some(path) = self.summary_file.clone() else {
            return Ok(());
        };
        let mut sections = Vec::new();
        // An error (bad input, no token, an unreachable service) ends the command before it
        // builds: every annotation came from a diagnostic, and all of them are listed here,
        // so the runner's overflow needs no list of its own.
        let invalid = self.diagnostics.iter().any(Diagnostic::is_error);
        if invalid {
            let lines: Vec<String> = self
                .diagnostics
                .iter()
                .map(|d| one_line(d).trim_end().to_owned())
                .collect();
            let mut text = format!(
                "### sifbake {} stopped: {}\n",
                self.command,
                count_summary(&self.diagnostics)
            )
            .into_bytes();
            write_problems(&mut text, "Problems", &lines, PROBLEMS_BUDGET)?;
            sections.push(String::from_utf8_lossy(&text).into_owned());
        }
        if let Some(table) = self.table.take() {
            sections.push(table);
        }
        let overflow: Vec<String> = self
            .annotator
            .overflow()
            .iter()
            .map(Annotation::one_line)
            .collect();
        if !overflow.is_empty() && !invalid {
            let mut text = Vec::new();
            write_problems(
                &mut text,
                "More problems (GitHub shows 10 annotations of each kind per step)",
                &overflow,
                PROBLEMS_BUDGET,
            )?;
            sections.push(String::from_utf8_lossy(&text).into_owned());
        }
        if sections.is_empty() {
            return Ok(());
        }
        let existing = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
        let mut text = Vec::new();
        assemble(
            &mut text,
            &sections,
            STEP_SUMMARY_LIMIT.saturating_sub(existing),
        )?;
        if !text.is_empty() {
            text.push(b'\n');
        }
        let written = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut file| file.write_all(&text));
        if let Err(error) = written {
            self.failures
                .push(OutputFailure::new("the step summary", &path, error));
        }
        Ok(())
    }

    /// Notes an output that could not be written (a build log).
    pub fn output_failed(&mut self, failure: OutputFailure) {
        self.failures.push(failure);
    }

    /// Reports every output that could not be written, on stderr and (in GitHub Actions)
    /// as an annotation; returns the run's exit code given the builds' `code`.
    pub fn report_failures(&mut self, stderr: &mut dyn Write, code: u8) -> io::Result<u8> {
        for failure in &self.failures {
            writeln!(stderr, "error: {failure}")?;
            if self.github {
                let annotation = Annotation::output_failure(&failure.to_string());
                self.annotator.emit(stderr, annotation)?;
            }
        }
        Ok(output_failure::exit_code(code, &self.failures))
    }

    /// Appends step outputs; one larger than GitHub takes (1 MiB) is left out with a warning
    /// rather than failing the step (`plan` and `result` of thousands of images).
    fn outputs(&mut self, out: &mut Output<'_>, outputs: Outputs) -> io::Result<()> {
        let Some(path) = self.output_file.clone() else {
            return Ok(());
        };
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (name, value) in &outputs {
            if value.len() > OUTPUT_LIMIT {
                self.warn(
                    out,
                    &format!(
                        "the step output `{name}` would hold {} bytes, more than GitHub takes; it is left out (use `--format json` for the whole document)",
                        value.len()
                    ),
                )?;
            } else {
                pairs.push((name, value));
            }
        }
        github::append_outputs(&path, &pairs)
    }

    /// Prints a warning, and in GitHub Actions also as a warning annotation.
    fn warn(&mut self, out: &mut Output<'_>, text: &str) -> io::Result<()> {
        writeln!(out.stderr, "sifbake: warning: {text}")?;
        if self.github {
            let annotation = Annotation {
                level: Level::Warning,
                file: None,
                line: None,
                column: None,
                end_column: None,
                title: "sifbake".to_owned(),
                message: text.to_owned(),
            };
            self.annotator.emit(out.stderr, annotation)?;
        }
        Ok(())
    }

    /// Room for the summary table: the limit less what the problems may take.
    fn table_budget(&self) -> usize {
        STEP_SUMMARY_LIMIT - 2 * PROBLEMS_BUDGET
    }

    /// Turns a file name as shown to the user (relative to the working directory) into a
    /// path relative to the repository, so the runner links the annotation to the file.
    fn repository_path(&self, shown: &str) -> String {
        self.workspace_relative(&self.cwd.join(shown))
    }

    fn workspace_relative(&self, path: &Path) -> String {
        let base = self.workspace.as_deref().unwrap_or(&self.cwd);
        let relative = path
            .strip_prefix(base)
            .or_else(|_| path.strip_prefix(&self.cwd))
            .unwrap_or(path);
        relative.to_string_lossy().replace('\\', "/")
    }
}

/// Writes `::add-mask::` for a secret, escaped so the runner masks exactly it (a multi-line
/// secret is masked line by line, as the runner matches per line).
pub fn mask(stderr: &mut dyn Write, secret: &str) -> io::Result<()> {
    for line in secret.lines().filter(|l| !l.trim().is_empty()) {
        writeln!(stderr, "{}", workflow_command("add-mask", &[], line))?;
    }
    Ok(())
}

fn create(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    File::create(path)
}
