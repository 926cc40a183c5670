//! What a forge's webhook says, as far as building is concerned: which forge, whether the
//! signature holds ([`signature`]), what happened (a push, a pull request; [`HookEvent`]) read
//! from each forge's own payload shape, and what circlet does about it ([`decide`]).
//!
//! Pure: the bytes come from the server, the decision goes to the use case that stores it.

mod bitbucket;
pub mod decide;
mod github;
mod gitlab;
pub mod signature;
pub mod status;

use crate::Invalid;

/// The largest webhook body read. GitHub caps its payloads at 25 MB, but a push's payload
/// carries at most 20 commits; 2 MiB is far above any build-relevant payload seen.
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;

/// A forge circlet takes webhooks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forge {
    /// GitHub (and GitHub Enterprise Server).
    GitHub,
    /// Gitea, and Forgejo which keeps Gitea's webhook format.
    Gitea,
    /// GitLab.
    GitLab,
    /// Bitbucket Cloud.
    Bitbucket,
}

impl Forge {
    /// Every forge, in the order the settings page lists them.
    pub const ALL: [Forge; 4] = [Forge::GitHub, Forge::Gitea, Forge::GitLab, Forge::Bitbucket];

    /// Reads the forge's name in a webhook URL: `github`, `gitea` (or `forgejo`), `gitlab`,
    /// `bitbucket`.
    pub fn parse(raw: &str) -> Result<Forge, Invalid> {
        match raw {
            "github" => Ok(Forge::GitHub),
            "gitea" | "forgejo" => Ok(Forge::Gitea),
            "gitlab" => Ok(Forge::GitLab),
            "bitbucket" => Ok(Forge::Bitbucket),
            _ => Err(Invalid::new(format!(
                "unknown forge '{}': use github, gitea, forgejo, gitlab or bitbucket",
                raw.escape_debug()
            ))),
        }
    }

    /// The name used in URLs and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::Gitea => "gitea",
            Forge::GitLab => "gitlab",
            Forge::Bitbucket => "bitbucket",
        }
    }

    /// The name people know it by.
    pub fn title(self) -> &'static str {
        match self {
            Forge::GitHub => "GitHub",
            Forge::Gitea => "Gitea / Forgejo",
            Forge::GitLab => "GitLab",
            Forge::Bitbucket => "Bitbucket",
        }
    }

    /// The header naming the event.
    pub fn event_header(self) -> &'static str {
        match self {
            Forge::GitHub => "x-github-event",
            Forge::Gitea => "x-gitea-event",
            Forge::GitLab => "x-gitlab-event",
            Forge::Bitbucket => "x-event-key",
        }
    }

    /// The headers naming the delivery, the first present wins (a redelivery keeps its id).
    pub fn delivery_headers(self) -> &'static [&'static str] {
        match self {
            Forge::GitHub => &["x-github-delivery"],
            Forge::Gitea => &["x-gitea-delivery", "x-forgejo-delivery"],
            Forge::GitLab => &[
                "x-gitlab-event-uuid",
                "x-gitlab-webhook-uuid",
                "idempotency-key",
            ],
            Forge::Bitbucket => &["x-request-uuid", "x-hook-uuid"],
        }
    }

    /// The header carrying the signature (GitLab: the shared token itself).
    pub fn signature_header(self) -> &'static str {
        match self {
            Forge::GitHub => "x-hub-signature-256",
            Forge::Gitea => "x-gitea-signature",
            Forge::GitLab => "x-gitlab-token",
            Forge::Bitbucket => "x-hub-signature",
        }
    }

    /// The v1.1 `why` of the builds it starts (CircleCI says `github` and `bitbucket`).
    pub fn why(self) -> &'static str {
        self.as_str()
    }
}

/// A branch or a tag a push moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitTarget {
    /// `refs/heads/<name>`.
    Branch(String),
    /// `refs/tags/<name>`.
    Tag(String),
}

impl GitTarget {
    /// Reads a full ref name; `None` for any other kind of ref (notes, pull refs, …).
    pub fn from_ref(full: &str) -> Option<GitTarget> {
        if let Some(b) = full.strip_prefix("refs/heads/") {
            Some(GitTarget::Branch(b.to_owned()))
        } else {
            full.strip_prefix("refs/tags/")
                .map(|t| GitTarget::Tag(t.to_owned()))
        }
    }
}

/// A push: a branch or tag moved, was made, or was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// What moved.
    pub target: GitTarget,
    /// The commit it now points at; `None` when it was deleted.
    pub after: Option<String>,
    /// Who pushed (the forge's login).
    pub pusher: String,
}

