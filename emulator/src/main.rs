//! The `scs-emulator` binary: starts the emulator, prints its base URL on stdout once it
//! accepts connections, logs to stderr, and stops cleanly on SIGINT or SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use scs_emulator::{Emulator, EmulatorConfig, FaultRule, parse_duration};

/// A faithful, fault-injecting stand-in for the Sylabs build service and library.
#[derive(Debug, Parser)]
#[command(name = "scs-emulator", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", env = "SCS_EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// Bearer token to accept (repeatable). Without any, every request is accepted.
    #[arg(long = "token", value_name = "TOKEN")]
    tokens: Vec<String>,
    /// Token for the admin API under /_emulator/ (default: any accepted token).
    #[arg(long, value_name = "TOKEN")]
    admin_token: Option<String>,
    /// Persist the library (images and metadata) in this directory.
    #[arg(long, value_name = "DIR", env = "SCS_EMULATOR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The library apiVersion to announce.
    #[arg(long, value_name = "VERSION", default_value = scs_emulator::DEFAULT_LIBRARY_API_VERSION, conflicts_with = "v1_only")]
    library_api_version: String,
    /// Announce no apiVersion: a v1-only library (no v2 uploads or arch tags).
    #[arg(long)]
    v1_only: bool,
    /// Fail builds whose `Bootstrap: library` base is not in this library.
    #[arg(long)]
    strict_bases: bool,
    /// Maximum build duration (e.g. 1h, 20m, 30s).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
    max_build_duration: Duration,
    /// Build duration when a definition has no `# emulator: duration=` directive.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    default_build_duration: Duration,
    /// User name the tokens belong to (ephemeral builds go to <user>/remote-builds).
    #[arg(long, value_name = "NAME", default_value = "emulated-user")]
    user: String,
    /// A fault rule active from the start, as JSON (repeatable), e.g.
    /// '{"route":"POST v1/build","times":1,"action":{"kind":"status","status":503}}'.
    #[arg(long = "fault", value_name = "JSON", value_parser = fault_rule)]
    faults: Vec<FaultRule>,
    /// Record the shape of every request (never a value), served at /_emulator/requests.
    #[arg(long)]
    record_requests: bool,
    /// Serve no OpenPGP keystore (HKP `/pks/`), and name none in the discovery document.
    #[arg(long)]
    no_keystore: bool,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration (use 500ms, 2s, 1m, 1h)"))
}

fn fault_rule(text: &str) -> Result<FaultRule, String> {
    serde_json::from_str(text).map_err(|error| format!("invalid fault rule: {error}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let config = EmulatorConfig {
        listen: cli.listen,
        tokens: cli.tokens,
        admin_token: cli.admin_token,
        data_dir: cli.data_dir,
        library_api_version: (!cli.v1_only).then_some(cli.library_api_version),
        strict_bases: cli.strict_bases,
        max_build_duration: cli.max_build_duration,
        default_build_duration: cli.default_build_duration,
        user: cli.user,
        faults: cli.faults,
        record_requests: cli.record_requests,
        keystore: !cli.no_keystore,
    };
    if config.tokens.is_empty() {
        tracing::warn!("no --token given: every request is accepted without authentication");
    }
    let emulator = match Emulator::start(config).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            return ExitCode::FAILURE;
        }
    };
    // The URL on stdout is the contract with scripts: one line, printed once listening.
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "{}", emulator.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        emulator.shutdown().await;
        return ExitCode::FAILURE;
    }
    let signal = wait_for_signal().await;
    tracing::info!(signal, "stopping");
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

/// Completes on SIGINT or SIGTERM, returning the signal's name.
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers, fall back to Ctrl-C only.
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
