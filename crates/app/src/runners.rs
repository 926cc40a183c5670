//! Self-hosted runners as CircleCI models them: resource classes (`namespace/name`) an admin
//! creates, runner tokens bound to one class (or the default pool), which runners are online
//! (asked for work within [`ONLINE_WITHIN`]) and what waits for them. The rules live here; the
//! queue's SQL is the store's, the pages and CircleCI's `/api/v3/runner` the server's.

use crate::tokens::Actor;
use crate::{App, AppError, Caller};
use circlet_core::build_state::JobState;
use circlet_core::runner_class::RunnerClass;
use circlet_store::{JobRecord, NewAuditEntry, ResourceClass, RunnerContact, Store};
use std::time::Duration;
use time::OffsetDateTime;

/// A runner that asked for work (or heartbeated) within this long is online: a waiting claim
/// lasts at most 30 s, so a live runner asks at least twice as often.
pub const ONLINE_WITHIN: Duration = Duration::from_secs(60);

/// The longest description a resource class may have.
pub const MAX_DESCRIPTION: usize = 500;

/// Creates the resource class `name` (site admins only; the caller checks).
pub async fn create_class(
    store: &Store,
    name: &str,
    description: &str,
    actor: &Actor,
) -> Result<ResourceClass, AppError> {
    let class = RunnerClass::parse(name.trim()).map_err(AppError::Invalid)?;
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(AppError::Invalid(format!(
            "A description may be at most {MAX_DESCRIPTION} characters"
        )));
    }
    let created = store
        .runners()
        .create_class(class.as_str(), description)
        .await?;
    store
        .audit()
        .append(&NewAuditEntry {
            event: "resource_class.created".into(),
            actor_id: actor.user_id,
            actor_login: actor.login.clone(),
            owner_id: None,
            project_id: None,
            token_uuid: None,
            address: actor.address.clone(),
            detail: created.name.clone(),
        })
        .await?;
    Ok(created)
}

/// The moment before which a runner's last contact means it is offline.
fn online_since() -> OffsetDateTime {
    OffsetDateTime::now_utc() - ONLINE_WITHIN
}

impl App {
    /// The runners online, of `class` when given (`Some(None)`: the default pool): what Admin →
    /// Runners and CircleCI's `GET /api/v3/runner` list. Any signed-in user may look, as any
    /// member of a CircleCI organization may.
    pub async fn runners_online(
        &self,
        caller: &Caller,
        class: Option<Option<&str>>,
    ) -> Result<Vec<RunnerContact>, AppError> {
        if caller.user().is_none() {
            return Err(AppError::LoginRequired);
        }
        Ok(self
            .store
            .runners()
            .seen_since(online_since(), class)
            .await?)
    }

    /// Jobs of `class` queued and running (CircleCI's `/api/v3/runner/tasks` and
    /// `…/tasks/running`), for a signed-in caller.
    pub async fn runner_tasks(
        &self,
        caller: &Caller,
        class: &RunnerClass,
    ) -> Result<(i64, i64), AppError> {
        if caller.user().is_none() {
            return Err(AppError::LoginRequired);
        }
        Ok(self
            .store
            .runners()
            .task_counts(Some(class.as_str()))
            .await?)
    }

    /// Why queued `job` may wait a while, for its page: no runner of its class (or of the
    /// default pool) is online, or its class does not exist.
    pub async fn waiting_note(&self, job: &JobRecord) -> Result<Option<String>, AppError> {
        if job.state != JobState::Queued {
            return Ok(None);
        }
        let runners = self.store.runners();
        let class = job.resource_class.as_deref();
        if !runners
            .seen_since(online_since(), Some(class))
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        Ok(Some(match class {
            None => "No runner is online to run this job: it waits until one asks for work.".into(),
            Some(c) => match runners.class_by_name(c).await? {
                Some(_) => format!(
                    "This job runs on resource class {c}, and no runner of that class is online: it waits until one asks for work."
                ),
                None => format!(
                    "This job runs on resource class {c}, which does not exist: a site admin creates it (Admin → Runners) and starts a runner with a token of that class."
                ),
            },
        }))
    }
}
