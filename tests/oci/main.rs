//! sifbake's OCI registry client against a real registry (Debian's `docker-registry` on
//! 127.0.0.1), judged by the official `oras` CLI (pinned in conformance/go.mod) and by
//! skopeo: what sifbake pushes is what `singularity push oras://` would, byte for byte.

#[path = "../../conformance/go_tools.rs"]
mod go_tools;
#[path = "../support/registry.rs"]
mod registry;

/// The bearer-token flow and the faults, against a registry double and a token service
/// double.
mod bearer;
/// An upload cut off by a proxy is started again.
mod interrupt;
/// The bearer-token flow against `docker-registry` with token authentication.
mod token;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use sifbake::oci::{
    ClientOptions, CredentialSources, Registry, RegistryClient, RepositoryRef, SifArtifact,
};
use sifbake::scs::{Pause, RetryPolicy, ServiceErrorKind};

use registry::{Auth, PASSWORD, TestRegistry, USER};

/// A client whose credentials come from `vars` only, and whose retries do not wait.
pub fn client(vars: &[(&str, &str)]) -> RegistryClient {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let sources = CredentialSources::from_env(Arc::new(move |name| map.get(name).cloned()));
    let (pause, _) = Pause::recording();
    let options = ClientOptions {
        retry: RetryPolicy::default().with_pause(pause),
        ..ClientOptions::default()
    };
    RegistryClient::new(options, sources).expect("client")
}

/// A SIF-sized file of distinct bytes (contents do not matter to a registry).
pub fn sif_file(dir: &Path, name: &str, size: usize) -> PathBuf {
    let path = dir.join(name);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ size as u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&path, bytes).expect("write the SIF");
    path
}

fn own_credentials(registry: &TestRegistry) -> Vec<(String, String)> {
    let prefix = sifbake::oci::registry_env_prefix(&registry.address());
    vec![
        (format!("{prefix}_USERNAME"), USER.to_owned()),
        (format!("{prefix}_PASSWORD"), PASSWORD.to_owned()),
    ]
}

