//! Turns `%files` sources and `inputs` globs into the repository files they name, refusing
//! any path that leaves the repository.
//!
//! Paths are handled as repository-relative, `/`-separated strings: that is what the input
//! digest hashes and what reports show, the same on every machine and checkout.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

/// Why a path could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum PathProblem {
    #[error("`{path}` is an absolute path")]
    Absolute { path: String },
    #[error("`{path}` leaves the repository")]
    Escapes { path: String },
    #[error("`{path}` is inside the repository's `.git` directory")]
    GitDirectory { path: String },
    #[error("`{pattern}` is not a valid glob: {message}")]
    InvalidGlob { pattern: String, message: String },
    #[error("`{path}` matches no file")]
    NoMatch { path: String },
    #[error("`{link}` is a symbolic link to `{target}`, outside the repository")]
    SymlinkEscapes { link: String, target: String },
    #[error("cannot read `{path}`: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl PathProblem {
    /// Returns what the user can do about it.
    pub fn help(&self) -> &'static str {
        match self {
            PathProblem::Absolute { .. } | PathProblem::Escapes { .. } => {
                "remote builds upload only files inside the repository; move the file into \
                 it and refer to it with a relative path"
            }
            PathProblem::SymlinkEscapes { .. } => {
                "sifbake never uploads files from outside the repository; copy the file into \
                 the repository instead of linking to it"
            }
            PathProblem::GitDirectory { .. } => {
                "sifbake never reads or uploads `.git`: it holds the repository's configuration \
                 and, in CI, credentials (actions/checkout keeps the job's token in \
                 `.git/config`); name the files the build needs instead"
            }
            PathProblem::InvalidGlob { .. } => "check the brackets and braces of the pattern",
            PathProblem::NoMatch { .. } => {
                "paths are relative to the target's context directory (the definition \
                 file's directory unless `context:` says otherwise); check the spelling"
            }
            PathProblem::Unreadable { .. } => "check the file's permissions",
        }
    }
}

/// Returns true if and only if `text` holds glob syntax (`*`, `?`, `[`), as Go's
/// `filepath.Glob`, which SingularityCE uses for `%files`, understands it.
pub fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Fails if the repository-relative `path` (as written by the user, `source`) names the
/// `.git` directory, a `.git` file (a submodule's or worktree's link to its git directory),
/// or anything under them.
fn refuse_git(path: &str, source: &str) -> Result<(), PathProblem> {
    if path.split('/').any(|component| component == ".git") {
        return Err(PathProblem::GitDirectory {
            path: source.to_owned(),
        });
    }
    Ok(())
}

