//! `sifbake init`: a commented `sifbake.yaml` for the definition files of a repository.
//!
//! Files named `Singularity`, `Singularity.*` or `*.def` that read as definition files
//! become targets: one `glob:` target for sibling folders that each hold a file of the same
//! name (`containers/*/Singularity`), a `def:` target for any other. The library is
//! inferred from `From:` lines that name another target, so the dependencies sifbake finds
//! by itself hold at once; the written manifest is then loaded as `validate` would, and
//! the dependencies found are noted beside each target. An existing file is never
//! overwritten: the manifest is written with create-new semantics.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::Output;
use crate::cli::InitArgs;
use crate::deffile::{self, Definition};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::libref::{self, LibraryRef};
use crate::manifest::{LoadRequest, SCHEMA_PATH, is_glob};
use crate::project;
use crate::settings::{MANIFEST_FILE_NAME, Settings};

/// The library written when none is given or inferred: valid, and plainly to be replaced.
const PLACEHOLDER_LIBRARY: &str = "library://your-entity/your-collection";

/// Directories never searched: version control, build output, dependencies.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", "venv", "__pycache__"];

/// How deep the search goes, and how many files it reads: a repository, not a disk.
const MAX_DEPTH: usize = 12;
const MAX_CANDIDATES: usize = 10_000;

/// A definition file found, relative to the manifest's directory (`/`-separated).
struct Found {
    path: String,
    definition: Definition,
}

/// One entry of `targets:` to write.
#[derive(Debug, PartialEq)]
struct Entry {
    name: String,
    source: EntrySource,
    /// The names of the targets it yields (one, or one per glob match).
    targets: Vec<String>,
    /// Where its `%files` sources are found: beside its file (`Some(false)`), only from the
    /// manifest's directory (`Some(true)`, so `context: .`), or `None` (none, or nowhere).
    files_from_root: Option<bool>,
}

#[derive(Debug, PartialEq)]
enum EntrySource {
    Def(String),
    Glob { pattern: String, dirs: Vec<String> },
}

/// Runs `sifbake init`.
pub fn run(settings: &Settings, args: &InitArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let manifest = settings.base_dir().join(
        args.file
            .as_deref()
            .unwrap_or(Path::new(MANIFEST_FILE_NAME)),
    );
    let shown = manifest
        .strip_prefix(&settings.cwd)
        .unwrap_or(&manifest)
        .display()
        .to_string();
    if !args.stdout && manifest.exists() {
        writeln!(
            out.stderr,
            "error: `{shown}` exists already; sifbake init never overwrites a file\n\
             hint: remove it, or write another with `sifbake init -f OTHER.yaml`"
        )?;
        return Ok(exit::BAD_INPUT);
    }
    let dir = manifest
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let (found, rejected) = find_definitions(&dir);
    if found.is_empty() {
        writeln!(
            out.stderr,
            "error: no definition files under `{}` (files named `Singularity`, \
             `Singularity.*` or `*.def` with a `Bootstrap:` header)",
            dir.display()
        )?;
        return Ok(exit::BAD_INPUT);
    }
    let entries = plan_entries(&found, &rejected, &dir);
    let (library, library_note) = match &args.library {
        Some(library) => (library.clone(), "given with --library"),
        None => match infer_library(&found, &entries) {
            Some(library) => (library, "from the `From:` lines that name these targets"),
            None => (
                PLACEHOLDER_LIBRARY.to_owned(),
                "a placeholder: replace it with your own",
            ),
        },
    };
    let draft = render(&entries, &library, library_note, &BTreeMap::new());
    // The dependencies sifbake itself finds in the draft, noted beside each target.
    let dependencies = match load_text(&dir, &draft, settings) {
        (Some(project), _) => dependencies_of(&project, &entries),
        (None, _) => BTreeMap::new(),
    };
    let text = render(&entries, &library, library_note, &dependencies);

    let diagnostics = if args.stdout {
        out.stdout.write_all(text.as_bytes())?;
        load_text(&dir, &text, settings).1
    } else {
        if let Err(error) = write_new(&manifest, &text) {
            writeln!(out.stderr, "error: cannot write `{shown}`: {error}")?;
            return Ok(exit::BAD_INPUT);
        }
        let request = LoadRequest {
            manifest: manifest.clone(),
            root: settings.directory.clone(),
            display_base: settings.cwd.clone(),
        };
        project::load(&request).err().unwrap_or_default()
    };
    let targets: usize = entries.iter().map(|e| e.targets.len()).sum();
    let destination = if args.stdout { "stdout" } else { &shown };
    writeln!(
        out.stderr,
        "wrote {destination}: {} from {} definition {}",
        plural(targets, "target"),
        found.len(),
        if found.len() == 1 { "file" } else { "files" }
    )?;
    if library == PLACEHOLDER_LIBRARY {
        writeln!(
            out.stderr,
            "note: `defaults.library` is a placeholder; set it to your library \
             (or run `sifbake init --library library://ENTITY/COLLECTION`)"
        )?;
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        out.diagnostics(&diagnostics)?;
        writeln!(
            out.stderr,
            "error: the manifest does not validate yet; fix the problems above, then run `sifbake validate`"
        )?;
        return Ok(exit::BAD_INPUT);
    }
    writeln!(out.stderr, "next: `sifbake validate`, then `sifbake plan`")?;
    Ok(exit::SUCCESS)
}

