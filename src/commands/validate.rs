//! `sifbake validate`: check the manifest and every definition file, offline.

use std::io::{self, Write};

use serde::Serialize;

use super::Output;
use crate::cli::{Format, ValidateArgs};
use crate::diagnostic::{Diagnostic, DiagnosticRecord};
use crate::exit;
use crate::graph::Graph;
use crate::manifest::{Manifest, Target};
use crate::project::{self, Project};
use crate::report::diagnostics::count_summary;
use crate::report::reading::DefinitionReading;
use crate::report::{plural, write_table};
use crate::settings::Settings;

/// The `--format json` document.
#[derive(Serialize)]
struct ValidateDocument {
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

/// Runs `sifbake validate`.
pub fn run(settings: &Settings, args: &ValidateArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let request = settings.manifest_request(&args.manifest);
    let shown = request
        .manifest
        .strip_prefix(&settings.cwd)
        .unwrap_or(&request.manifest)
        .display()
        .to_string();
    match project::load(&request) {
        Ok(project) => {
            out.diagnostics(&project.warnings)?;
            match args.format {
                Format::Json => out.json(&document(&shown, Some(&project), &project.warnings))?,
                Format::Text => write_summary(out.stdout, &shown, &project)?,
            }
            Ok(exit::SUCCESS)
        }
        Err(diagnostics) => {
            out.diagnostics(&diagnostics)?;
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
