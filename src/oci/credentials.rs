//! Where registry credentials come from, in this order (the first that has an entry for the
//! registry wins):
//!
//! 1. `SIFBAKE_REGISTRY_<HOST>_USERNAME` and `_PASSWORD`: `<HOST>` is the registry as the
//!    mirror names it (`host[:port]`), upper-cased, every character other than a letter or
//!    digit written `_`: `ghcr.io` → `SIFBAKE_REGISTRY_GHCR_IO_PASSWORD`,
//!    `localhost:5000` → `SIFBAKE_REGISTRY_LOCALHOST_5000_PASSWORD`.
//! 2. `SIFBAKE_REGISTRY_USERNAME` and `_PASSWORD`: for every registry without its own, so
//!    the usual one-registry setup needs two variables.
//! 3. Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`),
//!    as `docker login` and `oras login` write it: the registry's `credHelpers` entry, else
//!    its `auths` entry (`auth` = base64 of `user:password`, or `username`/`password`),
//!    else the `credsStore` helper. A helper is run as `docker-credential-<name> get`.
//! 4. In GitLab CI, for the project's registry (`CI_REGISTRY`) only, the job's
//!    `CI_REGISTRY_USER` and `CI_REGISTRY_PASSWORD`: no setup needed.
//! 5. For `ghcr.io` only, the GitHub token the caller passes (the Action's `github-token`
//!    with `packages: write`).
//!
//! A pair with only one half set is an error naming the missing variable: silently falling
//! through to another source would push with credentials the user did not mean.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;

use crate::env;

/// A password or token: never shown by `Debug`.
#[derive(Clone, Eq, PartialEq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A user name and password for one registry, and where they were found.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Credential {
    pub username: String,
    pub password: Secret,
    /// For messages: `SIFBAKE_REGISTRY_GHCR_IO_PASSWORD`, `/home/u/.docker/config.json`, …
    pub source: String,
}

/// Credentials could not be read.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// Reads an environment variable.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The places credentials are looked up in; see the module documentation for the order.
#[derive(Clone)]
pub struct CredentialSources {
    env: EnvLookup,
    docker_config: Option<PathBuf>,
    github: Option<(String, Secret)>,
}

impl fmt::Debug for CredentialSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSources")
            .field("docker_config", &self.docker_config)
            .field("github", &self.github.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

/// The prefix of a registry's own variables: `SIFBAKE_REGISTRY_GHCR_IO` for `ghcr.io`.
pub fn registry_env_prefix(registry: &str) -> String {
    let host: String = registry
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SIFBAKE_REGISTRY_{host}")
}

impl CredentialSources {
    /// Sources read through `env` (the process's environment in the binary, a map in tests):
    /// the variables above, and Docker's config file where `DOCKER_CONFIG` or `HOME` puts it.
    pub fn from_env(env: EnvLookup) -> CredentialSources {
        let docker_config = env(env::DOCKER_CONFIG)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| env(env::HOME).map(|home| Path::new(&home).join(".docker")))
            .map(|dir| dir.join("config.json"));
        CredentialSources {
            env,
            docker_config,
            github: None,
        }
    }

    /// No credentials at all (anonymous pulls and pushes).
    pub fn none() -> CredentialSources {
        CredentialSources {
            env: Arc::new(|_| None),
            docker_config: None,
            github: None,
        }
    }

    /// Adds the GitHub token, used for `ghcr.io` when nothing else is set. `actor` is the
    /// user name sent with it (GitHub accepts any; the workflow's actor reads best in logs).
    #[must_use]
    pub fn with_github_token(mut self, actor: &str, token: Secret) -> CredentialSources {
        let actor = if actor.is_empty() { "github" } else { actor };
        self.github = Some((actor.to_owned(), token));
        self
    }

    /// Every secret these sources can hand out that is known without running a helper:
    /// what error messages from a registry must be masked against.
    pub fn known_secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = [env::SIFBAKE_REGISTRY_PASSWORD, env::CI_REGISTRY_PASSWORD]
            .iter()
            .filter_map(|name| (self.env)(name))
            .collect();
        if let Some((_, token)) = &self.github {
            secrets.push(token.expose().to_owned());
        }
        secrets
    }

    /// The credential for `registry` (`host[:port]`), if any source has one.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let prefix = registry_env_prefix(registry);
        if let Some(found) =
            self.env_pair(&format!("{prefix}_USERNAME"), &format!("{prefix}_PASSWORD"))?
        {
            return Ok(Some(found));
        }
        if let Some(found) = self.env_pair(
            env::SIFBAKE_REGISTRY_USERNAME,
            env::SIFBAKE_REGISTRY_PASSWORD,
        )? {
            return Ok(Some(found));
        }
        if let Some(path) = &self.docker_config
            && let Some(found) = docker_config_lookup(path, registry)?
        {
            return Ok(Some(found));
        }
        if (self.env)(env::CI_REGISTRY).is_some_and(|ci| ci.eq_ignore_ascii_case(registry))
            && let Some(found) = self.env_pair(env::CI_REGISTRY_USER, env::CI_REGISTRY_PASSWORD)?
        {
            return Ok(Some(found));
        }
        if registry == "ghcr.io"
            && let Some((actor, token)) = &self.github
        {
            return Ok(Some(Credential {
                username: actor.clone(),
                password: token.clone(),
                source: "the GitHub token".to_owned(),
            }));
        }
        Ok(None)
    }

    fn env_pair(&self, user: &str, password: &str) -> Result<Option<Credential>, CredentialError> {
        let get = |name: &str| (self.env)(name).filter(|value| !value.is_empty());
        match (get(user), get(password)) {
            (None, None) => Ok(None),
            (Some(username), Some(secret)) => Ok(Some(Credential {
                username,
                password: Secret::new(secret),
                source: password.to_owned(),
            })),
            (Some(_), None) => Err(CredentialError(format!(
                "{user} is set but {password} is not; set both, or neither"
            ))),
            (None, Some(_)) => Err(CredentialError(format!(
                "{password} is set but {user} is not; set both, or neither"
            ))),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The key `docker login` uses for Docker Hub.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Returns the registry a config key names: keys may be `host`, `host:port`, or a URL
/// (`https://host/v1/`, Docker Hub's form).
fn key_registry(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

fn docker_config_lookup(
    path: &Path,
    registry: &str,
) -> Result<Option<Credential>, CredentialError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(CredentialError(format!(
                "cannot read {}: {error}; fix its permissions or set DOCKER_CONFIG to another directory",
                path.display()
            )));
        }
    };
    let config: DockerConfig = serde_json::from_str(&text).map_err(|error| {
        CredentialError(format!(
            "{} is not a valid Docker config file ({error}); fix it, or log in again with `docker login` or `oras login`",
            path.display()
        ))
    })?;
    let registry = key_registry(registry);
    let source = path.display().to_string();
    if let Some((_, helper)) = config
        .cred_helpers
        .iter()
        .find(|(key, _)| key_registry(key) == registry)
    {
        return run_helper(helper, &registry, &source);
    }
    if let Some((key, entry)) = config
        .auths
        .iter()
        .find(|(key, _)| key_registry(key) == registry)
        && let Some(found) = auth_entry(entry, key, &source)?
    {
        return Ok(Some(found));
    }
    match &config.creds_store {
        Some(helper) if !helper.is_empty() => run_helper(helper, &registry, &source),
        _ => Ok(None),
    }
}

