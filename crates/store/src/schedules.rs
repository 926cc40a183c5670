//! Scheduled pipelines: API v2 schedules and a config's cron triggers, each with when it is
//! next due. Firing is a compare-and-set on `next_run_at` ([`Schedules::advance`]), so however
//! many replicas find a schedule due, one of them fires it.

use crate::error::{Conflict, Missing};
use crate::{Store, StoreError, now, on_pool, ts};
use time::OffsetDateTime;
use uuid::Uuid;

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScheduleRecord {
    /// Store id.
    pub id: i64,
    /// Public id (API v2's schedule id).
    pub uuid: Uuid,
    /// The project.
    pub project_id: i64,
    /// `api` (API v2) or `config` (a config's `triggers`).
    pub source: String,
    /// Its name, unique in the project and source.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// `api`: the timetable's JSON; `config`: the cron expression.
    pub timetable: String,
    /// Pipeline parameters, a JSON object (API v2's, `branch` and `tag` taken out).
    pub parameters: String,
    /// The branch it builds.
    pub branch: Option<String>,
    /// The tag it builds.
    pub tag: Option<String>,
    /// `config`: the workflow it runs.
    pub workflow: Option<String>,
    /// The user its pipelines are attributed to (`None`: the system).
    pub actor_id: Option<i64>,
    /// Their login, or `system`.
    pub actor_login: String,
    /// When it is next due; `None` when it never fires again.
    pub next_run_at: Option<OffsetDateTime>,
    /// When it last fired.
    pub last_run_at: Option<OffsetDateTime>,
    /// When made.
    pub created_at: OffsetDateTime,
    /// When last changed.
    pub updated_at: OffsetDateTime,
}

/// A schedule to store, or the new values of one.
#[derive(Debug, Clone)]
pub struct NewSchedule<'a> {
    /// The project.
    pub project_id: i64,
    /// `api` or `config`.
    pub source: &'a str,
    /// Its name.
    pub name: &'a str,
    /// What it is for.
    pub description: &'a str,
    /// The timetable's JSON, or the cron expression.
    pub timetable: &'a str,
    /// Pipeline parameters (JSON object).
    pub parameters: &'a str,
    /// The branch.
    pub branch: Option<&'a str>,
    /// The tag.
    pub tag: Option<&'a str>,
    /// The workflow (config schedules).
    pub workflow: Option<&'a str>,
    /// The user its pipelines are attributed to.
    pub actor_id: Option<i64>,
    /// Their login.
    pub actor_login: &'a str,
    /// When it is first due.
    pub next_run_at: Option<OffsetDateTime>,
}

const COLS: &str = "id, uuid, project_id, source, name, description, timetable, parameters, branch, tag, workflow, \
                    actor_id, actor_login, next_run_at, last_run_at, created_at, updated_at";

/// Use-cases on schedules; see [`Store::schedules`].
pub struct Schedules<'s>(pub(crate) &'s Store);

