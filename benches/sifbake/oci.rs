//! OCI mirror push: a 1 GiB SIF pushed to Debian's `docker-registry` on 127.0.0.1 (htpasswd
//! user) by sifbake's registry client, against the official `oras push` of the same file in
//! the same run. Goals: at least 0.8 of oras's throughput; the client's peak RSS at most
//! 64 MiB (the file is streamed, never held).
//!
//! Each push goes to a fresh repository, so every run uploads the whole file (a registry
//! only skips a blob the repository already links). The client runs as this binary's
//! `__oci_push` role under `__measure`, so its RSS and CPU are its own.

#[path = "../../conformance/go_tools.rs"]
mod go_tools;
#[path = "../../tests/support/registry.rs"]
mod registry;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sifbake::oci::{
    ClientOptions, CredentialSources, Registry, RegistryClient, RepositoryRef, SifArtifact,
};

use crate::figures::{Figure, Figures, Goal};
use crate::measure::{Invocation, Usage, measured, median_by, turns};

const GIB: u64 = 1024 * 1024 * 1024;

pub fn run(work: &Path, quick: bool, figures: &mut Figures) -> Result<(), String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let Some(oras) = go_tools::go_tool("oras", "oras.land/oras/cmd/oras") else {
        return Err("the oci part needs Go (to build the pinned oras CLI)".to_owned());
    };
    let Some(registry) = registry::TestRegistry::start(registry::Auth::Htpasswd) else {
        return Err("the oci part needs Debian's docker-registry and apache2-utils".to_owned());
    };
    let size = if quick { GIB / 16 } else { GIB };
    let runs = if quick { 1 } else { 3 };
    let sif = work.join("image.sif");
    write_file(&sif, size)?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for (run, sifbake_first) in turns(runs) {
        if sifbake_first {
            let push = Invocation::new(&me, work)
                .args([
                    "__oci_push".to_owned(),
                    registry.oras_ref(&format!("bench/sifbake-{run}")),
                    sif.display().to_string(),
                    "v1".to_owned(),
                ])
                .env("SIFBAKE_REGISTRY_USERNAME", registry::USER)
                .env("SIFBAKE_REGISTRY_PASSWORD", registry::PASSWORD);
            ours.push(measured(&push, &work.join("sifbake-push.log"))?);
        } else {
            let push = Invocation::new(&oras, work).args([
                "push".to_owned(),
                "--plain-http".to_owned(),
                "--no-tty".to_owned(),
                "-u".to_owned(),
                registry::USER.to_owned(),
                "-p".to_owned(),
                registry::PASSWORD.to_owned(),
                format!("{}/bench/oras-{run}:v1", registry.address()),
                "image.sif:application/vnd.sylabs.sif.layer.v1.sif".to_owned(),
            ]);
            theirs.push(measured(&push, &work.join("oras-push.log"))?);
        }
    }
    drop(registry);
    let _ = std::fs::remove_file(&sif);
    let throughput = |usage: &Usage| size as f64 / usage.wall.as_secs_f64() / (1024.0 * 1024.0);
    let ours_mib_s = median_by(&ours, throughput);
    let theirs_mib_s = median_by(&theirs, throughput);
    let size_text = format!("{} MiB", size / (1024 * 1024));
    figures.record(Figure {
        part: "OCI",
        name: format!("push of a {size_text} SIF, sifbake ÷ oras throughput"),
        value: ours_mib_s / theirs_mib_s,
        unit: "×",
        goal: Some(Goal::AtLeast(0.8)),
        detail: format!(
            "median of {runs}: sifbake {ours_mib_s:.0} MiB/s, oras push {theirs_mib_s:.0} MiB/s (loopback docker-registry, htpasswd)"
        ),
    });
    let rss = |usage: &Usage| usage.max_rss_kib as f64 / 1024.0;
    figures.record(Figure {
        part: "OCI",
        name: format!("push of a {size_text} SIF, client peak RSS"),
        value: median_by(&ours, rss),
        unit: "MiB",
        goal: Some(Goal::AtMost(64.0)),
        detail: format!(
            "median of {runs}; oras push: {:.0} MiB; client CPU {:.1} s (hashing included), oras {:.1} s",
            median_by(&theirs, rss),
            median_by(&ours, |u| u.cpu.as_secs_f64()),
            median_by(&theirs, |u| u.cpu.as_secs_f64()),
        ),
    });
    Ok(())
}

/// Writes `size` bytes of varied content in 1 MiB pieces.
fn write_file(path: &Path, size: u64) -> Result<(), String> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut block = vec![0u8; 1024 * 1024];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut written = 0;
    while written < size {
        for byte in block.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        let take = (size - written).min(block.len() as u64) as usize;
        out.write_all(&block[..take]).map_err(|e| e.to_string())?;
        written += take as u64;
    }
    out.flush().map_err(|e| e.to_string())
}

/// The `__oci_push ORAS_REF FILE TAG` role: one push with sifbake's client, credentials from
/// the environment, as a mirror step would do it.
pub fn push_role(args: &[String]) -> ExitCode {
    let [reference, file, tag] = args else {
        eprintln!("usage: __oci_push ORAS_REF FILE TAG");
        return ExitCode::from(2);
    };
    let repo = match RepositoryRef::parse(reference) {
        Ok(repo) => repo,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start tokio: {error}");
            return ExitCode::from(2);
        }
    };
    let sources = CredentialSources::from_env(Arc::new(|name| std::env::var(name).ok()));
    let options = ClientOptions {
        request_timeout: Duration::from_secs(300),
        ..ClientOptions::default()
    };
    let result = runtime.block_on(async {
        let client = RegistryClient::new(options, sources)?;
        client
            .push_sif(&repo, &SifArtifact::new(file), std::slice::from_ref(tag))
            .await
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(3)
        }
    }
}
