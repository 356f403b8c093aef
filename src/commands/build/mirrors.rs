//! The registry client a run mirrors with, and its credentials: found before anything is
//! built, so a half-set pair of variables or a broken Docker config stops the run at once
//! (exit 2) instead of after an hour of building, and every password is masked everywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::RemoteArgs;
use crate::diagnostic::Diagnostic;
use crate::env;
use crate::exec::{MirrorClient, mirror_tag};
use crate::manifest::Publish;
use crate::oci::{
    ClientOptions, CredentialSources, EnvLookup, Registry, RegistryClient, RepositoryRef, Secret,
};
use crate::plan::{Action, MirrorCheck, MirrorState, Plan};
use crate::project::Project;
use crate::scs::{RetryPolicy, ServiceError};
use crate::settings::Settings;

/// How long `plan` waits for one mirror's answers: a plan never hangs on a registry.
const PLAN_CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// The variable GitHub Actions names the workflow's user in; sent with the GitHub token.
const GITHUB_ACTOR: &str = "GITHUB_ACTOR";

/// A run's registry client and the secrets it may send.
pub struct MirrorSetup {
    pub client: RegistryClient,
    /// Every password found for the run's registries, for the redactor.
    pub secrets: Vec<String>,
}

/// Where credentials come from in this process: its environment (a registry's own variables
/// are named after it, so they cannot be listed in advance), Docker's config, and the
/// GitHub token only when the Action passes it (`github-token`), never `GITHUB_TOKEN` itself.
pub fn credential_sources(settings: &Settings) -> CredentialSources {
    let lookup: EnvLookup = Arc::new(|name| std::env::var(name).ok());
    let sources = CredentialSources::from_env(Arc::clone(&lookup));
    match settings
        .secrets
        .get(env::SIFBAKE_GITHUB_TOKEN)
        .filter(|token| !token.is_empty())
    {
        Some(token) => sources.with_github_token(
            &lookup(GITHUB_ACTOR).unwrap_or_default(),
            Secret::new(token),
        ),
        None => sources,
    }
}

/// The registries (`host[:port]`) a plan's images are mirrored to, those skipped left out.
pub fn registries(plan: &Plan) -> BTreeSet<String> {
    plan.targets
        .iter()
        .filter(|target| target.images.iter().any(|i| i.action != Action::Skip))
        .flat_map(|target| &target.mirrors)
        .filter_map(|text| crate::oci::RepositoryRef::parse(text).ok())
        .map(|reference| reference.registry())
        .collect()
}

