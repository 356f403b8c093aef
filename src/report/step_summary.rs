//! The Markdown a run adds to GitHub's step summary (`$GITHUB_STEP_SUMMARY`): a table per
//! image with its status, duration, ref, tags, size and a pull command; why images failed;
//! the problems the annotations could not show.
//!
//! GitHub refuses a step summary above 1 MiB (CRATES.md §7), so every section is written
//! within a byte budget: rows that do not fit are counted, not cut in half.

use std::io::{self, Write};

use crate::context::{Provider, RefContext, RefKind};
use crate::plan::{Action, Plan};

use super::build::{human_bytes, seconds};
use super::built_refs::built_refs;
use super::result::{ImageResult, ResultDocument};

/// The most a step summary may hold, in bytes.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// Room kept at the end of a section for the line saying what was left out.
const RESERVE: usize = 256;

/// Escapes text for a Markdown table cell: backslash escapes for Markdown's punctuation
/// (so a reason cannot open a link, an emphasis or an HTML tag), one line.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' => {}
            '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Returns text as inline code that is safe in a table cell: a fence longer than any run
/// of backticks in it, and `|` escaped (GitHub splits cells before it reads code spans).
pub fn code(text: &str) -> String {
    let one_line = text.replace(['\r', '\n'], " ");
    let longest = one_line
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let padded = if longest > 0 {
        format!(" {one_line} ")
    } else {
        one_line
    };
    format!("{fence}{padded}{fence}").replace('|', "\\|")
}

/// Collects lines while they fit a byte budget; counts those that do not.
struct Budgeted {
    text: String,
    budget: usize,
    left_out: usize,
}

impl Budgeted {
    fn new(budget: usize) -> Self {
        Budgeted {
            text: String::new(),
            budget: budget.saturating_sub(RESERVE),
            left_out: 0,
        }
    }

    /// Adds a line that must be there (headings); fails only when even it does not fit.
    fn line(&mut self, line: &str) -> bool {
        if self.text.len() + line.len() + 1 > self.budget {
            self.left_out += 1;
            return false;
        }
        self.text.push_str(line);
        self.text.push('\n');
        true
    }

    /// Adds a row, or counts it once the budget is spent (and every row after it, so the
    /// table keeps its order).
    fn row(&mut self, line: &str) {
        if self.left_out > 0 {
            self.left_out += 1;
            return;
        }
        self.line(line);
    }

    fn finish(mut self, what: &str) -> String {
        if self.left_out > 0 {
            self.text.push_str(&format!(
                "\n_… and {} more {what} left out: a step summary holds at most 1 MiB._\n",
                self.left_out
            ));
        }
        self.text
    }
}

/// Writes the plan: one row per image with its action, reason and tags.
pub fn write_plan(out: &mut dyn Write, plan: &Plan, budget: usize) -> io::Result<()> {
    let count = |action: Action| plan.targets.iter().filter(|t| t.action == action).count();
    let mut text = Budgeted::new(budget);
    text.line(&format!(
        "### sifbake plan: {} at {}\n",
        describe(&plan.context),
        code(&short_sha(&plan.context.sha))
    ));
    let compared = match plan.changes.mode {
        "diff" => format!("compared with {}", plan.changes.how),
        "all" => "every target requested (--all)".to_owned(),
        _ => format!(
            "no base commit ({}): inputs compared by digest",
            plan.changes.how
        ),
    };
    text.line(&format!(
        "{} to build, {} to retag, {} unchanged; {}.\n",
        count(Action::Build),
        count(Action::Retag),
        count(Action::Skip),
        cell(&compared)
    ));
    text.line("| Target | Arch | Action | Reason | Ref | Tags |");
    text.line("| --- | --- | --- | --- | --- | --- |");
    for target in &plan.targets {
        for image in &target.images {
            let action = match image.action {
                Action::Build => "🔨 build",
                Action::Retag => "🏷️ retag",
                Action::Skip => "➖ unchanged",
            };
            text.row(&format!(
                "| {} | {} | {action} | {} | {} | {} |",
                cell(&target.name),
                cell(&image.arch),
                cell(&target.reason.message()),
                code(&target.reference.to_string()),
                tags(&image.tags),
            ));
        }
    }
    if !plan.notes.is_empty() {
        text.row("");
        for note in &plan.notes {
            text.row(&format!("- {}", cell(note)));
        }
    }
    out.write_all(text.finish("rows").as_bytes())
}

