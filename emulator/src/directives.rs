//! `# emulator:` directives: comments in a definition that shape its emulated build.
//!
//! DESIGN.md: `# emulator: duration=2s`, `# emulator: fail="reason"`,
//! `# emulator: log-bytes=1000000`; several keys may share a line and several lines may
//! appear anywhere in the definition. A later key overrides an earlier one. An unknown key or
//! a bad value is an error, reported in the build log, so a typo never passes silently.

use std::time::Duration;

use crate::timefmt::parse_duration;

/// The directives found in one definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// How long the emulated build runs.
    pub duration: Option<Duration>,
    /// Makes the build fail with this reason.
    pub fail: Option<String>,
    /// How many bytes of filler log the build streams over its duration.
    pub log_bytes: Option<u64>,
}

/// A directive that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DirectiveError {
    /// The 1-based line of the definition.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Collects the directives of a definition.
pub fn parse(text: &str) -> Result<Directives, DirectiveError> {
    let mut directives = Directives::default();
    for (index, line) in text.lines().enumerate() {
        let Some(comment) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(body) = comment.trim_start().strip_prefix("emulator:") else {
            continue;
        };
        let line_number = index + 1;
        let error = |message: String| DirectiveError {
            line: line_number,
            message,
        };
        for (key, value) in pairs(body).map_err(error)? {
            match key.as_str() {
                "duration" => {
                    let duration = parse_duration(&value).ok_or_else(|| {
                        error(format!(
                            "`duration={value}` is not a duration (use 500ms, 2s, 1m)"
                        ))
                    })?;
                    directives.duration = Some(duration);
                }
                "fail" => directives.fail = Some(value),
                "log-bytes" => {
                    let bytes = value
                        .parse()
                        .map_err(|_| error(format!("`log-bytes={value}` is not a byte count")))?;
                    directives.log_bytes = Some(bytes);
                }
                other => {
                    return Err(error(format!(
                        "unknown emulator directive `{other}` (known: duration, fail, log-bytes)"
                    )));
                }
            }
        }
    }
    Ok(directives)
}

/// Splits `key=value key="quoted value"` into pairs.
fn pairs(body: &str) -> Result<Vec<(String, String)>, String> {
    let mut result = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(result);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if chars.next() != Some('=') {
            return Err(format!("expected `{key}=value`"));
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    other => value.push(other),
                }
            }
            if !closed {
                return Err(format!("unterminated quote in `{key}=`"));
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        result.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_on_one_or_several_lines() {
        let text = "Bootstrap: docker\n# emulator: duration=2s log-bytes=1000\n%post\n  # emulator: fail=\"no \\\"network\\\" here\"\n";
        let directives = parse(text).unwrap();
        assert_eq!(directives.duration, Some(Duration::from_secs(2)));
        assert_eq!(directives.log_bytes, Some(1000));
        assert_eq!(directives.fail.as_deref(), Some("no \"network\" here"));
    }

    #[test]
    fn ignores_other_comments_and_defaults_to_nothing() {
        assert_eq!(
            parse("# emulate nothing\n#emulator:\n").unwrap(),
            Directives::default()
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let error = parse("x\n# emulator: speed=fast\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("unknown emulator directive `speed`"));
        assert!(parse("# emulator: duration=soon").is_err());
        assert!(parse("# emulator: log-bytes=-1").is_err());
        assert!(parse("# emulator: fail=\"open").is_err());
        assert!(parse("# emulator: duration").is_err());
    }
}
