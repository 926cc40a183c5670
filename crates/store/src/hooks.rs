//! What forges' webhooks leave behind: each project's webhook secret (sealed; sealing is the
//! app's), the deliveries received with their outcome and body, and the pull requests they
//! told of.

use crate::error::Conflict;
use crate::{Store, StoreError, now, on_pool};
use circlet_core::forge::decide::KnownPr;
use time::OffsetDateTime;
use uuid::Uuid;

/// How many deliveries a project keeps: older ones are removed as new ones arrive.
pub const KEPT_DELIVERIES: i64 = 100;

/// A project's sealed webhook secret.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SealedHookSecret {
    /// The key it is sealed with.
    pub key_id: String,
    /// The sealed secret.
    pub sealed: Vec<u8>,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// A delivery whose signature held.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRecord {
    /// Store id.
    pub id: i64,
    /// Public id (the UI's Redeliver names it).
    pub uuid: Uuid,
    /// The project.
    pub project_id: i64,
    /// `github`, `gitea`, `gitlab` or `bitbucket`.
    pub forge: String,
    /// The forge's delivery id (or the body's digest when it sends none).
    pub delivery: String,
    /// The forge's event name.
    pub event: String,
    /// The payload as received.
    pub body: Vec<u8>,
    /// When it arrived.
    pub received_at: OffsetDateTime,
    /// `received` (being handled), `built`, `skipped` or `failed`.
    pub outcome: String,
    /// What was done or why not, for people.
    pub detail: String,
    /// The delivery this one redelivers.
    pub redelivery_of: Option<i64>,
}

/// A delivery to record.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    /// The project.
    pub project_id: i64,
    /// The forge's name.
    pub forge: &'a str,
    /// The forge's delivery id.
    pub delivery: &'a str,
    /// The event.
    pub event: &'a str,
    /// The payload.
    pub body: &'a [u8],
    /// The delivery this one redelivers.
    pub redelivery_of: Option<i64>,
}

/// What recording a delivery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new delivery, to handle.
    New(DeliveryRecord),
    /// This delivery id was received before: the earlier record.
    Seen(DeliveryRecord),
}

/// A pull request as a webhook told of it.
#[derive(Debug, Clone)]
pub struct PrUpdate<'a> {
    /// Its number.
    pub number: u64,
    /// Its head branch.
    pub head_branch: &'a str,
    /// Its head commit.
    pub head_sha: &'a str,
    /// Whether it comes from a fork.
    pub fork: bool,
    /// Whether it is open.
    pub open: bool,
}

const COLS: &str = "id, uuid, project_id, forge, delivery, event, body, received_at, outcome, detail, redelivery_of";

/// Use-cases on webhooks; see [`Store::hooks`].
pub struct Hooks<'s>(pub(crate) &'s Store);

