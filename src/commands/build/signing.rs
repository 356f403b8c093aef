//! `sign:` for `sifbake build`: the signing keys of the run's targets, read from the
//! environment variables the manifest names and unlocked before anything is submitted.
//!
//! A key that cannot sign (a variable unset, a wrong passphrase, a public key, an expired,
//! revoked or sign-incapable key) is bad input found before the first request: the run
//! stops with exit 2 naming the target and the variable, and nothing is built. Each key is
//! loaded once however many targets name it. Only runs that publish sign: an ephemeral run
//! (a pull request) tags nothing, so its targets need no key, which keeps runs from forks,
//! which get no secrets, working.

use std::collections::HashMap;
use std::sync::Arc;

use sifbake_sif::keys::{KeyError, PublicKey, SecretKey};

use crate::diagnostic::Diagnostic;
use crate::exec::Signer;
use crate::manifest::{Publish, SignSpec};
use crate::plan::{Action, Plan};
use crate::project::Project;

/// The run's signing keys.
#[derive(Debug, Default)]
pub struct Signing {
    /// The key of each signed target, by target name.
    pub signers: HashMap<String, Arc<Signer>>,
    /// Every key text and passphrase read: masked in every log and report.
    pub secrets: Vec<String>,
    /// The public keys to push to the keystore before building, one per key.
    pub keystore_keys: Vec<PublicKey>,
}

/// Reads a variable; `None` when it is unset or empty (an unset CI secret is often empty).
pub type ReadVar<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Loads the keys of the plan's signed targets (those it builds or retags), when the run
/// publishes; the diagnostics name each target and variable that failed.
pub fn load(
    project: &Project,
    plan: &Plan,
    publish: Publish,
    read: ReadVar<'_>,
) -> Result<Signing, Vec<Diagnostic>> {
    let mut signing = Signing::default();
    if publish != Publish::Push {
        return Ok(signing);
    }
    let mut loaded: HashMap<(String, Option<String>), Arc<Signer>> = HashMap::new();
    let mut diagnostics = Vec::new();
    for planned in plan.targets.iter().filter(|t| t.action != Action::Skip) {
        let Some(spec) = project
            .manifest
            .target(&planned.name)
            .and_then(|t| t.sign.as_ref())
        else {
            continue;
        };
        let pair = (spec.key_env.clone(), spec.passphrase_env.clone());
        if let Some(signer) = loaded.get(&pair) {
            signing
                .signers
                .insert(planned.name.clone(), Arc::clone(signer));
            continue;
        }
        match load_one(&planned.name, spec, read, &mut signing.secrets) {
            Ok(key) => {
                let signer = Arc::new(Signer::new(key));
                loaded.insert(pair, Arc::clone(&signer));
                signing.signers.insert(planned.name.clone(), signer);
            }
            Err(diagnostic) => diagnostics.push(*diagnostic),
        }
    }
    // Each key once, whichever of its targets asked for the keystore.
    for planned in &plan.targets {
        let wants = project
            .manifest
            .target(&planned.name)
            .and_then(|t| t.sign.as_ref())
            .is_some_and(|s| s.keystore);
        if let (true, Some(signer)) = (wants, signing.signers.get(&planned.name))
            && !signing
                .keystore_keys
                .iter()
                .any(|k| k.fingerprint() == signer.fingerprint())
        {
            signing.keystore_keys.push(signer.key().public_key());
        }
    }
    if diagnostics.is_empty() {
        Ok(signing)
    } else {
        Err(diagnostics)
    }
}

fn load_one(
    target: &str,
    spec: &SignSpec,
    read: ReadVar<'_>,
    secrets: &mut Vec<String>,
) -> Result<SecretKey, Box<Diagnostic>> {
    let key_env = &spec.key_env;
    let Some(armored) = read(key_env) else {
        return Err(Box::new(
            Diagnostic::error(
                "sign::no-key",
                format!("target `{target}` is signed, but {key_env} is not set"),
            )
            .help(format!(
                "set {key_env} to the ASCII-armored private key (`singularity key export --secret --armor`), from a CI secret; nothing was built"
            )),
        ));
    };
    secrets.push(armored.clone());
    let armored = key_text(armored, secrets);
    let passphrase = match &spec.passphrase_env {
        Some(name) => match read(name) {
            Some(value) => {
                secrets.push(value.clone());
                Some(value)
            }
            None => {
                return Err(Box::new(
                    Diagnostic::error(
                        "sign::no-passphrase",
                        format!("target `{target}` is signed, but {name} is not set"),
                    )
                    .help(format!(
                        "set {name} to the passphrase of the key in {key_env}, from a CI secret; nothing was built"
                    )),
                ));
            }
        },
        None => None,
    };
    SecretKey::from_armored(&armored, passphrase.as_deref().unwrap_or_default()).map_err(|error| {
        let help = match (&error, &spec.passphrase_env) {
            (KeyError::WrongPassphrase { .. }, Some(name)) => {
                format!("set {name} to the passphrase of the key in {key_env}")
            }
            (KeyError::WrongPassphrase { .. }, None) => format!(
                "the key in {key_env} has a passphrase: name its variable with `sign: {{key: {key_env}, passphrase: NAME}}`"
            ),
            (KeyError::PublicKeyGiven { .. }, _) => format!(
                "{key_env} holds a public key; set it to the private key (`singularity key export --secret --armor`)"
            ),
            _ => format!("set {key_env} to a valid signing key (`singularity key newpair` makes one)"),
        };
        Box::new(
            Diagnostic::error(
                "sign::key",
                format!("cannot sign target `{target}` with the key in {key_env}: {error}"),
            )
            .help(format!("{help}; nothing was built")),
        )
    })
}

