//! Loading `sifbake.yaml`: read the file, check it against the schema, resolve defaults and
//! hand each target to `target.rs`. Every problem found is collected, not just the first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::model::{
    DEFAULT_ARCH, DEFAULT_TIMEOUT, KNOWN_ARCHES, Manifest, Publish, PublishPolicy, Target,
};
use super::schema::{DefaultsSpec, ManifestFile, OneOrMany, PublishSpec};
use super::sign::{self, SignSpec};
use super::suggest::did_you_mean;
use super::tag_rule::{self, TagRule, TagRuleKind};
use super::target::{self, TargetContext};
use super::yaml;
use super::{labels, mirrors};
use crate::diagnostic::{Diagnostic, Location, ReadError, SourceFile, UNSUITABLE_HELP, has_errors};
use crate::libref::{self, RefPart};

/// The manifest versions this sifbake reads.
pub const SUPPORTED_VERSION: u64 = 1;

/// What to load.
#[derive(Clone, Debug)]
pub struct LoadRequest {
    /// The manifest file.
    pub manifest: PathBuf,
    /// The repository root; the manifest's directory when `None`.
    pub root: Option<PathBuf>,
    /// How to show paths in messages: relative to this directory where possible.
    pub display_base: PathBuf,
}

/// Values every target starts from, after checking `defaults:`.
#[derive(Clone, Debug)]
pub(super) struct Defaults {
    /// `(host, entity, collection)` of `defaults.library`.
    pub library: Option<(Option<String>, String, String)>,
    /// `defaults.library` was given but is not valid: its error stands for every target
    /// that would have taken its ref from it.
    pub library_invalid: bool,
    pub arch: Vec<String>,
    pub timeout: Duration,
    pub tags: Vec<TagRule>,
    pub args: BTreeMap<String, String>,
    pub publish: PublishPolicy,
    /// `defaults.context`, resolved per target like a target's own `context`.
    pub context: Option<Spanned<String>>,
    pub sign: Option<SignSpec>,
    /// `defaults.mirrors` as written: templates, filled in per target.
    pub mirrors: Vec<Spanned<String>>,
    pub labels: BTreeMap<String, String>,
}

/// Returns the request for the manifest of an enclosing directory, up to the repository
/// root, when the default `sifbake.yaml` is not in the directory sifbake was started in
/// (as git and cargo find theirs from a subfolder). Not with `-C`, which names the root.
fn find_upward(request: &LoadRequest) -> Option<LoadRequest> {
    let name = request.manifest.file_name()?;
    if request.root.is_some() || name != "sifbake.yaml" || request.manifest.exists() {
        return None;
    }
    let mut dir = request.manifest.parent()?;
    loop {
        // The repository root is as far as a manifest can be: above it is another project.
        if dir.join(".git").exists() {
            return None;
        }
        dir = dir.parent()?;
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Some(LoadRequest {
                manifest: candidate,
                root: None,
                display_base: request.display_base.clone(),
            });
        }
    }
}