/// Joins a repository-relative directory and a relative path, resolving `.` and `..`
/// lexically. Fails when the result would leave the repository or `path` is absolute.
pub fn join_relative(base: &str, path: &str) -> Result<String, PathProblem> {
    if path.starts_with('/') {
        return Err(PathProblem::Absolute {
            path: path.to_owned(),
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in base.split('/').chain(path.split('/')) {
        match component {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathProblem::Escapes {
                        path: path.to_owned(),
                    });
                }
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves one `%files` source (a file, a directory or a glob) relative to `context`, a
/// repository-relative directory. Directories are walked recursively, as the build client
/// does when it packs the build context (PROTOCOL.md §2.5).
pub fn resolve_files_source(
    root: &Path,
    context: &str,
    source: &str,
) -> Result<Vec<String>, PathProblem> {
    let path = join_relative(context, source)?;
    refuse_git(&path, source)?;
    let mut found = BTreeSet::new();
    if is_glob(&path) {
        let matcher = glob_matcher(&path)?;
        walk_matches(root, &path, &matcher, true, &mut found)?;
    } else {
        let full = root.join(&path);
        check_inside(root, &full, &path)?;
        if !full.exists() {
            return Err(PathProblem::NoMatch {
                path: source.to_owned(),
            });
        }
        collect(root, &path, &mut found, &mut BTreeSet::new())?;
    }
    if found.is_empty() {
        return Err(PathProblem::NoMatch {
            path: source.to_owned(),
        });
    }
    Ok(found.into_iter().collect())
}

/// Resolves an `inputs` glob relative to `base` (the manifest's directory within the
/// repository). `**` crosses directories; `*` does not. Only files match.
pub fn resolve_input_glob(
    root: &Path,
    base: &str,
    pattern: &str,
) -> Result<Vec<String>, PathProblem> {
    let path = join_relative(base, pattern)?;
    refuse_git(&path, pattern)?;
    let matcher = glob_matcher(&path)?;
    let mut found = BTreeSet::new();
    walk_matches(root, &path, &matcher, false, &mut found)?;
    Ok(found.into_iter().collect())
}

/// Compiles a glob of repository-relative paths: `*` stays within one directory, `**`
/// crosses them.
pub fn glob_matcher(pattern: &str) -> Result<GlobMatcher, PathProblem> {
    // literal_separator: `*` must not cross `/` (CRATES.md, globset gotcha).
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|error| PathProblem::InvalidGlob {
            pattern: pattern.to_owned(),
            message: error.kind().to_string(),
        })
}

/// Walks the directory that holds the glob's literal prefix and collects what matches.
fn walk_matches(
    root: &Path,
    pattern: &str,
    matcher: &GlobMatcher,
    directories_match: bool,
    found: &mut BTreeSet<String>,
) -> Result<(), PathProblem> {
    let prefix: Vec<&str> = pattern
        .split('/')
        .take_while(|component| !is_glob(component))
        .collect();
    // The last literal component may be a file name, not a directory.
    let mut start = prefix.join("/");
    while !start.is_empty() && !root.join(&start).is_dir() {
        start = start
            .rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_owned());
    }
    if start.is_empty() && !root.is_dir() {
        return Ok(());
    }
    // The walk starts below the literal prefix, whose own components are never classified
    // by `entry_kind`: a symbolic link among them (`linkdir/*` with `linkdir -> /etc`) must
    // be checked here, or every file under its target would count as inside the repository.
    if !start.is_empty() {
        check_inside(root, &root.join(&start), &start)?;
    }
    let mut pending = vec![start];
    let mut visited = BTreeSet::new();
    while let Some(dir) = pending.pop() {
        let full = if dir.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&dir)
        };
        if !remember_directory(&full, &mut visited, &dir)? {
            continue;
        }
        for (name, path, file_type) in read_dir_sorted(&full, &dir)? {
            if name == ".git" {
                continue;
            }
            let relative = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let kind = kind_of(root, &path, &relative, file_type)?;
            let matched = matcher.is_match(&relative);
            match kind {
                EntryKind::Directory => {
                    if matched && directories_match {
                        collect_kind(root, &relative, kind, found, &mut visited)?;
                    } else {
                        pending.push(relative);
                    }
                }
                EntryKind::File => {
                    if matched {
                        found.insert(relative);
                    }
                }
                EntryKind::Other => {}
            }
        }
    }
    Ok(())
}

/// Adds a file, or every file under a directory, to `found`.
fn collect(
    root: &Path,
    relative: &str,
    found: &mut BTreeSet<String>,
    visited: &mut BTreeSet<(u64, u64)>,
) -> Result<(), PathProblem> {
    let kind = entry_kind(root, &root.join(relative), relative)?;
    collect_kind(root, relative, kind, found, visited)
}

