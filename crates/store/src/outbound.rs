//! What circlet tells others: each project's commit-status target and outbound webhooks (their
//! secrets sealed; sealing is the app's), and the outbox of messages to send, retried with
//! backoff and kept as the delivery log.

use crate::{Store, StoreError, now, on_pool, ts};
use time::OffsetDateTime;
use uuid::Uuid;

/// How many messages a project's log keeps.
pub const KEPT_MESSAGES: i64 = 500;

/// Where a project's commit statuses go.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatusTargetRecord {
    /// The project.
    pub project_id: i64,
    /// `github`, `gitea` or `gitlab`.
    pub forge: String,
    /// The forge's API base URL.
    pub api_url: String,
    /// `owner/name` there; empty: the project's `org/repo`.
    pub repository: String,
    /// The key the token is sealed with.
    pub key_id: String,
    /// The sealed access token.
    pub sealed: Vec<u8>,
    /// When set.
    pub created_at: OffsetDateTime,
}

/// An outbound webhook.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookRecord {
    /// Store id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// The project (its scope).
    pub project_id: i64,
    /// Its name.
    pub name: String,
    /// Where events are posted.
    pub url: String,
    /// Whether the receiver's certificate is checked.
    pub verify_tls: bool,
    /// The events, comma-separated: `workflow-completed`, `job-completed`.
    pub events: String,
    /// The key the signing secret is sealed with.
    pub key_id: String,
    /// The sealed signing secret.
    pub sealed: Vec<u8>,
    /// When made.
    pub created_at: OffsetDateTime,
    /// When last changed.
    pub updated_at: OffsetDateTime,
}

/// A webhook to store or its new values.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    /// The project.
    pub project_id: i64,
    /// Its name.
    pub name: &'a str,
    /// Where events go.
    pub url: &'a str,
    /// Check the receiver's certificate.
    pub verify_tls: bool,
    /// The events, comma-separated.
    pub events: &'a str,
    /// The sealing key.
    pub key_id: &'a str,
    /// The sealed signing secret.
    pub sealed: &'a [u8],
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRecord {
    /// Store id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The webhook it goes to (`None`: a commit status).
    pub webhook_id: Option<i64>,
    /// `status` or `webhook`.
    pub kind: String,
    /// What it tells: `job-completed`, `workflow-completed`, `status: <context> <state>`.
    pub event: String,
    /// Where it goes.
    pub url: String,
    /// The JSON body.
    pub body: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: String,
    /// How many attempts were made.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: OffsetDateTime,
    /// The last response's HTTP status.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: String,
    /// When queued.
    pub created_at: OffsetDateTime,
    /// When delivered.
    pub delivered_at: Option<OffsetDateTime>,
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// The project.
    pub project_id: i64,
    /// The webhook (`None`: a commit status).
    pub webhook_id: Option<i64>,
    /// `status` or `webhook`.
    pub kind: &'a str,
    /// What it tells.
    pub event: &'a str,
    /// Where it goes.
    pub url: &'a str,
    /// The JSON body.
    pub body: &'a str,
}

const TARGET_COLS: &str = "project_id, forge, api_url, repository, key_id, sealed, created_at";
const HOOK_COLS: &str =
    "id, uuid, project_id, name, url, verify_tls, events, key_id, sealed, created_at, updated_at";
const MESSAGE_COLS: &str = "id, project_id, webhook_id, kind, event, url, body, state, attempts, next_attempt_at, \
                            last_status, last_error, created_at, delivered_at";

/// Use-cases on what circlet tells others; see [`Store::outbound`].
pub struct Outbound<'s>(pub(crate) &'s Store);

