//! Hostile input: inputs too large or too deep to keep as files under `tests/cases/`
//! (generated here), each ending with its exit code and message, never a crash or a hang;
//! and the table of `tests/cases/` that RELIABILITY.md shows, rendered from the `expect`
//! files the cases test runs.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::{Sifbake, check_generated, repo_root, tree};

const MANIFEST_HEAD: &str = "version: 1\ndefaults:\n  library: library://acme/tools\ntargets:\n";
const BASE_DEF: &str = "Bootstrap: docker\nFrom: alpine:3.20\n";

/// One generated input: files, the command, the exit code and what stderr must say.
struct Generated {
    name: &'static str,
    files: Vec<(String, String)>,
    args: &'static [&'static str],
    exit: i32,
    stderr: &'static [&'static str],
}

fn one_target(def: String) -> Vec<(String, String)> {
    vec![
        (
            "sifbake.yaml".to_owned(),
            format!("{MANIFEST_HEAD}  base:\n    def: defs/base.def\n"),
        ),
        ("defs/base.def".to_owned(), def),
    ]
}

fn generated() -> Vec<Generated> {
    let validate: &[&str] = &["validate"];
    vec![
        Generated {
            name: "a million nested flow sequences in a value",
            files: vec![
                (
                    "sifbake.yaml".to_owned(),
                    format!(
                        "{MANIFEST_HEAD}  base:\n    def: defs/base.def\n    args:\n      A: {}\n",
                        "[".repeat(1_000_000)
                    ),
                ),
                ("defs/base.def".to_owned(), BASE_DEF.to_owned()),
            ],
            args: validate,
            exit: 2,
            stderr: &["sifbake.yaml:8:10", "expected string scalar"],
        },
        Generated {
            name: "a million nested flow mappings at the top",
            files: vec![(
                "sifbake.yaml".to_owned(),
                format!("version: 1\n{}\n", "{".repeat(1_000_000)),
            )],
            args: validate,
            exit: 2,
            stderr: &["sifbake.yaml:2:", "recursion limit exceeded"],
        },
        Generated {
            name: "a 20 MB comment: more than the 16 MiB read",
            files: vec![
                (
                    "sifbake.yaml".to_owned(),
                    format!(
                        "#{}\n{MANIFEST_HEAD}  base:\n    def: defs/base.def\n",
                        "x".repeat(20_000_000)
                    ),
                ),
                ("defs/base.def".to_owned(), BASE_DEF.to_owned()),
            ],
            args: validate,
            exit: 2,
            stderr: &["20 MiB, more than the 16 MiB sifbake reads"],
        },
        Generated {
            name: "2000 targets",
            files: {
                let mut manifest = MANIFEST_HEAD.to_owned();
                for i in 0..2000 {
                    manifest.push_str(&format!("  t{i}:\n    def: defs/base.def\n"));
                }
                vec![
                    ("sifbake.yaml".to_owned(), manifest),
                    ("defs/base.def".to_owned(), BASE_DEF.to_owned()),
                ]
            },
            args: validate,
            exit: 0,
            stderr: &[],
        },
        Generated {
            name: "a 5 MB line in %post",
            files: one_target(format!(
                "{BASE_DEF}%post\n    echo {}\n",
                "x".repeat(5_000_000)
            )),
            args: validate,
            exit: 2,
            stderr: &["defs/base.def:3:1", "section `%post` is longer than 64 KiB"],
        },
        Generated {
            name: "a 5 MB header line",
            files: one_target(format!(
                "Bootstrap: docker\nFrom: {}\n",
                "a".repeat(5_000_000)
            )),
            args: validate,
            exit: 2,
            stderr: &["defs/base.def:1:1", "the header is longer than 64 KiB"],
        },
        Generated {
            name: "20 000 unclosed `{{`",
            files: one_target(format!("{BASE_DEF}%post\n    {}\n", "{{".repeat(20_000))),
            args: validate,
            exit: 0,
            stderr: &[],
        },
        Generated {
            name: "2000 placeholders without a value",
            files: one_target(format!(
                "{BASE_DEF}%post\n{}",
                "    echo {{ MISSING }}\n".repeat(2000)
            )),
            args: validate,
            exit: 2,
            stderr: &["defs/base.def:4:", "MISSING"],
        },
        Generated {
            name: "200 000 sections (inspect)",
            files: vec![(
                "x.def".to_owned(),
                format!("{BASE_DEF}{}", "%post\n    echo\n".repeat(200_000)),
            )],
            args: &["inspect", "x.def", "--format", "json"],
            exit: 0,
            stderr: &[],
        },
        Generated {
            name: "500 stages, each copying from the one before",
            files: one_target(
                (0..500)
                    .map(|i| {
                        let copy = if i == 0 {
                            String::new()
                        } else {
                            format!("%files from s{}\n    /a /b\n", i - 1)
                        };
                        format!("Bootstrap: docker\nFrom: alpine\nStage: s{i}\n{copy}\n")
                    })
                    .collect(),
            ),
            args: validate,
            exit: 0,
            stderr: &[],
        },
        Generated {
            name: "a warning at column 133,317 of a one-line JSON manifest",
            files: vec![
                (
                    "sifbake.yaml".to_owned(),
                    format!(
                        "{{\"version\": 1, \"defaults\": {{\"library\": \"library://acme/tools\"}}, \"targets\": {{{}\"zz\": {{\"def\": \"defs/base.def\", \"args\": {{\"UNUSED\": \"x\"}}}}}}}}\n",
                        (0..3_700)
                            .map(|i| format!("\"t{i:05}\": {{\"def\": \"defs/base.def\"}}, "))
                            .collect::<String>()
                    ),
                ),
                ("defs/base.def".to_owned(), BASE_DEF.to_owned()),
            ],
            args: validate,
            exit: 0,
            stderr: &["sifbake.yaml:1:133327", "`UNUSED` is not used"],
        },
        Generated {
            name: "invalid UTF-8 deep in a 1 MB definition file",
            files: one_target(format!(
                "{BASE_DEF}%post\n{}",
                "    echo ok\n".repeat(80_000)
            )),
            args: validate,
            exit: 2,
            stderr: &["defs/base.def:80004:", "not valid UTF-8"],
        },
    ]
}

