//! The body of the sticky pull-request comment: the result table of the step summary, a
//! hidden marker that finds the comment again on the next run, and a link to the run.

use std::io::{self, Write};

use super::result::ResultDocument;
use super::step_summary::write_result;

/// GitHub refuses comment bodies above 65,536 characters; the table gets this many bytes.
pub const COMMENT_BUDGET: usize = 60_000;

/// Returns the hidden line that identifies sifbake's comment for one manifest, so two
/// manifests in one repository keep two comments.
pub fn marker(manifest: &str) -> String {
    // `--` cannot appear inside an HTML comment.
    let name = manifest.replace("--", "-").replace('>', "_");
    format!("<!-- sifbake-comment: {name} -->")
}

/// Writes the comment for a `build` or `tag` (`command`) result.
pub fn write_comment(
    out: &mut dyn Write,
    command: &str,
    document: &ResultDocument<'_>,
    manifest: &str,
    run_url: Option<&str>,
) -> io::Result<()> {
    writeln!(out, "{}", marker(manifest))?;
    write_result(out, command, document, COMMENT_BUDGET)?;
    let sha: String = document.context.sha.chars().take(7).collect();
    match run_url {
        Some(url) => writeln!(
            out,
            "\n<sub>Updated by sifbake for `{sha}` in [this run]({url}).</sub>"
        ),
        None => writeln!(out, "\n<sub>Updated by sifbake for `{sha}`.</sub>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Publish;
    use crate::report::result::tests::{document, image};

    #[test]
    fn the_comment_starts_with_its_marker_and_ends_with_the_run() {
        let mut doc = document(Publish::Ephemeral);
        doc.targets[0].images = vec![image("amd64", "built", Some(("me/d/x", "sha256.aa")))];
        let mut out = Vec::new();
        write_comment(
            &mut out,
            "build",
            &doc,
            "examples/sifbake.yaml",
            Some("https://github.com/o/r/actions/runs/9"),
        )
        .expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.starts_with(
                "<!-- sifbake-comment: examples/sifbake.yaml -->\n### sifbake build: branch `main`"
            ),
            "{text}"
        );
        assert!(text.ends_with(
            "<sub>Updated by sifbake for `3e04653` in [this run](https://github.com/o/r/actions/runs/9).</sub>\n"
        ));
        assert_eq!(marker("a-->b"), "<!-- sifbake-comment: a-_b -->");
    }
}