/// Returns the armored key a key variable stands for. CI systems cannot always hold an
/// armored key as it is: GitLab masks only one-line values and its `File` variables hold a
/// path. So a value that is not armored text is read as a file path, then as base64 of the
/// armored key (`base64 -w0 key.asc`); the text found is masked too. Anything else is passed
/// on as it was, and the key loader says what is wrong with it.
fn key_text(value: String, secrets: &mut Vec<String>) -> String {
    const ARMOR: &str = "-----BEGIN PGP";
    if value.contains(ARMOR) {
        return value;
    }
    let from_file = std::fs::read_to_string(value.trim())
        .ok()
        .filter(|text| text.contains(ARMOR));
    let from_base64 = || {
        use base64::Engine as _;
        let compact: String = value.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|text| text.contains(ARMOR))
    };
    match from_file.or_else(from_base64) {
        Some(text) => {
            secrets.push(text.clone());
            text
        }
        None => value,
    }
}

/// Reads a variable from the process environment, an empty value counting as unset.
pub fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Pushes each key to the keystore the remote's discovery names, before anything is
/// built: a signature whose key nobody can fetch is of little use. A keystore that is down
/// or refuses is a service failure (exit 3) with nothing built; `sifbake key push` can
/// publish the key later, but a run that asked for it does not go on silently without it.
pub async fn push_keys(
    services: &super::super::services::Services,
    keys: &[PublicKey],
) -> Result<Vec<String>, Diagnostic> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keystore = crate::scs::connect_keystore(&services.connect_options, None)
        .await
        .map_err(|error| {
            Diagnostic::error(
                "keystore::connect",
                format!("cannot find the keystore to push the signing key to: {error}"),
            )
            .help(format!("{}; nothing was built", error.help()))
        })?;
    let mut pushed = Vec::with_capacity(keys.len());
    for key in keys {
        let fingerprint = key.fingerprint();
        keystore.push(&key.to_armored()).await.map_err(|error| {
            let why = if crate::scs::keystore_unavailable(&error) {
                "check the network and the keystore's status, then run again"
            } else {
                "check the token's access to the keystore, or set `keystore: false` and push the key with `sifbake key push`"
            };
            Diagnostic::error(
                "keystore::push",
                format!(
                    "the keystore {} did not take signing key {fingerprint}: {error}",
                    keystore.url()
                ),
            )
            .help(format!("{why}; nothing was built"))
        })?;
        pushed.push(format!(
            "pushed signing key {fingerprint} to the keystore {}",
            keystore.url()
        ));
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    use super::key_text;

    const ARMORED: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxcLYBGd...\n-----END PGP PRIVATE KEY BLOCK-----\n";

    #[test]
    fn armored_text_is_taken_as_it_is() {
        let mut secrets = Vec::new();
        assert_eq!(key_text(ARMORED.to_owned(), &mut secrets), ARMORED);
        assert!(secrets.is_empty());
    }

    #[test]
    fn a_path_is_read_and_its_text_masked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.asc");
        std::fs::write(&path, ARMORED).unwrap();
        let mut secrets = Vec::new();
        let text = key_text(path.display().to_string(), &mut secrets);
        assert_eq!(text, ARMORED);
        assert_eq!(secrets, [ARMORED]);
    }

    #[test]
    fn base64_of_the_key_is_decoded_and_masked() {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(ARMORED);
        // `base64` without -w0 wraps its output; the wrapped form works too.
        let wrapped = format!("{}\n{}", &encoded[..40], &encoded[40..]);
        for value in [encoded, wrapped] {
            let mut secrets = Vec::new();
            assert_eq!(key_text(value, &mut secrets), ARMORED);
            assert_eq!(secrets, [ARMORED]);
        }
    }

    #[test]
    fn anything_else_reaches_the_key_loader_unchanged() {
        let mut secrets = Vec::new();
        for value in ["not a key", "bm90IGEga2V5", "/no/such/file.asc"] {
            assert_eq!(key_text(value.to_owned(), &mut secrets), value);
        }
        assert!(secrets.is_empty());
    }
}