impl Outbound<'_> {
    /// The project's commit-status target.
    pub async fn status_target(
        &self,
        project_id: i64,
    ) -> Result<Option<StatusTargetRecord>, StoreError> {
        let sql = format!("SELECT {TARGET_COLS} FROM project_status_targets WHERE project_id = $1");
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).fetch_optional(pool).await)?,
        )
    }

    /// Sets (or replaces) the project's commit-status target.
    pub async fn set_status_target(
        &self,
        project_id: i64,
        forge: &str,
        api_url: &str,
        repository: &str,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO project_status_targets (project_id, forge, api_url, repository, key_id, sealed, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id) DO UPDATE SET forge = excluded.forge, \
                   api_url = excluded.api_url, repository = excluded.repository, key_id = excluded.key_id, \
                   sealed = excluded.sealed, created_at = excluded.created_at";
        on_pool!(self.0, pool => sqlx::query(sql).bind(project_id).bind(forge).bind(api_url).bind(repository)
            .bind(key_id).bind(sealed).bind(now()).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Forgets the project's commit statuses not yet sent: queued for a target that changed,
    /// they must not carry the new target's token to the old address.
    pub async fn drop_pending_statuses(&self, project_id: i64) -> Result<(), StoreError> {
        let sql =
            "DELETE FROM outbox WHERE project_id = $1 AND kind = 'status' AND state = 'pending'";
        on_pool!(self.0, pool => sqlx::query(sql).bind(project_id).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Removes the project's commit-status target; whether it had one.
    pub async fn remove_status_target(&self, project_id: i64) -> Result<bool, StoreError> {
        let sql = "DELETE FROM project_status_targets WHERE project_id = $1";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(project_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Adds a webhook.
    pub async fn create_webhook(
        &self,
        uuid: Uuid,
        new: &NewWebhook<'_>,
    ) -> Result<WebhookRecord, StoreError> {
        let sql = format!(
            "INSERT INTO outbound_webhooks (uuid, project_id, name, url, verify_tls, events, key_id, sealed, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {HOOK_COLS}"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).bind(new.project_id)
            .bind(new.name).bind(new.url).bind(new.verify_tls).bind(new.events).bind(new.key_id)
            .bind(new.sealed).bind(now()).fetch_one(pool).await)?,
        )
    }

    /// Replaces webhook `id`'s values; `None` when it is gone.
    pub async fn update_webhook(
        &self,
        id: i64,
        new: &NewWebhook<'_>,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        let sql = format!(
            "UPDATE outbound_webhooks SET name = $2, url = $3, verify_tls = $4, events = $5, key_id = $6, \
             sealed = $7, updated_at = $8 WHERE id = $1 RETURNING {HOOK_COLS}"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(id).bind(new.name).bind(new.url)
            .bind(new.verify_tls).bind(new.events).bind(new.key_id).bind(new.sealed).bind(now())
            .fetch_optional(pool).await)?,
        )
    }

    /// The webhook with this public id.
    pub async fn webhook(&self, uuid: Uuid) -> Result<Option<WebhookRecord>, StoreError> {
        let sql = format!("SELECT {HOOK_COLS} FROM outbound_webhooks WHERE uuid = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_optional(pool).await)?)
    }

    /// The project's webhooks, oldest first.
    pub async fn webhooks(&self, project_id: i64) -> Result<Vec<WebhookRecord>, StoreError> {
        let sql =
            format!("SELECT {HOOK_COLS} FROM outbound_webhooks WHERE project_id = $1 ORDER BY id");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).fetch_all(pool).await)?)
    }

    /// Removes webhook `id` (and its log); whether it was there.
    pub async fn delete_webhook(&self, id: i64) -> Result<bool, StoreError> {
        let sql = "DELETE FROM outbound_webhooks WHERE id = $1";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Up to `limit` (project id, key id, sealed) secrets of targets and webhooks sealed with a
    /// key other than `current`, each with a tag saying which row it is (`target:<project>`,
    /// `webhook:<id>`).
    pub async fn sealed_by_other_keys(
        &self,
        current: &str,
        limit: i64,
    ) -> Result<Vec<(String, i64, String, Vec<u8>)>, StoreError> {
        let sql = "SELECT 'target', project_id, project_id, key_id, sealed FROM project_status_targets WHERE key_id <> $1 \
                   UNION ALL SELECT 'webhook', id, project_id, key_id, sealed FROM outbound_webhooks WHERE key_id <> $1 \
                   LIMIT $2";
        let rows: Vec<(String, i64, i64, String, Vec<u8>)> = on_pool!(self.0, pool =>
            sqlx::query_as(sql).bind(current).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(kind, id, project, key, sealed)| (format!("{kind}:{id}"), project, key, sealed))
            .collect())
    }

    /// Replaces the sealed secret of the row `tag` names if it is still `old`; whether it was.
    pub async fn reseal(
        &self,
        tag: &str,
        old: &[u8],
        key_id: &str,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let (table, key) = match tag.split_once(':') {
            Some(("target", id)) => ("project_status_targets", ("project_id", id)),
            Some(("webhook", id)) => ("outbound_webhooks", ("id", id)),
            _ => return Ok(false),
        };
        let id: i64 = key.1.parse().unwrap_or(-1);
        let sql = format!(
            "UPDATE {table} SET key_id = $1, sealed = $2 WHERE {} = $3 AND sealed = $4",
            key.0
        );
        let n = on_pool!(self.0, pool => sqlx::query(&sql).bind(key_id).bind(sealed).bind(id).bind(old)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Queues a message, due now, and forgets the project's messages beyond [`KEPT_MESSAGES`].
    pub async fn enqueue(&self, m: &NewMessage<'_>) -> Result<(), StoreError> {
        let sql = "INSERT INTO outbox (project_id, webhook_id, kind, event, url, body, next_attempt_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
        let prune = "DELETE FROM outbox WHERE project_id = $1 AND state <> 'pending' AND id <= \
                     (SELECT id FROM outbox WHERE project_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)";
        on_pool!(self.0, pool => async {
            sqlx::query(sql).bind(m.project_id).bind(m.webhook_id).bind(m.kind).bind(m.event)
                .bind(m.url).bind(m.body).bind(now()).execute(pool).await?;
            sqlx::query(prune).bind(m.project_id).bind(KEPT_MESSAGES).execute(pool).await.map(drop)
        }.await)?;
        Ok(())
    }

    /// Up to `limit` pending messages due at `at`.
    pub async fn due(
        &self,
        at: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(ts(at)).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// Takes message `m` for one attempt until `until` (when, should this process die, it is
    /// due again); `true` for the one caller that took it.
    pub async fn take(&self, m: &MessageRecord, until: OffsetDateTime) -> Result<bool, StoreError> {
        let sql = "UPDATE outbox SET next_attempt_at = $3, attempts = attempts + 1 \
                   WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(m.id).bind(ts(m.next_attempt_at)).bind(ts(until))
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Writes what an attempt at message `id` came to: `state` `delivered`, `failed` (given up)
    /// or `pending` again at `retry_at`.
    pub async fn settle(
        &self,
        id: i64,
        state: &str,
        status: Option<i32>,
        error: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let delivered = (state == "delivered").then(now);
        let sql = "UPDATE outbox SET state = $2, last_status = $3, last_error = $4, next_attempt_at = $5, \
                   delivered_at = $6 WHERE id = $1";
        on_pool!(self.0, pool => sqlx::query(sql).bind(id).bind(state).bind(status).bind(error)
            .bind(ts(retry_at)).bind(delivered).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// The project's newest `limit` messages (of one webhook, or commit statuses when `None`
    /// and `statuses`), newest first.
    pub async fn log(
        &self,
        project_id: i64,
        webhook_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM outbox WHERE project_id = $1 \
             AND COALESCE(webhook_id, 0) = COALESCE($2, 0) ORDER BY id DESC LIMIT $3"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).bind(webhook_id)
            .bind(limit).fetch_all(pool).await)?,
        )
    }
}
