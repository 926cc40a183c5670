//! Polling, for repositories that cannot send webhooks (a plain git server, `file://`): every
//! project with an interval is asked for its heads when due, by one replica (the store's
//! compare-and-set on `poll_next_at`); a new or moved branch head and a new tag start pipelines
//! as a push's webhook would ([`circlet_core::forge::decide::push`]). The first poll only
//! notes the heads: turning polling on builds nothing old.

use crate::hooks::receive::start;
use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::forge::decide;
use circlet_core::forge::{GitTarget, Push};
use circlet_core::scope::Action;
use circlet_store::{PipelineRecord, Project};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The shortest interval, in seconds.
pub const MIN_INTERVAL_SECS: i64 = 60;
/// The longest interval, in seconds (a day).
pub const MAX_INTERVAL_SECS: i64 = 86_400;
/// At most this many pipelines per poll; heads moved beyond them are noted, not built.
pub const MAX_BUILDS_PER_POLL: usize = 20;
/// How often due polls are looked for.
const TICK: std::time::Duration = std::time::Duration::from_secs(10);
/// Who a poll's pipelines are attributed to.
pub const POLL_ACTOR: &str = "poll";

/// Every few seconds, polls the projects that are due.
pub async fn poll_every(app: App) {
    let mut ticker = tokio::time::interval(TICK);
    loop {
        ticker.tick().await;
        if let Err(e) = app.poll_due(OffsetDateTime::now_utc()).await {
            tracing::warn!("could not poll repositories: {e}");
        }
    }
}

impl App {
    /// Sets how often the project at `slug` is polled (`None`: never); its admins only.
    pub async fn set_poll_interval(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        secs: Option<i64>,
    ) -> Result<(), AppError> {
        let access = self.authorize(caller, slug, Action::ManageProject).await?;
        if let Some(s) = secs
            && !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&s)
        {
            return Err(AppError::Invalid(format!(
                "The polling interval must be {} to {} minutes",
                MIN_INTERVAL_SECS / 60,
                MAX_INTERVAL_SECS / 60
            )));
        }
        self.store
            .polls()
            .set_interval(access.project.id, secs)
            .await?;
        Ok(())
    }

    /// Polls every project due at `now` (the caller's clock); the pipelines started.
    pub async fn poll_due(&self, now: OffsetDateTime) -> Result<Vec<PipelineRecord>, AppError> {
        let mut started = Vec::new();
        for (project, due) in self.store.polls().due(now, 20).await? {
            let Some(secs) = project.poll_interval_secs else {
                continue;
            };
            let next = now + time::Duration::seconds(secs);
            if !self.store.polls().advance(project.id, due, next).await? {
                continue; // another replica polls it
            }
            match self.poll(&project).await {
                Ok(mut made) => started.append(&mut made),
                Err(e) => {
                    tracing::warn!(project = %project.slug, "could not poll the repository: {e}")
                }
            }
        }
        Ok(started)
    }

    async fn poll(&self, project: &Project) -> Result<Vec<PipelineRecord>, AppError> {
        let key = self.checkout_key_for(project).await?;
        let listed = self
            .repos
            .heads(project, key.as_ref())
            .await
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let heads: Vec<(String, String)> = listed
            .into_iter()
            .filter(|(name, sha)| {
                GitTarget::from_ref(name).is_some_and(|t| {
                    let (GitTarget::Branch(n) | GitTarget::Tag(n)) = t;
                    circlet_core::forge::exact_name(&n, "ref").is_ok()
                }) && circlet_core::forge::is_commit_id(sha, 40)
            })
            .collect();
        let seen: BTreeMap<String, String> = self
            .store
            .polls()
            .heads(project.id)
            .await?
            .into_iter()
            .collect();
        let first = seen.is_empty();
        let mut made = Vec::new();
        let mut built = 0;
        for (name, sha) in &heads {
            if first || seen.get(name) == Some(sha) {
                continue;
            }
            let Some(target) = GitTarget::from_ref(name) else {
                continue;
            };
            if built == MAX_BUILDS_PER_POLL {
                tracing::warn!(project = %project.slug, "more than {MAX_BUILDS_PER_POLL} heads moved since the last poll; the rest are noted, not built");
                break;
            }
            let open_pr = match &target {
                GitTarget::Branch(b) => {
                    self.store
                        .hooks()
                        .open_pull_request_of(project.id, b)
                        .await?
                }
                GitTarget::Tag(_) => None,
            };
            let push = Push {
                target,
                after: Some(sha.clone()),
                pusher: POLL_ACTOR.into(),
            };
            let decision = decide::push(
                project.builds,
                project.default_branch.as_str(),
                &push,
                open_pr.as_ref(),
            );
            built += 1;
            match start(self, project, decision, POLL_ACTOR, "poll", None).await {
                Ok(s) => made.extend(s.pipeline),
                // The head stays noted: a commit that cannot be built is not retried each poll.
                Err(e) => {
                    tracing::warn!(project = %project.slug, head = %name, "polled head not built: {e}")
                }
            }
        }
        self.store.polls().set_heads(project.id, &heads).await?;
        Ok(made)
    }
}
