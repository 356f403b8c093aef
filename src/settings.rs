//! The command line resolved against the environment and defaults, once, before any command
//! runs ("high" arguments). Terminal facts and the environment are passed in for testability.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, ColorChoice, ManifestArgs, RefArgs};
use crate::context::{self, Overrides};
use crate::diagnostic::Diagnostic;
use crate::env;
use crate::manifest::LoadRequest;

/// The manifest file name looked for in the repository root.
pub const MANIFEST_FILE_NAME: &str = "sifbake.yaml";

/// Which of the output streams are terminals.
#[derive(Clone, Copy, Debug, Default)]
pub struct Terminals {
    pub stdout: bool,
    pub stderr: bool,
}

/// Settings shared by every command.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The directory sifbake was started in; paths in messages are shown relative to it.
    pub cwd: PathBuf,
    /// `-C DIR`, resolved against `cwd`.
    pub directory: Option<PathBuf>,
    /// Whether stderr output may use colour.
    pub color: bool,
    /// Whether stdout output (the plan table) may use colour.
    pub stdout_color: bool,
    /// Whether stderr is a terminal (a live view instead of log lines).
    pub stderr_terminal: bool,
    /// -1 with `--quiet`, 0 by default, 1 and up with `-v`.
    pub verbosity: i8,
    /// The environment variables sifbake reads (`env::ALL`, `context::vars::ALL`), read once;
    /// secrets (`env::SECRETS`) are left out.
    pub vars: BTreeMap<String, String>,
    /// The secret variables, kept apart so that printing the settings cannot show them.
    pub secrets: Secrets,
}

/// The values of the secret variables (`env::SECRETS`). Its `Debug` shows only which are set.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl Secrets {
    /// Returns a secret variable's value.
    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.values.keys().map(|name| format!("{name}=***")))
            .finish()
    }
}

