//! A tag sequence is never cut without the report saying exactly which tags were set.

use super::fake::{Fake, Script};
use super::{jobs, options, run};
use crate::exec::events::{FailReason, Outcome};

fn tags_of(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Built { tags, .. }
        | Outcome::Retagged { tags, .. }
        | Outcome::Cancelled { tags, .. }
        | Outcome::TimedOut { tags, .. } => tags.clone(),
        Outcome::Failed {
            reason: FailReason::Tagging { set, .. },
        } => set.clone(),
        other => panic!("no tags in {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_tag_refused_for_good_fails_the_image_and_names_the_tags_set() {
    let fake = Fake::new(&[(
        "base",
        Script {
            refuse_tag: Some("inputs-0000000000000000".into()),
            ..Script::default()
        },
    )]);
    let run = run(jobs(&[("base", &[])]), &fake, &options(1)).await;

    let outcome = run.outcome("base");
    assert!(
        matches!(
            outcome,
            Outcome::Failed {
                reason: FailReason::Tagging { .. }
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(tags_of(outcome), ["latest"]);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_the_tags_lets_the_sequence_finish() {
    let options = options(1);
    let fake = Fake::new(&[(
        "base",
        Script {
            stop_at_tag: Some(("latest".into(), options.cancel.clone())),
            ..Script::default()
        },
    )]);
    let run = run(jobs(&[("base", &[])]), &fake, &options).await;

    // The signal came while `latest` was being set; the rest followed within the grace.
    let outcome = run.outcome("base");
    assert!(matches!(outcome, Outcome::Built { .. }), "{outcome:?}");
    assert_eq!(tags_of(outcome), ["latest", "inputs-0000000000000000"]);
    assert_eq!(fake.state().tag_calls.len(), 2);
    assert!(
        fake.state().cancels.is_empty(),
        "a built image is not cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_the_tags_cannot_outlast_reports_exactly_the_tags_set() {
    let options = options(1);
    let stop = options.cancel.clone();
    let fake = Fake::new(&[(
        "base",
        Script {
            stop_at_tag: Some(("latest".into(), stop)),
            hang_tag: Some("inputs-0000000000000000".into()),
            ..Script::default()
        },
    )]);
    let run = run(jobs(&[("base", &[])]), &fake, &options).await;

    let outcome = run.outcome("base");
    assert!(matches!(outcome, Outcome::Cancelled { .. }), "{outcome:?}");
    assert_eq!(tags_of(outcome), ["latest"]);
}

#[tokio::test(start_paused = true)]
async fn a_hung_tag_is_bounded_by_the_target_s_timeout() {
    let mut jobs = jobs(&[("base", &[])]);
    jobs[0].timeout = std::time::Duration::from_secs(60);
    let fake = Fake::new(&[(
        "base",
        Script {
            hang_tag: Some("inputs-0000000000000000".into()),
            ..Script::default()
        },
    )]);
    let run = run(jobs, &fake, &options(1)).await;

    let outcome = run.outcome("base");
    assert!(matches!(outcome, Outcome::TimedOut { .. }), "{outcome:?}");
    assert_eq!(tags_of(outcome), ["latest"]);
}
