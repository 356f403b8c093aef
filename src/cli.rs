//! The command line as typed: clap definitions and nothing else ("low" arguments).
//! `settings.rs` resolves them against the environment and defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// The help heading of the flags every command takes, so a command's own flags stand apart.
///
/// Every command's help has one layout: `Options` (its own flags), then the groups it shares
/// with other commands, each under its heading (`Selection`, `Git ref`, `Service`,
/// `CI reports`), then `Global options`. A flattened group's heading carries over to the
/// fields after it, so a command declares its own flags before its groups.
pub const GLOBAL_HEADING: &str = "Global options";

/// Build Singularity definition files on a remote build service, only when they changed,
/// and tag the images by git ref.
#[derive(Debug, Parser)]
#[command(name = "sifbake", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Run as if started in DIR, the repository root.
    #[arg(short = 'C', long = "directory", value_name = "DIR", global = true, help_heading = GLOBAL_HEADING, env = env::SIFBAKE_DIRECTORY)]
    pub directory: Option<PathBuf>,

    /// When to use colour (`NO_COLOR` is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, help_heading = GLOBAL_HEADING, env = env::SIFBAKE_COLOR)]
    pub color: ColorChoice,

    /// Print more detail (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = GLOBAL_HEADING)]
    pub verbose: u8,

    /// Print less: only errors and the result.
    #[arg(short, long, global = true, help_heading = GLOBAL_HEADING, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest and every definition file it names, without a network.
    Validate(ValidateArgs),
    /// Show what sifbake reads in one definition file.
    Inspect(InspectArgs),
    /// Show which targets need a build, a retag or nothing, and why, without a network.
    Plan(PlanArgs),
    /// Build what changed on the remote build service, in parallel, and tag the images.
    Build(BuildArgs),
    /// Set this ref's tags on images that already exist by digest, building nothing.
    Tag(TagArgs),
    /// Download the images this ref's tags name, checked against the library's SHA-256.
    Pull(PullArgs),
    /// Publish OpenPGP public keys in the remote's keystore, as `singularity key push`.
    Key(KeyArgs),
    /// Sign a local SIF image in place, exactly as `singularity sign` does.
    Sign(SignArgs),
    /// Check local SIF images' signatures, as `singularity verify` does.
    Verify(VerifyArgs),
    /// Write a commented sifbake.yaml for the definition files found here; never overwrites.
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one per command to a directory.
    Man(ManArgs),
}

/// Where the manifest is.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The manifest [default: sifbake.yaml in the repository root].
    #[arg(short = 'f', long = "file", value_name = "FILE", env = env::SIFBAKE_FILE)]
    pub file: Option<PathBuf>,
}

/// `sifbake validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, env = env::SIFBAKE_FORMAT)]
    pub format: Format,
}

/// Which targets a run considers, and what it compares against.
#[derive(Debug, Args)]
#[command(next_help_heading = "Selection")]
pub struct SelectionArgs {
    /// Compare with this git revision instead of the CI event's base.
    #[arg(long, value_name = "REV", env = env::SIFBAKE_SINCE, conflicts_with = "all")]
    pub since: Option<String>,

    /// Consider every target changed (rebuilds even images that exist).
    #[arg(long, env = env::SIFBAKE_ALL)]
    pub all: bool,

    /// Only these targets (comma-separated), and the targets they build on.
    #[arg(long, value_name = "A,B", value_delimiter = ',', env = env::SIFBAKE_TARGETS)]
    pub targets: Vec<String>,

    /// Only these architectures of the selected targets (comma-separated), for one CI job
    /// per architecture.
    #[arg(long, value_name = "A,B", value_delimiter = ',', env = env::SIFBAKE_ARCH)]
    pub arch: Vec<String>,

    /// Only the `--targets` named, not the targets they build on: those must have their
    /// images already (found by digest tag), as a previous CI job of the plan's levels
    /// built them.
    #[arg(long, requires = "targets", env = env::SIFBAKE_NO_DEPS)]
    pub no_deps: bool,
}

/// Overrides for the git ref the run builds for.
#[derive(Debug, Args)]
#[command(next_help_heading = "Git ref")]
pub struct RefArgs {
    /// The ref to build for: `refs/heads/BRANCH`, `refs/tags/TAG`, `refs/pull/N/head`, or a
    /// bare name git resolves to a tag or a branch [default: from the CI environment or
    /// local git].
    #[arg(long = "ref", value_name = "REF", env = env::SIFBAKE_REF)]
    pub reference: Option<String>,

