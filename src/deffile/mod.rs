//! Singularity definition files: the parser, the data model and `{{ arg }}` templating.
//!
//! [`parse`] reads a file the way SingularityCE's own parser does (stages, header keywords,
//! sections, `%files` entries) and rejects what it rejects; [`render`] substitutes build
//! arguments stage by stage. Errors carry spans for miette but no source text.

// A pure parsing module: it returns values and never prints (STYLE.md §2, "Pure core").
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod error;
mod files;
mod header;
mod labels;
mod lines;
mod model;
mod parser;
mod section;
mod template;
mod template_error;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
#[expect(
    dead_code,
    reason = "`of_inspect` serves the CLI's oracle test, which includes this file too"
)]
mod oracle_view;
#[cfg(test)]
mod template_proptests;

pub use error::{DefError, ErrorKind};
pub use labels::with_labels;
pub use model::{
    Argument, Definition, FileEntry, FilesBlock, HeaderField, Placeholder, Section, Span, Stage,
    files_from_stage,
};
pub use parser::parse;
pub use template::{Rendered, placeholders, render};
pub use template_error::TemplateError;
