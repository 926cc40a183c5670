//! Git repository addresses a runner may clone.

use crate::Invalid;
use std::fmt;

/// A git repository URL: `https://`, `http://`, `ssh://`, `git://`, `file://`, or the scp-like
/// `user@host:path`. Embedded passwords are refused so that no secret is stored or shown as
/// part of a project's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl(String);

impl RepoUrl {
    /// Validates `raw` (surrounding whitespace ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let url = raw.trim();
        if url.is_empty() {
            return Err(Invalid::new("repository URL must not be empty"));
        }
        if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::new(
                "repository URL must be at most 2048 characters with no spaces",
            ));
        }
        // git reads an argument starting with `-` as an option (`--upload-pack=…` runs a
        // command); no repository address starts that way.
        if url.starts_with('-') {
            return Err(Invalid::new("repository URL must not start with '-'"));
        }
        if let Some((scheme, rest)) = url.split_once("://") {
            if !matches!(
                scheme.to_ascii_lowercase().as_str(),
                "https" | "http" | "ssh" | "git" | "file"
            ) {
                return Err(Invalid::new(format!(
                    "repository URL scheme '{}' is not supported: use https, http, ssh, git or file",
                    scheme.escape_debug()
                )));
            }
            if scheme.eq_ignore_ascii_case("file") {
                if !rest.starts_with('/') {
                    return Err(Invalid::new(
                        "a file:// repository URL needs an absolute path, like file:///srv/git/repo",
                    ));
                }
            } else {
                let authority = rest.split('/').next().unwrap_or_default();
                if authority.is_empty() {
                    return Err(Invalid::new("repository URL has no host"));
                }
                if let Some((userinfo, _)) = authority.rsplit_once('@') {
                    if userinfo.contains(':') {
                        return Err(Invalid::new(
                            "repository URL must not contain a password; use a deploy key instead",
                        ));
                    }
                    // `https://<token>@host/…` carries a credential as the user name; it would
                    // be shown in settings, build JSON and job environments.
                    if scheme.to_ascii_lowercase().starts_with("http") {
                        return Err(Invalid::new(
                            "an https repository URL must not contain credentials; use a deploy key instead",
                        ));
                    }
                }
            }
            return Ok(RepoUrl(url.to_owned()));
        }
        // scp-like syntax: [user@]host:path. `transport::address` (git's remote helpers, such
        // as `ext::` or `fd::`) is not an address a project may use.
        match url.split_once(':') {
            Some((_, path)) if path.starts_with(':') => Err(Invalid::new(
                "repository URL must not name a git transport (transport::address)",
            )),
            Some((host, path)) if !host.is_empty() && !path.is_empty() && !host.contains('/') => {
                Ok(RepoUrl(url.to_owned()))
            }
            _ => Err(Invalid::new(
                "repository URL must look like https://host/org/repo.git, git@host:org/repo.git or file:///path/to/repo",
            )),
        }
    }

    /// The clone URL a project on a public host has when none is given:
    /// `https://github.com/ORG/REPO.git` or `https://bitbucket.org/ORG/REPO.git`.
    pub fn default_for(slug: &crate::ProjectSlug) -> RepoUrl {
        let host = match slug.vcs() {
            crate::Vcs::GitHub => "github.com",
            crate::Vcs::Bitbucket => "bitbucket.org",
        };
        RepoUrl(format!("https://{host}/{}/{}.git", slug.org(), slug.repo()))
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_forms_are_accepted() {
        for ok in [
            "https://github.com/acme/widgets.git",
            "git@github.com:acme/widgets.git",
            "ssh://git@host:22/acme/w.git",
            "file:///tmp/repo",
            "FILE:///tmp/repo",
        ] {
            assert!(RepoUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn the_default_follows_the_vcs_host() {
        let gh = crate::ProjectSlug::parse("github/Acme/W").unwrap();
        assert_eq!(
            RepoUrl::default_for(&gh).as_str(),
            "https://github.com/Acme/W.git"
        );
        let bb = crate::ProjectSlug::parse("bb/o/r").unwrap();
        assert_eq!(
            RepoUrl::default_for(&bb).as_str(),
            "https://bitbucket.org/o/r.git"
        );
        assert!(RepoUrl::parse(RepoUrl::default_for(&gh).as_str()).is_ok());
    }

    #[test]
    fn bad_forms_are_refused_with_a_reason() {
        for bad in [
            "",
            "foo",
            "ftp://x/y",
            "file://relative",
            "https://u:p@host/r",
            "https:///r",
            "a b:c",
            // git would read these as options or remote helpers and run commands.
            "--upload-pack=:;touch${IFS}/tmp/pwned;#",
            "-oProxyCommand=x:y",
            "ext::sh -c touch% /tmp/pwned",
            "fd::3",
            "https://ghp_token@github.com/acme/w.git",
        ] {
            assert!(RepoUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(
            RepoUrl::parse("https://u:p@host/r")
                .unwrap_err()
                .0
                .contains("password")
        );
    }
}
