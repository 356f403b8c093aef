//! Preflight checks: what the remote builder would refuse or fail on, found before anything
//! is submitted (PROTOCOL.md §2.7).
//!
//! Errors stop the run; warnings are printed and the run goes on.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use crate::deffile::Stage;
use crate::diagnostic::{Diagnostic, Location};
use crate::graph::{Graph, TargetIndex};
use crate::libref::LibraryRef;
use crate::manifest::{Manifest, Target, did_you_mean};

/// Bootstrap agents SingularityCE knows.
pub const BOOTSTRAP_AGENTS: &[&str] = &[
    "library",
    "docker",
    "docker-archive",
    "docker-daemon",
    "oci",
    "oci-archive",
    "oras",
    "shub",
    "localimage",
    "scratch",
    "busybox",
    "debootstrap",
    "arch",
    "yum",
    "dnf",
    "zypper",
];

/// Agents that read the build host's Docker daemon or local files, which the remote
/// builder cannot reach.
const LOCAL_AGENTS: &[(&str, &str)] = &[
    (
        "docker-daemon",
        "the remote builder cannot reach your Docker daemon",
    ),
    (
        "docker-archive",
        "the remote builder cannot read archives on your machine",
    ),
    (
        "oci-archive",
        "the remote builder cannot read archives on your machine",
    ),
];

/// Agents that need a `From:` line.
const NEEDS_FROM: &[&str] = &[
    "library",
    "docker",
    "docker-archive",
    "docker-daemon",
    "oci",
    "oci-archive",
    "oras",
    "shub",
    "localimage",
];

/// Returns every preflight problem of a manifest's targets. The graph, when there is one
/// (no cycles), adds the checks that need dependencies.
pub fn check(manifest: &Manifest, graph: Option<&Graph>) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let lookup = TargetIndex::new(&manifest.targets);
    for target in &manifest.targets {
        check_target(manifest, &lookup, target, &mut diagnostics);
        check_near_targets(manifest, &lookup, target, &mut diagnostics);
    }
    if let Some(graph) = graph {
        check_arches(manifest, graph, &mut diagnostics);
    }
    diagnostics
}

/// A `Bootstrap: library` `From:` under a target's entity/collection, close to a target's
/// container but naming none, is most likely a typo: without a warning the dependency is
/// silently dropped and the build takes whatever the library holds under that name.
fn check_near_targets(
    manifest: &Manifest,
    lookup: &TargetIndex,
    target: &Target,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for stage in &target.rendered_definition.stages {
        let (Some(bootstrap), Some(field)) = (stage.bootstrap(), stage.header_field("from")) else {
            continue;
        };
        if bootstrap != "library" || lookup.library_source(&field.value).is_some() {
            continue;
        }
        let Ok(source) = LibraryRef::parse_source(&field.value) else {
            continue;
        };
        let siblings: Vec<&Target> = manifest
            .targets
            .iter()
            .filter(|t| {
                t.reference.entity == source.entity && t.reference.collection == source.collection
            })
            .collect();
        let containers: Vec<&str> = siblings
            .iter()
            .map(|t| t.reference.container.as_str())
            .collect();
        let Some(near) = did_you_mean(&source.container, &containers) else {
            continue;
        };
        let Some(sibling) = siblings.iter().find(|t| t.reference.container == near) else {
            continue;
        };
        let path = format!("{}/{}/{near}", source.entity, source.collection);
        diagnostics.push(
            Diagnostic::warning(
                "lint::from-near-target",
                format!(
                    "`From: {}` names no target, but is close to target `{}`",
                    field.value, sibling.name
                ),
            )
            .at(Location::of_line(&target.def_source, field.span.line))
            .help(format!(
                "did you mean `{path}` (target `{}`)? As written, `{}` does not depend on it and is built on whatever the library holds",
                sibling.name, target.name
            )),
        );
    }
}

/// A dependent built for an architecture its base is not built for gets whatever image the
/// library holds for that architecture, not one from this run.
fn check_arches(manifest: &Manifest, graph: &Graph, diagnostics: &mut Vec<Diagnostic>) {
    for (index, target) in manifest.targets.iter().enumerate() {
        for edge in graph.dependencies(index) {
            let base = &manifest.targets[edge.dependency];
            let missing: Vec<&str> = target
                .arch
                .iter()
                .filter(|arch| !base.arch.contains(arch))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                diagnostics.push(
                    Diagnostic::warning(
                        "lint::arch",
                        format!(
                            "`{}` is built for {} but its base `{}` is not",
                            target.name,
                            missing.join(", "),
                            base.name
                        ),
                    )
                    .at(edge.reason.location().clone())
                    .help(format!(
                        "add {} to `{}`'s `arch`, or the build uses whatever image the library already holds",
                        missing.join(", "),
                        base.name
                    )),
                );
            }
        }
    }
}