/// What happened to a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrAction {
    /// Opened (or made ready for review).
    Opened,
    /// Reopened.
    Reopened,
    /// New commits on its head (GitHub `synchronize`, Gitea `synchronized`, GitLab `update`
    /// with `oldrev`, Bitbucket `pullrequest:updated`).
    Updated,
    /// Closed or merged.
    Closed,
    /// Anything else (edited, labeled, reviewed, …): nothing to build.
    Other,
}

/// A pull (GitLab: merge) request event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// What happened.
    pub action: PrAction,
    /// Its number in the base repository.
    pub number: u64,
    /// Its page (`CIRCLE_PULL_REQUEST`).
    pub url: String,
    /// The branch it proposes, in the head repository.
    pub head_branch: String,
    /// The head commit.
    pub head_sha: String,
    /// The head repository's name (`CIRCLE_PR_REPONAME`).
    pub head_repo: String,
    /// Whether the head lives in another repository (a fork).
    pub fork: bool,
    /// Who opened it (`CIRCLE_PR_USERNAME`).
    pub author: String,
    /// Who caused this event.
    pub sender: String,
    /// The ref in the base repository that holds a fork's head commit (`refs/pull/N/head`);
    /// `None` where the forge publishes none (Bitbucket).
    pub fork_ref: Option<String>,
}

/// What a webhook delivery says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookEvent {
    /// Branches or tags were pushed, made or deleted (Bitbucket sends several in one delivery).
    Push(Vec<Push>),
    /// Something happened to a pull request.
    PullRequest(PullRequest),
    /// An event that starts nothing (a ping, an issue comment, …), and its name.
    Other(String),
}

/// Reads a delivery's body, given the forge and the value of its event header.
pub fn parse(forge: Forge, event: &str, body: &[u8]) -> Result<HookEvent, Invalid> {
    let event = event.trim();
    let parsed = match forge {
        Forge::GitHub | Forge::Gitea => github::parse(forge, event, body),
        Forge::GitLab => gitlab::parse(event, body),
        Forge::Bitbucket => bitbucket::parse(event, body),
    }?;
    check(&parsed)?;
    Ok(parsed)
}

/// A payload's names and commits pass the checks circlet's own inputs pass: a branch named in
/// a payload becomes a git argument and an environment variable.
fn check(event: &HookEvent) -> Result<(), Invalid> {
    let not_a_commit =
        |sha: &str| Invalid::new(format!("'{}' is not a commit id", sha.escape_debug()));
    match event {
        HookEvent::Push(pushes) => {
            for p in pushes {
                let (GitTarget::Branch(name) | GitTarget::Tag(name)) = &p.target;
                exact_name(name, "the pushed ref")?;
                if let Some(sha) = p.after.as_deref()
                    && !is_commit_id(sha, 40)
                {
                    return Err(not_a_commit(sha));
                }
            }
        }
        HookEvent::PullRequest(pr) => {
            exact_name(&pr.head_branch, "the pull request's head")?;
            if i64::try_from(pr.number).is_err() {
                return Err(Invalid::new("the pull request's number is out of range"));
            }
            // Bitbucket names a pull request's head by its first 12 characters.
            if !is_commit_id(&pr.head_sha, 12) {
                return Err(not_a_commit(&pr.head_sha));
            }
        }
        HookEvent::Other(_) => {}
    }
    Ok(())
}

/// `name` is a valid branch or tag name as given (not only once trimmed).
pub fn exact_name(name: &str, what: &str) -> Result<(), Invalid> {
    match crate::BranchName::parse(name) {
        Ok(b) if b.as_str() == name => Ok(()),
        Ok(_) => Err(Invalid::new(format!(
            "{what}: a name must not start or end with spaces"
        ))),
        Err(e) => Err(Invalid::new(format!("{what}: {e}"))),
    }
}

/// A commit id of at least `shortest` (and at most 64, SHA-256's) lowercase hexadecimal
/// characters.
pub fn is_commit_id(s: &str, shortest: usize) -> bool {
    (shortest..=64).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A commit id of zeros: what forges send as `after` when a ref is deleted.
fn is_null_commit(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == b'0')
}

/// Whether a commit message asks CircleCI not to build it: `[ci skip]` or `[skip ci]`
/// anywhere in its subject or body, in any case.
pub fn asks_to_skip(subject: &str, body: &str) -> bool {
    let marked = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.contains("[ci skip]") || s.contains("[skip ci]")
    };
    marked(subject) || marked(body)
}

/// The JSON of a payload, or the reason it is not JSON.
fn json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, Invalid> {
    serde_json::from_slice(body)
        .map_err(|e| Invalid::new(format!("the payload is not what this event carries: {e}")))
}

#[cfg(test)]
mod tests;
