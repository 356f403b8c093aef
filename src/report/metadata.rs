//! What docker/metadata-action users consume, from the plan: `tags`, `version` and
//! `labels`, for GitHub step outputs and GitLab's dotenv report alike.
//!
//! Tags are those of the tag rules; the `inputs-…` digest tag is left out (it is in the plan
//! document), as it is an implementation detail of re-runs rather than a name to pull by.

use serde::Serialize;

use crate::plan::{Action, Plan};

use super::dotenv::Value;

/// One image's tags: a target, an architecture, its ref and the tags it gets.
#[derive(Debug, Serialize)]
pub struct ImageTags<'a> {
    pub target: &'a str,
    pub arch: &'a str,
    #[serde(rename = "ref")]
    pub reference: String,
    pub tags: Vec<&'a str>,
}

/// The tags of every image built or retagged, per target and architecture, in build order.
pub fn image_tags(plan: &Plan) -> Vec<ImageTags<'_>> {
    plan.targets
        .iter()
        .flat_map(|target| {
            target
                .images
                .iter()
                .filter(|image| image.action != Action::Skip)
                .map(move |image| ImageTags {
                    target: &target.name,
                    arch: &image.arch,
                    reference: target.reference.to_string(),
                    tags: image
                        .tags
                        .iter()
                        .filter(|tag| Some(*tag) != image.digest_tag.as_ref())
                        .map(String::as_str)
                        .collect(),
                })
        })
        .collect()
}

/// Every `library://…:tag` the run sets, once each (a tag names one image per
/// architecture of its container, so architectures add no line).
pub fn tagged_refs(images: &[ImageTags<'_>]) -> Vec<String> {
    let mut refs: Vec<String> = Vec::new();
    for image in images {
        for tag in &image.tags {
            let full = format!("{}:{tag}", image.reference);
            if !refs.contains(&full) {
                refs.push(full);
            }
        }
    }
    refs
}

/// Every tag name the run sets, once each, without the ref.
pub fn tag_names<'a>(images: &[ImageTags<'a>]) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for tag in images.iter().flat_map(|image| image.tags.iter()) {
        if !names.contains(tag) {
            names.push(tag);
        }
    }
    names
}

/// metadata-action's `version`: the `org.opencontainers.image.version` label, so the output
/// and what `singularity inspect` shows agree (`1.2.3` for tag `v1.2.3`, the branch name,
/// `pr-N`).
pub fn version(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .find(|(key, _)| key == "org.opencontainers.image.version")
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

/// Step outputs: `tags` (refs, one per line), `tag-names` (one per line), `tags-json`
/// (per target and architecture), `version`, and `labels` (`key=value` per line, as
/// metadata-action writes them).
pub fn outputs(
    plan: &Plan,
    labels: &[(String, String)],
) -> serde_json::Result<Vec<(&'static str, String)>> {
    let images = image_tags(plan);
    Ok(vec![
        ("tags", tagged_refs(&images).join("\n")),
        ("tag-names", tag_names(&images).join("\n")),
        ("tags-json", serde_json::to_string(&images)?),
        ("version", version(labels)),
        (
            "labels",
            labels
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ])
}

/// GitLab dotenv variables: `SIFBAKE_TAGS`, `SIFBAKE_TAG_NAMES` and `SIFBAKE_LABELS`
/// (space-separated: dotenv values are one line), and `SIFBAKE_VERSION`.
pub fn variables(plan: &Plan, labels: &[(String, String)]) -> Vec<(&'static str, Value)> {
    let images = image_tags(plan);
    vec![
        ("SIFBAKE_VERSION", Value::Scalar(version(labels))),
        ("SIFBAKE_TAGS", Value::List(tagged_refs(&images))),
        (
            "SIFBAKE_TAG_NAMES",
            Value::List(tag_names(&images).into_iter().map(str::to_owned).collect()),
        ),
        (
            "SIFBAKE_LABELS",
            Value::List(
                labels
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect(),
            ),
        ),
    ]
}
