//! Checks [`parse`] against SingularityCE's own parser over a corpus of real definition files.
//!
//! The corpus lives outside the repository (`../shared/corpus`, see its README): `defs/` holds
//! the files byte for byte, `defs-expected/<same path>.json` what `parser.All` made of each.
//! Both must agree on which files are invalid and, for valid ones, on the stages, every header
//! keyword and value, and every `%files` section's arguments, sources and destinations.
//!
//! `SIFBAKE_CORPUS` overrides the corpus directory (a git worktree elsewhere has no
//! `../shared`); without a corpus the test passes with a note.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Definition, parse};

/// Files where sifbake knowingly differs from SingularityCE: (path under `defs/`, why sifbake
/// is right). Empty: sifbake agrees on every file.
const ALLOW_LIST: &[(&str, &str)] = &[];

#[test]
#[expect(
    clippy::print_stdout,
    reason = "the test reports what it checked, or why it checked nothing"
)]
fn parse_agrees_with_singularityce_on_the_corpus() {
    let corpus = std::env::var_os("SIFBAKE_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        PathBuf::from,
    );
    let defs = corpus.join("defs");
    if !defs.is_dir() {
        println!("note: no corpus at {}; skipping", defs.display());
        return;
    }
    let mut files = Vec::new();
    walk(&defs, &mut files);
    files.sort();

    let mut checked = 0;
    let mut invalid = 0;
    let mut mismatches = Vec::new();
    let mut stale = Vec::new();
    for path in &files {
        let relative = path
            .strip_prefix(&defs)
            .expect("walked paths are under defs/")
            .to_string_lossy()
            .into_owned();
        if relative == "SOURCES.tsv" {
            continue;
        }
        checked += 1;
        let expected_path = corpus
            .join("defs-expected")
            .join(format!("{relative}.json"));
        let expected: Value = serde_json::from_str(
            &fs::read_to_string(&expected_path)
                .unwrap_or_else(|error| panic!("{}: {error}", expected_path.display())),
        )
        .unwrap_or_else(|error| panic!("{}: {error}", expected_path.display()));
        let text =
            fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));

        if expected["ok"] == Value::Bool(false) {
            invalid += 1;
        }
        let differences = compare(&text, &expected);
        let allowed = ALLOW_LIST.iter().any(|(file, _)| *file == relative);
        match (differences.is_empty(), allowed) {
            (false, false) => {
                mismatches.push(format!("{relative}\n    {}", differences.join("\n    ")))
            }
            (true, true) => stale.push(relative),
            _ => {}
        }
    }
    println!(
        "corpus: {checked} files ({invalid} invalid), {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {checked} corpus files disagree with SingularityCE:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(stale.is_empty(), "allow-listed files now agree: {stale:?}");
}

/// Returns what differs between `parse(text)` and SingularityCE's verdict, one line each.
fn compare(text: &str, expected: &Value) -> Vec<String> {
    let parsed = parse(text);
    let definition = match (expected["ok"].as_bool(), parsed) {
        (Some(false), Err(_)) => return Vec::new(),
        (Some(false), Ok(_)) => {
            return vec![format!(
                "SingularityCE rejects it ({}), sifbake accepts it",
                expected["error"]
            )];
        }
        (_, Err(error)) => {
            return vec![format!(
                "SingularityCE accepts it, sifbake rejects it at {}:{}: {error}",
                error.line(),
                error.column()
            )];
        }
        (_, Ok(definition)) => definition,
    };
    let stages = expected["definitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if stages.len() != definition.stages.len() {
        return vec![format!(
            "{} stages expected, {} parsed",
            stages.len(),
            definition.stages.len()
        )];
    }
    let mut differences = Vec::new();
    for (index, (want, stage)) in stages.iter().zip(&definition.stages).enumerate() {
        let want_header = header_of(want);
        let got_header: BTreeMap<String, String> = stage
            .header
            .iter()
            .map(|field| (field.key.clone(), field.value.clone()))
            .collect();
        for key in ["bootstrap", "from", "stage"] {
            let want_value = want_header.get(key).map(String::as_str);
            if want_value != stage.header_value(key) {
                differences.push(format!(
                    "stage {index}: `{key}` expected {want_value:?}, parsed {:?}",
                    stage.header_value(key)
                ));
            }
        }
        if want_header.keys().ne(got_header.keys()) {
            differences.push(format!(
                "stage {index}: header keys expected {:?}, parsed {:?}",
                want_header.keys().collect::<Vec<_>>(),
                got_header.keys().collect::<Vec<_>>()
            ));
        } else if want_header != got_header {
            differences.push(format!(
                "stage {index}: header values expected {want_header:?}, parsed {got_header:?}"
            ));
        }
        let (mut want_files, merged) = files_of(want);
        let mut got_files = parsed_files(&definition, index);
        // Where SingularityCE kept sections apart whose arguments differ only in whitespace,
        // its entry order within the merged group is not file order; compare those as sets.
        for args in merged {
            for (group_args, entries) in want_files.iter_mut().chain(got_files.iter_mut()) {
                if *group_args == args {
                    entries.sort();
                }
            }
        }
        if want_files != got_files {
            differences.push(format!(
                "stage {index}: %files expected {want_files:?}, parsed {got_files:?}"
            ));
        }
    }
    differences
}

type FilesGroups = Vec<(String, Vec<(String, String)>)>;

fn header_of(stage: &Value) -> BTreeMap<String, String> {
    stage["header"]
        .as_object()
        .map(|header| {
            header
                .iter()
                .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// SingularityCE merges `%files` sections with the same arguments into one entry; its
/// arguments are untrimmed, sifbake's trimmed, so both sides are grouped by trimmed arguments.
/// Also returns the trimmed arguments of groups that this regrouping merged.
fn files_of(stage: &Value) -> (FilesGroups, Vec<String>) {
    let mut groups = FilesGroups::new();
    let mut merged = Vec::new();
    for group in stage["buildData"]["files"].as_array().into_iter().flatten() {
        let entries = group["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                (
                    entry["source"].as_str().unwrap_or_default().to_owned(),
                    entry["destination"].as_str().unwrap_or_default().to_owned(),
                )
            });
        let args = group["args"].as_str().unwrap_or_default();
        if groups.iter().any(|(existing, _)| existing == args.trim()) {
            merged.push(args.trim().to_owned());
        }
        add_group(&mut groups, args, entries);
    }
    (groups, merged)
}

fn parsed_files(definition: &Definition, index: usize) -> FilesGroups {
    let mut groups = FilesGroups::new();
    for section in definition.stages[index]
        .sections
        .iter()
        .filter(|section| section.name == "files")
    {
        let entries = section
            .files
            .iter()
            .map(|entry| (entry.source.clone(), entry.destination.clone()));
        add_group(&mut groups, &section.args, entries);
    }
    groups
}

fn add_group(
    groups: &mut FilesGroups,
    args: &str,
    entries: impl Iterator<Item = (String, String)>,
) {
    let args = args.trim();
    match groups.iter_mut().find(|(existing, _)| existing == args) {
        Some((_, files)) => files.extend(entries),
        None => groups.push((args.to_owned(), entries.collect())),
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display())) {
        let path = entry.expect("directory entries are readable").path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}
