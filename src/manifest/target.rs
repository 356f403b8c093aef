//! Resolving one entry of `targets:` into targets: a plain `def:` target, or one target per
//! file a `glob:` matches. Reads and parses each definition file, fills in its build
//! arguments and finds the repository files the image depends on.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_saphyr::Spanned;

use super::files::{self, PathProblem};
use super::load::{Defaults, check_arch, check_timeout, display_path};
use super::mirrors::{self, MirrorPlaceholders};
use super::model::Target;
use super::schema::TargetSpec;
use super::yaml;
use super::{labels, sign, tag_rule};
use crate::deffile;
use crate::diagnostic::{Diagnostic, Location, ReadError, SourceFile, UNSUITABLE_HELP};
use crate::libref::{self, LibraryRef};

/// What every target of one manifest shares.
pub(super) struct TargetContext<'a> {
    pub root: &'a Path,
    /// The manifest's directory, repository-relative.
    pub base: &'a str,
    pub source: &'a Arc<SourceFile>,
    pub defaults: &'a Defaults,
    pub display_base: &'a Path,
}

impl TargetContext<'_> {
    fn locate(&self, location: &serde_saphyr::Location) -> Location {
        yaml::locate(self.source, location)
    }
}

/// The placeholders of a glob target's templates, for one matched file.
struct Placeholders {
    /// The name of the directory holding the file.
    dir: String,
    /// The file name without its last extension.
    name: String,
}

impl Placeholders {
    fn for_path(path: &str) -> Self {
        let (parent, file) = path.rsplit_once('/').unwrap_or(("", path));
        let dir = parent.rsplit('/').next().unwrap_or_default().to_owned();
        let name = match file.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
            _ => file.to_owned(),
        };
        Placeholders { dir, name }
    }

    /// Fills in `{{dir}}` and `{{name}}`; fails naming any other placeholder.
    fn fill(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                return Err("`{{` without a closing `}}`".to_owned());
            };
            match rest[start + 2..start + end].trim() {
                "dir" => out.push_str(&self.dir),
                "name" => out.push_str(&self.name),
                other => return Err(format!("unknown placeholder `{{{{{other}}}}}`")),
            }
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Resolves one manifest entry into its targets, recording problems in `diagnostics`.
pub(super) fn resolve(
    context: &TargetContext<'_>,
    name: &Spanned<String>,
    spec: &Spanned<TargetSpec>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Target> {
    let declared_at = context.locate(&name.referenced);
    let spec_value = &spec.value;
    match (&spec_value.def, &spec_value.glob) {
        (Some(def), None) => {
            if let Some(template) = &spec_value.name {
                diagnostics.push(
                    Diagnostic::error("manifest::target", "`name` only applies to `glob` targets")
                        .at(context.locate(&template.referenced))
                        .help("the target's name is its key; remove `name:`"),
                );
            }
            if !check_target_name(&name.value, &declared_at, diagnostics) {
                return Vec::new();
            }
            let Some(def_path) = def_path(context, def, diagnostics) else {
                return Vec::new();
            };
            let reference = spec_value
                .reference
                .as_ref()
                .map(|r| (r.value.clone(), context.locate(&r.referenced)));
            let inputs = spec_value
                .inputs
                .iter()
                .flatten()
                .map(|i| (i.value.clone(), context.locate(&i.referenced)))
                .collect();
            build(
                context,
                spec_value,
                Resolved {
                    name: name.value.clone(),
                    declared_at,
                    def_path,
                    def_at: context.locate(&def.referenced),
                    reference,
                    inputs,
                    glob: None,
                },
                diagnostics,
            )
            .into_iter()
            .collect()
        }
        (None, Some(glob)) => expand_glob(context, name, spec_value, glob, diagnostics),
        (Some(def), Some(_)) => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::target",
                    "a target has either `def` or `glob`, not both",
                )
                .at(context.locate(&def.referenced))
                .help("use `def:` for one file, `glob:` for one target per matching file"),
            );
            Vec::new()
        }
        (None, None) => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::target",
                    format!("target `{}` names no definition file", name.value),
                )
                .at(declared_at)
                .help("add `def: path/to/file.def`, or `glob: \"containers/*/Singularity.def\"`"),
            );
            Vec::new()
        }
    }
}