/// Writes a new file; fails if one exists, even one created since the check above.
fn write_new(path: &Path, text: &str) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// Loads manifest text as `validate` would, from a scratch file beside where it will live
/// (paths in it are relative to that directory). Returns the project, or the diagnostics.
fn load_text(
    dir: &Path,
    text: &str,
    settings: &Settings,
) -> (Option<project::Project>, Vec<Diagnostic>) {
    let scratch = tempfile::Builder::new()
        .prefix(".sifbake-init-")
        .suffix(".yaml")
        .tempfile_in(dir)
        .and_then(|mut file| file.write_all(text.as_bytes()).map(|()| file));
    let Ok(scratch) = scratch else {
        return (None, Vec::new());
    };
    let request = LoadRequest {
        manifest: scratch.path().to_path_buf(),
        root: settings.directory.clone(),
        display_base: settings.cwd.clone(),
    };
    match project::load(&request) {
        Ok(project) => (Some(project), Vec::new()),
        Err(diagnostics) => (None, diagnostics),
    }
}

/// Returns, per entry, the targets of other entries it builds on and why.
fn dependencies_of(project: &project::Project, entries: &[Entry]) -> BTreeMap<String, Vec<String>> {
    let graph = &project.graph;
    let entry_of = |target: &str| {
        entries
            .iter()
            .find(|e| e.targets.iter().any(|t| t == target))
            .map(|e| e.name.clone())
    };
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (index, name) in graph.names().iter().enumerate() {
        let Some(entry) = entry_of(name) else {
            continue;
        };
        for edge in graph.dependencies(index) {
            let dependency = &graph.names()[edge.dependency];
            found
                .entry(entry.clone())
                .or_default()
                .insert(format!("{dependency} ({})", edge.reason.describe()));
        }
    }
    found
        .into_iter()
        .map(|(entry, set)| (entry, set.into_iter().collect()))
        .collect()
}

/// Returns true if and only if a file name is one a definition file usually has.
fn is_definition_name(name: &str) -> bool {
    name == "Singularity"
        || name.starts_with("Singularity.")
        || (name.ends_with(".def") && name.len() > 4)
}

