//! Narrowing a plan to one CI job's share of it: `--arch` keeps some architectures,
//! `--no-deps` keeps the named targets without the targets they build on.
//!
//! Both narrow a plan made for the whole selection, so reasons ("builds on `base`, which
//! changed") and input digests are those of the full run: a job per target and arch then
//! builds exactly what one job for everything would have built.

use std::collections::BTreeSet;

use crate::diagnostic::Diagnostic;
use crate::libref::LibraryRef;
use crate::manifest::did_you_mean;

use super::{Action, Plan};

/// An image that a kept image builds on, of a target `--no-deps` left out: it must exist
/// already, found by its digest tag.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Prerequisite {
    /// The target left out.
    pub target: String,
    pub arch: String,
    /// Its container.
    pub reference: LibraryRef,
    /// The tag its image must have; `None` when the plan did not compute its digest.
    pub digest_tag: Option<String>,
    /// The kept target that builds on it.
    pub needed_by: String,
}

/// Keeps only the images of `archs` (all when empty), and the targets left with any.
///
/// Fails when an architecture is none of the selected targets': a typo there would
/// otherwise give a job that quietly builds nothing.
pub fn keep_archs(plan: &mut Plan, archs: &[String]) -> Result<(), Vec<Diagnostic>> {
    if archs.is_empty() {
        return Ok(());
    }
    let known: BTreeSet<&str> = plan
        .targets
        .iter()
        .flat_map(|t| t.images.iter().map(|i| i.arch.as_str()))
        .collect();
    let known_list: Vec<&str> = known.iter().copied().collect();
    let errors: Vec<Diagnostic> = archs
        .iter()
        .filter(|arch| !known.contains(arch.as_str()))
        .map(|arch| {
            Diagnostic::error(
                "plan::unknown-arch",
                format!("`--arch` names `{arch}`, which no selected target is built for"),
            )
            .help(match did_you_mean(arch, &known_list) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the selected targets are built for: {}",
                    known_list.join(", ")
                ),
            })
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    for target in &mut plan.targets {
        target.images.retain(|image| archs.contains(&image.arch));
    }
    plan.targets.retain(|target| !target.images.is_empty());
    recount(plan);
    Ok(())
}

/// Keeps only the targets named, and returns the images of the others that a kept image to
/// build builds on (the same architecture of each target it depends on).
pub fn without_dependencies(plan: &mut Plan, names: &[String]) -> Vec<Prerequisite> {
    let kept: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut prerequisites = Vec::new();
    for target in plan
        .targets
        .iter()
        .filter(|t| kept.contains(t.name.as_str()))
    {
        for image in target.images.iter().filter(|i| i.action == Action::Build) {
            for dependency in &target.depends_on {
                if kept.contains(dependency.as_str()) {
                    continue;
                }
                let Some(base) = plan.targets.iter().find(|t| &t.name == dependency) else {
                    continue;
                };
                let Some(base_image) = base.images.iter().find(|i| i.arch == image.arch) else {
                    continue;
                };
                prerequisites.push(Prerequisite {
                    target: base.name.clone(),
                    arch: image.arch.clone(),
                    reference: base.reference.clone(),
                    digest_tag: base_image.digest_tag.clone(),
                    needed_by: target.name.clone(),
                });
            }
        }
    }
    plan.targets.retain(|t| kept.contains(t.name.as_str()));
    recount(plan);
    prerequisites
}

/// Says why a prerequisite missing from the library stops the run. `published` is false
/// for an ephemeral run, whose earlier jobs published nothing to build on.
pub fn missing_prerequisite(
    prerequisite: &Prerequisite,
    level: Option<usize>,
    published: bool,
) -> Diagnostic {
    let Prerequisite {
        target,
        arch,
        reference,
        digest_tag,
        needed_by,
    } = prerequisite;
    let what = match digest_tag {
        Some(tag) => format!(
            "the library has no image `{}:{tag}`",
            reference.with_tags(Vec::new())
        ),
        None => "its input digest is unknown".to_owned(),
    };
    let job = level.map_or(String::new(), |level| format!(" (plan level {level})"));
    Diagnostic::error(
        "build::dependency-not-built",
        format!(
            "`--no-deps`: `{needed_by}` ({arch}) builds on `{target}` ({arch}), which is not built yet: {what}"
        ),
    )
    .help(if published {
        format!(
            "build `{target}` first, in the job that runs before this one{job}, or drop `--no-deps` to build it in this run too"
        )
    } else {
        "this run builds ephemeral images (the manifest's `publish`), which no later job can find: drop `--no-deps` and build it in one job".to_owned()
    })
}

/// Recomputes what depends on the images kept: each target's strongest action, and
/// whether anything is built or retagged.
fn recount(plan: &mut Plan) {
    for target in &mut plan.targets {
        target.action = target
            .images
            .iter()
            .map(|i| i.action)
            .max()
            .unwrap_or(Action::Skip);
    }
    plan.has_changes = plan.targets.iter().any(|t| t.action != Action::Skip);
}