    /// The commit to build for [default: from the CI environment or local git].
    #[arg(long, value_name = "SHA", env = env::SIFBAKE_SHA, value_parser = commit_sha)]
    pub sha: Option<String>,

    /// The repository's default branch [default: from the CI environment or origin/HEAD].
    #[arg(long, value_name = "BRANCH", env = env::SIFBAKE_DEFAULT_BRANCH)]
    pub default_branch: Option<String>,
}

/// `sifbake plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// Output format [default: text, or SIFBAKE_FORMAT (text or json), the variable every
    /// command shares; the others belong to `plan` alone, so their variable is
    /// SIFBAKE_PLAN_FORMAT].
    #[arg(long, value_enum, env = env::SIFBAKE_PLAN_FORMAT)]
    pub format: Option<PlanFormat>,

    #[command(flatten)]
    pub selection: SelectionArgs,

    #[command(flatten)]
    pub reference: RefArgs,

    #[command(flatten)]
    pub report: PlanReportArgs,
}

/// What `plan` reports to CI besides its output.
#[derive(Debug, Args)]
#[command(next_help_heading = "CI reports")]
pub struct PlanReportArgs {
    /// Write a Markdown summary to $GITHUB_STEP_SUMMARY when it is set (`false` turns it off).
    #[arg(long, value_name = "BOOL", env = env::SIFBAKE_SUMMARY, default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub summary: bool,

    /// Write a GitLab dotenv report to FILE (`SIFBAKE_HAS_CHANGES`, …), relative to the
    /// working directory, not to `-C`.
    #[arg(long, value_name = "FILE", env = env::SIFBAKE_DOTENV)]
    pub dotenv: Option<PathBuf>,
}

/// What `build` and `tag` report to CI besides their output.
#[derive(Debug, Args)]
#[command(next_help_heading = "CI reports")]
pub struct ReportArgs {
    /// Write a Markdown summary to $GITHUB_STEP_SUMMARY when it is set (`false` turns it off).
    #[arg(long, value_name = "BOOL", env = env::SIFBAKE_SUMMARY, default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub summary: bool,

    /// Write a JUnit XML report to FILE: one test case per target and architecture. FILE is
    /// relative to the working directory, not to `-C`, where CI collects artifacts.
    #[arg(long, value_name = "FILE", env = env::SIFBAKE_JUNIT)]
    pub junit: Option<PathBuf>,

    /// Write a GitLab dotenv report to FILE (`SIFBAKE_BUILT_REFS`, …), relative to the
    /// working directory, not to `-C`.
    #[arg(long, value_name = "FILE", env = env::SIFBAKE_DOTENV)]
    pub dotenv: Option<PathBuf>,

    /// Set a commit status per target on GitHub (needs SIFBAKE_GITHUB_TOKEN with
    /// `statuses: write`).
    #[arg(long, env = env::SIFBAKE_GITHUB_STATUSES)]
    pub github_statuses: bool,

    /// Keep one comment on the pull request up to date with the result (needs
    /// SIFBAKE_GITHUB_TOKEN with `pull-requests: write`).
    #[arg(long, env = env::SIFBAKE_GITHUB_COMMENT)]
    pub github_comment: bool,
}

/// `sifbake plan --format`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    /// `{"include": [...]}` for a GitHub Actions matrix, one entry per image to build or retag.
    GithubMatrix,
    /// `levels=N` and `levelK={"include": [...]}` per level, for `$GITHUB_OUTPUT`: a matrix
    /// job per level, each `needs:` the one before, running `build --no-deps`.
    GithubLevels,
    /// A GitLab child pipeline (for `trigger: include: - artifact:`): a job per image,
    /// `needs:` following the dependencies, each running `build --no-deps`.
    GitlabPipeline,
}

/// Where the Sylabs services are and how to reach them.
#[derive(Debug, Args)]
#[command(next_help_heading = "Service")]
pub struct RemoteArgs {
    /// The Sylabs frontend whose services are discovered.
    #[arg(long, value_name = "URL", default_value = "https://cloud.sylabs.io", env = env::SIFBAKE_REMOTE)]
    pub remote: String,

