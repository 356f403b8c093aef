//! Splitting a `%files` line into a source and a destination, as SingularityCE does.
//!
//! SingularityCE (`parseTokenSection` in `pkg/build/types/parser/deffile.go`) finds the words
//! of a line with the Go regexp
//!
//! ```text
//! ([^\s"']*{{\s*\w+\s*}}*[^\s{}"']*)+|([^\s"']+|"([^"]*)"|'([^']*))
//! ```
//!
//! takes the first word as the source and the second as the destination (anything after is
//! ignored, so an inline `# comment` after both is harmless), trims whitespace and strips `"`
//! from both ends of each. The matcher below reproduces that regexp's leftmost-first matches
//! by hand, quirks included: a single-quoted name keeps its quotes and its closing quote starts
//! the next word (`'a b' /x` gives `'a b` and `' /x`), and `{{ arg }}` placeholders keep their
//! inner spaces. Matching it exactly matters because the remote build client uploads exactly
//! these sources (PROTOCOL.md §2.5).

use super::lines::is_regex_space;

/// Returns the source and destination of a trimmed, non-comment `%files` line, or `None` when
/// the regexp finds no word at all (SingularityCE then indexes an empty slice and panics).
pub(crate) fn files_entry(line: &str) -> Option<(&str, &str)> {
    let words = split_words(line);
    let source = words.first()?;
    let destination = words.get(1).copied().unwrap_or_default();
    Some((clean(source), clean(destination)))
}

/// Mirrors `strings.Trim(strings.TrimSpace(word), "\"")`.
fn clean(word: &str) -> &str {
    word.trim().trim_matches('"')
}

/// Returns every match of the splitter regexp in `line`, left to right.
fn split_words(line: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut position = 0;
    while let Some(first) = line[position..].chars().next() {
        let rest = &line[position..];
        let matched = match first {
            c if is_regex_space(c) => None,
            // `"([^"]*)"`: needs a closing quote, else no word starts here.
            '"' => rest[1..].find('"').map(|close| close + 2),
            // `'([^']*)`: runs up to (not including) the next `'`, or to the end.
            '\'' => Some(rest[1..].find('\'').map_or(rest.len(), |close| close + 1)),
            // The templated alternative comes first, so it wins even when shorter.
            _ => Some(templated_word(rest).unwrap_or_else(|| run_len(rest))),
        };
        match matched {
            Some(len) => {
                words.push(&rest[..len]);
                position += len;
            }
            None => position += first.len_utf8(),
        }
    }
    words
}

/// Matches `(X)+` at the start of `text`, where X is `[^\s"']*{{\s*\w+\s*}}*[^\s{}"']*`.
fn templated_word(text: &str) -> Option<usize> {
    let mut end = templated_piece(text)?;
    while let Some(len) = templated_piece(&text[end..]) {
        end += len;
    }
    Some(end)
}

/// Matches one X at the start of `text`, with a backtracking engine's choices: the greedy
/// `[^\s"']*` gives back characters until a placeholder follows, so the last placeholder
/// reachable in the run wins; `}*` and the tail are then greedy too.
fn templated_piece(text: &str) -> Option<usize> {
    let run = run_len(text);
    text[..run].char_indices().rev().find_map(|(start, _)| {
        let placeholder = placeholder_prefix(&text[start..])?;
        let mut end = start + placeholder;
        end += text[end..].bytes().take_while(|&byte| byte == b'}').count();
        end += text[end..]
            .chars()
            .take_while(|&c| is_run_char(c) && c != '{' && c != '}')
            .map(char::len_utf8)
            .sum::<usize>();
        Some(end)
    })
}

/// Matches `{{\s*\w+\s*}` at the start of `text` and returns its length.
fn placeholder_prefix(text: &str) -> Option<usize> {
    let inner = text.strip_prefix("{{")?;
    let after_space = inner.trim_start_matches(is_regex_space);
    let after_name = after_space.trim_start_matches(super::lines::is_regex_word);
    if after_name.len() == after_space.len() {
        return None;
    }
    let after_space = after_name.trim_start_matches(is_regex_space);
    let after_brace = after_space.strip_prefix('}')?;
    Some(text.len() - after_brace.len())
}

/// Returns the byte length of the leading run of `[^\s"']` characters.
fn run_len(text: &str) -> usize {
    text.chars()
        .take_while(|&c| is_run_char(c))
        .map(char::len_utf8)
        .sum()
}

fn is_run_char(c: char) -> bool {
    !is_regex_space(c) && c != '"' && c != '\''
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! cases {
        ($($line:expr => $words:expr,)*) => {
            $(assert_eq!(split_words($line), $words as [&str; _], "line {:?}", $line);)*
        };
    }

    #[test]
    fn words_follow_the_regexp() {
        cases! {
            "a b" => ["a", "b"],
            "a\tb   c" => ["a", "b", "c"],
            "\"my file.txt\" /opt/my file" => ["\"my file.txt\"", "/opt/my", "file"],
            "'my file' /opt" => ["'my file", "' /opt"],
            "a\"b\" c" => ["a", "\"b\"", "c"],
            "\"unterminated x" => ["unterminated", "x"],
            "{{ SRC }}/file.txt /dest" => ["{{ SRC }}/file.txt", "/dest"],
            "x{{ a }}y{{b}}z /d" => ["x{{ a }}y{{b}}z", "/d"],
            "{{a}}x{y /d" => ["{{a}}x", "{y", "/d"],
            "{{a}}}}x{{ b }} /d" => ["{{a}}}}x{{ b }}", "/d"],
            "{{ a } b" => ["{{ a }", "b"],
            "{{ }} b" => ["{{", "}}", "b"],
            "src # comment" => ["src", "#", "comment"],
            "é/ü x" => ["é/ü", "x"],
            "\"" => [],
        }
    }

    #[test]
    fn entries_strip_double_quotes_and_allow_a_missing_destination() {
        assert_eq!(files_entry("\"a b\" \"/c d\""), Some(("a b", "/c d")));
        assert_eq!(files_entry("only"), Some(("only", "")));
        assert_eq!(files_entry("\"\" /x"), Some(("", "/x")));
        assert_eq!(files_entry("'q' /x"), Some(("'q", "' /x")));
        assert_eq!(files_entry("a b c"), Some(("a", "b")));
        assert_eq!(files_entry("\""), None);
    }
}
