//! `library://` references: parsing, validation and display.
//!
//! The grammar and the name/tag alphabet are the ones the Sylabs clients enforce
//! (PROTOCOL.md §4): `library://[host/]entity/collection/container[:tag[,tag]]`, names and
//! tags matching `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`. The host follows SingularityCE's rule
//! (§4.3): only a four-component path carries one.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::str::FromStr;

/// The tag a ref means when it names none.
pub const DEFAULT_TAG: &str = "latest";

/// The longest name or tag accepted (the library API's `maxLength`, PROTOCOL.md §4.2).
pub const MAX_NAME_LEN: usize = 255;

/// A reference to a container in a Sylabs library, with optional tags.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct LibraryRef {
    /// The library host (`library://host/e/c/n`), when the ref names one.
    pub host: Option<String>,
    pub entity: String,
    pub collection: String,
    pub container: String,
    /// Tags as written; empty when the ref names none (see [`LibraryRef::tags_or_default`]).
    pub tags: Vec<String>,
}

/// Why a string is not a valid library ref.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("invalid library ref `{input}`: {kind}")]
pub struct LibraryRefError {
    pub input: String,
    pub kind: LibraryRefErrorKind,
}

/// The part of a library ref that is wrong, and why.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum LibraryRefErrorKind {
    #[error("it is empty")]
    Empty,
    #[error("the tag list after `:` is empty")]
    EmptyTag,
    #[error("{part} `{value}` {reason}")]
    InvalidName {
        part: RefPart,
        value: String,
        reason: NameProblem,
    },
    #[error("tag `{value}` {reason}")]
    InvalidTag { value: String, reason: NameProblem },
    #[error("it has {found} path components; expected entity/collection/container")]
    PathLength { found: usize },
    #[error("it has more than one `:` after the path")]
    TooManyColons,
    #[error("it contains `{found}`; a library ref has no user, query or fragment")]
    UnexpectedUrlPart { found: char },
    #[error("the scheme `{scheme}` is not `library`")]
    WrongScheme { scheme: String },
    #[error("`library:/` has one slash; write `library://` (or no scheme at all)")]
    OneSlash,
}

/// Which name of a ref a problem is in.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum RefPart {
    Collection,
    Container,
    Entity,
    Host,
}

impl fmt::Display for RefPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefPart::Collection => "collection",
            RefPart::Container => "container",
            RefPart::Entity => "entity",
            RefPart::Host => "host",
        })
    }
}

/// What is wrong with a name or tag, in the terms of the library's alphabet.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum NameProblem {
    BadCharacter(char),
    BadEdge,
    DoubleSeparator,
    Empty,
    TooLong(usize),
    Uppercase,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::BadCharacter(c) => write!(
                f,
                "contains `{c}`; only lowercase letters, digits and single `.`, `_` or `-` \
                 between them are allowed"
            ),
            NameProblem::BadEdge => {
                f.write_str("must start and end with a lowercase letter or a digit")
            }
            NameProblem::DoubleSeparator => {
                f.write_str("has two separators (`.`, `_`, `-`) in a row")
            }
            NameProblem::Empty => f.write_str("is empty"),
            NameProblem::TooLong(len) => {
                write!(
                    f,
                    "is {len} characters long; at most {MAX_NAME_LEN} are allowed"
                )
            }
            NameProblem::Uppercase => {
                f.write_str("has uppercase letters; the library only accepts lowercase")
            }
        }
    }
}