fn auth_entry(
    entry: &AuthEntry,
    key: &str,
    source: &str,
) -> Result<Option<Credential>, CredentialError> {
    if entry
        .identitytoken
        .as_deref()
        .is_some_and(|t| !t.is_empty())
    {
        return Err(CredentialError(format!(
            "the `{key}` entry of {source} holds an identity token, which sifbake does not use; set SIFBAKE_REGISTRY_USERNAME and SIFBAKE_REGISTRY_PASSWORD (or the registry's own pair) instead"
        )));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) {
        let invalid = || {
            CredentialError(format!(
                "the `auth` of `{key}` in {source} is not base64 of `user:password`; log in again with `docker login` or `oras login`"
            ))
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (username, password) = decoded.split_once(':').ok_or_else(invalid)?;
        return Ok(Some(Credential {
            username: username.to_owned(),
            password: Secret::new(password),
            source: source.to_owned(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(username), Some(password)) if !username.is_empty() => Ok(Some(Credential {
            username: username.clone(),
            password: Secret::new(password.clone()),
            source: source.to_owned(),
        })),
        _ => Ok(None),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

/// Runs `docker-credential-<helper> get` with the registry on stdin, as Docker does.
fn run_helper(
    helper: &str,
    registry: &str,
    config: &str,
) -> Result<Option<Credential>, CredentialError> {
    let program = format!("docker-credential-{helper}");
    let server = if registry == "docker.io" {
        DOCKER_HUB_KEY
    } else {
        registry
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            CredentialError(format!(
                "{config} names the credential helper `{helper}`, but `{program}` cannot be run ({error}); install it, or remove it from {config}"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input answers below anyway.
        let _ = stdin.write_all(server.as_bytes());
    }
    let output = child.wait_with_output().map_err(|error| {
        CredentialError(format!("the credential helper `{program}` failed: {error}"))
    })?;
    if !output.status.success() {
        // Helpers answer "credentials not found" with a non-zero exit: no entry.
        return Ok(None);
    }
    let reply: HelperReply = serde_json::from_slice(&output.stdout).map_err(|_| {
        CredentialError(format!(
            "the credential helper `{program}` did not answer with Docker's JSON (Username, Secret)"
        ))
    })?;
    if reply.username == "<token>" {
        return Err(CredentialError(format!(
            "the credential helper `{program}` holds an identity token for {registry}, which sifbake does not use; set the registry's SIFBAKE_REGISTRY_* variables instead"
        )));
    }
    Ok(Some(Credential {
        username: reply.username,
        password: Secret::new(reply.secret),
        source: format!("the credential helper `{program}`"),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn sources(vars: &[(&str, &str)]) -> CredentialSources {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CredentialSources::from_env(Arc::new(move |name| map.get(name).cloned()))
    }

    fn config_dir(json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        dir
    }

    #[test]
    fn env_names_per_registry() {
        assert_eq!(registry_env_prefix("ghcr.io"), "SIFBAKE_REGISTRY_GHCR_IO");
        assert_eq!(
            registry_env_prefix("localhost:5000"),
            "SIFBAKE_REGISTRY_LOCALHOST_5000"
        );
        assert_eq!(
            registry_env_prefix("my-reg.example.com"),
            "SIFBAKE_REGISTRY_MY_REG_EXAMPLE_COM"
        );
    }

    #[test]
    fn the_registry_own_pair_wins_over_the_generic_one() {
        let sources = sources(&[
            ("SIFBAKE_REGISTRY_GHCR_IO_USERNAME", "own"),
            ("SIFBAKE_REGISTRY_GHCR_IO_PASSWORD", "own-pw"),
            ("SIFBAKE_REGISTRY_USERNAME", "generic"),
            ("SIFBAKE_REGISTRY_PASSWORD", "generic-pw"),
        ]);
        let found = sources.lookup("ghcr.io").unwrap().unwrap();
        assert_eq!(found.username, "own");
        assert_eq!(found.password.expose(), "own-pw");
        assert_eq!(found.source, "SIFBAKE_REGISTRY_GHCR_IO_PASSWORD");
        let other = sources.lookup("quay.io").unwrap().unwrap();
        assert_eq!(other.username, "generic");
        assert!(!format!("{other:?}").contains("generic-pw"));
    }

    #[test]
    fn half_a_pair_is_an_error() {
        let error = sources(&[("SIFBAKE_REGISTRY_USERNAME", "u")])
            .lookup("ghcr.io")
            .unwrap_err();
        assert_eq!(
            error.0,
            "SIFBAKE_REGISTRY_USERNAME is set but SIFBAKE_REGISTRY_PASSWORD is not; set both, or neither"
        );
    }

    #[test]
    fn docker_config_auths_in_both_forms() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:x");
        let dir = config_dir(&format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{auth}"}},
                "localhost:5000": {{"username": "bob", "password": "pw"}},
                "ghcr.io": {{}}
            }}}}"#
        ));
        let sources = sources(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())]);
        let hub = sources.lookup("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.expose()),
            ("alice", "s3cret:x")
        );
        let local = sources.lookup("localhost:5000").unwrap().unwrap();
        assert_eq!(
            (local.username.as_str(), local.password.expose()),
            ("bob", "pw")
        );
        assert_eq!(sources.lookup("ghcr.io").unwrap(), None);
        assert_eq!(sources.lookup("quay.io").unwrap(), None);
    }

    #[test]
    fn home_docker_config_is_the_default() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".docker")).unwrap();
        std::fs::write(
            home.path().join(".docker/config.json"),
            r#"{"auths": {"https://quay.io": {"username": "q", "password": "p"}}}"#,
        )
        .unwrap();
        let sources = sources(&[("HOME", home.path().to_str().unwrap())]);
        assert_eq!(sources.lookup("quay.io").unwrap().unwrap().username, "q");
    }

    #[test]
    fn a_broken_config_names_the_file_and_the_fix() {
        let dir = config_dir("{not json");
        let error = sources(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())])
            .lookup("ghcr.io")
            .unwrap_err();
        assert!(
            error
                .0
                .contains("config.json is not a valid Docker config file"),
            "{error}"
        );
        assert!(error.0.contains("docker login"), "{error}");
        let dir = config_dir(r#"{"auths": {"ghcr.io": {"auth": "!!"}}}"#);
        let error = sources(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())])
            .lookup("ghcr.io")
            .unwrap_err();
        assert!(
            error.0.contains("is not base64 of `user:password`"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_helper_is_named() {
        let dir = config_dir(r#"{"credsStore": "sifbake-test-missing"}"#);
        let error = sources(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())])
            .lookup("ghcr.io")
            .unwrap_err();
        assert!(
            error
                .0
                .contains("`docker-credential-sifbake-test-missing` cannot be run"),
            "{error}"
        );
    }

    #[test]
    fn gitlab_job_credentials_only_for_the_project_registry() {
        let sources = sources(&[
            ("CI_REGISTRY", "registry.gitlab.com"),
            ("CI_REGISTRY_USER", "gitlab-ci-token"),
            ("CI_REGISTRY_PASSWORD", "glcbt-x"),
        ]);
        let found = sources.lookup("registry.gitlab.com").unwrap().unwrap();
        assert_eq!(found.username, "gitlab-ci-token");
        assert_eq!(found.source, "CI_REGISTRY_PASSWORD");
        assert_eq!(sources.lookup("ghcr.io").unwrap(), None);
        assert!(sources.known_secrets().contains(&"glcbt-x".to_owned()));
    }

    #[test]
    fn github_token_only_for_ghcr() {
        let sources = CredentialSources::none().with_github_token("octocat", Secret::new("ghs_x"));
        let found = sources.lookup("ghcr.io").unwrap().unwrap();
        assert_eq!(found.username, "octocat");
        assert_eq!(found.source, "the GitHub token");
        assert_eq!(sources.lookup("quay.io").unwrap(), None);
    }
}
