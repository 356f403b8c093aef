//! `sifbake verify FILE.sif... --key PUB.asc...`: check local images' signatures as
//! `singularity verify` does: every object group signed, every signature by a known key and
//! over the image as it is now.
//!
//! The work is in [`verify_images`], which takes the images and a key source: `--key` files
//! are one source; a keystore fetching by fingerprint, or the images the current ref's tags
//! name, plug in there without changing how results are reported.

pub mod keyring;
mod remote;

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sifbake_sif::format::FormatError;
use sifbake_sif::integrity::{self, KeySource, VerifyError};
use sifbake_sif::keys::PublicKey;

use super::Output;
use crate::cli::{Format, VerifyArgs, VerifyKeys};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::settings::Settings;

/// An image that does not verify: missing, unknown-key or broken signature, changed object.
pub const NOT_VERIFIED: u8 = 1;

/// What `verify --format json` prints per image.
#[derive(Serialize)]
struct ImageJson {
    file: String,
    verified: bool,
    /// The fingerprints whose signatures verified.
    signers: Vec<String>,
    /// Why it did not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The signer key to fetch, when the image is signed by a key not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    missing_key: Option<String>,
}

/// Runs `sifbake verify`.
pub fn run(settings: &Settings, args: &VerifyArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let mut keys = match read_keys(settings, &args.keys, out)? {
        Ok(keys) => keys,
        Err(code) => return Ok(code),
    };
    if args.images.is_empty() || args.keys.keystore {
        return remote::run(settings, args, keys, out);
    }
    let images: Vec<ImageFile> = args
        .images
        .iter()
        .map(|image| ImageFile {
            label: image.display().to_string(),
            path: settings.base_dir().join(image),
        })
        .collect();
    verify_images(&images, &mut keys, args.format, out)
}

/// Reads every `--key` file; with neither `--key` nor `--keystore` there is nothing to
/// trust, which is bad input (exit 2) rather than a verification failure.
pub fn read_keys(
    settings: &Settings,
    args: &VerifyKeys,
    out: &mut Output<'_>,
) -> io::Result<Result<Vec<PublicKey>, u8>> {
    if args.keys.is_empty() && !args.keystore {
        out.diagnostics(&[Diagnostic::error(
            "verify::no-key",
            "no public key to verify with",
        )
        .help("pass the signer's public key with `--key PUB.asc`, or `--keystore` to fetch it by the fingerprint in the signature")])?;
        return Ok(Err(exit::BAD_INPUT));
    }
    let mut keys = Vec::new();
    for file in &args.keys {
        match read_public_keys(&settings.base_dir().join(file)) {
            Ok(mut more) => keys.append(&mut more),
            Err(diagnostic) => {
                out.diagnostics(&[*diagnostic])?;
                return Ok(Err(exit::BAD_INPUT));
            }
        }
    }
    Ok(Ok(keys))
}

/// An image to verify: where it is, and how reports name it (as the user gave it, or the
/// target it was pulled for).
#[derive(Debug, Clone)]
pub struct ImageFile {
    pub label: String,
    pub path: PathBuf,
}

/// Reads every public key of an armored file (a private key gives its public part).
pub fn read_public_keys(path: &Path) -> Result<Vec<PublicKey>, Box<Diagnostic>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|error| {
        Box::new(
            Diagnostic::error(
                "verify::key-read",
                format!("cannot read the key file `{shown}`: {error}"),
            )
            .help("give the signer's ASCII-armored public key (`singularity key export --armor`)"),
        )
    })?;
    PublicKey::all_from_armored(&text).map_err(|error| {
        Box::new(
            Diagnostic::error("verify::key", format!("`{shown}`: {error}")).help(
                "give the signer's ASCII-armored public key (`singularity key export --armor`)",
            ),
        )
    })
}

/// Verifies each image with keys from `keys`, reporting each; the exit code is `SUCCESS`
/// when all verify, [`NOT_VERIFIED`] when one does not, `BAD_INPUT` when one is not a SIF
/// at all (or cannot be read).
pub fn verify_images(
    images: &[ImageFile],
    keys: &mut dyn KeySource,
    format: Format,
    out: &mut Output<'_>,
) -> io::Result<u8> {
    let mut code = exit::SUCCESS;
    let mut reports = Vec::with_capacity(images.len());
    for image in images {
        let shown = image.label.clone();
        match integrity::verify_file(&image.path, keys) {
            Ok(signatures) => {
                let signers: Vec<String> = signatures.into_iter().map(|s| s.fingerprint).collect();
                if matches!(format, Format::Text) {
                    writeln!(
                        out.stdout,
                        "{shown}: verified, signed by {}",
                        signers.join(", ")
                    )?;
                }
                reports.push(ImageJson {
                    file: shown,
                    verified: true,
                    signers,
                    error: None,
                    missing_key: None,
                });
            }
            Err(error) => {
                let (image_code, help) = failure(&error);
                code = code.max(image_code);
                out.diagnostics(&[Diagnostic::error(
                    "verify::failed",
                    format!("`{shown}` does not verify: {error}"),
                )
                .help(help)])?;
                reports.push(ImageJson {
                    file: shown,
                    verified: false,
                    signers: Vec::new(),
                    error: Some(error.to_string()),
                    missing_key: match error {
                        VerifyError::UnknownSigner { fingerprint } => Some(fingerprint),
                        _ => None,
                    },
                });
            }
        }
    }
    if matches!(format, Format::Json) {
        out.json(&reports)?;
    }
    Ok(code)
}

/// The exit code and advice for an image that did not verify.
fn failure(error: &VerifyError) -> (u8, &'static str) {
    match error {
        VerifyError::Format(FormatError::NotSif) | VerifyError::Io(_) => (
            exit::BAD_INPUT,
            "give SIF images, as `singularity build` or `sifbake pull` writes them",
        ),
        VerifyError::Format(FormatError::Io(_)) => {
            (exit::BAD_INPUT, "check that the file is readable")
        }
        VerifyError::NoSignature { .. } | VerifyError::NoGroups => (
            NOT_VERIFIED,
            "sign it with `sifbake sign` (or `singularity sign`), or pull the signed image",
        ),
        VerifyError::UnknownSigner { .. } | VerifyError::KeySource { .. } => {
            (NOT_VERIFIED, "pass the signer's public key with --key")
        }
        VerifyError::RevokedKey { .. } => (
            NOT_VERIFIED,
            "the signer revoked this key: do not trust the image",
        ),
        _ => (
            NOT_VERIFIED,
            "the image was changed or damaged after it was signed: do not use it; pull it again",
        ),
    }
}
