//! `sifbake validate`: check the manifest and every definition file, offline.

use std::io::{self, Write};

use serde::Serialize;

use super::Output;
use super::reports::{ReportOptions, Reports};
use crate::cli::{Format, ValidateArgs};
use crate::diagnostic::{Diagnostic, DiagnosticRecord};
use crate::graph::Graph;
use crate::manifest::{Manifest, Target};
use crate::project::{self, Project};
use crate::report::diagnostics::count_summary;
use crate::report::reading::DefinitionReading;
use crate::report::{plural, write_table};
use crate::settings::Settings;
use crate::{env, exit};

/// The version of the `--format json` document; README.md documents it.
pub const VALIDATE_SCHEMA: &str = "sifbake/validate/v1";

/// The `--format json` document.
#[derive(Serialize)]
struct ValidateDocument {
    schema: &'static str,
    manifest: String,
    valid: bool,
    targets: Vec<TargetDocument>,
    levels: Vec<Vec<String>>,
    diagnostics: Vec<DiagnosticRecord>,
}

#[derive(Serialize)]
struct TargetDocument {
    name: String,
    #[serde(rename = "ref")]
    reference: String,
    def: String,
    arch: Vec<String>,
    depends_on: Vec<String>,
    /// The definition file as sifbake reads it, with build arguments filled in.
    reading: DefinitionReading,
    /// Every repository file the image depends on.
    files: Vec<String>,
}

/// Runs `sifbake validate`. In GitHub Actions every problem is also an annotation on its
/// line, and the step summary says whether the manifest is valid, as for `plan` and `build`.
pub fn run(settings: &Settings, args: &ValidateArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let options = ReportOptions {
        summary: settings.var(env::SIFBAKE_SUMMARY).as_deref() != Some("false"),
        ..ReportOptions::default()
    };
    let mut reports = Reports::new(settings, "validate", options, out.stderr)?;
    let code = validate(settings, args, out, &mut reports)?;
    reports.finish()?;
    reports.report_failures(out.stderr, code)
}

fn validate(
    settings: &Settings,
    args: &ValidateArgs,
    out: &mut Output<'_>,
    reports: &mut Reports,
) -> io::Result<u8> {
    let request = settings.manifest_request(&args.manifest);
    let shown = request
        .manifest
        .strip_prefix(&settings.cwd)
        .unwrap_or(&request.manifest)
        .display()
        .to_string();
    match project::load(&request) {
        Ok(project) => {
            reports.set_project(&project.manifest.root, project.manifest.manifest_path());
            reports.diagnostics(out, &project.warnings)?;
            let mut text = Vec::new();
            write_summary(&mut text, &shown, &project)?;
            let headline = String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            reports.summary_section(format!("### sifbake validate: {headline}\n"));
            match args.format {
                Format::Json => out.json(&document(&shown, Some(&project), &project.warnings))?,
                Format::Text => out.stdout.write_all(&text)?,
            }
            Ok(exit::SUCCESS)
        }
        Err(diagnostics) => {
            reports.diagnostics(out, &diagnostics)?;
            writeln!(
                out.stderr,
                "error: {shown} is not valid: {}",
                count_summary(&diagnostics)
            )?;
            if args.format == Format::Json {
                out.json(&document(&shown, None, &diagnostics))?;
            }
            Ok(exit::BAD_INPUT)
        }
    }
}

fn document(
    shown: &str,
    project: Option<&Project>,
    diagnostics: &[Diagnostic],
) -> ValidateDocument {
    let (targets, levels) = match project {
        Some(project) => (
            project
                .manifest
                .targets
                .iter()
                .enumerate()
                .map(|(index, target)| target_document(&project.graph, index, target))
                .collect(),
            project.graph.summary().levels,
        ),
        None => (Vec::new(), Vec::new()),
    };
    ValidateDocument {
        schema: VALIDATE_SCHEMA,
        manifest: shown.to_owned(),
        valid: project.is_some(),
        targets,
        levels,
        diagnostics: diagnostics.iter().map(Diagnostic::to_record).collect(),
    }
}

fn target_document(graph: &Graph, index: usize, target: &Target) -> TargetDocument {
    TargetDocument {
        name: target.name.clone(),
        reference: target.reference.to_string(),
        def: target.def_path.clone(),
        arch: target.arch.clone(),
        depends_on: dependency_names(graph, index),
        reading: DefinitionReading::new(&target.rendered_definition, &target.rendered),
        files: target.files.clone(),
    }
}

fn dependency_names(graph: &Graph, index: usize) -> Vec<String> {
    graph
        .dependencies(index)
        .iter()
        .map(|edge| graph.names()[edge.dependency].clone())
        .collect()
}

fn write_summary(out: &mut dyn Write, shown: &str, project: &Project) -> io::Result<()> {
    let manifest: &Manifest = &project.manifest;
    let graph = &project.graph;
    let mut summary = format!(
        "{shown} is valid: {}, {}",
        plural(manifest.targets.len(), "target"),
        plural(graph.edge_count(), "dependency").replace("dependencys", "dependencies"),
    );
    if !project.warnings.is_empty() {
        summary.push_str(&format!(", {}", plural(project.warnings.len(), "warning")));
    }
    writeln!(out, "{summary}")?;
    let rows: Vec<[String; 5]> = manifest
        .targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            let depends = dependency_names(graph, index);
            [
                target.name.clone(),
                target.reference.to_string(),
                target.def_path.clone(),
                target.arch.join(","),
                if depends.is_empty() {
                    "-".to_owned()
                } else {
                    depends.join(",")
                },
            ]
        })
        .collect();
    let header = ["TARGET", "REF", "DEF", "ARCH", "DEPENDS ON"].map(str::to_owned);
    write_table(out, &header, &rows)?;
    for (level, names) in graph.summary().levels.iter().enumerate() {
        writeln!(out, "level {level}: {}", names.join(", "))?;
    }
    Ok(())
}