impl Schedules<'_> {
    /// Adds a schedule; [`Conflict::Duplicate`] when the project has one of that name.
    pub async fn create(&self, new: &NewSchedule<'_>) -> Result<ScheduleRecord, StoreError> {
        let sql = format!(
            "INSERT INTO schedules (uuid, project_id, source, name, description, timetable, parameters, branch, tag, \
             workflow, actor_id, actor_login, next_run_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING {COLS}"
        );
        on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(Uuid::new_v4()).bind(new.project_id).bind(new.source).bind(new.name)
            .bind(new.description).bind(new.timetable).bind(new.parameters).bind(new.branch)
            .bind(new.tag).bind(new.workflow).bind(new.actor_id).bind(new.actor_login)
            .bind(new.next_run_at.map(ts)).bind(now()).fetch_one(pool).await)
        .map_err(|e| StoreError::from(e).conflict_as(Conflict::Duplicate))
    }

    /// Replaces schedule `id`'s values (not its project or source); [`Conflict::Duplicate`]
    /// when the new name is taken, `NotFound` when it is gone.
    pub async fn update(
        &self,
        id: i64,
        new: &NewSchedule<'_>,
    ) -> Result<ScheduleRecord, StoreError> {
        let sql = format!(
            "UPDATE schedules SET name = $2, description = $3, timetable = $4, parameters = $5, branch = $6, \
             tag = $7, actor_id = $8, actor_login = $9, next_run_at = $10, updated_at = $11 \
             WHERE id = $1 RETURNING {COLS}"
        );
        let row: Option<ScheduleRecord> = on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(id).bind(new.name).bind(new.description).bind(new.timetable).bind(new.parameters)
            .bind(new.branch).bind(new.tag).bind(new.actor_id).bind(new.actor_login)
            .bind(new.next_run_at.map(ts)).bind(now()).fetch_optional(pool).await)
        .map_err(|e| StoreError::from(e).conflict_as(Conflict::Duplicate))?;
        row.ok_or(StoreError::NotFound(Missing::Schedule))
    }

    /// The schedule with this public id.
    pub async fn by_uuid(&self, uuid: Uuid) -> Result<Option<ScheduleRecord>, StoreError> {
        let sql = format!("SELECT {COLS} FROM schedules WHERE uuid = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_optional(pool).await)?)
    }

    /// A project's schedules of `source`, oldest first, at most `limit` after id `after`.
    pub async fn of_project(
        &self,
        project_id: i64,
        source: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM schedules WHERE project_id = $1 AND source = $2 AND id > $3 ORDER BY id LIMIT $4"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).bind(source)
            .bind(after).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// Removes schedule `id`; whether it was there.
    pub async fn delete(&self, id: i64) -> Result<bool, StoreError> {
        let sql = "DELETE FROM schedules WHERE id = $1";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Up to `limit` schedules due at `at`, the longest due first.
    pub async fn due(
        &self,
        at: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM schedules WHERE next_run_at <= $1 ORDER BY next_run_at, id LIMIT $2"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(ts(at)).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// Moves schedule `id` on from `due` (as read) to `next`, noting `fired_at` as its last
    /// run when given; `true` for the one caller that moved it.
    pub async fn advance(
        &self,
        id: i64,
        due: OffsetDateTime,
        next: Option<OffsetDateTime>,
        fired_at: Option<OffsetDateTime>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE schedules SET next_run_at = $3, last_run_at = COALESCE($4, last_run_at) \
                   WHERE id = $1 AND next_run_at = $2";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(id).bind(ts(due)).bind(next.map(ts))
            .bind(fired_at.map(ts)).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Replaces the config schedules of `branch` by `entries` (workflow, cron, first due),
    /// attributed to `actor`; a schedule that stays keeps when it is next due.
    pub async fn set_config_schedules(
        &self,
        project_id: i64,
        branch: &str,
        entries: &[(String, String, Option<OffsetDateTime>)],
        actor_login: &str,
    ) -> Result<(), StoreError> {
        let names: Vec<String> = entries
            .iter()
            .map(|(w, cron, _)| config_name(branch, w, cron))
            .collect();
        let existing = "SELECT name FROM schedules WHERE project_id = $1 AND source = 'config' AND branch = $2";
        let remove =
            "DELETE FROM schedules WHERE project_id = $1 AND source = 'config' AND name = $2";
        let insert = "INSERT INTO schedules (uuid, project_id, source, name, description, timetable, parameters, \
                      branch, workflow, actor_login, next_run_at, created_at, updated_at) \
                      VALUES ($1, $2, 'config', $3, '', $4, '{}', $5, $6, $7, $8, $9, $9) \
                      ON CONFLICT (project_id, source, name) DO NOTHING";
        on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            let had: Vec<String> = sqlx::query_scalar(existing).bind(project_id).bind(branch).fetch_all(&mut *tx).await?;
            for gone in had.iter().filter(|n| !names.contains(n)) {
                sqlx::query(remove).bind(project_id).bind(gone).execute(&mut *tx).await?;
            }
            for ((workflow, cron, next), name) in entries.iter().zip(&names) {
                sqlx::query(insert).bind(Uuid::new_v4()).bind(project_id).bind(name).bind(cron)
                    .bind(branch).bind(workflow).bind(actor_login).bind(next.map(ts)).bind(now())
                    .execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)?;
        Ok(())
    }
}

/// A config schedule's name: where it comes from, so a changed cron is a new schedule.
pub fn config_name(branch: &str, workflow: &str, cron: &str) -> String {
    format!("{branch}:{workflow}:{cron}")
}
