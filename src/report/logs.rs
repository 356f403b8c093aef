//! Build logs on disk: each image's log is appended to its own file as it streams in, and
//! read back when the image is done (for a collapsible group in CI). Logs never sit in
//! memory, so hundreds of builds streaming megabytes each cost nothing but disk.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::failure::LogReason;

/// A log that could not be written: where, and the system's error.
#[derive(Debug)]
pub struct LogFailure {
    pub target: String,
    pub arch: String,
    pub path: PathBuf,
    pub error: io::Error,
}

/// The log files of one run.
pub struct LogFiles {
    directory: PathBuf,
    /// Kept alive so a temporary directory lasts as long as the run.
    _temporary: Option<tempfile::TempDir>,
    open: HashMap<String, BufWriter<File>>,
    /// Logs that could not be written (a full disk, a name too long): the builds go on, the
    /// rest of such a log is dropped, and the run reports each one at its end.
    failures: Vec<LogFailure>,
}

impl LogFiles {
    /// Keeps logs in `directory` (`--log-dir`, created if missing), or in a temporary
    /// directory removed at the end of the run.
    pub fn new(directory: Option<&Path>) -> io::Result<Self> {
        match directory {
            Some(directory) => {
                std::fs::create_dir_all(directory)?;
                Ok(LogFiles {
                    directory: directory.to_path_buf(),
                    _temporary: None,
                    open: HashMap::new(),
                    failures: Vec::new(),
                })
            }
            None => {
                let temporary = tempfile::Builder::new().prefix("sifbake-logs-").tempdir()?;
                Ok(LogFiles {
                    directory: temporary.path().to_path_buf(),
                    _temporary: Some(temporary),
                    open: HashMap::new(),
                    failures: Vec::new(),
                })
            }
        }
    }

    /// Returns the file name of an image's log: `<target>-<arch>.log`.
    pub fn file_name(target: &str, arch: &str) -> String {
        format!("{target}-{arch}.log")
    }

    /// Returns the path of an image's log.
    pub fn path(&self, target: &str, arch: &str) -> PathBuf {
        self.directory.join(Self::file_name(target, arch))
    }

    /// Appends a chunk of an image's log. A log that cannot be written is noted in
    /// [`LogFiles::failures`] and not tried again: the build it belongs to must go on.
    pub fn append(&mut self, target: &str, arch: &str, chunk: &str) {
        let name = Self::file_name(target, arch);
        if self.failed(&name) {
            return;
        }
        let written = match self.open.get_mut(&name) {
            Some(writer) => writer.write_all(chunk.as_bytes()),
            None => File::options()
                .create(true)
                .append(true)
                .open(self.directory.join(&name))
                .and_then(|file| {
                    self.open
                        .entry(name.clone())
                        .or_insert_with(|| BufWriter::new(file))
                        .write_all(chunk.as_bytes())
                }),
        };
        if let Err(error) = written {
            self.fail(target, arch, error);
        }
    }

    fn failed(&self, name: &str) -> bool {
        self.failures
            .iter()
            .any(|f| Self::file_name(&f.target, &f.arch) == name)
    }

    fn fail(&mut self, target: &str, arch: &str, error: io::Error) {
        let name = Self::file_name(target, arch);
        self.open.remove(&name);
        self.failures.push(LogFailure {
            target: target.to_owned(),
            arch: arch.to_owned(),
            path: self.directory.join(name),
            error,
        });
    }

    /// The logs that could not be written, in the order they failed.
    pub fn failures(&self) -> &[LogFailure] {
        &self.failures
    }

