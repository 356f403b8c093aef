//! What a refused call says: a 403 is a permission on the entity or collection, a 401 a
//! token to replace, never "check the network".

use scs_emulator::{FaultAction, FaultRule};
use serde_json::Value;

use crate::support::{Emulated, Repo};

fn repository() -> Repo {
    let repo = Repo::empty();
    repo.commit_files(
        "base",
        &[
            (
                "sifbake.yaml",
                "version: 1\ndefaults:\n  library: library://acme/perm\ntargets:\n  base:\n    def: base.def\n",
            ),
            ("base.def", "Bootstrap: docker\nFrom: alpine:3.20\n"),
        ],
    );
    repo
}

#[test]
fn a_forbidden_tag_says_not_allowed_and_where() {
    let emulated = Emulated::start();
    emulated.add_rule(FaultRule::new(
        "POST v2/tags/*",
        None,
        FaultAction::Status {
            status: 403,
            message: Some("user ci-bot may not write to acme/perm".into()),
        },
    ));
    let repo = repository();
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--format", "json", "--default-branch", "main"])
        .run()
        .expect_code(3);
    let result: Value = serde_json::from_str(&run.stdout()).expect("result JSON");
    let reason = result["targets"][0]["images"][0]["reason"]
        .as_str()
        .expect("a reason")
        .to_owned();
    assert!(reason.contains("not allowed"), "{reason}");
    assert!(reason.contains("acme/perm/base"), "{reason}");
    assert!(
        reason.contains("user ci-bot may not write to acme/perm"),
        "{reason}"
    );
    assert!(!reason.contains("token was refused"), "{reason}");
}

#[test]
fn a_refused_token_during_lookups_is_not_a_network_problem() {
    let emulated = Emulated::start();
    emulated.add_rule(FaultRule::new(
        "GET v1/images/*",
        None,
        FaultAction::Status {
            status: 401,
            message: None,
        },
    ));
    let repo = repository();
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--default-branch", "main"])
        .run()
        .expect_code(3);
    let stderr = run.stderr();
    assert!(stderr.contains("the library refused the token"), "{stderr}");
    assert!(!stderr.contains("check the network"), "{stderr}");
}