fn expand_glob(
    context: &TargetContext<'_>,
    key: &Spanned<String>,
    spec: &TargetSpec,
    glob: &Spanned<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Target> {
    let glob_at = context.locate(&glob.referenced);
    let matches = match files::resolve_input_glob(context.root, context.base, &glob.value) {
        Ok(matches) => matches,
        Err(problem) => {
            diagnostics.push(path_diagnostic(&problem, glob_at));
            return Vec::new();
        }
    };
    if matches.is_empty() {
        diagnostics.push(
            Diagnostic::error(
                "manifest::glob",
                format!("`{}` matches no definition file", glob.value),
            )
            .at(glob_at)
            .help("the pattern is relative to the manifest's directory; `*` does not cross `/`, `**` does"),
        );
        return Vec::new();
    }
    let name_template = spec.name.as_ref();
    let mut targets = Vec::new();
    for path in matches {
        let placeholders = Placeholders::for_path(&path);
        let fill = |template: &Spanned<String>, diagnostics: &mut Vec<Diagnostic>| {
            placeholders.fill(&template.value).map_err(|message| {
                diagnostics.push(
                    Diagnostic::error("manifest::template", message)
                        .at(context.locate(&template.referenced))
                        .help("glob targets may use `{{dir}}` (the file's directory name) and `{{name}}` (its file name without extension)"),
                );
            })
        };
        let name = match name_template {
            Some(template) => match fill(template, diagnostics) {
                Ok(name) => name,
                Err(()) => return targets,
            },
            None if placeholders.dir.is_empty() => {
                // A file at the top of the repository has no directory to be named after.
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::target-name",
                        format!("`{path}` is at the repository's root: it has no directory to name its target after"),
                    )
                    .at(glob_at.clone())
                    .help("add `name: \"{{name}}\"` to name each target after its file, or move the definition files into a directory per target"),
                );
                continue;
            }
            None => placeholders.dir.clone(),
        };
        let declared_at = name_template.map_or_else(
            || context.locate(&key.referenced),
            |t| context.locate(&t.referenced),
        );
        if !check_target_name(&name, &declared_at, diagnostics) {
            continue;
        }
        let reference = match &spec.reference {
            Some(template) => match fill(template, diagnostics) {
                Ok(text) => Some((text, context.locate(&template.referenced))),
                Err(()) => return targets,
            },
            None => None,
        };
        let mut inputs = Vec::new();
        for input in spec.inputs.iter().flatten() {
            match fill(input, diagnostics) {
                Ok(text) => inputs.push((text, context.locate(&input.referenced))),
                Err(()) => return targets,
            }
        }
        let resolved = Resolved {
            name,
            declared_at,
            def_path: path,
            def_at: glob_at.clone(),
            reference,
            inputs,
            glob: Some((placeholders.dir.clone(), placeholders.name.clone())),
        };
        targets.extend(build(context, spec, resolved, diagnostics));
    }
    targets
}

/// A target's identity once its `def`/`glob` and templates are settled.
struct Resolved {
    name: String,
    declared_at: Location,
    /// Repository-relative.
    def_path: String,
    def_at: Location,
    reference: Option<(String, Location)>,
    inputs: Vec<(String, Location)>,
    /// A glob target's `{{dir}}` and `{{name}}`.
    glob: Option<(String, String)>,
}

/// Target names appear in `--targets`, `depends_on`, JSON and CI job names.
fn check_target_name(name: &str, at: &Location, diagnostics: &mut Vec<Diagnostic>) -> bool {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        diagnostics.push(
            Diagnostic::error("manifest::target-name", format!("`{name}` is not a valid target name"))
                .at(at.clone())
                .help("target names start with a letter or digit and use only letters, digits, `.`, `_` and `-`"),
        );
    }
    valid
}

fn def_path(
    context: &TargetContext<'_>,
    def: &Spanned<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    // A definition file linked from outside the repository would be read and sent to the
    // builder like any other: the same rule as for `%files` sources.
    match files::join_relative(context.base, &def.value)
        .and_then(|path| files::ensure_inside(context.root, &path).map(|()| path))
    {
        Ok(path) => Some(path),
        Err(problem) => {
            diagnostics.push(path_diagnostic(&problem, context.locate(&def.referenced)));
            None
        }
    }
}