/// Loads and checks a manifest. On failure, returns every diagnostic found (errors and
/// warnings); on success the warnings travel in [`Manifest::warnings`].
pub fn load(request: &LoadRequest) -> Result<Manifest, Vec<Diagnostic>> {
    let upward = find_upward(request);
    let request = upward.as_ref().unwrap_or(request);
    let shown = display_path(&request.manifest, &request.display_base);
    let source = SourceFile::read(&request.manifest, shown.clone(), "manifest::encoding").map_err(
        |error| match error {
            ReadError::Io(error) => vec![
                Diagnostic::error(
                    "manifest::not-found",
                    format!("cannot read manifest `{shown}`: {error}"),
                )
                .help(
                    "create `sifbake.yaml` at the repository root (see README.md), or name the \
                     manifest with `-f FILE`",
                ),
            ],
            ReadError::Encoding(diagnostic) => vec![diagnostic],
            ReadError::Unsuitable(why) => vec![
                Diagnostic::error(
                    "manifest::unsuitable",
                    format!("cannot read manifest `{shown}`: {why}"),
                )
                .help(UNSUITABLE_HELP),
            ],
        },
    )?;

    let manifest_dir = request
        .manifest
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let root = request.root.clone().unwrap_or_else(|| manifest_dir.clone());
    let base = relative_dir(&root, &manifest_dir).ok_or_else(|| {
        vec![
            Diagnostic::error(
                "manifest::outside-root",
                format!(
                    "the manifest `{}` is outside the repository root `{}`",
                    source.name,
                    display_path(&root, &request.display_base)
                ),
            )
            .help("pass the repository root with `-C DIR`, or move the manifest into it"),
        ]
    })?;

    let file: ManifestFile = yaml::parse(&source).map_err(|d| vec![d])?;
    let mut diagnostics = Vec::new();
    let locate = |l: &serde_saphyr::Location| yaml::locate(&source, l);

    if file.version.value != SUPPORTED_VERSION {
        diagnostics.push(
            Diagnostic::error(
                "manifest::version",
                format!("unsupported manifest version {}", file.version.value),
            )
            .at(locate(&file.version.referenced))
            .help(format!(
                "this sifbake reads `version: {SUPPORTED_VERSION}`; upgrade sifbake for newer manifests"
            )),
        );
        return Err(diagnostics);
    }

    let defaults = check_defaults(
        file.defaults.unwrap_or_default(),
        &source,
        &locate,
        &mut diagnostics,
    );
    if file.targets.value.is_empty() {
        diagnostics.push(
            Diagnostic::error("manifest::no-targets", "`targets` is empty")
                .at(locate(&file.targets.referenced))
                .help("add at least one target, e.g. `base: { def: defs/base.def }`"),
        );
    }

    let context = TargetContext {
        root: &root,
        base: &base,
        source: &source,
        defaults: &defaults,
        display_base: &request.display_base,
    };
    let mut specs: Vec<_> = file.targets.value.into_iter().collect();
    specs.sort_by(|a, b| a.0.value.cmp(&b.0.value));
    let mut targets: Vec<Target> = Vec::new();
    // Names of targets that failed to resolve still count for `depends_on`: their own error
    // is the one to report, not "not a target" at every dependent.
    let mut failed: Vec<String> = Vec::new();
    for (name, spec) in specs {
        let resolved = target::resolve(&context, &name, &spec, &mut diagnostics);
        if resolved.is_empty() {
            failed.push(name.value.clone());
        }
        targets.extend(resolved);
    }
    check_names_and_refs(&targets, &mut diagnostics);
    mirrors::check_shared(&targets, &mut diagnostics);
    check_depends_on(&targets, &failed, &mut diagnostics);
    targets.sort_by(|a, b| a.name.cmp(&b.name));

    if has_errors(&diagnostics) {
        return Err(diagnostics);
    }
    let file_name = request
        .manifest
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Manifest {
        source,
        root,
        base,
        file_name,
        publish: defaults.publish,
        targets,
        warnings: diagnostics,
    })
}

