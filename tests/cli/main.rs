//! End-to-end tests of the `sifbake` binary. One integration binary, a module per topic.

/// Runs the binary in a scrubbed environment and checks what it printed.
mod support;

/// `sifbake build` against the emulator: order, reruns, failures, signals, faults.
mod build;
/// SIGTERM and SIGINT during a build: remote builds cancelled, the result still written.
mod cancellation;
/// `tests/cases/<name>/`: a repository tree and an `expect` file per bad (or good) input.
mod cases;
/// Conventions every command shares: GitHub reports from `validate`, schemas in JSON.
mod ci_conventions;
/// Colour only where a terminal shows it (not under act).
mod colour;
/// `sifbake completions` and `sifbake man`.
mod completions;
/// SingularityCE's own parser (conformance/cmd/defparse) as a live oracle for sifbake's
/// reading of definition files: the corpus, and a seeded differential fuzz.
mod defparse_oracle;
/// `--emulate-dir`: the emulated library kept between runs.
mod emulate_state;
/// One CI job per target and arch: `--arch`, `--no-deps`, the plan's levels.
mod fan_out;
/// The fault matrix: every endpoint under every injected fault, and emulator restarts; the
/// table in RELIABILITY.md is rendered from it.
mod fault_matrix;
/// Commit statuses and the sticky pull-request comment, against a fake GitHub API.
mod github_api;
/// Hostile input too large for `tests/cases/`, and the cases table of RELIABILITY.md.
mod hostile;
/// `sifbake init` on generated trees: what it writes validates.
mod init;
/// `sifbake inspect`.
mod inspect;
/// `sifbake key push`: the public key in the emulated keystore, judged by scs-key-client.
mod keystore;
/// Only images whose upload completed count as existing.
mod library_state;
/// Build logs streamed live, and the builder's reason for a failure in every report.
mod live_logs;
/// `labels:`, `mirrors:` and `sign:` in the manifest, end to end.
mod manifest_keys;
/// The `tags`, `version` and `labels` outputs, on GitHub and in GitLab's dotenv.
mod metadata_outputs;
/// Mirrors to a real OCI registry: every tag pulled back by `oras`, re-runs push no file.
mod mirrors;
/// A service out for a while costs no build.
mod outages;
/// Reports and logs that cannot be written after the builds.
mod output_failures;
/// Paths that leave the repository are refused before anything is uploaded.
mod paths;
/// `sifbake plan` on examples/ in scratch repositories, under simulated CI contexts.
mod plan;
/// Provenance labels in every submitted definition.
mod provenance;
/// `build --pull` and `sifbake pull`: image files out of the library, checked; Sylabs'
/// library client exchanging files with sifbake's both ways.
mod pull;
/// `--ref NAME` resolved through git; a checkout detached at a tag builds the tag.
mod ref_resolution;
/// What `plan`, `build` and `tag` write for CI: GitHub outputs, summary and annotations;
/// JUnit and dotenv reports.
mod reports;
/// The secrets canary: a known token never shows in any output of any command.
mod secrets;
/// What a refused service call says.
mod service_errors;
/// `sifbake sign` and `verify` on local files, judged by the SIF reference too.
mod sign_verify;
/// `sign:` in `build`: every image signed before a tag names it, verified by sifbake and
/// the SIF reference; bad keys, a refused upload and the secrets canary.
mod signing;
/// docker/metadata-action's tag language and the `latest` rule, on real git tags.
mod tag_language;
/// Fresh OpenPGP keys for the keystore tests.
#[path = "../../emulator/tests/it/test_keys.rs"]
mod test_keys;
/// Plain http only for loopback unless `--allow-insecure`; TLS always verified.
mod transport;
/// `sifbake validate` on examples/ and on generated trees.
mod validate;
/// The wire comparison: sifbake's requests against those of Sylabs' own clients, as the
/// emulator records them.
mod wire;

/// Builds the Go drivers of conformance/.
#[path = "../../conformance/go_tools.rs"]
mod go_tools;