/// Writes the result of `build` or `tag` (`command`): one row per image, then why images
/// failed or were skipped.
pub fn write_result(
    out: &mut dyn Write,
    command: &str,
    document: &ResultDocument<'_>,
    budget: usize,
) -> io::Result<()> {
    let mut text = Budgeted::new(budget);
    text.line(&format!(
        "### sifbake {command}: {} at {}\n",
        describe(document.context),
        code(&short_sha(&document.context.sha))
    ));
    let counts = document.counts;
    let mut parts = vec![
        format!("{} built", counts.built),
        format!("{} retagged", counts.retagged),
    ];
    for (count, word) in [
        (counts.failed, "failed"),
        (counts.timed_out, "timed out"),
        (counts.cancelled, "cancelled"),
        (counts.skipped, "skipped"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    let publish = match document.publish {
        crate::manifest::Publish::Push if counts.failed + counts.timed_out > 0 => {
            "only the images that built or existed were published and tagged"
        }
        crate::manifest::Publish::Push => "images published and tagged",
        crate::manifest::Publish::Ephemeral => "ephemeral images: nothing published or tagged",
        crate::manifest::Publish::Skip => "nothing built (`publish: skip`)",
    };
    let cancelled = if document.cancelled {
        "; **the run was cancelled**"
    } else {
        ""
    };
    text.line(&format!(
        "{} in {}; {publish}{cancelled}; exit code {}.\n",
        parts.join(", "),
        seconds(std::time::Duration::from_secs_f64(
            document.duration_seconds
        )),
        document.exit_code
    ));
    text.line("| Target | Arch | Status | Duration | Ref | Tags | Size | Pull |");
    text.line("| --- | --- | --- | ---: | --- | --- | ---: | --- |");
    let pinned = built_refs(document);
    for target in &document.targets {
        for image in &target.images {
            let pull = match pinned
                .iter()
                .find(|r| r.target == target.name && r.arch == image.arch)
            {
                Some(built) => {
                    let what = match built.tags.first() {
                        Some(tag) => format!(
                            "singularity pull --arch {} {}:{tag}",
                            image.arch, target.reference
                        ),
                        None => format!("singularity pull {}", built.reference),
                    };
                    code(&what)
                }
                None => "—".to_owned(),
            };
            let signed = image
                .image
                .as_ref()
                .and_then(|i| i.signed_by.as_deref())
                .map_or(String::new(), |key| format!(", signed by {}", code(key)));
            text.row(&format!(
                "| {} | {} | {}{signed} | {} | {} | {} | {} | {pull} |",
                cell(&target.name),
                cell(&image.arch),
                status(image),
                if image.duration_seconds > 0.0 {
                    seconds(std::time::Duration::from_secs_f64(image.duration_seconds))
                } else {
                    "—".to_owned()
                },
                code(&target.reference),
                tags(&image.tags),
                image
                    .image
                    .as_ref()
                    .map_or("—".to_owned(), |i| human_bytes(i.size)),
            ));
        }
    }
    let why: Vec<String> = document
        .targets
        .iter()
        .flat_map(|target| target.images.iter().map(move |image| (target, image)))
        .filter(|(_, image)| matches!(image.status, "failed" | "timed-out" | "skipped"))
        .map(|(target, image)| {
            format!(
                "- **{}** ({}) {}: {}",
                cell(&target.name),
                cell(&image.arch),
                image.status,
                cell(image.reason.as_deref().unwrap_or("see the log"))
            )
        })
        .collect();
    if !why.is_empty() {
        text.row("\n#### Why");
        for line in &why {
            text.row(line);
        }
    }
    for line in super::mirrors::markdown(document).lines() {
        text.row(line);
    }
    out.write_all(text.finish("rows").as_bytes())
}

/// Writes a list of problems under a heading (manifest errors, the annotations the runner
/// would not show).
pub fn write_problems(
    out: &mut dyn Write,
    heading: &str,
    lines: &[String],
    budget: usize,
) -> io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = Budgeted::new(budget);
    text.line(&format!("\n#### {}\n", cell(heading)));
    for line in lines {
        text.row(&format!("- {}", cell(line)));
    }
    out.write_all(text.finish("problems").as_bytes())
}

/// Writes sections one after another while they fit in `limit` bytes in all.
pub fn assemble(out: &mut dyn Write, sections: &[String], limit: usize) -> io::Result<()> {
    let mut used = 0;
    for section in sections {
        if used + section.len() > limit {
            break;
        }
        used += section.len();
        out.write_all(section.as_bytes())?;
    }
    Ok(())
}

fn status(image: &ImageResult) -> &'static str {
    match image.status {
        "built" => "✅ built",
        "retagged" => "🏷️ retagged",
        "unchanged" => "➖ unchanged",
        "failed" => "❌ failed",
        "timed-out" => "⏱️ timed out",
        "skipped" => "⏭️ skipped",
        "cancelled" => "🚫 cancelled",
        _ => "📝 planned",
    }
}

fn tags(tags: &[String]) -> String {
    if tags.is_empty() {
        "—".to_owned()
    } else {
        tags.iter().map(|t| code(t)).collect::<Vec<_>>().join(" ")
    }
}

