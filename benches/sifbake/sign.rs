//! SIGN: `sifbake sign` on a 1 GiB SIF (issue 13: ≥ 1 GB/s, client RSS ≤ 64 MiB), and the
//! cost of the alternative to signing in place (a temporary copy renamed over the image).
//!
//! The image is shaped like a build's (definition, JSON, one primary partition) with a
//! pseudo-random partition; the page cache is warm, as right after a build's download,
//! so the figure is the hashing and the client, not the disk. Between runs the image is put
//! back to unsigned (old length, old header and descriptor table) instead of re-copied.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use sifbake_sif::format::{DATA_DEFFILE, DATA_GENERIC_JSON, DATA_PARTITION, Sif};
use sifbake_sif::write::{ImageSpec, ObjectSpec, write_image};

use crate::figures::{Figure, Figures, Goal};
use crate::measure::{Invocation, Usage, measured};

#[path = "../../emulator/tests/it/test_keys.rs"]
mod test_keys;

const MIB: u64 = 1024 * 1024;

pub fn run(work: &Path, quick: bool, figures: &mut Figures) -> Result<(), String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let size = if quick { 128 * MIB } else { 1024 * MIB };
    let runs = if quick { 1 } else { 3 };
    let image = work.join("image.sif");
    make_image(&image, size)?;
    let key = test_keys::generate("Bench <bench@example.com>", Some("bench-passphrase"));
    let key_path = work.join("key.asc");
    let public_path = work.join("pub.asc");
    std::fs::write(&key_path, &key.secret).map_err(|e| e.to_string())?;
    std::fs::write(&public_path, &key.public).map_err(|e| e.to_string())?;
    let pristine = Pristine::take(&image)?;
    warm(&image)?;

    let sign = Invocation::new(crate::sifbake(), work)
        .args(["sign", "image.sif", "--key", "key.asc"])
        .env("SIFBAKE_SIGN_PASSPHRASE", "bench-passphrase");
    let mut usages: Vec<Usage> = Vec::new();
    for run in 0..runs {
        usages.push(measured(&sign, &work.join(format!("sign-{run}.log")))?);
        if run + 1 < runs {
            pristine.restore(&image)?;
        }
    }
    let verify =
        Invocation::new(crate::sifbake(), work).args(["verify", "image.sif", "--key", "pub.asc"]);
    let verified = measured(&verify, &work.join("verify.log"))?;

    let median = |pick: &dyn Fn(&Usage) -> f64| {
        let mut all: Vec<f64> = usages.iter().map(pick).collect();
        all.sort_by(f64::total_cmp);
        all[all.len() / 2]
    };
    let bytes = size as f64;
    let label = format!("{} MiB", size / MIB);
    figures.record(Figure {
        part: "SIGN",
        name: format!("sign a {label} SIF in place, throughput"),
        value: median(&|u| bytes / u.wall.as_secs_f64() / 1e9),
        unit: "GB/s",
        goal: Some(Goal::AtLeast(1.0)),
        detail: format!(
            "median of {runs}, spawn to exit, warm page cache; CPU {:.2} s; verify of the same image {:.2} GB/s",
            median(&|u| u.cpu.as_secs_f64()),
            bytes / verified.wall.as_secs_f64() / 1e9
        ),
    });
    figures.record(Figure {
        part: "SIGN",
        name: format!("sign a {label} SIF in place, client peak RSS"),
        value: median(&|u| u.max_rss_kib as f64 / 1024.0),
        unit: "MiB",
        goal: Some(Goal::AtMost(64.0)),
        detail: format!(
            "median of {runs}; verify: {:.1} MiB",
            verified.max_rss_kib as f64 / 1024.0
        ),
    });

    // What atomicity by a temporary copy and rename would add to every signing.
    let copy = work.join("copy.sif");
    let started = Instant::now();
    std::fs::copy(&image, &copy).map_err(|e| e.to_string())?;
    File::open(&copy)
        .and_then(|f| f.sync_all())
        .map_err(|e| e.to_string())?;
    let copy_secs = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&copy);
    figures.record(Figure {
        part: "SIGN",
        name: format!("copy of the {label} SIF (the copy-and-rename alternative)"),
        value: copy_secs,
        unit: "s",
        goal: None,
        detail: format!(
            "std::fs::copy + fsync; signing in place took {:.2} s in all",
            median(&|u| u.wall.as_secs_f64())
        ),
    });
    let _ = std::fs::remove_file(&image);
    Ok(())
}

/// Writes a build-shaped SIF whose partition is `size` pseudo-random bytes, streamed.
fn make_image(path: &Path, size: u64) -> Result<(), String> {
    let mut extra = Vec::new();
    extra.extend_from_slice(&4_i32.to_le_bytes());
    extra.extend_from_slice(&2_i32.to_le_bytes());
    extra.extend_from_slice(b"02\0");
    let head = write_image(&ImageSpec {
        id: *b"sifbake-bench-01",
        time: 1_577_836_800,
        arch: *b"02\0",
        objects: vec![
            ObjectSpec {
                datatype: DATA_DEFFILE,
                name: String::new(),
                extra: Vec::new(),
                data: b"Bootstrap: docker\nFrom: alpine\n".to_vec(),
            },
            ObjectSpec {
                datatype: DATA_GENERIC_JSON,
                name: "bench.json".to_owned(),
                extra: Vec::new(),
                data: b"{}".to_vec(),
            },
            ObjectSpec {
                datatype: DATA_PARTITION,
                name: "rootfs".to_owned(),
                extra,
                data: Vec::new(),
            },
        ],
    });
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io)?;
    file.write_all(&head).map_err(io)?;
    // xorshift: incompressible, cheap, the same every run.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut chunk = vec![0_u8; MIB as usize];
    for _ in 0..size / MIB {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&chunk).map_err(io)?;
    }
    // Grow the partition's descriptor and the header's data size over what was appended.
    let mut sif = Sif::read(&mut file).map_err(|e| e.to_string())?;
    let table = sif.header.descriptors_offset as u64;
    let slot = sif
        .descriptors
        .iter()
        .position(|d| d.used && d.datatype == DATA_PARTITION)
        .ok_or("no partition")?;
    sif.descriptors[slot].size = size as i64;
    sif.descriptors[slot].size_with_padding += size as i64;
    sif.header.data_size += size as i64;
    file.seek(SeekFrom::Start(table + slot as u64 * 585))
        .and_then(|_| file.write_all(&sif.descriptors[slot].to_bytes()))
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(&sif.header.to_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(io)
}

/// The unsigned image's length and leading bytes (header and descriptor table).
struct Pristine {
    len: u64,
    head: Vec<u8>,
}

impl Pristine {
    fn take(path: &Path) -> Result<Pristine, String> {
        let mut file = File::open(path).map_err(|e| e.to_string())?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        let mut head = vec![0; 4096 + 48 * 585];
        file.read_exact(&mut head).map_err(|e| e.to_string())?;
        Ok(Pristine { len, head })
    }

    fn restore(&self, path: &Path) -> Result<(), String> {
        let mut file = File::options()
            .write(true)
            .open(path)
            .map_err(|e| e.to_string())?;
        file.set_len(self.len)
            .and_then(|()| file.write_all(&self.head))
            .map_err(|e| e.to_string())
    }
}

/// Reads the file once so the runs find it in the page cache.
fn warm(path: &Path) -> Result<(), String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let mut buffer = vec![0; MIB as usize];
    while file.read(&mut buffer).map_err(|e| e.to_string())? > 0 {}
    Ok(())
}
