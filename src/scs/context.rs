//! Packing a target's `%files` sources into the build context archive the remote builder
//! unpacks (PROTOCOL.md §2.5): a gzip-compressed POSIX tar whose entry names are the files'
//! absolute paths without the leading `/`, every parent directory listed first, symbolic
//! links stored as the files they point to; its digest is the SHA-256 of the gzip bytes.
//!
//! Entries carry fixed owners, times and modes (0755 for directories and executables, 0644
//! otherwise), so the same files give the same archive and digest on every run: the service
//! then skips the upload of a context it already has.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::service::ContextArchive;

/// The modification time of every entry: 2000-01-01T00:00:00Z. Not 0, which some tools
/// treat as "unknown".
const ENTRY_MTIME: u64 = 946_684_800;

/// Packs repository files into `directory/context-<digest>.tar.gz`.
///
/// `root` is the repository root (absolute); `files` are repository-relative paths, as the
/// manifest resolved them (inside the repository, symlinks checked).
pub fn pack_context(root: &Path, files: &[String], directory: &Path) -> io::Result<ContextArchive> {
    let root = root.canonicalize()?;
    // A unique name: several jobs may pack into one directory at once.
    let temporary = tempfile::Builder::new()
        .prefix("context-")
        .suffix(".tar.gz.part")
        .tempfile_in(directory)?;
    let output = HashingWriter::new(BufWriter::new(temporary.reopen()?));
    let mut builder = tar::Builder::new(GzEncoder::new(output, Compression::default()));
    builder.mode(tar::HeaderMode::Deterministic);

    let mut directories: BTreeSet<PathBuf> = BTreeSet::new();
    let mut sorted: Vec<&String> = files.iter().collect();
    sorted.sort();
    sorted.dedup();
    for file in sorted {
        let absolute = root.join(file);
        // The manifest checked every source, but the files may have changed since: the
        // archive is what leaves the machine, so nothing outside the repository goes in,
        // whatever the caller passed (a link, `..`, an absolute path).
        let real = absolute.canonicalize()?;
        if !real.starts_with(&root) || !absolute.starts_with(&root) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "`{file}` resolves to `{}`, outside the repository; it is not uploaded",
                    real.display()
                ),
            ));
        }
        let name = absolute
            .strip_prefix("/")
            .unwrap_or(&absolute)
            .to_path_buf();
        for parent in name
            .ancestors()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if parent.as_os_str().is_empty() || !directories.insert(parent.to_path_buf()) {
                continue;
            }
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            header.set_mtime(ENTRY_MTIME);
            builder.append_data(&mut header, format!("{}/", parent.display()), io::empty())?;
        }
        // Follows symbolic links: the builder gets the content, as the reference client does.
        let mut source = File::open(&real)?;
        let metadata = source.metadata()?;
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(if metadata.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        });
        header.set_size(metadata.len());
        header.set_mtime(ENTRY_MTIME);
        builder.append_data(&mut header, &name, (&mut source).take(metadata.len()))?;
    }
    let encoder = builder.into_inner()?;
    let mut output = encoder.finish()?;
    output.flush()?;
    let (digest, size) = output.finish();
    let digest = format!("sha256.{digest}");
    let path = directory.join(format!("context-{}.tar.gz", &digest["sha256.".len()..]));
    temporary.persist(&path).map_err(|error| error.error)?;
    Ok(ContextArchive { digest, size, path })
}

