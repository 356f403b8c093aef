//! Properties of `{{ name }}` templating against a model: definition files are generated
//! with known placeholders (names, spacing inside the braces, text around them), and the
//! rendered text, the unused values and the missing names must be exactly what the model
//! says; values are inserted verbatim and never scanned again; nothing panics.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{TemplateError, placeholders, render};

const HEADER: &str = "Bootstrap: docker\nFrom: alpine:3.20\n\n%post\n";

/// One `%post` line: text, a placeholder, text.
#[derive(Clone, Debug)]
struct Line {
    before: String,
    open_space: String,
    name: String,
    close_space: String,
    after: String,
}

fn line() -> impl Strategy<Value = Line> {
    (
        "[a-zA-Z0-9 .,;:=/$-]{0,10}",
        "[ \t]{0,2}\n?[ \t]{0,2}",
        "[A-Za-z0-9_]{1,6}",
        "[ \t]{0,2}\n?[ \t]{0,2}",
        "[a-zA-Z0-9 .,;:=/$-]{0,10}",
    )
        .prop_map(|(before, open_space, name, close_space, after)| Line {
            before,
            open_space,
            name,
            close_space,
            after,
        })
}

/// The definition text, and what it renders to with `values` (`None` when a name has no
/// value).
fn model(lines: &[Line], values: &BTreeMap<String, String>) -> (String, Option<String>) {
    let mut text = HEADER.to_owned();
    let mut rendered = Some(HEADER.to_owned());
    for line in lines {
        let placeholder = format!(
            "{{{{{}{}{}}}}}",
            line.open_space, line.name, line.close_space
        );
        text.push_str(&format!(
            "    echo {}{placeholder}{}\n",
            line.before, line.after
        ));
        rendered = rendered.and_then(|mut out| {
            let value = values.get(&line.name)?;
            out.push_str(&format!("    echo {}{value}{}\n", line.before, line.after));
            Some(out)
        });
    }
    (text, rendered)
}

/// Names in order of first use.
fn names_in_order<'a>(lines: impl Iterator<Item = &'a Line>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in lines {
        if !names.contains(&line.name) {
            names.push(line.name.clone());
        }
    }
    names
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn every_placeholder_is_filled_verbatim_and_never_rescanned(
        lines in proptest::collection::vec(line(), 0..8),
        raw_values in proptest::collection::vec(
            prop_oneof!["[ -~]{0,12}", "\\{\\{ ?[A-Za-z0-9_]{1,3} ?\\}\\}"],
            8,
        ),
        extra in proptest::collection::btree_map("[A-Z]{7,9}", "[a-z]{0,4}", 0..3),
    ) {
        let names = names_in_order(lines.iter());
        let mut values: BTreeMap<String, String> = names
            .iter()
            .zip(raw_values.iter().cycle())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        // Values named like no placeholder (their names are longer than any generated).
        values.extend(extra.clone());
        let (text, expected) = model(&lines, &values);
        let rendered = render(&text, &values).expect("every name has a value");
        prop_assert_eq!(Some(rendered.text), expected);
        let unused: Vec<String> = extra.keys().cloned().collect();
        prop_assert_eq!(rendered.unused, unused);
        // Found in order, each occurrence.
        let found: Vec<String> = placeholders(&text).into_iter().map(|p| p.name).collect();
        let all: Vec<String> = lines.iter().map(|l| l.name.clone()).collect();
        prop_assert_eq!(found, all);
    }

    #[test]
    fn every_missing_name_is_reported_once_in_order(
        lines in proptest::collection::vec(line(), 1..8),
        given in proptest::collection::vec(any::<bool>(), 8),
    ) {
        let names = names_in_order(lines.iter());
        let values: BTreeMap<String, String> = names
            .iter()
            .zip(&given)
            .filter(|(_, given)| **given)
            .map(|(name, _)| (name.clone(), "v".to_owned()))
            .collect();
        let (text, expected) = model(&lines, &values);
        let missing: Vec<String> = names
            .iter()
            .filter(|name| !values.contains_key(*name))
            .cloned()
            .collect();
        match render(&text, &values) {
            Ok(rendered) => {
                prop_assert!(missing.is_empty());
                prop_assert_eq!(Some(rendered.text), expected);
            }
            Err(TemplateError::MissingValues { names, placeholders, .. }) => {
                prop_assert_eq!(&names, &missing);
                let occurrences = lines.iter().filter(|l| missing.contains(&l.name)).count();
                prop_assert_eq!(placeholders.len(), occurrences);
                // Each span points at its placeholder in the text.
                for placeholder in &placeholders {
                    let slice = &text[placeholder.span.offset..placeholder.span.offset + placeholder.span.len];
                    prop_assert!(slice.starts_with("{{") && slice.ends_with("}}"), "{:?}", slice);
                    prop_assert!(slice.contains(&placeholder.name));
                }
            }
            Err(other) => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn defaults_fill_in_and_given_values_win(
        name in "[A-Z]{1,6}",
        default in "[a-z0-9]{1,6}",
        given in proptest::option::of("[a-z0-9]{1,6}"),
    ) {
        let text = format!("{HEADER}    echo {{{{ {name} }}}}\n\n%arguments\n    {name}={default}\n");
        let values: BTreeMap<String, String> =
            given.iter().map(|value| (name.clone(), value.clone())).collect();
        let rendered = render(&text, &values).expect("a default");
        let value = given.unwrap_or(default);
        prop_assert!(rendered.text.contains(&format!("    echo {value}\n")), "{}", rendered.text);
    }

    #[test]
    fn text_without_placeholders_is_unchanged(body in "[a-zA-Z0-9 {}.,;:=/$\n-]{0,200}") {
        // Lone braces, `{ {`, `{{}}` and `{{ a-b }}` are not placeholders.
        let body = body.replace("{{", "{ {");
        let text = format!("{HEADER}{body}\n");
        if let Ok(rendered) = render(&text, &BTreeMap::new()) {
            prop_assert_eq!(rendered.text, text);
        }
    }

    #[test]
    fn rendering_anything_never_panics(
        text in any::<String>(),
        values in proptest::collection::btree_map("[A-Za-z_]{1,4}", any::<String>(), 0..4),
    ) {
        let _ = render(&text, &values);
        let _ = render(&format!("{HEADER}{text}"), &values);
        let _ = placeholders(&text);
    }
}
