//! The definition-file parser and the templating on arbitrary text: `parse`, `placeholders`
//! and `render` must never panic, every span they return must lie on character boundaries
//! inside the text, and a file that renders with every value given keeps no placeholder of a
//! given name.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use sifbake::deffile::{Span, parse, placeholders, render};

fn check_span(text: &str, span: Span) {
    let end = span.offset + span.len;
    assert!(end <= text.len(), "span {span:?} past the end ({})", text.len());
    assert!(
        text.is_char_boundary(span.offset) && text.is_char_boundary(end),
        "span {span:?} splits a character"
    );
    assert!(span.line >= 1 && span.column >= 1, "{span:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(definition) = parse(text) {
        for stage in &definition.stages {
            check_span(text, stage.span);
            for field in &stage.header {
                check_span(text, field.span);
                check_span(text, field.value_span);
            }
            for section in &stage.sections {
                check_span(text, section.span);
                check_span(text, section.body_span);
                let body = &text[section.body_span.offset..][..section.body_span.len];
                assert_eq!(body, section.body, "the body is where its span says");
            }
            for entry in stage.host_files() {
                check_span(text, entry.span);
            }
        }
    }
    let found = placeholders(text);
    for placeholder in &found {
        check_span(text, placeholder.span);
    }
    let values: BTreeMap<String, String> = found
        .iter()
        .map(|placeholder| (placeholder.name.clone(), "{{ x }}".to_owned()))
        .collect();
    if let Ok(rendered) = render(text, &values) {
        // Every placeholder had a value, and values are not scanned again.
        assert!(rendered.unused.is_empty(), "{:?}", rendered.unused);
        let _ = parse(&rendered.text);
    }
    let _ = render(text, &BTreeMap::new());
});
