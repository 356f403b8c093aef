//! Mirrors in every report: a line per mirror as it is updated, the refs and their
//! `singularity pull oras://…` lines after the result table and in the step summary.

use std::io::{self, Write};

use crate::exec::{FaultKind, MirrorAction, MirrorResult, ServiceFault};

use super::result::ResultDocument;

/// Where registry credentials come from, for a refusal's message.
pub const CREDENTIALS_HELP: &str = "registry credentials come from SIFBAKE_REGISTRY_<HOST>_USERNAME/_PASSWORD, SIFBAKE_REGISTRY_USERNAME/_PASSWORD, Docker's config.json (`docker login`, `oras login`), GitLab's CI_REGISTRY_USER/CI_REGISTRY_PASSWORD for CI_REGISTRY, or the Action's `github-token` for ghcr.io";

/// What a registry failure means, with what failed.
pub fn mirror_fault(error: &ServiceFault) -> String {
    let kind = match &error.kind {
        FaultKind::Auth => "the registry refused the credentials (or found none)".to_owned(),
        FaultKind::Forbidden => "the credentials may not push to this repository".to_owned(),
        FaultKind::Connect => "no connection".to_owned(),
        FaultKind::Protocol => "an unexpected answer".to_owned(),
        FaultKind::RateLimited => "rate limited".to_owned(),
        FaultKind::Status { code, .. } => format!("HTTP {code}"),
        FaultKind::StreamDropped => "the connection dropped".to_owned(),
        FaultKind::Timeout => "no answer in time".to_owned(),
    };
    let mut text = if error.detail.is_empty() {
        format!("{}: {kind}", error.doing)
    } else {
        format!("{}: {kind}: {}", error.doing, error.detail)
    };
    if matches!(error.kind, FaultKind::Auth | FaultKind::Forbidden) {
        text.push_str(&format!("; {CREDENTIALS_HELP}"));
    }
    text
}

/// One mirror's line in the run's log.
pub fn describe(mirror: &MirrorResult) -> String {
    let reference = &mirror.reference;
    match (&mirror.error, mirror.action) {
        (Some(error), _) => format!(
            "mirror {reference} FAILED, the library's tags stay set: {}",
            mirror_fault(error)
        ),
        (None, Some(MirrorAction::Pushed)) => {
            format!("pushed to {reference} ({})", mirror.tags.join(", "))
        }
        (None, Some(MirrorAction::Tagged)) => {
            format!(
                "tagged in {reference}, the image was there ({})",
                mirror.tags.join(", ")
            )
        }
        (None, Some(MirrorAction::UpToDate) | None) => {
            format!("{reference} is up to date")
        }
    }
}

/// The word a table shows for a mirror.
pub fn status(mirror: &MirrorResult) -> &'static str {
    match (&mirror.error, mirror.action) {
        (Some(_), _) => "FAILED",
        (None, Some(MirrorAction::Pushed)) => "pushed",
        (None, Some(MirrorAction::Tagged)) => "tagged",
        (None, Some(MirrorAction::UpToDate) | None) => "up to date",
    }
}

/// `singularity pull oras://registry/repository:tag`, by the image's first tag that is not
/// the digest tag (the one people name), else by digest.
pub fn pull_line(mirror: &MirrorResult, digest_tag: Option<&str>) -> Option<String> {
    if mirror.failed() {
        return None;
    }
    let tag = mirror
        .tags
        .iter()
        .find(|tag| digest_tag.is_none_or(|digest| !tag.starts_with(digest)))
        .or(mirror.tags.first());
    match tag {
        Some(tag) => Some(format!("singularity pull {}:{tag}", mirror.reference)),
        None => mirror
            .by_digest()
            .map(|reference| format!("singularity pull {reference}")),
    }
}

/// Every mirror of the run, after the result table: what each got, and how to pull it.
pub fn write_text(out: &mut dyn Write, document: &ResultDocument<'_>) -> io::Result<()> {
    let mut first = true;
    for target in &document.targets {
        for image in &target.images {
            for mirror in &image.mirrors {
                if first {
                    writeln!(out, "\nMirrors:")?;
                    first = false;
                }
                let how = match &mirror.error {
                    Some(error) => mirror_fault(error),
                    None => pull_line(mirror, image.digest_tag.as_deref()).unwrap_or_default(),
                };
                writeln!(
                    out,
                    "  {} ({}) {} {}: {how}",
                    target.name,
                    image.arch,
                    status(mirror),
                    mirror.reference
                )?;
            }
        }
    }
    Ok(())
}

/// The step summary's mirror section (Markdown), empty when the run has no mirrors.
pub fn markdown(document: &ResultDocument<'_>) -> String {
    let mut rows = String::new();
    for target in &document.targets {
        for image in &target.images {
            for mirror in &image.mirrors {
                let how = match &mirror.error {
                    Some(error) => mirror_fault(error).replace('|', "\\|"),
                    None => pull_line(mirror, image.digest_tag.as_deref())
                        .map(|line| format!("`{line}`"))
                        .unwrap_or_default(),
                };
                rows.push_str(&format!(
                    "| {} | {} | `{}` | {} | {how} |\n",
                    target.name,
                    image.arch,
                    mirror.reference,
                    status(mirror)
                ));
            }
        }
    }
    if rows.is_empty() {
        return rows;
    }
    format!(
        "\n### Mirrors\n\n| Target | Arch | Mirror | Status | Pull |\n|---|---|---|---|---|\n{rows}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(action: Option<MirrorAction>, error: Option<ServiceFault>) -> MirrorResult {
        MirrorResult {
            reference: "oras://ghcr.io/acme/base".into(),
            digest: Some("sha256:ab".into()),
            tags: vec!["inputs-0123".into(), "main-arm64".into()],
            action,
            error,
        }
    }

    #[test]
    fn pull_lines_name_a_tag_people_use_and_failures_say_what_to_set() {
        let pushed = mirror(Some(MirrorAction::Pushed), None);
        assert_eq!(
            pull_line(&pushed, Some("inputs-0123")).as_deref(),
            Some("singularity pull oras://ghcr.io/acme/base:main-arm64")
        );
        assert_eq!(
            pushed.by_digest().as_deref(),
            Some("oras://ghcr.io/acme/base@sha256:ab")
        );
        let refused = mirror(
            None,
            Some(ServiceFault {
                kind: FaultKind::Auth,
                doing: "checking for blob x in oras://ghcr.io/acme/base".into(),
                detail: "401 Unauthorized".into(),
                transient: false,
            }),
        );
        assert_eq!(pull_line(&refused, None), None);
        assert_eq!(refused.by_digest(), None);
        let line = describe(&refused);
        assert!(
            line.contains("FAILED, the library's tags stay set"),
            "{line}"
        );
        assert!(line.contains("SIFBAKE_REGISTRY_USERNAME"), "{line}");
    }
}
