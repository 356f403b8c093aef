//! `oras://` repository references: the registry and the repository a mirror pushes to.
//!
//! The grammar is the distribution project's (`distribution/reference`, the OCI distribution
//! spec's `<name>`): `oras://host[:port]/component[/component...]`, where the host is a DNS
//! name, an IPv4 address or a bracketed IPv6 address, and each path component is
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`; the whole name (host and path) is at most 255
//! characters. Unlike Docker's references the first component is always the registry: an
//! `oras://` ref names one explicitly, as `singularity push oras://` requires. A mirror names
//! a repository only: sifbake chooses the tags, so a `:tag` or `@digest` is an error.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::str::FromStr;

/// The scheme every mirror ref starts with.
pub const SCHEME: &str = "oras://";

/// The longest repository name (host and path) a registry accepts (`distribution/reference`'s
/// `NameTotalLengthMax`).
pub const MAX_NAME_LEN: usize = 255;

/// An OCI registry repository: `oras://registry[:port]/namespace/name`.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct RepositoryRef {
    host: String,
    port: Option<u16>,
    path: String,
}

/// Why a string is not a valid `oras://` repository ref.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("invalid mirror `{input}`: {kind}")]
pub struct ReferenceError {
    pub input: String,
    pub kind: ReferenceErrorKind,
}

/// The part of a ref that is wrong, and what to write instead.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum ReferenceErrorKind {
    #[error("it does not start with `oras://`; write `oras://registry/namespace/name`")]
    MissingScheme,
    #[error(
        "the scheme `{scheme}://` is not `oras://`; mirrors are OCI registries, written `oras://registry/namespace/name`"
    )]
    WrongScheme { scheme: String },
    #[error(
        "it names no registry; write `oras://registry/namespace/name`, e.g. `oras://ghcr.io/acme/image`"
    )]
    MissingRegistry,
    #[error(
        "it names the registry `{registry}` but no repository; add one, e.g. `oras://{registry}/namespace/name`"
    )]
    MissingRepository { registry: String },
    #[error("registry host `{host}` {reason}")]
    InvalidHost { host: String, reason: &'static str },
    #[error("registry port `{port}` is not a number from 1 to 65535")]
    InvalidPort { port: String },
    #[error(
        "it has a tag `:{tag}`; a mirror names a repository and sifbake adds the tags, so remove `:{tag}`"
    )]
    HasTag { tag: String },
    #[error("it has a digest `@{digest}`; a mirror names a repository, so remove `@{digest}`")]
    HasDigest { digest: String },
    #[error("it contains `{found}`; an `oras://` ref has no user, query or fragment")]
    UnexpectedUrlPart { found: char },
    #[error("it has an empty path component (`//` or a trailing `/`); remove the extra `/`")]
    EmptyComponent,
    #[error(
        "path component `{component}` has upper-case letters; registries accept lower case only: `{lowered}`"
    )]
    UpperCase { component: String, lowered: String },
    #[error(
        "path component `{component}` {reason}; use lower-case letters and digits, separated by one `.`, `_` or `__`, or by `-`"
    )]
    InvalidComponent {
        component: String,
        reason: &'static str,
    },
    #[error("the name is {length} characters long; registries accept at most {MAX_NAME_LEN}")]
    TooLong { length: usize },
}

impl RepositoryRef {
    /// Parses `oras://host[:port]/path`.
    pub fn parse(input: &str) -> Result<RepositoryRef, ReferenceError> {
        parse(input).map_err(|kind| ReferenceError {
            input: input.to_owned(),
            kind,
        })
    }

    /// The registry host, without port (`[::1]` keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when the ref names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host[:port]`: the registry as `docker login` and `~/.docker/config.json` key it.
    pub fn registry(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The repository within the registry (`namespace/name`), as in `/v2/<name>/...`.
    pub fn repository(&self) -> &str {
        &self.path
    }

    /// Whether the registry is on this machine, the only place plain HTTP is allowed.
    pub fn is_loopback(&self) -> bool {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        host.parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
    }
}

impl fmt::Display for RepositoryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry(), self.path)
    }
}

impl FromStr for RepositoryRef {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<RepositoryRef, ReferenceError> {
        RepositoryRef::parse(input)
    }
}

