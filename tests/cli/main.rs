//! End-to-end tests of the `sifbake` binary. One integration binary, a module per topic.

/// Runs the binary in a scrubbed environment and checks what it printed.
mod support;

/// `sifbake build` against the emulator: order, reruns, failures, signals, faults.
mod build;
/// `tests/cases/<name>/`: a repository tree and an `expect` file per bad (or good) input.
mod cases;
/// Commit statuses and the sticky pull-request comment, against a fake GitHub API.
mod github_api;
/// `sifbake inspect`.
mod inspect;
/// `sifbake plan` on examples/ in scratch repositories, under simulated CI contexts.
mod plan;
/// What `plan`, `build` and `tag` write for CI: GitHub outputs, summary and annotations;
/// JUnit and dotenv reports.
mod reports;
/// `sifbake validate` on examples/ and on generated trees.
mod validate;
