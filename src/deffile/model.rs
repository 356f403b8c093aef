//! What sifbake reads in a definition file: stages, their header keywords, their sections
//! and the `%files` entries. These are plain values; `parser.rs` builds them from text.

use serde::Serialize;

/// A place in a definition file, for error messages and annotations.
///
/// `offset` and `len` are byte positions in the text that was parsed (what miette labels);
/// `line` and `column` are 1-based, with the column counted in characters.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

/// A parsed definition file: one or more stages, in file order.
///
/// A file without any header (only sections) is one stage with an empty header, as
/// SingularityCE reads it.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Definition {
    pub stages: Vec<Stage>,
}

/// One stage of a (possibly multi-stage) definition file.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Stage {
    /// Header keywords in file order; keys are lowercased (`bootstrap`, `from`, `stage`, ...).
    pub header: Vec<HeaderField>,
    /// Sections in file order, `%files` included.
    pub sections: Vec<Section>,
    /// Where the stage starts (its first header line, or its first section).
    pub span: Span,
}

/// A `Key: value` line of a stage header.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct HeaderField {
    /// The keyword, lowercased.
    pub key: String,
    /// The value, trimmed, with any trailing `# comment` removed; a value continued with `\`
    /// over several lines is joined.
    pub value: String,
    /// The whole line.
    pub span: Span,
    /// The value alone (zero length at the end of the key when the value is empty).
    pub value_span: Span,
}

/// A `%name [args]` section and its body.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Section {
    /// The section name, lowercased and without `%` (`post`, `files`, `appinstall`, ...).
    pub name: String,
    /// Everything after the name on the section line, trimmed (`from build`, `-c /bin/bash`,
    /// the app name of an `%app*` section).
    pub args: String,
    /// The body as written (line endings included): the lines after the section line up to
    /// the next section or stage.
    pub body: String,
    /// The section line.
    pub span: Span,
    /// Where the body is in the text (zero length, at the next line, when it is empty).
    pub body_span: Span,
    /// For `%files`: its entries, in order. Empty for other sections.
    pub files: Vec<FileEntry>,
}

/// One line of a `%files` section: a source on the build host and a destination in the image.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct FileEntry {
    /// The source path or glob as written (quotes removed).
    pub source: String,
    /// The destination as written; empty when the line names only a source (SingularityCE
    /// then copies to the same path).
    pub destination: String,
    /// The line.
    pub span: Span,
}

/// A `%files` section's meaning for the build context.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct FilesBlock<'a> {
    /// `Some(stage)` for `%files from <stage>`: copied from an earlier stage, not the host.
    pub from_stage: Option<&'a str>,
    pub section: &'a Section,
}

/// A build argument declared in an `%arguments` section (`NAME=default`).
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Argument {
    pub name: String,
    /// The default value (quotes kept); `None` for a bare `NAME` or an empty `NAME=` line,
    /// which SingularityCE skips.
    pub default: Option<String>,
    pub span: Span,
}

/// A `{{ name }}` build-argument placeholder in the text (a name of ASCII letters, digits and
/// `_`; the span covers the braces).
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Placeholder {
    pub name: String,
    pub span: Span,
}

impl Stage {
    /// Returns the value of a header keyword (case-insensitive), if present.
    ///
    /// When a keyword appears twice, the last one counts: SingularityCE stores the header in a
    /// map, so a later line overwrites an earlier one.
    pub fn header_value(&self, key: &str) -> Option<&str> {
        self.header_field(key).map(|field| field.value.as_str())
    }

    /// Returns the header field for a keyword (case-insensitive), if present; the last one
    /// when it appears twice (see [`Stage::header_value`]).
    pub fn header_field(&self, key: &str) -> Option<&HeaderField> {
        self.header
            .iter()
            .rev()
            .find(|field| field.key.eq_ignore_ascii_case(key))
    }

    /// Returns the bootstrap agent (`docker`, `library`, `localimage`, ...), lowercased.
    pub fn bootstrap(&self) -> Option<String> {
        self.header_value("bootstrap")
            .map(|value| value.to_ascii_lowercase())
    }

    /// Returns the `From:` value.
    pub fn from(&self) -> Option<&str> {
        self.header_value("from")
    }

    /// Returns the stage name from `Stage:`.
    pub fn name(&self) -> Option<&str> {
        self.header_value("stage")
    }

    /// Returns every `%files` section with the stage it copies from, if any.
    pub fn files_blocks(&self) -> impl Iterator<Item = FilesBlock<'_>> {
        self.sections
            .iter()
            .filter(|section| section.name == "files")
            .map(|section| FilesBlock {
                from_stage: files_from_stage(&section.args),
                section,
            })
    }

    /// Returns the `%files` entries whose sources are on the build host (not `from <stage>`).
    pub fn host_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.files_blocks()
            .filter(|block| block.from_stage.is_none())
            .flat_map(|block| block.section.files.iter())
            .filter(|entry| !entry.source.is_empty())
    }
}

/// Returns the stage a `%files` section copies from, given the section's arguments.
///
/// This is SingularityCE's `Files.Stage()` (`pkg/build/types/definition.go`), which the remote
/// build client uses to pick the sources it uploads (PROTOCOL.md §2.5): after cutting a `#`
/// comment, arguments of exactly two words count as a stage copy unless the first word is
/// `stage`. The first word is not checked against `from`, so `%files of build` copies from
/// `build` too. (The local builder's `copyFilesFrom` accepts `stage build` as well, but the
/// client uploads those sources, so that is what sifbake must track.)
pub fn files_from_stage(args: &str) -> Option<&str> {
    let args = args.split('#').next().unwrap_or_default();
    let mut words = args.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(keyword), Some(stage), None) if keyword != "stage" => Some(stage),
        _ => None,
    }
}

impl Definition {
    /// Returns every `%files` source on the build host, across all stages.
    pub fn host_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.stages.iter().flat_map(Stage::host_files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_from_stage_needs_exactly_two_words() {
        assert_eq!(files_from_stage("from build"), Some("build"));
        assert_eq!(files_from_stage("  from   build  # copy"), Some("build"));
        assert_eq!(files_from_stage("FROM build"), Some("build"));
        assert_eq!(files_from_stage("of build"), Some("build"));
        assert_eq!(files_from_stage("# from build"), None);
        assert_eq!(files_from_stage(""), None);
        assert_eq!(files_from_stage("from"), None);
        assert_eq!(files_from_stage("from a b"), None);
        assert_eq!(files_from_stage("stage build"), None);
    }

    #[test]
    fn the_last_duplicate_header_keyword_wins() {
        let field = |key: &str, value: &str| HeaderField {
            key: key.to_owned(),
            value: value.to_owned(),
            ..HeaderField::default()
        };
        let stage = Stage {
            header: vec![field("from", "a"), field("stage", "s"), field("from", "b")],
            ..Stage::default()
        };
        assert_eq!(stage.from(), Some("b"));
        assert_eq!(stage.header_value("STAGE"), Some("s"));
    }
}
