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
