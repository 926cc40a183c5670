//! Runners as an operator sees them: self-hosted resource classes (`namespace/name`), the class
//! a runner token serves (none: the default pool), and each runner's last contact (the name and
//! version it gave, its address, when it first and last asked for work). The queue itself
//! (`builds().claim_next`) takes a runner's class.

use crate::error::Conflict;
use crate::{Store, StoreError, now, on_pool};
use time::OffsetDateTime;

/// A resource class.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ResourceClass {
    /// Store id.
    pub id: i64,
    /// `namespace/name`.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// A runner's last contact, with its token and class.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunnerContact {
    /// The runner token's id.
    pub token_id: i64,
    /// The runner token's name.
    pub token_name: String,
    /// The class the token serves, if any.
    pub resource_class: Option<String>,
    /// The name the runner gave (its host name by default).
    pub name: String,
    /// The version it gave.
    pub version: String,
    /// The address it came from.
    pub address: String,
    /// Its first claim.
    pub first_seen: OffsetDateTime,
    /// Its latest claim or heartbeat.
    pub last_seen: OffsetDateTime,
    /// The build number of the job it runs now, if any.
    pub running_build: Option<i64>,
    /// When it last started a job, if ever.
    pub last_used: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    #[sqlx(flatten)]
    contact: RunnerContact,
    beat: Option<OffsetDateTime>,
}

/// Use-cases on runners and resource classes; see [`Store::runners`].
pub struct Runners<'s>(pub(crate) &'s Store);

const CLASS_COLS: &str = "id, name, description, created_at";

impl Runners<'_> {
    /// Makes a resource class; [`Conflict::ResourceClass`] if the name is taken.
    pub async fn create_class(
        &self,
        name: &str,
        description: &str,
    ) -> Result<ResourceClass, StoreError> {
        let sql = format!(
            "INSERT INTO resource_classes (name, description, created_at) VALUES ($1, $2, $3) RETURNING {CLASS_COLS}"
        );
        on_pool!(self.0, pool => sqlx::query_as(&sql).bind(name).bind(description).bind(now()).fetch_one(pool).await)
            .map_err(|e| StoreError::from(e).conflict_as(Conflict::ResourceClass(name.to_owned())))
    }

    /// Every resource class, by name.
    pub async fn classes(&self) -> Result<Vec<ResourceClass>, StoreError> {
        let sql = format!("SELECT {CLASS_COLS} FROM resource_classes ORDER BY name");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).fetch_all(pool).await)?)
    }

    /// The class named `name`, if it exists.
    pub async fn class_by_name(&self, name: &str) -> Result<Option<ResourceClass>, StoreError> {
        let sql = format!("SELECT {CLASS_COLS} FROM resource_classes WHERE name = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(name).fetch_optional(pool).await)?)
    }

    /// Binds runner token `token_id` to class `class_id` (done once, when the token is made).
    pub async fn bind(&self, token_id: i64, class_id: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO runner_token_classes (token_id, class_id) VALUES ($1, $2)";
        on_pool!(self.0, pool => sqlx::query(sql).bind(token_id).bind(class_id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The class runner token `token_id` serves; `None` for the default pool.
    pub async fn class_of(&self, token_id: i64) -> Result<Option<String>, StoreError> {
        let sql = "SELECT c.name FROM runner_token_classes t JOIN resource_classes c ON c.id = t.class_id WHERE t.token_id = $1";
        Ok(
            on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(token_id).fetch_optional(pool).await)?,
        )
    }

    /// The classes of every bound runner token, `(token id, class)`.
    pub async fn token_classes(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let sql = "SELECT t.token_id, c.name FROM runner_token_classes t JOIN resource_classes c ON c.id = t.class_id";
        Ok(on_pool!(self.0, pool => sqlx::query_as(sql).fetch_all(pool).await)?)
    }

    /// Records that runner token `token_id` asked for work now, as `name` at `version` from
    /// `address`.
    pub async fn touch(
        &self,
        token_id: i64,
        name: &str,
        version: &str,
        address: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO runner_contacts (token_id, name, version, address, first_seen, last_seen) \
                   VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (token_id) DO UPDATE SET \
                   name = excluded.name, version = excluded.version, address = excluded.address, \
                   last_seen = excluded.last_seen";
        on_pool!(self.0, pool => sqlx::query(sql).bind(token_id).bind(name).bind(version)
            .bind(address).bind(now()).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The runners heard from at or after `since` (a claim, or a heartbeat of the job they
    /// run: a runner busy with a long job claims nothing), with their class and current job;
    /// only those of `class` when given (`Some(None)`: the default pool), by name.
    pub async fn seen_since(
        &self,
        since: OffsetDateTime,
        class: Option<Option<&str>>,
    ) -> Result<Vec<RunnerContact>, StoreError> {
        let sql = "SELECT r.token_id, t.name AS token_name, c.name AS resource_class, r.name, r.version, \
                   r.address, r.first_seen, r.last_seen, \
                   (SELECT MAX(j.build_num) FROM job_nodes n JOIN jobs j ON j.id = n.job_id \
                    WHERE n.runner_id = r.token_id AND n.state = 'running') AS running_build, \
                   (SELECT MAX(n.started_at) FROM job_nodes n WHERE n.runner_id = r.token_id) AS last_used, \
                   (SELECT MAX(n.heartbeat_at) FROM job_nodes n WHERE n.runner_id = r.token_id AND n.state = 'running') AS beat \
                   FROM runner_contacts r JOIN api_tokens t ON t.id = r.token_id \
                   LEFT JOIN runner_token_classes b ON b.token_id = r.token_id \
                   LEFT JOIN resource_classes c ON c.id = b.class_id ORDER BY r.name, r.token_id";
        let rows: Vec<ContactRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut contact = row.contact;
                if let Some(beat) = row.beat {
                    contact.last_seen = contact.last_seen.max(beat);
                }
                contact
            })
            .filter(|r| r.last_seen >= since)
            .filter(|r| class.is_none_or(|wanted| r.resource_class.as_deref() == wanted))
            .collect())
    }

    /// Tasks (job nodes) of `class` (`None`: the default pool) waiting for a runner, and
    /// running.
    pub async fn task_counts(&self, class: Option<&str>) -> Result<(i64, i64), StoreError> {
        let sql = "SELECT \
                   CAST(COALESCE(SUM(CASE WHEN cancel_requested = FALSE THEN parallelism - nodes_claimed ELSE 0 END), 0) AS BIGINT), \
                   (SELECT COUNT(*) FROM job_nodes n JOIN jobs j ON j.id = n.job_id WHERE n.state = 'running' AND \
                    ((j.resource_class IS NULL AND CAST($1 AS TEXT) IS NULL) OR j.resource_class = $1)) \
                   FROM jobs WHERE state IN ('queued', 'running') AND \
                   ((resource_class IS NULL AND CAST($1 AS TEXT) IS NULL) OR resource_class = $1)";
        let (queued, running): (i64, i64) =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(class).fetch_one(pool).await)?;
        Ok((queued, running))
    }
}
