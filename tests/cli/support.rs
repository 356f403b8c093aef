use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository's root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A run of `sifbake` with a scrubbed environment: nothing from the host's CI (GitHub's or
/// GitLab's variables would otherwise leak into every plan), no colour, a throwaway HOME.
pub struct Sifbake {
    command: assert_cmd::Command,
    _home: tempfile::TempDir,
}

impl Sifbake {
    pub fn new(cwd: &Path) -> Self {
        let home = tempfile::tempdir().expect("temporary HOME");
        let mut command = assert_cmd::Command::cargo_bin("sifbake").expect("sifbake binary");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("NO_COLOR", "1")
            .current_dir(cwd);
        Sifbake {
            command,
            _home: home,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (name, value) in vars {
            self.command.env(name, value);
        }
        self
    }

    /// Kills the run if it has not ended after `limit`: a guard against a hang, which would
    /// otherwise stop the whole test binary; never a measure of speed.
    pub fn timeout(mut self, limit: std::time::Duration) -> Self {
        self.command.timeout(limit);
        self
    }

    pub fn run(mut self) -> Run {
        let output = self.command.output().expect("run sifbake");
        Run { output }
    }
}

/// What a run printed and returned.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// stdout as a JSON document (a plan or a result), or a panic showing both streams.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|error| {
            panic!(
                "stdout is not JSON ({error}):\n{}\n--- stderr\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Writes files into a new temporary directory: `(relative path, contents)`.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, contents) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, contents).expect("write");
    }
    dir
}

/// A git repository in a temporary directory, isolated from the host's git configuration.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// A repository holding a copy of `examples/`, with one commit on `main`.
    pub fn from_examples() -> Repo {
        let repo = Repo::empty();
        copy_tree(&repo_root().join("examples"), repo.path());
        repo.commit("import the examples");
        repo
    }

    /// A repository holding `files`, committed on `main`.
    pub fn with_files(files: &[(&str, &str)]) -> Repo {
        let repo = Repo::empty();
        repo.commit_files("files", files);
        repo
    }

    pub fn empty() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git and returns its trimmed stdout; panics when git fails.
    pub fn git(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Writes files and commits everything; returns the new commit.
    pub fn commit_files(&self, message: &str, files: &[(&str, &str)]) -> String {
        for (path, contents) in files {
            let full = self.path().join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, contents).expect("write");
        }
        self.commit(message)
    }

    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The token the emulator accepts in tests.
pub const TOKEN: &str = "test-token-3f9c";

/// An emulator running in this test process, on 127.0.0.1, with its own runtime, so the test
/// can inject faults and read counters while the `sifbake` binary talks to it. Stopped on
/// drop.
pub struct Emulated {
    runtime: tokio::runtime::Runtime,
    emulator: Option<scs_emulator::RunningEmulator>,
    token: String,
}

impl Emulated {
    pub fn start() -> Emulated {
        Emulated::with(scs_emulator::EmulatorConfig::default())
    }

    pub fn with(config: scs_emulator::EmulatorConfig) -> Emulated {
        Emulated::with_token(config, TOKEN)
    }

    /// An emulator that accepts only `token` (the secrets canary uses its own).
    pub fn with_token(config: scs_emulator::EmulatorConfig, token: &str) -> Emulated {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let emulator = runtime
            .block_on(scs_emulator::Emulator::start(config.with_token(token)))
            .expect("start the emulator");
        Emulated {
            runtime,
            emulator: Some(emulator),
            token: token.to_owned(),
        }
    }

    fn emulator(&self) -> &scs_emulator::RunningEmulator {
        self.emulator.as_ref().expect("running")
    }

    pub fn url(&self) -> String {
        self.emulator().url().to_owned()
    }

    pub fn counters(&self) -> scs_emulator::Counters {
        self.emulator().counters()
    }

    pub fn add_fault(&self, route: &str, times: u64, action: scs_emulator::FaultAction) {
        self.emulator()
            .faults()
            .add(scs_emulator::FaultRule::new(route, Some(times), action));
    }

    /// Stops the emulator and returns its final counters: every build task has ended, so a
    /// build cancelled at the last moment is counted (see `shutdown_and_count`).
    pub fn finish(mut self) -> scs_emulator::Counters {
        let emulator = self.emulator.take().expect("running");
        self.runtime.block_on(emulator.shutdown_and_count())
    }

    /// Installs a fault rule as given (`times: None` fires until the run ends).
    pub fn add_rule(&self, rule: scs_emulator::FaultRule) {
        self.emulator().faults().add(rule);
    }

    /// Returns the installed fault rules, with how often each fired.
    pub fn faults(&self) -> Vec<scs_emulator::ActiveFault> {
        self.emulator().faults().list()
    }

    pub fn build_log(&self, build_id: &str) -> Option<String> {
        self.emulator().build_log(build_id)
    }

    /// The shapes of the requests served so far (the emulator must record: see
    /// `EmulatorConfig::with_recording`).
    pub fn recorded_requests(&self) -> Vec<scs_emulator::RecordedRequest> {
        self.emulator().recorded_requests()
    }

    /// The keys the emulated keystore holds.
    pub fn keys(&self) -> Vec<scs_emulator::StoredKey> {
        self.emulator().keys()
    }

    /// A `sifbake` run pointed at this emulator with its token.
    pub fn sifbake(&self, cwd: &Path) -> Sifbake {
        Sifbake::new(cwd)
            .env("SIFBAKE_REMOTE", self.url())
            .env("SYLABS_TOKEN", &self.token)
    }

    /// Creates an image record whose file is never uploaded (as a client that died mid-push
    /// leaves one) under `entity/collection/container`, tagged `tag` for `arch` with the
    /// library's own endpoints; returns the record's id.
    pub fn seed_incomplete_image(&self, container: &str, tag: &str, arch: &str) -> String {
        let (entity, rest) = container
            .split_once('/')
            .expect("entity/collection/container");
        let (collection, name) = rest.split_once('/').expect("collection/container");
        // reqwest is built without a default TLS provider (sifbake installs ring itself).
        let _ = rustls::crypto::ring::default_provider().install_default();
        self.runtime.block_on(async {
            let client = reqwest::Client::new();
            let post = |path: String, body: serde_json::Value| {
                let request = client
                    .post(format!("{}/{path}", self.url()))
                    .bearer_auth(&self.token)
                    .json(&body);
                async move {
                    let response = request.send().await.expect("library request");
                    assert!(response.status().is_success(), "{path}: {}", response.status());
                    let body: serde_json::Value = response.json().await.expect("json");
                    body["data"]["id"].as_str().unwrap_or_default().to_owned()
                }
            };
            let entity = post("v1/entities".into(), serde_json::json!({"name": entity})).await;
            let collection = post(
                "v1/collections".into(),
                serde_json::json!({"name": collection, "entity": entity}),
            )
            .await;
            let container = post(
                "v1/containers".into(),
                serde_json::json!({"name": name, "collection": collection}),
            )
            .await;
            let image = post(
                "v1/images".into(),
                serde_json::json!({"hash": format!("sha256.{}", "0".repeat(64)), "container": container}),
            )
            .await;
            post(
                format!("v2/tags/{container}"),
                serde_json::json!({"Tag": tag, "Arch": arch, "ImageID": image}),
            )
            .await;
            image
        })
    }

    /// The definitions the emulator received, as submitted (its admin API).
    pub fn submitted_definitions(&self) -> Vec<String> {
        use base64::Engine;
        let _ = rustls::crypto::ring::default_provider().install_default();
        self.runtime.block_on(async {
            let reply: serde_json::Value = reqwest::Client::new()
                .get(format!("{}/_emulator/builds", self.url()))
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("admin API")
                .json()
                .await
                .expect("json");
            reply["data"]
                .as_array()
                .expect("builds")
                .iter()
                .filter_map(|build| build["definitionRaw"].as_str())
                .map(|raw| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(raw)
                        .expect("base64");
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .collect()
        })
    }

    /// Looks an image up in the emulator's library, through sifbake's own client.
    pub fn image(&self, container: &str, tag: &str, arch: &str) -> Option<sifbake::scs::Image> {
        use sifbake::scs::Library;
        self.runtime.block_on(async {
            let token = sifbake::scs::Token::new(self.token.as_str()).expect("token");
            let options = sifbake::scs::ConnectOptions {
                remote: self.url(),
                ..sifbake::scs::ConnectOptions::new(token)
            };
            let connection = sifbake::scs::connect(&options).await.expect("connect");
            let reference = sifbake::libref::LibraryRef::parse(container).expect("ref");
            connection
                .library
                .find_image(&reference, tag, arch)
                .await
                .expect("find image")
        })
    }
}

impl Drop for Emulated {
    fn drop(&mut self) {
        if let Some(emulator) = self.emulator.take() {
            self.runtime.block_on(emulator.shutdown());
        }
    }
}

/// Checks that RELIABILITY.md holds `content` between the markers of section `name`
/// (`<!-- BEGIN name -->` and `<!-- END name -->`), so the document cannot drift from the
/// tests it reports on. `SIFBAKE_BLESS=1` writes `content` there instead.
pub fn check_generated(name: &str, content: &str) {
    let path = repo_root().join("RELIABILITY.md");
    let text = std::fs::read_to_string(&path).expect("RELIABILITY.md");
    let begin =
        format!("<!-- BEGIN {name}: generated by `cargo test`, SIFBAKE_BLESS=1 to update -->\n");
    let end = format!("<!-- END {name} -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("RELIABILITY.md has no `{}`", begin.trim()))
        + begin.len();
    let stop = start
        + text[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("RELIABILITY.md has no `{end}`"));
    if text[start..stop] == *content {
        return;
    }
    if std::env::var_os("SIFBAKE_BLESS").is_some() {
        let updated = format!("{}{content}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, updated).expect("write RELIABILITY.md");
        return;
    }
    panic!(
        "RELIABILITY.md's `{name}` section is out of date; run `SIFBAKE_BLESS=1 cargo test` \
         and commit the result.\n--- expected\n{content}--- found\n{}",
        &text[start..stop]
    );
}
