//! `sifbake plan`: what a build would do, and why, without a network or a token.

use std::cell::RefCell;
use std::io;

use super::Output;
use super::reports::Reports;
use crate::changes::{self, ChangeRequest, ChangeSet, Digests};
use crate::cli::{PlanArgs, PlanFormat, RefArgs, SelectionArgs};
use crate::context::{self, LocalGit, Provider, RefContext};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::plan::{self, DigestLookup, Plan, PlanRequest};
use crate::project::Project;
use crate::report::plan as render;
use crate::settings::Settings;
use crate::tags::TagFacts;

/// Runs `sifbake plan`.
pub fn run(settings: &Settings, args: &PlanArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let mut reports = Reports::new(settings, "plan", (&args.report).into(), out.stderr)?;
    let code = plan(settings, args, out, &mut reports)?;
    reports.finish()?;
    reports.report_failures(out.stderr, code)
}

fn plan(
    settings: &Settings,
    args: &PlanArgs,
    out: &mut Output<'_>,
    reports: &mut Reports,
) -> io::Result<u8> {
    let format = match plan_format(settings, args.format) {
        Ok(format) => format,
        Err(diagnostic) => {
            reports.diagnostics(out, &[diagnostic])?;
            return Ok(exit::BAD_INPUT);
        }
    };
    let Some(project) = super::load_project(settings, &args.manifest, out, reports)? else {
        return Ok(exit::BAD_INPUT);
    };
    let gathered = gather(settings, &args.selection, &args.reference, &project);
    let mut plan = match gathered
        .and_then(|g| g.plan(&project, &args.selection.targets, None))
        .and_then(|plan| narrow(plan, &args.selection))
    {
        Ok((plan, _)) => plan,
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            return Ok(exit::BAD_INPUT);
        }
    };
    // Only the registries are asked, and only for the formats that show mirrors: the job
    // matrices stay offline.
    if matches!(format, PlanFormat::Text | PlanFormat::Json) {
        super::build::mirrors::check_plan(settings, &project, &mut plan);
    }
    reports.plan(out, &plan)?;
    match format {
        PlanFormat::Text => render::write_text(out.stdout, &plan, out.stdout_color)?,
        PlanFormat::Json => out.json(&render::PlanDocument {
            schema: render::PLAN_SCHEMA,
            plan: &plan,
        })?,
        PlanFormat::GithubMatrix => {
            let matrix = serde_json::to_string(&render::matrix(&plan)).map_err(io::Error::other)?;
            writeln!(out.stdout, "{matrix}")?;
            writeln!(out.stderr, "has-changes={}", plan.has_changes)?;
        }
        PlanFormat::GithubLevels => {
            crate::report::plan_jobs::write_github_levels(out.stdout, &plan)?;
            writeln!(out.stderr, "has-changes={}", plan.has_changes)?;
        }
        PlanFormat::GitlabPipeline => {
            crate::report::plan_jobs::write_gitlab_pipeline(out.stdout, &plan)?;
        }
    }
    Ok(exit::SUCCESS)
}

/// What a plan is made from, gathered once: the ref context, the changes, and the input
/// digests computed so far (only those a plan needs, each once).
pub struct Gathered {
    pub context: RefContext,
    pub changes: ChangeSet,
    pub digests: RefCell<Digests>,
    pub manifest_path: String,
    pub branches: Vec<String>,
    pub tag_facts: TagFacts,
}

impl Gathered {
    /// Makes the plan, asking `lookup` (the library) when online.
    pub fn plan(
        &self,
        project: &Project,
        selection: &[String],
        lookup: Option<&dyn DigestLookup>,
    ) -> Result<Plan, Vec<Diagnostic>> {
        let wanted = plan::needs_digests(project, &self.changes, &self.manifest_path, selection)?;
        self.digests
            .borrow_mut()
            .ensure(&project.manifest, &project.graph, &wanted)
            .map_err(|error| {
                vec![
                    Diagnostic::error("changes::digest", error.to_string())
                        .help("check that the file exists and is readable"),
                ]
            })?;
        plan::plan(&PlanRequest {
            project,
            context: &self.context,
            changes: &self.changes,
            digests: &self.digests.borrow(),
            selection,
            manifest_path: &self.manifest_path,
            other_branches: &self.branches,
            lookup,
            tag_facts: &self.tag_facts,
        })
    }
}

/// Narrows a plan to `--arch` and `--no-deps`; returns it with the images `--no-deps` left
/// out that its builds need.
pub fn narrow(
    mut plan: Plan,
    selection: &SelectionArgs,
) -> Result<(Plan, Vec<plan::narrow::Prerequisite>), Vec<Diagnostic>> {
    plan::narrow::keep_archs(&mut plan, &selection.arch)?;
    let prerequisites = if selection.no_deps {
        plan::narrow::without_dependencies(&mut plan, &selection.targets)
    } else {
        Vec::new()
    };
    Ok((plan, prerequisites))
}

