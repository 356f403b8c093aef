//! `sifbake key push KEY.asc`: publish a public key in the remote's keystore, as
//! `singularity key push` does, so whoever verifies an image signed with it can fetch it by
//! the fingerprint in the signature.
//!
//! A private key is accepted (a CI job holds the signing key, not a keyring): it is unlocked
//! and checked as for signing, and only its public part is serialised and sent.

use std::io;
use std::path::Path;

use serde::Serialize;
use sifbake_sif::keys::{KeyError, PublicKey, SecretKey};

use super::Output;
use super::services::{RetryNotices, reporting_retries};
use crate::cli::{Format, KeyArgs, KeyCommand, KeyPushArgs, KeystoreArgs};
use crate::diagnostic::Diagnostic;
use crate::env;
use crate::exit;
use crate::scs::{
    self, ConnectError, ConnectOptions, KeystoreClient, ServiceError, ServiceErrorKind, Token,
    TokenSources,
};
use crate::settings::Settings;

/// Runs `sifbake key`.
pub fn run(settings: &Settings, args: &KeyArgs, out: &mut Output<'_>) -> io::Result<u8> {
    match &args.command {
        KeyCommand::Push(push) => run_push(settings, push, out),
    }
}

/// What `key push --format json` prints.
#[derive(Serialize)]
struct Pushed<'a> {
    fingerprint: &'a str,
    keystore: &'a str,
}

fn run_push(settings: &Settings, args: &KeyPushArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let path = settings.base_dir().join(&args.key);
    let passphrase = std::env::var(&args.passphrase_env).ok();
    let key = match public_part(&path, &args.passphrase_env, passphrase.as_deref()) {
        Ok(key) => key,
        Err(diagnostic) => {
            out.diagnostics(&[*diagnostic])?;
            return Ok(exit::BAD_INPUT);
        }
    };
    let fingerprint = key.fingerprint();
    let token = match token(settings, &args.keystore) {
        Ok(token) => token,
        Err((code, diagnostic)) => {
            out.diagnostics(&[diagnostic])?;
            return Ok(code);
        }
    };
    // In GitHub Actions the runner then hides the token from every later line of the log.
    if settings
        .var(crate::context::vars::GITHUB_ACTIONS)
        .as_deref()
        == Some("true")
    {
        super::reports::mask(out.stderr, token.expose())?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (notices, mut retries) = RetryNotices::channel();
    let options = ConnectOptions {
        remote: args.keystore.remote.clone(),
        allow_insecure: args.keystore.allow_insecure,
        retry: notices.policy(),
        request_timeout: args
            .keystore
            .request_timeout
            .unwrap_or(scs::REQUEST_TIMEOUT),
        ..ConnectOptions::new(token)
    };
    let armored = key.to_armored();
    let result = runtime.block_on(reporting_retries(
        push(&options, args.keystore.keystore_url.as_deref(), &armored),
        &mut retries,
        out.stderr,
    ));
    let keystore = match result {
        Ok(keystore) => keystore,
        Err(Failure::Connect(error)) => {
            let code = match error {
                ConnectError::Insecure { .. } | ConnectError::InvalidUrl { .. } => exit::BAD_INPUT,
                _ => exit::SERVICE,
            };
            out.diagnostics(&[
                Diagnostic::error("keystore::connect", chain(&error)).help(error.help())
            ])?;
            return Ok(code);
        }
        Err(Failure::Push { keystore, error }) => {
            out.diagnostics(&[push_failed(&fingerprint, &keystore, &error)])?;
            return Ok(exit::SERVICE);
        }
    };
    let url = keystore.url().to_string();
    match args.format {
        Format::Text => writeln!(
            out.stdout,
            "pushed public key {fingerprint} to the keystore {url}"
        )?,
        Format::Json => out.json(&Pushed {
            fingerprint: &fingerprint,
            keystore: &url,
        })?,
    }
    Ok(exit::SUCCESS)
}

/// Reads the key file and returns the public key to publish: the key itself, or a private
/// key's public part once the key has been unlocked and checked.
fn public_part(
    path: &Path,
    passphrase_env: &str,
    passphrase: Option<&str>,
) -> Result<PublicKey, Box<Diagnostic>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|error| {
        Box::new(
            Diagnostic::error(
                "key::read",
                format!("cannot read the key file `{shown}`: {error}"),
            )
            .help("give an ASCII-armored key, as `singularity key export --armor` writes it"),
        )
    })?;
    let bad_key = |error: KeyError, help: String| {
        Box::new(Diagnostic::error("key::invalid", format!("`{shown}`: {error}")).help(help))
    };
    match SecretKey::from_armored(&text, passphrase.unwrap_or_default()) {
        Ok(secret) => Ok(secret.public_key()),
        Err(KeyError::PublicKeyGiven { .. }) => {
            let mut keys = PublicKey::all_from_armored(&text)
                .map_err(|error| bad_key(error, "export the key again with `--armor`".into()))?;
            if keys.len() != 1 {
                return Err(Box::new(
                    Diagnostic::error(
                        "key::several",
                        format!("`{shown}` holds {} public keys", keys.len()),
                    )
                    .help("give a file with the one key to push"),
                ));
            }
            Ok(keys.remove(0))
        }
        Err(error @ KeyError::WrongPassphrase { .. }) => {
            let help = match passphrase {
                Some(_) => format!("{passphrase_env} does not hold this key's passphrase"),
                None => format!(
                    "set {passphrase_env} to the key's passphrase (`--passphrase-env` names another variable)"
                ),
            };
            Err(bad_key(error, help))
        }
        Err(error) => Err(bad_key(
            error,
            "push the key you sign with: a public key, or a usable private key".into(),
        )),
    }
}

