//! The path of a stored artifact: relative, `/`-separated, never able to name a place outside
//! its build.
//!
//! A runner names each artifact it uploads (`store_artifacts` destination + the file's path
//! below the stored directory). The server stores it under its build's prefix, so the one
//! guarantee that matters is that no accepted path can climb out of that prefix or be read as
//! absolute by any store: [`ArtifactPath::parse`] refuses rather than repairs (`..`, `.`, empty
//! segments, a leading `/`, backslashes, NUL and other control characters), so what is stored is
//! exactly what the runner asked for, or nothing.

use crate::Invalid;
use std::fmt;

/// The longest artifact path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// The longest single segment accepted, in bytes (a common file-name limit).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// A validated artifact path: one or more non-empty segments joined by `/`, none of them `.`
/// or `..`, with no backslash and no control character anywhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArtifactPath(String);

impl ArtifactPath {
    /// Checks `raw` (already percent-decoded) and keeps it as is; a clear message otherwise.
    pub fn parse(raw: &str) -> Result<ArtifactPath, Invalid> {
        if raw.is_empty() {
            return Err(Invalid::new("An artifact path must not be empty"));
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(Invalid::new(format!(
                "An artifact path may be at most {MAX_PATH_BYTES} bytes"
            )));
        }
        if raw.starts_with('/') {
            return Err(Invalid::new(
                "An artifact path must be relative (it starts with '/')",
            ));
        }
        if raw.contains('\\') {
            return Err(Invalid::new(
                "An artifact path must not contain a backslash; separate directories with '/'",
            ));
        }
        if raw.contains('\0') {
            return Err(Invalid::new("An artifact path must not contain NUL"));
        }
        if raw.chars().any(char::is_control) {
            return Err(Invalid::new(
                "An artifact path must not contain control characters",
            ));
        }
        for segment in raw.split('/') {
            match segment {
                "" => {
                    return Err(Invalid::new(
                        "An artifact path must not contain empty segments ('//' or a trailing '/')",
                    ));
                }
                "." | ".." => {
                    return Err(Invalid::new(
                        "An artifact path must not contain '.' or '..' segments",
                    ));
                }
                s if s.len() > MAX_SEGMENT_BYTES => {
                    return Err(Invalid::new(format!(
                        "Each part of an artifact path may be at most {MAX_SEGMENT_BYTES} bytes"
                    )));
                }
                _ => {}
            }
        }
        Ok(ArtifactPath(raw.to_owned()))
    }

    /// The path, `/`-separated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its segments, in order; never empty, none empty, `.` or `..`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last segment: the file's name.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_paths_are_kept_as_given() {
        for ok in [
            "report.txt",
            "test-results/junit.xml",
            "a/b/c/d.tar.gz",
            "with space/ü/100%/#1?.log",
            "...",
            ".hidden/..x/x..",
        ] {
            let p = ArtifactPath::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(p.as_str(), ok);
        }
        assert_eq!(
            ArtifactPath::parse("a/b/c.txt").unwrap().file_name(),
            "c.txt"
        );
    }

    #[test]
    fn climbing_absolute_and_odd_paths_are_refused() {
        for bad in [
            "",
            "..",
            ".",
            "../../etc/passwd",
            "a/../../b",
            "a/./b",
            "a/..",
            "/etc/passwd",
            "//x",
            "a//b",
            "a/",
            "a\\..\\b",
            "..\\x",
            "C:\\x",
            "a\0b",
            "a\nb",
            "a\rb",
            "a\u{7f}b",
        ] {
            assert!(ArtifactPath::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(ArtifactPath::parse(&"a".repeat(256)).is_err());
        assert!(ArtifactPath::parse(&"a/".repeat(600)).is_err());
        assert!(ArtifactPath::parse(&"a".repeat(255)).is_ok());
    }

    /// Where a path leads when resolved lexically from a base, as a filesystem or an object
    /// key layer might: `None` when it climbs above the base or is absolute.
    fn resolve(path: &str) -> Option<Vec<&str>> {
        if path.starts_with('/') {
            return None;
        }
        let mut stack: Vec<&str> = Vec::new();
        for s in path.split(['/', '\\']) {
            match s {
                "" | "." => {}
                ".." => {
                    stack.pop()?;
                }
                s => stack.push(s),
            }
        }
        Some(stack)
    }

    proptest! {
        #[test]
        fn no_accepted_path_escapes_or_changes_meaning(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("..".to_owned()),
                    Just(".".to_owned()),
                    Just(String::new()),
                    Just("\\".to_owned()),
                    Just("..\\..".to_owned()),
                    Just("\0".to_owned()),
                    "[a-z.]{1,4}",
                    "\\PC{1,6}",
                ],
                0..8,
            ),
            leading_slash in any::<bool>(),
        ) {
            let raw = format!("{}{}", if leading_slash { "/" } else { "" }, parts.join("/"));
            if let Ok(p) = ArtifactPath::parse(&raw) {
                // Accepted: resolving it never climbs, and resolves to exactly its segments.
                let resolved = resolve(p.as_str());
                prop_assert!(resolved.is_some(), "{raw:?} escapes");
                let segments: Vec<&str> = p.segments().collect();
                prop_assert_eq!(resolved.unwrap(), segments.clone());
                prop_assert!(!segments.is_empty());
                prop_assert!(segments.iter().all(|s| !s.is_empty() && *s != "." && *s != ".."));
                prop_assert!(!p.as_str().contains(['\\', '\0']));
            }
        }

        #[test]
        fn any_path_with_a_dot_dot_segment_is_refused(
            before in "[a-z]{0,3}(/[a-z]{1,3}){0,2}",
            after in "([a-z]{1,3}/){0,2}[a-z]{0,3}",
        ) {
            let raw = if before.is_empty() { format!("../{after}") } else { format!("{before}/../{after}") };
            prop_assert!(ArtifactPath::parse(&raw).is_err(), "{raw:?}");
        }
    }
}
