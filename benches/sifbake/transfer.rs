//! Library image transfer: a 1 GiB image uploaded by sifbake's library client to the
//! emulator (its own process) and downloaded again in ranged parts, against `curl`
//! fetching the same presigned URL in the same run. Goals: at least 0.8 of curl's download
//! throughput; the client's peak RSS at most 64 MiB (parts are written by position and
//! hashed from the page cache, never held). The upload time is reported without a goal:
//! the emulator joins parts in memory, so it measures the emulator as much as the client.
//!
//! The client runs as this binary's `__library_pull` and `__library_upload` roles under
//! `__measure`, so its RSS and CPU are its own.

use std::path::Path;
use std::process::ExitCode;

use sifbake::libref::LibraryRef;
use sifbake::scs::{ConnectOptions, Library, LibraryClient, Token, TransferOptions, connect};

use crate::emulator::{EmulatorProcess, TOKEN};
use crate::figures::{Figure, Figures, Goal};
use crate::measure::{Invocation, Usage, measured, median_by, turns};

const GIB: u64 = 1024 * 1024 * 1024;
const CONTAINER: &str = "library://bench/transfer/image";
const TAG: &str = "bench";

pub fn run(work: &Path, quick: bool, figures: &mut Figures) -> Result<(), String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let emulator = EmulatorProcess::start()?;
    let size = if quick { GIB / 16 } else { GIB };
    let runs = if quick { 1 } else { 3 };
    let sif = work.join("image.sif");
    write_file(&sif, size)?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let role = |name: &str, file: &Path| {
        let mut invocation = Invocation::new(&me, work).args([
            name.to_owned(),
            emulator.url().to_owned(),
            file.display().to_string(),
        ]);
        for knob in ["SIFBAKE_BENCH_STREAMS", "SIFBAKE_BENCH_PART_MIB"] {
            if let Ok(value) = std::env::var(knob) {
                invocation = invocation.env(knob, &value);
            }
        }
        invocation
    };
    let upload = measured(&role("__library_upload", &sif), &work.join("upload.log"))?;
    let location = presigned_url(emulator.url())?;
    let pulled = work.join("pulled.sif");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for (_, sifbake_first) in turns(runs) {
        let _ = std::fs::remove_file(&pulled);
        if sifbake_first {
            ours.push(measured(
                &role("__library_pull", &pulled),
                &work.join("pull.log"),
            )?);
        } else {
            let curl = Invocation::new("curl", work).args([
                "--silent".to_owned(),
                "--fail".to_owned(),
                "--output".to_owned(),
                pulled.display().to_string(),
                location.clone(),
            ]);
            theirs.push(measured(&curl, &work.join("curl.log"))?);
        }
        let got = std::fs::metadata(&pulled).map_err(|e| e.to_string())?.len();
        if got != size {
            return Err(format!("a download wrote {got} bytes of {size}"));
        }
    }
    drop(emulator);
    let _ = std::fs::remove_file(&sif);
    let _ = std::fs::remove_file(&pulled);
    let mib_s = |usage: &Usage| size as f64 / usage.wall.as_secs_f64() / (1024.0 * 1024.0);
    let rss = |usage: &Usage| usage.max_rss_kib as f64 / 1024.0;
    let cpu = |usage: &Usage| usage.cpu.as_secs_f64();
    let size_text = format!("{} MiB", size / (1024 * 1024));
    let (ours_mib_s, theirs_mib_s) = (median_by(&ours, mib_s), median_by(&theirs, mib_s));
    figures.record(Figure {
        part: "Transfer",
        name: format!("pull of a {size_text} image, sifbake ÷ curl throughput"),
        value: ours_mib_s / theirs_mib_s,
        unit: "×",
        goal: Some(Goal::AtLeast(0.8)),
        detail: format!(
            "median of {runs}: sifbake {ours_mib_s:.0} MiB/s (ranged, SHA-256 checked), curl {theirs_mib_s:.0} MiB/s (one stream, unchecked), loopback emulator"
        ),
    });
    figures.record(Figure {
        part: "Transfer",
        name: format!("pull of a {size_text} image, client peak RSS"),
        value: median_by(&ours, rss),
        unit: "MiB",
        goal: Some(Goal::AtMost(64.0)),
        detail: format!(
            "median of {runs}; curl {:.0} MiB; client CPU {:.1} s, curl {:.1} s",
            median_by(&theirs, rss),
            median_by(&ours, cpu),
            median_by(&theirs, cpu),
        ),
    });
    figures.record(Figure {
        part: "Transfer",
        name: format!("upload of a {size_text} image (multipart)"),
        value: mib_s(&upload),
        unit: "MiB/s",
        goal: None,
        detail: format!(
            "{:.1} s, SHA-256 + MD5 pre-pass included; client peak RSS {:.0} MiB, CPU {:.1} s",
            upload.wall.as_secs_f64(),
            rss(&upload),
            cpu(&upload),
        ),
    });
    Ok(())
}

