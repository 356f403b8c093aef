//! Every environment variable sifbake reads, in one place (as uv's `EnvVars`): flags name
//! these constants, and tests scrub them all so a CI runner's own variables cannot leak in.
//! The CI variables the ref context is read from are listed in `context::vars`.

/// The repository root (`-C`).
pub const SIFBAKE_DIRECTORY: &str = "SIFBAKE_DIRECTORY";
/// The manifest file (`-f`).
pub const SIFBAKE_FILE: &str = "SIFBAKE_FILE";
/// Output format (`--format`).
pub const SIFBAKE_FORMAT: &str = "SIFBAKE_FORMAT";
/// `plan`'s output format (`plan --format`): also `github-matrix`, which no other command
/// has, so a shared SIFBAKE_FORMAT never holds it.
pub const SIFBAKE_PLAN_FORMAT: &str = "SIFBAKE_PLAN_FORMAT";
/// Compare with this revision (`--since`).
pub const SIFBAKE_SINCE: &str = "SIFBAKE_SINCE";
/// Consider every target changed (`--all`).
pub const SIFBAKE_ALL: &str = "SIFBAKE_ALL";
/// Only these targets (`--targets`).
pub const SIFBAKE_TARGETS: &str = "SIFBAKE_TARGETS";
/// Only these architectures of the selected targets (`--arch`).
pub const SIFBAKE_ARCH: &str = "SIFBAKE_ARCH";
/// Only the `--targets` named, on the images their dependencies already have (`--no-deps`).
pub const SIFBAKE_NO_DEPS: &str = "SIFBAKE_NO_DEPS";
/// The git ref to build for (`--ref`).
pub const SIFBAKE_REF: &str = "SIFBAKE_REF";
/// The commit to build for (`--sha`).
pub const SIFBAKE_SHA: &str = "SIFBAKE_SHA";
/// The repository's default branch (`--default-branch`).
pub const SIFBAKE_DEFAULT_BRANCH: &str = "SIFBAKE_DEFAULT_BRANCH";
/// The Sylabs frontend (`--remote`).
pub const SIFBAKE_REMOTE: &str = "SIFBAKE_REMOTE";
/// The build service (`--builder-url`).
pub const SIFBAKE_BUILDER_URL: &str = "SIFBAKE_BUILDER_URL";
/// The library (`--library-url`).
pub const SIFBAKE_LIBRARY_URL: &str = "SIFBAKE_LIBRARY_URL";
/// The keystore (`key push --keystore-url`).
pub const SIFBAKE_KEYSTORE_URL: &str = "SIFBAKE_KEYSTORE_URL";
/// The token file (`--token-file`).
pub const SIFBAKE_TOKEN_FILE: &str = "SIFBAKE_TOKEN_FILE";
/// Allow plain http to other hosts (`--allow-insecure`).
pub const SIFBAKE_ALLOW_INSECURE: &str = "SIFBAKE_ALLOW_INSECURE";
/// How long one REST request may take (`--request-timeout`, hidden).
pub const SIFBAKE_REQUEST_TIMEOUT: &str = "SIFBAKE_REQUEST_TIMEOUT";
/// Use the in-process emulator (`--emulate`).
pub const SIFBAKE_EMULATE: &str = "SIFBAKE_EMULATE";
/// `--emulate-dir`.
pub const SIFBAKE_EMULATE_DIR: &str = "SIFBAKE_EMULATE_DIR";
/// Parallel builds (`--jobs`).
pub const SIFBAKE_JOBS: &str = "SIFBAKE_JOBS";
/// Stop at the first failure (`--fail-fast`).
pub const SIFBAKE_FAIL_FAST: &str = "SIFBAKE_FAIL_FAST";
/// Stop before building (`--dry-run`).
pub const SIFBAKE_DRY_RUN: &str = "SIFBAKE_DRY_RUN";
/// Where build logs go (`--log-dir`).
pub const SIFBAKE_LOG_DIR: &str = "SIFBAKE_LOG_DIR";
/// The access token (scs-build's name for it).
pub const SYLABS_AUTH_TOKEN: &str = "SYLABS_AUTH_TOKEN";
/// The access token.
pub const SYLABS_TOKEN: &str = "SYLABS_TOKEN";
/// The user's home, where `singularity remote login` keeps its files.
pub const HOME: &str = "HOME";
/// The file GitHub Actions reads step outputs from.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// The file GitHub Actions reads the step's Markdown summary from.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// The runner's checkout of the repository: annotation paths are made relative to it.
pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";
/// `owner/name` of the repository, for commit statuses and the pull-request comment.
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// The REST API (`https://api.github.com`, or GitHub Enterprise Server's `…/api/v3`).
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
/// The web server (`https://github.com`), for links to the workflow run.
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
/// The workflow run, for links from commit statuses and the pull-request comment.
pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
/// Whether to write the Markdown summary to `$GITHUB_STEP_SUMMARY` (`--summary`).
pub const SIFBAKE_SUMMARY: &str = "SIFBAKE_SUMMARY";
/// Where to write a JUnit XML report (`--junit`).
pub const SIFBAKE_JUNIT: &str = "SIFBAKE_JUNIT";
/// Where to write a GitLab dotenv report (`--dotenv`).
pub const SIFBAKE_DOTENV: &str = "SIFBAKE_DOTENV";
/// Set a commit status per target on GitHub (`--github-statuses`).
pub const SIFBAKE_GITHUB_STATUSES: &str = "SIFBAKE_GITHUB_STATUSES";
/// Keep one comment on the pull request up to date (`--github-comment`).
pub const SIFBAKE_GITHUB_COMMENT: &str = "SIFBAKE_GITHUB_COMMENT";
/// The GitHub token for statuses and the comment. Only this name is read: a `GITHUB_TOKEN`
/// that a workflow exports for other tools is never picked up by accident.
pub const SIFBAKE_GITHUB_TOKEN: &str = "SIFBAKE_GITHUB_TOKEN";
/// Colour choice (`--color`).
pub const SIFBAKE_COLOR: &str = "SIFBAKE_COLOR";
/// Disables colour when set to anything (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// Set by nektos/act, which runs GitHub workflows locally: its terminal is read as a log.
pub const ACT: &str = "ACT";
/// Seconds since the Unix epoch to take as the run's time for `{{date …}}` tag expressions
/// (<https://reproducible-builds.org/specs/source-date-epoch/>); default: now.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The user name for every mirror registry without its own (`SIFBAKE_REGISTRY_<HOST>_USERNAME`,
/// see [`crate::oci::registry_env_prefix`]) or a Docker config entry.
pub const SIFBAKE_REGISTRY_USERNAME: &str = "SIFBAKE_REGISTRY_USERNAME";
/// The password or token that goes with [`SIFBAKE_REGISTRY_USERNAME`].
pub const SIFBAKE_REGISTRY_PASSWORD: &str = "SIFBAKE_REGISTRY_PASSWORD";
/// The directory holding Docker's `config.json` (default `~/.docker`), where `docker login`
/// and `oras login` keep registry credentials.
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
/// GitLab CI's container registry (`host[:port]`): a mirror there uses the job's
/// [`CI_REGISTRY_USER`] and [`CI_REGISTRY_PASSWORD`] with no setup.
pub const CI_REGISTRY: &str = "CI_REGISTRY";
/// The user GitLab CI gives a job for its container registry.
pub const CI_REGISTRY_USER: &str = "CI_REGISTRY_USER";
/// The job's password for GitLab's container registry.
pub const CI_REGISTRY_PASSWORD: &str = "CI_REGISTRY_PASSWORD";