/// Counts and hashes what passes through to the file.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Returns the hex SHA-256 and the byte count of everything written.
    fn finish(self) -> (String, u64) {
        let hex = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (hex, self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buffer)?;
        self.hasher.update(&buffer[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    fn entries(archive: &Path) -> Vec<(String, u32, Vec<u8>)> {
        let mut reader = tar::Archive::new(GzDecoder::new(File::open(archive).expect("open")));
        reader
            .entries()
            .expect("entries")
            .map(|entry| {
                let mut entry = entry.expect("entry");
                let name = entry.path().expect("path").display().to_string();
                let mode = entry.header().mode().expect("mode");
                let mut content = Vec::new();
                entry.read_to_end(&mut content).expect("read");
                (name, mode, content)
            })
            .collect()
    }

    #[test]
    fn archives_hold_rootless_absolute_paths_with_parents_first() {
        let repo = tempfile::tempdir().expect("repo");
        let out = tempfile::tempdir().expect("out");
        let root = repo.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("defs/data")).expect("mkdir");
        std::fs::write(root.join("defs/run.sh"), "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(
            root.join("defs/run.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        std::fs::write(root.join("defs/data/a.csv"), "1,2\n").expect("write");
        std::os::unix::fs::symlink(root.join("defs/data/a.csv"), root.join("defs/link.csv"))
            .expect("symlink");
        let files = vec![
            "defs/run.sh".to_owned(),
            "defs/data/a.csv".to_owned(),
            "defs/link.csv".to_owned(),
        ];
        let archive = pack_context(&root, &files, out.path()).expect("pack");

        let bytes = std::fs::read(&archive.path).expect("read");
        assert_eq!(archive.size, bytes.len() as u64);
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(archive.digest, format!("sha256.{digest}"));

        let listed = entries(&archive.path);
        let prefix = root
            .strip_prefix("/")
            .expect("absolute")
            .display()
            .to_string();
        let names: Vec<&str> = listed.iter().map(|(n, _, _)| n.as_str()).collect();
        let first_file = names
            .iter()
            .position(|n| n.ends_with("a.csv"))
            .expect("a.csv");
        assert!(
            names[..first_file]
                .iter()
                .any(|n| *n == format!("{prefix}/defs/data/")),
            "directories end with `/`: {names:?}"
        );
        assert!(!names[0].starts_with('/'), "{names:?}");
        let find = |suffix: &str| {
            listed
                .iter()
                .find(|(n, _, _)| n == &format!("{prefix}/{suffix}"))
                .expect(suffix)
        };
        assert_eq!(find("defs/run.sh").1, 0o755);
        assert_eq!(find("defs/data/a.csv").1, 0o644);
        assert_eq!(
            find("defs/link.csv").2,
            b"1,2\n",
            "links are stored as their targets"
        );
    }

    #[test]
    fn files_outside_the_repository_never_go_in() {
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("secret.txt"), "secret").expect("write");
        let root = outside.path().join("repo");
        std::fs::create_dir_all(root.join("defs")).expect("mkdir");
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("defs/link"))
            .expect("symlink");
        std::os::unix::fs::symlink(outside.path(), root.join("defs/dir")).expect("symlink");
        let absolute = outside.path().join("secret.txt").display().to_string();
        for file in [
            "defs/link",
            "defs/dir/secret.txt",
            "../secret.txt",
            absolute.as_str(),
        ] {
            let out = tempfile::tempdir().expect("out");
            let error = pack_context(&root, &[file.to_owned()], out.path())
                .expect_err(file)
                .to_string();
            assert!(error.contains("outside the repository"), "{file}: {error}");
            let left: Vec<_> = std::fs::read_dir(out.path()).expect("list").collect();
            assert!(left.is_empty(), "{file}: no archive is left behind");
        }
    }

    #[test]
    fn the_same_files_give_the_same_digest() {
        let repo = tempfile::tempdir().expect("repo");
        std::fs::write(repo.path().join("a.txt"), "a").expect("write");
        let one = tempfile::tempdir().expect("out");
        let two = tempfile::tempdir().expect("out");
        let first = pack_context(repo.path(), &["a.txt".to_owned()], one.path()).expect("pack");
        let later =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
        File::options()
            .write(true)
            .open(repo.path().join("a.txt"))
            .expect("open")
            .set_modified(later)
            .expect("touch");
        let second = pack_context(repo.path(), &["a.txt".to_owned()], two.path()).expect("pack");
        assert_eq!(first.digest, second.digest);
        std::fs::write(repo.path().join("a.txt"), "b").expect("write");
        let third = pack_context(repo.path(), &["a.txt".to_owned()], two.path()).expect("pack");
        assert_ne!(first.digest, third.digest);
    }
}
