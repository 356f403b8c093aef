//! Reading a registry's `WWW-Authenticate` challenge (RFC 7235, as the distribution spec's
//! token authentication uses it): `Bearer realm="https://auth.example/token",
//! service="registry.example",scope="repository:a/b:pull,push"`, or `Basic realm="…"`.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;

/// What a registry asks for.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Challenge {
    /// User name and password on every request.
    Basic,
    /// A token from `realm`, asked for `service` and a scope.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a challenge header; `None` when it names neither scheme (or no realm for Bearer).
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = params(rest);
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

/// Reads `key=value` and `key="quoted, value"` pairs separated by commas; keys lower-cased.
fn params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() && chars.peek().is_none() {
            return out;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_owned();
        }
        if !key.is_empty() {
            out.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_a_comma_inside_the_scope() {
        assert_eq!(
            parse(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
    }

    #[test]
    fn spacing_case_and_unquoted_values() {
        assert_eq!(
            parse(r#"bearer  Realm = http://127.0.0.1:1/t , service=reg"#),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/t".into(),
                service: Some("reg".into()),
                scope: None,
            })
        );
        assert_eq!(
            parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse("Basic"), Some(Challenge::Basic));
    }

    #[test]
    fn unknown_or_incomplete_challenges() {
        assert_eq!(parse("Negotiate abc"), None);
        assert_eq!(parse(r#"Bearer service="x""#), None);
        assert_eq!(parse(""), None);
    }
}
