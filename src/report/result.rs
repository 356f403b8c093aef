//! The result of `sifbake build` and `sifbake tag` as a document (`--format json`): per
//! target and architecture what happened, the image, its tags, and why.

use std::io;

use serde::Serialize;

use crate::context::RefContext;
use crate::exec::{
    BuiltImage, Counts, FailReason, JobId, MirrorResult, Outcome, RunSummary, SkipReason,
};
use crate::manifest::Publish;
use crate::plan::{Action, Plan};

use super::build::{build_failure, fail_reason, seconds};
use super::logs::LogFiles;

/// The version of the result document; README.md documents it.
pub const RESULT_SCHEMA: &str = "sifbake/result/v1";

/// `--format json` of `build` and `tag`.
#[derive(Debug, Serialize)]
pub struct ResultDocument<'a> {
    pub schema: &'static str,
    pub context: &'a RefContext,
    /// What the run did with its images: `push`, `ephemeral` or `skip`.
    pub publish: Publish,
    pub exit_code: u8,
    /// Whether SIGINT/SIGTERM cancelled the run.
    pub cancelled: bool,
    pub duration_seconds: f64,
    pub counts: Counts,
    pub targets: Vec<TargetResult>,
    /// The image files `build --pull` wrote; absent when it was not asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pulled: Vec<PulledFile>,
}

/// An image file downloaded and checked against the library's SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct PulledFile {
    pub target: String,
    pub arch: String,
    /// `entity/collection/container:tag-or-hash`, as asked of the library.
    pub image: String,
    /// `sha256.<hex>` of the file.
    pub hash: String,
    pub size: u64,
    pub path: std::path::PathBuf,
}

/// One target.
#[derive(Debug, Serialize)]
pub struct TargetResult {
    pub name: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub images: Vec<ImageResult>,
}

/// One image (architecture) of a target.
#[derive(Debug, Serialize)]
pub struct ImageResult {
    pub arch: String,
    /// `built`, `retagged`, `unchanged`, `failed`, `skipped`, `cancelled`, `timed-out`, or
    /// `planned` when nothing ran (`--dry-run`, `publish: skip`).
    pub status: &'static str,
    /// `None` for a target unchanged since the base: its inputs were not hashed.
    pub digest_tag: Option<String>,
    /// The tags set (none when ephemeral or not done).
    pub tags: Vec<String>,
    pub image: Option<BuiltImage>,
    pub build_id: Option<String>,
    pub duration_seconds: f64,
    /// Why it failed, was skipped, or was left unchanged.
    pub reason: Option<String>,
    /// Its OCI mirrors: `ref`, `digest`, `tags`, `action` (`pushed`, `tagged`,
    /// `up-to-date`) or `error`; left out when it has none or did not succeed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorResult>,
}

impl<'a> ResultDocument<'a> {
    /// Combines the plan and, when the run happened, its summary.
    pub fn new(
        plan: &'a Plan,
        summary: Option<&RunSummary>,
        publish: Publish,
        exit_code: u8,
    ) -> Self {
        let targets = plan
            .targets
            .iter()
            .map(|target| TargetResult {
                name: target.name.clone(),
                reference: target.reference.to_string(),
                images: target
                    .images
                    .iter()
                    .map(|image| {
                        let job = summary.and_then(|s| s.job(&target.name, &image.arch));
                        let mut result = ImageResult {
                            arch: image.arch.clone(),
                            status: "planned",
                            digest_tag: image.digest_tag.clone(),
                            tags: Vec::new(),
                            image: None,
                            build_id: None,
                            duration_seconds: 0.0,
                            reason: None,
                            mirrors: Vec::new(),
                        };
                        if image.action == Action::Skip {
                            result.status = "unchanged";
                            result.reason = Some(target.reason.message());
                            return result;
                        }
                        let Some(job) = job else {
                            return result;
                        };
                        result.duration_seconds = job.duration.as_secs_f64();
                        result.mirrors = job.mirrors.clone();
                        match &job.outcome {
                            Outcome::Built {
                                image,
                                build_id,
                                tags,
                                ..
                            } => {
                                result.status = "built";
                                result.image = Some(image.clone());
                                result.build_id = Some(build_id.clone());
                                result.tags = tags.clone();
                            }
                            Outcome::Retagged { image, tags } => {
                                result.status = "retagged";
                                result.image = Some(image.clone());
                                result.tags = tags.clone();
                            }
                            Outcome::Failed { reason } => {
                                result.status = "failed";
                                result.reason = Some(fail_reason(reason));
                                // The tags set before a refusal stay set: say so.
                                if let FailReason::Tagging { set, .. } = reason {
                                    result.tags = set.clone();
                                }
                            }
                            Outcome::Skipped { reason } => {
                                result.status = "skipped";
                                result.reason = Some(skip_reason(reason, summary));
                            }
                            Outcome::Cancelled { build_id, tags } => {
                                result.status = "cancelled";
                                result.build_id = build_id.clone();
                                result.tags = tags.clone();
                            }
                            Outcome::TimedOut { build_id, tags, .. } => {
                                result.status = "timed-out";
                                result.build_id = build_id.clone();
                                result.tags = tags.clone();
                            }
                        }
                        result
                    })
                    .collect(),
            })
            .collect();
        ResultDocument {
            schema: RESULT_SCHEMA,
            context: &plan.context,
            publish,
            exit_code,
            cancelled: summary.is_some_and(RunSummary::was_cancelled),
            duration_seconds: summary.map_or(0.0, |s| s.duration.as_secs_f64()),
            counts: summary.map(|s| s.counts).unwrap_or_default(),
            targets,
            pulled: Vec::new(),
        }
    }
}