fn build(
    context: &TargetContext<'_>,
    spec: &TargetSpec,
    resolved: Resolved,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Target> {
    let defaults = context.defaults;
    let locate = |l: &serde_saphyr::Location| context.locate(l);
    let full_path = context.root.join(&resolved.def_path);
    let shown = display_path(&full_path, context.display_base);
    let def_source = match SourceFile::read(&full_path, shown.clone(), "deffile::encoding") {
        Ok(source) => source,
        Err(ReadError::Io(error)) => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::def-not-found",
                    format!("cannot read definition file `{shown}`: {error}"),
                )
                .at(resolved.def_at)
                .help("paths in the manifest are relative to the manifest's directory"),
            );
            return None;
        }
        Err(ReadError::Encoding(diagnostic)) => {
            diagnostics.push(diagnostic);
            return None;
        }
        Err(ReadError::Unsuitable(why)) => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::def-unsuitable",
                    format!("cannot read definition file `{shown}`: {why}"),
                )
                .at(resolved.def_at)
                .help(UNSUITABLE_HELP),
            );
            return None;
        }
    };
    let definition = match deffile::parse(&def_source.text) {
        Ok(definition) => definition,
        Err(error) => {
            diagnostics.push(Diagnostic::from_miette(
                "deffile::syntax",
                &error,
                &def_source,
            ));
            return None;
        }
    };

    let mut args = defaults.args.clone();
    let own_args: BTreeMap<String, String> = spec
        .args
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    for (name, value) in spec.args.iter().flatten() {
        if value.value.contains(['\n', '\r']) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::args",
                    format!("the value of `{name}` spans several lines"),
                )
                .at(locate(&value.referenced))
                .help("build arguments are substituted into single lines of the definition file"),
            );
            return None;
        }
    }
    args.extend(own_args.clone());
    let rendered = match deffile::render(&def_source.text, &args) {
        Ok(rendered) => rendered,
        Err(error) => {
            diagnostics.push(
                Diagnostic::from_miette("deffile::build-arg", &error, &def_source)
                    .help(format!(
                        "give it a value under `args:` of target `{}` or `defaults`, or a default in the file's `%arguments` section",
                        resolved.name
                    )),
            );
            return None;
        }
    };
    for unused in rendered
        .unused
        .iter()
        .filter(|name| own_args.contains_key(*name))
    {
        let at = spec
            .args
            .iter()
            .flatten()
            .find(|(k, _)| *k == unused)
            .map(|(_, v)| locate(&v.referenced));
        diagnostics.push(
            Diagnostic::warning(
                "manifest::unused-arg",
                format!("build argument `{unused}` is not used by `{}`", resolved.def_path),
            )
            .at_opt(at)
            .help("the definition file has no `{{ NAME }}` placeholder for it; remove it or check the spelling"),
        );
    }
    let rendered_definition = match deffile::parse(&rendered.text) {
        Ok(definition) => definition,
        Err(error) => {
            diagnostics.push(
                Diagnostic::from_miette("deffile::syntax", &error, &def_source)
                    .help("the file is valid as written but not once its build arguments are filled in; check the argument values"),
            );
            return None;
        }
    };

    let reference = reference(context, &resolved, diagnostics)?;
    let def_dir = resolved
        .def_path
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir)
        .to_owned();
    // Repositories that write `%files` sources from the repository root set it once in
    // `defaults.context`; a target's own `context` still wins.
    let target_context = match spec.context.as_ref().or(defaults.context.as_ref()) {
        Some(dir) => match files::join_relative(context.base, &dir.value) {
            Ok(path) => path,
            Err(problem) => {
                diagnostics.push(path_diagnostic(&problem, locate(&dir.referenced)));
                return None;
            }
        },
        None => def_dir,
    };

    let mut context_files = Vec::new();
    let mut ok = true;
    for entry in rendered_definition.host_files() {
        match files::resolve_files_source(context.root, &target_context, &entry.source) {
            Ok(found) => context_files.extend(found),
            Err(problem) => {
                ok = false;
                let at = Location::of_line(&def_source, entry.span.line);
                diagnostics.push(path_diagnostic(&problem, at).label("this `%files` source"));
            }
        }
    }
    let mut files = vec![resolved.def_path.clone()];
    for (pattern, at) in &resolved.inputs {
        match files::resolve_input_glob(context.root, context.base, pattern) {
            Ok(found) if found.is_empty() => diagnostics.push(
                Diagnostic::warning("manifest::inputs", format!("`{pattern}` matches no file"))
                    .at(at.clone())
                    .help("patterns are relative to the manifest's directory; `*` does not cross `/`, `**` does"),
            ),
            Ok(found) => files.extend(found),
            Err(problem) => {
                ok = false;
                diagnostics.push(path_diagnostic(&problem, at.clone()));
            }
        }
    }
    context_files.sort();
    context_files.dedup();
    files.extend(context_files.iter().cloned());
    files.sort();
    files.dedup();

    let arch = match &spec.arch {
        Some(arch) => check_arch(arch, &locate, diagnostics),
        None => defaults.arch.clone(),
    };
    let timeout = match &spec.timeout {
        Some(timeout) => check_timeout(timeout, &locate, diagnostics)?,
        None => defaults.timeout,
    };
    let tags = match &spec.tags {
        Some(tags) => tag_rule::check_rules(&tags.value, &locate, diagnostics),
        None => defaults.tags.clone(),
    };
    let depends_on = spec
        .depends_on
        .iter()
        .flatten()
        .map(|d| (d.value.clone(), locate(&d.referenced)))
        .collect();
    let sign = match &spec.sign {
        Some(entry) => sign::check(entry, context.source, diagnostics)?,
        None => defaults.sign.clone(),
    };
    let mirrors = mirrors::resolve(
        spec.mirrors.as_deref().unwrap_or(&defaults.mirrors),
        &MirrorPlaceholders {
            target: &resolved.name,
            glob: resolved
                .glob
                .as_ref()
                .map(|(d, n)| (d.as_str(), n.as_str())),
        },
        &locate,
        diagnostics,
    );
    let own_labels = spec
        .labels
        .as_ref()
        .map(|spec| labels::check(spec, &locate, diagnostics));
    ok.then_some(Target {
        name: resolved.name,
        declared_at: resolved.declared_at,
        def_path: resolved.def_path,
        def_source,
        definition,
        rendered: rendered.text,
        rendered_definition,
        reference: reference.0,
        reference_at: reference.1,
        context: target_context,
        args,
        arch,
        depends_on,
        tags,
        timeout,
        inputs: resolved.inputs,
        files,
        context_files,
        sign,
        mirrors: mirrors.refs,
        mirrors_at: mirrors.at,
        labels: labels::merge(&defaults.labels, own_labels),
    })
}