fn check_defaults(
    spec: DefaultsSpec,
    source: &Arc<SourceFile>,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Defaults {
    let library = spec
        .library
        .as_ref()
        .and_then(|library| check_library(library, locate, diagnostics));
    let arch = match &spec.arch {
        Some(arch) => check_arch(arch, locate, diagnostics),
        None => vec![DEFAULT_ARCH.to_owned()],
    };
    let timeout = spec
        .timeout
        .as_ref()
        .and_then(|t| check_timeout(t, locate, diagnostics))
        .unwrap_or(DEFAULT_TIMEOUT);
    let tags = match &spec.tags {
        Some(tags) => tag_rule::check_rules(&tags.value, locate, diagnostics),
        None => default_tag_rules(),
    };
    let publish = spec
        .publish
        .map(|publish| check_publish(&publish, locate, diagnostics))
        .unwrap_or_default();
    let args = spec
        .args
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect();
    let sign = spec
        .sign
        .as_ref()
        .and_then(|entry| sign::check(entry, source, diagnostics))
        .flatten();
    let labels = spec
        .labels
        .as_ref()
        .map(|spec| labels::check(spec, locate, diagnostics))
        .unwrap_or_default();
    Defaults {
        library_invalid: spec.library.is_some() && library.is_none(),
        library,
        arch,
        timeout,
        tags,
        args,
        publish,
        context: spec.context,
        sign,
        mirrors: spec.mirrors.unwrap_or_default(),
        labels,
    }
}

fn check_publish(
    spec: &PublishSpec,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> PublishPolicy {
    let mut policy = PublishPolicy::default();
    for (value, slot) in [
        (&spec.pr, &mut policy.pr),
        (&spec.branch, &mut policy.branch),
        (&spec.tag, &mut policy.tag),
    ] {
        let Some(value) = value else {
            continue;
        };
        match value.value.as_str() {
            "push" => *slot = Publish::Push,
            "ephemeral" => *slot = Publish::Ephemeral,
            "skip" => *slot = Publish::Skip,
            other => diagnostics.push(
                Diagnostic::error("manifest::publish", format!("unknown publish mode `{other}`"))
                    .at(locate(&value.referenced))
                    .help(match did_you_mean(other, &["push", "ephemeral", "skip"]) {
                        Some(s) => format!("did you mean `{s}`? Modes: push (publish and tag), ephemeral (build, publish nothing), skip (build nothing)"),
                        None => "modes: push (publish and tag), ephemeral (build, publish nothing), skip (build nothing)".to_owned(),
                    }),
            ),
        }
    }
    policy
}

/// The tag rules used when the manifest names none: the branch, `pr-N`, the git tag, and
/// `latest` (on the highest release tag; on the default branch until there is one). Like
/// docker/metadata-action's defaults with `latest=auto`, minus `sha` tags, which pile up in a
/// library that has no garbage collection. `latest` is what an untagged `singularity pull`
/// gets, so it follows releases once a repository makes them rather than every merge.
pub fn default_tag_rules() -> Vec<TagRule> {
    let rule = |kind| TagRule {
        kind,
        prefix: String::new(),
        suffix: String::new(),
        conditions: Vec::new(),
        priority: None,
    };
    vec![
        rule(TagRuleKind::Branch),
        rule(TagRuleKind::Pr),
        rule(TagRuleKind::Tag),
        rule(TagRuleKind::Latest),
    ]
}

/// Checks `library: library://[host/]entity/collection`.
fn check_library(
    library: &Spanned<String>,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Option<String>, String, String)> {
    let text = library.value.trim();
    if text.starts_with("library:/") && !text.starts_with("library://") {
        diagnostics.push(
            Diagnostic::error(
                "manifest::library",
                format!("`{text}` has one slash after `library:`"),
            )
            .at(locate(&library.referenced))
            .help(format!(
                "write `library://{}`",
                text["library:/".len()..].trim_matches('/')
            )),
        );
        return None;
    }
    let rest = text
        .strip_prefix("library://")
        .or_else(|| text.strip_prefix("library:"))
        .unwrap_or(text)
        .trim_matches('/');
    let mut parts: Vec<&str> = rest.split('/').collect();
    let host = (parts.len() == 3).then(|| parts.remove(0).to_owned());
    let error = |message: String| {
        Diagnostic::error("manifest::library", message)
            .at(locate(&library.referenced))
            .help("write the library as `library://entity/collection`, e.g. `library://acme/tools`")
    };
    let [entity, collection] = parts.as_slice() else {
        diagnostics.push(error(format!("`{text}` is not an entity/collection pair")));
        return None;
    };
    for (part, value) in [(RefPart::Entity, entity), (RefPart::Collection, collection)] {
        if let Err(problem) = libref::check_name(value) {
            diagnostics.push(error(format!("{part} `{value}` {problem}")));
            return None;
        }
    }
    Some((host, (*entity).to_owned(), (*collection).to_owned()))
}

/// Checks an `arch:` value: known names, no duplicates.
pub(super) fn check_arch(
    arch: &Spanned<OneOrMany>,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut seen = Vec::new();
    for item in &arch.value.0 {
        let name = &item.value;
        let location = locate_item(item, &arch.referenced, locate);
        if !KNOWN_ARCHES.contains(&name.as_str()) {
            let alias = match name.as_str() {
                "x86_64" | "x86-64" | "amd" => Some("amd64"),
                "aarch64" | "arm64v8" => Some("arm64"),
                "ppc64el" | "powerpc64le" => Some("ppc64le"),
                _ => did_you_mean(name, KNOWN_ARCHES),
            };
            let list = KNOWN_ARCHES.join(", ");
            diagnostics.push(
                Diagnostic::error("manifest::arch", format!("unknown architecture `{name}`"))
                    .at(location)
                    .help(match alias {
                        Some(a) => format!("did you mean `{a}`? The build service names architectures as Go does: {list}"),
                        None => format!("the build service names architectures as Go does: {list}"),
                    }),
            );
        } else if seen.contains(name) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::arch",
                    format!("architecture `{name}` is listed twice"),
                )
                .at(location)
                .help("list each architecture once"),
            );
        } else {
            seen.push(name.clone());
        }
    }
    if arch.value.0.is_empty() {
        diagnostics.push(
            Diagnostic::error("manifest::arch", "the architecture list is empty")
                .at(locate(&arch.referenced))
                .help(format!("name at least one, e.g. `arch: [{DEFAULT_ARCH}]`")),
        );
    }
    seen
}

