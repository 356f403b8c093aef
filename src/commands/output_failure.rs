//! A report or log that could not be written once the builds had run (a full disk, a
//! read-only file, a name too long for the file system). The builds' outcome stands: the
//! failure is reported with its path and the system's error, the other reports are still
//! written, and the result document still goes to stdout.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::exit;

/// One output that could not be written.
#[derive(Debug)]
pub struct OutputFailure {
    /// What it is: "the JUnit report", "the build log of `base` (amd64)".
    pub what: String,
    pub path: PathBuf,
    pub error: io::Error,
}

impl OutputFailure {
    pub fn new(what: impl Into<String>, path: &Path, error: io::Error) -> Self {
        OutputFailure {
            what: what.into(),
            path: path.to_path_buf(),
            error,
        }
    }
}

impl fmt::Display for OutputFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // io::Error shows the errno as "(os error 28)" after the system's text.
        write!(
            f,
            "cannot write {} `{}`: {}",
            self.what,
            self.path.display(),
            self.error
        )
    }
}

/// Returns the exit code of a run whose outputs failed: the builds' own code when they
/// failed (that is the news), [`exit::OUTPUT`] when they succeeded.
pub fn exit_code(builds: u8, failures: &[OutputFailure]) -> u8 {
    if failures.is_empty() || builds != exit::SUCCESS {
        builds
    } else {
        exit::OUTPUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_path_and_the_errno() {
        let failure = OutputFailure::new(
            "the JUnit report",
            Path::new("/dev/full"),
            io::Error::from_raw_os_error(28),
        );
        let text = failure.to_string();
        assert!(
            text.starts_with("cannot write the JUnit report `/dev/full`: ")
                && text.ends_with("(os error 28)"),
            "{text}"
        );
        assert_eq!(exit_code(exit::SUCCESS, &[failure]), exit::OUTPUT);
        assert_eq!(exit_code(exit::BUILD_FAILED, &[]), exit::BUILD_FAILED);
    }
}
