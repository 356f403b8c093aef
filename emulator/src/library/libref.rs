//! Library references (`library://entity/collection/container:tag`) and name validation.
//!
//! Grammar from PROTOCOL.md §4: names are lowercase with single `.`/`_`/`-` separators; a
//! push or build destination has exactly three components and may carry comma-separated
//! tags; a pull source has one to three components; a tag may be an image hash.

/// A parsed `entity/collection/container` path with its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryRef {
    /// The entity name.
    pub entity: String,
    /// The collection name.
    pub collection: String,
    /// The container name.
    pub container: String,
    /// The tags, `["latest"]` when none were written.
    pub tags: Vec<String>,
}

impl LibraryRef {
    /// Returns `entity/collection/container`.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.entity, self.collection, self.container)
    }

    /// Returns the first tag (the one a single-tag lookup uses).
    pub fn tag(&self) -> &str {
        self.tags.first().map_or("latest", String::as_str)
    }
}

/// Returns true if `name` is a valid entity, collection or container name.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Returns true if `tag` is a valid tag or image hash.
pub fn is_valid_tag(tag: &str) -> bool {
    is_valid_name(tag) || is_image_hash(tag)
}

/// Returns true for `sha256.<64 hex>` and `sif.<uuid>`.
pub fn is_image_hash(text: &str) -> bool {
    if let Some(hex) = text.strip_prefix("sha256.") {
        return hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    }
    if let Some(uuid) = text.strip_prefix("sif.") {
        let groups: Vec<&str> = uuid.split('-').collect();
        let lengths = [8, 4, 4, 4, 12];
        return groups.len() == 5
            && groups.iter().zip(lengths).all(|(group, len)| {
                group.len() == len
                    && group
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
    }
    false
}

/// Strips the `library:` scheme in any of its spellings (`library://`, `library:///`,
/// `library:/`, `library:`), returning the path and whether a scheme was present.
fn strip_scheme(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("library:") else {
        return text;
    };
    rest.trim_start_matches('/')
}

/// Parses a build destination (`libraryRef` of a build request).
///
/// Both spellings clients send are accepted: SingularityCE's `library://e/c/n:t` and
/// scs-build's opaque `library:e/c/n:t` (PROTOCOL.md §2.2). A host is refused: the build
/// service expects hostless refs.
pub fn parse_destination(text: &str) -> Result<LibraryRef, String> {
    let path = strip_scheme(text.trim());
    let (path, tags) = split_tags(path)?;
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() != 3 {
        return Err(format!(
            "library ref `{text}` must have exactly entity/collection/container (and no host)"
        ));
    }
    for part in &parts {
        if !is_valid_name(part) {
            return Err(format!("library ref `{text}` has an invalid name `{part}`"));
        }
    }
    Ok(LibraryRef {
        entity: parts[0].to_owned(),
        collection: parts[1].to_owned(),
        container: parts[2].to_owned(),
        tags,
    })
}

/// Parses a pull source (`From:` of a `Bootstrap: library` stage, or an image path in a
/// route): one to three components, an optional host in front of three, one tag.
///
/// One component means `library/default/<name>`, two mean `library/<collection>/<name>`:
/// the public library's defaults.
pub fn parse_source(text: &str) -> Result<LibraryRef, String> {
    let path = strip_scheme(text.trim());
    let (path, tags) = split_tags(path)?;
    if tags.len() != 1 {
        return Err(format!("library ref `{text}` must name a single tag"));
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.len() == 4 {
        // SingularityCE reads the first of four components as a host (PROTOCOL.md §4.3).
        parts.remove(0);
    }
    let (entity, collection, container) = match parts.as_slice() {
        [container] => ("library", "default", *container),
        [collection, container] => ("library", *collection, *container),
        [entity, collection, container] => (*entity, *collection, *container),
        _ => return Err(format!("library ref `{text}` has too many components")),
    };
    for part in [entity, collection, container] {
        if !is_valid_name(part) {
            return Err(format!("library ref `{text}` has an invalid name `{part}`"));
        }
    }
    Ok(LibraryRef {
        entity: entity.to_owned(),
        collection: collection.to_owned(),
        container: container.to_owned(),
        tags,
    })
}

/// Splits `path[:tag[,tag...]]`, defaulting to `latest`.
fn split_tags(path: &str) -> Result<(&str, Vec<String>), String> {
    let Some((path, tag_text)) = path.split_once(':') else {
        return Ok((path, vec!["latest".to_owned()]));
    };
    let tags: Vec<String> = tag_text.split(',').map(str::to_owned).collect();
    for tag in &tags {
        if !is_valid_tag(tag) {
            return Err(format!("`{tag}` is not a valid tag"));
        }
    }
    Ok((path, tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names() {
        assert!(is_valid_name("abc"));
        assert!(is_valid_name("a.b_c-d9"));
        for bad in ["", "Abc", "a..b", "-a", "a-", "a/b", "a b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert!(is_image_hash(&format!("sha256.{}", "a".repeat(64))));
        assert!(!is_image_hash(&format!("sha256:{}", "a".repeat(64))));
        assert!(is_image_hash("sif.01234567-89ab-cdef-0123-456789abcdef"));
    }

    #[test]
    fn parses_destinations_in_both_spellings() {
        let ref1 = parse_destination("library://acme/tools/base:1.0,latest").unwrap();
        assert_eq!(ref1.path(), "acme/tools/base");
        assert_eq!(ref1.tags, ["1.0", "latest"]);
        let ref2 = parse_destination("library:acme/tools/base").unwrap();
        assert_eq!(ref2.tags, ["latest"]);
        assert_eq!(
            parse_destination("library:///acme/tools/base")
                .unwrap()
                .path(),
            "acme/tools/base"
        );
        assert!(parse_destination("library://host/acme/tools/base").is_err());
        assert!(parse_destination("library://acme/base").is_err());
        assert!(parse_destination("library://acme/tools/Base").is_err());
        assert!(parse_destination("library://acme/tools/base:Bad").is_err());
    }

    #[test]
    fn parses_sources_with_defaults() {
        let short = parse_source("alpine:3.19").unwrap();
        assert_eq!(
            (short.path(), short.tag()),
            ("library/default/alpine".to_owned(), "3.19")
        );
        assert_eq!(
            parse_source("library://host.example/a/b/c").unwrap().path(),
            "a/b/c"
        );
        let hashed = parse_source(&format!("a/b/c:sha256.{}", "0".repeat(64))).unwrap();
        assert!(is_image_hash(hashed.tag()));
        assert!(parse_source("a/b/c:x,y").is_err());
    }
}
