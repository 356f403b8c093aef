//! One commit status per target (`sifbake/<target>`), made from the result document, so a
//! pull request lists each image's outcome among its checks.

use crate::report::build::short_hash;
use crate::report::result::{ImageResult, ResultDocument, TargetResult};

/// GitHub keeps at most this many characters of a status description.
pub const DESCRIPTION_LIMIT: usize = 140;

/// A commit status's state.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    /// Returns the state as GitHub's API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// A status for one target.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CommitStatus {
    pub state: StatusState,
    /// `sifbake/<target>`.
    pub context: String,
    /// At most [`DESCRIPTION_LIMIT`] characters.
    pub description: String,
    /// The workflow run, when known.
    pub target_url: Option<String>,
}

/// Returns a status per target whose images ran or were found. Targets with nothing run
/// (`--dry-run`, `publish: skip`) get none: a status would claim what did not happen.
pub fn statuses(document: &ResultDocument<'_>, target_url: Option<&str>) -> Vec<CommitStatus> {
    document
        .targets
        .iter()
        .filter(|target| target.images.iter().any(|i| i.status != "planned"))
        .map(|target| {
            let (state, description) = summarize(target);
            CommitStatus {
                state,
                context: format!("sifbake/{}", target.name),
                description: truncate(&description),
                target_url: target_url.map(str::to_owned),
            }
        })
        .collect()
}

fn summarize(target: &TargetResult) -> (StatusState, String) {
    let with = |statuses: &[&str]| -> Vec<&ImageResult> {
        target
            .images
            .iter()
            .filter(|i| statuses.contains(&i.status))
            .collect()
    };
    let archs = |images: &[&ImageResult]| -> String {
        images
            .iter()
            .map(|i| i.arch.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let failed = with(&["failed", "timed-out"]);
    if let Some(first) = failed.first() {
        let reason = if first.status == "timed-out" {
            "timed out".to_owned()
        } else {
            first.reason.clone().unwrap_or_else(|| "failed".to_owned())
        };
        return (
            StatusState::Failure,
            format!("{} failed: {reason}", archs(&failed)),
        );
    }
    let cancelled = with(&["cancelled"]);
    if !cancelled.is_empty() {
        return (
            StatusState::Error,
            format!("{}: the run was cancelled", archs(&cancelled)),
        );
    }
    let skipped = with(&["skipped"]);
    if let Some(first) = skipped.first() {
        return (
            StatusState::Failure,
            format!(
                "{} skipped: {}",
                archs(&skipped),
                first.reason.as_deref().unwrap_or("not run")
            ),
        );
    }
    let mut parts = Vec::new();
    for (status, word) in [("built", "built"), ("retagged", "retagged")] {
        let images = with(&[status]);
        if !images.is_empty() {
            let hashes: Vec<String> = images
                .iter()
                .filter_map(|i| i.image.as_ref())
                .map(|i| short_hash(i.hash.as_deref()))
                .collect();
            parts.push(format!("{word} {} ({})", archs(&images), hashes.join(", ")));
        }
    }
    let unchanged = with(&["unchanged"]);
    if !unchanged.is_empty() {
        parts.push(format!("{} unchanged", archs(&unchanged)));
    }
    (StatusState::Success, parts.join("; "))
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= DESCRIPTION_LIMIT {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(DESCRIPTION_LIMIT - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Publish;
    use crate::report::result::tests::{document, image};

    #[test]
    fn a_status_per_target_with_the_worst_outcome() {
        let mut doc = document(Publish::Push);
        doc.targets[0].images = vec![
            image(
                "amd64",
                "built",
                Some(("acme/tools/base", "sha256.86090ea0fb5b1234")),
            ),
            image("arm64", "failed", None),
        ];
        doc.targets[1].images = vec![
            image(
                "amd64",
                "retagged",
                Some(("acme/tools/python", "sha256.aa")),
            ),
            image("arm64", "unchanged", None),
        ];
        let list = statuses(&doc, Some("https://github.com/o/r/actions/runs/1"));
        assert_eq!(
            list,
            vec![
                CommitStatus {
                    state: StatusState::Failure,
                    context: "sifbake/base".to_owned(),
                    description: "arm64 failed: build 6b02 produced no image; its log says why"
                        .to_owned(),
                    target_url: Some("https://github.com/o/r/actions/runs/1".to_owned()),
                },
                CommitStatus {
                    state: StatusState::Success,
                    context: "sifbake/python".to_owned(),
                    description: "retagged amd64 (sha256.aa); arm64 unchanged".to_owned(),
                    target_url: Some("https://github.com/o/r/actions/runs/1".to_owned()),
                },
            ]
        );
    }

    #[test]
    fn skipped_cancelled_and_planned() {
        let mut doc = document(Publish::Push);
        doc.targets[0].images = vec![image("amd64", "cancelled", None)];
        doc.targets[1].images = vec![image("amd64", "planned", None)];
        let list = statuses(&doc, None);
        assert_eq!(list.len(), 1, "nothing ran for python: {list:?}");
        assert_eq!(list[0].state, StatusState::Error);
        doc.targets[0].images = vec![image("amd64", "skipped", None)];
        let list = statuses(&doc, None);
        assert_eq!(list[0].state, StatusState::Failure);
        assert_eq!(
            list[0].description,
            "amd64 skipped: a target it builds on did not succeed"
        );
    }

    #[test]
    fn descriptions_fit_githubs_limit() {
        let long = "x".repeat(500);
        assert_eq!(truncate(&long).chars().count(), DESCRIPTION_LIMIT);
        assert!(truncate(&long).ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }
}