    /// The build service, instead of the discovered one.
    #[arg(long, value_name = "URL", env = env::SIFBAKE_BUILDER_URL)]
    pub builder_url: Option<String>,

    /// The library, instead of the discovered one.
    #[arg(long, value_name = "URL", env = env::SIFBAKE_LIBRARY_URL)]
    pub library_url: Option<String>,

    /// Read the access token from this file (else SYLABS_AUTH_TOKEN, SYLABS_TOKEN,
    /// ~/.singularity/sylabs-token, or the active remote of ~/.singularity/remote.yaml).
    #[arg(long, value_name = "FILE", env = env::SIFBAKE_TOKEN_FILE)]
    pub token_file: Option<PathBuf>,

    /// Allow plain http:// to hosts other than this machine.
    #[arg(long, env = env::SIFBAKE_ALLOW_INSECURE)]
    pub allow_insecure: bool,

    /// How long one REST request may take (`30s` by default, as the reference build
    /// client). Hidden: for slow networks and for tests that inject latency.
    #[arg(long, value_name = "DURATION", env = env::SIFBAKE_REQUEST_TIMEOUT, hide = true, value_parser = request_timeout)]
    pub request_timeout: Option<std::time::Duration>,

    /// Run against an emulated build service and library started in this process: no
    /// account needed, nothing is really built (for demos and fork pull requests).
    #[arg(long, env = env::SIFBAKE_EMULATE, conflicts_with_all = ["builder_url", "library_url"])]
    pub emulate: bool,

    /// Keep the emulated library in this directory between runs, so a re-run, or a `tag`
    /// after a `build`, finds the images made before [default: a new, empty library].
    #[arg(long, value_name = "DIR", env = env::SIFBAKE_EMULATE_DIR, requires = "emulate")]
    pub emulate_dir: Option<PathBuf>,
}

/// `sifbake build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// Builds at most N at once [default: the ready targets, at most 8].
    #[arg(short, long, value_name = "N", env = env::SIFBAKE_JOBS, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// Keep building what does not depend on a failed target (the default).
    #[arg(long, overrides_with = "fail_fast")]
    pub keep_going: bool,

    /// Stop at the first failure: cancel running builds, start no more.
    #[arg(long, env = env::SIFBAKE_FAIL_FAST, overrides_with = "keep_going")]
    pub fail_fast: bool,

    /// Plan, connect and check the token, then stop before building anything.
    #[arg(long, env = env::SIFBAKE_DRY_RUN)]
    pub dry_run: bool,

    /// Write each build's log to DIR/<target>-<arch>.log.
    #[arg(long, value_name = "DIR", env = env::SIFBAKE_LOG_DIR)]
    pub log_dir: Option<PathBuf>,

    /// After the run, download every image it built or retagged to DIR/<target>.sif
    /// (<target>_<arch>.sif for a target with several architectures), checked against the
    /// library's SHA-256.
    #[arg(long, value_name = "DIR")]
    pub pull: Option<PathBuf>,

    /// Output format of the result on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, env = env::SIFBAKE_FORMAT)]
    pub format: Format,

    #[command(flatten)]
    pub selection: SelectionArgs,

    #[command(flatten)]
    pub reference: RefArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `sifbake tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// Only these targets (comma-separated).
    #[arg(long, value_name = "A,B", value_delimiter = ',', env = env::SIFBAKE_TARGETS)]
    pub targets: Vec<String>,

    /// Output format of the result on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, env = env::SIFBAKE_FORMAT)]
    pub format: Format,

    #[command(flatten)]
    pub reference: RefArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `sifbake key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// `sifbake key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Upload a public key to the keystore (HKP) the remote's discovery document names, so
    /// `singularity verify` and `sifbake verify --keystore` find it by fingerprint.
    Push(KeyPushArgs),
}

/// `sifbake key push`.
#[derive(Debug, Args)]
pub struct KeyPushArgs {
    /// The ASCII-armored key: a public key, or a private key whose public part is pushed
    /// (its secret part never leaves this machine).
    #[arg(value_name = "KEY.asc")]
    pub key: PathBuf,

    /// The environment variable holding a private key's passphrase; read only when KEY.asc
    /// is a private key, which is unlocked and checked as for signing.
    #[arg(long, value_name = "NAME", default_value = "SIFBAKE_SIGN_PASSPHRASE")]
    pub passphrase_env: String,

