//! "Did you mean …?" for misspelt keys and names.

/// Returns the candidate closest to `input`, if any is close enough to be a likely typo.
///
/// Jaro-Winkler above 0.8 is the threshold clap uses for its own suggestions; a
/// case-insensitive exact match always wins.
pub fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(input)) {
        return Some(exact);
    }
    let input = input.to_ascii_lowercase();
    // Two letters swapped (`dfe` for `def`) score low on Jaro-Winkler in a short word, and
    // are the commonest typo of all.
    if let Some(swapped) = candidates
        .iter()
        .find(|c| c.len() >= 3 && is_swap(&input, c))
    {
        return Some(swapped);
    }
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(&input, candidate), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// Returns true if and only if `a` is `b` with two neighbouring letters swapped.
fn is_swap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() != b.len() {
        return false;
    }
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    matches!(differ.as_slice(), [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["def", "glob", "ref", "inputs", "depends_on", "targets"];
        assert_eq!(did_you_mean("defs", &keys), Some("def"));
        assert_eq!(did_you_mean("dependson", &keys), Some("depends_on"));
        assert_eq!(did_you_mean("input", &keys), Some("inputs"));
        assert_eq!(did_you_mean("Targets", &keys), Some("targets"));
        assert_eq!(did_you_mean("zzz", &keys), None);
        assert_eq!(
            did_you_mean("dfe", &keys),
            Some("def"),
            "two letters swapped"
        );
        assert_eq!(did_you_mean("rfe", &keys), Some("ref"));
    }
}