impl Hooks<'_> {
    /// The project's sealed webhook secret, if it has one.
    pub async fn secret(&self, project_id: i64) -> Result<Option<SealedHookSecret>, StoreError> {
        let sql =
            "SELECT key_id, sealed, created_at FROM project_hook_secrets WHERE project_id = $1";
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(project_id).fetch_optional(pool).await)?,
        )
    }

    /// Sets (or replaces) the project's webhook secret.
    pub async fn set_secret(
        &self,
        project_id: i64,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO project_hook_secrets (project_id, key_id, sealed, created_at) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (project_id) DO UPDATE \
                   SET key_id = excluded.key_id, sealed = excluded.sealed, created_at = excluded.created_at";
        on_pool!(self.0, pool => sqlx::query(sql).bind(project_id).bind(key_id).bind(sealed)
            .bind(now()).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Up to `limit` secrets sealed with a key other than `current`: (project id, sealed).
    pub async fn secrets_sealed_by_other_keys(
        &self,
        current: &str,
        limit: i64,
    ) -> Result<Vec<(i64, SealedHookSecret)>, StoreError> {
        let sql = "SELECT project_id, key_id, sealed, created_at FROM project_hook_secrets \
                   WHERE key_id <> $1 ORDER BY project_id LIMIT $2";
        let rows: Vec<(i64, String, Vec<u8>, OffsetDateTime)> = on_pool!(self.0, pool =>
            sqlx::query_as(sql).bind(current).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(p, key_id, sealed, created_at)| {
                (
                    p,
                    SealedHookSecret {
                        key_id,
                        sealed,
                        created_at,
                    },
                )
            })
            .collect())
    }

    /// Replaces project `project_id`'s sealed secret if it is still `old`; whether it was.
    pub async fn reseal_secret(
        &self,
        project_id: i64,
        old: &SealedHookSecret,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE project_hook_secrets SET key_id = $1, sealed = $2 \
                   WHERE project_id = $3 AND key_id = $4 AND sealed = $5";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(key_id).bind(sealed).bind(project_id)
            .bind(&old.key_id).bind(&old.sealed).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Records a delivery unless its id was received before, and forgets the project's
    /// deliveries beyond the newest [`KEPT_DELIVERIES`].
    pub async fn record(&self, new: &NewDelivery<'_>) -> Result<Recorded, StoreError> {
        let insert = format!(
            "INSERT INTO hook_deliveries (uuid, project_id, forge, delivery, event, body, received_at, redelivery_of) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLS}"
        );
        // One still being handled is kept: its pipeline is about to name it.
        let prune = "DELETE FROM hook_deliveries WHERE project_id = $1 AND outcome <> 'received' AND id <= \
                     (SELECT id FROM hook_deliveries WHERE project_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)";
        let inserted = on_pool!(self.0, pool => async {
            let row: DeliveryRecord = sqlx::query_as(&insert)
                .bind(Uuid::new_v4()).bind(new.project_id).bind(new.forge).bind(new.delivery)
                .bind(new.event).bind(new.body).bind(now()).bind(new.redelivery_of)
                .fetch_one(pool).await?;
            sqlx::query(prune).bind(new.project_id).bind(KEPT_DELIVERIES).execute(pool).await?;
            Ok::<_, sqlx::Error>(row)
        }.await)
        .map_err(|e| StoreError::from(e).conflict_as(Conflict::Duplicate));
        match inserted {
            Ok(row) => Ok(Recorded::New(row)),
            Err(StoreError::Conflict(Conflict::Duplicate)) => {
                let sql = format!(
                    "SELECT {COLS} FROM hook_deliveries WHERE project_id = $1 AND forge = $2 AND delivery = $3"
                );
                let seen: DeliveryRecord = on_pool!(self.0, pool => sqlx::query_as(&sql)
                    .bind(new.project_id).bind(new.forge).bind(new.delivery).fetch_one(pool).await)?;
                Ok(Recorded::Seen(seen))
            }
            Err(e) => Err(e),
        }
    }

    /// Writes what came of delivery `id`.
    pub async fn settle(&self, id: i64, outcome: &str, detail: &str) -> Result<(), StoreError> {
        let sql = "UPDATE hook_deliveries SET outcome = $2, detail = $3 WHERE id = $1";
        on_pool!(self.0, pool => sqlx::query(sql).bind(id).bind(outcome).bind(detail).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// The project's newest `limit` deliveries, newest first.
    pub async fn deliveries(
        &self,
        project_id: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM hook_deliveries WHERE project_id = $1 ORDER BY id DESC LIMIT $2"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// The project's delivery with this public id.
    pub async fn delivery(
        &self,
        project_id: i64,
        uuid: Uuid,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let sql = format!("SELECT {COLS} FROM hook_deliveries WHERE project_id = $1 AND uuid = $2");
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).bind(uuid).fetch_optional(pool).await)?,
        )
    }

    /// Pull request `number` of the project, as last heard of.
    pub async fn pull_request(
        &self,
        project_id: i64,
        number: u64,
    ) -> Result<Option<KnownPr>, StoreError> {
        let sql = "SELECT number, head_sha, open FROM pull_requests WHERE project_id = $1 AND number = $2";
        let row: Option<(i64, String, bool)> = on_pool!(self.0, pool => sqlx::query_as(sql)
            .bind(project_id).bind(number as i64).fetch_optional(pool).await)?;
        Ok(row.map(known))
    }

    /// The open pull request of the project's own repository whose head is `branch`, if any.
    pub async fn open_pull_request_of(
        &self,
        project_id: i64,
        branch: &str,
    ) -> Result<Option<KnownPr>, StoreError> {
        let sql = "SELECT number, head_sha, open FROM pull_requests \
                   WHERE project_id = $1 AND head_branch = $2 AND open AND NOT fork \
                   ORDER BY number DESC LIMIT 1";
        let row: Option<(i64, String, bool)> = on_pool!(self.0, pool => sqlx::query_as(sql)
            .bind(project_id).bind(branch).fetch_optional(pool).await)?;
        Ok(row.map(known))
    }

    /// Remembers a pull request as a webhook told of it.
    pub async fn note_pull_request(
        &self,
        project_id: i64,
        pr: &PrUpdate<'_>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO pull_requests (project_id, number, head_branch, head_sha, fork, open, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, number) DO UPDATE \
                   SET head_branch = excluded.head_branch, head_sha = excluded.head_sha, \
                   fork = excluded.fork, open = excluded.open, updated_at = excluded.updated_at";
        on_pool!(self.0, pool => sqlx::query(sql).bind(project_id).bind(pr.number as i64)
            .bind(pr.head_branch).bind(pr.head_sha).bind(pr.fork).bind(pr.open).bind(now())
            .execute(pool).await.map(drop))?;
        Ok(())
    }
}

fn known((number, head_sha, open): (i64, String, bool)) -> KnownPr {
    KnownPr {
        number: number.max(0) as u64,
        head_sha,
        open,
    }
}
