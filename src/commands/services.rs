//! Reaching the Sylabs services for `build` and `tag`: the token, discovery and the token
//! check, or an emulator started in this process (`--emulate`).

use std::io::Write;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::cli::RemoteArgs;
use crate::diagnostic::Diagnostic;
use crate::env;
use crate::exit;
use crate::report::build::RetryNotice;
use crate::scs::{
    self, BuildClient, ConnectOptions, LibraryClient, RetryObserver, RetryPolicy, Token,
    TokenSources,
};
use crate::settings::Settings;

/// What to do about a failed library lookup, by what failed: a refused token is not a
/// network problem.
pub fn lookup_help(error: &scs::ServiceError) -> &'static str {
    use scs::ServiceErrorKind as Kind;
    match &error.kind {
        Kind::Auth => {
            "the library refused the token: generate a new one (https://cloud.sylabs.io/auth/tokens) \
             and set it as SYLABS_TOKEN"
        }
        Kind::Forbidden => {
            "the token is valid, but its user may not read these containers: check the \
             entity's and collection's permissions, and the `library:`/`ref:` in the manifest"
        }
        Kind::RateLimited => "the library is limiting requests; run again in a few minutes",
        Kind::Protocol => {
            "the library's answer is not what the protocol describes: check `--library-url` \
             (or `--remote`)"
        }
        Kind::Status { code, .. } if *code < 500 => {
            "the library refused the request; its message above says why"
        }
        Kind::Connect | Kind::Timeout | Kind::StreamDropped | Kind::Status { .. } => {
            "check the network and the library's status, then run again"
        }
    }
}

/// The clients of a run, and what keeps an emulator alive while they are used.
pub struct Services {
    pub build: Arc<BuildClient>,
    pub library: Arc<LibraryClient>,
    /// The library this run looks images up and tags in (and the builder pulls bases from).
    pub library_url: String,
    /// Where the services are, for the log.
    pub description: String,
    /// What was found setting up, for the log: the token's source, the services' URLs.
    pub notes: Vec<String>,
    /// The Sylabs token in use (not the emulator's throwaway one), for `::add-mask::`.
    pub token: Option<Token>,
    /// How the services were reached (remote, token, retries): the keystore is found the
    /// same way (`build` with `sign: {keystore: true}`).
    pub connect_options: ConnectOptions,
    #[cfg(feature = "emulate")]
    emulator: Option<scs_emulator::RunningEmulator>,
}

impl Services {
    /// Stops the emulator, if one was started.
    pub async fn close(self) {
        #[cfg(feature = "emulate")]
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
    }
}

/// Where the clients' retries are reported: a channel the command drains on its own task
/// (writing from a client's task could block on the stderr lock the command holds).
#[derive(Clone)]
pub struct RetryNotices(mpsc::UnboundedSender<RetryNotice>);

impl RetryNotices {
    /// Returns the notices and the receiver to drain them from.
    pub fn channel() -> (RetryNotices, mpsc::UnboundedReceiver<RetryNotice>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (RetryNotices(sender), receiver)
    }

    /// Returns the clients' retry policy, reporting here.
    pub fn policy(&self) -> RetryPolicy {
        let sender = self.0.clone();
        RetryPolicy {
            observer: Some(RetryObserver::new(move |error, attempt, delay| {
                // A closed receiver means the command is done; nothing is left to tell.
                let _ = sender.send(RetryNotice {
                    error: error.to_string(),
                    attempt,
                    delay,
                });
            })),
            ..RetryPolicy::default()
        }
    }
}

/// Awaits `future` while printing the clients' retry notices as they come.
pub async fn reporting_retries<T>(
    future: impl std::future::Future<Output = T>,
    notices: &mut mpsc::UnboundedReceiver<RetryNotice>,
    stderr: &mut dyn Write,
) -> T {
    tokio::pin!(future);
    loop {
        tokio::select! {
            value = &mut future => return value,
            Some(notice) = notices.recv() => {
                let _ = writeln!(stderr, "sifbake: {}", notice.describe());
            }
        }
    }
}