impl Settings {
    /// Resolves the global flags. `var` reads an environment variable.
    pub fn resolve(
        cli: &Cli,
        cwd: PathBuf,
        var: &dyn Fn(&str) -> Option<String>,
        terminals: Terminals,
    ) -> Self {
        let no_color = var(env::NO_COLOR).is_some_and(|v| !v.is_empty());
        // nektos/act gives the container a terminal, but its log is read as text (a file, a
        // CI job of its own): escape codes there are noise, as issue reports showed.
        let act = var(env::ACT).is_some_and(|v| !v.is_empty() && v != "false");
        let color_for = |terminal: bool| match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color && !act,
        };
        let color = color_for(terminals.stderr);
        let stdout_color = color_for(terminals.stdout);
        let stderr_is_terminal = terminals.stderr;
        let directory = cli.directory.as_ref().map(|dir| cwd.join(dir));
        let verbosity = if cli.quiet {
            -1
        } else {
            i8::try_from(cli.verbose).unwrap_or(i8::MAX)
        };
        let vars = env::ALL
            .iter()
            .chain(context::vars::ALL)
            .filter(|name| !env::SECRETS.contains(name))
            .filter_map(|name| var(name).map(|value| ((*name).to_owned(), value)))
            .collect();
        let secrets = Secrets {
            values: env::SECRETS
                .iter()
                .filter_map(|name| var(name).map(|value| ((*name).to_owned(), value)))
                .collect(),
        };
        Settings {
            cwd,
            directory,
            color,
            stdout_color,
            stderr_terminal: stderr_is_terminal,
            verbosity,
            vars,
            secrets,
        }
    }

    /// Returns an environment variable read at start-up.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// Reads GitHub's event payload (`GITHUB_EVENT_PATH`), if there is one.
    pub fn event_payload(&self) -> Result<Option<serde_json::Value>, Diagnostic> {
        let Some(path) = self.var(context::vars::GITHUB_EVENT_PATH) else {
            return Ok(None);
        };
        let unreadable = |message: String| {
            Diagnostic::error("context::event-payload", message)
                .help("GITHUB_EVENT_PATH should name the event file GitHub Actions writes; unset it outside Actions")
        };
        let text = std::fs::read_to_string(&path).map_err(|error| {
            unreadable(format!(
                "cannot read the GitHub event payload `{path}`: {error}"
            ))
        })?;
        serde_json::from_str(&text).map(Some).map_err(|error| {
            unreadable(format!(
                "the GitHub event payload `{path}` is not JSON: {error}"
            ))
        })
    }

    /// Returns the `--ref`/`--sha`/`--default-branch` overrides.
    pub fn overrides(args: &RefArgs) -> Overrides {
        Overrides {
            reference: args.reference.clone(),
            sha: args.sha.clone(),
            default_branch: args.default_branch.clone(),
        }
    }

    /// Returns the directory relative paths on the command line are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.directory.as_deref().unwrap_or(&self.cwd)
    }

    /// Returns what to load for `-f FILE` (or its default).
    pub fn manifest_request(&self, args: &ManifestArgs) -> LoadRequest {
        let manifest = match &args.file {
            Some(file) => self.base_dir().join(file),
            None => self.base_dir().join(MANIFEST_FILE_NAME),
        };
        LoadRequest {
            manifest,
            root: self.directory.clone(),
            display_base: self.cwd.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str], vars: &[(&str, &str)], terminal: bool) -> Settings {
        let cli = Cli::parse_from(args);
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let terminals = Terminals {
            stdout: terminal,
            stderr: terminal,
        };
        Settings::resolve(&cli, PathBuf::from("/work"), &lookup, terminals)
    }

    #[test]
    fn colour_follows_flag_terminal_and_no_color() {
        let table = [
            (&["sifbake", "validate"][..], &[][..], true, true),
            (&["sifbake", "validate"][..], &[][..], false, false),
            (
                &["sifbake", "validate"][..],
                &[("NO_COLOR", "1")][..],
                true,
                false,
            ),
            (
                &["sifbake", "validate"][..],
                &[("NO_COLOR", "")][..],
                true,
                true,
            ),
            (
                &["sifbake", "--color", "always", "validate"][..],
                &[("NO_COLOR", "1")][..],
                false,
                true,
            ),
            (
                &["sifbake", "--color=never", "validate"][..],
                &[][..],
                true,
                false,
            ),
            // act's terminal is read as a text log.
            (
                &["sifbake", "validate"][..],
                &[("ACT", "true")][..],
                true,
                false,
            ),
            (
                &["sifbake", "--color", "always", "validate"][..],
                &[("ACT", "true")][..],
                true,
                true,
            ),
        ];
        for (args, vars, terminal, expected) in table {
            assert_eq!(
                settings(args, vars, terminal).color,
                expected,
                "{args:?} {vars:?} {terminal}"
            );
        }
    }

    #[test]
    fn each_stream_is_coloured_by_its_own_terminal() {
        let cli = Cli::parse_from(["sifbake", "plan"]);
        let piped_stdout = Settings::resolve(
            &cli,
            PathBuf::from("/work"),
            &|_| None,
            Terminals {
                stdout: false,
                stderr: true,
            },
        );
        assert!(piped_stdout.color && !piped_stdout.stdout_color);
    }

    #[test]
    fn secrets_are_not_kept() {
        let s = settings(
            &["sifbake", "validate"],
            &[
                ("SYLABS_TOKEN", "s3cr3t"),
                ("SYLABS_AUTH_TOKEN", "s3cr3t"),
                ("SIFBAKE_JOBS", "4"),
            ],
            false,
        );
        assert_eq!(s.var("SIFBAKE_JOBS").as_deref(), Some("4"));
        assert_eq!(s.var("SYLABS_TOKEN"), None);
        assert_eq!(s.secrets.get("SYLABS_TOKEN").as_deref(), Some("s3cr3t"));
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn manifest_defaults_to_the_root() {
        let s = settings(&["sifbake", "-C", "repo", "validate"], &[], false);
        let request = s.manifest_request(&ManifestArgs { file: None });
        assert_eq!(request.manifest, PathBuf::from("/work/repo/sifbake.yaml"));
        assert_eq!(request.root, Some(PathBuf::from("/work/repo")));
        let s = settings(&["sifbake", "validate"], &[], false);
        let request = s.manifest_request(&ManifestArgs {
            file: Some("examples/sifbake.yaml".into()),
        });
        assert_eq!(
            request.manifest,
            PathBuf::from("/work/examples/sifbake.yaml")
        );
        assert_eq!(request.root, None);
    }
}
