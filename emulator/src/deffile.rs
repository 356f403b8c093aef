//! A small reader for Singularity definition files: just what the emulated build checks.
//!
//! It is deliberately independent of sifbake's parser, so the emulator can catch that
//! parser's mistakes. It reads each stage's header (`Bootstrap`, `From`, `Stage`) and its
//! `%files` sections; everything else in a definition is carried along unread.

/// One `src [dest]` line of a `%files` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The source path as written (relative to the client's working directory, or absolute).
    pub source: String,
    /// The destination inside the container, if given.
    pub destination: Option<String>,
    /// The 1-based line number in the definition.
    pub line: usize,
}

/// A `%files` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesSection {
    /// The words after `%files` (without a trailing comment).
    pub args: Vec<String>,
    /// The entries of the section.
    pub entries: Vec<FileEntry>,
}

impl FilesSection {
    /// Returns true if this section copies from another stage (`%files from <stage>`), whose
    /// sources are not in the uploaded context.
    ///
    /// The rule mirrors the clients' (PROTOCOL.md §2.5): exactly two words, the first not
    /// equal to `stage`.
    pub fn is_stage_copy(&self) -> bool {
        self.args.len() == 2 && self.args[0] != "stage"
    }
}

/// One build stage: a header and its sections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stage {
    /// The `Bootstrap:` value (`library`, `docker`, ...), lowercased.
    pub bootstrap: Option<String>,
    /// The `From:` value.
    pub from: Option<String>,
    /// The `Stage:` name.
    pub name: Option<String>,
    /// The `%files` sections of this stage.
    pub files: Vec<FilesSection>,
}

/// A parsed definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Definition {
    /// The stages in order; a definition without any header has none.
    pub stages: Vec<Stage>,
}

/// Reads a definition. It never fails: what it cannot read it leaves out, and the build
/// reports a missing `Bootstrap:` itself.
pub fn parse(text: &str) -> Definition {
    let mut definition = Definition::default();
    let mut in_header = true;
    let mut current_files: Option<FilesSection> = None;
    for (index, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        if let Some((key, value)) = header_field(line) {
            if key == "bootstrap" && (in_header || starts_new_stage(raw_line)) {
                flush_files(&mut definition, &mut current_files);
                definition.stages.push(Stage {
                    bootstrap: Some(value.to_ascii_lowercase()),
                    ..Stage::default()
                });
                in_header = true;
                continue;
            }
            if in_header {
                let stage = current_stage(&mut definition);
                match key.as_str() {
                    "from" => stage.from = Some(value.to_owned()),
                    "stage" => stage.name = Some(value.to_owned()),
                    _ => {}
                }
                continue;
            }
        }
        if let Some(section) = line.strip_prefix('%') {
            flush_files(&mut definition, &mut current_files);
            in_header = false;
            let section = strip_comment(section);
            let mut words = section.split_whitespace();
            if words
                .next()
                .is_some_and(|name| name.eq_ignore_ascii_case("files"))
            {
                current_files = Some(FilesSection {
                    args: words.map(str::to_owned).collect(),
                    entries: Vec::new(),
                });
            }
            continue;
        }
        if let Some(files) = current_files.as_mut() {
            let content = strip_comment(line);
            let words = split_words(content);
            let mut words = words.into_iter();
            if let Some(source) = words.next() {
                files.entries.push(FileEntry {
                    source,
                    destination: words.next(),
                    line: index + 1,
                });
            }
        }
    }
    flush_files(&mut definition, &mut current_files);
    definition
}

/// Returns the lowercased key and the value of a `Key: value` header line.
fn header_field(line: &str) -> Option<(String, &str)> {
    if line.starts_with('#') || line.starts_with('%') {
        return None;
    }
    let (key, value) = line.split_once(':')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((key.to_ascii_lowercase(), strip_comment(value).trim()))
}

/// Returns true for a `Bootstrap:` line at the start of a line, which opens a new stage even
/// after sections.
fn starts_new_stage(raw_line: &str) -> bool {
    raw_line
        .get(..10)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("bootstrap:"))
}

fn current_stage(definition: &mut Definition) -> &mut Stage {
    if definition.stages.is_empty() {
        definition.stages.push(Stage::default());
    }
    let last = definition.stages.len() - 1;
    &mut definition.stages[last]
}

fn flush_files(definition: &mut Definition, current: &mut Option<FilesSection>) {
    if let Some(files) = current.take() {
        current_stage(definition).files.push(files);
    }
}

/// Removes a `#` comment that starts a word.
fn strip_comment(text: &str) -> &str {
    let mut previous_is_space = true;
    for (index, c) in text.char_indices() {
        if c == '#' && previous_is_space {
            return text[..index].trim_end();
        }
        previous_is_space = c.is_whitespace();
    }
    text
}

/// Splits on whitespace, keeping double- or single-quoted words together.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stages_and_files() {
        let text = "\
Bootstrap: library
From: acme/tools/base:1.0   # the base
Stage: build

%files
    data/a.txt /opt/a.txt
    \"dir with space/b\" # comment
    # only a comment

%post
    echo Bootstrap: not a header
Bootstrap: docker
From: alpine:3.19

%files from build
    /opt/a.txt /a.txt
%files
  /abs/c
";
        let definition = parse(text);
        assert_eq!(definition.stages.len(), 2);
        let first = &definition.stages[0];
        assert_eq!(first.bootstrap.as_deref(), Some("library"));
        assert_eq!(first.from.as_deref(), Some("acme/tools/base:1.0"));
        assert_eq!(first.name.as_deref(), Some("build"));
        assert_eq!(first.files.len(), 1);
        assert_eq!(first.files[0].entries.len(), 2);
        assert_eq!(first.files[0].entries[0].source, "data/a.txt");
        assert_eq!(
            first.files[0].entries[0].destination.as_deref(),
            Some("/opt/a.txt")
        );
        assert_eq!(first.files[0].entries[1].source, "dir with space/b");
        let second = &definition.stages[1];
        assert_eq!(second.bootstrap.as_deref(), Some("docker"));
        assert_eq!(second.from.as_deref(), Some("alpine:3.19"));
        assert!(second.files[0].is_stage_copy());
        assert!(!second.files[1].is_stage_copy());
        assert_eq!(second.files[1].entries[0].source, "/abs/c");
    }

    #[test]
    fn header_keys_are_case_insensitive() {
        let definition = parse("BOOTSTRAP: Library\nfrom: x\n");
        assert_eq!(definition.stages[0].bootstrap.as_deref(), Some("library"));
        assert_eq!(definition.stages[0].from.as_deref(), Some("x"));
    }
}
