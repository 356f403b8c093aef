//! Signed targets: the builder's output stays ephemeral, the job signs and uploads it, and
//! only the signed image is ever tagged or pinned; any failure on the way tags nothing.

use std::sync::Arc;

use sifbake_sif::integrity;
use sifbake_sif::keys::{PublicKey, SecretKey};

use super::fake::{Fake, Script};
use super::{ARCH, jobs, options, run};
use crate::exec::events::{FailReason, Outcome};
use crate::exec::options::ExecOptions;
use crate::exec::sign::Signer;

use crate::scs::keystore_tests::test_keys;

/// Options signing `targets` with a fresh key, scratch in `scratch`; the public key too.
fn signing(targets: &[&str], scratch: &std::path::Path) -> (ExecOptions, PublicKey) {
    let key = test_keys::generate("Exec <exec@example.org>", Some("pass"));
    let secret = SecretKey::from_armored(&key.secret, "pass").expect("the test key unlocks");
    let public = secret.public_key();
    let signer = Arc::new(Signer::new(secret));
    let mut options = options(2);
    options.scratch = scratch.to_path_buf();
    for target in targets {
        options
            .signers
            .insert((*target).to_owned(), Arc::clone(&signer));
    }
    (options, public)
}

#[tokio::test(start_paused = true)]
async fn the_signed_upload_is_what_gets_tagged_and_pinned() {
    let scratch = tempfile::tempdir().unwrap();
    let (options, public) = signing(&["base"], scratch.path());
    let fake = Fake::new(&[]);
    let run = run(jobs(&[("base", &[]), ("app", &["base"])]), &fake, &options).await;

    assert!(run.summary.all_succeeded(), "{:?}", run.summary);
    let state = fake.state();
    let base = state.builds_of("base")[0];
    assert_eq!(
        base.request.library_ref, None,
        "the unsigned output is ephemeral"
    );
    assert_eq!(state.image_uploads.len(), 1);
    let (container, arch, bytes) = &state.image_uploads[0];
    assert_eq!(
        (container.as_str(), arch.as_str()),
        ("acme/tools/base", ARCH)
    );
    let uploaded = scratch.path().join("uploaded.sif");
    std::fs::write(&uploaded, bytes).unwrap();
    let signers = integrity::verify_file(&uploaded, &mut vec![public.clone()]).expect("verifies");
    assert_eq!(signers[0].fingerprint, public.fingerprint());

    let Outcome::Built { image, tags, .. } = run.outcome("base") else {
        panic!("{:?}", run.outcome("base"));
    };
    assert_eq!(
        image.signed_by.as_deref(),
        Some(public.fingerprint().as_str())
    );
    assert!(!tags.is_empty());
    let signed_hash = image.hash.clone().expect("a hash");
    assert_ne!(
        signed_hash, base.hash,
        "the tags name the signed file, not the build"
    );
    let base_tags: Vec<_> = state
        .tag_calls
        .iter()
        .filter(|c| c.container == "base")
        .collect();
    assert_eq!(base_tags.len(), tags.len());
    assert!(base_tags.iter().all(|c| c.hash == signed_hash));
    assert!(state.position("upload-image base") < state.position("tags base"));

    // The dependent builds on the signed image; it is not signed itself.
    let app = state.builds_of("app")[0];
    assert!(
        app.request
            .definition
            .contains(&format!("\nFrom: acme/tools/base:{signed_hash}\n")),
        "{}",
        app.request.definition
    );
    assert!(app.request.library_ref.is_some());
    assert_eq!(run.outcome("app").image().unwrap().signed_by, None);
    // Nothing of the signing is left in the scratch directory.
    let left: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "uploaded.sif")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(start_paused = true)]
async fn an_image_that_cannot_be_signed_or_uploaded_gets_no_tag() {
    for (script, kind) in [
        (
            Script {
                corrupt_image: true,
                ..Script::default()
            },
            "signing",
        ),
        (
            Script {
                refuse_upload: true,
                ..Script::default()
            },
            "signed-upload",
        ),
        (
            Script {
                download_mismatch: true,
                ..Script::default()
            },
            "sign-download",
        ),
    ] {
        let scratch = tempfile::tempdir().unwrap();
        let (options, _) = signing(&["base"], scratch.path());
        let fake = Fake::new(&[("base", script)]);
        let run = run(jobs(&[("base", &[])]), &fake, &options).await;

        let outcome = run.outcome("base");
        let reason = match outcome {
            Outcome::Failed { reason } => reason,
            other => panic!("{kind}: {other:?}"),
        };
        match (kind, reason) {
            ("signing", FailReason::Signing { image, .. }) => {
                assert!(image.contains("alice/remote-builds/"), "{image}");
            }
            ("signed-upload", FailReason::SignedUpload { container, .. }) => {
                assert_eq!(container, "acme/tools/base");
            }
            ("sign-download", FailReason::SignDownload { image, error }) => {
                assert!(image.contains("alice/remote-builds/"), "{image}");
                assert!(error.contains("SHA-256"), "{error}");
            }
            _ => panic!("{kind}: {reason:?}"),
        }
        let state = fake.state();
        assert!(state.tag_calls.is_empty(), "{kind}: {:?}", state.tag_calls);
        if kind != "signed-upload" {
            assert!(state.image_uploads.is_empty(), "{kind}");
        }
        let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
        assert!(left.is_empty(), "{kind}: {left:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_ephemeral_job_of_a_signed_target_is_not_signed() {
    let scratch = tempfile::tempdir().unwrap();
    let (options, _) = signing(&["base"], scratch.path());
    let mut jobs = jobs(&[("base", &[])]);
    jobs[0].publish = false;
    jobs[0].tags.clear();
    let fake = Fake::new(&[]);
    let run = run(jobs, &fake, &options).await;

    assert!(run.summary.all_succeeded(), "{:?}", run.summary);
    let state = fake.state();
    assert!(state.image_uploads.is_empty());
    assert!(!state.calls.iter().any(|c| c.starts_with("download")));
    assert_eq!(run.outcome("base").image().unwrap().signed_by, None);
}