/// Where the library redirects the image's download: the URL curl fetches.
fn presigned_url(base: &str) -> Result<String, String> {
    sifbake::scs::install_crypto_provider();
    let runtime = runtime()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(format!(
                "{base}/v1/imagefile/bench/transfer/image:{TAG}?arch=amd64"
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                format!(
                    "the library answered {} without a Location",
                    response.status()
                )
            })?;
        if location.starts_with("http") {
            Ok(location.to_owned())
        } else {
            Ok(format!("{base}{location}"))
        }
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

async fn client(url: &str) -> Result<LibraryClient, String> {
    let token = Token::new(TOKEN).ok_or("empty token")?;
    let options = ConnectOptions {
        remote: url.to_owned(),
        ..ConnectOptions::new(token)
    };
    let connection = connect(&options).await.map_err(|e| e.to_string())?;
    let mut library = connection.library;
    // Knobs for comparing part sizes and stream counts by hand; the figures use defaults.
    let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let mut transfer = TransferOptions::default();
    if let Some(streams) = knob("SIFBAKE_BENCH_STREAMS") {
        transfer.download_streams = usize::try_from(streams).unwrap_or(1);
    }
    if let Some(mib) = knob("SIFBAKE_BENCH_PART_MIB") {
        transfer.download_part_size = mib << 20;
    }
    library.set_transfer_options(transfer);
    Ok(library)
}

/// The `__library_upload URL FILE` and `__library_pull URL FILE` roles.
pub fn role(name: &str, args: &[String]) -> ExitCode {
    let [url, file] = args else {
        eprintln!("usage: {name} URL FILE");
        return ExitCode::from(2);
    };
    let result = runtime().and_then(|runtime| {
        runtime.block_on(async {
            let library = client(url).await?;
            let container = LibraryRef::parse(CONTAINER).map_err(|e| e.to_string())?;
            if name == "__library_upload" {
                let image = library
                    .upload_image(&container, "amd64", Path::new(file))
                    .await
                    .map_err(|e| e.to_string())?;
                library
                    .set_tags(&container, &image, "amd64", &[TAG.to_owned()])
                    .await
                    .map_err(|e| e.to_string())
            } else {
                library
                    .download_image(&container, TAG, "amd64", Path::new(file))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::from(1)
        }
    }
}

/// Writes `size` bytes of varied content in 1 MiB pieces.
fn write_file(path: &Path, size: u64) -> Result<(), String> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let mut chunk = vec![0_u8; 1 << 20];
    let mut state = 0x2545_f491_u32;
    let mut written = 0;
    while written < size {
        for byte in &mut chunk {
            // xorshift: cheap, and not all-equal bytes a filesystem could compress away.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *byte = state as u8;
        }
        let step = usize::try_from((size - written).min(chunk.len() as u64)).unwrap_or(0);
        writer
            .write_all(&chunk[..step])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        written += step as u64;
    }
    writer
        .flush()
        .map_err(|e| format!("{}: {e}", path.display()))
}
