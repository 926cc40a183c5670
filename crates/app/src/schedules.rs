//! Scheduled pipelines: CircleCI's API v2 schedules (one door, [`App::schedules`]: read with
//! [`Action::ReadBuilds`], change with [`Action::Trigger`]) and a config's cron `triggers`
//! (recorded per branch whenever a pipeline of that branch is made), and the scheduler that
//! fires what is due ([`App::fire_due_schedules`], every few seconds in [`fire_every`]).
//!
//! Each due run fires once across replicas (the store's compare-and-set on `next_run_at`). A
//! run found more than [`MISSED_AFTER`] late (no server ran at its time) is logged as missed
//! and not fired, so a restart never fires a burst of old runs.

use crate::builds::git::Target;
use crate::builds::trigger::{self, Attribution, Started, TriggerRequest};
use crate::{App, AppError, Caller};
use circlet_core::schedule::{Calendar, Timetable};
use circlet_core::scope::Action;
use circlet_core::{ProjectSlug, Role};
use circlet_store::schedules::{NewSchedule, ScheduleRecord};
use circlet_store::{Project, User};
use serde_json::Value;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A run this late is not fired: the scheduler was not running at its time.
pub const MISSED_AFTER: time::Duration = time::Duration::minutes(5);

/// How often the scheduler looks for due schedules.
const TICK: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest schedule name.
pub const MAX_NAME: usize = 100;
/// The longest description.
pub const MAX_DESCRIPTION: usize = 1000;
/// What a missing schedule is called.
pub const SCHEDULE_NOT_FOUND: &str = "Schedule not found";
/// The login pipelines of a schedule attributed to the system carry.
pub const SYSTEM_ACTOR: &str = "system";

/// A schedule as API v2 gives it.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// `current` (the user making the change) or `system`.
    pub attribution_actor: String,
    /// `branch` or `tag`, and pipeline parameters.
    pub parameters: BTreeMap<String, Value>,
    /// When it fires.
    pub timetable: Timetable,
}

/// Every `interval`, fires the schedules that are due.
pub async fn fire_every(app: App) {
    let mut ticker = tokio::time::interval(TICK);
    loop {
        ticker.tick().await;
        if let Err(e) = app.fire_due_schedules(OffsetDateTime::now_utc()).await {
            tracing::warn!("could not fire scheduled pipelines: {e}");
        }
    }
}

