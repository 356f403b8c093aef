//! Adding `%labels` to a definition: the provenance labels sifbake gives every image it
//! builds (`org.opencontainers.image.revision`, `.source`, …), so `singularity inspect`
//! shows where an image came from.
//!
//! SingularityCE keeps the labels of the final stage only, so that is where they go: into
//! its `%labels` section when it has one (a second one would be a duplicate section), else
//! into a new section at its end, which is the end of the file.

use super::parser::parse;

/// Returns `text` with `labels` (name, value) in the final stage's `%labels`, each on a
/// line of its own; a label the definition sets itself is left as the author wrote it.
/// Text that does not parse, or no labels, is returned as it is.
pub fn with_labels(text: &str, labels: &[(String, String)]) -> String {
    let Ok(definition) = parse(text) else {
        return text.to_owned();
    };
    let Some(last) = definition.stages.last() else {
        return text.to_owned();
    };
    let section = last
        .sections
        .iter()
        .find(|section| section.name == "labels");
    let own: Vec<&str> = section
        .map(|section| {
            section
                .body
                .lines()
                .filter_map(|line| line.split_whitespace().next())
                .collect()
        })
        .unwrap_or_default();
    let lines: String = labels
        .iter()
        .filter(|(name, _)| !own.contains(&name.as_str()))
        .map(|(name, value)| format!("    {name} {}\n", one_line(value)))
        .collect();
    if lines.is_empty() {
        return text.to_owned();
    }
    match section {
        Some(section) => {
            // Right after the section's own line: its body may end in a comment or blank
            // lines, and any place inside it is as good.
            let header_end = text[section.span.offset..]
                .find('\n')
                .map_or(text.len(), |at| section.span.offset + at + 1);
            let mut out = String::with_capacity(text.len() + lines.len() + 1);
            out.push_str(&text[..header_end]);
            if header_end == text.len() && !text.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&lines);
            out.push_str(&text[header_end..]);
            out
        }
        None => {
            let mut out = text.to_owned();
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("\n%labels\n");
            out.push_str(&lines);
            out
        }
    }
}

/// A label value on one line: a line break would start a label of its own.
fn one_line(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<(String, String)> {
        vec![
            (
                "org.opencontainers.image.revision".into(),
                "0123abcd".into(),
            ),
            ("org.opencontainers.image.ref.name".into(), "main\nx".into()),
        ]
    }

    fn labels_of(text: &str) -> Vec<String> {
        let definition = parse(text).expect("parses");
        definition
            .stages
            .last()
            .expect("a stage")
            .sections
            .iter()
            .filter(|section| section.name == "labels")
            .flat_map(|section| section.body.lines().map(str::trim).map(str::to_owned))
            .filter(|line| !line.is_empty())
            .collect()
    }

    #[test]
    fn a_definition_without_labels_gets_a_section_at_its_end() {
        let text = "Bootstrap: docker\nFrom: alpine\n\n%post\n    true";
        let out = with_labels(text, &labels());
        assert!(out.starts_with(text), "{out}");
        assert_eq!(
            labels_of(&out),
            [
                "org.opencontainers.image.revision 0123abcd",
                "org.opencontainers.image.ref.name main x"
            ]
        );
    }

    #[test]
    fn an_existing_section_of_the_final_stage_gets_them_and_keeps_its_own() {
        let text = "Bootstrap: docker\nFrom: alpine\nStage: build\n\n%labels\n    org.opencontainers.image.revision early\n\nBootstrap: docker\nFrom: alpine\n\n%labels\n    Author me\n    org.opencontainers.image.ref.name mine\n\n%post\n    true\n";
        let out = with_labels(text, &labels());
        assert_eq!(parse(&out).expect("parses").stages.len(), 2);
        let last = labels_of(&out);
        assert!(
            last.contains(&"org.opencontainers.image.revision 0123abcd".to_owned()),
            "{last:?}"
        );
        assert!(last.contains(&"Author me".to_owned()));
        // The author's own value wins.
        assert!(last.contains(&"org.opencontainers.image.ref.name mine".to_owned()));
        assert!(!last.iter().any(|line| line.contains("main x")));
        // The first stage is left alone.
        assert!(out.contains("revision early"));
    }

    #[test]
    fn nothing_to_add_or_nothing_parsed_changes_nothing() {
        let text = "Bootstrap: docker\nFrom: alpine\n";
        assert_eq!(with_labels(text, &[]), text);
        assert_eq!(with_labels("%bogus\n", &labels()), "%bogus\n");
    }
}