/// Describes the ref as `RefContext::describe` does, with the name as inline code.
fn describe(context: &RefContext) -> String {
    match &context.kind {
        RefKind::Branch { name } => format!("branch {}", code(name)),
        RefKind::Tag { name } => format!("tag {}", code(name)),
        RefKind::PullRequest { number, .. } => match context.provider {
            Provider::GitLab => format!("merge request !{number}"),
            _ => format!("pull request #{number}"),
        },
        RefKind::Detached => "a detached checkout".to_owned(),
    }
}

fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Publish;
    use crate::report::result::tests::{document, image};

    fn render(doc: &ResultDocument<'_>, budget: usize) -> String {
        let mut out = Vec::new();
        write_result(&mut out, "build", doc, budget).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn cells_and_code_spans_cannot_break_the_table() {
        assert_eq!(
            cell("a|b <img src=x> [l](u) *x*\r\nnext"),
            "a\\|b \\<img src=x\\> \\[l\\](u) \\*x\\* next"
        );
        assert_eq!(code("main"), "`main`");
        assert_eq!(code("a`b|c"), "`` a`b\\|c ``");
    }

    #[test]
    fn the_result_table_has_a_row_per_image_and_a_pull_command() {
        let mut doc = document(Publish::Push);
        doc.counts.built = 1;
        doc.counts.failed = 1;
        doc.exit_code = 1;
        doc.targets[0].images = vec![
            image("amd64", "built", Some(("acme/tools/base", "sha256.aa"))),
            image("arm64", "failed", None),
        ];
        doc.targets[1].images = vec![image("amd64", "skipped", None)];
        let text = render(&doc, STEP_SUMMARY_LIMIT);
        let expected = "\
### sifbake build: branch `main` at `3e04653`

1 built, 0 retagged, 1 failed in 7.0s; only the images that built or existed were published and tagged; exit code 1.

| Target | Arch | Status | Duration | Ref | Tags | Size | Pull |
| --- | --- | --- | ---: | --- | --- | ---: | --- |
| base | amd64 | ✅ built | 2.0s | `library://acme/tools/base` | `main` `inputs-0123456789abcdef` | 37.0 KB | `singularity pull --arch amd64 library://acme/tools/base:main` |
| base | arm64 | ❌ failed | 2.0s | `library://acme/tools/base` | — | — | — |
| python | amd64 | ⏭️ skipped | 2.0s | `library://acme/tools/python` | — | — | — |

#### Why
- **base** (arm64) failed: build 6b02 produced no image; its log says why
- **python** (amd64) skipped: a target it builds on did not succeed
";
        assert_eq!(text, expected);
    }

    #[test]
    fn ephemeral_images_are_pulled_by_hash() {
        let mut doc = document(Publish::Ephemeral);
        let mut built = image("amd64", "built", Some(("me/default/eph", "sha256.cc")));
        built.tags.clear();
        doc.targets[0].images = vec![built];
        let text = render(&doc, STEP_SUMMARY_LIMIT);
        assert!(
            text.contains("`singularity pull library://me/default/eph:sha256.cc`"),
            "{text}"
        );
        assert!(text.contains("ephemeral images: nothing published or tagged"));
    }

    #[test]
    fn a_huge_table_stays_within_its_budget_and_says_what_it_left_out() {
        let mut doc = document(Publish::Push);
        doc.targets[0].images = (0..20_000)
            .map(|i| {
                image(
                    &format!("arch{i}"),
                    "built",
                    Some(("acme/tools/base", "sha256.aa")),
                )
            })
            .collect();
        let text = render(&doc, STEP_SUMMARY_LIMIT);
        assert!(text.len() <= STEP_SUMMARY_LIMIT, "{}", text.len());
        assert!(text.contains("| base | arch0 |"));
        assert!(!text.contains("| base | arch19999 |"));
        let tail = text.lines().last().expect("a last line");
        assert!(tail.starts_with("_… and "), "{tail}");
        assert!(tail.contains("more rows left out"), "{tail}");
        let shown = text.matches("| base | arch").count();
        let left: usize = tail
            .trim_start_matches("_… and ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a count");
        assert_eq!(shown + left, 20_000);
    }

    #[test]
    fn problems_are_listed_and_sections_assembled_within_the_limit() {
        let mut out = Vec::new();
        write_problems(
            &mut out,
            "More problems",
            &["a.def:1:1: sifbake: x: <bad>".to_owned()],
            4096,
        )
        .expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "\n#### More problems\n\n- a.def:1:1: sifbake: x: \\<bad\\>\n"
        );
        let mut out = Vec::new();
        assemble(
            &mut out,
            &["12345".to_owned(), "678".to_owned(), "9".to_owned()],
            8,
        )
        .expect("assemble");
        assert_eq!(out, b"12345678");
    }
}