impl App {
    /// The door to a project's schedules: `write` ones need [`Action::Trigger`] and a user.
    pub async fn schedules(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        write: bool,
    ) -> Result<ProjectSchedules<'_>, AppError> {
        let action = if write {
            Action::Trigger
        } else {
            Action::ReadBuilds
        };
        let access = self.authorize(caller, slug, action).await?;
        // A schedule fires later as its user, with their full role (their contexts too): a
        // token limited below admin would outlive its ceiling through one.
        if write
            && let Some(limits) = caller.limits()
            && limits.ceiling.is_some_and(|c| c < Role::Admin)
        {
            return Err(AppError::Refused(format!(
                "This API token is limited ({}), so it cannot create or change schedules: a \
                 schedule runs later as you, with your full role. Use a token without a role \
                 ceiling, or the web UI.",
                limits.describe()
            )));
        }
        Ok(ProjectSchedules {
            app: self,
            admin: access.allows(Action::ManageProject),
            project: access.project,
            user: caller.require_user()?.clone(),
        })
    }

    /// The schedule with public id `uuid` and the door to its project, or "Schedule not found"
    /// (also when the caller may not see its project).
    pub async fn schedule(
        &self,
        caller: &Caller,
        uuid: uuid::Uuid,
        write: bool,
    ) -> Result<(ProjectSchedules<'_>, ScheduleRecord), AppError> {
        let not_found = || AppError::NotFound(SCHEDULE_NOT_FOUND.into());
        let record = self
            .store
            .schedules()
            .by_uuid(uuid)
            .await?
            .filter(|s| s.source == "api")
            .ok_or_else(not_found)?;
        let project = self
            .store
            .projects()
            .by_id(record.project_id)
            .await?
            .ok_or_else(not_found)?;
        let door = match self.schedules(caller, &project.slug, write).await {
            Err(AppError::NotFound(_)) => return Err(not_found()),
            other => other?,
        };
        Ok((door, record))
    }

    /// Fires every schedule due at `now` (the clock is the caller's, so tests can turn it):
    /// how many fired and how many runs were missed.
    pub async fn fire_due_schedules(
        &self,
        now: OffsetDateTime,
    ) -> Result<(usize, usize), AppError> {
        let (mut fired, mut missed) = (0, 0);
        for s in self.store.schedules().due(now, 100).await? {
            let Some(due) = s.next_run_at else { continue };
            let next = match calendar_of(&s) {
                Ok(c) => c.next_after(now),
                Err(e) => {
                    tracing::error!(schedule = %s.uuid, "schedule cannot fire: {e}");
                    None
                }
            };
            let late = now - due > MISSED_AFTER;
            let mine = self
                .store
                .schedules()
                .advance(s.id, due, next, (!late).then_some(now))
                .await?;
            if !mine {
                continue; // another replica moved it on, and fires it
            }
            if late {
                tracing::warn!(
                    schedule = %s.name,
                    due = %due,
                    next = ?next,
                    "a scheduled pipeline missed its run (no server was running then); it is not fired late"
                );
                missed += 1;
                continue;
            }
            match self.fire(&s).await {
                Ok(()) => fired += 1,
                Err(e) => tracing::warn!(schedule = %s.name, "scheduled pipeline not started: {e}"),
            }
        }
        Ok((fired, missed))
    }

    /// Starts schedule `s`'s pipeline, as its actor (who must still be allowed to trigger).
    async fn fire(&self, s: &ScheduleRecord) -> Result<(), AppError> {
        let project = self
            .store
            .projects()
            .by_id(s.project_id)
            .await?
            .ok_or_else(AppError::project_not_found)?;
        let by =
            match s.actor_id {
                Some(id) => {
                    let user =
                        self.store.users().by_id(id).await?.ok_or_else(|| {
                            AppError::Refused("its actor no longer exists".into())
                        })?;
                    // A schedule acts as its user: not once they are disabled or lost the right.
                    if user.disabled {
                        return Err(AppError::Refused("its actor is disabled".into()));
                    }
                    self.authorize(
                        &Caller::Session(user.clone()),
                        &project.slug,
                        Action::Trigger,
                    )
                    .await?;
                    Attribution::user(&user)
                }
                None => Attribution {
                    user_id: None,
                    login: s.actor_login.clone(),
                    role_ceiling: None,
                },
            };
        let target = match (&s.branch, &s.tag) {
            (_, Some(t)) => Target::Tag(t.clone()),
            (Some(b), None) => Target::Branch(b.clone()),
            (None, None) => Target::Branch(project.default_branch.as_str().to_owned()),
        };
        let given: BTreeMap<String, Value> =
            serde_json::from_str(&s.parameters).unwrap_or_default();
        let req = TriggerRequest {
            parameters: trigger::pipeline_parameters(&given)?,
            trigger_type: "scheduled_pipeline",
            why: "scheduled_pipeline",
            scheduled_workflow: s.workflow.clone(),
            ..TriggerRequest::new(target)
        };
        match trigger::trigger(self, &project, &by, req).await? {
            Started::Pipeline(t) => tracing::info!(
                project = %project.slug,
                schedule = %s.name,
                pipeline = t.pipeline.number,
                "scheduled pipeline started"
            ),
            Started::Skipped(_) => {}
        }
        Ok(())
    }
}

/// When `s` fires.
fn calendar_of(s: &ScheduleRecord) -> Result<Calendar, circlet_core::Invalid> {
    if s.source == "config" {
        return Calendar::cron(&s.timetable);
    }
    let t: Timetable = serde_json::from_str(&s.timetable)
        .map_err(|e| circlet_core::Invalid::new(format!("stored timetable: {e}")))?;
    t.calendar()
}

/// A schedule's timetable as stored (API schedules).
pub fn timetable_of(s: &ScheduleRecord) -> Option<Timetable> {
    serde_json::from_str(&s.timetable).ok()
}

/// A project's schedules, for a user allowed to read (or change) them.
pub struct ProjectSchedules<'a> {
    app: &'a App,
    /// The project.
    pub project: Project,
    user: User,
    /// Whether the user is a project admin.
    admin: bool,
}

/// A checked spec: what the store keeps.
struct Checked {
    timetable: String,
    parameters: String,
    branch: Option<String>,
    tag: Option<String>,
    actor_id: Option<i64>,
    actor_login: String,
    next: Option<OffsetDateTime>,
}

