//! The Sylabs access token: where it is read from, and a type that cannot print it.
//!
//! Sources, first found wins (DESIGN.md "Security", PROTOCOL.md §1.3):
//!
//! 1. `--token-file PATH` (explicit beats ambient),
//! 2. env `SYLABS_AUTH_TOKEN` (the scs-build CLI's name),
//! 3. env `SYLABS_TOKEN`,
//! 4. `~/.singularity/sylabs-token` (the legacy file `singularity remote login` wrote),
//! 5. the active remote's `Token` in `~/.singularity/remote.yaml`.
//!
//! An empty or blank variable counts as unset: GitHub Actions expands a secret a fork's pull
//! request cannot see to the empty string, and that run should get "no token", not an empty
//! bearer token. A file named by the flag must hold a token; the files in the home directory
//! are only looked at, and may be missing or empty.
//!
//! [`TokenSources`] is plain data, so resolution is tested without touching the process's
//! environment or home directory.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::secrets::Redactor;

/// The variable the scs-build CLI reads the token from.
pub const SYLABS_AUTH_TOKEN: &str = "SYLABS_AUTH_TOKEN";
/// The variable DESIGN.md documents for sifbake.
pub const SYLABS_TOKEN: &str = "SYLABS_TOKEN";

/// The legacy token file, relative to the home directory.
const LEGACY_TOKEN_FILE: &str = ".singularity/sylabs-token";
/// SingularityCE's remote configuration, relative to the home directory.
const REMOTE_CONFIG_FILE: &str = ".singularity/remote.yaml";
/// Far above any real token or remote.yaml; guards against reading a wrong, huge file.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// An access token. `Display` and `Debug` print `***`; only [`Token::expose`] gives the value,
/// and only the HTTP layer calls it, to build the `Authorization` header.
#[derive(Clone, Eq, PartialEq)]
pub struct Token(String);

impl Token {
    /// Wraps a token; surrounding whitespace is removed. Returns `None` when nothing is left.
    pub fn new(value: impl Into<String>) -> Option<Token> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(Token(trimmed.to_owned()))
        }
    }

    /// Returns the secret itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns `text` with the token, and every piece of it long enough to matter, masked
    /// (see [`crate::secrets`]).
    pub fn redact(&self, text: &str) -> String {
        Redactor::new([self.0.as_str()]).redact(text).into_owned()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a token may come from: the values of the environment variables, the `--token-file`
/// flag and the home directory, gathered by the caller.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct TokenSources {
    /// The value of `SYLABS_AUTH_TOKEN`.
    pub sylabs_auth_token: Option<String>,
    /// The value of `SYLABS_TOKEN`.
    pub sylabs_token: Option<String>,
    /// `--token-file PATH`.
    pub token_file: Option<PathBuf>,
    /// The home directory, for `~/.singularity/…`; `None` skips those files.
    pub home: Option<PathBuf>,
}

impl TokenSources {
    /// Gathers the sources through `lookup` (an environment reader, such as the one
    /// `Settings::resolve` takes), with the flag and the home directory given.
    pub fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
        token_file: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> TokenSources {
        TokenSources {
            sylabs_auth_token: lookup(SYLABS_AUTH_TOKEN),
            sylabs_token: lookup(SYLABS_TOKEN),
            token_file,
            home,
        }
    }
}

/// Which source a token came from, to tell the user without showing it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum TokenSource {
    /// An environment variable (its name).
    Env(&'static str),
    /// The file given with `--token-file`.
    TokenFile(PathBuf),
    /// `~/.singularity/sylabs-token`.
    LegacyFile(PathBuf),
    /// `~/.singularity/remote.yaml`, the active remote.
    RemoteConfig {
        path: PathBuf,
        /// The remote's name (`Active:`).
        remote: String,
        /// The remote's `URI` (host[/path], no scheme), when set; the caller may check it
        /// against `--remote`.
        uri: Option<String>,
    },
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env(name) => write!(f, "token from {name}"),
            TokenSource::TokenFile(path) => write!(f, "token from {}", path.display()),
            TokenSource::LegacyFile(path) => write!(f, "token from {}", path.display()),
            TokenSource::RemoteConfig { path, remote, .. } => {
                write!(f, "token from {} (remote `{remote}`)", path.display())
            }
        }
    }
}

/// A token and where it was found.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ResolvedToken {
    pub token: Token,
    pub source: TokenSource,
    /// A file holding it that other users can read, as ssh warns of keys: its path and mode.
    pub exposed_file: Option<(PathBuf, u32)>,
}

