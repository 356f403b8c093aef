//! Pinning: a dependent target is built on the exact image this run produced for its base
//! (DESIGN.md, "Execution"), so each stage that bootstraps from another target gets a `From:`
//! naming that image by hash before the definition is submitted.
//!
//! Only the values of the `Bootstrap:` and `From:` header lines are replaced, located by the
//! parser's spans; every other byte of the definition stays as written. A
//! `Bootstrap: localimage` stage naming a target becomes `Bootstrap: library`, since the
//! remote builder refuses local images (PROTOCOL.md §2.7).
//!
//! Values in, values out: no I/O here.

use serde::Serialize;

use crate::deffile::{Definition, Span};
use crate::graph::TargetIndex;
use crate::manifest::Target;

/// How a stage names the target it builds on.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinKind {
    /// `Bootstrap: library` with a `From:` naming the target's container.
    Library,
    /// `Bootstrap: localimage` with a `From:` naming the target's image file.
    LocalImage,
}

/// A stage whose `From:` names another target, with the spans to rewrite.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PinSite {
    /// The stage's position in the definition.
    pub stage: usize,
    /// The index of the target it builds on (in the manifest's target list).
    pub dependency: usize,
    /// That target's name.
    pub dependency_name: String,
    pub kind: PinKind,
    /// The value of the stage's `Bootstrap:` line.
    pub bootstrap: Span,
    /// The value of the stage's `From:` line.
    pub from: Span,
}

/// Where a dependency's image is, as far as the run knows.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum PinSource {
    /// The exact image: `path` is `entity/collection/container`, `hash` is `sha256.<hex>`.
    Image { path: String, hash: String },
    /// Unknown, and not built in this run: a library stage keeps its `From:` as written.
    AsWritten,
    /// Built in this run, but the service did not say where or with which hash.
    Unavailable,
}

/// Why a definition could not be pinned. The dependent is not submitted: building it on
/// anything but its base's exact image would be a silent lie.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PinError {
    /// A `Bootstrap: localimage` stage names a target whose image nobody knows; the remote
    /// builder cannot read local files, so there is nothing to build on.
    #[error("stage {stage} bootstraps from the local image of `{dependency}`, which is not known")]
    LocalImageUnknown { stage: usize, dependency: String },
    /// The dependency was built, but the service reported no location or hash for its image.
    #[error("the image built for `{dependency}` has no known location or hash")]
    NoImage { dependency: String },
    /// A span does not lie on the text (the definition and its parse disagree).
    #[error("stage {stage}'s header spans do not match the definition text")]
    SpanMismatch { stage: usize },
}

/// Returns the stages of `definition` (target `own`'s rendered definition) that bootstrap
/// from another of `targets`, as the graph matches them.
pub fn find_sites(
    targets: &[Target],
    lookup: &TargetIndex,
    own: usize,
    definition: &Definition,
) -> Vec<PinSite> {
    find_sites_with(definition, |kind, from| {
        let index = match kind {
            PinKind::Library => lookup.library_source(from),
            PinKind::LocalImage => lookup.local_image(from),
        }?;
        // A target built on an older image of itself is not a dependency (graph.rs agrees).
        if index == own {
            return None;
        }
        targets
            .get(index)
            .map(|target| (index, target.name.clone()))
    })
}

/// Returns the stages of `definition` whose `From:` `matcher` maps to a target
/// `(index, name)`.
pub fn find_sites_with(
    definition: &Definition,
    matcher: impl Fn(PinKind, &str) -> Option<(usize, String)>,
) -> Vec<PinSite> {
    let mut sites = Vec::new();
    for (position, stage) in definition.stages.iter().enumerate() {
        let (Some(bootstrap), Some(from)) =
            (stage.header_field("bootstrap"), stage.header_field("from"))
        else {
            continue;
        };
        let kind = match bootstrap.value.to_ascii_lowercase().as_str() {
            "library" => PinKind::Library,
            "localimage" => PinKind::LocalImage,
            _ => continue,
        };
        if let Some((dependency, dependency_name)) = matcher(kind, &from.value) {
            sites.push(PinSite {
                stage: position,
                dependency,
                dependency_name,
                kind,
                bootstrap: bootstrap.value_span,
                from: from.value_span,
            });
        }
    }
    sites
}

