//! The plan: for every selected target and architecture, build, retag or skip, and why.
//!
//! A pure function of the checked project, the ref context, what changed, the input digests
//! and (when online) what the library already holds. `sifbake plan` prints it; `sifbake build`
//! executes it.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeSet;

use globset::GlobMatcher;
use serde::Serialize;

use crate::changes::{ChangeBase, ChangeSet, Digests};
use crate::context::{RefContext, RefKind};
use crate::diagnostic::Diagnostic;
use crate::libref::LibraryRef;
use crate::manifest::{
    Condition, Publish, PublishPolicy, TagRule, TagRuleKind, Target, did_you_mean, glob_matcher,
    is_glob, join_relative,
};
use crate::project::Project;
use crate::tags::{self, TagFacts, digest_tag};

/// What happens to one image.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Nothing to do.
    Skip,
    /// The image exists already (its digest tag was found): only the new tags are set.
    Retag,
    /// Submit a remote build.
    Build,
}

/// Whether the library was asked for the image's digest tag.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lookup {
    /// Not asked: the plan was made offline, or the target needs no image.
    NotMade,
    /// The library holds an image with this digest tag.
    Found,
    /// It does not.
    Missing,
}

/// Why a target is built, retagged or skipped.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// `--all` asked for every target.
    All,
    /// Files it depends on changed.
    Changed { files: Vec<String> },
    /// A target it builds on is rebuilt.
    Dependency { name: String },
    /// The manifest changed, so every target's inputs are compared by digest.
    ManifestChanged,
    /// There is no commit to compare with, so inputs are compared by digest.
    NoBase { why: String },
    /// Nothing it depends on changed since the base commit.
    Unchanged,
}

impl Reason {
    /// Returns the reason as a sentence fragment for tables and logs.
    pub fn message(&self) -> String {
        match self {
            Reason::All => "all targets requested (--all)".to_owned(),
            Reason::Changed { files } => {
                const SHOWN: usize = 3;
                let mut shown: Vec<String> = files.iter().take(SHOWN).cloned().collect();
                if files.len() > SHOWN {
                    shown.push(format!("and {} more", files.len() - SHOWN));
                }
                format!("changed: {}", shown.join(", "))
            }
            Reason::Dependency { name } => format!("builds on `{name}`, which changed"),
            Reason::ManifestChanged => "the manifest changed; inputs compared by digest".to_owned(),
            // The plan's header says why there is no base; each row only says what follows.
            Reason::NoBase { .. } => "no base commit; inputs compared by digest".to_owned(),
            Reason::Unchanged => "no input changed".to_owned(),
        }
    }
}

/// One image of a target: one architecture.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedImage {
    pub arch: String,
    /// The input digest (64 hex); `None` for a target unchanged since the base, whose
    /// inputs are not hashed.
    pub digest: Option<String>,
    /// `inputs-<16 hex>`, when the digest is known.
    pub digest_tag: Option<String>,
    /// Tags to set: those of the rules, then the digest tag. Empty when skipped.
    pub tags: Vec<String>,
    pub action: Action,
    pub lookup: Lookup,
    /// What a build would do on each of the target's mirrors, when `plan` asked them (left
    /// out otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorCheck>,
}

/// What a build would do on one mirror, as the registry answered `plan`.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct MirrorCheck {
    /// `oras://registry/repository`.
    #[serde(rename = "ref")]
    pub reference: String,
    pub state: MirrorState,
    /// Why the state is `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A mirror's state for one image.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MirrorState {
    /// The image is not there: it will be pushed.
    Push,
    /// The image is there; some tags will be pointed at it.
    Tag,
    /// The image and every tag are there.
    UpToDate,
    /// The registry could not be asked (no credentials, offline, refused).
    Unknown,
}

/// One target of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedTarget {
    pub name: String,
    #[serde(rename = "ref")]
    pub reference: LibraryRef,
    pub def: String,
    /// The build level: 0 builds first.
    pub level: usize,
    pub depends_on: Vec<String>,
    /// The strongest action of its images.
    pub action: Action,
    pub reason: Reason,
    pub images: Vec<PlannedImage>,
    /// The OCI repositories its images are also pushed to (`oras://…`); left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
}

