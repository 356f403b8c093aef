//! The fields on which sifbake's reading of a definition file is held against SingularityCE's
//! (`parser.All`, run by `conformance/cmd/defparse`): accept or reject, the stages, every
//! header keyword and value (bootstrap, `From`, stage name included) and the `%files` entries
//! with the stage they copy from.
//!
//! Shared by the frozen corpus test (`corpus_tests.rs`) and the live oracle test
//! (`tests/cli/defparse_oracle.rs`, which includes this file with `#[path]`), so both read the
//! oracle's JSON the same way. The including module's parent must have `Definition` and
//! `files_from_stage` (of `sifbake::deffile`) in scope.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Definition, files_from_stage};

/// A whole reading: the stages, or why the file was rejected.
pub type Reading = Result<Vec<StageView>, String>;

/// One stage, in the fields both parsers are compared on.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct StageView {
    /// The bootstrap agent, lowercased (SingularityCE compares it as written; sifbake reports
    /// it lowercased, and the exact value is in `header`).
    pub bootstrap: Option<String>,
    pub from: Option<String>,
    pub name: Option<String>,
    /// Every keyword (lowercased) and value; a later duplicate overrides an earlier one, as in
    /// SingularityCE's map.
    pub header: BTreeMap<String, String>,
    pub files: Vec<FilesGroup>,
}

/// The `%files` sections of one stage with the same (trimmed) arguments.
///
/// SingularityCE merges sections whose arguments are equal as written; sifbake keeps every
/// section. Both sides are regrouped by trimmed arguments to compare.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct FilesGroup {
    pub args: String,
    /// The stage it copies from (`Files.Stage()` in SingularityCE), `None` for the build host.
    pub from: Option<String>,
    /// `(source, destination)` in order.
    pub entries: Vec<(String, String)>,
    /// Set when SingularityCE kept sections apart whose arguments differ only in whitespace:
    /// its entry order within the regrouped group is then not file order.
    pub unordered: bool,
}

/// Reads what sifbake's parser made of a file.
pub fn of_definition(definition: &Definition) -> Vec<StageView> {
    definition
        .stages
        .iter()
        .map(|stage| {
            let mut files = Vec::new();
            for section in stage
                .sections
                .iter()
                .filter(|section| section.name == "files")
            {
                let entries = section
                    .files
                    .iter()
                    .map(|entry| (entry.source.clone(), entry.destination.clone()));
                add_group(
                    &mut files,
                    &section.args,
                    files_from_stage(&section.args).map(str::to_owned),
                    entries,
                );
            }
            StageView {
                bootstrap: stage.bootstrap(),
                from: stage.from().map(str::to_owned),
                name: stage.name().map(str::to_owned),
                header: stage
                    .header
                    .iter()
                    .map(|field| (field.key.clone(), field.value.clone()))
                    .collect(),
                files,
            }
        })
        .collect()
}

