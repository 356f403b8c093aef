//! Checks [`parse`] against SingularityCE's own parser over a corpus of real definition files.
//!
//! The corpus lives outside the repository (`../shared/corpus`, see its README): `defs/` holds
//! the files byte for byte, `defs-expected/<same path>.json` what `parser.All` made of each.
//! Both must agree on which files are invalid and, for valid ones, on the stages, every header
//! keyword and value, and every `%files` section's arguments, sources and destinations.
//!
//! `SIFBAKE_CORPUS` overrides the corpus directory (a git worktree elsewhere has no
//! `../shared`); without a corpus the test passes with a note.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::oracle_view;
use super::parse;

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
    let ours = parse(text)
        .map(|definition| oracle_view::of_definition(&definition))
        .map_err(|error| format!("{}:{}: {error}", error.line(), error.column()));
    oracle_view::differences(&oracle_view::of_oracle(expected), &ours)
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
