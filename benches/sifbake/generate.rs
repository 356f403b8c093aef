//! Generated repositories: a manifest, one definition per target, `%files` data, and git
//! history. Deterministic: the same spec gives the same bytes.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The library collection the targets publish to (`library://bench/<collection>`).
    pub collection: &'static str,
    /// Targets per level: level 0 bootstraps from Docker Hub, each target of a later level
    /// from one of the level before (`Bootstrap: library`), which makes it a dependency.
    pub levels: Vec<usize>,
    /// Data files in each target's `%files` directory.
    pub files_per_target: usize,
    /// Bytes in each data file.
    pub file_bytes: usize,
    /// `# emulator:` directives for every definition.
    pub directive: Option<String>,
    /// Commit everything; then this many more commits, each changing `touch` data files.
    pub git: Option<History>,
}

/// The git history after the first commit.
#[derive(Clone, Copy, Debug)]
pub struct History {
    pub commits: usize,
    pub touch: usize,
}

impl Spec {
    pub fn targets(&self) -> usize {
        self.levels.iter().sum()
    }

    pub fn data_bytes(&self) -> u64 {
        (self.targets() * self.files_per_target * self.file_bytes) as u64
    }
}

fn name(index: usize) -> String {
    format!("t{index:05}")
}

/// Writes the repository into `dir` (which must not exist).
pub fn repository(dir: &Path, spec: &Spec) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut manifest = format!(
        "version: 1\ndefaults:\n  library: library://bench/{}\n  arch: [amd64]\n  tags: [branch, sha]\ntargets:\n",
        spec.collection
    );
    let mut random = Random(0x5eed_0000 + spec.targets() as u64);
    let mut first_of_level = 0;
    let mut previous: Option<(usize, usize)> = None;
    for &size in &spec.levels {
        for offset in 0..size {
            let index = first_of_level + offset;
            let target = name(index);
            let _ = writeln!(
                manifest,
                "  {target}:\n    def: targets/{target}/Singularity.def"
            );
            let mut def = match previous {
                None => "Bootstrap: docker\nFrom: debian:12\n".to_owned(),
                Some((start, count)) => format!(
                    "Bootstrap: library\nFrom: bench/{}/{}\n",
                    spec.collection,
                    name(start + offset % count)
                ),
            };
            if let Some(directive) = &spec.directive {
                let _ = writeln!(def, "# emulator: {directive}");
            }
            let folder = dir.join("targets").join(&target);
            if spec.files_per_target > 0 {
                let _ = writeln!(def, "\n%files\n    data /opt/{target}");
                let data = folder.join("data");
                std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
                for file in 0..spec.files_per_target {
                    let path = data.join(format!("f{file:03}.dat"));
                    // Half text (hashed with CRLF normalisation), half binary.
                    let bytes = random.bytes(spec.file_bytes, file % 2 == 0);
                    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                }
            } else {
                std::fs::create_dir_all(&folder)
                    .map_err(|e| format!("{}: {e}", folder.display()))?;
            }
            let _ = writeln!(def, "\n%post\n    echo building {target}");
            std::fs::write(folder.join("Singularity.def"), def).map_err(|e| e.to_string())?;
        }
        previous = Some((first_of_level, size));
        first_of_level += size;
    }
    std::fs::write(dir.join("sifbake.yaml"), manifest).map_err(|e| e.to_string())?;
    if let Some(history) = spec.git {
        git(dir, &["init", "-q", "-b", "main"])?;
        git(dir, &["add", "-A"])?;
        git(dir, &["commit", "-q", "-m", "everything"])?;
        // Changes land in the last level's targets: a changed base would rebuild everything
        // on it, which measures the dependents, not the planning.
        let last_level = spec.levels.last().copied().unwrap_or(0);
        let first_of_last = spec.targets() - last_level;
        for commit in 0..history.commits {
            for _ in 0..history.touch {
                let target = first_of_last + random.below(last_level.max(1));
                let file = random.below(spec.files_per_target.max(1));
                let path = if spec.files_per_target == 0 {
                    dir.join(format!("targets/{}/Singularity.def", name(target)))
                } else {
                    dir.join(format!("targets/{}/data/f{file:03}.dat", name(target)))
                };
                let mut bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
                bytes.extend_from_slice(format!("# change {commit}\n").as_bytes());
                std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
            }
            git(
                dir,
                &["commit", "-q", "-a", "-m", &format!("change {commit}")],
            )?;
        }
    }
    Ok(())
}

/// Runs git in `dir` with a fixed identity and dates, so histories are reproducible.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// xorshift64*: fast, deterministic filler; nothing here needs real randomness.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// Text is lowercase words in lines of about 64 bytes; binary is any byte.
    fn bytes(&mut self, count: usize, text: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(count + 8);
        while out.len() < count {
            let word = self.next().to_le_bytes();
            if text {
                for byte in word {
                    out.push(match byte % 32 {
                        0..=25 => b'a' + byte % 26,
                        26..=29 => b' ',
                        _ if out.len() % 64 > 40 => b'\n',
                        _ => b'e',
                    });
                }
            } else {
                out.extend_from_slice(&word);
            }
        }
        out.truncate(count);
        out
    }
}