/// Checks a name or tag against the library alphabet `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`.
pub fn check_name(value: &str) -> Result<(), NameProblem> {
    if value.is_empty() {
        return Err(NameProblem::Empty);
    }
    if value.len() > MAX_NAME_LEN {
        return Err(NameProblem::TooLong(value.len()));
    }
    let mut previous_separator = false;
    for c in value.chars() {
        let separator = matches!(c, '.' | '_' | '-');
        if c.is_ascii_uppercase() {
            return Err(NameProblem::Uppercase);
        }
        if !(separator || c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(NameProblem::BadCharacter(c));
        }
        if separator && previous_separator {
            return Err(NameProblem::DoubleSeparator);
        }
        previous_separator = separator;
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(value.chars().next()) || !edge_ok(value.chars().last()) {
        return Err(NameProblem::BadEdge);
    }
    Ok(())
}

/// Returns true if and only if `tag` addresses an exact image (`sha256.<64 hex>` or
/// `sif.<uuid>`) rather than naming a tag.
pub fn is_image_hash(tag: &str) -> bool {
    if let Some(hex) = tag.strip_prefix("sha256.") {
        return hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    }
    if let Some(uuid) = tag.strip_prefix("sif.") {
        let groups: Vec<&str> = uuid.split('-').collect();
        let lengths = [8, 4, 4, 4, 12];
        return groups.len() == lengths.len()
            && groups.iter().zip(lengths).all(|(group, len)| {
                group.len() == len
                    && group
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
    }
    false
}

impl LibraryRef {
    /// Parses a ref that names a container to push to: exactly entity/collection/container,
    /// with an optional host and optional tags. `library://` may be omitted.
    pub fn parse(input: &str) -> Result<Self, LibraryRefError> {
        Self::parse_with(input, false)
    }

    /// Parses a ref as `Bootstrap: library` / `From:` lines write it: one to three path
    /// components, missing ones filled in as the library does (`library/default/<name>`),
    /// and a tag that may be an image hash.
    pub fn parse_source(input: &str) -> Result<Self, LibraryRefError> {
        Self::parse_with(input, true)
    }

    fn parse_with(input: &str, source: bool) -> Result<Self, LibraryRefError> {
        let error = |kind| LibraryRefError {
            input: input.to_owned(),
            kind,
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(error(LibraryRefErrorKind::Empty));
        }
        let rest = strip_scheme(trimmed).map_err(error)?;
        if let Some(found) = rest.chars().find(|c| matches!(c, '@' | '?' | '#')) {
            return Err(error(LibraryRefErrorKind::UnexpectedUrlPart { found }));
        }
        let rest = rest.trim_start_matches('/');
        let mut components: Vec<&str> = rest.split('/').collect();
        // SingularityCE reads the first of four components as the host (PROTOCOL.md §4.3).
        let host = if components.len() == 4 {
            Some(components.remove(0).to_owned())
        } else {
            None
        };
        let (last, tags) = split_tags(components.pop().unwrap_or_default()).map_err(error)?;
        components.push(last);
        let filled: Vec<String> = match (components.len(), source) {
            (3, _) => components.iter().map(|c| (*c).to_owned()).collect(),
            (1, true) => vec!["library".into(), "default".into(), components[0].to_owned()],
            (2, true) => vec![
                "library".into(),
                components[0].to_owned(),
                components[1].to_owned(),
            ],
            (found, _) => {
                return Err(error(LibraryRefErrorKind::PathLength {
                    found: found + usize::from(host.is_some()),
                }));
            }
        };
        if let Some(host) = &host
            && (host.is_empty() || host.contains(char::is_whitespace))
        {
            return Err(error(LibraryRefErrorKind::InvalidName {
                part: RefPart::Host,
                value: host.clone(),
                reason: NameProblem::Empty,
            }));
        }
        let parts = [RefPart::Entity, RefPart::Collection, RefPart::Container];
        for (part, value) in parts.into_iter().zip(&filled) {
            check_name(value).map_err(|reason| {
                error(LibraryRefErrorKind::InvalidName {
                    part,
                    value: value.clone(),
                    reason,
                })
            })?;
        }
        for tag in &tags {
            if source && is_image_hash(tag) {
                continue;
            }
            check_name(tag).map_err(|reason| {
                error(LibraryRefErrorKind::InvalidTag {
                    value: tag.clone(),
                    reason,
                })
            })?;
        }
        let [entity, collection, container] = <[String; 3]>::try_from(filled)
            .map_err(|parts| error(LibraryRefErrorKind::PathLength { found: parts.len() }))?;
        Ok(LibraryRef {
            host,
            entity,
            collection,
            container,
            tags,
        })
    }

    /// Returns `entity/collection/container`.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.entity, self.collection, self.container)
    }

    /// Returns the tags, or `latest` when the ref names none.
    pub fn tags_or_default(&self) -> Vec<String> {
        if self.tags.is_empty() {
            vec![DEFAULT_TAG.to_owned()]
        } else {
            self.tags.clone()
        }
    }

    /// Returns the same container with other tags.
    pub fn with_tags(&self, tags: Vec<String>) -> Self {
        LibraryRef {
            tags,
            ..self.clone()
        }
    }

    /// Returns true if and only if both refs name the same container (host and tags ignored).
    pub fn same_container(&self, other: &LibraryRef) -> bool {
        self.entity == other.entity
            && self.collection == other.collection
            && self.container == other.container
    }
}

fn strip_scheme(input: &str) -> Result<&str, LibraryRefErrorKind> {
    if let Some(rest) = input.strip_prefix("library://") {
        return Ok(rest);
    }
    if let Some(rest) = input.strip_prefix("library:") {
        // `library:/e/c` is a slash short of a URL, not the short form `library:e/c/n`.
        if rest.starts_with('/') {
            return Err(LibraryRefErrorKind::OneSlash);
        }
        return Ok(rest);
    }
    // `docker://x` or `https://x`: a scheme that is not ours. A bare `e/c/n:tag` has a colon
    // too, but never `://`.
    if let Some((scheme, _)) = input.split_once("://") {
        return Err(LibraryRefErrorKind::WrongScheme {
            scheme: scheme.to_owned(),
        });
    }
    Ok(input)
}

fn split_tags(last: &str) -> Result<(&str, Vec<String>), LibraryRefErrorKind> {
    let Some((name, tags)) = last.split_once(':') else {
        return Ok((last, Vec::new()));
    };
    if tags.contains(':') {
        return Err(LibraryRefErrorKind::TooManyColons);
    }
    if tags.is_empty() {
        return Err(LibraryRefErrorKind::EmptyTag);
    }
    let tags: Vec<String> = tags.split(',').map(str::to_owned).collect();
    if let Some(empty) = tags.iter().find(|t| t.is_empty()) {
        return Err(LibraryRefErrorKind::InvalidTag {
            value: empty.clone(),
            reason: NameProblem::Empty,
        });
    }
    Ok((name, tags))
}

impl FromStr for LibraryRef {
    type Err = LibraryRefError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        LibraryRef::parse(input)
    }
}

impl fmt::Display for LibraryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("library://")?;
        if let Some(host) = &self.host {
            write!(f, "{host}/")?;
        }
        write!(f, "{}", self.path())?;
        if !self.tags.is_empty() {
            write!(f, ":{}", self.tags.join(","))?;
        }
        Ok(())
    }
}

