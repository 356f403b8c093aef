//! `mirrors:` — OCI registries a target's images are also pushed to, as `oras://` refs.
//!
//! Written once under `defaults` as templates (`oras://ghcr.io/acme/{{target}}`) and filled
//! in per target: `{{target}}` is the target's name, and a glob target's `{{dir}}` and
//! `{{name}}` are those of its `ref` template. Each filled-in ref must parse as a
//! [`RepositoryRef`]: a bad one is an error at the line of the template.

use std::collections::HashMap;

use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Location};
use crate::oci::RepositoryRef;

use super::model::Target;

/// A target's mirrors once filled in and checked, with where each was written.
#[derive(Clone, Debug, Default)]
pub(super) struct Mirrors {
    pub refs: Vec<RepositoryRef>,
    pub at: Vec<Location>,
}

/// The values a mirror template's placeholders take for one target.
pub(super) struct MirrorPlaceholders<'a> {
    pub target: &'a str,
    /// A glob target's `{{dir}}` and `{{name}}`.
    pub glob: Option<(&'a str, &'a str)>,
}

const HELP: &str = "a mirror is `oras://registry[:port]/namespace/name`, e.g. `oras://ghcr.io/acme/{{target}}`; \
     `{{target}}` is the target's name, and glob targets may also use `{{dir}}` and `{{name}}`";

/// Fills in and checks a target's mirror templates, recording each problem once.
pub(super) fn resolve(
    templates: &[Spanned<String>],
    placeholders: &MirrorPlaceholders<'_>,
    locate: &dyn Fn(&serde_saphyr::Location) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Mirrors {
    let mut mirrors = Mirrors::default();
    for template in templates {
        let at = locate(&template.referenced);
        let text = match fill(&template.value, placeholders) {
            Ok(text) => text,
            Err(message) => {
                push_once(
                    diagnostics,
                    Diagnostic::error("manifest::mirror", message)
                        .at(at)
                        .help(HELP),
                );
                continue;
            }
        };
        let reference = match RepositoryRef::parse(&text) {
            Ok(reference) => reference,
            Err(error) => {
                let message = if text == template.value {
                    error.to_string()
                } else {
                    format!(
                        "{error} (`{}` for target `{}`)",
                        template.value, placeholders.target
                    )
                };
                push_once(
                    diagnostics,
                    Diagnostic::error("manifest::mirror", message)
                        .at(at)
                        .help(HELP),
                );
                continue;
            }
        };
        if let Some(first) = mirrors.refs.iter().position(|r| *r == reference) {
            push_once(
                diagnostics,
                Diagnostic::error(
                    "manifest::mirror",
                    format!(
                        "target `{}` lists the mirror `{reference}` twice",
                        placeholders.target
                    ),
                )
                .at(at)
                .help(format!(
                    "the first is at {}; list each mirror once",
                    mirrors.at[first]
                )),
            );
            continue;
        }
        mirrors.refs.push(reference);
        mirrors.at.push(at);
    }
    mirrors
}

/// Fills in `{{target}}`, and `{{dir}}` and `{{name}}` for glob targets.
fn fill(template: &str, placeholders: &MirrorPlaceholders<'_>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            return Err(format!("`{template}` has `{{{{` without a closing `}}}}`"));
        };
        match (rest[start + 2..start + end].trim(), placeholders.glob) {
            ("target", _) => out.push_str(placeholders.target),
            ("dir", Some((dir, _))) => out.push_str(dir),
            ("name", Some((_, name))) => out.push_str(name),
            (name @ ("dir" | "name"), None) => {
                return Err(format!(
                    "`{{{{{name}}}}}` in mirror `{template}` only applies to glob targets, and `{}` is not one",
                    placeholders.target
                ));
            }
            (other, _) => {
                return Err(format!(
                    "unknown placeholder `{{{{{other}}}}}` in mirror `{template}`"
                ));
            }
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A template under `defaults` is filled in for every target: its error is worth saying
/// once, not once per target.
fn push_once(diagnostics: &mut Vec<Diagnostic>, diagnostic: Diagnostic) {
    let same = |d: &Diagnostic| {
        d.message == diagnostic.message
            && d.location.as_ref().map(|l| l.offset)
                == diagnostic.location.as_ref().map(|l| l.offset)
    };
    if !diagnostics.iter().any(same) {
        diagnostics.push(diagnostic);
    }
}

/// Two targets may not mirror to one repository for the same architecture: their tags
/// would overwrite each other, as for two targets with one library `ref`.
pub(super) fn check_shared(targets: &[Target], diagnostics: &mut Vec<Diagnostic>) {
    let mut owners: HashMap<&RepositoryRef, &Target> = HashMap::new();
    for target in targets {
        for (reference, at) in target.mirrors.iter().zip(&target.mirrors_at) {
            let Some(first) = owners.get(reference) else {
                owners.insert(reference, target);
                continue;
            };
            if let Some(arch) = target.arch.iter().find(|a| first.arch.contains(a)) {
                push_once(
                    diagnostics,
                    Diagnostic::error(
                        "manifest::mirror",
                        format!(
                            "targets `{}` and `{}` both mirror to `{reference}` for {arch}",
                            first.name, target.name
                        ),
                    )
                    .at(at.clone())
                    .help("their tags would overwrite each other; put `{{target}}` in the mirror's path, e.g. `oras://ghcr.io/acme/{{target}}`"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_the_target_and_a_glob_targets_dir_and_name() {
        let plain = MirrorPlaceholders {
            target: "app",
            glob: None,
        };
        let glob = MirrorPlaceholders {
            target: "bwa",
            glob: Some(("bwa", "Singularity")),
        };
        assert_eq!(
            fill("oras://ghcr.io/acme/{{target}}", &plain).as_deref(),
            Ok("oras://ghcr.io/acme/app")
        );
        assert_eq!(
            fill("oras://ghcr.io/acme/{{ dir }}-{{name}}", &glob).as_deref(),
            Ok("oras://ghcr.io/acme/bwa-Singularity")
        );
        assert_eq!(
            fill("oras://r/{{dir}}", &plain),
            Err("`{{dir}}` in mirror `oras://r/{{dir}}` only applies to glob targets, and `app` is not one".to_owned())
        );
        assert_eq!(
            fill("oras://r/{{branch}}", &glob),
            Err("unknown placeholder `{{branch}}` in mirror `oras://r/{{branch}}`".to_owned())
        );
        assert_eq!(
            fill("oras://r/{{target", &glob),
            Err("`oras://r/{{target` has `{{` without a closing `}}`".to_owned())
        );
    }
}
