//! Properties of ref parsing: it never panics, whatever it accepts obeys the library's
//! alphabet, valid refs survive a round trip through `Display`, and `check_name` is exactly
//! the regex PROTOCOL.md §4.2 gives.

use proptest::prelude::*;

use super::*;

/// A name in the library alphabet: `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`.
fn name() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,3}"
}

/// A host as refs write one: a DNS name, maybe with a port.
fn host() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9.-]{0,15}[a-z0-9])?(:[0-9]{1,5})?"
}

fn valid_ref() -> impl Strategy<Value = LibraryRef> {
    (
        proptest::option::of(host()),
        name(),
        name(),
        name(),
        proptest::collection::vec(name(), 0..4),
    )
        .prop_map(|(host, entity, collection, container, tags)| LibraryRef {
            host,
            entity,
            collection,
            container,
            tags,
        })
}

/// The regex of §4.2, written out: non-empty, at most 255 characters, and split at the
/// separators into non-empty runs of lowercase letters and digits.
fn reference_check(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsing_anything_never_panics_and_accepts_only_the_alphabet(input in any::<String>()) {
        if let Ok(parsed) = LibraryRef::parse(&input) {
            for part in [&parsed.entity, &parsed.collection, &parsed.container] {
                prop_assert!(check_name(part).is_ok(), "{part:?} from {input:?}");
            }
            for tag in &parsed.tags {
                prop_assert!(check_name(tag).is_ok(), "tag {tag:?} from {input:?}");
            }
            // What a push accepts, a `From:` line accepts the same way.
            prop_assert_eq!(LibraryRef::parse_source(&input), Ok(parsed));
        }
        if let Ok(parsed) = LibraryRef::parse_source(&input) {
            for tag in &parsed.tags {
                prop_assert!(check_name(tag).is_ok() || is_image_hash(tag), "{tag:?}");
            }
        }
    }

    #[test]
    fn ref_shaped_text_never_panics(
        input in "(library:(//)?)?[a-zA-Z0-9._:/@?#, -]{0,40}",
    ) {
        let _ = LibraryRef::parse(&input);
        let _ = LibraryRef::parse_source(&input);
    }

    #[test]
    fn valid_refs_round_trip(reference in valid_ref()) {
        let shown = reference.to_string();
        prop_assert_eq!(LibraryRef::parse(&shown), Ok(reference.clone()), "{}", shown);
        prop_assert_eq!(LibraryRef::parse_source(&shown), Ok(reference.clone()));
        // Without the scheme and host (as `From:` lines and scs-build write refs), the same
        // container and tags.
        let mut bare = reference.path();
        if !reference.tags.is_empty() {
            bare = format!("{bare}:{}", reference.tags.join(","));
        }
        let expected = LibraryRef { host: None, ..reference };
        prop_assert_eq!(LibraryRef::parse(&bare), Ok(expected.clone()), "{}", bare);
        prop_assert_eq!(LibraryRef::parse(&format!("library:{bare}")), Ok(expected));
    }

    #[test]
    fn one_bad_character_is_refused(
        reference in valid_ref(),
        part in 0..3usize,
        // Not whitespace: a ref is trimmed before it is read, by design.
        bad in "[A-Z!$%&*+;<=>\\[\\]^`{|}~é]",
        at in any::<proptest::sample::Index>(),
    ) {
        let mut broken = reference.clone();
        let target = match part {
            0 => &mut broken.entity,
            1 => &mut broken.collection,
            _ => &mut broken.container,
        };
        let position = at.index(target.len() + 1);
        target.insert_str(position, &bad);
        prop_assert!(LibraryRef::parse(&broken.to_string()).is_err(), "{}", broken);
    }

    #[test]
    fn check_name_is_the_protocol_regex(value in "[a-z0-9._A-Z -]{0,12}") {
        prop_assert_eq!(check_name(&value).is_ok(), reference_check(&value), "{:?}", value);
    }

    #[test]
    fn names_longer_than_the_limit_are_refused(length in 256usize..400) {
        prop_assert_eq!(check_name(&"a".repeat(length)), Err(NameProblem::TooLong(length)));
        prop_assert!(check_name(&"a".repeat(MAX_NAME_LEN)).is_ok());
    }
}
