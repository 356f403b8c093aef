//! Every environment variable sifbake reads, in one place (as uv's `EnvVars`): flags name
//! these constants, and tests scrub them all so a CI runner's own variables cannot leak in.

/// The repository root (`-C`).
pub const SIFBAKE_DIRECTORY: &str = "SIFBAKE_DIRECTORY";
/// The manifest file (`-f`).
pub const SIFBAKE_FILE: &str = "SIFBAKE_FILE";
/// Output format (`--format`).
pub const SIFBAKE_FORMAT: &str = "SIFBAKE_FORMAT";
/// Colour choice (`--color`).
pub const SIFBAKE_COLOR: &str = "SIFBAKE_COLOR";
/// Disables colour when set to anything (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// Every variable above, for tests that must run with none of them set.
pub const ALL: &[&str] = &[
    SIFBAKE_DIRECTORY,
    SIFBAKE_FILE,
    SIFBAKE_FORMAT,
    SIFBAKE_COLOR,
    NO_COLOR,
];