/// Walks `dir` for definition files: those that parse and have a `Bootstrap:` header, and
/// the paths of candidates that do not (so no glob target is written that matches one).
fn find_definitions(dir: &Path) -> (Vec<Found>, Vec<String>) {
    let mut found = Vec::new();
    let mut rejected = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new(), 0)];
    let mut candidates = 0;
    while let Some((path, relative, depth)) = pending.pop() {
        let Ok(read) = std::fs::read_dir(&path) else {
            continue;
        };
        let mut children: Vec<_> = read.flatten().collect();
        children.sort_by_key(std::fs::DirEntry::file_name);
        for child in children {
            let Ok(kind) = child.file_type() else {
                continue;
            };
            let name = child.file_name().to_string_lossy().into_owned();
            let child_relative = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            if kind.is_dir() {
                if depth < MAX_DEPTH && !name.starts_with('.') && !SKIPPED_DIRS.contains(&&*name) {
                    pending.push((child.path(), child_relative, depth + 1));
                }
            } else if kind.is_file() && is_definition_name(&name) && candidates < MAX_CANDIDATES {
                candidates += 1;
                let definition = std::fs::read_to_string(child.path())
                    .ok()
                    .and_then(|text| deffile::parse(&text).ok())
                    .filter(|d| d.stages.first().and_then(|s| s.bootstrap()).is_some());
                match definition {
                    Some(definition) => found.push(Found {
                        path: child_relative,
                        definition,
                    }),
                    None => rejected.push(child_relative),
                }
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    (found, rejected)
}

/// Splits a `/`-separated path into its directory (`""` at the top) and file name.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Turns text into a target name in the library's alphabet, or `None` if nothing is left.
fn sanitize(text: &str) -> Option<String> {
    let mut name = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with(['-', '.', '_']) {
            name.push(if matches!(c, '.' | '_') { c } else { '-' });
        }
    }
    let name = name.trim_end_matches(['-', '.', '_']).to_owned();
    libref::check_name(&name).is_ok().then_some(name)
}

/// The name of a `def:` target: the file's stem, or for `Singularity[.tag]` its folder
/// (and tag), as Singularity Hub named them.
fn def_target_name(path: &str) -> String {
    let (dir, file) = split(path);
    let folder = split(dir).1;
    let raw = match file.strip_prefix("Singularity") {
        Some("" | ".def") => folder.to_owned(),
        Some(tag) => format!("{folder}-{}", tag.trim_start_matches('.')),
        None => file.trim_end_matches(".def").to_owned(),
    };
    sanitize(&raw).unwrap_or_else(|| "image".to_owned())
}

/// Whether a definition file's `%files` sources are found beside it (`Some(false)`), only
/// from the manifest's directory (`Some(true)`), or it has none or they are found nowhere.
fn reads_from_root(found: &Found, root: &Path) -> Option<bool> {
    let (dir, _) = split(&found.path);
    let sources: Vec<&str> = found
        .definition
        .host_files()
        .map(|entry| entry.source.as_str())
        .collect();
    // A glob is judged by the folder its pattern starts in.
    let exists = |base: &Path, source: &str| {
        let literal = if is_glob(source) {
            source[..source.find(['*', '?', '[']).unwrap_or(0)]
                .rsplit_once('/')
                .map_or("", |(d, _)| d)
        } else {
            source
        };
        base.join(literal).exists()
    };
    if sources.is_empty() {
        None
    } else if sources.iter().all(|s| exists(&root.join(dir), s)) {
        Some(false)
    } else {
        sources.iter().all(|s| exists(root, s)).then_some(true)
    }
}

/// Groups the definition files into entries: one glob target per set of at least two
/// sibling folders holding a file of the same `Singularity*` name, a def target otherwise.
fn plan_entries(found: &[Found], rejected: &[String], root: &Path) -> Vec<Entry> {
    let mut groups: BTreeMap<(&str, &str), Vec<&Found>> = BTreeMap::new();
    for item in found {
        let (dir, file) = split(&item.path);
        if file.starts_with("Singularity") && !dir.is_empty() {
            groups.entry((split(dir).0, file)).or_default().push(item);
        }
    }
    let mut entries = Vec::new();
    let mut grouped: BTreeSet<&str> = BTreeSet::new();
    for ((parent, file), members) in &groups {
        let dirs: Vec<String> = members
            .iter()
            .map(|m| split(split(&m.path).0).1.to_owned())
            .collect();
        let blocked = rejected.iter().any(|r| {
            let (dir, name) = split(r);
            name == *file && split(dir).0 == *parent
        });
        let from_root: BTreeSet<bool> = members
            .iter()
            .filter_map(|m| reads_from_root(m, root))
            .collect();
        // A glob target names each image after its folder and shares one context, so the
        // folders must be valid names and agree on where their `%files` are.
        if members.len() < 2
            || blocked
            || from_root.len() > 1
            || dirs.iter().any(|d| libref::check_name(d).is_err())
        {
            continue;
        }
        grouped.extend(members.iter().map(|m| m.path.as_str()));
        let pattern = if parent.is_empty() {
            format!("*/{file}")
        } else {
            format!("{parent}/*/{file}")
        };
        let name = sanitize(split(parent).1).unwrap_or_else(|| "images".to_owned());
        entries.push(Entry {
            name,
            targets: dirs.clone(),
            source: EntrySource::Glob { pattern, dirs },
            files_from_root: from_root.first().copied(),
        });
    }
    for item in found.iter().filter(|f| !grouped.contains(f.path.as_str())) {
        let name = def_target_name(&item.path);
        entries.push(Entry {
            targets: vec![name.clone()],
            name,
            source: EntrySource::Def(item.path.clone()),
            files_from_root: reads_from_root(item, root),
        });
    }
    dedupe_names(&mut entries);
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

/// Makes target names unique: a later `def:` target that takes a name already used gets a
/// numeric suffix; a glob target is named after its folders, which the check above keeps.
fn dedupe_names(entries: &mut [Entry]) {
    let mut taken: BTreeSet<String> = entries
        .iter()
        .filter(|e| matches!(e.source, EntrySource::Glob { .. }))
        .flat_map(|e| e.targets.iter().cloned().chain([e.name.clone()]))
        .collect();
    for entry in entries.iter_mut() {
        let EntrySource::Def(_) = entry.source else {
            continue;
        };
        let mut name = entry.name.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{}-{n}", entry.name);
            n += 1;
        }
        taken.insert(name.clone());
        entry.targets = vec![name.clone()];
        entry.name = name;
    }
}

/// Infers `library://[host/]entity/collection` from `Bootstrap: library` stages whose
/// `From:` names one of the targets: the most common such library.
fn infer_library(found: &[Found], entries: &[Entry]) -> Option<String> {
    let names: BTreeSet<&str> = entries
        .iter()
        .flat_map(|e| e.targets.iter().map(String::as_str))
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for stage in found.iter().flat_map(|f| &f.definition.stages) {
        if stage.bootstrap().as_deref() != Some("library") {
            continue;
        }
        let Some(reference) = stage.from().and_then(|f| LibraryRef::parse_source(f).ok()) else {
            continue;
        };
        if names.contains(reference.container.as_str()) && reference.entity != "library" {
            let host = reference.host.map(|h| format!("{h}/")).unwrap_or_default();
            let library = format!(
                "library://{host}{}/{}",
                reference.entity, reference.collection
            );
            *counts.entry(library).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(library, _)| library)
}

fn plural(count: usize, word: &str) -> String {
    format!("{count} {word}{}", if count == 1 { "" } else { "s" })
}

/// Writes the manifest text.
fn render(
    entries: &[Entry],
    library: &str,
    library_note: &str,
    dependencies: &BTreeMap<String, Vec<String>>,
) -> String {
    let defs: usize = entries.iter().map(|e| e.targets.len()).sum();
    // `defaults.context: .` when every target that reads `%files` reads them from here.
    let all_from_root = entries.iter().any(|e| e.files_from_root == Some(true))
        && entries.iter().all(|e| e.files_from_root != Some(false));
    let mut text = format!(
        "# yaml-language-server: $schema=https://raw.githubusercontent.com/sifbake/sifbake/main/{SCHEMA_PATH}\n\
         # Written by `sifbake init` from the {} found here. `sifbake validate` checks\n\
         # it; `sifbake plan` shows what CI would build, and why. Every key is described in\n\
         # sifbake's README (\"The manifest\").\n\
         version: 1\n\
         \n\
         defaults:\n",
        plural(defs, "definition file"),
    );
    let mut defaults = vec![
        (format!("library: {library}"), library_note),
        (
            "arch: [amd64]".to_owned(),
            "one image per architecture: [amd64, arm64]",
        ),
        ("timeout: 1h".to_owned(), "per build"),
    ];
    if all_from_root {
        defaults.push((
            "context: .".to_owned(),
            "`%files` paths are written from the repository root",
        ));
    }
    let width = defaults
        .iter()
        .map(|(line, _)| line.len())
        .max()
        .unwrap_or(0);
    for (line, comment) in defaults {
        text.push_str(&format!("  {line:<width$}  # {comment}\n"));
    }
    text.push_str(
        "  # Tags, without `tags:`: the branch, `pr-<n>` on pull requests, the git tag, and\n\
         \x20 # `latest` on the highest release tag (on the default branch until there is one).\n\
         \x20 # Uncomment to choose your own:\n\
         \x20 # tags:\n\
         \x20 #   - branch\n\
         \x20 #   - semver: \"{{major}}.{{minor}}\"\n\
         \x20 #   - latest\n\
         \ntargets:\n",
    );
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&format!("  {}:\n", entry.name));
        match &entry.source {
            EntrySource::Def(path) => {
                text.push_str(&format!("    def: {}\n", quote(path)));
            }
            EntrySource::Glob { pattern, dirs } => {
                text.push_str(&format!(
                    "    glob: {}   # one target per folder: {}\n",
                    quote(pattern),
                    dirs.join(", ")
                ));
            }
        }
        if entry.files_from_root == Some(true) && !all_from_root {
            text.push_str("    context: .                 # `%files` paths are written from the repository root\n");
        }
        if let Some(found) = dependencies.get(&entry.name) {
            text.push_str(&format!("    # builds on {}\n", found.join(", ")));
        }
    }
    text
}

/// Quotes a YAML scalar: always, since paths may hold `*`, `:` or `#`.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests;