/// [`collect`] for an entry already classified: a directory's entries come classified
/// from the directory listing, so walking a tree costs no call per file.
fn collect_kind(
    root: &Path,
    relative: &str,
    kind: EntryKind,
    found: &mut BTreeSet<String>,
    visited: &mut BTreeSet<(u64, u64)>,
) -> Result<(), PathProblem> {
    match kind {
        EntryKind::File => {
            found.insert(relative.to_owned());
        }
        EntryKind::Directory => {
            let full = root.join(relative);
            if !remember_directory(&full, visited, relative)? {
                return Ok(());
            }
            for (name, path, file_type) in read_dir_sorted(&full, relative)? {
                // A directory source never brings `.git` along (a submodule's `.git` file
                // included), as a glob never matches it.
                if name == ".git" {
                    continue;
                }
                let child = if relative.is_empty() {
                    name
                } else {
                    format!("{relative}/{name}")
                };
                let kind = kind_of(root, &path, &child, file_type)?;
                collect_kind(root, &child, kind, found, visited)?;
            }
        }
        EntryKind::Other => {}
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum EntryKind {
    Directory,
    File,
    Other,
}

/// Classifies an entry, following symbolic links only when they stay in the repository.
fn entry_kind(root: &Path, full: &Path, relative: &str) -> Result<EntryKind, PathProblem> {
    let unreadable = |source| PathProblem::Unreadable {
        path: relative.to_owned(),
        source,
    };
    let metadata = fs::symlink_metadata(full).map_err(unreadable)?;
    kind_of(root, full, relative, metadata.file_type())
}

/// Classifies an entry of a known type (from `lstat` or a directory listing).
fn kind_of(
    root: &Path,
    full: &Path,
    relative: &str,
    file_type: fs::FileType,
) -> Result<EntryKind, PathProblem> {
    let file_type = if file_type.is_symlink() {
        check_inside(root, full, relative)?;
        fs::metadata(full)
            .map_err(|source| PathProblem::Unreadable {
                path: relative.to_owned(),
                source,
            })?
            .file_type()
    } else {
        file_type
    };
    Ok(if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    })
}

/// Fails unless the repository-relative `path`, with every symbolic link resolved, lies
/// inside `root` (a missing file passes: the caller reports it).
pub fn ensure_inside(root: &Path, path: &str) -> Result<(), PathProblem> {
    check_inside(root, &root.join(path), path)
}

/// Fails unless `full`, with every symbolic link resolved, lies inside `root`.
fn check_inside(root: &Path, full: &Path, relative: &str) -> Result<(), PathProblem> {
    if no_link_on_the_way(root, relative) {
        return Ok(());
    }
    let Ok(target) = fs::canonicalize(full) else {
        // A dangling link or a missing file: reported as "no match" by the caller.
        return Ok(());
    };
    let root = canonical_root(root).map_err(|source| PathProblem::Unreadable {
        path: root.display().to_string(),
        source,
    })?;
    if let Ok(inside) = target.strip_prefix(&root) {
        // A link into `.git` is as much a way to upload it as naming it.
        if inside.components().any(|part| part.as_os_str() == ".git") {
            return Err(PathProblem::GitDirectory {
                path: relative.to_owned(),
            });
        }
        Ok(())
    } else {
        Err(PathProblem::SymlinkEscapes {
            link: relative.to_owned(),
            target: target.display().to_string(),
        })
    }
}

/// Returns true if `relative` (normalised: no `.`, `..` or empty parts) names an entry
/// reached from `root` through no symbolic link: then it is inside the repository without
/// resolving its real path, which costs one `readlink` per component of the absolute path
/// and was a third of the time reading a thousand-target project. Directories found to be
/// real are remembered, so the shared parts of many paths are checked once. False means
/// "resolve it": a link on the way, a missing entry, or an unusual path.
fn no_link_on_the_way(root: &Path, relative: &str) -> bool {
    thread_local! {
        static REAL_DIRECTORIES: std::cell::RefCell<std::collections::HashSet<PathBuf>> =
            std::cell::RefCell::new(std::collections::HashSet::new());
    }
    if relative.is_empty()
        || relative.starts_with('/')
        || relative
            .split('/')
            .any(|part| matches!(part, "" | "." | ".."))
    {
        return false;
    }
    REAL_DIRECTORIES.with(|known| {
        let mut known = known.borrow_mut();
        let mut path = root.to_path_buf();
        let parts: Vec<&str> = relative.split('/').collect();
        for (position, part) in parts.iter().enumerate() {
            path.push(part);
            if known.contains(&path) {
                continue;
            }
            let Ok(metadata) = fs::symlink_metadata(&path) else {
                return false;
            };
            if metadata.file_type().is_symlink() {
                return false;
            }
            if position + 1 < parts.len() {
                if !metadata.is_dir() {
                    return false;
                }
                known.insert(path.clone());
            }
        }
        true
    })
}

/// The real path of the repository root, remembered: it is asked once per file checked,
/// and resolving it costs one `readlink` per component.
fn canonical_root(root: &Path) -> io::Result<PathBuf> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(PathBuf, PathBuf)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        if let Some((asked, real)) = &*last.borrow()
            && asked == root
        {
            return Ok(real.clone());
        }
        let real = fs::canonicalize(root)?;
        *last.borrow_mut() = Some((root.to_path_buf(), real.clone()));
        Ok(real)
    })
}

