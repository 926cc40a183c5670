//! Bitbucket Cloud's payloads: `repo:push` and `pullrequest:*`.

use super::{GitTarget, HookEvent, PrAction, PullRequest, Push, json};
use crate::Invalid;
use serde::Deserialize;

#[derive(Deserialize)]
struct Actor {
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
}

impl Actor {
    fn name(self) -> String {
        [self.nickname, self.username, self.display_name]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct Target {
    hash: String,
}

#[derive(Deserialize)]
struct NewRef {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    target: Target,
}

#[derive(Deserialize)]
struct OldRef {
    #[serde(rename = "type")]
    kind: String,
    name: String,
}

#[derive(Deserialize)]
struct Change {
    new: Option<NewRef>,
    old: Option<OldRef>,
}

#[derive(Deserialize)]
struct Changes {
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct PushBody {
    push: Changes,
    actor: Option<Actor>,
}

#[derive(Deserialize)]
struct Repo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    full_name: String,
}

#[derive(Deserialize)]
struct Branch {
    name: String,
}

#[derive(Deserialize)]
struct End {
    branch: Branch,
    commit: Target,
    repository: Repo,
}

#[derive(Deserialize)]
struct Href {
    href: String,
}

#[derive(Deserialize)]
struct Links {
    html: Href,
}

#[derive(Deserialize)]
struct Pr {
    id: u64,
    links: Links,
    source: End,
    destination: End,
    author: Option<Actor>,
}

#[derive(Deserialize)]
struct PrBody {
    pullrequest: Pr,
    actor: Option<Actor>,
}

fn target(kind: &str, name: String) -> Option<GitTarget> {
    match kind {
        "branch" | "named_branch" => Some(GitTarget::Branch(name)),
        "tag" | "annotated_tag" => Some(GitTarget::Tag(name)),
        _ => None,
    }
}

pub(super) fn parse(event: &str, body: &[u8]) -> Result<HookEvent, Invalid> {
    match event {
        "repo:push" => {
            let p: PushBody = json(body)?;
            let pusher = p.actor.map(Actor::name).unwrap_or_default();
            let pushes = p
                .push
                .changes
                .into_iter()
                .filter_map(|c| match (c.new, c.old) {
                    (Some(new), _) => target(&new.kind, new.name).map(|t| Push {
                        target: t,
                        after: Some(new.target.hash),
                        pusher: pusher.clone(),
                    }),
                    (None, Some(old)) => target(&old.kind, old.name).map(|t| Push {
                        target: t,
                        after: None,
                        pusher: pusher.clone(),
                    }),
                    (None, None) => None,
                })
                .collect();
            Ok(HookEvent::Push(pushes))
        }
        "pullrequest:created"
        | "pullrequest:updated"
        | "pullrequest:fulfilled"
        | "pullrequest:rejected" => {
            let p: PrBody = json(body)?;
            let action = match event {
                "pullrequest:created" => PrAction::Opened,
                // Also sent for a new title; the use case builds only a new head commit.
                "pullrequest:updated" => PrAction::Updated,
                _ => PrAction::Closed,
            };
            let pr = p.pullrequest;
            Ok(HookEvent::PullRequest(PullRequest {
                action,
                number: pr.id,
                url: pr.links.html.href,
                // An unnamed side cannot be shown to be the base: it counts as a fork.
                fork: pr.source.repository.full_name.is_empty()
                    || !pr
                        .source
                        .repository
                        .full_name
                        .eq_ignore_ascii_case(&pr.destination.repository.full_name),
                head_branch: pr.source.branch.name,
                head_sha: pr.source.commit.hash,
                head_repo: pr.source.repository.name,
                author: pr.author.map(Actor::name).unwrap_or_default(),
                sender: p.actor.map(Actor::name).unwrap_or_default(),
                // Bitbucket keeps a fork's commits in the fork only.
                fork_ref: None,
            }))
        }
        other => Ok(HookEvent::Other(other.to_owned())),
    }
}