/// What the plan compared against.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeSummary {
    /// `diff`, `all`, or `digest`.
    pub mode: &'static str,
    pub base: Option<String>,
    pub head: Option<String>,
    /// Where the base came from, or why there is none.
    pub how: String,
    /// Changed files under the repository root.
    pub files: Vec<String>,
}

/// The plan of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub context: RefContext,
    /// What the run does with its images: `push`, or `ephemeral`/`skip`, which set no tag.
    pub publish: Publish,
    pub changes: ChangeSummary,
    /// Whether anything is built or retagged.
    pub has_changes: bool,
    /// Selected targets (and the targets they build on), in build order.
    pub targets: Vec<PlannedTarget>,
    /// Things worth telling: tag rules that gave nothing, tag collisions, shallow clones.
    pub notes: Vec<String>,
}

/// Returns what a run does with its images, for the ref it builds.
pub fn publish_mode(policy: &PublishPolicy, context: &RefContext) -> Publish {
    match context.kind {
        RefKind::PullRequest { .. } => policy.pr,
        RefKind::Tag { .. } => policy.tag,
        RefKind::Branch { .. } | RefKind::Detached => policy.branch,
    }
}

/// Says why `if: default_branch` rules give nothing on a branch push whose repository's
/// default branch is unknown (no CI variable, no `origin/HEAD`): silently missing a
/// `latest` tag is the surprise this prevents.
fn unknown_default_branch(rules: &[TagRule], context: &RefContext) -> Option<String> {
    let RefKind::Branch { name } = &context.kind else {
        return None;
    };
    if context.default_branch.is_some()
        || !rules.iter().any(|rule| {
            rule.conditions.contains(&Condition::DefaultBranch)
                || matches!(
                    rule.kind,
                    TagRuleKind::Latest | TagRuleKind::Edge { branch: None }
                )
        })
    {
        return None;
    }
    Some(format!(
        "the default branch is unknown (no CI variable names it and git has no `origin/HEAD`), so `if: default_branch`, `latest` and `edge` tag rules give nothing on `{name}`; pass `--default-branch NAME` (or run `git remote set-head origin --auto`)"
    ))
}

/// Asks the library whether an image with a digest tag exists.
pub trait DigestLookup {
    /// Returns true if and only if `reference` has an image tagged `tag` for `arch`.
    fn exists(&self, reference: &LibraryRef, arch: &str, tag: &str) -> bool;
}

/// Everything a plan is made from.
pub struct PlanRequest<'a> {
    pub project: &'a Project,
    pub context: &'a RefContext,
    pub changes: &'a ChangeSet,
    pub digests: &'a Digests,
    /// `--targets`; empty selects every target.
    pub selection: &'a [String],
    /// The manifest's path relative to the repository root: a change to it compares digests.
    pub manifest_path: &'a str,
    /// Other branch names, to warn about branches whose tags collide.
    pub other_branches: &'a [String],
    /// The library, when online.
    pub lookup: Option<&'a dyn DigestLookup>,
    /// The run's time and the repository's tags, for date and `latest` rules.
    pub tag_facts: &'a TagFacts,
}

