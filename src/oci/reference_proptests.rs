//! Properties of `oras://` ref parsing: it never panics, what it accepts obeys the
//! distribution grammar and prints back to the same ref, and refs built from the grammar
//! are accepted.

use proptest::prelude::*;

use super::reference::*;

/// A path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,3}"
}

/// A registry: a DNS name, an IPv4 address or `[::1]`, maybe with a port.
fn registry() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?){0,3}",
        "(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}",
        Just("[::1]".to_owned()),
    ];
    (host, proptest::option::of(1u16..)).prop_map(|(host, port)| match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

fn is_component(text: &str) -> bool {
    let bytes = text.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && alnum(&bytes[0])
        && alnum(&bytes[bytes.len() - 1])
        && text
            .split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            .filter(|separator| !separator.is_empty())
            .all(|separator| {
                matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-')
            })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsing_anything_never_panics_and_accepts_only_the_grammar(
        input in "(oras://)?[a-zA-Z0-9._:/@\\[\\]_-]{0,40}",
    ) {
        if let Ok(parsed) = RepositoryRef::parse(&input) {
            prop_assert!(parsed.repository().split('/').all(is_component), "{input:?}");
            prop_assert!(parsed.registry().len() + 1 + parsed.repository().len() <= MAX_NAME_LEN);
            let shown = parsed.to_string();
            prop_assert_eq!(RepositoryRef::parse(&shown), Ok(parsed));
        }
    }

    #[test]
    fn refs_built_from_the_grammar_are_accepted_and_round_trip(
        registry in registry(),
        path in proptest::collection::vec(component(), 1..4),
    ) {
        let input = format!("oras://{registry}/{}", path.join("/"));
        let parsed = RepositoryRef::parse(&input);
        prop_assert!(parsed.is_ok(), "{input}: {parsed:?}");
        prop_assert_eq!(parsed.unwrap().to_string(), input);
    }
}
