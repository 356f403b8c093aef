//! SingularityCE's own parser (`conformance/cmd/defparse`, `parser.All` of SingularityCE
//! v4.3.0) as a live oracle for sifbake's reading of definition files: every corpus file
//! through defparse and `sifbake inspect`, the kept cases of `tests/defparse-cases/`, and a
//! seeded differential fuzz of mutated corpus files.
//!
//! Both sides are compared on the fields of `src/deffile/oracle_view.rs`, shared with the
//! frozen corpus test of the library. Without Go the tests pass with a note (unless
//! `SIFBAKE_REQUIRE_EXTERNAL_TOOLS=1`); without the corpus (`../shared/corpus`, or
//! `SIFBAKE_CORPUS`) the corpus and fuzz tests do.

mod cases;
mod fuzz;
mod mutate;
mod oracle;
mod reduce;

#[path = "../../src/deffile/oracle_view.rs"]
mod view;

use std::path::{Path, PathBuf};

use serde_json::Value;
use sifbake::deffile::{Definition, ErrorKind, files_from_stage};

use crate::support::Sifbake;
use view::Reading;

/// Builds the driver; `None` when Go is missing and not required.
fn defparse() -> Option<PathBuf> {
    crate::go_tools::go_tool("defparse", "./cmd/defparse")
}

/// The corpus's `defs/` directory, if there is one.
fn corpus_defs() -> Option<PathBuf> {
    let corpus = std::env::var_os("SIFBAKE_CORPUS").map_or_else(
        || crate::support::repo_root().join("../shared/corpus"),
        PathBuf::from,
    );
    let defs = corpus.join("defs");
    if defs.is_dir() {
        Some(defs)
    } else {
        eprintln!("note: no corpus at {}; skipping", defs.display());
        None
    }
}

/// Every definition file of the corpus, sorted, as `(path under defs/, full path)`.
fn corpus_files(defs: &Path) -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entries are readable").path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(defs, &mut files);
    let mut named: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(defs).expect("under defs/");
            (relative.to_string_lossy().into_owned(), path)
        })
        .filter(|(relative, _)| relative != "SOURCES.tsv")
        .collect();
    named.sort();
    named
}

/// How sifbake's parser and SingularityCE's read one text.
struct Verdict {
    differences: Vec<String>,
    /// The documented difference this is (`tests/defparse-cases/*.md`), if any.
    intended: Option<&'static str>,
    sifbake_accepts: bool,
}

impl Verdict {
    fn agrees(&self) -> bool {
        self.differences.is_empty()
    }

    /// What kind of disagreement: the thing delta debugging must keep while it cuts lines.
    fn kind(&self) -> Option<String> {
        let first = self.differences.first()?;
        let kind = if first.starts_with("SingularityCE rejects") {
            "sifbake-accepts".to_owned()
        } else if first.starts_with("SingularityCE accepts") {
            "sifbake-rejects".to_owned()
        } else if first.contains("stages expected") {
            "stage-count".to_owned()
        } else {
            let field = first.split(": ").nth(1).unwrap_or_default();
            let field = field.split(' ').next().unwrap_or_default();
            field.trim_matches(['`', '%']).to_owned()
        };
        Some(match self.intended {
            Some(class) => format!("{kind} ({class})"),
            None => kind,
        })
    }
}

/// Compares sifbake's library parser (what `inspect` runs) with one answer of defparse.
fn judge(text: &str, answer: &Value) -> Verdict {
    let parsed = sifbake::deffile::parse(text);
    let error_kind = parsed.as_ref().err().map(|error| error.kind().clone());
    let ours: Reading = parsed
        .as_ref()
        .map(view::of_definition)
        .map_err(|error| format!("{}:{}: {error}", error.line(), error.column()));
    let oracle = view::of_oracle(answer);
    let differences = view::differences(&oracle, &ours);
    let intended = if differences.is_empty() {
        None
    } else {
        intended(&oracle, error_kind.as_ref())
    };
    Verdict {
        differences,
        intended,
        sifbake_accepts: ours.is_ok(),
    }
}

/// Recognises the differences sifbake keeps on purpose; each has a kept case that explains it.
fn intended(oracle: &Reading, ours: Option<&ErrorKind>) -> Option<&'static str> {
    match (oracle, ours) {
        // parser.All finds no stage and returns none, without an error.
        (Ok(stages), Some(ErrorKind::EmptyDefinition)) if stages.is_empty() => {
            Some("empty-definition")
        }
        _ => None,
    }
}

/// Every corpus file through the live defparse and through `sifbake inspect --format json`.
#[test]
fn corpus_agrees_with_live_defparse_and_inspect() {
    let (Some(binary), Some(defs)) = (defparse(), corpus_defs()) else {
        return;
    };
    let files = corpus_files(&defs);
    let output = std::process::Command::new(&binary)
        .args(files.iter().map(|(_, path)| path))
        .output()
        .expect("run defparse");
    assert!(output.status.success(), "defparse failed: {output:?}");
    let answers: Vec<Value> = String::from_utf8(output.stdout)
        .expect("defparse writes UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON document per line"))
        .collect();
    assert_eq!(answers.len(), files.len(), "one answer per file");

    // Two workers: each `inspect` is a process of its own.
    let readings: Vec<Reading> = std::thread::scope(|scope| {
        let half = files.len().div_ceil(2);
        let workers: Vec<_> = files
            .chunks(half)
            .map(|chunk| {
                scope.spawn(|| {
                    chunk
                        .iter()
                        .map(|(_, path)| inspect(path))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("inspect worker"))
            .collect::<Vec<Reading>>()
    });

    let mut mismatches = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for (((relative, path), answer), ours) in files.iter().zip(&answers).zip(&readings) {
        assert_eq!(
            answer["file"].as_str(),
            path.to_str(),
            "answers in file order"
        );
        let differences = view::differences(&view::of_oracle(answer), ours);
        if differences.is_empty() {
            if ours.is_ok() {
                accepted += 1;
            } else {
                rejected += 1;
            }
        } else {
            mismatches.push(format!("{relative}\n    {}", differences.join("\n    ")));
        }
    }
    println!(
        "corpus: {} files, {accepted} accepted and {rejected} rejected by both, {} disagree",
        files.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} corpus files read differently by `sifbake inspect` and SingularityCE:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Runs `sifbake inspect --format json FILE`: its reading, or its diagnostics.
fn inspect(path: &Path) -> Reading {
    let dir = path.parent().expect("a file has a directory");
    let run = Sifbake::new(dir)
        .args(["inspect", "--format", "json"])
        .arg(path)
        .run();
    match run.code() {
        0 => {
            let document: Value = serde_json::from_str(&run.stdout())
                .unwrap_or_else(|error| panic!("{}: inspect JSON: {error}", path.display()));
            Ok(view::of_inspect(&document))
        }
        2 => Err(run.stderr()),
        code => panic!(
            "{}: inspect exited {code}\n{}",
            path.display(),
            run.stderr()
        ),
    }
}
