//! Two runs of one commit converge on one image: an image with the same inputs that
//! another run finished stands in for this run's build.

use super::fake::{Fake, Foreign, Script, foreign_image};
use super::{jobs, options, run};
use crate::exec::events::Outcome;

fn adopting(names: &[(&str, &[&str])]) -> Vec<crate::exec::job::Job> {
    let mut jobs = jobs(names);
    for job in &mut jobs {
        job.adopt = true;
    }
    jobs
}

fn foreign(when: Foreign) -> Script {
    Script {
        foreign: Some(when),
        ..Script::default()
    }
}

#[tokio::test(start_paused = true)]
async fn an_image_another_run_finished_meanwhile_is_retagged_not_built() {
    let fake = Fake::new(&[("base", foreign(Foreign::BeforeSubmit))]);
    let run = run(adopting(&[("base", &[])]), &fake, &options(1)).await;

    let outcome = run.outcome("base");
    assert!(matches!(outcome, Outcome::Retagged { .. }), "{outcome:?}");
    let state = fake.state();
    assert!(state.builds_of("base").is_empty(), "nothing is built twice");
    let theirs = foreign_image("base").hash;
    assert!(!state.tag_calls.is_empty());
    assert!(state.tag_calls.iter().all(|call| call.hash == theirs));
}

#[tokio::test(start_paused = true)]
async fn tags_go_to_the_image_the_digest_tag_names_after_the_build() {
    let fake = Fake::new(&[
        ("base", foreign(Foreign::AfterBuild)),
        ("app", Script::default()),
    ]);
    let run = run(
        adopting(&[("base", &[]), ("app", &["base"])]),
        &fake,
        &options(1),
    )
    .await;

    let theirs = foreign_image("base").hash;
    let outcome = run.outcome("base");
    assert!(
        matches!(outcome, Outcome::Built { image, .. } if image.hash.as_deref() == Some(theirs.as_str())),
        "{outcome:?}"
    );
    let state = fake.state();
    assert_eq!(state.builds_of("base").len(), 1);
    assert!(
        state
            .tag_calls
            .iter()
            .filter(|call| call.container == "base")
            .all(|call| call.hash == theirs)
    );
    // The dependent is built on the image `base`'s tags name.
    let app = state.builds_of("app")[0];
    assert!(
        app.request
            .definition
            .contains(&format!("From: acme/tools/base:{theirs}\n")),
        "{}",
        app.request.definition
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_that_may_not_adopt_builds_its_own() {
    let fake = Fake::new(&[("base", foreign(Foreign::BeforeSubmit))]);
    let run = run(jobs(&[("base", &[])]), &fake, &options(1)).await;

    assert!(matches!(run.outcome("base"), Outcome::Built { .. }));
    let state = fake.state();
    let ours = state.builds_of("base")[0].hash.clone();
    assert!(state.tag_calls.iter().all(|call| call.hash == ours));
}
