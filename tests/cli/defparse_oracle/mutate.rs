//! Seeded mutations of definition files, line by line, aimed at the places where a reader of
//! the format can go wrong: stage and section boundaries, keyword case, whitespace and line
//! endings, comments, header continuations, `%files` quoting, `from <stage>` and `{{ }}`.

/// splitmix64: small, fast and the same on every machine, so a case number names a case.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Whitespace the parsers may disagree on: Go's `TrimSpace` and `ScanWords` take Unicode's
/// `White_Space`, RE2's `\s` only ASCII, and `strings.Split(line, " ")` a plain space.
const SPACES: &[&str] = &[
    " ", " ", "  ", "\t", "\t", " \t", "\u{a0}", "\u{0b}", "\u{0c}", "\u{85}", "\u{2003}",
];

const SECTION_LINES: &[&str] = &[
    "%files",
    "%files from build",
    "%files from  devel # copy",
    "%FILES from stage0",
    "%files stage build",
    "%files from",
    "%files from a b",
    "%files\tfrom build",
    "%%files",
    "%post",
    "%post -c /bin/bash",
    "%Post",
    "%runscript",
    "%environment",
    "%labels",
    "%help",
    "%test",
    "%setup",
    "%startscript",
    "%arguments",
    "%pre",
    "%apprun foo",
    "%appfiles foo",
    "%appinstall foo",
    "%AppEnv foo",
    "%apphelp",
    "%bogus",
    "%",
];

const HEADER_LINES: &[&str] = &[
    "Bootstrap: docker",
    "bootstrap:library",
    "BOOTSTRAP: localimage",
    "Bootstrap : docker",
    " Bootstrap: docker",
    "From: ubuntu:22.04",
    "from:alpine # the base",
    "From: {{ BASE }}",
    "Stage: build",
    "stage : final",
    "Stage: devel # comment",
    "OSVersion: 7",
    "MirrorURL: http://mirror/centos/%{OSVERSION}/os/x86_64/",
    "Include: yum wget",
    "OtherURL1: http://x",
    "OtherURL: http://x",
    "Fingerprints: 0123ABCD",
    "Namespace: ns",
    "Registry: index.docker.io",
    "Exclude: x",
    "From ubuntu",
    "From: ubuntu \\",
    "From: ubu\\n\\",
    ":",
    "Bootstrap:",
];

const BODY_LINES: &[&str] = &[
    "\"my file.txt\" \"/opt/my dir/\"",
    "\"a b\" /c",
    "'single quoted' /x",
    "\"unterminated /x",
    "\"\" /x",
    "\"",
    "{{ SRC }}/file.txt /dest",
    "x{{ a }}y{{b}}z /d",
    "{{a}}}}x{{ b }} /d",
    "{{ }} b",
    "src # not a comment",
    "/usr/bin/tool",
    "* /opt/",
    "relative/path relative/dest extra",
    "# a comment",
    "  # indented comment",
    "",
    "   ",
    "echo {{ VERSION }}",
    "Author someone",
    "export A=1",
];

const TEMPLATES: &[&str] = &[
    "{{ VERSION }}",
    "{{VAR}}",
    "{{ a_b1 }}",
    "{{ }}",
    "{{x}}}",
    "{ {y} }",
];

const STAGE_NAMES: &[&str] = &["build", "devel", "stage0", "final", "{{ STAGE }}"];

/// Returns `text` with one to five mutations.
pub fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    let count = 1 + (rng.next().trailing_zeros() as usize).min(4);
    for _ in 0..count {
        mutate_once(rng, &mut lines);
    }
    lines.concat()
}