/// Services opened for a command, with the receiver of their clients' retry notices.
pub struct Connected {
    pub services: Services,
    pub retries: mpsc::UnboundedReceiver<RetryNotice>,
}

/// Opens the services while printing retry notices; in GitHub Actions, masks the token
/// before anything else; prints what was found. On failure, reports why and returns the
/// exit code.
pub async fn connect(
    settings: &Settings,
    args: &RemoteArgs,
    needs_builder: bool,
    out: &mut super::Output<'_>,
    reports: &mut super::reports::Reports,
) -> std::io::Result<Result<Connected, u8>> {
    // The clients hold the sender for as long as they live.
    let (notices, mut retries) = RetryNotices::channel();
    let opened = reporting_retries(
        open(settings, args, needs_builder, &notices),
        &mut retries,
        out.stderr,
    )
    .await;
    let services = match opened {
        Ok(services) => services,
        Err(unreachable) => {
            reports.diagnostics(out, &unreachable.diagnostics)?;
            return Ok(Err(unreachable.code));
        }
    };
    // In GitHub Actions the runner then hides the token from every later line of the log,
    // even if something were to print it.
    if let Some(token) = &services.token
        && settings
            .var(crate::context::vars::GITHUB_ACTIONS)
            .as_deref()
            == Some("true")
    {
        super::reports::mask(out.stderr, token.expose())?;
    }
    // `-q`: errors and the result only; which token and services were used is not news.
    if settings.verbosity >= 0 {
        for note in &services.notes {
            writeln!(out.stderr, "sifbake: {note}")?;
        }
    }
    Ok(Ok(Connected { services, retries }))
}

/// Why the services could not be used: the exit code and what to tell the user.
pub struct Unreachable {
    pub code: u8,
    pub diagnostics: Vec<Diagnostic>,
}

/// Connects to the services the flags name, or starts the emulator.
pub async fn open(
    settings: &Settings,
    args: &RemoteArgs,
    needs_builder: bool,
    notices: &RetryNotices,
) -> Result<Services, Unreachable> {
    if args.emulate {
        let dir = args
            .emulate_dir
            .as_ref()
            .map(|dir| settings.base_dir().join(dir));
        return emulate(dir, notices).await;
    }
    let sources = TokenSources {
        sylabs_auth_token: settings.secrets.get(env::SYLABS_AUTH_TOKEN),
        sylabs_token: settings.secrets.get(env::SYLABS_TOKEN),
        token_file: args
            .token_file
            .as_ref()
            .map(|file| settings.base_dir().join(file)),
        home: settings.var(env::HOME).map(Into::into),
    };
    let resolved = match scs::resolve_token(&sources) {
        Ok(Some(resolved)) => resolved,
        Ok(None) => {
            return Err(Unreachable {
                code: exit::SERVICE,
                diagnostics: vec![
                    Diagnostic::error("auth::no-token", "no Sylabs access token found")
                        .help("generate one at https://cloud.sylabs.io/auth/tokens and set it as SYLABS_TOKEN (a CI secret), or pass `--token-file`; `--emulate` runs without one"),
                ],
            });
        }
        Err(error) => {
            return Err(Unreachable {
                code: exit::BAD_INPUT,
                diagnostics: vec![
                    Diagnostic::error("auth::token", error.to_string()).help(error.help()),
                ],
            });
        }
    };
    let mut notes = vec![format!("using the {}", resolved.source)];
    notes.extend(
        resolved
            .warning()
            .map(|warning| format!("warning: {warning}")),
    );
    let token = resolved.token.clone();
    let options = ConnectOptions {
        remote: args.remote.clone(),
        builder_url: args.builder_url.clone(),
        library_url: args.library_url.clone(),
        allow_insecure: args.allow_insecure,
        retry: notices.policy(),
        request_timeout: args.request_timeout.unwrap_or(scs::REQUEST_TIMEOUT),
        needs_builder,
        ..ConnectOptions::new(resolved.token)
    };
    let connection = scs::connect(&options).await.map_err(connect_error)?;
    let library_url = connection.endpoints.library.to_string();
    let builder = if connection.has_builder {
        connection.endpoints.builder.to_string()
    } else {
        "none (tag needs none)".to_owned()
    };
    notes.push(format!(
        "build service {builder}, library {} ({} tags)",
        connection.endpoints.library,
        match connection.library.tag_api() {
            scs::TagApi::V1 => "v1",
            scs::TagApi::V2 => "v2 arch",
        }
    ));
    Ok(Services {
        build: Arc::new(connection.build),
        library: Arc::new(connection.library),
        library_url,
        description: args.remote.clone(),
        notes,
        token: Some(token),
        connect_options: options,
        #[cfg(feature = "emulate")]
        emulator: None,
    })
}