/// Locates an item of a [`OneOrMany`]: its own span when it was written in a list, else the
/// span of the whole value.
pub(super) fn locate_item(
    item: &Spanned<String>,
    whole: &serde_saphyr::Location,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
) -> Location {
    if item.referenced == serde_saphyr::Location::UNKNOWN {
        locate(whole)
    } else {
        locate(&item.referenced)
    }
}

/// Checks a timeout such as `90s`, `20m`, `1h30m`.
pub(super) fn check_timeout(
    timeout: &Spanned<String>,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Duration> {
    match parse_duration(&timeout.value) {
        Some(duration) if !duration.is_zero() => Some(duration),
        parsed => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::timeout",
                    if parsed.is_some() {
                        format!("the timeout `{}` is zero", timeout.value)
                    } else {
                        format!("`{}` is not a duration", timeout.value)
                    },
                )
                .at(locate(&timeout.referenced))
                .help("write a duration with units, e.g. `90s`, `20m` or `1h30m`"),
            );
            None
        }
    }
}

/// Parses `1h30m`, `20m`, `90s`, `1500ms`: one or more number-unit pairs.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Two targets may not share a name, nor publish to the same container for one arch.
fn check_names_and_refs(targets: &[Target], diagnostics: &mut Vec<Diagnostic>) {
    let mut by_name: HashMap<&str, &Target> = HashMap::new();
    for target in targets {
        if let Some(first) = by_name.insert(&target.name, target) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::duplicate-target",
                    format!("two targets are named `{}`", target.name),
                )
                .at(target.declared_at.clone())
                .help(format!(
                    "the other is declared at {}; give glob targets a `name:` template that \
                     tells them apart, e.g. `name: \"{{{{dir}}}}-{{{{name}}}}\"`",
                    first.declared_at
                )),
            );
        }
    }
    let mut by_container: HashMap<String, &Target> = HashMap::new();
    for target in targets {
        let key = target.reference.path();
        if let Some(first) = by_container.get(&key) {
            if let Some(arch) = target.arch.iter().find(|a| first.arch.contains(a)) {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::duplicate-ref",
                        format!(
                            "targets `{}` and `{}` both publish `{}` for {arch}",
                            first.name, target.name, target.reference
                        ),
                    )
                    .at(target.reference_at.clone())
                    .help("their tags would overwrite each other; give each target its own `ref`"),
                );
            }
        } else {
            by_container.insert(key, target);
        }
    }
}

fn check_depends_on(targets: &[Target], failed: &[String], diagnostics: &mut Vec<Diagnostic>) {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    for target in targets {
        for (dependency, location) in &target.depends_on {
            if dependency == &target.name {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::depends-on",
                        format!("target `{}` depends on itself", target.name),
                    )
                    .at(location.clone())
                    .help("remove it from its own `depends_on`"),
                );
            } else if !names.contains(&dependency.as_str()) && !failed.contains(dependency) {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::depends-on",
                        format!("`depends_on` names `{dependency}`, which is not a target"),
                    )
                    .at(location.clone())
                    .help(match did_you_mean(dependency, &names) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("targets: {}", names.join(", ")),
                    }),
                );
            }
        }
    }
}

/// Returns `dir` relative to `root` as a `/`-separated string, or `None` if it is outside.
pub(super) fn relative_dir(root: &Path, dir: &Path) -> Option<String> {
    let root = std::fs::canonicalize(root).ok()?;
    let dir = std::fs::canonicalize(dir).ok()?;
    let relative = dir.strip_prefix(&root).ok()?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

/// Shows a path relative to `base` when it is inside it.
pub(super) fn display_path(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("90s", Some(90)),
            ("20m", Some(1200)),
            ("1h30m", Some(5400)),
            ("1h", Some(3600)),
            ("", None),
            ("10", None),
            ("h", None),
            ("1d", None),
            ("1.5h", None),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_duration(text).map(|d| d.as_secs()), seconds, "{text}");
        }
        assert_eq!(parse_duration("1500ms"), Some(Duration::from_millis(1500)));
    }
}