/// Works out the context, the changes and the digests. Shared with `build` and `tag`.
pub fn gather(
    settings: &Settings,
    selection: &SelectionArgs,
    reference: &RefArgs,
    project: &Project,
) -> Result<Gathered, Vec<Diagnostic>> {
    let root = &project.manifest.root;
    let payload = settings.event_payload().map_err(|d| vec![d])?;
    let mut overrides = Settings::overrides(reference);
    if let Some(name) = overrides.reference.clone() {
        overrides.reference = Some(full_ref(root, &name).map_err(|d| vec![d])?);
    }
    let var = |name: &str| settings.var(name);
    // In CI the environment names the ref and the commit, and usually the default branch:
    // git is asked (four processes) only on a developer's machine or to fill a gap.
    let in_ci = context::provider(&var) != Provider::Local;
    let detect = |local: &LocalGit| context::detect(&var, payload.as_ref(), local, &overrides);
    let mut detected = detect(&LocalGit::default());
    if !in_ci
        || detected
            .as_ref()
            .map_or(true, |c| c.default_branch.is_none())
    {
        detected = detect(&changes::local_git(root));
    }
    let context = detected.map_err(|error| {
        vec![Diagnostic::error("context::detect", error.to_string()).help(error.help())]
    })?;
    let changes = changes::detect_changes(&ChangeRequest {
        root,
        context: &context,
        since: selection.since.as_deref(),
        all: selection.all,
        remote: "origin",
    })
    .map_err(|error| {
        vec![Diagnostic::error("changes::git", error.to_string()).help(error.help())]
    })?;
    // Only `latest` rules compare a release with the repository's others: no git otherwise.
    let wants_tags = project.manifest.targets.iter().any(|target| {
        target
            .tags
            .iter()
            .any(|rule| rule.kind == crate::manifest::TagRuleKind::Latest)
    });
    let repository = if wants_tags {
        let found = changes::repository_tags(root);
        (Some(found.names), found.shallow)
    } else {
        (None, false)
    };
    let now = settings
        .var(crate::env::SOURCE_DATE_EPOCH)
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0))
        });
    Ok(Gathered {
        tag_facts: TagFacts {
            now,
            repository_tags: repository.0,
            shallow: repository.1,
        },
        context,
        changes,
        digests: RefCell::new(Digests::default()),
        manifest_path: project.manifest.manifest_path(),
        // For the note on branches whose names give the same tag. A CI checkout fetches
        // the one branch it builds, so only a developer's clone knows the others.
        branches: if in_ci {
            Vec::new()
        } else {
            changes::branch_names(root)
        },
    })
}

/// Resolves a bare `--ref NAME` through git: `v1.2.3` is a tag when the repository has that
/// tag, not a branch of that name. A full ref (`refs/…`) is taken as written.
fn full_ref(root: &std::path::Path, name: &str) -> Result<String, Diagnostic> {
    let name = name.trim();
    if name.starts_with("refs/") || name.is_empty() {
        return Ok(name.to_owned());
    }
    match changes::ref_name(root, name) {
        changes::RefName::Tag => Ok(format!("refs/tags/{name}")),
        changes::RefName::Branch => Ok(format!("refs/heads/{name}")),
        changes::RefName::Both => Err(Diagnostic::error(
            "context::ref",
            format!("`--ref {name}` names both a tag and a branch"),
        )
        .help(format!(
            "say which: `--ref refs/tags/{name}` or `--ref refs/heads/{name}`"
        ))),
        changes::RefName::Neither => Err(Diagnostic::error(
            "context::ref",
            format!("`--ref {name}` names no tag or branch of this repository"),
        )
        .help(format!(
            "check the name (`git tag -l`, `git branch -a`), or give the full ref: `--ref refs/heads/{name}` or `--ref refs/tags/{name}`"
        ))),
    }
}

/// `plan --format`, else SIFBAKE_PLAN_FORMAT (clap reads both), else the shared
/// SIFBAKE_FORMAT, which holds only what every command takes.
fn plan_format(settings: &Settings, flag: Option<PlanFormat>) -> Result<PlanFormat, Diagnostic> {
    if let Some(format) = flag {
        return Ok(format);
    }
    match settings.var(crate::env::SIFBAKE_FORMAT).as_deref().map(str::trim) {
        None | Some("" | "text") => Ok(PlanFormat::Text),
        Some("json") => Ok(PlanFormat::Json),
        Some(other) => Err(Diagnostic::error(
            "cli::format",
            format!("SIFBAKE_FORMAT is `{other}`; every command takes `text` or `json` from it"),
        )
        .help(if other == "github-matrix" {
            "`github-matrix` is `plan`'s alone: set SIFBAKE_PLAN_FORMAT=github-matrix (or pass `--format github-matrix`), so `build` and `tag` keep working"
        } else if matches!(other, "github-levels" | "gitlab-pipeline") {
            "that format is `plan`'s alone: set SIFBAKE_PLAN_FORMAT (or pass `--format`), so `build` and `tag` keep working"
        } else {
            "set SIFBAKE_FORMAT to `text` or `json`"
        })),
    }
}
