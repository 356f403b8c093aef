//! What sifbake reads in a definition file, as a document (`inspect`, `validate --format
//! json`) and as text.

use std::fmt::Write as _;

use serde::Serialize;

use crate::deffile::{self, Definition};

/// A definition file's reading.
#[derive(Clone, Debug, Serialize)]
pub struct DefinitionReading {
    pub stages: Vec<StageReading>,
    /// Build arguments: every `{{ name }}` placeholder and every `%arguments` entry.
    pub build_args: Vec<BuildArgReading>,
}

/// One stage.
#[derive(Clone, Debug, Serialize)]
pub struct StageReading {
    pub name: Option<String>,
    pub bootstrap: Option<String>,
    pub from: Option<String>,
    pub line: usize,
    pub header: Vec<HeaderReading>,
    pub sections: Vec<SectionReading>,
    pub files: Vec<FileReading>,
}

/// One header keyword.
#[derive(Clone, Debug, Serialize)]
pub struct HeaderReading {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One section.
#[derive(Clone, Debug, Serialize)]
pub struct SectionReading {
    pub name: String,
    pub args: String,
    pub line: usize,
}

/// One `%files` entry.
#[derive(Clone, Debug, Serialize)]
pub struct FileReading {
    pub source: String,
    pub destination: String,
    /// The stage it is copied from, for `%files from <stage>`; `None` for build-host files.
    pub from: Option<String>,
    pub line: usize,
}

/// One build argument.
#[derive(Clone, Debug, Serialize)]
pub struct BuildArgReading {
    pub name: String,
    /// The `%arguments` default, if any.
    pub default: Option<String>,
    /// Whether a `{{ name }}` placeholder uses it.
    pub used: bool,
}

impl DefinitionReading {
    /// Reads a parsed definition and the text it was parsed from.
    pub fn new(definition: &Definition, text: &str) -> Self {
        let stages = definition
            .stages
            .iter()
            .map(|stage| StageReading {
                name: stage.name().map(str::to_owned),
                bootstrap: stage.bootstrap(),
                from: stage.from().map(str::to_owned),
                line: stage.span.line,
                header: stage
                    .header
                    .iter()
                    .map(|field| HeaderReading {
                        key: field.key.clone(),
                        value: field.value.clone(),
                        line: field.span.line,
                    })
                    .collect(),
                sections: stage
                    .sections
                    .iter()
                    .map(|section| SectionReading {
                        name: section.name.clone(),
                        args: section.args.clone(),
                        line: section.span.line,
                    })
                    .collect(),
                files: stage
                    .files_blocks()
                    .flat_map(|block| {
                        block.section.files.iter().map(move |entry| FileReading {
                            source: entry.source.clone(),
                            destination: entry.destination.clone(),
                            from: block.from_stage.map(str::to_owned),
                            line: entry.span.line,
                        })
                    })
                    .collect(),
            })
            .collect();
        let mut build_args: Vec<BuildArgReading> = Vec::new();
        for placeholder in deffile::placeholders(text) {
            if !build_args.iter().any(|a| a.name == placeholder.name) {
                build_args.push(BuildArgReading {
                    name: placeholder.name,
                    default: None,
                    used: true,
                });
            }
        }
        for argument in definition.arguments() {
            match build_args.iter_mut().find(|a| a.name == argument.name) {
                Some(existing) => {
                    if existing.default.is_none() {
                        existing.default = argument.default;
                    }
                }
                None => build_args.push(BuildArgReading {
                    name: argument.name,
                    default: argument.default,
                    used: false,
                }),
            }
        }
        DefinitionReading { stages, build_args }
    }

    /// Renders the reading for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (number, stage) in self.stages.iter().enumerate() {
            let _ = match &stage.name {
                Some(name) => writeln!(out, "stage {} `{name}` (line {})", number + 1, stage.line),
                None => writeln!(out, "stage {} (line {})", number + 1, stage.line),
            };
            for field in &stage.header {
                let _ = writeln!(out, "  {}: {}", field.key, field.value);
            }
            if !stage.sections.is_empty() {
                let names: Vec<String> = stage
                    .sections
                    .iter()
                    .map(|s| {
                        if s.args.is_empty() {
                            format!("%{}", s.name)
                        } else {
                            format!("%{} {}", s.name, s.args)
                        }
                    })
                    .collect();
                let _ = writeln!(out, "  sections: {}", names.join(", "));
            }
            for file in &stage.files {
                let destination = if file.destination.is_empty() {
                    "(same path)"
                } else {
                    &file.destination
                };
                let origin = match &file.from {
                    Some(stage) => format!("from stage `{stage}`"),
                    None => "from the build host".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "  file: {} -> {destination}  ({origin}, line {})",
                    file.source, file.line
                );
            }
        }
        if !self.build_args.is_empty() {
            let _ = writeln!(out, "build arguments:");
            for arg in &self.build_args {
                let default = match &arg.default {
                    Some(value) => format!(" = {value} (default)"),
                    None => " (no default: the manifest must give a value)".to_owned(),
                };
                let unused = if arg.used { "" } else { ", unused" };
                let _ = writeln!(out, "  {}{default}{unused}", arg.name);
            }
        }
        out
    }
}