fn check_target(
    manifest: &Manifest,
    lookup: &TargetIndex,
    target: &Target,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut stage_names: Vec<&str> = Vec::new();
    for (number, stage) in target.rendered_definition.stages.iter().enumerate() {
        let stage_at = Location::of_line(&target.def_source, stage.span.line);
        let label = stage_label(stage, number);
        match stage.bootstrap() {
            None => diagnostics.push(
                Diagnostic::error("lint::no-bootstrap", format!("{label} has no `Bootstrap:` header"))
                    .at(stage_at)
                    .help("start the stage with a header such as `Bootstrap: docker` and `From: ubuntu:24.04`"),
            ),
            Some(agent) => {
                check_agent(manifest, lookup, target, stage, &agent, &label, diagnostics);
            }
        }
        for block in stage.files_blocks() {
            if let Some(from) = block.from_stage
                && !stage_names.contains(&from)
            {
                diagnostics.push(
                    Diagnostic::error(
                        "lint::files-from",
                        format!("`%files from {from}` names no earlier stage"),
                    )
                    .at(Location::of_line(
                        &target.def_source,
                        block.section.span.line,
                    ))
                    .help(if stage_names.is_empty() {
                        "a stage can only copy from a stage above it, named with `Stage:`"
                            .to_owned()
                    } else {
                        format!("earlier stages: {}", stage_names.join(", "))
                    }),
                );
            }
        }
        if let Some(name) = stage.name() {
            stage_names.push(name);
        }
    }
}

fn check_agent(
    manifest: &Manifest,
    lookup: &TargetIndex,
    target: &Target,
    stage: &Stage,
    agent: &str,
    label: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let header_at = |key: &str| {
        stage
            .header_field(key)
            .map(|field| Location::of_line(&target.def_source, field.span.line))
    };
    if !BOOTSTRAP_AGENTS.contains(&agent) {
        diagnostics.push(
            Diagnostic::error(
                "lint::bootstrap",
                format!("unknown bootstrap agent `{agent}`"),
            )
            .at_opt(header_at("bootstrap"))
            .help(match did_you_mean(agent, BOOTSTRAP_AGENTS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known agents: {}", BOOTSTRAP_AGENTS.join(", ")),
            }),
        );
        return;
    }
    if let Some((_, reason)) = LOCAL_AGENTS.iter().find(|(a, _)| *a == agent) {
        diagnostics.push(
            Diagnostic::error("lint::local-bootstrap", format!("`Bootstrap: {agent}` cannot be built remotely"))
                .at_opt(header_at("bootstrap"))
                .help(format!("{reason}; push the image to a registry and use `Bootstrap: docker` or `oras` instead")),
        );
        return;
    }
    let from = stage.from().map(str::trim).filter(|f| !f.is_empty());
    let Some(from) = from else {
        if NEEDS_FROM.contains(&agent) {
            diagnostics.push(
                Diagnostic::error(
                    "lint::no-from",
                    format!("{label} bootstraps from `{agent}` but has no `From:`"),
                )
                .at_opt(header_at("bootstrap"))
                .help("add a `From:` line naming the base image"),
            );
        }
        return;
    };
    let self_based = || {
        lookup
            .library_source(from)
            .is_some_and(|index| manifest.targets[index].name == target.name)
    };
    match agent {
        "localimage" if lookup.local_image(from).is_none() => {
            diagnostics.push(
                Diagnostic::error(
                    "lint::localimage",
                    format!("`Bootstrap: localimage` from `{from}` is not another target"),
                )
                .at_opt(header_at("from"))
                .help(
                    "the remote builder cannot read files on your machine; name a target's \
                     image (`From: base.sif` for target `base`), or use `Bootstrap: library` \
                     with its ref",
                ),
            );
        }
        "library" if let Err(error) = LibraryRef::parse_source(from) => {
            diagnostics.push(
                Diagnostic::error(
                    "lint::library-ref",
                    format!("`From: {from}` is not a valid library ref: {}", error.kind),
                )
                .at_opt(header_at("from"))
                .help(
                    "the builder could not pull it: library refs are \
                     `[library://]entity/collection/container[:tag]`, in lowercase letters, \
                     digits and single `.`, `_` or `-` between them",
                ),
            );
        }
        "library" if self_based() => {
            diagnostics.push(
                Diagnostic::warning(
                    "lint::self-base",
                    format!("`{}` bootstraps from its own ref `{from}`", target.name),
                )
                .at_opt(header_at("from"))
                .help(
                    "it builds on the image published before this run, not on the one it \
                     builds; if you meant another target, fix the ref",
                ),
            );
        }
        _ => {}
    }
}

fn stage_label(stage: &Stage, number: usize) -> String {
    match stage.name() {
        Some(name) => format!("stage `{name}`"),
        None => format!("stage {}", number + 1),
    }
}
