//! The matrix's rows for the calls only a signed build makes: with `sign:` a target builds
//! ephemeral, and its job downloads the unsigned image (`GET v1/imagefile/…`, then ranged
//! `GET`s of the presigned URL), signs it and uploads the signed file (entity, collection and
//! container lookups, `POST v2/imagefile/{id}`, the presigned `PUT`, `_complete`) before any
//! tag names it; `keystore: true` pushes the key (`POST /pks/add`) before anything is built.
//!
//! The repository is the matrix's, every target signed by a key made fresh for the row. A
//! transient fault is retried and the run succeeds; a refusal that lasts fails the image
//! with exit 3 and no tag; a keystore refusal stops the run before any build.

use serde_json::Value;

use super::table::{RATE, RESET, RETRIED, S502X3, S503X3, SLOW, SLOW_RETRIED, ok};
use super::{Case, Endpoint, Expect, Fault, Outcome};
use crate::support::TOKEN;
use crate::test_keys::{self, TestKey};

/// Which signed repository a row runs on.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Signing {
    /// `sign: {key: SIGNING_KEY}` on every target.
    Signed,
    /// The same with `keystore: true`.
    WithKeystore,
}

/// The variable the manifest names for the key.
pub const KEY_VAR: &str = "SIGNING_KEY";

/// A key for one row; no passphrase (the unlocking is not what the matrix tests).
pub fn key() -> TestKey {
    test_keys::generate("Matrix Signer <matrix@example.com>", None)
}

/// The manifest's `defaults:` line that signs every target.
pub fn defaults_line(signing: Signing) -> String {
    let keystore = signing == Signing::WithKeystore;
    format!("  sign: {{key: {KEY_VAR}, keystore: {keystore}}}\n")
}

