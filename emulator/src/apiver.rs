//! The library's `apiVersion` and the client feature gates it controls.
//!
//! Clients compare `apiVersion` with semver precedence: `>= 2.0.0-alpha.1` enables the v2
//! upload endpoints, `>= 2.0.0-alpha.2` the v2 arch-aware tags; a missing version means v1
//! only (PROTOCOL.md §1.2). The emulator serves exactly the endpoints its announced version
//! implies, so a v1-only emulator answers 404 on `v2/...` as an old server would.

use std::cmp::Ordering;

/// The version that enables v2 uploads.
pub const V2_UPLOAD: &str = "2.0.0-alpha.1";
/// The version that enables v2 arch tags.
pub const V2_ARCH_TAGS: &str = "2.0.0-alpha.2";

/// A parsed semantic version (build metadata ignored, as semver precedence requires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion {
    core: [u64; 3],
    pre: Vec<String>,
}

impl ApiVersion {
    /// Parses `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.split('+').next().unwrap_or(text);
        let (core_text, pre_text) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let mut core = [0_u64; 3];
        let mut parts = core_text.split('.');
        for slot in &mut core {
            *slot = parts.next()?.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre_text {
            Some("") => return None,
            Some(pre) => pre.split('.').map(str::to_owned).collect(),
            None => Vec::new(),
        };
        Some(Self { core, pre })
    }

    /// Returns true if this version is at least `other` (semver precedence).
    pub fn at_least(&self, other: &str) -> bool {
        Self::parse(other).is_some_and(|other| self.cmp(&other) != Ordering::Less)
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            })
    }
}

/// Compares pre-release identifiers field by field: numeric fields numerically and below
/// alphanumeric ones, a shorter list first when all shared fields are equal.
fn compare_prerelease(left: &[String], right: &[String]) -> Ordering {
    for (a, b) in left.iter().zip(right) {
        let ordering = match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => a.cmp(b),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    left.len().cmp(&right.len())
}

/// The library features that a configured `apiVersion` turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `v2/imagefile/...` upload endpoints.
    pub v2_upload: bool,
    /// `v2/tags/...` arch-aware tag endpoints.
    pub v2_arch_tags: bool,
}

impl Features {
    /// Derives the features from the announced version (`None` = v1 only).
    pub fn from_version(version: Option<&ApiVersion>) -> Self {
        Self {
            v2_upload: version.is_some_and(|v| v.at_least(V2_UPLOAD)),
            v2_arch_tags: version.is_some_and(|v| v.at_least(V2_ARCH_TAGS)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_semver_precedence() {
        let alpha2 = ApiVersion::parse("2.0.0-alpha.2").unwrap();
        assert!(alpha2.at_least(V2_UPLOAD));
        assert!(alpha2.at_least(V2_ARCH_TAGS));
        let alpha1 = ApiVersion::parse("2.0.0-alpha.1").unwrap();
        assert!(alpha1.at_least(V2_UPLOAD));
        assert!(!alpha1.at_least(V2_ARCH_TAGS));
        assert!(ApiVersion::parse("2.0.0").unwrap().at_least(V2_ARCH_TAGS));
        assert!(!ApiVersion::parse("1.9.9").unwrap().at_least(V2_UPLOAD));
        assert!(
            ApiVersion::parse("2.0.0-alpha.10").unwrap()
                > ApiVersion::parse("2.0.0-alpha.2").unwrap()
        );
        assert!(ApiVersion::parse("v2").is_none());
        assert!(ApiVersion::parse("2.0").is_none());
    }

    #[test]
    fn features_follow_the_version() {
        assert_eq!(
            Features::from_version(None),
            Features {
                v2_upload: false,
                v2_arch_tags: false
            }
        );
        let alpha1 = ApiVersion::parse(V2_UPLOAD);
        assert_eq!(
            Features::from_version(alpha1.as_ref()),
            Features {
                v2_upload: true,
                v2_arch_tags: false
            }
        );
    }
}
