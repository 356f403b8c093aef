//! The kept cases of `tests/defparse-cases/`: each `<name>.def` (a few lines, reduced from a
//! fuzz finding) has a `<name>.md` whose first line is `expect: agree` (sifbake was wrong
//! and was fixed) or `expect: <class>` (a difference sifbake keeps on purpose, recognised
//! by `super::intended`), followed by who is right and why. Every run re-checks them all
//! against the live oracle.

use std::path::PathBuf;

use super::oracle::Defparse;
use super::{defparse, judge};

pub fn cases_dir() -> PathBuf {
    crate::support::repo_root().join("tests/defparse-cases")
}

/// What a case's explanation says the oracle test must find.
#[derive(Debug, Eq, PartialEq)]
pub enum Expect {
    Agree,
    Intended(String),
}

/// Reads `expect:` from the first line of an explanation.
fn expectation(explanation: &str) -> Option<Expect> {
    let value = explanation.lines().next()?.strip_prefix("expect:")?.trim();
    Some(match value {
        "agree" => Expect::Agree,
        class => Expect::Intended(class.to_owned()),
    })
}

/// Every kept case, sorted: `(name, text, what its explanation expects)`.
pub fn kept() -> Vec<(String, String, Option<Expect>)> {
    let mut cases: Vec<_> = std::fs::read_dir(cases_dir())
        .map(|entries| {
            entries
                .map(|entry| entry.expect("readable directory entry").path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "def"))
                .collect()
        })
        .unwrap_or_else(|_| Vec::new());
    cases.sort();
    cases
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let expect = std::fs::read_to_string(path.with_extension("md"))
                .ok()
                .and_then(|explanation| expectation(&explanation));
            (name, text, expect)
        })
        .collect()
}

/// Keeps a new finding as `fuzz-<kind>-<hash>.def` (no explanation yet, so the test fails
/// until someone writes one); returns its name.
pub fn keep(kind: &str, text: &str) -> String {
    // FNV-1a: a stable name for the same reduced text on every run.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let slug: String = kind
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = format!("fuzz-{slug}-{:08x}", hash as u32);
    let dir = cases_dir();
    std::fs::create_dir_all(&dir).expect("create tests/defparse-cases");
    let path = dir.join(format!("{name}.def"));
    if !path.exists() {
        std::fs::write(&path, text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    }
    name
}

#[test]
fn kept_cases_hold_against_the_live_oracle() {
    let Some(binary) = defparse() else {
        return;
    };
    let mut oracle = Defparse::start(&binary);
    let mut problems = Vec::new();
    let cases = kept();
    for (name, text, expect) in &cases {
        let verdict = judge(text, &oracle.ask(text));
        let found = match (&verdict.intended, verdict.agrees()) {
            (_, true) => Expect::Agree,
            (Some(class), false) => Expect::Intended((*class).to_owned()),
            (None, false) => {
                problems.push(format!(
                    "{name}: an unexplained disagreement\n    {}",
                    verdict.differences.join("\n    ")
                ));
                continue;
            }
        };
        match expect {
            None => problems.push(format!(
                "{name}: no `{name}.md` starting `expect: agree` or `expect: <class>`; found {found:?}"
            )),
            Some(expect) if *expect != found => problems.push(format!(
                "{name}: the explanation expects {expect:?}, the oracle test finds {found:?}\n    {}",
                verdict.differences.join("\n    ")
            )),
            Some(_) => {}
        }
    }
    println!("kept cases: {} checked against defparse", cases.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