/// Finds the Sylabs token as `build` does; none is an error (the keystore takes no upload
/// without one).
fn token(settings: &Settings, args: &KeystoreArgs) -> Result<Token, (u8, Diagnostic)> {
    let sources = TokenSources {
        sylabs_auth_token: settings.secrets.get(env::SYLABS_AUTH_TOKEN),
        sylabs_token: settings.secrets.get(env::SYLABS_TOKEN),
        token_file: args
            .token_file
            .as_ref()
            .map(|file| settings.base_dir().join(file)),
        home: settings.var(env::HOME).map(Into::into),
    };
    match scs::resolve_token(&sources) {
        Ok(Some(resolved)) => Ok(resolved.token),
        Ok(None) => Err((
            exit::SERVICE,
            Diagnostic::error("auth::no-token", "no Sylabs access token found").help(
                "the keystore takes keys only with a token: generate one at \
                 https://cloud.sylabs.io/auth/tokens and set it as SYLABS_TOKEN, or pass `--token-file`",
            ),
        )),
        Err(error) => Err((
            exit::BAD_INPUT,
            Diagnostic::error("auth::token", error.to_string()).help(error.help()),
        )),
    }
}

enum Failure {
    Connect(ConnectError),
    Push {
        keystore: String,
        error: ServiceError,
    },
}

async fn push(
    options: &ConnectOptions,
    keystore_url: Option<&str>,
    armored: &str,
) -> Result<KeystoreClient, Failure> {
    let keystore = scs::connect_keystore(options, keystore_url)
        .await
        .map_err(Failure::Connect)?;
    match keystore.push(armored).await {
        Ok(()) => Ok(keystore),
        Err(error) => Err(Failure::Push {
            keystore: keystore.url().to_string(),
            error,
        }),
    }
}

/// The diagnostic for a push the keystore did not take, by why.
fn push_failed(fingerprint: &str, keystore: &str, error: &ServiceError) -> Diagnostic {
    let (message, help) = match &error.kind {
        ServiceErrorKind::Auth | ServiceErrorKind::Forbidden => (
            format!("the keystore {keystore} refused the token: {}", error.detail),
            "generate a new token at https://cloud.sylabs.io/auth/tokens and set it as SYLABS_TOKEN"
                .to_owned(),
        ),
        _ if scs::keystore_unavailable(error) => (
            format!("the keystore {keystore} is unavailable: {}", error.detail),
            "check the network and the keystore's status, then run `sifbake key push` again; \
             nothing was published"
                .to_owned(),
        ),
        _ => (
            format!("the keystore {keystore} did not take key {fingerprint}: {error}"),
            "its message says why; check that the file is the key you sign with".to_owned(),
        ),
    };
    Diagnostic::error("keystore::push", message).help(help)
}

/// An error and its causes in one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}