impl ResolvedToken {
    /// The warning to print when the file holding the token is readable by others.
    pub fn warning(&self) -> Option<String> {
        let (path, mode) = self.exposed_file.as_ref()?;
        Some(format!(
            "the token file `{}` can be read by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        ))
    }
}

/// The mode of `path` when group or others may read it.
fn exposed(path: &Path) -> Option<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then(|| (path.to_owned(), mode))
}

/// Why no token could be read. Never holds the token or file contents.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token file `{}` is empty", path.display())]
    EmptyTokenFile { path: PathBuf },
    #[error("the token file `{}` does not exist", path.display())]
    MissingTokenFile { path: PathBuf },
    #[error("`{}` is not a valid remote configuration (line {line}, column {column})", path.display())]
    RemoteConfig {
        path: PathBuf,
        line: u64,
        column: u64,
    },
    #[error("cannot read `{}`", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl AuthError {
    /// Returns what the user can do about it.
    pub fn help(&self) -> &'static str {
        match self {
            AuthError::EmptyTokenFile { .. } | AuthError::MissingTokenFile { .. } => {
                "write an access token from https://cloud.sylabs.io/auth/tokens to that file, \
                 or set SYLABS_TOKEN"
            }
            AuthError::RemoteConfig { .. } => {
                "fix the file (`singularity remote login` rewrites it), or set SYLABS_TOKEN"
            }
            AuthError::Unreadable { .. } => "check the file's permissions, or set SYLABS_TOKEN",
        }
    }
}

/// Finds the token in the first source that has one; `Ok(None)` when none does.
pub fn resolve_token(sources: &TokenSources) -> Result<Option<ResolvedToken>, AuthError> {
    // An explicit `--token-file` beats the ambient environment: a CI job that sets SYLABS_TOKEN
    // for every step and passes a file to one of them means the file.
    if let Some(path) = &sources.token_file {
        let text =
            read_small(path)?.ok_or_else(|| AuthError::MissingTokenFile { path: path.clone() })?;
        let token =
            Token::new(text).ok_or_else(|| AuthError::EmptyTokenFile { path: path.clone() })?;
        return Ok(Some(ResolvedToken {
            token,
            source: TokenSource::TokenFile(path.clone()),
            exposed_file: exposed(path),
        }));
    }
    let env = [
        (SYLABS_AUTH_TOKEN, &sources.sylabs_auth_token),
        (SYLABS_TOKEN, &sources.sylabs_token),
    ];
    for (name, value) in env {
        if let Some(token) = value.as_deref().and_then(Token::new) {
            return Ok(Some(ResolvedToken {
                token,
                source: TokenSource::Env(name),
                exposed_file: None,
            }));
        }
    }
    let Some(home) = &sources.home else {
        return Ok(None);
    };
    let legacy = home.join(LEGACY_TOKEN_FILE);
    if let Some(token) = read_small(&legacy)?.and_then(Token::new) {
        return Ok(Some(ResolvedToken {
            token,
            exposed_file: exposed(&legacy),
            source: TokenSource::LegacyFile(legacy),
        }));
    }
    let config = home.join(REMOTE_CONFIG_FILE);
    match read_small(&config)? {
        Some(text) => token_from_remote_config(&config, &text),
        None => Ok(None),
    }
}

/// Reads a file that should be small; `Ok(None)` when it does not exist.
fn read_small(path: &Path) -> Result<Option<String>, AuthError> {
    let unreadable = |source| AuthError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(unreadable(error)),
    };
    if metadata.len() > MAX_FILE_BYTES {
        return Err(unreadable(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is {} bytes, more than a token file holds",
                metadata.len()
            ),
        )));
    }
    std::fs::read_to_string(path).map(Some).map_err(unreadable)
}

/// SingularityCE's `remote.yaml`: only the keys read here; the others (`System`,
/// `Exclusive`, `Insecure`, `Keyservers`, `Credentials`, …) are ignored.
#[derive(Debug, Default, Deserialize)]
struct RemoteConfig {
    #[serde(rename = "Active", default)]
    active: Option<String>,
    #[serde(rename = "Remotes", default)]
    remotes: Option<BTreeMap<String, Remote>>,
}

#[derive(Debug, Default, Deserialize)]
struct Remote {
    #[serde(rename = "URI", default)]
    uri: Option<String>,
    #[serde(rename = "Token", default)]
    token: Option<String>,
}

