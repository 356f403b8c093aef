//! Exit codes, and the one place errors are mapped to them (DESIGN.md, "Command line").

/// Everything worked.
pub const SUCCESS: u8 = 0;
/// A build failed (the run itself completed).
pub const BUILD_FAILED: u8 = 1;
/// Bad input: manifest, definition file or command-line arguments.
pub const BAD_INPUT: u8 = 2;
/// Service, authentication or network trouble.
pub const SERVICE: u8 = 3;
/// The builds succeeded, but a report or log asked for (`--junit`, `--dotenv`, `--log-dir`,
/// the step summary) could not be written. When a build failed, its code is kept instead.
pub const OUTPUT: u8 = 4;
/// Interrupted by SIGINT (128 + 2), after cancelling remote builds.
pub const INTERRUPTED: u8 = 130;
/// Terminated by SIGTERM (128 + 15), after cancelling remote builds.
pub const TERMINATED: u8 = 143;