/// Records a directory by its device and inode (one `stat`, where resolving its real path
/// took one `readlink` per component); returns false if it was seen already (a link loop).
fn remember_directory(
    full: &Path,
    visited: &mut BTreeSet<(u64, u64)>,
    relative: &str,
) -> Result<bool, PathProblem> {
    let metadata = fs::metadata(full).map_err(|source| PathProblem::Unreadable {
        path: relative.to_owned(),
        source,
    })?;
    Ok(visited.insert((metadata.dev(), metadata.ino())))
}

/// A directory's entries, sorted by name, with their types as listed.
fn read_dir_sorted(
    full: &Path,
    relative: &str,
) -> Result<Vec<(String, PathBuf, fs::FileType)>, PathProblem> {
    let unreadable = |source| PathProblem::Unreadable {
        path: if relative.is_empty() {
            ".".to_owned()
        } else {
            relative.to_owned()
        },
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(full).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        // Names that are not UTF-8 cannot appear in a manifest or def file; skip them.
        if let Ok(name) = entry.file_name().into_string() {
            let file_type = entry.file_type().map_err(unreadable)?;
            entries.push((name, entry.path(), file_type));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for file in files {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(&path, file).expect("write");
        }
        dir
    }

    #[test]
    fn join_relative_resolves_dots_and_refuses_escapes() {
        assert_eq!(
            join_relative("defs", "a.txt").ok(),
            Some("defs/a.txt".into())
        );
        assert_eq!(join_relative("defs", "../a.txt").ok(), Some("a.txt".into()));
        assert_eq!(join_relative("", "./x/./y").ok(), Some("x/y".into()));
        assert!(matches!(
            join_relative("defs", "../../a"),
            Err(PathProblem::Escapes { .. })
        ));
        assert!(matches!(
            join_relative("defs", "/etc/passwd"),
            Err(PathProblem::Absolute { .. })
        ));
    }

    #[test]
    fn nothing_under_git_is_ever_an_input() {
        let dir = tree(&[
            ".git/config",
            ".git/HEAD",
            "defs/a.def",
            "sub/.git",
            "sub/file.txt",
            "top.txt",
        ]);
        let root = dir.path();
        for (context, source) in [
            ("defs", "../.git/config"),
            ("", ".git"),
            ("", ".git/*"),
            ("", "sub/.git"),
            ("defs", "../.git/../.git/HEAD"),
        ] {
            assert!(
                matches!(
                    resolve_files_source(root, context, source),
                    Err(PathProblem::GitDirectory { .. })
                ),
                "{context} {source}"
            );
        }
        assert!(matches!(
            resolve_input_glob(root, "", ".git/**"),
            Err(PathProblem::GitDirectory { .. })
        ));
        // The whole repository as a source: everything but `.git`, with clean paths.
        let all = resolve_files_source(root, "defs", "..").expect("root");
        assert_eq!(all, ["defs/a.def", "sub/file.txt", "top.txt"]);
        // A link into `.git` is refused like the path itself.
        std::os::unix::fs::symlink(root.join(".git/config"), root.join("cfg")).expect("link");
        assert!(matches!(
            resolve_files_source(root, "", "cfg"),
            Err(PathProblem::GitDirectory { .. })
        ));
    }

    #[test]
    fn files_sources_cover_files_directories_and_globs() {
        let dir = tree(&[
            "defs/app/a.txt",
            "defs/app/sub/b.txt",
            "defs/c.py",
            "defs/d.py",
        ]);
        let root = dir.path();
        assert_eq!(
            resolve_files_source(root, "defs", "app").expect("dir"),
            vec!["defs/app/a.txt", "defs/app/sub/b.txt"]
        );
        assert_eq!(
            resolve_files_source(root, "defs", "*.py").expect("glob"),
            vec!["defs/c.py", "defs/d.py"]
        );
        assert_eq!(
            resolve_files_source(root, "defs/app", "../c.py").expect("file"),
            vec!["defs/c.py"]
        );
        assert!(matches!(
            resolve_files_source(root, "defs", "missing.txt"),
            Err(PathProblem::NoMatch { .. })
        ));
        assert!(matches!(
            resolve_files_source(root, "defs", "*.rs"),
            Err(PathProblem::NoMatch { .. })
        ));
    }

    #[test]
    fn star_does_not_cross_directories_but_double_star_does() {
        let dir = tree(&["req/a.txt", "req/deep/b.txt"]);
        let root = dir.path();
        assert_eq!(
            resolve_input_glob(root, "", "req/*.txt").expect("glob"),
            vec!["req/a.txt"]
        );
        assert_eq!(
            resolve_input_glob(root, "", "req/**/*.txt").expect("glob"),
            vec!["req/a.txt", "req/deep/b.txt"]
        );
    }

    #[test]
    fn symlinks_out_of_the_repository_are_refused() {
        let outside = tree(&["secret.txt"]);
        let dir = tree(&["defs/ok.txt"]);
        let root = dir.path();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            root.join("defs/link.txt"),
        )
        .expect("symlink");
        std::os::unix::fs::symlink(root.join("defs/ok.txt"), root.join("defs/inside.txt"))
            .expect("symlink");
        assert!(matches!(
            resolve_files_source(root, "defs", "link.txt"),
            Err(PathProblem::SymlinkEscapes { .. })
        ));
        assert!(matches!(
            resolve_files_source(root, "defs", "*.txt"),
            Err(PathProblem::SymlinkEscapes { .. })
        ));
        assert_eq!(
            resolve_files_source(root, "defs", "inside.txt").expect("inside"),
            vec!["defs/inside.txt"]
        );
    }

    #[test]
    fn globs_through_a_symlinked_directory_out_of_the_repository_are_refused() {
        let outside = tree(&["secret.txt", "nested/key.pem"]);
        let dir = tree(&["defs/ok.txt"]);
        let root = dir.path();
        std::os::unix::fs::symlink(outside.path(), root.join("defs/linkdir")).expect("symlink");
        for pattern in [
            "linkdir/*",
            "linkdir/*.txt",
            "linkdir/**",
            "linkdir/nested/*.pem",
        ] {
            assert!(
                matches!(
                    resolve_files_source(root, "defs", pattern),
                    Err(PathProblem::SymlinkEscapes { .. })
                ),
                "%files {pattern}: {:?}",
                resolve_files_source(root, "defs", pattern)
            );
            assert!(
                matches!(
                    resolve_input_glob(root, "defs", pattern),
                    Err(PathProblem::SymlinkEscapes { .. })
                ),
                "inputs {pattern}: {:?}",
                resolve_input_glob(root, "defs", pattern)
            );
        }
    }

    #[test]
    fn symlink_loops_end() {
        let dir = tree(&["d/a.txt"]);
        std::os::unix::fs::symlink(dir.path().join("d"), dir.path().join("d/loop"))
            .expect("symlink");
        let files = resolve_files_source(dir.path(), "", "d").expect("walk");
        assert_eq!(files, vec!["d/a.txt"]);
    }
}
