//! Project slugs: `vcs/org/repo`, as CircleCI spells them in every URL.

use crate::Invalid;
use std::fmt;

/// The version-control host a project lives on. Both spellings CircleCI accepts parse to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vcs {
    /// `gh` or `github`.
    GitHub,
    /// `bb` or `bitbucket`.
    Bitbucket,
}

impl Vcs {
    /// Accepts `gh`, `github`, `bb`, `bitbucket` in any case.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.to_ascii_lowercase().as_str() {
            "gh" | "github" => Ok(Vcs::GitHub),
            "bb" | "bitbucket" => Ok(Vcs::Bitbucket),
            _ => Err(Invalid::new(format!(
                "unknown VCS type '{}': use gh, github, bb or bitbucket",
                raw.escape_debug()
            ))),
        }
    }

    /// The short form used in slugs and stored: `gh` or `bb`.
    pub fn short(self) -> &'static str {
        match self {
            Vcs::GitHub => "gh",
            Vcs::Bitbucket => "bb",
        }
    }

    /// The long form used by API v1.1 (`vcs_type`): `github` or `bitbucket`.
    pub fn long(self) -> &'static str {
        match self {
            Vcs::GitHub => "github",
            Vcs::Bitbucket => "bitbucket",
        }
    }
}

/// A project's identity: VCS, organization and repository name.
///
/// Comparison ignores ASCII case, as the hosts do; [`ProjectSlug::key`] is the canonical
/// lowercase form used for lookups, while `org` and `repo` keep the spelling they were created with.
#[derive(Debug, Clone)]
pub struct ProjectSlug {
    vcs: Vcs,
    org: String,
    repo: String,
}

fn check_part(what: &str, raw: &str) -> Result<(), Invalid> {
    if raw.is_empty() {
        return Err(Invalid::new(format!("{what} name must not be empty")));
    }
    if raw.len() > 100 {
        return Err(Invalid::new(format!(
            "{what} name must be at most 100 characters"
        )));
    }
    if raw == "." || raw == ".." {
        return Err(Invalid::new(format!("{what} name must not be '.' or '..'")));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Invalid::new(format!(
            "{what} name may contain only letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

/// Parses an organization as `vcs/org` (`gh/acme`), the way a project slug names one.
pub fn parse_organization(raw: &str) -> Result<(Vcs, String), Invalid> {
    let mut parts = raw.trim().split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(vcs), Some(org), None) => {
            let vcs = Vcs::parse(vcs)?;
            check_part("organization", org)?;
            Ok((vcs, org.to_owned()))
        }
        _ => Err(Invalid::new(
            "organization must look like vcs/org, for example gh/acme",
        )),
    }
}

impl ProjectSlug {
    /// Builds a slug from its three URL segments.
    pub fn from_parts(vcs: &str, org: &str, repo: &str) -> Result<Self, Invalid> {
        let vcs = Vcs::parse(vcs)?;
        check_part("organization", org)?;
        check_part("repository", repo)?;
        Ok(ProjectSlug {
            vcs,
            org: org.to_owned(),
            repo: repo.to_owned(),
        })
    }

    /// Parses `vcs/org/repo` (already percent-decoded, so `gh%2Fo%2Fr` arrives as `gh/o/r`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut parts = raw.trim().split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(vcs), Some(org), Some(repo), None) => Self::from_parts(vcs, org, repo),
            _ => Err(Invalid::new(
                "project slug must look like vcs/org/repo, for example gh/acme/widgets",
            )),
        }
    }

    /// The VCS host.
    pub fn vcs(&self) -> Vcs {
        self.vcs
    }

    /// The organization, as created.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// The repository name, as created.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The repository's page on its forge, as API v1.1's `vcs_url` gives it:
    /// `https://github.com/org/repo` or `https://bitbucket.org/org/repo`.
    pub fn web_url(&self) -> String {
        let host = match self.vcs {
            Vcs::GitHub => "github.com",
            Vcs::Bitbucket => "bitbucket.org",
        };
        format!("https://{host}/{}/{}", self.org, self.repo)
    }

    /// The canonical lookup key: short VCS, lowercase org and repo.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.vcs.short(),
            self.org.to_ascii_lowercase(),
            self.repo.to_ascii_lowercase()
        )
    }
}

impl PartialEq for ProjectSlug {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ProjectSlug {}

impl fmt::Display for ProjectSlug {
    /// The slug as shown: `gh/Org/Repo`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.vcs.short(), self.org, self.repo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn organizations_parse_as_vcs_and_name() {
        assert_eq!(
            parse_organization(" github/Acme ").unwrap(),
            (Vcs::GitHub, "Acme".to_owned())
        );
        for bad in ["gh", "gh/acme/api", "svn/acme", "gh/", "gh/a b"] {
            assert!(parse_organization(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn both_spellings_resolve_to_one_canonical_slug() {
        let a = ProjectSlug::parse("github/Acme/Widgets").unwrap();
        let b = ProjectSlug::parse("gh/acme/widgets").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.key(), "gh/acme/widgets");
        assert_eq!(a.to_string(), "gh/Acme/Widgets");
        assert_eq!(ProjectSlug::parse("BB/o/r").unwrap().vcs(), Vcs::Bitbucket);
        assert_eq!(Vcs::parse("bitbucket").unwrap().long(), "bitbucket");
    }

    #[test]
    fn malformed_slugs_are_refused_with_a_reason() {
        for bad in [
            "", "gh/o", "gh/o/r/x", "svn/o/r", "gh//r", "gh/o/..", "gh/o/r r", "gh/o%/r",
        ] {
            let err = ProjectSlug::parse(bad).expect_err(bad);
            assert!(!err.0.is_empty());
        }
        assert!(
            ProjectSlug::parse("svn/o/r")
                .unwrap_err()
                .0
                .contains("unknown VCS")
        );
    }

    proptest! {
        #[test]
        fn valid_slugs_round_trip(org in "[A-Za-z0-9][A-Za-z0-9._-]{0,30}", repo in "[A-Za-z0-9_-]{1,30}") {
            prop_assume!(org != "." && org != "..");
            let s = ProjectSlug::from_parts("gh", &org, &repo).unwrap();
            let again = ProjectSlug::parse(&s.to_string()).unwrap();
            prop_assert_eq!(again.org(), org.as_str());
            prop_assert_eq!(again.key(), s.key());
        }

        #[test]
        fn parsing_never_panics(raw in "\\PC{0,60}") {
            let _ = ProjectSlug::parse(&raw);
        }
    }
}