/// Makes the plan. Fails only for a `--targets` name that is not a target.
pub fn plan(request: &PlanRequest<'_>) -> Result<Plan, Vec<Diagnostic>> {
    let project = request.project;
    let graph = &project.graph;
    let targets = &project.manifest.targets;
    let selected = select(project, request.selection)?;

    let (mode, base, head, how) = match &request.changes.base {
        ChangeBase::All => ("all", None, None, "--all".to_owned()),
        ChangeBase::Diff { base, head, how } => {
            ("diff", Some(base.clone()), Some(head.clone()), how.clone())
        }
        ChangeBase::Fallback { reason } => ("digest", None, None, reason.clone()),
    };
    let reasons = reasons(project, request.changes, request.manifest_path, &selected);

    let mut planned = Vec::new();
    let mut notes: Vec<String> = request.changes.notes.clone();
    for level in graph.levels() {
        for &index in level {
            let Some(reason) = reasons[index].clone() else {
                continue;
            };
            let target = &targets[index];
            let candidate = reason != Reason::Unchanged;
            let tag_set = tags::evaluate(&target.tags, request.context, request.tag_facts);
            if let Some(note) = unknown_default_branch(&target.tags, request.context)
                && !notes.contains(&note)
            {
                notes.push(note);
            }
            for note in tag_set.notes {
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
            let images: Vec<PlannedImage> = target
                .arch
                .iter()
                .map(|arch| {
                    // Unchanged targets' digests are not computed (Digests::ensure).
                    let digest = request.digests.get(index, arch).map(str::to_owned);
                    let digest_tag = digest.as_deref().map(digest_tag);
                    let (action, lookup) = if !candidate {
                        (Action::Skip, Lookup::NotMade)
                    } else if reason == Reason::All {
                        (Action::Build, Lookup::NotMade)
                    } else {
                        match (request.lookup, &digest_tag) {
                            (Some(library), Some(tag))
                                if library.exists(&target.reference, arch, tag) =>
                            {
                                (Action::Retag, Lookup::Found)
                            }
                            (Some(_), Some(_)) => (Action::Build, Lookup::Missing),
                            _ => (Action::Build, Lookup::NotMade),
                        }
                    };
                    let mut tags = Vec::new();
                    if action != Action::Skip {
                        tags.extend(tag_set.tags.iter().cloned());
                        if let Some(tag) = &digest_tag
                            && !tags.contains(tag)
                        {
                            tags.push(tag.clone());
                        }
                    }
                    PlannedImage {
                        arch: arch.clone(),
                        digest,
                        digest_tag,
                        tags,
                        action,
                        lookup,
                        mirrors: Vec::new(),
                    }
                })
                .collect();
            let action = images
                .iter()
                .map(|i| i.action)
                .max()
                .unwrap_or(Action::Skip);
            planned.push(PlannedTarget {
                name: target.name.clone(),
                reference: target.reference.clone(),
                def: target.def_path.clone(),
                level: graph.level_of(index),
                depends_on: graph
                    .dependencies(index)
                    .iter()
                    .map(|e| graph.names()[e.dependency].clone())
                    .collect(),
                action,
                reason,
                images,
                mirrors: target.mirrors.iter().map(ToString::to_string).collect(),
            });
        }
    }
    if let crate::context::RefKind::Branch { name } = &request.context.kind {
        let collisions = tags::branch_collisions(name, request.other_branches);
        if !collisions.is_empty() {
            notes.push(format!(
                "branch `{name}` gives the same tag as {}: their images overwrite each other's branch tag",
                collisions.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    // An ephemeral run (a pull request, by default) tags nothing: the plan says so rather
    // than list tags that will never be set.
    let publish = publish_mode(&project.manifest.publish, request.context);
    if publish != Publish::Push {
        for image in planned.iter_mut().flat_map(|t| t.images.iter_mut()) {
            image.tags.clear();
        }
        // `build` says itself that `skip` builds nothing.
        if publish == Publish::Ephemeral {
            notes.push(format!(
                "{} builds ephemeral images (the manifest's `publish`): nothing is published or tagged",
                request.context.describe()
            ));
        }
    }
    let has_changes = planned.iter().any(|t| t.action != Action::Skip);
    Ok(Plan {
        publish,
        context: request.context.clone(),
        changes: ChangeSummary {
            mode,
            base,
            head,
            how,
            files: request.changes.files.iter().cloned().collect(),
        },
        has_changes,
        targets: planned,
        notes,
    })
}

/// Returns, indexed like the manifest's targets, the ones a plan builds or retags: those
/// whose input digests it needs.
pub fn needs_digests(
    project: &Project,
    changes: &ChangeSet,
    manifest_path: &str,
    selection: &[String],
) -> Result<Vec<bool>, Vec<Diagnostic>> {
    let selected = select(project, selection)?;
    Ok(reasons(project, changes, manifest_path, &selected)
        .into_iter()
        .map(|reason| reason.is_some_and(|r| r != Reason::Unchanged))
        .collect())
}

/// Why each selected target would be built, indexed like the manifest's targets; `None`
/// for a target not selected.
fn reasons(
    project: &Project,
    changes: &ChangeSet,
    manifest_path: &str,
    selected: &BTreeSet<usize>,
) -> Vec<Option<Reason>> {
    let graph = &project.graph;
    let targets = &project.manifest.targets;
    let manifest_changed = changes.files.contains(manifest_path);
    let mut reasons: Vec<Option<Reason>> = vec![None; targets.len()];
    for level in graph.levels() {
        for &index in level {
            if !selected.contains(&index) {
                continue;
            }
            let reason = match &changes.base {
                ChangeBase::All => Reason::All,
                ChangeBase::Fallback { reason } => Reason::NoBase {
                    why: reason.clone(),
                },
                ChangeBase::Diff { .. } if manifest_changed => Reason::ManifestChanged,
                ChangeBase::Diff { .. } => {
                    let files =
                        changed_inputs(&targets[index], &project.manifest.base, &changes.files);
                    if !files.is_empty() {
                        Reason::Changed { files }
                    } else if let Some(edge) = graph.dependencies(index).iter().find(|e| {
                        reasons[e.dependency]
                            .as_ref()
                            .is_some_and(|r| *r != Reason::Unchanged)
                    }) {
                        Reason::Dependency {
                            name: graph.names()[edge.dependency].clone(),
                        }
                    } else {
                        Reason::Unchanged
                    }
                }
            };
            reasons[index] = Some(reason);
        }
    }
    reasons
}

/// Resolves `--targets` into target indexes, adding the targets they build on.
fn select(project: &Project, selection: &[String]) -> Result<BTreeSet<usize>, Vec<Diagnostic>> {
    let graph = &project.graph;
    if selection.is_empty() {
        return Ok((0..graph.names().len()).collect());
    }
    let names: Vec<&str> = graph.names().iter().map(String::as_str).collect();
    let mut errors = Vec::new();
    let mut pending = Vec::new();
    for name in selection {
        match graph.index(name) {
            Some(index) => pending.push(index),
            None => errors.push(
                Diagnostic::error(
                    "plan::unknown-target",
                    format!("`--targets` names `{name}`, which is not a target"),
                )
                .help(match did_you_mean(name, &names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("targets: {}", names.join(", ")),
                }),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut selected = BTreeSet::new();
    while let Some(index) = pending.pop() {
        if selected.insert(index) {
            pending.extend(graph.dependencies(index).iter().map(|e| e.dependency));
        }
    }
    Ok(selected)
}

/// Returns the changed files a target depends on, including deleted ones: files it uses
/// now, anything under a `%files` directory, and matches of its `%files` globs and
/// `inputs` patterns.
fn changed_inputs(target: &Target, manifest_base: &str, changed: &BTreeSet<String>) -> Vec<String> {
    let mut exact: BTreeSet<&str> = target.files.iter().map(String::as_str).collect();
    exact.insert(&target.def_path);
    let mut prefixes: Vec<String> = Vec::new();
    let mut globs: Vec<GlobMatcher> = Vec::new();
    for entry in target.rendered_definition.host_files() {
        if let Ok(path) = join_relative(&target.context, &entry.source) {
            if is_glob(&path) {
                globs.extend(glob_matcher(&path).ok());
            } else {
                prefixes.push(format!("{path}/"));
            }
        }
    }
    for (pattern, _) in &target.inputs {
        if let Ok(path) = join_relative(manifest_base, pattern) {
            globs.extend(glob_matcher(&path).ok());
        }
    }
    changed
        .iter()
        .filter(|path| {
            exact.contains(path.as_str())
                || prefixes
                    .iter()
                    .any(|prefix| path.starts_with(prefix.as_str()))
                || globs.iter().any(|glob| glob.is_match(path.as_str()))
        })
        .cloned()
        .collect()
}

pub mod narrow;

#[cfg(test)]
mod tests;
