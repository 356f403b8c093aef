//! A service out for a while costs no build: a lost log stream followed by a status outage
//! longer than one call's retries, and a rate-limited library after the build, are waited
//! out (up to the target's own timeout), and the remote build is never cancelled for them.

use scs_emulator::{FaultAction, FaultRule};

use crate::support::{Emulated, Repo};

#[test]
fn a_status_outage_and_a_rate_limit_after_the_build_are_waited_out() {
    let emulated = Emulated::start();
    // The stream drops after one frame, so sifbake must follow the build by its status.
    emulated.add_rule(FaultRule::new(
        "GET v1/build-ws/*",
        Some(1),
        FaultAction::DropWebsocket { after_frames: 1 },
    ));
    // More 503s than one status call retries (4 attempts): the second call gets through.
    emulated.add_rule(FaultRule::new(
        "GET v1/build/*",
        Some(5),
        FaultAction::Status {
            status: 503,
            message: None,
        },
    ));
    // More 429s than one tag call retries, after the image is built.
    emulated.add_rule(FaultRule::new(
        "POST v2/tags/*",
        Some(6),
        FaultAction::RateLimit {
            retry_after_seconds: 1,
        },
    ));
    let repo = Repo::with_files(&[
        (
            "sifbake.yaml",
            "version: 1\ndefaults:\n  library: library://acme/outage\ntargets:\n  base:\n    def: base.def\n    timeout: 10m\n",
        ),
        (
            "base.def",
            "# emulator: duration=2s\nBootstrap: docker\nFrom: alpine:3.20\n",
        ),
    ]);
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--format", "json", "--default-branch", "main"])
        .run()
        .expect_code(0);
    let result = run.json();
    let image = &result["targets"][0]["images"][0];
    assert_eq!(image["status"], "built", "{}", run.stderr());
    assert!(
        image["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|tag| tag == "main")),
        "{image}"
    );
    assert!(
        emulated
            .image("acme/outage/base", "main", "amd64")
            .is_some(),
        "tagged in the library"
    );
    let faults = emulated.faults();
    assert!(
        faults.iter().all(|fault| fault.remaining == Some(0)),
        "every fault fired: {faults:?}"
    );
    let counters = emulated.finish();
    assert_eq!(counters.builds_cancelled, 0, "{counters:?}");
    assert_eq!(counters.builds_succeeded, 1, "{counters:?}");
}
