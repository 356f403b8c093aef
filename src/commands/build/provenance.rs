//! The provenance labels of a run's images: where and from what each was built, as
//! `singularity inspect` shows them. OCI's annotation keys, which registries and tools
//! already know.

use std::path::Path;
use std::process::Command;

use crate::context::{RefContext, RefKind, vars};
use crate::env;
use crate::settings::Settings;

const PREFIX: &str = "org.opencontainers.image";

/// The labels for this run: `revision` (the commit), `source` (the repository's web
/// address, when CI names it or `origin` is a web URL), `created` (the commit's date, so
/// the same commit always gives the same labels), `version` and `ref.name` (the git ref).
pub fn labels(settings: &Settings, context: &RefContext, root: &Path) -> Vec<(String, String)> {
    let mut labels = vec![(format!("{PREFIX}.revision"), context.sha.clone())];
    if let Some(source) = source(settings, root) {
        labels.push((format!("{PREFIX}.source"), source));
    }
    if let Some(created) = git(root, &["show", "-s", "--format=%cI", &context.sha]) {
        labels.push((format!("{PREFIX}.created"), created));
    }
    let (version, name) = match &context.kind {
        RefKind::Tag { name } => (
            name.strip_prefix('v')
                .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                .unwrap_or(name)
                .to_owned(),
            name.clone(),
        ),
        RefKind::Branch { name } => (name.clone(), name.clone()),
        RefKind::PullRequest { number, .. } => (format!("pr-{number}"), format!("pr-{number}")),
        RefKind::Detached => (context.sha.clone(), context.sha.clone()),
    };
    labels.push((format!("{PREFIX}.version"), version));
    labels.push((format!("{PREFIX}.ref.name"), name));
    labels
}

/// The repository's web address: GitHub's and GitLab's own variables, else `origin` when it
/// is an http(s) URL, never with the credentials a URL may carry.
fn source(settings: &Settings, root: &Path) -> Option<String> {
    if let (Some(server), Some(repository)) = (
        settings.var(env::GITHUB_SERVER_URL),
        settings.var(env::GITHUB_REPOSITORY),
    ) {
        return Some(format!("{}/{repository}", server.trim_end_matches('/')));
    }
    if let Some(project) = settings.var(vars::CI_PROJECT_URL) {
        return Some(project);
    }
    let origin = git(root, &["remote", "get-url", "origin"])?;
    let mut url = reqwest::Url::parse(&origin).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(url.as_str().trim_end_matches(".git").to_owned())
}

/// Runs git in `root`; its trimmed output, when it succeeds with any.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}