fn as_pairs(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn oras() -> Option<PathBuf> {
    go_tools::go_tool("oras", "oras.land/oras/cmd/oras")
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("run the tool");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_and_skopeo_read_what_sifbake_pushed() {
    let Some(registry) = TestRegistry::start(Auth::Htpasswd) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let sif = sif_file(work.path(), "app_1.0.sif", 3 * 1024 * 1024 + 17);
    let vars = own_credentials(&registry);
    let client = client(&as_pairs(&vars));
    let repo = RepositoryRef::parse(&registry.oras_ref("acme/app")).unwrap();
    let artifact = SifArtifact::new(&sif).with_provenance(
        "https://github.com/acme/defs",
        "0123456789abcdef0123456789abcdef01234567",
        "2026-12-05T00:00:00Z",
    );
    let tags = vec!["1.0".to_owned(), "latest".to_owned()];

    assert_eq!(client.resolve_tag(&repo, "1.0").await.unwrap(), None);
    let pushed = client.push_sif(&repo, &artifact, &tags).await.unwrap();
    assert!(pushed.uploaded);
    assert_eq!(pushed.size, 3 * 1024 * 1024 + 17);
    assert_eq!(
        client.resolve_tag(&repo, "latest").await.unwrap(),
        Some(pushed.manifest_digest.clone())
    );

    // Pushed again: the registry has the file, so only the manifest goes.
    let again = client.push_sif(&repo, &artifact, &tags).await.unwrap();
    assert!(!again.uploaded);
    assert_eq!(again.manifest_digest, pushed.manifest_digest);

    // A retag points a new tag at the manifest without uploading.
    client
        .tag_manifest(&repo, &pushed.manifest_digest, &["stable".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        client.resolve_tag(&repo, "stable").await.unwrap(),
        Some(pushed.manifest_digest.clone())
    );

    // A second repository on the same registry gets the file by a cross-repository mount.
    let other = RepositoryRef::parse(&registry.oras_ref("acme/app-copy")).unwrap();
    client
        .push_sif(&other, &artifact, &tags[..1])
        .await
        .unwrap();

    let Some(oras) = oras() else {
        return;
    };
    let target = format!("{}/acme/app", registry.address());
    let login = ["--plain-http", "-u", USER, "-p", PASSWORD];
    for (reference, tag) in [
        (&target, "1.0"),
        (&target, "stable"),
        (&format!("{}/acme/app-copy", registry.address()), "1.0"),
    ] {
        let out = tempfile::tempdir().unwrap();
        run(Command::new(&oras)
            .args(["pull"])
            .args(login)
            .arg(format!("{reference}:{tag}"))
            .arg("-o")
            .arg(out.path()));
        let pulled = std::fs::read(out.path().join("app_1.0.sif"))
            .expect("oras wrote the title's file name");
        assert!(
            pulled == std::fs::read(&sif).unwrap(),
            "{reference}:{tag} differs from the pushed file"
        );
    }
    let listed = run(Command::new(&oras)
        .args(["repo", "tags"])
        .args(login)
        .arg(&target));
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort_unstable();
    assert_eq!(listed, ["1.0", "latest", "stable"]);

    let manifest = run(Command::new(&oras)
        .args(["manifest", "fetch"])
        .args(login)
        .arg(format!("{target}:1.0")));
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.sylabs.sif.config.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.sylabs.sif.layer.v1.sif"
    );
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "app_1.0.sif"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "https://github.com/acme/defs"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.created"],
        "2026-12-05T00:00:00Z"
    );

    if registry::have_tool("skopeo", "skopeo") {
        let raw = run(Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", "--creds"])
            .arg(format!("{USER}:{PASSWORD}"))
            .arg(format!("docker://{target}:latest")));
        let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(raw, manifest);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_config_json_credentials_work() {
    let Some(registry) = TestRegistry::start(Auth::Htpasswd) else {
        return;
    };
    let docker = tempfile::tempdir().unwrap();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        docker.path().join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.address()
        ),
    )
    .unwrap();
    let client = client(&[("DOCKER_CONFIG", docker.path().to_str().unwrap())]);
    let work = tempfile::tempdir().unwrap();
    let sif = sif_file(work.path(), "x.sif", 1000);
    let repo = RepositoryRef::parse(&registry.oras_ref("team/x")).unwrap();
    let pushed = client
        .push_sif(&repo, &SifArtifact::new(&sif), &["v1".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        client.resolve_tag(&repo, "v1").await.unwrap(),
        Some(pushed.manifest_digest)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_or_missing_credentials_are_auth_errors_that_do_not_print_them() {
    let Some(registry) = TestRegistry::start(Auth::Htpasswd) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let sif = sif_file(work.path(), "x.sif", 1000);
    let repo = RepositoryRef::parse(&registry.oras_ref("team/x")).unwrap();
    let wrong = "wrong-canary-Zt5Rk9Vb3Nq1";
    let client = client(&[
        ("SIFBAKE_REGISTRY_USERNAME", USER),
        ("SIFBAKE_REGISTRY_PASSWORD", wrong),
    ]);
    let error = client
        .push_sif(&repo, &SifArtifact::new(&sif), &["v1".to_owned()])
        .await
        .unwrap_err();
    assert_eq!(error.kind, ServiceErrorKind::Auth);
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("refused the credentials of `mirror-bot` from SIFBAKE_REGISTRY_PASSWORD"),
        "{text}"
    );
    assert!(
        !text.contains(wrong) && !text.contains(&wrong[..12]),
        "{text}"
    );

    let anonymous = self::client(&[]);
    let error = anonymous.resolve_tag(&repo, "v1").await.unwrap_err();
    assert_eq!(error.kind, ServiceErrorKind::Auth);
    let prefix = sifbake::oci::registry_env_prefix(&registry.address());
    assert!(
        error
            .detail
            .contains(&format!("run `docker login {}`", registry.address()))
            && error.detail.contains(&format!("{prefix}_PASSWORD")),
        "{error}"
    );
}
