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
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(&input, candidate), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
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
    }
}