    /// Output format of the result on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, env = env::SIFBAKE_FORMAT)]
    pub format: Format,

    #[command(flatten)]
    pub keystore: KeystoreArgs,
}

/// Where the keystore is and how to reach it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Service")]
pub struct KeystoreArgs {
    /// The Sylabs frontend whose keystore (`keystoreAPI`) is discovered.
    #[arg(long, value_name = "URL", default_value = "https://cloud.sylabs.io", env = env::SIFBAKE_REMOTE)]
    pub remote: String,

    /// The keystore, instead of the discovered one.
    #[arg(long, value_name = "URL", env = env::SIFBAKE_KEYSTORE_URL)]
    pub keystore_url: Option<String>,

    /// Read the access token from this file (else SYLABS_AUTH_TOKEN, SYLABS_TOKEN,
    /// ~/.singularity/sylabs-token, or the active remote of ~/.singularity/remote.yaml).
    #[arg(long, value_name = "FILE", env = env::SIFBAKE_TOKEN_FILE)]
    pub token_file: Option<PathBuf>,

    /// Allow plain http:// to hosts other than this machine.
    #[arg(long, env = env::SIFBAKE_ALLOW_INSECURE)]
    pub allow_insecure: bool,

    /// How long one request may take (`30s` by default). Hidden: for tests.
    #[arg(long, value_name = "DURATION", env = env::SIFBAKE_REQUEST_TIMEOUT, hide = true, value_parser = request_timeout)]
    pub request_timeout: Option<std::time::Duration>,
}

/// `sifbake pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Where the files go: DIR/<target>.sif, or DIR/<target>_<arch>.sif for a target with
    /// several architectures [default: the current directory].
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// Only these targets (comma-separated).
    #[arg(long, value_name = "A,B", value_delimiter = ',', env = env::SIFBAKE_TARGETS)]
    pub targets: Vec<String>,

    /// Output format on stdout: the files written, one a line, or a JSON document.
    #[arg(long, value_enum, default_value_t = Format::Text, env = env::SIFBAKE_FORMAT)]
    pub format: Format,

    /// Check each image's signatures before it is written (with `--key` or `--keystore`):
    /// an image that does not verify is not written, and the exit code is 1.
    #[arg(long)]
    pub verify: bool,

    #[command(flatten)]
    pub keys: VerifyKeys,

    #[command(flatten)]
    pub reference: RefArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `sifbake inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The definition file.
    #[arg(value_name = "FILE.def")]
    pub file: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, env = env::SIFBAKE_FORMAT)]
    pub format: Format,
}

/// `sifbake init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The manifest to write [default: sifbake.yaml in the repository root]. An existing
    /// file is never overwritten.
    #[arg(short = 'f', long = "file", value_name = "FILE", env = env::SIFBAKE_FILE)]
    pub file: Option<PathBuf>,

    /// The library images publish to, `library://[host/]entity/collection` [default:
    /// inferred from `From:` lines that name a definition file found, else a placeholder].
    #[arg(long, value_name = "LIBRARY")]
    pub library: Option<String>,

    /// Print the manifest on stdout instead of writing it.
    #[arg(long)]
    pub stdout: bool,
}

/// `sifbake completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `sifbake man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write sifbake.1 and a page per command (sifbake-build.1, …) to DIR instead of
    /// printing sifbake.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Parses `--request-timeout`: a duration as the manifest writes them, not zero.
/// A commit hash as `sha-` tags and the plan use it: 4 to 40 hexadecimal digits, lowercase.
/// `ZZZZ` would otherwise become the tag `sha-zzzz`, and an empty value blame `HEAD`.
fn commit_sha(text: &str) -> Result<String, String> {
    let sha = text.trim();
    if sha.is_empty() {
        return Err("the commit is empty: give its hash (`git rev-parse HEAD`)".to_owned());
    }
    if !(4..=40).contains(&sha.len()) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "`{sha}` is not a commit hash: give 4 to 40 hexadecimal digits (`git rev-parse HEAD`)"
        ));
    }
    Ok(sha.to_ascii_lowercase())
}

fn request_timeout(text: &str) -> Result<std::time::Duration, String> {
    match crate::manifest::parse_duration(text) {
        Some(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!(
            "`{text}` is not a duration above zero (`500ms`, `10s`, `2m`)"
        )),
    }
}

