//! Ref parsing and tag sanitisation on arbitrary text: `LibraryRef::parse`/`parse_source`
//! never panic; what they accept round-trips through `Display`; `tags::sanitize` returns a
//! library tag within the cap, or nothing when the text has no letter or digit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sifbake::libref::{LibraryRef, check_name, is_image_hash};
use sifbake::tags::{MAX_TAG_LEN, sanitize};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(reference) = LibraryRef::parse(&text) {
        for part in [&reference.entity, &reference.collection, &reference.container] {
            assert!(check_name(part).is_ok(), "{part:?}");
        }
        let shown = reference.to_string();
        assert_eq!(LibraryRef::parse(&shown).as_ref(), Ok(&reference), "{shown}");
        assert_eq!(LibraryRef::parse_source(&text).as_ref(), Ok(&reference));
    }
    if let Ok(reference) = LibraryRef::parse_source(&text) {
        for tag in &reference.tags {
            assert!(check_name(tag).is_ok() || is_image_hash(tag), "{tag:?}");
        }
        let shown = reference.to_string();
        assert_eq!(LibraryRef::parse_source(&shown).as_ref(), Ok(&reference), "{shown}");
    }
    match sanitize(&text) {
        Some(tag) => {
            assert!(check_name(&tag).is_ok(), "{text:?} -> {tag:?}");
            assert!(tag.len() <= MAX_TAG_LEN, "{tag:?}");
            assert_eq!(sanitize(&tag).as_deref(), Some(tag.as_str()), "idempotent");
        }
        None => assert!(!text.chars().any(|c| c.is_ascii_alphanumeric()), "{text:?}"),
    }
});