/// Variables that hold secrets: never kept in the settings snapshot, never printed. The
/// token is read once, where it is wrapped in a type that cannot print it.
pub const SECRETS: &[&str] = &[
    SYLABS_AUTH_TOKEN,
    SYLABS_TOKEN,
    SIFBAKE_GITHUB_TOKEN,
    SIFBAKE_REGISTRY_PASSWORD,
    CI_REGISTRY_PASSWORD,
];

/// Every variable above, for tests that must run with none of them set.
pub const ALL: &[&str] = &[
    SIFBAKE_DIRECTORY,
    SIFBAKE_FILE,
    SIFBAKE_FORMAT,
    SIFBAKE_PLAN_FORMAT,
    SIFBAKE_SINCE,
    SIFBAKE_ALL,
    SIFBAKE_TARGETS,
    SIFBAKE_ARCH,
    SIFBAKE_NO_DEPS,
    SIFBAKE_REF,
    SIFBAKE_SHA,
    SIFBAKE_DEFAULT_BRANCH,
    SIFBAKE_REMOTE,
    SIFBAKE_BUILDER_URL,
    SIFBAKE_LIBRARY_URL,
    SIFBAKE_KEYSTORE_URL,
    SIFBAKE_TOKEN_FILE,
    SIFBAKE_ALLOW_INSECURE,
    SIFBAKE_REQUEST_TIMEOUT,
    SIFBAKE_EMULATE,
    SIFBAKE_EMULATE_DIR,
    SIFBAKE_JOBS,
    SIFBAKE_FAIL_FAST,
    SIFBAKE_DRY_RUN,
    SIFBAKE_LOG_DIR,
    SYLABS_AUTH_TOKEN,
    SYLABS_TOKEN,
    HOME,
    GITHUB_OUTPUT,
    GITHUB_STEP_SUMMARY,
    GITHUB_WORKSPACE,
    GITHUB_REPOSITORY,
    GITHUB_API_URL,
    GITHUB_SERVER_URL,
    GITHUB_RUN_ID,
    SIFBAKE_SUMMARY,
    SIFBAKE_JUNIT,
    SIFBAKE_DOTENV,
    SIFBAKE_GITHUB_STATUSES,
    SIFBAKE_GITHUB_COMMENT,
    SIFBAKE_GITHUB_TOKEN,
    SIFBAKE_COLOR,
    SOURCE_DATE_EPOCH,
    NO_COLOR,
    ACT,
    SIFBAKE_REGISTRY_USERNAME,
    SIFBAKE_REGISTRY_PASSWORD,
    DOCKER_CONFIG,
    CI_REGISTRY,
    CI_REGISTRY_USER,
    CI_REGISTRY_PASSWORD,
];