fn parse(input: &str) -> Result<RepositoryRef, ReferenceErrorKind> {
    let Some(rest) = input.strip_prefix(SCHEME) else {
        return Err(match input.split_once("://") {
            Some((scheme, _)) if !scheme.contains('/') => ReferenceErrorKind::WrongScheme {
                scheme: scheme.to_owned(),
            },
            _ => ReferenceErrorKind::MissingScheme,
        });
    };
    if let Some(found) = rest.chars().find(|c| matches!(c, '?' | '#')) {
        return Err(ReferenceErrorKind::UnexpectedUrlPart { found });
    }
    let (name, digest) = match rest.split_once('@') {
        // `user@host/...` puts the `@` before the first `/`; a digest comes after it.
        Some((before, _)) if !before.contains('/') => {
            return Err(ReferenceErrorKind::UnexpectedUrlPart { found: '@' });
        }
        Some((name, digest)) => (name, Some(digest)),
        None => (rest, None),
    };
    if let Some(digest) = digest {
        return Err(ReferenceErrorKind::HasDigest {
            digest: digest.to_owned(),
        });
    }
    let (domain, path) = match name.split_once('/') {
        Some((domain, path)) => (domain, path),
        None => (name, ""),
    };
    if domain.is_empty() {
        return Err(ReferenceErrorKind::MissingRegistry);
    }
    let (host, port) = split_port(domain)?;
    check_host(host)?;
    if path.is_empty() {
        return Err(ReferenceErrorKind::MissingRepository {
            registry: domain.to_owned(),
        });
    }
    if let Some((_, tag)) = path.rsplit_once(':')
        && !tag.contains('/')
    {
        return Err(ReferenceErrorKind::HasTag {
            tag: tag.to_owned(),
        });
    }
    for component in path.split('/') {
        check_component(component)?;
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ReferenceErrorKind::TooLong { length: name.len() });
    }
    Ok(RepositoryRef {
        host: host.to_ascii_lowercase(),
        port,
        path: path.to_owned(),
    })
}

/// Splits `host[:port]`; a bracketed IPv6 address keeps its colons.
fn split_port(domain: &str) -> Result<(&str, Option<u16>), ReferenceErrorKind> {
    let (host, port) = if domain.starts_with('[') {
        match domain.find(']') {
            Some(end) => {
                let (host, after) = domain.split_at(end + 1);
                match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if after.is_empty() => (host, None),
                    None => {
                        return Err(ReferenceErrorKind::InvalidHost {
                            host: domain.to_owned(),
                            reason: "has characters after the `]` of its IPv6 address",
                        });
                    }
                }
            }
            None => {
                return Err(ReferenceErrorKind::InvalidHost {
                    host: domain.to_owned(),
                    reason: "opens `[` without a closing `]`",
                });
            }
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Some(port),
            _ => {
                return Err(ReferenceErrorKind::InvalidPort {
                    port: text.to_owned(),
                });
            }
        },
    };
    Ok((host, port))
}