/// The library's own record of `container:tag` (its `signed` included); `None` when the
/// library has no such image.
fn library_record(url: &str, container: &str, tag: &str) -> Option<Value> {
    super::restart::block_on(async {
        let response = super::restart::http_client()
            .get(format!("{url}/v1/images/{container}:{tag}?arch=amd64"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("image record");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        let body: Value = response.json().await.expect("json");
        Some(body["data"].clone())
    })
}

/// Checks what only a signed row shows: every image a tag names in the targets' containers
/// is a signed upload (the builder's unsigned output is never tagged there), each built image
/// reports the row's key, and the library served one download per signed image.
pub fn check(
    expect: &Expect,
    result: Option<&Value>,
    url: &str,
    key: &TestKey,
    counters: &scs_emulator::Counters,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut built = 0;
    for target in ["base", "app"] {
        let container = format!("acme/matrix/{target}");
        let image = result.map(|result| super::image_of(result, target));
        let mut tags = vec!["main".to_owned(), "latest".to_owned()];
        if let Some(digest_tag) = image.and_then(|image| image["digest_tag"].as_str()) {
            tags.push(digest_tag.to_owned());
        }
        for tag in &tags {
            if let Some(record) = library_record(url, &container, tag)
                && record["signed"] != true
            {
                problems.push(format!(
                    "{container}:{tag} names an unsigned image: {record}"
                ));
            }
        }
        if let Some(image) = image
            && image["status"] == "built"
        {
            built += 1;
            if image["image"]["signed_by"] != key.fingerprint.as_str() {
                problems.push(format!(
                    "{target} is not reported signed by the row's key: {image}"
                ));
            }
        }
    }
    let signed = match expect.outcome {
        Outcome::BothBuilt => 2,
        Outcome::AppTimedOut => 1,
        Outcome::BaseFailed | Outcome::NothingBuilt => 0,
    };
    if built != signed {
        problems.push(format!(
            "{built} images built and signed (expected {signed})"
        ));
    }
    if counters.images_uploaded != signed {
        problems.push(format!(
            "{} images uploaded (expected {signed} signed uploads)",
            counters.images_uploaded
        ));
    }
    problems
}

const fn signed(id: &'static str, endpoint: Endpoint, fault: Fault, expect: Expect) -> Case {
    Case {
        id,
        endpoint,
        fault,
        scenario: super::Scenario::Signed(Signing::Signed),
        expect,
    }
}

/// A signed build's call refused for good: `base` is built but never tagged.
const fn refused(note: &'static str) -> Expect {
    Expect {
        exit: 3,
        outcome: Outcome::BaseFailed,
        submitted: 1,
        cancelled: 0,
        note,
    }
}

const FORBIDDEN: Fault = Fault::Refused { status: 403 };
const REFUSED_NOTE: &str =
    "a refusal is not retried: `base` fails after its build, no tag; `app` is skipped";
const REUPLOADED: &str =
    "retried from `POST v2/imagefile`: a fresh upload URL, the file sent again";

/// The signed rows.
pub const CASES: &[Case] = &[
    signed(
        "sign-download-503x3",
        Endpoint::SignDownload,
        S503X3,
        ok(RETRIED),
    ),
    signed(
        "sign-download-429",
        Endpoint::SignDownload,
        RATE,
        ok(RETRIED),
    ),
    signed(
        "sign-download-reset",
        Endpoint::SignDownload,
        RESET,
        ok(RETRIED),
    ),
    signed(
        "sign-download-403",
        Endpoint::SignDownload,
        FORBIDDEN,
        refused(REFUSED_NOTE),
    ),
    signed(
        "sign-range-503x3",
        Endpoint::SignDownloadRange,
        S503X3,
        ok(RETRIED),
    ),
    signed(
        "sign-range-reset",
        Endpoint::SignDownloadRange,
        RESET,
        ok(RETRIED),
    ),
    signed(
        "sign-range-403",
        Endpoint::SignDownloadRange,
        FORBIDDEN,
        refused(REFUSED_NOTE),
    ),
    signed(
        "sign-entity-503x3",
        Endpoint::EntityLookup,
        S503X3,
        ok(RETRIED),
    ),
    signed(
        "sign-collection-429",
        Endpoint::CollectionLookup,
        RATE,
        ok(RETRIED),
    ),
    signed(
        "sign-container-reset",
        Endpoint::ContainerLookup,
        RESET,
        ok(RETRIED),
    ),
    signed(
        "sign-upload-start-503x3",
        Endpoint::SignedUploadStart,
        S503X3,
        ok(RETRIED),
    ),
    signed(
        "sign-upload-start-429",
        Endpoint::SignedUploadStart,
        RATE,
        ok(RETRIED),
    ),
    signed(
        "sign-upload-start-403",
        Endpoint::SignedUploadStart,
        FORBIDDEN,
        refused(REFUSED_NOTE),
    ),
    signed(
        "sign-upload-put-502x3",
        Endpoint::SignedUploadPut,
        S502X3,
        ok(REUPLOADED),
    ),
    signed(
        "sign-upload-put-reset",
        Endpoint::SignedUploadPut,
        Fault::Reset { after_bytes: 64 },
        ok(REUPLOADED),
    ),
    signed(
        "sign-upload-put-403",
        Endpoint::SignedUploadPut,
        FORBIDDEN,
        refused(REFUSED_NOTE),
    ),
    signed(
        "sign-complete-503x3",
        Endpoint::SignedUploadComplete,
        S503X3,
        ok(RETRIED),
    ),
    signed(
        "sign-complete-latency",
        Endpoint::SignedUploadComplete,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    signed(
        "sign-complete-403",
        Endpoint::SignedUploadComplete,
        FORBIDDEN,
        refused(REFUSED_NOTE),
    ),
    Case {
        id: "keystore-503x3",
        endpoint: Endpoint::KeystoreAdd,
        fault: S503X3,
        scenario: super::Scenario::Signed(Signing::WithKeystore),
        expect: ok(RETRIED),
    },
    Case {
        id: "keystore-403",
        endpoint: Endpoint::KeystoreAdd,
        fault: FORBIDDEN,
        scenario: super::Scenario::Signed(Signing::WithKeystore),
        expect: Expect {
            exit: 3,
            outcome: Outcome::NothingBuilt,
            submitted: 0,
            cancelled: 0,
            note: "the run stops before any build: a signature nobody can fetch the key of is not published",
        },
    },
];
