//! Delta debugging by lines: the smallest set of a case's lines that still shows the same
//! disagreement, so a kept case is a few lines, never a whole corpus file.

/// Returns a subsequence of `text`'s lines (endings kept) on which `fails` still holds;
/// no single line of the result can be dropped.
pub fn reduce(text: &str, mut fails: impl FnMut(&str) -> bool) -> String {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut chunks = 2;
    while lines.len() >= 2 {
        let size = lines.len().div_ceil(chunks);
        let mut reduced = false;
        for start in (0..lines.len()).step_by(size) {
            let end = (start + size).min(lines.len());
            let complement: Vec<&str> = lines[..start]
                .iter()
                .chain(&lines[end..])
                .copied()
                .collect();
            if fails(&complement.concat()) {
                lines = complement;
                chunks = (chunks - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if chunks >= lines.len() {
                break;
            }
            chunks = (chunks * 2).min(lines.len());
        }
    }
    lines.concat()
}

#[test]
fn reduces_to_the_lines_that_matter() {
    let text = "a\nb\nkey\nc\nd\nother\ne\n";
    let reduced = reduce(text, |candidate| {
        candidate.contains("key") && candidate.contains("other")
    });
    assert_eq!(reduced, "key\nother\n");
}