/// Returns `text` with every site's `From:` naming its dependency's image, as `source` tells
/// where that is; a local-image site also becomes `Bootstrap: library`.
pub fn pin(
    text: &str,
    sites: &[PinSite],
    source: impl Fn(&PinSite) -> PinSource,
) -> Result<String, PinError> {
    let mut edits: Vec<(usize, Span, String)> = Vec::new();
    for site in sites {
        match source(site) {
            PinSource::Image { path, hash } => {
                edits.push((site.stage, site.from, pinned_from(&path, &hash)));
                if site.kind == PinKind::LocalImage {
                    edits.push((site.stage, site.bootstrap, "library".to_owned()));
                }
            }
            PinSource::AsWritten => {
                if site.kind == PinKind::LocalImage {
                    return Err(PinError::LocalImageUnknown {
                        stage: site.stage,
                        dependency: site.dependency_name.clone(),
                    });
                }
            }
            PinSource::Unavailable => {
                return Err(PinError::NoImage {
                    dependency: site.dependency_name.clone(),
                });
            }
        }
    }
    edits.sort_by_key(|(_, span, _)| span.offset);
    let mut pinned = String::with_capacity(text.len() + 80 * edits.len());
    let mut copied = 0;
    for (stage, span, value) in edits {
        let end = span.offset + span.len;
        // Spans come from parsing this very text; a mismatch (or two edits overlapping)
        // means the caller paired the wrong definition and parse.
        let (Some(before), Some(_)) = (text.get(copied..span.offset), text.get(span.offset..end))
        else {
            return Err(PinError::SpanMismatch { stage });
        };
        pinned.push_str(before);
        pinned.push_str(&value);
        copied = end;
    }
    pinned.push_str(text.get(copied..).unwrap_or_default());
    Ok(pinned)
}

/// Returns the `From:` value naming one image exactly: `entity/collection/container:sha256.<hex>`.
pub fn pinned_from(path: &str, hash: &str) -> String {
    format!("{path}:{hash}")
}

