//! Signed targets: the builder's output stays ephemeral, the job signs and uploads it, and
//! only the signed image is ever tagged or pinned; any failure on the way tags nothing.

use std::sync::Arc;

use sifbake_sif::integrity;
use sifbake_sif::keys::{PublicKey, SecretKey};

use super::fake::{Fake, Foreign, Script, foreign_image};
use super::{ARCH, jobs, options, run};
use crate::exec::events::{FailReason, Outcome};
use crate::exec::job::JobAction;
use crate::exec::options::ExecOptions;
use crate::exec::sign::Signer;

use crate::scs::Image;
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

/// A signed target's image the library already holds, signed by `fingerprints`.
fn signed_image(fingerprints: &[&str]) -> Image {
    Image {
        signed: Some(true),
        fingerprints: fingerprints.iter().map(|f| (*f).to_owned()).collect(),
        ..super::existing_image()
    }
}

#[tokio::test(start_paused = true)]
async fn a_retagged_signed_image_names_its_signer_from_the_library() {
    let scratch = tempfile::tempdir().unwrap();
    let (options, public) = signing(&["base"], scratch.path());
    let ours = public.fingerprint();
    let stranger = "0123456789ABCDEF0123456789ABCDEF01234567";
    for (fingerprints, expected) in [
        // The run's own key is named even when the library lists another first.
        (vec![stranger, ours.as_str()], Some(ours.as_str())),
        // A key rotated since: the library's first signer, for `sifbake verify` to judge.
        (vec![stranger], Some(stranger)),
        (vec![], None),
    ] {
        let mut jobs = jobs(&[("base", &[]), ("app", &[])]);
        for job in &mut jobs {
            job.action = JobAction::Retag {
                image: signed_image(&fingerprints),
            };
        }
        let fake = Fake::new(&[]);
        let run = run(jobs, &fake, &options).await;

        assert!(run.summary.all_succeeded(), "{:?}", run.summary);
        let Outcome::Retagged { image, tags } = run.outcome("base") else {
            panic!("{:?}", run.outcome("base"));
        };
        assert!(!tags.is_empty());
        assert_eq!(image.signed_by.as_deref(), expected, "{fingerprints:?}");
        // `app` is not signed: whatever the library says, the run claims no signer for it.
        assert_eq!(run.outcome("app").image().unwrap().signed_by, None);
        let state = fake.state();
        assert!(state.image_uploads.is_empty() && state.builds.is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn another_runs_signed_image_is_adopted_with_its_signer() {
    let scratch = tempfile::tempdir().unwrap();
    let (options, public) = signing(&["base"], scratch.path());
    let fake = Fake::new(&[(
        "base",
        Script {
            foreign: Some(Foreign::BeforeSubmit),
            foreign_signers: Some(vec![public.fingerprint()]),
            ..Script::default()
        },
    )]);
    let mut jobs = jobs(&[("base", &[])]);
    jobs[0].adopt = true;
    let run = run(jobs, &fake, &options).await;

    let Outcome::Retagged { image, .. } = run.outcome("base") else {
        panic!("{:?}", run.outcome("base"));
    };
    assert_eq!(image.hash, Some(foreign_image("base").hash));
    assert_eq!(
        image.signed_by.as_deref(),
        Some(public.fingerprint().as_str())
    );
    assert!(fake.state().builds_of("base").is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unsigned_image_under_a_signed_targets_digest_tag_is_not_adopted() {
    for when in [Foreign::BeforeSubmit, Foreign::AfterBuild] {
        let scratch = tempfile::tempdir().unwrap();
        let (options, public) = signing(&["base"], scratch.path());
        let fake = Fake::new(&[(
            "base",
            Script {
                foreign: Some(when),
                foreign_signers: Some(Vec::new()),
                ..Script::default()
            },
        )]);
        let mut jobs = jobs(&[("base", &[])]);
        jobs[0].adopt = true;
        let run = run(jobs, &fake, &options).await;

        // Built, signed and uploaded; every tag, the digest tag included, names the signed
        // upload, never the unsigned image.
        let Outcome::Built { image, tags, .. } = run.outcome("base") else {
            panic!("{when:?}: {:?}", run.outcome("base"));
        };
        assert_eq!(
            image.signed_by.as_deref(),
            Some(public.fingerprint().as_str())
        );
        let signed_hash = image.hash.clone().expect("a hash");
        assert_ne!(signed_hash, foreign_image("base").hash);
        let state = fake.state();
        assert_eq!(state.builds_of("base").len(), 1, "{when:?}");
        assert_eq!(state.image_uploads.len(), 1, "{when:?}");
        assert!(tags.iter().any(|tag| tag.starts_with("inputs-")));
        assert_eq!(state.tag_calls.len(), tags.len());
        assert!(state.tag_calls.iter().all(|c| c.hash == signed_hash));
    }
}