/// Reads one answer of defparse (or a frozen `defs-expected/*.json`): `{"ok", "error",
/// "definitions", "fileStages"}`. Without `fileStages` (the frozen files), the stage a
/// `%files` group copies from is worked out with sifbake's [`files_from_stage`].
pub fn of_oracle(answer: &Value) -> Reading {
    if answer["ok"] != Value::Bool(true) {
        return Err(answer["error"].as_str().unwrap_or_default().to_owned());
    }
    let definitions = answer["definitions"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    Ok(definitions
        .iter()
        .enumerate()
        .map(|(index, definition)| {
            let header: BTreeMap<String, String> = definition["header"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
                .collect();
            let mut files = Vec::new();
            let groups = definition["buildData"]["files"].as_array();
            for (number, group) in groups.into_iter().flatten().enumerate() {
                let args = group["args"].as_str().unwrap_or_default();
                let from = match answer["fileStages"][index][number].as_str() {
                    Some(stage) => Some(stage).filter(|stage| !stage.is_empty()),
                    None => files_from_stage(args),
                };
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
                let regrouped = files
                    .iter()
                    .any(|seen: &FilesGroup| seen.args == args.trim());
                add_group(&mut files, args, from.map(str::to_owned), entries);
                if regrouped
                    && let Some(group) = files.iter_mut().find(|seen| seen.args == args.trim())
                {
                    group.unordered = true;
                }
            }
            StageView {
                bootstrap: header.get("bootstrap").map(|value| value.to_lowercase()),
                from: header.get("from").cloned(),
                name: header.get("stage").cloned(),
                header,
                files,
            }
        })
        .collect())
}

/// Reads the document of `sifbake inspect --format json` for a valid file. Its `%files`
/// entries carry no section arguments: each belongs to the last `%files` section above it.
pub fn of_inspect(document: &Value) -> Vec<StageView> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let stages = document["stages"].as_array().map_or(&[][..], Vec::as_slice);
    stages
        .iter()
        .map(|stage| {
            let sections: Vec<(u64, &str)> = stage["sections"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|section| section["name"] == "files")
                .map(|section| {
                    (
                        section["line"].as_u64().unwrap_or_default(),
                        section["args"].as_str().unwrap_or_default(),
                    )
                })
                .collect();
            // Every section makes a group, empty ones too, as in SingularityCE's reading; the
            // stage a group copies from is the one inspect reports for its entries.
            let mut files = Vec::new();
            for (_, args) in &sections {
                let from = files_from_stage(args).map(str::to_owned);
                add_group(&mut files, args, from, std::iter::empty());
            }
            for entry in stage["files"].as_array().into_iter().flatten() {
                let line = entry["line"].as_u64().unwrap_or_default();
                let args = sections
                    .iter()
                    .rev()
                    .find(|(section_line, _)| *section_line < line)
                    .map_or("", |(_, args)| args.trim());
                let pair = (
                    text(&entry["source"]).unwrap_or_default(),
                    text(&entry["destination"]).unwrap_or_default(),
                );
                match files
                    .iter_mut()
                    .find(|group: &&mut FilesGroup| group.args == args)
                {
                    Some(group) => {
                        group.from = text(&entry["from"]);
                        group.entries.push(pair);
                    }
                    None => add_group(
                        &mut files,
                        args,
                        text(&entry["from"]),
                        std::iter::once(pair),
                    ),
                }
            }
            StageView {
                bootstrap: text(&stage["bootstrap"]),
                from: text(&stage["from"]),
                name: text(&stage["name"]),
                header: stage["header"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|field| {
                        (
                            text(&field["key"]).unwrap_or_default(),
                            text(&field["value"]).unwrap_or_default(),
                        )
                    })
                    .collect(),
                files,
            }
        })
        .collect()
}

/// Adds entries to the group of `args` (trimmed), creating it at the end if needed.
fn add_group(
    groups: &mut Vec<FilesGroup>,
    args: &str,
    from: Option<String>,
    entries: impl Iterator<Item = (String, String)>,
) {
    let args = args.trim();
    match groups.iter_mut().find(|group| group.args == args) {
        Some(group) => group.entries.extend(entries),
        None => groups.push(FilesGroup {
            args: args.to_owned(),
            from,
            entries: entries.collect(),
            unordered: false,
        }),
    }
}

/// Returns what differs between SingularityCE's reading and sifbake's, one line each;
/// empty when they agree.
pub fn differences(oracle: &Reading, ours: &Reading) -> Vec<String> {
    let (want, got) = match (oracle, ours) {
        (Err(_), Err(_)) => return Vec::new(),
        (Err(error), Ok(_)) => {
            return vec![format!(
                "SingularityCE rejects it ({error:?}), sifbake accepts it"
            )];
        }
        (Ok(_), Err(error)) => {
            return vec![format!(
                "SingularityCE accepts it, sifbake rejects it: {error}"
            )];
        }
        (Ok(want), Ok(got)) => (want, got),
    };
    if want.len() != got.len() {
        return vec![format!(
            "{} stages expected, {} parsed",
            want.len(),
            got.len()
        )];
    }
    let mut differences = Vec::new();
    for (index, (want, got)) in want.iter().zip(got).enumerate() {
        let fields = [
            ("bootstrap", &want.bootstrap, &got.bootstrap),
            ("from", &want.from, &got.from),
            ("stage", &want.name, &got.name),
        ];
        for (key, want_value, got_value) in fields {
            if want_value != got_value {
                differences.push(format!(
                    "stage {index}: `{key}` expected {want_value:?}, parsed {got_value:?}"
                ));
            }
        }
        if want.header.keys().ne(got.header.keys()) {
            differences.push(format!(
                "stage {index}: header keys expected {:?}, parsed {:?}",
                want.header.keys().collect::<Vec<_>>(),
                got.header.keys().collect::<Vec<_>>()
            ));
        } else if want.header != got.header {
            differences.push(format!(
                "stage {index}: header values expected {:?}, parsed {:?}",
                want.header, got.header
            ));
        }
        let comparable = |groups: &[FilesGroup]| {
            groups
                .iter()
                .map(|group| {
                    let mut entries = group.entries.clone();
                    let unordered = want
                        .files
                        .iter()
                        .any(|merged| merged.unordered && merged.args == group.args);
                    if unordered {
                        entries.sort();
                    }
                    (group.args.clone(), group.from.clone(), entries)
                })
                .collect::<Vec<_>>()
        };
        let (want_files, got_files) = (comparable(&want.files), comparable(&got.files));
        if want_files != got_files {
            differences.push(format!(
                "stage {index}: %files expected {want_files:?}, parsed {got_files:?}"
            ));
        }
    }
    differences
}
