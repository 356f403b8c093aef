//! What a refused call says: a 403 is a permission on the entity or collection, a 401 a
//! token to replace, never "check the network".

use scs_emulator::{FaultAction, FaultRule};

use crate::support::{Emulated, Repo};

fn repository() -> Repo {
    repository_with("Bootstrap: docker\nFrom: alpine:3.20\n")
}

fn repository_with(def: &str) -> Repo {
    Repo::with_files(&[
        (
            "sifbake.yaml",
            "version: 1\ndefaults:\n  library: library://acme/perm\ntargets:\n  base:\n    def: base.def\n",
        ),
        ("base.def", def),
    ])
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
    let result = run.json();
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

#[test]
fn a_builder_that_publishes_to_another_library_is_refused_at_its_first_reply() {
    let builder = Emulated::start();
    let library = Emulated::start();
    // Long enough that only sifbake's cancel ends it.
    let repo = repository_with("# emulator: duration=1h\nBootstrap: docker\nFrom: alpine:3.20\n");
    let run = library
        .sifbake(repo.path())
        .args(["build", "--format", "json", "--default-branch", "main"])
        .args([
            "--builder-url",
            &builder.url(),
            "--library-url",
            &library.url(),
        ])
        .run()
        .expect_code(3);
    let result = run.json();
    let reason = result["targets"][0]["images"][0]["reason"]
        .as_str()
        .expect("a reason")
        .to_owned();
    assert!(
        reason.contains("publishes to the library at") && reason.contains(&builder.url()),
        "{reason}"
    );
    assert!(reason.contains("--library-url"), "{reason}");
    let counters = builder.finish();
    assert_eq!(counters.builds_submitted, 1, "{counters:?}");
    assert_eq!(
        counters.builds_cancelled, 1,
        "the build was not left running"
    );
}

/// A frontend whose discovery document names a library and no build service (a
/// library-only remote), on a mock server of this test.
struct LibraryOnlyRemote {
    runtime: tokio::runtime::Runtime,
    server: Option<wiremock::MockServer>,
}

impl LibraryOnlyRemote {
    fn start(library: &str) -> LibraryOnlyRemote {
        use wiremock::matchers::{method, path};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = runtime.block_on(async {
            let server = wiremock::MockServer::start().await;
            wiremock::Mock::given(method("GET"))
                .and(path("/assets/config/config.prod.json"))
                .respond_with(
                    wiremock::ResponseTemplate::new(200)
                        .set_body_json(serde_json::json!({"libraryAPI": {"uri": library}})),
                )
                .mount(&server)
                .await;
            server
        });
        LibraryOnlyRemote {
            runtime,
            server: Some(server),
        }
    }

    fn url(&self) -> String {
        self.server.as_ref().expect("running").uri()
    }
}

impl Drop for LibraryOnlyRemote {
    fn drop(&mut self) {
        // The server stops when dropped, which must happen inside its runtime.
        let server = self.server.take();
        self.runtime.block_on(async move { drop(server) });
    }
}

#[test]
fn tag_needs_only_a_library() {
    let emulated = Emulated::start();
    let repo = repository();
    emulated
        .sifbake(repo.path())
        .args(["build", "--default-branch", "main"])
        .run()
        .expect_code(0);
    let remote = LibraryOnlyRemote::start(&emulated.url());

    let run = emulated
        .sifbake(repo.path())
        .args([
            "tag",
            "--ref",
            "refs/tags/v1.0.0",
            "--remote",
            &remote.url(),
        ])
        .run()
        .expect_code(0);
    assert!(
        run.stderr().contains("build service none"),
        "{}",
        run.stderr()
    );
    assert!(
        emulated
            .image("acme/perm/base", "v1.0.0", "amd64")
            .is_some(),
        "the release tag is set"
    );

    // A build still needs a build service, and says which key is missing.
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--all", "--remote", &remote.url()])
        .run()
        .expect_code(3);
    assert!(run.stderr().contains("builderAPI"), "{}", run.stderr());
}
