//! GitLab's payloads: `Push Hook`, `Tag Push Hook`, `Merge Request Hook`.

use super::{GitTarget, HookEvent, PrAction, PullRequest, Push, is_null_commit, json};
use crate::Invalid;
use serde::Deserialize;

#[derive(Deserialize)]
struct PushBody {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    after: String,
    checkout_sha: Option<String>,
    #[serde(default)]
    user_username: String,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
struct SourceProject {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Commit {
    id: String,
}

#[derive(Deserialize)]
struct Attributes {
    iid: u64,
    url: String,
    source_branch: String,
    source_project_id: i64,
    target_project_id: i64,
    source: Option<SourceProject>,
    last_commit: Commit,
    #[serde(default)]
    action: String,
    /// Present on an `update` that brought new commits.
    oldrev: Option<String>,
}

#[derive(Deserialize)]
struct MergeRequestBody {
    user: Option<User>,
    object_attributes: Attributes,
}

pub(super) fn parse(event: &str, body: &[u8]) -> Result<HookEvent, Invalid> {
    match event {
        "Push Hook" | "Tag Push Hook" => {
            let p: PushBody = json(body)?;
            let Some(target) = GitTarget::from_ref(&p.git_ref) else {
                return Ok(HookEvent::Other(format!("push to {}", p.git_ref)));
            };
            // A deleted ref has `after` of zeros and no `checkout_sha`.
            let after = match p.checkout_sha {
                Some(sha) if !is_null_commit(&p.after) => Some(sha),
                _ => None,
            };
            Ok(HookEvent::Push(vec![Push {
                target,
                after,
                pusher: p.user_username,
            }]))
        }
        "Merge Request Hook" => {
            let m: MergeRequestBody = json(body)?;
            let a = m.object_attributes;
            let action = match a.action.as_str() {
                "open" => PrAction::Opened,
                "reopen" => PrAction::Reopened,
                "update" if a.oldrev.is_some() => PrAction::Updated,
                "close" | "merge" => PrAction::Closed,
                _ => PrAction::Other,
            };
            let user = m.user.map(|u| u.username).unwrap_or_default();
            Ok(HookEvent::PullRequest(PullRequest {
                action,
                number: a.iid,
                url: a.url,
                head_branch: a.source_branch,
                head_sha: a.last_commit.id,
                head_repo: a.source.map(|s| s.name).unwrap_or_default(),
                fork: a.source_project_id != a.target_project_id,
                author: user.clone(),
                sender: user,
                fork_ref: Some(format!("refs/merge-requests/{}/head", a.iid)),
            }))
        }
        other => Ok(HookEvent::Other(other.to_owned())),
    }
}
