//! `sifbake sign FILE.sif --key KEY.asc`: sign a local SIF in place exactly as `singularity
//! sign` does (one signature object per object group, sif/v2 `integrity` format).
//!
//! Atomic: the key is unlocked and checked, the image read and every digest and signature
//! computed before the file is opened for writing; the write itself (the signature after the
//! last object, one descriptor slot, the header) restores the overwritten bytes and the old
//! length if it fails. Appending beats a temporary copy and rename: the copy would cost a
//! full rewrite of a GiB-sized image (BENCHMARKS.md, "Signing").

use std::io;
use std::path::Path;

use serde::Serialize;
use sifbake_sif::format::FormatError;
use sifbake_sif::integrity::{self, SignError, Signed};
use sifbake_sif::keys::{KeyError, SecretKey};

use super::Output;
use crate::cli::{Format, SignArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::settings::Settings;

/// The variable `--passphrase-env` names by default.
pub const DEFAULT_PASSPHRASE_ENV: &str = "SIFBAKE_SIGN_PASSPHRASE";

/// What `sign --format json` prints.
#[derive(Serialize)]
struct SignedJson<'a> {
    file: String,
    fingerprint: &'a str,
    /// One per object group: the group and the new signature object's id.
    signatures: Vec<SignatureJson>,
}

#[derive(Serialize)]
struct SignatureJson {
    group: u32,
    object: u32,
}

/// Runs `sifbake sign`.
pub fn run(settings: &Settings, args: &SignArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let passphrase = std::env::var(&args.passphrase_env).ok();
    let key_path = settings.base_dir().join(&args.key);
    let key = match load_signing_key(&key_path, &args.passphrase_env, passphrase.as_deref()) {
        Ok(key) => key,
        Err(diagnostic) => {
            out.diagnostics(&[*diagnostic])?;
            return Ok(exit::BAD_INPUT);
        }
    };
    let image = settings.base_dir().join(&args.image);
    let signed = match sign_image(&image, &key) {
        Ok(signed) => signed,
        Err((code, diagnostic)) => {
            out.diagnostics(&[*diagnostic])?;
            return Ok(code);
        }
    };
    match args.format {
        Format::Text => {
            let objects: Vec<String> = signed
                .signatures
                .iter()
                .map(|(group, object)| format!("object {object} for group {group}"))
                .collect();
            writeln!(
                out.stdout,
                "signed {} with key {} (signature {})",
                args.image.display(),
                signed.fingerprint,
                objects.join(", ")
            )?;
        }
        Format::Json => out.json(&SignedJson {
            file: args.image.display().to_string(),
            fingerprint: &signed.fingerprint,
            signatures: signed
                .signatures
                .iter()
                .map(|&(group, object)| SignatureJson { group, object })
                .collect(),
        })?,
    }
    Ok(exit::SUCCESS)
}

/// Reads and unlocks the private key at `path` for signing; `passphrase_env` is the
/// variable the passphrase came from (`None`: unset), named in the help of a wrong one.
pub fn load_signing_key(
    path: &Path,
    passphrase_env: &str,
    passphrase: Option<&str>,
) -> Result<SecretKey, Box<Diagnostic>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|error| {
        Box::new(
            Diagnostic::error(
                "sign::key-read",
                format!("cannot read the signing key `{shown}`: {error}"),
            )
            .help("give the ASCII-armored private key, as `singularity key export --secret --armor` writes it"),
        )
    })?;
    SecretKey::from_armored(&text, passphrase.unwrap_or_default()).map_err(|error| {
        let help = match (&error, passphrase) {
            (KeyError::WrongPassphrase { .. }, Some(_)) => {
                format!("{passphrase_env} does not hold this key's passphrase")
            }
            (KeyError::WrongPassphrase { .. }, None) => format!(
                "set {passphrase_env} to the key's passphrase (`--passphrase-env` names another variable)"
            ),
            (KeyError::PublicKeyGiven { .. }, _) => {
                "signing needs the private key; keep it in a CI secret and write it to a file".into()
            }
            _ => "sign with a valid key: `singularity key newpair` makes one".into(),
        };
        Box::new(Diagnostic::error("sign::key", format!("`{shown}`: {error}")).help(help))
    })
}

/// Signs the image at `path` in place with `key`; on failure the file is as it was. The
/// error carries the exit code: `BAD_INPUT` for an image that cannot be signed, `OUTPUT`
/// when writing it failed.
pub fn sign_image(path: &Path, key: &SecretKey) -> Result<Signed, (u8, Box<Diagnostic>)> {
    let shown = path.display();
    integrity::sign_file(path, key).map_err(|error| {
        let (code, help) = match &error {
            SignError::Io(_) | SignError::Format(FormatError::Io(_)) => (
                exit::OUTPUT,
                "the file is unchanged; check that it exists and is writable, and the free space",
            ),
            SignError::Format(FormatError::NoFreeDescriptor(_)) => (
                exit::BAD_INPUT,
                "every descriptor slot is used; the image cannot take a signature",
            ),
            SignError::Format(_) | SignError::NoGroups => (
                exit::BAD_INPUT,
                "give a SIF image, as `singularity build` writes it",
            ),
            SignError::OpenPgp(_) => (exit::BAD_INPUT, "the file is unchanged; check the key"),
        };
        (
            code,
            Box::new(
                Diagnostic::error("sign::image", format!("cannot sign `{shown}`: {error}"))
                    .help(help),
            ),
        )
    })
}