impl serde::Serialize for LibraryRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> LibraryRef {
        match LibraryRef::parse(input) {
            Ok(r) => r,
            Err(e) => panic!("{input}: {e}"),
        }
    }

    #[test]
    fn parses_the_shapes_users_write() {
        let cases = [
            ("library://acme/tools/base", None, "acme/tools/base", vec![]),
            ("acme/tools/base", None, "acme/tools/base", vec![]),
            (
                "library:acme/tools/base:1.0",
                None,
                "acme/tools/base",
                vec!["1.0"],
            ),
            (
                "library:///acme/tools/base",
                None,
                "acme/tools/base",
                vec![],
            ),
            (
                "library://acme/tools/base:a,b-c",
                None,
                "acme/tools/base",
                vec!["a", "b-c"],
            ),
            (
                "library://cloud.sylabs.io/acme/tools/base:v2",
                Some("cloud.sylabs.io"),
                "acme/tools/base",
                vec!["v2"],
            ),
            (
                "library://lib.example.org:8443/a/b/c",
                Some("lib.example.org:8443"),
                "a/b/c",
                vec![],
            ),
        ];
        for (input, host, path, tags) in cases {
            let r = parsed(input);
            assert_eq!(r.host.as_deref(), host, "{input}");
            assert_eq!(r.path(), path, "{input}");
            assert_eq!(r.tags, tags, "{input}");
        }
    }

    #[test]
    fn display_round_trips() {
        for input in [
            "library://acme/tools/base",
            "library://acme/tools/base:1.2,latest",
            "library://h.example/acme/tools/base:x",
        ] {
            assert_eq!(parsed(input).to_string(), input);
            assert_eq!(parsed(&parsed(input).to_string()), parsed(input));
        }
        assert_eq!(
            parsed("acme/tools/base").to_string(),
            "library://acme/tools/base"
        );
    }

    #[test]
    fn default_tag_is_latest() {
        assert_eq!(parsed("a/b/c").tags_or_default(), vec!["latest"]);
        assert_eq!(parsed("a/b/c:x").tags_or_default(), vec!["x"]);
    }

    #[test]
    fn errors_say_which_part_is_wrong() {
        let cases = [
            ("", "it is empty"),
            ("library://acme/tools", "has 2 path components"),
            ("library://a/b/c/d/e", "has 5 path components"),
            ("docker://alpine", "the scheme `docker` is not `library`"),
            (
                "library://Acme/tools/base",
                "entity `Acme` has uppercase letters",
            ),
            (
                "library://acme/to__ols/base",
                "collection `to__ols` has two separators",
            ),
            (
                "library://acme/tools/-base",
                "container `-base` must start and end",
            ),
            (
                "library://acme/tools/ba+se",
                "container `ba+se` contains `+`",
            ),
            (
                "library://acme/tools/base:",
                "the tag list after `:` is empty",
            ),
            ("library://acme/tools/base:a,,b", "tag `` is empty"),
            (
                "library://acme/tools/base:V1",
                "tag `V1` has uppercase letters",
            ),
            ("library://acme/tools/base:a:b", "more than one `:`"),
            ("library://user@acme/tools/base", "contains `@`"),
            ("library://acme/tools/base?x=1", "contains `?`"),
            ("library:/acme/tools/base", "`library:/` has one slash"),
        ];
        for (input, expected) in cases {
            let error = match LibraryRef::parse(input) {
                Ok(r) => panic!("{input} parsed as {r}"),
                Err(e) => e.to_string(),
            };
            assert!(error.contains(expected), "{input}: {error}");
        }
    }

    #[test]
    fn names_follow_the_library_alphabet() {
        for good in ["a", "a1", "a.b", "a_b-c.d", "0"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in ["", "A", "a..b", ".a", "a-", "a b", "é", too_long.as_str()] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_refs_fill_in_defaults_and_accept_hashes() {
        let r = LibraryRef::parse_source("alpine:3.11.5").expect("valid");
        assert_eq!(r.path(), "library/default/alpine");
        assert_eq!(r.tags, vec!["3.11.5"]);
        let r = LibraryRef::parse_source("library://sylabs/alpine").expect("valid");
        assert_eq!(r.path(), "library/sylabs/alpine");
        let hash = format!("sha256.{}", "ab".repeat(32));
        let r = LibraryRef::parse_source(&format!("acme/tools/base:{hash}")).expect("valid");
        assert_eq!(r.tags, vec![hash.clone()]);
    }

    #[test]
    fn image_hashes() {
        assert!(is_image_hash(&format!("sha256.{}", "0f".repeat(32))));
        assert!(!is_image_hash(&format!("sha256.{}", "0F".repeat(32))));
        assert!(!is_image_hash("sha256.abc"));
        assert!(is_image_hash("sif.01234567-89ab-cdef-0123-456789abcdef"));
        assert!(!is_image_hash("sif.01234567-89ab-cdef-0123"));
    }
}