fn mutate_once(rng: &mut Rng, lines: &mut Vec<String>) {
    if lines.is_empty() {
        lines.push(format!("{}\n", rng.pick(HEADER_LINES)));
        return;
    }
    let at = rng.below(lines.len());
    // Most mutations go to lines the parsers look at closely: headers, section lines and
    // `%files` bodies.
    let at = if rng.chance(2) {
        interesting_line(rng, lines).unwrap_or(at)
    } else {
        at
    };
    let (body, ending) = split_ending(&lines[at]);
    let (body, ending) = (body.to_owned(), ending.to_owned());
    if rng.chance(100) {
        pad_to_scanner_limit(rng, lines, at);
        return;
    }
    match rng.below(23) {
        0 => {
            lines.remove(at);
        }
        1 => {
            let copy = lines[at].clone();
            lines.insert(at, ensure_newline(copy));
        }
        2 => {
            let other = rng.below(lines.len());
            lines.swap(at, other);
            fix_last_newlines(lines);
        }
        3 => {
            let indent = *rng.pick(SPACES);
            lines[at] = format!("{indent}{body}{ending}");
        }
        4 => lines[at] = format!("{}{ending}", body.trim_start()),
        5 => lines[at] = format!("{}{ending}", change_keyword_case(rng, &body)),
        6 => lines[at] = format!("{body}\r\n"),
        7 => {
            for line in lines.iter_mut() {
                if let Some(stripped) = line.strip_suffix('\n')
                    && !stripped.ends_with('\r')
                {
                    *line = format!("{stripped}\r\n");
                }
            }
        }
        8 => {
            // Mostly tabs; sometimes a space the regexp of `%files` does not split at.
            let space = if rng.chance(2) {
                "\t"
            } else {
                *rng.pick(SPACES)
            };
            lines[at] = format!("{}{ending}", body.replacen(' ', space, 1 + rng.below(2)));
        }
        9 => {
            let comment = *rng.pick(&["# note", "#", "#%post", "# From: x"]);
            match rng.below(3) {
                0 => lines[at] = format!("{body} {comment}{ending}"),
                1 => lines[at] = format!("#{body}{ending}"),
                _ => lines.insert(at, format!("{comment}\n")),
            }
        }
        10 => {
            // A header continuation: the value cut in two with `\`, or a bare `\` at the end.
            if let Some(cut) = cut_point(rng, &body) {
                let (left, right) = body.split_at(cut);
                let gap = *rng.pick(&["", " ", "\t"]);
                lines[at] = format!("{left}{gap}\\\n{right}{ending}");
            } else {
                lines[at] = format!("{body} \\{ending}");
            }
        }
        11 => lines[at] = format!("{}{ending}", quote_words(rng, &body)),
        12 => {
            let stage = *rng.pick(STAGE_NAMES);
            let keyword = *rng.pick(&["from", "FROM", "stage", "of", "from  "]);
            lines[at] = format!("%files {keyword} {stage}{}", ensure_ending(&ending));
        }
        13 => {
            let template = *rng.pick(TEMPLATES);
            let cut = cut_point(rng, &body).unwrap_or(body.len());
            lines[at] = format!("{}{template}{}{ending}", &body[..cut], &body[cut..]);
        }
        14 => {
            let space = *rng.pick(SPACES);
            lines[at] = format!("{body}{space}{ending}");
        }
        15 => {
            let line = *rng.pick(SECTION_LINES);
            lines.insert(at, format!("{line}\n"));
        }
        16 => {
            let line = *rng.pick(HEADER_LINES);
            lines.insert(at, format!("{line}\n"));
        }
        17 => {
            let line = *rng.pick(BODY_LINES);
            let indent = if rng.chance(2) { "    " } else { "" };
            lines.insert(at, format!("{indent}{line}\n"));
        }
        18 => {
            let colon = *rng.pick(&[" :", "", "::"]);
            lines[at] = format!("{}{ending}", body.replacen(':', colon, 1));
        }
        19 => {
            // The end of the file: no final newline, or extra blank lines.
            if let Some(last) = lines.last_mut() {
                if rng.chance(2) {
                    let trimmed = last.trim_end_matches(['\n', '\r']).to_owned();
                    *last = trimmed;
                } else {
                    *last = ensure_newline(std::mem::take(last));
                    lines.push("\n\n".to_owned());
                }
            }
        }
        20 => {
            // A new stage in the middle of the file.
            let stage = *rng.pick(STAGE_NAMES);
            let header = format!("Bootstrap: docker\nFrom: alpine\nStage: {stage}\n");
            lines.insert(at, header);
        }
        21 => {
            // A stray character where the parsers split lines, words and keywords.
            let stray = *rng.pick(&[
                "\r", "\u{feff}", "\0", "%", "#", ":", "\\", "\"", "'", "{", "}",
            ]);
            let cut = cut_point(rng, &body).unwrap_or(0);
            lines[at] = format!("{}{stray}{}{ending}", &body[..cut], &body[cut..]);
        }
        _ => {
            let other = rng.below(lines.len());
            let moved = lines.remove(at);
            lines.insert(other.min(lines.len()), ensure_newline(moved));
            fix_last_newlines(lines);
        }
    }
}