fn token_from_remote_config(path: &Path, text: &str) -> Result<Option<ResolvedToken>, AuthError> {
    // The error is reduced to its location: serde's messages may quote a value, and the value
    // next to `Token:` is the secret.
    let config: RemoteConfig = serde_saphyr::from_str(text).map_err(|error| {
        let (line, column) = error
            .location()
            .map_or((0, 0), |location| (location.line(), location.column()));
        AuthError::RemoteConfig {
            path: path.to_owned(),
            line,
            column,
        }
    })?;
    let Some(active) = config.active.filter(|name| !name.trim().is_empty()) else {
        return Ok(None);
    };
    let Some(remote) = config
        .remotes
        .and_then(|mut remotes| remotes.remove(&active))
    else {
        return Ok(None);
    };
    Ok(remote
        .token
        .and_then(Token::new)
        .map(|token| ResolvedToken {
            token,
            exposed_file: exposed(path),
            source: TokenSource::RemoteConfig {
                path: path.to_owned(),
                remote: active,
                uri: remote.uri.filter(|uri| !uri.is_empty()),
            },
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-token-value";

    struct Home {
        dir: tempfile::TempDir,
    }

    impl Home {
        fn new() -> Home {
            Home {
                dir: tempfile::tempdir().expect("temp dir"),
            }
        }

        fn write(&self, relative: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create dir");
            }
            std::fs::write(&path, text).expect("write file");
            path
        }

        fn sources(&self) -> TokenSources {
            TokenSources {
                home: Some(self.dir.path().to_owned()),
                ..TokenSources::default()
            }
        }
    }

    fn remote_yaml(active: &str, token: &str) -> String {
        format!(
            "Active: {active}\nRemotes:\n  SylabsCloud:\n    URI: cloud.sylabs.io\n    \
             Token: {token}\n    System: true\n    Exclusive: false\n    Keyservers:\n      \
             - URI: https://keys.sylabs.io\n        Skip: false\nCredentials: []\n"
        )
    }

    fn resolved(sources: &TokenSources) -> Option<(String, String)> {
        match resolve_token(sources) {
            Ok(found) => found.map(|r| (r.token.expose().to_owned(), r.source.to_string())),
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    #[test]
    fn a_token_file_others_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, format!("{SECRET}\n")).expect("write");
        let sources = |path: &Path| TokenSources {
            token_file: Some(path.to_owned()),
            ..TokenSources::default()
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let resolved = resolve_token(&sources(&path))
            .expect("read")
            .expect("token");
        let warning = resolved.warning().expect("a warning");
        assert!(
            warning.contains("mode 644") && warning.contains("chmod 600"),
            "{warning}"
        );
        assert!(!warning.contains(SECRET));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let resolved = resolve_token(&sources(&path))
            .expect("read")
            .expect("token");
        assert_eq!(resolved.warning(), None);
    }

    #[test]
    fn token_never_prints() {
        let token = Token::new(format!("  {SECRET}\n")).expect("non-empty");
        assert_eq!(token.expose(), SECRET);
        assert_eq!(token.to_string(), "***");
        assert_eq!(format!("{token:?}"), "Token(***)");
        let resolved = ResolvedToken {
            token: token.clone(),
            source: TokenSource::Env(SYLABS_TOKEN),
            exposed_file: None,
        };
        assert!(!format!("{resolved:?}").contains(SECRET));
        assert_eq!(
            token.redact(&format!("url?t={SECRET}&x={SECRET}")),
            "url?t=***&x=***"
        );
        assert_eq!(Token::new(" \n\t"), None);
    }

    #[test]
    fn sources_are_tried_in_order() {
        let home = Home::new();
        let flag_file = home.write("flag-token", "from-flag\n");
        home.write(LEGACY_TOKEN_FILE, "from-legacy");
        home.write(
            REMOTE_CONFIG_FILE,
            &remote_yaml("SylabsCloud", "from-remote"),
        );
        let all = TokenSources {
            sylabs_auth_token: Some("from-auth-env".into()),
            sylabs_token: Some("from-env".into()),
            token_file: Some(flag_file.clone()),
            ..home.sources()
        };
        let flag_source = format!("token from {}", flag_file.display());
        let legacy_source = format!(
            "token from {}",
            home.dir.path().join(LEGACY_TOKEN_FILE).display()
        );
        let remote_source = format!(
            "token from {} (remote `SylabsCloud`)",
            home.dir.path().join(REMOTE_CONFIG_FILE).display()
        );
        // (case, sources, expected token and source)
        type Case<'a> = (&'a str, TokenSources, Option<(&'a str, &'a str)>);
        let cases: Vec<Case<'_>> = vec![
            (
                "an explicit --token-file first",
                all.clone(),
                Some(("from-flag", flag_source.as_str())),
            ),
            (
                "then SYLABS_AUTH_TOKEN",
                TokenSources {
                    token_file: None,
                    ..all.clone()
                },
                Some(("from-auth-env", "token from SYLABS_AUTH_TOKEN")),
            ),
            (
                "then SYLABS_TOKEN",
                TokenSources {
                    sylabs_auth_token: None,
                    token_file: None,
                    ..all.clone()
                },
                Some(("from-env", "token from SYLABS_TOKEN")),
            ),
            (
                "blank variables count as unset",
                TokenSources {
                    sylabs_auth_token: Some(String::new()),
                    sylabs_token: Some("  ".into()),
                    ..all.clone()
                },
                Some(("from-flag", flag_source.as_str())),
            ),
            (
                "then the legacy file",
                TokenSources {
                    token_file: None,
                    sylabs_auth_token: None,
                    sylabs_token: None,
                    ..home.sources()
                },
                Some(("from-legacy", legacy_source.as_str())),
            ),
            ("no home, no token", TokenSources::default(), None),
        ];
        for (name, sources, expected) in cases {
            let expected = expected.map(|(t, s)| (t.to_owned(), s.to_owned()));
            assert_eq!(resolved(&sources), expected, "{name}");
        }
        std::fs::write(home.dir.path().join(LEGACY_TOKEN_FILE), "\n").expect("write");
        assert_eq!(
            resolved(&home.sources()),
            Some(("from-remote".to_owned(), remote_source)),
            "an empty legacy file is skipped"
        );
    }

    #[test]
    fn remote_config_uses_the_active_remote() {
        let home = Home::new();
        let path = home.write(REMOTE_CONFIG_FILE, &remote_yaml("SylabsCloud", SECRET));
        let found = resolve_token(&home.sources())
            .expect("valid")
            .expect("a token");
        assert_eq!(found.token.expose(), SECRET);
        assert_eq!(
            found.source,
            TokenSource::RemoteConfig {
                path,
                remote: "SylabsCloud".into(),
                uri: Some("cloud.sylabs.io".into()),
            }
        );
        for (name, text) in [
            ("another remote is active", remote_yaml("Other", SECRET)),
            (
                "the active remote has no token",
                remote_yaml("SylabsCloud", "''"),
            ),
            ("no active remote", "Remotes: {}\n".to_owned()),
            ("empty file", String::new()),
        ] {
            home.write(REMOTE_CONFIG_FILE, &text);
            assert_eq!(resolved(&home.sources()), None, "{name}");
        }
    }

    #[test]
    fn errors_name_the_file_and_never_the_token() {
        let home = Home::new();
        let missing = home.dir.path().join("nope");
        let empty = home.write("empty", " \n");
        let cases = [
            (
                TokenSources {
                    token_file: Some(missing.clone()),
                    ..TokenSources::default()
                },
                format!("the token file `{}` does not exist", missing.display()),
            ),
            (
                TokenSources {
                    token_file: Some(empty.clone()),
                    ..TokenSources::default()
                },
                format!("the token file `{}` is empty", empty.display()),
            ),
            (
                TokenSources {
                    token_file: Some(home.dir.path().to_owned()),
                    ..TokenSources::default()
                },
                format!("cannot read `{}`", home.dir.path().display()),
            ),
        ];
        for (sources, expected) in cases {
            match resolve_token(&sources) {
                Err(error) => assert_eq!(error.to_string(), expected),
                Ok(found) => panic!("expected `{expected}`, found {found:?}"),
            }
        }
        let path = home.write(
            REMOTE_CONFIG_FILE,
            &format!("Active: SylabsCloud\nRemotes:\n  SylabsCloud:\n    Token: [{SECRET}\n"),
        );
        match resolve_token(&home.sources()) {
            Err(error @ AuthError::RemoteConfig { .. }) => {
                let text = format!("{error} {error:?}");
                assert!(text.contains(&path.display().to_string()), "{text}");
                assert!(!text.contains(SECRET), "{text}");
            }
            other => panic!("expected a remote config error, found {other:?}"),
        }
    }
}
