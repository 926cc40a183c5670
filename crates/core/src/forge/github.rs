//! GitHub's payloads, and Gitea's and Forgejo's, which follow GitHub's shape.

use super::{Forge, GitTarget, HookEvent, PrAction, PullRequest, Push, is_null_commit, json};
use crate::Invalid;
use serde::Deserialize;

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    login: String,
    /// Gitea's pusher has `username` (and `login`); GitHub's pusher only `name`.
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
}

impl Account {
    fn name(self) -> String {
        [self.login, self.username, self.name]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct PushBody {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    deleted: bool,
    pusher: Option<Account>,
    sender: Option<Account>,
}

#[derive(Deserialize)]
struct Repo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    fork: bool,
}

#[derive(Deserialize)]
struct Side {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    repo: Option<Repo>,
}

#[derive(Deserialize)]
struct Pr {
    html_url: String,
    head: Side,
    base: Side,
    user: Option<Account>,
}

#[derive(Deserialize)]
struct PrBody {
    action: String,
    number: u64,
    pull_request: Pr,
    sender: Option<Account>,
}

pub(super) fn parse(forge: Forge, event: &str, body: &[u8]) -> Result<HookEvent, Invalid> {
    match event {
        "push" => {
            let p: PushBody = json(body)?;
            let Some(target) = GitTarget::from_ref(&p.git_ref) else {
                return Ok(HookEvent::Other(format!("push to {}", p.git_ref)));
            };
            let deleted = p.deleted || is_null_commit(&p.after);
            let pusher = p.sender.or(p.pusher).map(Account::name).unwrap_or_default();
            Ok(HookEvent::Push(vec![Push {
                target,
                after: (!deleted).then_some(p.after),
                pusher,
            }]))
        }
        "pull_request" => {
            let p: PrBody = json(body)?;
            let action = match (forge, p.action.as_str()) {
                (_, "opened" | "ready_for_review") => PrAction::Opened,
                (_, "reopened") => PrAction::Reopened,
                (Forge::GitHub, "synchronize") | (_, "synchronized") => PrAction::Updated,
                (_, "closed") => PrAction::Closed,
                _ => PrAction::Other,
            };
            let pr = p.pull_request;
            let head_repo = pr.head.repo.as_ref();
            let base_repo = pr.base.repo.as_ref();
            // A fork's head repository is another one than the base's; GitHub marks it `fork`
            // too, but a fork's pull request into its own parent is what matters here.
            let fork = match (head_repo, base_repo) {
                // An unnamed side cannot be shown to be the base: it counts as a fork.
                (Some(h), Some(b)) => {
                    h.full_name.is_empty() || !h.full_name.eq_ignore_ascii_case(&b.full_name)
                }
                (None, _) => true, // the fork was deleted
                (Some(h), None) => h.fork,
            };
            Ok(HookEvent::PullRequest(PullRequest {
                action,
                number: p.number,
                url: pr.html_url,
                head_branch: pr.head.git_ref,
                head_sha: pr.head.sha,
                head_repo: head_repo.map(|r| r.name.clone()).unwrap_or_default(),
                fork,
                author: pr.user.map(Account::name).unwrap_or_default(),
                sender: p.sender.map(Account::name).unwrap_or_default(),
                fork_ref: Some(format!("refs/pull/{}/head", p.number)),
            }))
        }
        other => Ok(HookEvent::Other(other.to_owned())),
    }
}
