//! The audit log: token lifecycle events and failed authentications, with actor, time and address.

use crate::{Store, StoreError, now, on_pool};
use time::OffsetDateTime;
use uuid::Uuid;

/// One audit event to record.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry {
    /// What happened: `token.created`, `token.replaced`, `token.deleted`, `token.revoked`,
    /// `token.expired_use`, `auth.failed`, `settings.changed`.
    pub event: String,
    /// Who did it, if a user.
    pub actor_id: Option<i64>,
    /// Their login, kept even if the user is later deleted.
    pub actor_login: String,
    /// Whose token it concerns (personal tokens).
    pub owner_id: Option<i64>,
    /// Which project it concerns (project tokens).
    pub project_id: Option<i64>,
    /// Which token.
    pub token_uuid: Option<Uuid>,
    /// Client address.
    pub address: String,
    /// Free text: the token's name, a count, a setting's value. Never a secret.
    pub detail: String,
}

/// A recorded audit event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When.
    pub at: OffsetDateTime,
    /// What happened.
    pub event: String,
    /// Who did it.
    pub actor_id: Option<i64>,
    /// Their login.
    pub actor_login: String,
    /// Whose token.
    pub owner_id: Option<i64>,
    /// Which project.
    pub project_id: Option<i64>,
    /// Which token.
    pub token_uuid: Option<Uuid>,
    /// Client address.
    pub address: String,
    /// Details.
    pub detail: String,
}

/// Which entries a reader may see.
#[derive(Debug, Clone, Copy)]
pub enum AuditScope<'a> {
    /// Everything (site admins).
    All,
    /// Entries about this user's tokens or by this user, plus those of these projects.
    For {
        /// The reader.
        user_id: i64,
        /// Projects the reader administers.
        project_ids: &'a [i64],
    },
}

/// Use-cases on the audit log; see [`Store::audit`].
pub struct Audit<'s>(pub(crate) &'s Store);

impl Audit<'_> {
    /// Appends an entry.
    pub async fn append(&self, e: &NewAuditEntry) -> Result<(), StoreError> {
        let sql = concat!(
            "INSERT INTO audit_log (at, event, actor_id, actor_login, owner_id, project_id, token_uuid, address, detail) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        on_pool!(self.0, pool => {
            sqlx::query(sql)
                .bind(now()).bind(&e.event).bind(e.actor_id).bind(&e.actor_login).bind(e.owner_id)
                .bind(e.project_id).bind(e.token_uuid).bind(&e.address).bind(&e.detail)
                .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The newest `limit` entries `scope` may see, newest first.
    pub async fn list(
        &self,
        scope: AuditScope<'_>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let cols = "id, at, event, actor_id, actor_login, owner_id, project_id, token_uuid, address, detail";
        let rows: Vec<AuditEntry> = match scope {
            AuditScope::All => {
                let sql = format!("SELECT {cols} FROM audit_log ORDER BY id DESC LIMIT $1");
                on_pool!(self.0, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)?
            }
            AuditScope::For {
                user_id,
                project_ids,
            } => {
                // Project ids are integers from the store, so inlining them is safe and keeps
                // one statement for both backends.
                let projects = if project_ids.is_empty() {
                    "NULL".to_owned()
                } else {
                    project_ids
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let sql = format!(
                    "SELECT {cols} FROM audit_log WHERE owner_id = $1 OR actor_id = $1 OR project_id IN ({projects}) \
                     ORDER BY id DESC LIMIT $2"
                );
                on_pool!(self.0, pool => sqlx::query_as(&sql).bind(user_id).bind(limit).fetch_all(pool).await)?
            }
        };
        Ok(rows)
    }

    /// Entries of kind `event` since `since` that concern `user_id` (as owner) or one of
    /// `project_ids`, newest first: what a banner tells a user about.
    pub async fn recent_for(
        &self,
        event: &str,
        since: OffsetDateTime,
        user_id: i64,
        project_ids: &[i64],
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let cols = "id, at, event, actor_id, actor_login, owner_id, project_id, token_uuid, address, detail";
        // Project ids are integers from the store, so inlining them is safe.
        let projects = if project_ids.is_empty() {
            "NULL".to_owned()
        } else {
            project_ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let sql = format!(
            "SELECT {cols} FROM audit_log WHERE event = $1 AND at >= $2 AND (owner_id = $3 OR project_id IN ({projects})) \
             ORDER BY id DESC LIMIT 20"
        );
        Ok(on_pool!(self.0, pool => {
            sqlx::query_as(&sql).bind(event).bind(crate::ts(since)).bind(user_id).fetch_all(pool).await
        })?)
    }
}