/// Sets up the client for `registries`: `None` when there are none. A credential source that
/// cannot be read is a diagnostic naming the registry and the fix.
pub fn prepare(
    settings: &Settings,
    remote: &RemoteArgs,
    registries: &BTreeSet<String>,
) -> Result<Option<MirrorSetup>, Vec<Diagnostic>> {
    if registries.is_empty() {
        return Ok(None);
    }
    let sources = credential_sources(settings);
    let mut secrets = sources.known_secrets();
    let mut diagnostics = Vec::new();
    for registry in registries {
        match sources.lookup(registry) {
            Ok(Some(found)) => secrets.push(found.password.expose().to_owned()),
            Ok(None) => {}
            Err(error) => diagnostics.push(
                Diagnostic::error(
                    "mirror::credentials",
                    format!("the credentials for the mirror registry {registry}: {error}"),
                )
                .help(crate::report::mirrors::CREDENTIALS_HELP),
            ),
        }
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let client = client(remote, sources).map_err(|diagnostic| vec![diagnostic])?;
    secrets.retain(|secret| !secret.is_empty());
    Ok(Some(MirrorSetup { client, secrets }))
}

/// The client a publishing run mirrors with (`None`: no mirror to push to, or an ephemeral
/// run, which mirrors nothing as it tags nothing), its passwords masked by the runner in
/// GitHub Actions; or the diagnostics of credentials that cannot be read.
pub fn for_run(
    settings: &Settings,
    remote: &RemoteArgs,
    publish: Publish,
    plan: &Plan,
    stderr: &mut dyn std::io::Write,
) -> std::io::Result<Result<Option<MirrorSetup>, Vec<Diagnostic>>> {
    if publish != Publish::Push {
        return Ok(Ok(None));
    }
    let setup = match prepare(settings, remote, &registries(plan)) {
        Ok(setup) => setup,
        Err(diagnostics) => return Ok(Err(diagnostics)),
    };
    if let Some(setup) = &setup {
        setup.mask_in_github_actions(settings, stderr)?;
    }
    Ok(Ok(setup))
}

/// A client with the run's `--allow-insecure` and request timeout.
pub fn client(
    remote: &RemoteArgs,
    sources: CredentialSources,
) -> Result<RegistryClient, Diagnostic> {
    let mut options = ClientOptions {
        allow_insecure: remote.allow_insecure,
        ..ClientOptions::default()
    };
    if let Some(timeout) = remote.request_timeout {
        options.request_timeout = timeout;
    }
    RegistryClient::new(options, sources).map_err(|error| {
        Diagnostic::error("mirror::client", error.to_string())
            .help("this is a bug in sifbake, or the machine's TLS set-up; please report it")
    })
}

impl MirrorSetup {
    /// The client as the executor holds it.
    pub fn into_client(self) -> MirrorClient {
        MirrorClient::new(self.client)
    }

    /// In GitHub Actions, has the runner mask every registry password found, as the token
    /// is: no later step, nor a tool sifbake runs, can show one either.
    pub fn mask_in_github_actions(
        &self,
        settings: &Settings,
        stderr: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        if settings
            .var(crate::context::vars::GITHUB_ACTIONS)
            .as_deref()
            == Some("true")
        {
            for secret in &self.secrets {
                super::super::reports::mask(stderr, secret)?;
            }
        }
        Ok(())
    }
}

/// One image on one mirror, as `plan` asks about it.
struct Wanted {
    target: usize,
    image: usize,
    repo: RepositoryRef,
    digest_tag: String,
    tags: Vec<String>,
}

/// Asks each mirror of the images a run would build or retag what it would do there
/// (push, tag, or nothing), and records it in the plan. Never fails: a registry without
/// credentials is not asked, and one that cannot answer (offline, refused, slow) leaves the
/// state `unknown` with the reason. Ephemeral runs mirror nothing, so nothing is asked.
pub fn check_plan(settings: &Settings, project: &Project, plan: &mut Plan) {
    if plan.publish != Publish::Push {
        return;
    }
    let wanted = wanted(project, plan);
    if wanted.is_empty() {
        return;
    }
    let sources = credential_sources(settings);
    let mut usable: BTreeMap<String, Result<(), String>> = BTreeMap::new();
    for item in &wanted {
        let registry = item.repo.registry();
        if usable.contains_key(&registry) {
            continue;
        }
        let found = match sources.lookup(&registry) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!("no credentials for {registry}")),
            Err(error) => Err(error.to_string()),
        };
        usable.insert(registry, found);
    }
    let allow_insecure = settings
        .var(env::SIFBAKE_ALLOW_INSECURE)
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
    let options = ClientOptions {
        allow_insecure,
        // One attempt: a plan says `unknown` rather than wait out a registry's backoff.
        retry: RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        },
        request_timeout: PLAN_CHECK_TIMEOUT,
        ..ClientOptions::default()
    };
    let client = RegistryClient::new(options, sources).ok();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok();
    let checks: Vec<MirrorCheck> = match (&client, &runtime) {
        (Some(client), Some(runtime)) => {
            runtime.block_on(futures_util::future::join_all(wanted.iter().map(|item| {
                let usable = usable.get(&item.repo.registry()).cloned();
                async move {
                    let result = match usable {
                        Some(Ok(())) => {
                            tokio::time::timeout(PLAN_CHECK_TIMEOUT, check(client, item))
                                .await
                                .unwrap_or_else(|_| Err("no answer in time".to_owned()))
                        }
                        Some(Err(reason)) => Err(reason),
                        None => Err("not asked".to_owned()),
                    };
                    mirror_check(&item.repo, result)
                }
            })))
        }
        _ => wanted
            .iter()
            .map(|item| mirror_check(&item.repo, Err("no registry client".to_owned())))
            .collect(),
    };
    for (item, check) in wanted.iter().zip(checks) {
        plan.targets[item.target].images[item.image]
            .mirrors
            .push(check);
    }
}

fn wanted(project: &Project, plan: &Plan) -> Vec<Wanted> {
    let mut wanted = Vec::new();
    for (t, target) in plan.targets.iter().enumerate() {
        let first_arch = project
            .manifest
            .targets
            .iter()
            .find(|m| m.name == target.name)
            .and_then(|m| m.arch.first().cloned());
        for (i, image) in target.images.iter().enumerate() {
            let Some(digest_tag) = image.digest_tag.as_deref() else {
                continue;
            };
            if image.action == Action::Skip {
                continue;
            }
            let suffix =
                (first_arch.as_deref() != Some(image.arch.as_str())).then_some(image.arch.as_str());
            for text in &target.mirrors {
                let Ok(repo) = RepositoryRef::parse(text) else {
                    continue;
                };
                wanted.push(Wanted {
                    target: t,
                    image: i,
                    repo,
                    digest_tag: mirror_tag(digest_tag, suffix),
                    tags: image
                        .tags
                        .iter()
                        .map(|tag| mirror_tag(tag, suffix))
                        .collect(),
                });
            }
        }
    }
    wanted
}

fn mirror_check(repo: &RepositoryRef, result: Result<MirrorState, String>) -> MirrorCheck {
    match result {
        Ok(state) => MirrorCheck {
            reference: repo.to_string(),
            state,
            reason: None,
        },
        Err(reason) => MirrorCheck {
            reference: repo.to_string(),
            state: MirrorState::Unknown,
            reason: Some(reason),
        },
    }
}

/// The digest tag decides, as in a build: missing is a push; present, any other tag not
/// naming the same manifest is a retag.
async fn check(client: &RegistryClient, item: &Wanted) -> Result<MirrorState, String> {
    let text = |error: ServiceError| format!("{}: {}", error.doing, error.detail);
    let Some(digest) = client
        .resolve_tag(&item.repo, &item.digest_tag)
        .await
        .map_err(text)?
    else {
        return Ok(MirrorState::Push);
    };
    for tag in item.tags.iter().filter(|tag| **tag != item.digest_tag) {
        if client
            .resolve_tag(&item.repo, tag)
            .await
            .map_err(text)?
            .as_ref()
            != Some(&digest)
        {
            return Ok(MirrorState::Tag);
        }
    }
    Ok(MirrorState::UpToDate)
}
