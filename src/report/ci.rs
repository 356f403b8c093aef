//! How CI logs want their structure: GitHub Actions workflow commands and GitLab CI
//! collapsible sections.

use std::fmt::Write as _;

/// Which CI the output is read in.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum CiLog {
    GitHub,
    GitLab,
    /// Any other log or terminal.
    Plain,
}

impl CiLog {
    /// Detects the CI from its variables (`GITHUB_ACTIONS=true`, `GITLAB_CI=true`).
    pub fn detect(var: &dyn Fn(&str) -> Option<String>) -> Self {
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            CiLog::GitHub
        } else if var("GITLAB_CI").as_deref() == Some("true") {
            CiLog::GitLab
        } else {
            CiLog::Plain
        }
    }

    /// Returns the text that opens a collapsible group. `id` names it for GitLab (letters,
    /// digits, `_`, `-`); `seconds` is the Unix time GitLab shows durations from.
    pub fn group_start(self, id: &str, title: &str, seconds: u64) -> String {
        match self {
            CiLog::GitHub => format!("::group::{}\n", escape_data(title)),
            CiLog::GitLab => format!(
                "\u{1b}[0Ksection_start:{seconds}:{}[collapsed=true]\r\u{1b}[0K{}\n",
                section_id(id),
                one_line(title)
            ),
            CiLog::Plain => format!("----- {} -----\n", one_line(title)),
        }
    }

    /// Returns the text that closes the group [`CiLog::group_start`] opened.
    pub fn group_end(self, id: &str, seconds: u64) -> String {
        match self {
            CiLog::GitHub => "::endgroup::\n".to_owned(),
            CiLog::GitLab => format!(
                "\u{1b}[0Ksection_end:{seconds}:{}\r\u{1b}[0K\n",
                section_id(id)
            ),
            CiLog::Plain => "-----\n".to_owned(),
        }
    }

    /// Returns a line that stops log text from being read as workflow commands, and the one
    /// that resumes them, for logs whose content we do not control (build output could
    /// otherwise emit `::add-mask::`, `::set-output::` or `::endgroup::`).
    pub fn stop_commands(self, token: &str) -> Option<(String, String)> {
        match self {
            CiLog::GitHub => Some((
                format!("::stop-commands::{token}\n"),
                format!("::{token}::\n"),
            )),
            CiLog::GitLab | CiLog::Plain => None,
        }
    }
}

/// Escapes a workflow command's message as actions/toolkit's `escapeData` does.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property as actions/toolkit's `escapeProperty` does.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Returns a workflow command such as `::error file=a.yaml,line=3,col=5,title=…::message`.
pub fn workflow_command(command: &str, properties: &[(&str, String)], message: &str) -> String {
    let mut out = format!("::{command}");
    for (index, (name, value)) in properties.iter().enumerate() {
        let separator = if index == 0 { ' ' } else { ',' };
        let _ = write!(out, "{separator}{name}={}", escape_property(value));
    }
    let _ = write!(out, "::{}", escape_data(message));
    out
}

/// GitLab section names may hold only letters, digits, `_`, `.` and `-`.
fn section_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_ci() {
        let github = |name: &str| (name == "GITHUB_ACTIONS").then(|| "true".to_owned());
        let gitlab = |name: &str| (name == "GITLAB_CI").then(|| "true".to_owned());
        let none = |_: &str| None;
        assert_eq!(CiLog::detect(&github), CiLog::GitHub);
        assert_eq!(CiLog::detect(&gitlab), CiLog::GitLab);
        assert_eq!(CiLog::detect(&none), CiLog::Plain);
    }

    #[test]
    fn groups_per_ci() {
        assert_eq!(
            CiLog::GitHub.group_start("x", "base (amd64): built\n", 5),
            "::group::base (amd64): built%0A\n"
        );
        assert_eq!(CiLog::GitHub.group_end("x", 6), "::endgroup::\n");
        assert_eq!(
            CiLog::GitLab.group_start("base amd64", "base (amd64)", 1700000000),
            "\u{1b}[0Ksection_start:1700000000:base_amd64[collapsed=true]\r\u{1b}[0Kbase (amd64)\n"
        );
        assert_eq!(
            CiLog::GitLab.group_end("base amd64", 1700000009),
            "\u{1b}[0Ksection_end:1700000009:base_amd64\r\u{1b}[0K\n"
        );
    }

    #[test]
    fn workflow_commands_escape_as_the_runner_requires() {
        let line = workflow_command(
            "error",
            &[
                ("file", "defs/a,b.def".into()),
                ("line", "3".into()),
                ("title", "bad: key".into()),
            ],
            "100% wrong\nsecond line",
        );
        assert_eq!(
            line,
            "::error file=defs/a%2Cb.def,line=3,title=bad%3A key::100%25 wrong%0Asecond line"
        );
    }
}
