//! docker/metadata-action's `pep440` rule: a git tag read as a PEP 440 version
//! (`1.2`, `v1.2.3rc1`, `1.2.3.post1`, `1.2.3.dev4`), for Python-shaped projects.

use std::collections::BTreeMap;

/// A PEP 440 version, as far as tags need it.
#[derive(Debug, Eq, PartialEq)]
struct Version {
    release: Vec<u64>,
    /// The normalised rest: `rc1`, `.post1`, `.dev4` (empty for a final release).
    rest: String,
    /// A pre-release or development release: it moves no `{{major}}`-style tag.
    unstable: bool,
}

/// Parses a PEP 440 version, with an optional `v` and the spellings PEP 440 normalises
/// (`1.2-rc.1` → `1.2rc1`, `alpha` → `a`).
fn parse(tag: &str) -> Option<Version> {
    let text = tag
        .strip_prefix(['v', 'V'])
        .unwrap_or(tag)
        .to_ascii_lowercase();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let release: Vec<u64> = text[..end]
        .trim_end_matches('.')
        .split('.')
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    let mut rest = &text[end..];
    let mut out = String::new();
    let mut unstable = false;
    let segment = |rest: &str, names: &[(&str, &str)]| -> Option<(String, usize)> {
        let trimmed = rest.trim_start_matches(['.', '-', '_']);
        let skipped = rest.len() - trimmed.len();
        let (name, spelled) = names
            .iter()
            .find(|(spelled, _)| trimmed.starts_with(spelled))
            .map(|(spelled, name)| (*name, spelled.len()))?;
        let after = trimmed[spelled..].trim_start_matches(['.', '-', '_']);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let number: u64 = if digits == 0 {
            0
        } else {
            after[..digits].parse().ok()?
        };
        let used = skipped + spelled + (trimmed.len() - spelled - after.len()) + digits;
        Some((format!("{name}{number}"), used))
    };
    let pre = [
        ("alpha", "a"),
        ("beta", "b"),
        ("preview", "rc"),
        ("pre", "rc"),
        ("rc", "rc"),
        ("c", "rc"),
        ("a", "a"),
        ("b", "b"),
    ];
    if let Some((text, used)) = segment(rest, &pre) {
        out.push_str(&text);
        rest = &rest[used..];
        unstable = true;
    }
    if let Some((text, used)) = segment(rest, &[("post", "post"), ("rev", "post"), ("r", "post")]) {
        out.push('.');
        out.push_str(&text);
        rest = &rest[used..];
    }
    if let Some((text, used)) = segment(rest, &[("dev", "dev")]) {
        out.push('.');
        out.push_str(&text);
        rest = &rest[used..];
        unstable = true;
    }
    rest.is_empty().then_some(Version {
        release,
        rest: out,
        unstable,
    })
}

/// Fills a `pep440` template: `{{version}}` (normalised), `{{raw}}`, and for final
/// releases `{{major}}`, `{{minor}}`, `{{patch}}` (0 when the tag has fewer parts).
pub(super) fn pep440_value(template: &str, tag: &str, notes: &mut Vec<String>) -> Option<String> {
    let Some(version) = parse(tag) else {
        notes.push(format!(
            "tag `{tag}` is not a PEP 440 version; `pep440` rules give no tag"
        ));
        return None;
    };
    let release: Vec<String> = version.release.iter().map(u64::to_string).collect();
    let mut values = BTreeMap::new();
    values.insert("version", format!("{}{}", release.join("."), version.rest));
    values.insert("raw", tag.to_owned());
    if !version.unstable {
        let part = |i: usize| version.release.get(i).copied().unwrap_or(0).to_string();
        values.insert("major", part(0));
        values.insert("minor", part(1));
        values.insert("patch", part(2));
    }
    super::fill(template, &values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(template: &str, tag: &str) -> Option<String> {
        pep440_value(template, tag, &mut Vec::new())
    }

    #[test]
    fn versions_normalise_as_pep_440_says() {
        assert_eq!(value("{{version}}", "v1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(value("{{version}}", "1.2-RC.1").as_deref(), Some("1.2rc1"));
        assert_eq!(
            value("{{version}}", "1.2.3alpha2").as_deref(),
            Some("1.2.3a2")
        );
        assert_eq!(
            value("{{version}}", "1.2.3.post1").as_deref(),
            Some("1.2.3.post1")
        );
        assert_eq!(
            value("{{version}}", "1.2.3.dev4").as_deref(),
            Some("1.2.3.dev4")
        );
        assert_eq!(
            value("{{major}}.{{minor}}", "1.2.3.post1").as_deref(),
            Some("1.2")
        );
        assert_eq!(
            value("{{major}}.{{minor}}.{{patch}}", "2.5").as_deref(),
            Some("2.5.0")
        );
    }

    #[test]
    fn pre_releases_move_no_major_tag_and_junk_gives_none() {
        assert_eq!(value("{{major}}", "1.2rc1"), None);
        assert_eq!(value("{{major}}", "1.2.dev1"), None);
        let mut notes = Vec::new();
        assert_eq!(pep440_value("{{version}}", "release-x", &mut notes), None);
        assert_eq!(notes.len(), 1);
    }
}
