//! The registry client a run mirrors with, and its credentials: found before anything is
//! built, so a half-set pair of variables or a broken Docker config stops the run at once
//! (exit 2) instead of after an hour of building, and every password is masked everywhere.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::cli::RemoteArgs;
use crate::diagnostic::Diagnostic;
use crate::env;
use crate::exec::MirrorClient;
use crate::oci::{ClientOptions, CredentialSources, EnvLookup, RegistryClient, Secret};
use crate::plan::{Action, Plan};
use crate::settings::Settings;

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
}