impl ResultDocument<'_> {
    /// Quotes each failed build's log in its reason, and a skipped dependent's reason names
    /// why the image it builds on failed: every report made from the document (the table,
    /// annotations, step summary, JUnit, dotenv) then says why, not only that.
    pub fn explain(&mut self, summary: &RunSummary, logs: &mut LogFiles) -> io::Result<()> {
        let mut failures: Vec<(JobId, String)> = Vec::new();
        for job in &summary.jobs {
            let why = match &job.outcome {
                Outcome::Failed {
                    reason:
                        FailReason::BuildFailed {
                            build_id,
                            log_complete,
                        },
                } => {
                    let log = logs.reason(&job.target, &job.arch)?;
                    build_failure(build_id, *log_complete, log.as_ref())
                }
                Outcome::Failed { reason } => fail_reason(reason),
                Outcome::TimedOut { after, .. } => {
                    format!("timed out after {}", seconds(*after))
                }
                _ => continue,
            };
            failures.push((job.job, why));
        }
        for job in &summary.jobs {
            let own = failures.iter().find(|(id, _)| *id == job.job);
            let skipped_for = match &job.outcome {
                Outcome::Skipped {
                    reason: SkipReason::DependencyFailed { dependency },
                } => failures.iter().find(|(id, _)| id == dependency),
                _ => None,
            };
            let Some(image) = self
                .targets
                .iter_mut()
                .filter(|t| t.name == job.target)
                .flat_map(|t| t.images.iter_mut())
                .find(|i| i.arch == job.arch)
            else {
                continue;
            };
            match (own, skipped_for) {
                (Some((_, why)), _) if image.status == "failed" => {
                    image.reason = Some(why.clone());
                }
                (_, Some((_, why))) => {
                    if let Some(reason) = &mut image.reason {
                        reason.push_str(&format!(": {why}"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Says why a job did not run; a dependent names the image it builds on.
fn skip_reason(reason: &SkipReason, summary: Option<&RunSummary>) -> String {
    match reason {
        SkipReason::Cancelled => "the run was cancelled".to_owned(),
        SkipReason::DependencyFailed { dependency } => {
            match summary.and_then(|s| s.jobs.iter().find(|j| j.job == *dependency)) {
                Some(base) => format!(
                    "it builds on `{}` ({}), which did not succeed",
                    base.target, base.arch
                ),
                None => "a target it builds on did not succeed".to_owned(),
            }
        }
        SkipReason::FailFast { .. } => "another job failed and --fail-fast is set".to_owned(),
    }
}

/// Result documents for the tests of the reports made from them.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::context::{Provider, RefKind};

    /// A context: a push of `main` at `3e04653…`.
    pub fn context() -> &'static RefContext {
        Box::leak(Box::new(RefContext {
            provider: Provider::GitHub,
            event: "push".to_owned(),
            kind: RefKind::Branch {
                name: "main".to_owned(),
            },
            sha: "3e04653aa1b2c3d4e5f60718293a4b5c6d7e8f90".to_owned(),
            default_branch: Some("main".to_owned()),
            before: None,
            base_sha: None,
            merge_base: None,
        }))
    }

    /// A document with two targets, `base` and `python` (in `acme/tools`), and no images.
    pub fn document(publish: Publish) -> ResultDocument<'static> {
        ResultDocument {
            schema: RESULT_SCHEMA,
            context: context(),
            publish,
            exit_code: 0,
            cancelled: false,
            duration_seconds: 7.0,
            counts: Counts::default(),
            pulled: Vec::new(),
            targets: ["base", "python"]
                .iter()
                .map(|name| TargetResult {
                    name: (*name).to_owned(),
                    reference: format!("library://acme/tools/{name}"),
                    images: Vec::new(),
                })
                .collect(),
        }
    }

    /// An image with a status and, when given, the image (`path`, `hash`) it built.
    pub fn image(arch: &str, status: &'static str, built: Option<(&str, &str)>) -> ImageResult {
        let done = matches!(status, "built" | "retagged");
        ImageResult {
            arch: arch.to_owned(),
            status,
            digest_tag: Some("inputs-0123456789abcdef".to_owned()),
            tags: if done {
                vec!["main".to_owned(), "inputs-0123456789abcdef".to_owned()]
            } else {
                Vec::new()
            },
            image: built.map(|(path, hash)| BuiltImage {
                path: Some(path.to_owned()),
                hash: Some(hash.to_owned()),
                size: 37_016,
                signed_by: None,
            }),
            build_id: (status == "built").then(|| "6b028fb8aad29b39db5bdbfc".to_owned()),
            duration_seconds: if status == "unchanged" { 0.0 } else { 2.0 },
            reason: match status {
                "failed" => Some("build 6b02 produced no image; its log says why".to_owned()),
                "skipped" => Some("a target it builds on did not succeed".to_owned()),
                "unchanged" => Some("no input changed".to_owned()),
                _ => None,
            },
            mirrors: Vec::new(),
        }
    }
}