/// Returns `entity/collection/container` of a ref the service reported (`library://…`,
/// the opaque `library:…`, with or without a host or tags), or `None` if it has no such path.
pub fn library_path(reported: &str) -> Option<String> {
    let trimmed = reported.trim();
    let rest = trimmed
        .strip_prefix("library://")
        .or_else(|| trimmed.strip_prefix("library:"))
        .unwrap_or(trimmed)
        .trim_start_matches('/');
    let mut components: Vec<&str> = rest.split('/').collect();
    // A four-component ref carries a host first (PROTOCOL.md §4.3); `From:` names the
    // library the builder was given, so the host is dropped.
    if components.len() == 4 {
        components.remove(0);
    }
    if let Some(last) = components.last_mut() {
        *last = last.split_once(':').map_or(*last, |(name, _)| name);
    }
    if components.len() != 3 || components.iter().any(|c| c.is_empty()) {
        return None;
    }
    Some(components.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deffile::parse;

    const HASH: &str = "sha256.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Matches `acme/tools/<name>` (library) and `<name>.sif` (local image) against the
    /// targets `base` (0) and `tools` (1).
    fn sites(text: &str) -> Vec<PinSite> {
        let definition = parse(text).unwrap_or_else(|e| panic!("{e:?}"));
        find_sites_with(&definition, |kind, from| {
            let name = match kind {
                PinKind::Library => from
                    .trim_start_matches("library://")
                    .strip_prefix("acme/tools/")?
                    .split(':')
                    .next()?,
                PinKind::LocalImage => from.rsplit('/').next()?.strip_suffix(".sif")?,
            };
            let index = ["base", "tools"].iter().position(|n| *n == name)?;
            Some((index, name.to_owned()))
        })
    }

    fn image(path: &str) -> PinSource {
        PinSource::Image {
            path: path.to_owned(),
            hash: HASH.to_owned(),
        }
    }

    #[test]
    fn a_library_from_is_pinned_to_the_image_hash() {
        let text = "Bootstrap: library\nFrom: acme/tools/base:latest\n\n%post\n    echo hi\n";
        let sites = sites(text);
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].dependency_name, "base");
        let pinned = pin(text, &sites, |_| image("acme/tools/base")).expect("pinned");
        assert_eq!(
            pinned,
            format!("Bootstrap: library\nFrom: acme/tools/base:{HASH}\n\n%post\n    echo hi\n")
        );
    }

    #[test]
    fn a_local_image_becomes_a_library_stage() {
        let text = "BootStrap:  localimage   # from the base\nFROM: images/base.sif\n%runscript\n  exec x\n";
        let sites = sites(text);
        assert_eq!(sites[0].kind, PinKind::LocalImage);
        let pinned = pin(text, &sites, |_| image("acme/tools/base")).expect("pinned");
        assert_eq!(
            pinned,
            format!(
                "BootStrap:  library   # from the base\nFROM: acme/tools/base:{HASH}\n%runscript\n  exec x\n"
            )
        );
    }

    #[test]
    fn only_the_matching_stages_change_and_every_other_byte_stays() {
        let text = "# leading comment\r\nBootstrap: docker\r\nFrom: ubuntu:24.04\r\nStage: one\r\n\r\n%post\r\n  From: not a header\r\n\r\nBootstrap: library\r\nFrom: library://acme/tools/tools:1.0 # pinned below\r\nStage: two\r\n\r\n%files from one\r\n  /a /a\r\n";
        let sites = sites(text);
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].stage, 1);
        let pinned = pin(text, &sites, |_| image("acme/tools/tools")).expect("pinned");
        assert_eq!(
            pinned,
            text.replace(
                "library://acme/tools/tools:1.0",
                &format!("acme/tools/tools:{HASH}")
            )
        );
    }

    #[test]
    fn a_continued_from_value_is_replaced_whole() {
        let text = "Bootstrap: library\nFrom: acme/tools/\\\n  base\n%post\n";
        let sites = sites(text);
        let pinned = pin(text, &sites, |_| image("acme/tools/base")).expect("pinned");
        assert_eq!(
            pinned,
            format!("Bootstrap: library\nFrom: acme/tools/base:{HASH}\n%post\n")
        );
    }

    #[test]
    fn an_unknown_dependency_keeps_a_library_from_but_not_a_local_image() {
        let library = "Bootstrap: library\nFrom: acme/tools/base\n";
        let pinned = pin(library, &sites(library), |_| PinSource::AsWritten).expect("pinned");
        assert_eq!(pinned, library);

        let local = "Bootstrap: localimage\nFrom: base.sif\n";
        assert_eq!(
            pin(local, &sites(local), |_| PinSource::AsWritten),
            Err(PinError::LocalImageUnknown {
                stage: 0,
                dependency: "base".into()
            })
        );
        assert_eq!(
            pin(library, &sites(library), |_| PinSource::Unavailable),
            Err(PinError::NoImage {
                dependency: "base".into()
            })
        );
    }

    #[test]
    fn each_stage_gets_its_own_dependency() {
        let text = "Bootstrap: library\nFrom: acme/tools/base\nStage: a\n\nBootstrap: localimage\nFrom: tools.sif\n";
        let sites = sites(text);
        let pinned = pin(text, &sites, |site| {
            image(&format!("acme/tools/{}", site.dependency_name))
        })
        .expect("pinned");
        assert_eq!(
            pinned,
            format!(
                "Bootstrap: library\nFrom: acme/tools/base:{HASH}\nStage: a\n\nBootstrap: library\nFrom: acme/tools/tools:{HASH}\n"
            )
        );
    }

    #[test]
    fn other_bootstraps_and_targets_are_not_sites() {
        let text = "Bootstrap: docker\nFrom: acme/tools/base\n\nBootstrap: library\nFrom: acme/other/base\n\nBootstrap: library\n";
        assert!(sites(text).is_empty());
    }

    #[test]
    fn spans_that_do_not_fit_the_text_are_an_error() {
        let text = "Bootstrap: library\nFrom: acme/tools/base\n";
        let sites = sites(text);
        assert_eq!(
            pin("Bootstrap: library\n", &sites, |_| image("acme/tools/base")),
            Err(PinError::SpanMismatch { stage: 0 })
        );
    }

    #[test]
    fn reported_refs_become_paths() {
        let cases = [
            (
                "library://alice/remote-builds/rb-0123",
                Some("alice/remote-builds/rb-0123"),
            ),
            (
                "library:alice/remote-builds/rb-0123:latest",
                Some("alice/remote-builds/rb-0123"),
            ),
            (
                "library://cloud.sylabs.io/alice/remote-builds/rb-1",
                Some("alice/remote-builds/rb-1"),
            ),
            ("alice/remote-builds/rb-1", Some("alice/remote-builds/rb-1")),
            ("library://alice/rb-1", None),
            ("", None),
        ];
        for (reported, path) in cases {
            assert_eq!(library_path(reported).as_deref(), path, "{reported}");
        }
    }
}
