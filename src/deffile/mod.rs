//! Singularity definition files: the parser, the data model and `{{ arg }}` templating.

mod model;

pub use model::{
    Argument, Definition, FileEntry, FilesBlock, HeaderField, Placeholder, Section, Span, Stage,
    files_from_stage,
};
