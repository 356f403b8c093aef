//! GitHub Actions workflow files: step outputs (`$GITHUB_OUTPUT`).
//!
//! The outputs sifbake writes, and what they hold (README.md, "CI integration"):
//!
//! | output | from | value |
//! |---|---|---|
//! | `has-changes` | `plan`, `build`, `tag` | `true` when anything is built or retagged |
//! | `matrix` | `plan`, `build`, `tag` | `{"include": [{target, arch, ref, action}, …]}` |
//! | `plan` | `plan`, `build`, `tag` | the plan document, compact JSON |
//! | `result` | `build`, `tag` | the result document, compact JSON |
//! | `built-refs` | `build`, `tag` | one `library://…:sha256.<hex>` per image built or retagged |

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Appends step outputs to the file at `$GITHUB_OUTPUT`.
///
/// Each value is written as a heredoc with a random delimiter, as actions/toolkit's
/// `prepareKeyValueMessage` does, so a value cannot end the block early or inject outputs.
pub fn append_outputs(path: &Path, outputs: &[(&str, &str)]) -> io::Result<()> {
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    write_outputs(&mut file, outputs)
}

/// Writes step outputs in `$GITHUB_OUTPUT`'s heredoc form, in one write.
pub fn write_outputs(out: &mut dyn Write, outputs: &[(&str, &str)]) -> io::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        let delimiter = delimiter(name, value);
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    out.write_all(text.as_bytes())
}

/// Returns a delimiter found in neither the name nor the value.
fn delimiter(name: &str, value: &str) -> String {
    let mut counter: u64 = 0;
    loop {
        let mut hasher = Sha256::new();
        hasher.update(std::process::id().to_le_bytes());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.update(now.to_le_bytes());
        hasher.update(counter.to_le_bytes());
        let hex: String = hasher
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        let candidate = format!("ghadelimiter_{hex}");
        if !name.contains(&candidate) && !value.contains(&candidate) {
            return candidate;
        }
        counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_heredocs_with_unique_delimiters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("output");
        std::fs::write(&path, "earlier=1\n").expect("write");
        append_outputs(
            &path,
            &[
                ("has-changes", "true"),
                ("matrix", "{\"include\":[]}\nx=injected"),
            ],
        )
        .expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "earlier=1");
        let (name, delimiter) = lines[1].split_once("<<").expect("heredoc");
        assert_eq!(name, "has-changes");
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(lines[2], "true");
        assert_eq!(lines[3], delimiter);
        let (name, second) = lines[4].split_once("<<").expect("heredoc");
        assert_eq!(name, "matrix");
        assert_ne!(second, delimiter);
        assert_eq!(&lines[5..8], &["{\"include\":[]}", "x=injected", second]);
    }
}
