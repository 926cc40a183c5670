//! Git branch names, as far as circlet needs to trust them.

use crate::Invalid;

/// A git branch name: 1–255 characters, no whitespace or control characters, none of
/// `~ ^ : ? * [ \`, no `..`, not starting with `-` or `/`, not ending with `/` or `.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BranchName(String);

impl BranchName {
    /// Validates `raw` (surrounding whitespace ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let b = raw.trim();
        let bad = |why: &str| Err(Invalid::new(format!("branch name {why}")));
        if b.is_empty() {
            return bad("must not be empty");
        }
        if b.len() > 255 {
            return bad("must be at most 255 characters");
        }
        if b.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
        {
            return bad("must not contain spaces or any of ~ ^ : ? * [ \\");
        }
        if b.contains("..") || b.contains("//") || b.contains("@{") {
            return bad("must not contain '..', '//' or '@{'");
        }
        if b.starts_with(['-', '/']) || b.ends_with('/') || b.ends_with(".lock") || b.ends_with('.')
        {
            return bad("must not start with '-' or '/', nor end with '/', '.' or '.lock'");
        }
        Ok(BranchName(b.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_branches_pass_and_bad_ones_fail() {
        for ok in ["main", "feature/x-1", "release-2.0", "ünïcode"] {
            assert!(BranchName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a b", "a..b", "-x", "/x", "x/", "x.lock", "a:b", "a~1", "a//b",
        ] {
            assert!(BranchName::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Any input: no panic; what is accepted is the trimmed input, obeys every rule and
        /// parses again to itself.
        #[test]
        fn accepted_names_follow_the_rules(raw in "\\PC{0,40}|[ a-z./~^:?*\\[\\\\@{-]{0,20}") {
            if let Ok(b) = BranchName::parse(&raw) {
                let s = b.as_str();
                proptest::prop_assert_eq!(s, raw.trim());
                proptest::prop_assert!(!s.is_empty() && s.len() <= 255);
                proptest::prop_assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c)));
                let forbidden = ["..", "//", "@{"];
                proptest::prop_assert!(!forbidden.iter().any(|f| s.contains(f)), "{:?}", s);
                proptest::prop_assert!(!s.starts_with(['-', '/']) && !s.ends_with('/') && !s.ends_with('.') && !s.ends_with(".lock"));
                proptest::prop_assert_eq!(BranchName::parse(s).map(|b| b.0), Ok(s.to_owned()));
            }
        }

        /// Ordinary names made of path segments are accepted as they are.
        #[test]
        fn segment_names_are_accepted(segments in proptest::collection::vec("[a-z0-9][a-z0-9_-]{0,8}", 1..4)) {
            let name = segments.join("/");
            proptest::prop_assert_eq!(BranchName::parse(&name).map(|b| b.0), Ok(name.clone()));
        }
    }
}