/// The target's container: its `ref`, or `<defaults.library>/<name>`.
fn reference(
    context: &TargetContext<'_>,
    resolved: &Resolved,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(LibraryRef, Location)> {
    if let Some((text, at)) = &resolved.reference {
        return match LibraryRef::parse(text) {
            Ok(reference) if !reference.tags.is_empty() => {
                diagnostics.push(
                    Diagnostic::error("manifest::ref", format!("`{text}` names tags"))
                        .at(at.clone())
                        .help("a target's ref names a container; its tags come from the `tags:` rules. Remove `:` and what follows, and add a `raw:` rule for a fixed tag"),
                );
                None
            }
            Ok(reference) => Some((reference, at.clone())),
            Err(error) => {
                diagnostics.push(
                    Diagnostic::error("manifest::ref", format!("`{text}` is not a valid library ref: {}", error.kind))
                        .at(at.clone())
                        .help("write refs as `library://entity/collection/container`; names use lowercase letters, digits and single `.`, `_` or `-` between them"),
                );
                None
            }
        };
    }
    let Some((host, entity, collection)) = &context.defaults.library else {
        if context.defaults.library_invalid {
            return None;
        }
        diagnostics.push(
            Diagnostic::error("manifest::ref", format!("target `{}` has no `ref`", resolved.name))
                .at(resolved.declared_at.clone())
                .help("add `ref: library://entity/collection/container` to the target, or `library: library://entity/collection` under `defaults`"),
        );
        return None;
    };
    if let Err(problem) = libref::check_name(&resolved.name) {
        diagnostics.push(
            Diagnostic::error(
                "manifest::ref",
                format!(
                    "target name `{}` cannot be a container name: it {problem}",
                    resolved.name
                ),
            )
            .at(resolved.declared_at.clone())
            .help("give the target an explicit `ref:`, or rename it"),
        );
        return None;
    }
    let reference = LibraryRef {
        host: host.clone(),
        entity: entity.clone(),
        collection: collection.clone(),
        container: resolved.name.clone(),
        tags: Vec::new(),
    };
    Some((reference, resolved.declared_at.clone()))
}

/// Turns a located path problem into a diagnostic.
pub(super) fn path_diagnostic(problem: &PathProblem, at: Location) -> Diagnostic {
    let code = match problem {
        PathProblem::Absolute { .. }
        | PathProblem::Escapes { .. }
        | PathProblem::SymlinkEscapes { .. } => "path::outside-repository",
        PathProblem::GitDirectory { .. } => "path::git-directory",
        PathProblem::InvalidGlob { .. } => "path::invalid-glob",
        PathProblem::NoMatch { .. } => "path::no-match",
        PathProblem::Unreadable { .. } => "path::unreadable",
    };
    Diagnostic::error(code, problem.to_string())
        .at(at)
        .help(problem.help())
}