    /// Reads why an image's build failed from its log (`None` when it logged nothing worth
    /// quoting, or its log could not be written).
    pub fn reason(&mut self, target: &str, arch: &str) -> io::Result<Option<LogReason>> {
        let name = Self::file_name(target, arch);
        if self.failed(&name) {
            return Ok(None);
        }
        if let Some(writer) = self.open.get_mut(&name) {
            writer.flush()?;
        }
        match File::open(self.directory.join(&name)) {
            Ok(file) => LogReason::read(BufReader::new(file)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Closes an image's log and copies it to `out`; returns the bytes copied. An image
    /// that logged nothing copies nothing.
    pub fn replay(&mut self, target: &str, arch: &str, out: &mut dyn Write) -> io::Result<u64> {
        let name = Self::file_name(target, arch);
        if let Some(mut writer) = self.open.remove(&name) {
            writer.flush()?;
        }
        match File::open(self.directory.join(&name)) {
            Ok(mut file) => io::copy(&mut file, out),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(error),
        }
    }

    /// Returns the last `max` bytes of an image's log (from a line start where one is near),
    /// or `None` when it logged nothing. Used for the failure text of JUnit test cases.
    pub fn tail(&mut self, target: &str, arch: &str, max: usize) -> io::Result<Option<String>> {
        use std::io::{Read, Seek, SeekFrom};
        let name = Self::file_name(target, arch);
        if let Some(writer) = self.open.get_mut(&name) {
            writer.flush()?;
        }
        let mut file = match File::open(self.directory.join(&name)) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let length = file.metadata()?.len();
        let start = length.saturating_sub(max as u64);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if start == 0 {
            return Ok(Some(text));
        }
        let from_line = match text.find('\n') {
            Some(newline) if newline + 1 < text.len() => &text[newline + 1..],
            _ => text.as_str(),
        };
        Ok(Some(format!(
            "[… the start of the log is left out]\n{from_line}"
        )))
    }

    /// Returns true if and only if an image logged anything.
    pub fn has_log(&mut self, target: &str, arch: &str) -> io::Result<bool> {
        let name = Self::file_name(target, arch);
        if let Some(writer) = self.open.get_mut(&name) {
            writer.flush()?;
        }
        match std::fs::metadata(self.directory.join(&name)) {
            Ok(metadata) => Ok(metadata.len() > 0),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Flushes every open log; one that cannot be written is noted in
    /// [`LogFiles::failures`].
    pub fn flush(&mut self) {
        let mut failed = Vec::new();
        for (name, writer) in &mut self.open {
            if let Err(error) = writer.flush() {
                failed.push((name.clone(), error));
            }
        }
        for (name, error) in failed {
            let (target, arch) = name
                .strip_suffix(".log")
                .and_then(|n| n.rsplit_once('-'))
                .unwrap_or((name.as_str(), ""));
            let (target, arch) = (target.to_owned(), arch.to_owned());
            self.fail(&target, &arch, error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_append_and_replay_per_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut logs = LogFiles::new(Some(&dir.path().join("logs"))).expect("logs");
        logs.append("base", "amd64", "one\n");
        logs.append("base", "arm64", "other\n");
        logs.append("base", "amd64", "two\n");
        let mut out = Vec::new();
        assert_eq!(logs.replay("base", "amd64", &mut out).expect("replay"), 8);
        assert_eq!(out, b"one\ntwo\n");
        let mut none = Vec::new();
        assert!(logs.has_log("base", "arm64").expect("has_log"));
        assert!(!logs.has_log("app", "amd64").expect("has_log"));
        assert_eq!(logs.replay("app", "amd64", &mut none).expect("replay"), 0);
        logs.flush();
        assert_eq!(
            logs.tail("base", "arm64", 100).expect("tail").as_deref(),
            Some("other\n")
        );
        logs.append("long", "amd64", "first line\nsecond line\nthird\n");
        assert_eq!(
            logs.tail("long", "amd64", 15).expect("tail").as_deref(),
            Some("[… the start of the log is left out]\nthird\n")
        );
        assert_eq!(logs.tail("none", "amd64", 10).expect("tail"), None);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("logs/base-arm64.log")).expect("read"),
            "other\n"
        );
    }

    #[test]
    fn a_log_that_cannot_be_written_is_noted_and_the_others_go_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut logs = LogFiles::new(Some(dir.path())).expect("logs");
        let long = "t".repeat(250);
        logs.append(&long, "amd64", "line\n");
        logs.append(&long, "amd64", "more\n");
        logs.append("base", "amd64", "FATAL: broken\n");
        assert_eq!(logs.failures().len(), 1, "one failure per log");
        let failure = &logs.failures()[0];
        assert_eq!(failure.path, dir.path().join(format!("{long}-amd64.log")));
        assert_eq!(failure.error.raw_os_error(), Some(36), "ENAMETOOLONG");
        assert_eq!(logs.reason(&long, "amd64").expect("reason"), None);
        let reason = logs.reason("base", "amd64").expect("reason").expect("some");
        assert_eq!(reason.errors, ["FATAL: broken"]);
    }
}