fn check_host(host: &str) -> Result<(), ReferenceErrorKind> {
    let invalid = |reason| ReferenceErrorKind::InvalidHost {
        host: host.to_owned(),
        reason,
    };
    if host.is_empty() {
        return Err(ReferenceErrorKind::MissingRegistry);
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.trim_end_matches(']');
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(invalid("is not an IPv6 address")),
        };
    }
    // Domain components per distribution/reference: alphanumerics, inner hyphens. An IPv4
    // address matches the same rule.
    for label in host.split('.') {
        if label.is_empty() {
            return Err(invalid("has an empty label (`..` or a `.` at an end)"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid(
                "may hold only letters, digits, `-` and `.` (and a `:port`)",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("has a label starting or ending with `-`"));
        }
    }
    Ok(())
}

fn check_component(component: &str) -> Result<(), ReferenceErrorKind> {
    let invalid = |reason| ReferenceErrorKind::InvalidComponent {
        component: component.to_owned(),
        reason,
    };
    if component.is_empty() {
        return Err(ReferenceErrorKind::EmptyComponent);
    }
    if component.bytes().any(|b| b.is_ascii_uppercase()) {
        let lowered = component.to_ascii_lowercase();
        // Only suggest the lower-case form when that form is itself valid.
        if check_component(&lowered).is_ok() {
            return Err(ReferenceErrorKind::UpperCase {
                component: component.to_owned(),
                lowered,
            });
        }
    }
    let bytes = component.as_bytes();
    if !bytes
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "has a character other than a-z, 0-9, `.`, `_` and `-`",
        ));
    }
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return Err(invalid("must start and end with a letter or digit"));
    }
    let mut index = 0;
    while index < bytes.len() {
        if is_alnum(bytes[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && !is_alnum(bytes[index]) {
            index += 1;
        }
        let separator = &component[start..index];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return Err(invalid(
                "has an invalid separator (only `.`, `_`, `__` or `-`s)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &str) -> ReferenceErrorKind {
        RepositoryRef::parse(input).expect_err(input).kind
    }

    #[test]
    fn valid_refs_round_trip() {
        for input in [
            "oras://ghcr.io/acme/image",
            "oras://localhost:5000/image",
            "oras://127.0.0.1:5000/a/b/c",
            "oras://[::1]:5000/ns/name",
            "oras://[::1]/ns/name",
            "oras://registry.example.com/a.b_c__d---e/f-g",
            "oras://my-registry/x0",
        ] {
            let parsed = RepositoryRef::parse(input).expect(input);
            assert_eq!(parsed.to_string(), input);
        }
    }

    #[test]
    fn parts_are_exposed() {
        let parsed = RepositoryRef::parse("oras://GHCR.io:443/acme/tools/image").unwrap();
        assert_eq!(parsed.host(), "ghcr.io");
        assert_eq!(parsed.port(), Some(443));
        assert_eq!(parsed.registry(), "ghcr.io:443");
        assert_eq!(parsed.repository(), "acme/tools/image");
        assert!(!parsed.is_loopback());
    }

    #[test]
    fn loopback_hosts() {
        for (input, loopback) in [
            ("oras://localhost/a", true),
            ("oras://LOCALHOST:1/a", true),
            ("oras://127.0.0.1:5000/a", true),
            ("oras://127.8.9.10/a", true),
            ("oras://[::1]:5000/a", true),
            ("oras://10.0.0.1/a", false),
            ("oras://localhost.example.com/a", false),
        ] {
            assert_eq!(
                RepositoryRef::parse(input).unwrap().is_loopback(),
                loopback,
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_tags_and_digests_with_the_fix() {
        assert_eq!(
            kind("oras://ghcr.io/acme/image:1.0"),
            ReferenceErrorKind::HasTag { tag: "1.0".into() }
        );
        assert_eq!(
            kind("oras://localhost:5000/image:latest"),
            ReferenceErrorKind::HasTag {
                tag: "latest".into()
            }
        );
        assert!(matches!(
            kind("oras://ghcr.io/acme/image@sha256:abc"),
            ReferenceErrorKind::HasDigest { .. }
        ));
        let message = RepositoryRef::parse("oras://ghcr.io/a/b:v1")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "invalid mirror `oras://ghcr.io/a/b:v1`: it has a tag `:v1`; a mirror names a repository and sifbake adds the tags, so remove `:v1`"
        );
    }

    #[test]
    fn rejects_bad_schemes_and_shapes() {
        assert_eq!(kind("ghcr.io/a/b"), ReferenceErrorKind::MissingScheme);
        assert_eq!(
            kind("docker://ghcr.io/a/b"),
            ReferenceErrorKind::WrongScheme {
                scheme: "docker".into()
            }
        );
        assert_eq!(kind("oras://"), ReferenceErrorKind::MissingRegistry);
        assert_eq!(kind("oras:///a/b"), ReferenceErrorKind::MissingRegistry);
        assert_eq!(
            kind("oras://ghcr.io"),
            ReferenceErrorKind::MissingRepository {
                registry: "ghcr.io".into()
            }
        );
        assert_eq!(
            kind("oras://ghcr.io/"),
            ReferenceErrorKind::MissingRepository {
                registry: "ghcr.io".into()
            }
        );
        assert_eq!(
            kind("oras://ghcr.io/a//b"),
            ReferenceErrorKind::EmptyComponent
        );
        assert_eq!(
            kind("oras://ghcr.io/a/b/"),
            ReferenceErrorKind::EmptyComponent
        );
        assert_eq!(
            kind("oras://user@ghcr.io/a"),
            ReferenceErrorKind::UnexpectedUrlPart { found: '@' }
        );
        assert_eq!(
            kind("oras://ghcr.io/a?x=1"),
            ReferenceErrorKind::UnexpectedUrlPart { found: '?' }
        );
    }

    #[test]
    fn rejects_bad_hosts_and_ports() {
        for input in [
            "oras://-bad.io/a",
            "oras://bad-.io/a",
            "oras://a..io/a",
            "oras://under_score.io/a",
            "oras://[::1/a",
            "oras://[zz]/a",
            "oras://[::1]x/a",
        ] {
            assert!(
                matches!(kind(input), ReferenceErrorKind::InvalidHost { .. }),
                "{input}: {:?}",
                kind(input)
            );
        }
        for input in [
            "oras://h:0/a",
            "oras://h:65536/a",
            "oras://h:+1/a",
            "oras://h:/a",
        ] {
            assert!(
                matches!(kind(input), ReferenceErrorKind::InvalidPort { .. }),
                "{input}"
            );
        }
    }

    #[test]
    fn path_components_follow_the_distribution_grammar() {
        assert_eq!(
            kind("oras://ghcr.io/Acme/image"),
            ReferenceErrorKind::UpperCase {
                component: "Acme".into(),
                lowered: "acme".into()
            }
        );
        for bad in [
            "-a", "a-", ".a", "a.", "a..b", "a___b", "a._b", "a b", "a+b", "é",
        ] {
            let input = format!("oras://ghcr.io/ns/{bad}");
            assert!(
                matches!(kind(&input), ReferenceErrorKind::InvalidComponent { .. }),
                "{input}: {:?}",
                kind(&input)
            );
        }
        for good in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "0", "a1.b2_c3"] {
            let input = format!("oras://ghcr.io/ns/{good}");
            assert!(RepositoryRef::parse(&input).is_ok(), "{input}");
        }
    }

    #[test]
    fn length_limit_counts_host_and_path() {
        let path = "a".repeat(MAX_NAME_LEN - "ghcr.io/".len());
        assert!(RepositoryRef::parse(&format!("oras://ghcr.io/{path}")).is_ok());
        assert_eq!(
            kind(&format!("oras://ghcr.io/{path}a")),
            ReferenceErrorKind::TooLong {
                length: MAX_NAME_LEN + 1
            }
        );
    }
}
