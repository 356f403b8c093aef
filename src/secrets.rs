//! Masking the secrets sifbake holds in text it did not write: a build log, a service's
//! error message. A builder may echo a token whole, or only part of it (a prefix cut to a
//! column, a line wrapped in the middle), so every run of [`MIN_PIECE`] characters of a
//! secret counts, and a match grows to cover every overlapping piece.

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

/// The shortest piece of a secret that is masked on its own: long enough that ordinary
/// text does not hit it by chance, short enough that a cut-off token is still caught.
pub const MIN_PIECE: usize = 8;

/// What a masked piece becomes.
const MASK: &str = "***";

/// Masks secrets in text. Cheap to clone; an empty one changes nothing.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    matcher: Option<Arc<AhoCorasick>>,
    /// The secrets it masks, so that more can be added ([`Redactor::with`]).
    secrets: Arc<[String]>,
}

impl Redactor {
    /// A redactor for these secrets; empty ones are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let secrets: Arc<[String]> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut pieces: Vec<&str> = Vec::new();
        for secret in secrets.iter() {
            let bounds: Vec<usize> = secret
                .char_indices()
                .map(|(at, _)| at)
                .chain([secret.len()])
                .collect();
            let chars = bounds.len() - 1;
            if chars == 0 {
                continue;
            }
            if chars <= MIN_PIECE {
                pieces.push(secret);
                continue;
            }
            for start in 0..=chars - MIN_PIECE {
                pieces.push(&secret[bounds[start]..bounds[start + MIN_PIECE]]);
            }
        }
        pieces.sort_unstable();
        pieces.dedup();
        if pieces.is_empty() {
            return Redactor::default();
        }
        // Overlapping matches are merged below, so the plain (standard) semantics suffice.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&pieces)
            .ok()
            .map(Arc::new);
        Redactor {
            matcher,
            secrets: Arc::clone(&secrets),
        }
    }

    /// This redactor's secrets and `more`.
    pub fn with<'a>(&'a self, more: impl IntoIterator<Item = &'a str>) -> Redactor {
        Redactor::new(self.secrets.iter().map(String::as_str).chain(more))
    }

    /// Returns `text` with every piece of a secret masked; borrowed when there is none.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(matcher) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for found in matcher.find_overlapping_iter(text) {
            match spans.last_mut() {
                Some(last) if found.start() <= last.1 => last.1 = last.1.max(found.end()),
                _ => spans.push((found.start(), found.end())),
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end) in spans {
            out.push_str(&text[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    /// Whether there is anything to mask.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }
}

/// Reassembles a stream of text chunks (a build log arrives in frames that may cut a line,
/// and a secret, anywhere) into masked text that ends on line boundaries.
#[derive(Debug)]
pub struct LineRedactor {
    redactor: Redactor,
    pending: String,
}

/// A line longer than this is masked and passed on in parts, so memory stays bounded
/// whatever the log holds.
const MAX_PENDING: usize = 64 * 1024;

impl LineRedactor {
    pub fn new(redactor: Redactor) -> LineRedactor {
        LineRedactor {
            redactor,
            pending: String::new(),
        }
    }

    /// Takes a chunk; returns the masked text of every line it completes, if any.
    pub fn push(&mut self, chunk: &str) -> Option<String> {
        if self.redactor.is_empty() {
            return Some(chunk.to_owned()).filter(|chunk| !chunk.is_empty());
        }
        self.pending.push_str(chunk);
        let cut = match self.pending.rfind('\n') {
            Some(newline) => newline + 1,
            None if self.pending.len() > MAX_PENDING => {
                // Keep a tail that may hold the start of a secret cut by the frame; the
                // part passed on is masked piece by piece all the same.
                let mut keep = self.pending.len() - MAX_PENDING / 2;
                while !self.pending.is_char_boundary(keep) {
                    keep -= 1;
                }
                keep
            }
            None => return None,
        };
        let rest = self.pending.split_off(cut);
        let done = std::mem::replace(&mut self.pending, rest);
        Some(self.redactor.redact(&done).into_owned())
    }

    /// Returns the masked rest of the stream (a last line without its newline), if any.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        (!rest.is_empty()).then(|| self.redactor.redact(&rest).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.sbk-canary-7Qx9ZmT2vLr4Kp8W";

    #[test]
    fn a_whole_secret_and_any_long_piece_of_it_are_masked() {
        let redactor = Redactor::new([TOKEN]);
        assert_eq!(redactor.redact(&format!("token={TOKEN}!")), "token=***!");
        assert_eq!(
            redactor.redact("prefix eyJhbGciOiJSUz cut"),
            "prefix *** cut"
        );
        assert_eq!(redactor.redact("mid 7Qx9ZmT2vLr4 end"), "mid *** end");
        assert_eq!(redactor.redact("a, b 7Qx9Zm c"), "a, b 7Qx9Zm c");
        assert!(matches!(redactor.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_and_empty_secrets() {
        assert_eq!(Redactor::new(["abc"]).redact("xabcx abc"), "x***x ***");
        assert!(Redactor::new([""]).is_empty());
        assert_eq!(Redactor::new([""]).redact("text"), "text");
    }

    #[test]
    fn a_secret_cut_by_frames_is_masked_once_its_line_is_complete() {
        let mut lines = LineRedactor::new(Redactor::new([TOKEN]));
        let (head, tail) = TOKEN.split_at(5);
        assert_eq!(
            lines.push(&format!("INFO: ok\nFATAL: {head}")),
            Some("INFO: ok\n".into())
        );
        assert_eq!(
            lines.push(&format!("{tail} refused\nnext")),
            Some("FATAL: *** refused\n".into())
        );
        assert_eq!(lines.finish(), Some("next".into()));
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn an_endless_line_is_passed_on_in_bounded_parts() {
        let mut lines = LineRedactor::new(Redactor::new([TOKEN]));
        let mut out = String::new();
        for _ in 0..10 {
            if let Some(part) = lines.push(&"x".repeat(MAX_PENDING / 2)) {
                out.push_str(&part);
            }
            assert!(lines.pending.len() <= MAX_PENDING);
        }
        out.push_str(&lines.finish().unwrap_or_default());
        assert_eq!(out.len(), 10 * MAX_PENDING / 2);
    }
}