/// SingularityCE's scanner holds one header or section in at most 64 KiB, together with the
/// next section's line; pads line `at` so that its token, alone or with that line, ends within
/// a few bytes of the limit.
fn pad_to_scanner_limit(rng: &mut Rng, lines: &mut [String], at: usize) {
    const LIMIT: usize = 64 * 1024;
    let is_section = |line: &String| line.trim_start().starts_with('%');
    let is_stage = |line: &String| line.to_ascii_lowercase().starts_with("bootstrap:");
    let start = (0..=at)
        .rev()
        .find(|&index| is_section(&lines[index]) || is_stage(&lines[index]))
        .unwrap_or(0);
    let next =
        (at + 1..lines.len()).find(|&index| is_section(&lines[index]) || is_stage(&lines[index]));
    let token: usize = lines[start..next.unwrap_or(lines.len())]
        .iter()
        .map(String::len)
        .sum();
    let with_next = token + next.map_or(0, |index| lines[index].len());
    let current = if rng.chance(2) { token } else { with_next };
    let target = LIMIT - 4 + rng.below(9);
    if target > current {
        let (body, ending) = split_ending(&lines[at]);
        lines[at] = format!("{body}{}{ending}", "x".repeat(target - current));
    }
}

/// Picks a header line, a section line or a line of a `%files` body, if there is one.
fn interesting_line(rng: &mut Rng, lines: &[String]) -> Option<usize> {
    let mut in_files = false;
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('%') {
            in_files = trimmed.to_ascii_lowercase().starts_with("%files");
            found.push(index);
        } else if in_files || is_header_like(trimmed) {
            found.push(index);
        }
    }
    (!found.is_empty()).then(|| *rng.pick(&found))
}

fn is_header_like(line: &str) -> bool {
    line.split_once(':').is_some_and(|(key, _)| {
        !key.is_empty() && key.trim().chars().all(|c| c.is_ascii_alphanumeric())
    })
}

fn split_ending(line: &str) -> (&str, &str) {
    let body = line.trim_end_matches(['\n', '\r']);
    (body, &line[body.len()..])
}

fn ensure_newline(mut line: String) -> String {
    if !line.ends_with('\n') {
        line.push('\n');
    }
    line
}

fn ensure_ending(ending: &str) -> &str {
    if ending.is_empty() { "\n" } else { ending }
}

/// After lines move, only the last may lack its newline, or two lines would merge.
fn fix_last_newlines(lines: &mut [String]) {
    let last = lines.len().saturating_sub(1);
    for line in &mut lines[..last] {
        if !line.ends_with('\n') {
            line.push('\n');
        }
    }
}

/// A byte offset inside `body` on a character boundary, if it has more than one character.
fn cut_point(rng: &mut Rng, body: &str) -> Option<usize> {
    let boundaries: Vec<usize> = body.char_indices().map(|(at, _)| at).skip(1).collect();
    (!boundaries.is_empty()).then(|| *rng.pick(&boundaries))
}

/// Changes the case of a section name or a header keyword.
fn change_keyword_case(rng: &mut Rng, body: &str) -> String {
    let start = body.len() - body.trim_start().len();
    let end = body[start..]
        .find(|c: char| c == ':' || c.is_whitespace())
        .map_or(body.len(), |at| start + at);
    let word: String = body[start..end]
        .chars()
        .map(|c| match rng.below(4) {
            0 => c.to_ascii_uppercase().to_string(),
            1 => c.to_ascii_lowercase().to_string(),
            // Letters whose case mappings lead back to ASCII: `İ` lowercases to `i` in Go,
            // the Kelvin sign to `k`; `ſ` folds to `s` in case-insensitive regexps.
            2 => match c.to_ascii_lowercase() {
                'i' => "\u{130}".to_owned(),
                'k' => "\u{212a}".to_owned(),
                's' => "\u{17f}".to_owned(),
                _ => c.to_string(),
            },
            _ => c.to_string(),
        })
        .collect();
    format!("{}{word}{}", &body[..start], &body[end..])
}

/// Wraps one or two words of the line in double quotes, sometimes with a space inside.
fn quote_words(rng: &mut Rng, body: &str) -> String {
    let indent = &body[..body.len() - body.trim_start().len()];
    let mut words: Vec<String> = body.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        return body.to_owned();
    }
    let which = rng.below(words.len().min(2));
    let word = &words[which];
    words[which] = match rng.below(3) {
        0 => format!("\"{word}\""),
        1 => format!("\"{word} with space\""),
        _ => format!("'{word}'"),
    };
    format!("{indent}{}", words.join(" "))
}
