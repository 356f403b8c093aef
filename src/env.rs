//! Every environment variable sifbake reads, in one place (as uv's `EnvVars`): flags name
//! these constants, and tests scrub them all so a CI runner's own variables cannot leak in.
//! The CI variables the ref context is read from are listed in `context::vars`.

/// The repository root (`-C`).
pub const SIFBAKE_DIRECTORY: &str = "SIFBAKE_DIRECTORY";
/// The manifest file (`-f`).
pub const SIFBAKE_FILE: &str = "SIFBAKE_FILE";
/// Output format (`--format`).
pub const SIFBAKE_FORMAT: &str = "SIFBAKE_FORMAT";
/// Compare with this revision (`--since`).
pub const SIFBAKE_SINCE: &str = "SIFBAKE_SINCE";
/// Consider every target changed (`--all`).
pub const SIFBAKE_ALL: &str = "SIFBAKE_ALL";
/// Only these targets (`--targets`).
pub const SIFBAKE_TARGETS: &str = "SIFBAKE_TARGETS";
/// The git ref to build for (`--ref`).
pub const SIFBAKE_REF: &str = "SIFBAKE_REF";
/// The commit to build for (`--sha`).
pub const SIFBAKE_SHA: &str = "SIFBAKE_SHA";
/// The repository's default branch (`--default-branch`).
pub const SIFBAKE_DEFAULT_BRANCH: &str = "SIFBAKE_DEFAULT_BRANCH";
/// The file GitHub Actions reads step outputs from.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// Colour choice (`--color`).
pub const SIFBAKE_COLOR: &str = "SIFBAKE_COLOR";
/// Disables colour when set to anything (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// Every variable above, for tests that must run with none of them set.
pub const ALL: &[&str] = &[
    SIFBAKE_DIRECTORY,
    SIFBAKE_FILE,
    SIFBAKE_FORMAT,
    SIFBAKE_SINCE,
    SIFBAKE_ALL,
    SIFBAKE_TARGETS,
    SIFBAKE_REF,
    SIFBAKE_SHA,
    SIFBAKE_DEFAULT_BRANCH,
    GITHUB_OUTPUT,
    SIFBAKE_COLOR,
    NO_COLOR,
];