#[test]
fn generated_hostile_inputs_end_with_their_message() {
    let mut failures = Vec::new();
    for case in generated() {
        let files: Vec<(&str, &str)> = case
            .files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect();
        let dir = tree(&files);
        if case.name.starts_with("invalid UTF-8") {
            let path = dir.path().join("defs/base.def");
            let mut bytes = fs::read(&path).expect("read");
            bytes.extend_from_slice(b"    echo \xff\xfe\n");
            fs::write(&path, bytes).expect("write");
        }
        let run = Sifbake::new(dir.path())
            .args(case.args)
            .timeout(Duration::from_secs(300))
            .run();
        let stderr = run.stderr();
        let mut problems = Vec::new();
        if run.code() != case.exit {
            problems.push(format!("exit {} (expected {})", run.code(), case.exit));
        }
        for wanted in case.stderr {
            if !stderr.contains(wanted) {
                problems.push(format!("stderr lacks `{wanted}`"));
            }
        }
        if stderr.contains("panicked") || stderr.contains("overflow") {
            problems.push("it crashed".to_owned());
        }
        if !problems.is_empty() {
            let shown: String = stderr.chars().take(2000).collect();
            failures.push(format!("{}: {}\n{shown}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Renders the table of `tests/cases/`: each case, its command, exit code and what stderr
/// must hold (the location, then the message).
fn render_cases() -> String {
    let dir = repo_root().join("tests/cases");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("tests/cases")
        .map(|entry| entry.expect("entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = String::from(
        "| Case | Command | Exit | Where | Message (stderr holds) |\n|---|---|---|---|---|\n",
    );
    for name in &names {
        let expect = fs::read_to_string(dir.join(name).join("expect")).expect("expect");
        let (mut args, mut exit, mut location, mut messages) = (
            "validate".to_owned(),
            String::new(),
            String::new(),
            Vec::new(),
        );
        for line in expect
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "args" => args = value.to_owned(),
                "exit" => exit = value.to_owned(),
                "stderr" if location.is_empty() && is_location(value) => {
                    location = value.to_owned();
                }
                "stderr" | "stdout" => messages.push(value.replace('|', "\\|")),
                _ => {}
            }
        }
        let messages: Vec<String> = messages.iter().map(|m| code_span(m)).collect();
        out.push_str(&format!(
            "| `{name}` | `{args}` | {exit} | {} | {} |\n",
            if location.is_empty() {
                "–".to_owned()
            } else {
                format!("`{location}`")
            },
            if messages.is_empty() {
                "–".to_owned()
            } else {
                messages.join(", ")
            }
        ));
    }
    let errors = names
        .iter()
        .filter(|name| {
            fs::read_to_string(dir.join(name.as_str()).join("expect"))
                .is_ok_and(|text| text.lines().any(|line| line.trim() == "exit: 2"))
        })
        .count();
    out.push_str(&format!(
        "\n{} cases: {errors} refused with exit 2 and the message at its place; the others are valid inputs that only look hostile, accepted without a crash.\n",
        names.len()
    ));
    out
}

/// Returns `text` as a Markdown code span: fenced with one backtick more than its longest
/// run of backticks, padded when it starts or ends with one.
fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if text.starts_with('`') || text.ends_with('`') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// Returns true for `file:line:column` (or `file:line:`).
fn is_location(text: &str) -> bool {
    let mut parts = text.rsplitn(3, ':');
    let (Some(column), Some(line), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !file.is_empty()
        && !file.contains(' ')
        && Path::new(file).extension().is_some()
        && line.chars().all(|c| c.is_ascii_digit())
        && column.chars().all(|c| c.is_ascii_digit())
}

#[test]
fn the_case_table_in_reliability_md_is_generated() {
    check_generated("hostile-cases", &render_cases());
}

/// Files that are not regular files, or far too large, are refused by type and size before
/// they are opened or read: a FIFO used to hang, `/dev/zero` to read for ever, a 2 GB file
/// to take gigabytes of memory.
#[test]
fn special_and_huge_files_are_refused_with_what_they_are() {
    let dir = tree(&[(
        "sifbake.yaml",
        &format!("{MANIFEST_HEAD}  base:\n    def: defs/base.def\n"),
    )]);
    let root = dir.path();
    fs::create_dir_all(root.join("defs")).expect("mkdir");
    let expect = |args: &[&str], wanted: &[&str]| {
        let run = Sifbake::new(root)
            .args(args)
            .timeout(Duration::from_secs(120))
            .run();
        assert_eq!(run.code(), 2, "{args:?}\n{}", run.stderr());
        for text in wanted {
            assert!(
                run.stderr().contains(text),
                "{args:?} lacks `{text}`:\n{}",
                run.stderr()
            );
        }
    };

    // `inspect` reads any path it is given; `validate` refuses the link as leaving the
    // repository before its type matters.
    std::os::unix::fs::symlink("/dev/zero", root.join("defs/zero.def")).expect("link");
    expect(
        &["inspect", "defs/zero.def"],
        &["defs/zero.def", "a character device, not a regular file"],
    );

    let status = std::process::Command::new("mkfifo")
        .arg(root.join("defs/base.def"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    expect(&["validate"], &["a named pipe (FIFO), not a regular file"]);
    expect(&["inspect", "defs/base.def"], &["a named pipe (FIFO)"]);
    fs::remove_file(root.join("defs/base.def")).expect("rm");

    // Sparse: 17 MiB of size, no disk used.
    let huge = fs::File::create(root.join("defs/base.def")).expect("create");
    huge.set_len(17 * 1024 * 1024).expect("set_len");
    expect(
        &["validate"],
        &["17 MiB, more than the 16 MiB sifbake reads"],
    );

    fs::create_dir_all(root.join("manifest.yaml")).expect("mkdir");
    expect(
        &["validate", "-f", "manifest.yaml"],
        &["manifest.yaml", "a directory, not a regular file"],
    );
}
