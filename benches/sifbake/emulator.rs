//! The emulated build service and library, in a process of its own so the client's CPU
//! time and memory are measured apart from the server's.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};

use scs_emulator::{Emulator, EmulatorConfig};

/// The token the emulator accepts and the client sends.
pub const TOKEN: &str = "bench-token-not-a-secret";

/// A running emulator process; stopped when dropped.
pub struct EmulatorProcess {
    child: Child,
    // Closing it tells the emulator to stop.
    stdin: Option<ChildStdin>,
    url: String,
}

impl EmulatorProcess {
    /// Starts the emulator and waits for the URL it prints once it accepts connections.
    pub fn start() -> Result<EmulatorProcess, String> {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(me)
            .arg("__emulator")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the emulator: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the emulator has no stdout")?;
        let mut url = String::new();
        BufReader::new(stdout)
            .read_line(&mut url)
            .map_err(|e| format!("cannot read the emulator's URL: {e}"))?;
        let url = url.trim().to_owned();
        if !url.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the emulator printed `{url}` instead of its URL"));
        }
        Ok(EmulatorProcess { child, stdin, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        // Closing its stdin stops it; waiting reaps it.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The `__emulator` role: serves until stdin closes (the bench ended, however it ended).
pub fn serve() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("emulator: {error}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        let config = EmulatorConfig {
            tokens: vec![TOKEN.to_owned()],
            ..EmulatorConfig::default()
        };
        let emulator = match Emulator::start(config).await {
            Ok(emulator) => emulator,
            Err(error) => {
                eprintln!("emulator: {error}");
                return ExitCode::from(2);
            }
        };
        println!("{}", emulator.url());
        let _ = std::io::stdout().flush();
        // Reading stdin blocks, so it runs off the async workers.
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().lock().read_to_end(&mut sink);
        })
        .await;
        emulator.shutdown().await;
        ExitCode::SUCCESS
    })
}
