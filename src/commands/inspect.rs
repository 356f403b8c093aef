//! `sifbake inspect FILE.def`: what sifbake reads in one definition file, no manifest needed.

use std::io;

use serde::Serialize;

use super::Output;
use crate::cli::{Format, InspectArgs};
use crate::deffile;
use crate::diagnostic::{Diagnostic, ReadError, SourceFile, UNSUITABLE_HELP};
use crate::exit;
use crate::report::reading::DefinitionReading;
use crate::settings::Settings;

/// The version of the `--format json` document; README.md documents it.
pub const INSPECT_SCHEMA: &str = "sifbake/inspect/v1";

#[derive(Serialize)]
struct InspectDocument<'a> {
    schema: &'static str,
    file: &'a str,
    #[serde(flatten)]
    reading: DefinitionReading,
}

/// Runs `sifbake inspect`.
pub fn run(settings: &Settings, args: &InspectArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let path = settings.base_dir().join(&args.file);
    let shown = path
        .strip_prefix(&settings.cwd)
        .unwrap_or(&path)
        .display()
        .to_string();
    let source = match SourceFile::read(&path, shown.clone(), "deffile::encoding") {
        Ok(source) => source,
        Err(ReadError::Io(error)) => {
            let diagnostic = Diagnostic::error(
                "deffile::not-found",
                format!("cannot read definition file `{shown}`: {error}"),
            )
            .help("check the path; it is relative to the current directory (or to `-C DIR`)");
            out.diagnostics(&[diagnostic])?;
            return Ok(exit::BAD_INPUT);
        }
        Err(ReadError::Encoding(diagnostic)) => {
            out.diagnostics(&[diagnostic])?;
            return Ok(exit::BAD_INPUT);
        }
        Err(ReadError::Unsuitable(why)) => {
            let diagnostic = Diagnostic::error(
                "deffile::unsuitable",
                format!("cannot read definition file `{shown}`: {why}"),
            )
            .help(UNSUITABLE_HELP);
            out.diagnostics(&[diagnostic])?;
            return Ok(exit::BAD_INPUT);
        }
    };
    match deffile::parse(&source.text) {
        Ok(definition) => {
            let reading = DefinitionReading::new(&definition, &source.text);
            match args.format {
                Format::Json => out.json(&InspectDocument {
                    schema: INSPECT_SCHEMA,
                    file: &shown,
                    reading,
                })?,
                Format::Text => {
                    writeln!(
                        out.stdout,
                        "{shown}: {}",
                        crate::report::plural(definition.stages.len(), "stage")
                    )?;
                    out.stdout.write_all(reading.to_text().as_bytes())?;
                }
            }
            Ok(exit::SUCCESS)
        }
        Err(error) => {
            let diagnostic = Diagnostic::from_miette("deffile::syntax", &error, &source);
            out.diagnostics(&[diagnostic])?;
            Ok(exit::BAD_INPUT)
        }
    }
}