fn connect_error(error: scs::ConnectError) -> Unreachable {
    let code = match error {
        scs::ConnectError::Insecure { .. } | scs::ConnectError::InvalidUrl { .. } => {
            exit::BAD_INPUT
        }
        _ => exit::SERVICE,
    };
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Unreachable {
        code,
        diagnostics: vec![Diagnostic::error("service::connect", message).help(error.help())],
    }
}

#[cfg(feature = "emulate")]
async fn emulate(
    dir: Option<std::path::PathBuf>,
    notices: &RetryNotices,
) -> Result<Services, Unreachable> {
    // A throwaway token: the emulator accepts only it, and it never leaves this process.
    let token = random_token();
    let mut config = scs_emulator::EmulatorConfig::default().with_token(token.clone());
    if let Some(dir) = &dir {
        config = config.with_data_dir(dir);
    }
    let emulator = scs_emulator::Emulator::start(config)
        .await
        .map_err(|error| Unreachable {
            code: exit::SERVICE,
            diagnostics: vec![
                Diagnostic::error(
                    "emulate::start",
                    format!("cannot start the emulator: {error}"),
                )
                .help("the emulator listens on 127.0.0.1; check that loopback networking works"),
            ],
        })?;
    let url = emulator.url().to_owned();
    let kept = dir.as_ref().map_or_else(String::new, |dir| {
        format!(" (library kept in {})", dir.display())
    });
    let notes = vec![format!(
        "--emulate: using an emulated build service and library at {url}{kept}; builds are emulated, nothing is really built"
    )];
    let Some(token) = Token::new(token) else {
        return Err(Unreachable {
            code: exit::SERVICE,
            diagnostics: vec![Diagnostic::error(
                "emulate::token",
                "the emulator's token is empty",
            )],
        });
    };
    let options = ConnectOptions {
        remote: url.clone(),
        retry: notices.policy(),
        ..ConnectOptions::new(token)
    };
    let connection = scs::connect(&options).await.map_err(connect_error)?;
    Ok(Services {
        build: Arc::new(connection.build),
        library: Arc::new(connection.library),
        library_url: connection.endpoints.library.to_string(),
        description: format!("the emulator at {url}"),
        notes,
        token: None,
        connect_options: options,
        emulator: Some(emulator),
    })
}

#[cfg(not(feature = "emulate"))]
async fn emulate(
    _dir: Option<std::path::PathBuf>,
    _notices: &RetryNotices,
) -> Result<Services, Unreachable> {
    Err(Unreachable {
        code: exit::BAD_INPUT,
        diagnostics: vec![
            Diagnostic::error(
                "emulate::unavailable",
                "this sifbake was built without the emulator",
            )
            .help("build sifbake with its default features (`--features emulate`)"),
        ],
    })
}

#[cfg(feature = "emulate")]
fn random_token() -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(std::process::id().to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.update(now.to_le_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