impl ProjectSchedules<'_> {
    /// Up to `limit` API schedules after id `after`, oldest first.
    pub async fn list(&self, after: i64, limit: i64) -> Result<Vec<ScheduleRecord>, AppError> {
        Ok(self
            .app
            .store
            .schedules()
            .of_project(self.project.id, "api", after, limit)
            .await?)
    }

    fn check(&self, spec: &ScheduleSpec) -> Result<Checked, AppError> {
        let name = spec.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(AppError::Invalid(format!(
                "name must be 1 to {MAX_NAME} characters"
            )));
        }
        if spec.description.chars().count() > MAX_DESCRIPTION {
            return Err(AppError::Invalid(format!(
                "description must be at most {MAX_DESCRIPTION} characters"
            )));
        }
        let calendar = spec.timetable.calendar()?;
        let (actor_id, actor_login) = match spec.attribution_actor.as_str() {
            "current" => (Some(self.user.id), self.user.login.to_string()),
            // Nobody's rights are checked when it fires: only a project admin may make one.
            "system" if !self.admin => {
                return Err(AppError::Refused(
                    "Only a project admin may attribute a schedule to the system".into(),
                ));
            }
            "system" => (None, SYSTEM_ACTOR.to_owned()),
            other => {
                return Err(AppError::Invalid(format!(
                    "attribution-actor must be current or system, not '{}'",
                    other.escape_debug()
                )));
            }
        };
        let mut parameters = spec.parameters.clone();
        let text = |v: Option<Value>, what: &str| match v {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(AppError::Invalid(format!(
                "parameters.{what} must be a string"
            ))),
        };
        let branch = text(parameters.remove("branch"), "branch")?;
        let tag = text(parameters.remove("tag"), "tag")?;
        let target = trigger::target(branch.as_deref(), tag.as_deref())?;
        trigger::pipeline_parameters(&parameters)?;
        let (branch, tag) = match target {
            Some(Target::Tag(t)) => (None, Some(t)),
            Some(Target::Branch(b)) => (Some(b), None),
            None => (Some(self.project.default_branch.as_str().to_owned()), None),
        };
        Ok(Checked {
            timetable: serde_json::to_string(&spec.timetable).expect("a timetable serializes"),
            parameters: serde_json::to_string(&parameters).expect("parameters serialize"),
            branch,
            tag,
            actor_id,
            actor_login,
            next: calendar.next_after(OffsetDateTime::now_utc()),
        })
    }

    fn new_schedule<'s>(&self, spec: &'s ScheduleSpec, c: &'s Checked) -> NewSchedule<'s> {
        NewSchedule {
            project_id: self.project.id,
            source: "api",
            name: spec.name.trim(),
            description: &spec.description,
            timetable: &c.timetable,
            parameters: &c.parameters,
            branch: c.branch.as_deref(),
            tag: c.tag.as_deref(),
            workflow: None,
            actor_id: c.actor_id,
            actor_login: &c.actor_login,
            next_run_at: c.next,
        }
    }

    /// Makes a schedule; 409 when the project has one of that name.
    pub async fn create(&self, spec: &ScheduleSpec) -> Result<ScheduleRecord, AppError> {
        let checked = self.check(spec)?;
        Ok(self
            .app
            .store
            .schedules()
            .create(&self.new_schedule(spec, &checked))
            .await?)
    }

    /// Replaces `old`'s values with `spec` (the edge fills what the request left out from
    /// `old`); the next run is computed anew.
    pub async fn update(
        &self,
        old: &ScheduleRecord,
        spec: &ScheduleSpec,
    ) -> Result<ScheduleRecord, AppError> {
        let checked = self.check(spec)?;
        Ok(self
            .app
            .store
            .schedules()
            .update(old.id, &self.new_schedule(spec, &checked))
            .await?)
    }

    /// Removes `s`.
    pub async fn delete(&self, s: &ScheduleRecord) -> Result<(), AppError> {
        if !self.app.store.schedules().delete(s.id).await? {
            return Err(AppError::NotFound(SCHEDULE_NOT_FOUND.into()));
        }
        Ok(())
    }
}

/// The spec `s` was made from, for an update that changes part of it.
pub fn spec_of(s: &ScheduleRecord) -> ScheduleSpec {
    let mut parameters: BTreeMap<String, Value> =
        serde_json::from_str(&s.parameters).unwrap_or_default();
    if let Some(b) = &s.branch {
        parameters.insert("branch".into(), Value::String(b.clone()));
    }
    if let Some(t) = &s.tag {
        parameters.insert("tag".into(), Value::String(t.clone()));
    }
    ScheduleSpec {
        name: s.name.clone(),
        description: s.description.clone(),
        attribution_actor: if s.actor_id.is_some() {
            "current".into()
        } else {
            "system".into()
        },
        parameters,
        timetable: timetable_of(s).unwrap_or(Timetable {
            per_hour: 1,
            hours_of_day: vec![0],
            days_of_week: vec!["MON".into()],
            days_of_month: vec![],
            months: vec![],
        }),
    }
}
