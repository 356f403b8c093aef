//! The images a run built or retagged, as refs a later job can pull: the `built-refs` step
//! output on GitHub and `SIFBAKE_BUILT_REFS` in GitLab's dotenv report.
//!
//! One form for every image: `library://[host/]entity/collection/container:sha256.<hex>`,
//! the image pinned by its hash (as `singularity pull` accepts it). A hash names exactly one
//! image of one architecture, so the ref is right for published and ephemeral images alike,
//! and a later push of the same tag cannot change what it names. The tags are in the result
//! document for those who want them.
//!
//! Each OCI mirror an image reached follows its library ref, pinned the same way:
//! `oras://registry/repository@sha256:<manifest digest>`.

use crate::manifest::Publish;

use super::result::ResultDocument;

/// One image a run built or retagged.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct BuiltRef {
    pub target: String,
    pub arch: String,
    /// `library://…:sha256.<hex>`.
    pub reference: String,
    /// The tags set on it (none for an ephemeral image).
    pub tags: Vec<String>,
}

/// Returns every image the run built or retagged whose hash is known, in plan order.
///
/// Published images are named by the target's ref. An ephemeral image lives where the
/// service put it (`image.path`), in the remote's default library; one whose place the
/// service did not say cannot be pulled and is left out.
pub fn built_refs(document: &ResultDocument<'_>) -> Vec<BuiltRef> {
    let mut refs = Vec::new();
    for target in &document.targets {
        for image in &target.images {
            if !matches!(image.status, "built" | "retagged") {
                continue;
            }
            let Some(built) = &image.image else { continue };
            let Some(hash) = &built.hash else { continue };
            let container = match (document.publish, &built.path) {
                (Publish::Push, _) => target.reference.clone(),
                (_, Some(path)) => format!("library://{path}"),
                (_, None) => continue,
            };
            refs.push(BuiltRef {
                target: target.name.clone(),
                arch: image.arch.clone(),
                reference: format!("{container}:{hash}"),
                tags: image.tags.clone(),
            });
            for mirror in &image.mirrors {
                if let Some(reference) = mirror.by_digest() {
                    refs.push(BuiltRef {
                        target: target.name.clone(),
                        arch: image.arch.clone(),
                        reference,
                        tags: mirror.tags.clone(),
                    });
                }
            }
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::tests::{document, image};

    #[test]
    fn published_images_are_named_by_their_target_ref_and_hash() {
        let mut doc = document(Publish::Push);
        doc.targets[0].images = vec![
            image("amd64", "built", Some(("acme/tools/base", "sha256.aa"))),
            image("arm64", "failed", None),
        ];
        doc.targets[1].images = vec![image(
            "amd64",
            "retagged",
            Some(("acme/tools/python", "sha256.bb")),
        )];
        let refs = built_refs(&doc);
        let names: Vec<&str> = refs.iter().map(|r| r.reference.as_str()).collect();
        assert_eq!(
            names,
            [
                "library://acme/tools/base:sha256.aa",
                "library://acme/tools/python:sha256.bb"
            ]
        );
        assert_eq!(refs[0].tags, ["main", "inputs-0123456789abcdef"]);
    }

    #[test]
    fn mirrors_follow_their_library_ref_by_digest_and_failed_ones_are_left_out() {
        use crate::exec::{FaultKind, MirrorAction, MirrorResult, ServiceFault};
        let mut doc = document(Publish::Push);
        let mut built = image("amd64", "built", Some(("acme/tools/base", "sha256.aa")));
        let mirror = |registry: &str, failed: bool| MirrorResult {
            reference: format!("oras://{registry}/acme/base"),
            digest: Some("sha256:cd".into()),
            tags: vec!["main".into()],
            action: (!failed).then_some(MirrorAction::Pushed),
            error: failed.then(|| ServiceFault {
                kind: FaultKind::Connect,
                doing: "x".into(),
                detail: String::new(),
                transient: true,
            }),
        };
        built.mirrors = vec![mirror("ghcr.io", false), mirror("quay.io", true)];
        doc.targets[0].images = vec![built];
        let names: Vec<String> = built_refs(&doc).into_iter().map(|r| r.reference).collect();
        assert_eq!(
            names,
            [
                "library://acme/tools/base:sha256.aa",
                "oras://ghcr.io/acme/base@sha256:cd"
            ]
        );
    }

    #[test]
    fn ephemeral_images_are_named_where_the_service_put_them() {
        let mut doc = document(Publish::Ephemeral);
        doc.targets[0].images = vec![
            image(
                "amd64",
                "built",
                Some(("someone/default/eph-1", "sha256.cc")),
            ),
            image("arm64", "unchanged", None),
        ];
        let mut nowhere = image("amd64", "built", Some(("x", "sha256.dd")));
        if let Some(built) = &mut nowhere.image {
            built.path = None;
        }
        doc.targets[1].images = vec![nowhere];
        let refs = built_refs(&doc);
        assert_eq!(refs.len(), 1);
        assert_eq!(
            refs[0].reference,
            "library://someone/default/eph-1:sha256.cc"
        );
    }
}
