//! Downloading a run's images into a directory, for `sifbake pull` and `build --pull`: the
//! file names, a few images at a time, and the lines that report them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;

use crate::libref::LibraryRef;
pub use crate::report::result::PulledFile;
use crate::scs::{Downloaded, Library, TransferError};

/// Images downloaded at once. Each uses a few connections of its own
/// (`TransferOptions::download_streams`): more at once would only share the same link.
pub const CONCURRENT_IMAGES: usize = 3;

/// One image to download.
#[derive(Clone, Debug)]
pub struct PullItem {
    pub target: String,
    pub arch: String,
    /// The container holding it.
    pub container: LibraryRef,
    /// The tag (or `sha256.` hash) that names it.
    pub tag: String,
    /// Where it goes.
    pub path: PathBuf,
}

/// Why an item was not pulled.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0}")]
    Transfer(#[from] TransferError),
    /// The file arrived intact, but the check after the download refused it; it is removed.
    #[error("{0}")]
    Rejected(String),
}

/// What became of one item.
pub type PullOutcome = (PullItem, Result<Downloaded, PullError>);

/// A check of each downloaded file before it counts as pulled: the hook `--verify` (the
/// signature check) plugs into. An `Err` gives the reason; the file is then removed.
pub type Verify = Arc<dyn Fn(&PullItem, &Downloaded) -> Result<(), String> + Send + Sync>;

/// The file name of a target's image in `dir`: `<target>.sif`, or `<target>_<arch>.sif` when
/// the target is built for several architectures (so the name does not depend on which
/// of them a job selected).
pub fn file_for(dir: &Path, target: &str, arch: &str, several_archs: bool) -> PathBuf {
    // Target names come from the manifest or a directory; a `/` must not open a path.
    let name = target.replace(['/', '\\'], "_");
    if several_archs {
        dir.join(format!("{name}_{arch}.sif"))
    } else {
        dir.join(format!("{name}.sif"))
    }
}

/// Creates `dir` if needed; the error names it.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot create the directory `{}`: {error}", dir.display()),
        )
    })
}

/// Downloads every item, [`CONCURRENT_IMAGES`] at a time, each checked by `verify` when
/// given; returns the outcomes in the items' order.
pub async fn download_all<L: Library>(
    library: Arc<L>,
    items: Vec<PullItem>,
    verify: Option<Verify>,
) -> Vec<PullOutcome> {
    futures_util::stream::iter(items.into_iter().map(|item| {
        let library = Arc::clone(&library);
        let verify = verify.clone();
        async move {
            let result = library
                .download_image(&item.container, &item.tag, &item.arch, &item.path)
                .await
                .map_err(PullError::from);
            let result = match (result, verify) {
                (Ok(downloaded), Some(verify)) => match verify(&item, &downloaded) {
                    Ok(()) => Ok(downloaded),
                    Err(reason) => {
                        // A refused file must not stay where a later step would use it.
                        let _ = std::fs::remove_file(&downloaded.path);
                        Err(PullError::Rejected(reason))
                    }
                },
                (result, _) => result,
            };
            (item, result)
        }
    }))
    .buffered(CONCURRENT_IMAGES)
    .collect()
    .await
}

/// Writes a line per outcome to `stderr` (`pulled …` or `cannot pull …`), and returns the
/// files written.
pub fn report(stderr: &mut dyn Write, outcomes: &[PullOutcome]) -> io::Result<Vec<PulledFile>> {
    let mut pulled = Vec::new();
    for (item, result) in outcomes {
        let image = format!("{}:{}", item.container.path(), item.tag);
        match result {
            Ok(downloaded) => {
                writeln!(
                    stderr,
                    "sifbake: pulled `{}` ({}) {image} to {} ({})",
                    item.target,
                    item.arch,
                    item.path.display(),
                    crate::scs::human_size(downloaded.image.size),
                )?;
                pulled.push(PulledFile {
                    target: item.target.clone(),
                    arch: item.arch.clone(),
                    image,
                    hash: downloaded.image.hash.clone(),
                    size: downloaded.image.size,
                    path: item.path.clone(),
                });
            }
            Err(error) => writeln!(
                stderr,
                "sifbake: error: cannot pull `{}` ({}) to {}: {error}",
                item.target,
                item.arch,
                item.path.display()
            )?,
        }
    }
    Ok(pulled)
}

/// Returns the exit code for the outcomes: 0 when all were written; 3 when the library or
/// the network failed, or sent a file that is not the image; else 1 when an image is
/// missing or refused by the check (as `sifbake tag` exits for a missing image: build it
/// first); else 4 when only a local file could not be written.
pub fn exit_code(outcomes: &[PullOutcome]) -> u8 {
    let mut code = crate::exit::SUCCESS;
    for (_, result) in outcomes {
        let this = match result {
            Ok(_) => crate::exit::SUCCESS,
            Err(PullError::Transfer(TransferError::File { .. })) => crate::exit::OUTPUT,
            Err(
                PullError::Rejected(_)
                | PullError::Transfer(
                    TransferError::NotFound { .. } | TransferError::Incomplete { .. },
                ),
            ) => crate::exit::BUILD_FAILED,
            Err(PullError::Transfer(_)) => crate::exit::SERVICE,
        };
        code = worst(code, this);
    }
    code
}

/// The more serious of two exit codes: service trouble, then a missing image, then output.
fn worst(a: u8, b: u8) -> u8 {
    let rank = |code: u8| match code {
        crate::exit::SERVICE => 3,
        crate::exit::BUILD_FAILED => 2,
        crate::exit::OUTPUT => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_arch_only_for_multi_arch_targets() {
        let dir = Path::new("out");
        assert_eq!(file_for(dir, "base", "amd64", false), dir.join("base.sif"));
        assert_eq!(
            file_for(dir, "base", "arm64", true),
            dir.join("base_arm64.sif")
        );
        assert_eq!(file_for(dir, "a/b", "amd64", false), dir.join("a_b.sif"));
    }

    #[test]
    fn the_worst_failure_decides_the_exit_code() {
        let item = PullItem {
            target: "t".into(),
            arch: "amd64".into(),
            container: LibraryRef::parse("library://e/c/n").expect("ref"),
            tag: "latest".into(),
            path: PathBuf::from("t.sif"),
        };
        let missing = || TransferError::NotFound {
            image: "e/c/n:latest".into(),
            arch: "amd64".into(),
        };
        let file = || TransferError::File {
            doing: "cannot write",
            path: "t.sif".into(),
            source: io::Error::other("disk full"),
        };
        let outcome = |error: TransferError| (item.clone(), Err(PullError::Transfer(error)));
        assert_eq!(exit_code(&[]), crate::exit::SUCCESS);
        assert_eq!(exit_code(&[outcome(file())]), crate::exit::OUTPUT);
        assert_eq!(
            exit_code(&[outcome(file()), outcome(missing())]),
            crate::exit::BUILD_FAILED
        );
        assert_eq!(
            exit_code(&[outcome(missing()), outcome(TransferError::Unsupported)]),
            crate::exit::SERVICE
        );
        let rejected = (item.clone(), Err(PullError::Rejected("unsigned".into())));
        assert_eq!(
            exit_code(&[outcome(file()), rejected]),
            crate::exit::BUILD_FAILED
        );
    }
}