#[cfg(test)]
mod sha_tests {
    use super::commit_sha;

    #[test]
    fn only_hexadecimal_commit_hashes_are_taken() {
        assert_eq!(commit_sha(" 1A2b3C4d ").as_deref(), Ok("1a2b3c4d"));
        assert!(commit_sha(&"f".repeat(40)).is_ok());
        for bad in ["", "  ", "ZZZZ", "abc", &"f".repeat(41), "12 34"] {
            assert!(commit_sha(bad).is_err(), "{bad:?}");
        }
    }
}

/// `sifbake sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The SIF image to sign in place (one signature object per object group; on any
    /// failure the file is left as it was).
    #[arg(value_name = "FILE.sif")]
    pub image: PathBuf,

    /// The ASCII-armored OpenPGP private key to sign with (`singularity key export
    /// --secret --armor`).
    #[arg(long, value_name = "KEY.asc")]
    pub key: PathBuf,

    /// The environment variable holding the key's passphrase (SIFBAKE_SIGN_PASSPHRASE by
    /// default); the passphrase is never taken on the command line, nor printed.
    #[arg(long, value_name = "NAME", default_value = "SIFBAKE_SIGN_PASSPHRASE")]
    pub passphrase_env: String,

    /// Output format of the result on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, env = env::SIFBAKE_FORMAT)]
    pub format: Format,
}

/// `sifbake verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The SIF images to check; none checks the images the current ref's tags name (as
    /// `sifbake pull` selects them), downloaded to a temporary directory. Exit code 1 when
    /// one is unsigned, signed by a key not given, or changed since it was signed.
    #[arg(value_name = "FILE.sif")]
    pub images: Vec<PathBuf>,

    #[command(flatten)]
    pub keys: VerifyKeys,

    /// With no FILE: only these targets (comma-separated).
    #[arg(long, value_name = "A,B", value_delimiter = ',', env = env::SIFBAKE_TARGETS)]
    pub targets: Vec<String>,

    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[command(flatten)]
    pub reference: RefArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,

    /// Output format of the result on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, env = env::SIFBAKE_FORMAT)]
    pub format: Format,
}

/// Where `verify` and `pull --verify` find the signers' public keys.
#[derive(Debug, Args)]
pub struct VerifyKeys {
    /// An ASCII-armored public key file (one or several keys) of a trusted signer;
    /// repeatable.
    #[arg(long = "key", value_name = "PUB.asc")]
    pub keys: Vec<PathBuf>,

    /// Fetch each signer's key from the remote's keystore by the fingerprint in the
    /// signature (as `singularity verify` does); combines with `--key`.
    #[arg(long)]
    pub keystore: bool,
}

/// Human or machine output.
#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `--color`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// The headings of a command's help, in order.
    fn headings(help: &str) -> Vec<&str> {
        help.lines()
            .filter(|line| !line.starts_with(' ') && line.ends_with(':'))
            .map(|line| line.trim_end_matches(':'))
            .collect()
    }

    #[test]
    fn every_command_help_has_one_layout_with_global_flags_apart() {
        use clap::CommandFactory;
        let order = [
            "Usage",
            "Commands",
            "Arguments",
            "Options",
            "Selection",
            "Git ref",
            "Service",
            "CI reports",
            GLOBAL_HEADING,
        ];
        let mut root = Cli::command();
        root.build();
        for command in root
            .get_subcommands_mut()
            .filter(|c| c.get_name() != "help")
        {
            let name = command.get_name().to_owned();
            let help = command.render_long_help().to_string();
            let found = headings(&help);
            let positions: Vec<usize> = found
                .iter()
                .map(|h| order.iter().position(|o| o == h).unwrap_or(usize::MAX))
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "`{name}`: headings {found:?} are not in the order {order:?}"
            );
            assert_eq!(found.last(), Some(&GLOBAL_HEADING), "`{name}`");
            let (own, global) = help.split_once("Global options:").expect("global heading");
            for flag in ["--directory", "--color", "--verbose", "--quiet"] {
                assert!(
                    !own.contains(flag),
                    "`{name}` lists {flag} among its own flags"
                );
                assert!(global.contains(flag), "`{name}` does not list {flag}");
            }
        }
    }
}
