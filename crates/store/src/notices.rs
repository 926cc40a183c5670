//! Notices to tokens' owners (a token expires in 7 days or 1 day, or was revoked because it
//! leaked): made once per (token, kind, recipient) whatever number of replicas sweep, shown on
//! the recipient's dashboard until dismissed, and each one's email, claimed for one attempt by
//! compare-and-set on `mail_next_at` (as the outbox is), settled sent, pending again or failed.

use crate::{Store, StoreError, first, now, on_pool, ts};
use circlet_core::notice::{MailState, NoticeKind};
use circlet_core::token::TokenKind;
use time::OffsetDateTime;
use uuid::Uuid;

/// A notice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecord {
    /// Store id.
    pub id: i64,
    /// Public id, in the dismiss URL.
    pub uuid: Uuid,
    /// Who is told.
    pub user_id: i64,
    /// The token it is about (which may be gone).
    pub token_uuid: Uuid,
    /// What it says.
    pub kind: NoticeKind,
    /// The token's kind.
    pub token_kind: TokenKind,
    /// The token's name or label when the notice was made.
    pub token_name: String,
    /// The token's last 4 characters.
    pub token_last4: String,
    /// The project's slug (project tokens), or empty.
    pub project_slug: String,
    /// When the token expires (expiry notices).
    pub expires_at: Option<OffsetDateTime>,
    /// Where it was found (revocations).
    pub detail: String,
    /// When the notice was made.
    pub created_at: OffsetDateTime,
    /// When its recipient dismissed it.
    pub dismissed_at: Option<OffsetDateTime>,
    /// Its email's state.
    pub mail_state: MailState,
    /// How many times sending it was tried.
    pub mail_attempts: i32,
    /// When it is next due to be tried (while pending).
    pub mail_next_at: OffsetDateTime,
    /// Why the last attempt failed, or empty.
    pub mail_error: String,
}

/// What it takes to make a notice.
#[derive(Debug, Clone)]
pub struct NewNotice<'a> {
    /// Who is told.
    pub user_id: i64,
    /// The token it is about.
    pub token_uuid: Uuid,
    /// What it says.
    pub kind: NoticeKind,
    /// The token's kind.
    pub token_kind: TokenKind,
    /// The token's name or label.
    pub token_name: &'a str,
    /// The token's last 4 characters.
    pub token_last4: &'a str,
    /// The project's slug, or empty.
    pub project_slug: &'a str,
    /// When the token expires.
    pub expires_at: Option<OffsetDateTime>,
    /// Where it was found.
    pub detail: &'a str,
    /// Whether an email is to be sent (`pending`) or not (`off`).
    pub mail: bool,
}

#[derive(sqlx::FromRow)]
struct NoticeRow {
    id: i64,
    uuid: Uuid,
    user_id: i64,
    token_uuid: Uuid,
    kind: String,
    token_kind: String,
    token_name: String,
    token_last4: String,
    project_slug: String,
    expires_at: Option<OffsetDateTime>,
    detail: String,
    created_at: OffsetDateTime,
    dismissed_at: Option<OffsetDateTime>,
    mail_state: String,
    mail_attempts: i32,
    mail_next_at: OffsetDateTime,
    mail_error: String,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(format!("bad stored {what}").into()))
}

impl TryFrom<NoticeRow> for NoticeRecord {
    type Error = StoreError;
    fn try_from(r: NoticeRow) -> Result<Self, StoreError> {
        Ok(NoticeRecord {
            id: r.id,
            uuid: r.uuid,
            user_id: r.user_id,
            token_uuid: r.token_uuid,
            kind: NoticeKind::parse(&r.kind).ok_or_else(|| corrupt("notice kind"))?,
            token_kind: TokenKind::parse(&r.token_kind).ok_or_else(|| corrupt("token kind"))?,
            token_name: r.token_name,
            token_last4: r.token_last4,
            project_slug: r.project_slug,
            expires_at: r.expires_at,
            detail: r.detail,
            created_at: r.created_at,
            dismissed_at: r.dismissed_at,
            mail_state: MailState::parse(&r.mail_state).ok_or_else(|| corrupt("mail state"))?,
            mail_attempts: r.mail_attempts,
            mail_next_at: r.mail_next_at,
            mail_error: r.mail_error,
        })
    }
}

fn records(rows: Vec<NoticeRow>) -> Result<Vec<NoticeRecord>, StoreError> {
    rows.into_iter().map(NoticeRecord::try_from).collect()
}

const COLS: &str = "token_notices.id, token_notices.uuid, token_notices.user_id, \
    token_notices.token_uuid, token_notices.kind, token_notices.token_kind, \
    token_notices.token_name, token_notices.token_last4, token_notices.project_slug, \
    token_notices.expires_at, token_notices.detail, token_notices.created_at, \
    token_notices.dismissed_at, token_notices.mail_state, token_notices.mail_attempts, \
    token_notices.mail_next_at, token_notices.mail_error";

/// Use-cases on notices; see [`Store::notices`].
pub struct Notices<'s>(pub(crate) &'s Store);

impl Notices<'_> {
    /// Makes a notice, its email due now when `new.mail`; `None` when this (token, kind,
    /// recipient) has one already, made by this process or another.
    pub async fn record(&self, new: &NewNotice<'_>) -> Result<Option<NoticeRecord>, StoreError> {
        let sql = format!(
            "INSERT INTO token_notices (uuid, user_id, token_uuid, kind, token_kind, token_name, \
             token_last4, project_slug, expires_at, detail, created_at, mail_state, mail_next_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11) \
             ON CONFLICT (token_uuid, kind, user_id) DO NOTHING RETURNING {COLS}"
        );
        let state = if new.mail {
            MailState::Pending
        } else {
            MailState::Off
        };
        let rows: Vec<NoticeRow> = on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(Uuid::new_v4()).bind(new.user_id).bind(new.token_uuid).bind(new.kind.as_str())
            .bind(new.token_kind.as_str()).bind(new.token_name).bind(new.token_last4)
            .bind(new.project_slug).bind(new.expires_at.map(ts)).bind(new.detail).bind(now())
            .bind(state.as_str())
            .fetch_all(pool).await)?;
        first(rows).map(NoticeRecord::try_from).transpose()
    }

    /// A user's notices not dismissed yet, newest first, at most `limit`. An expiry notice is
    /// left out once its token is gone (deleted, replaced or revoked): it no longer matters.
    pub async fn unread(&self, user_id: i64, limit: i64) -> Result<Vec<NoticeRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM token_notices WHERE user_id = $1 AND dismissed_at IS NULL \
             AND (kind = 'revoked' OR EXISTS (SELECT 1 FROM api_tokens WHERE api_tokens.uuid = token_notices.token_uuid)) \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<NoticeRow> = on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(user_id).bind(limit).fetch_all(pool).await)?;
        records(rows)
    }

    /// Dismisses the notice `uuid` of user `user_id`; `false` when they have no such notice
    /// (or dismissed it already).
    pub async fn dismiss(&self, user_id: i64, uuid: Uuid) -> Result<bool, StoreError> {
        let sql = "UPDATE token_notices SET dismissed_at = $3 \
                   WHERE uuid = $1 AND user_id = $2 AND dismissed_at IS NULL";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(uuid).bind(user_id).bind(now())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Up to `limit` notices whose email is pending and due at `at`, oldest first.
    pub async fn mail_due(
        &self,
        at: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<NoticeRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM token_notices WHERE mail_state = 'pending' AND mail_next_at <= $1 \
             ORDER BY mail_next_at, id LIMIT $2"
        );
        let rows: Vec<NoticeRow> = on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(ts(at)).bind(limit).fetch_all(pool).await)?;
        records(rows)
    }

    /// Takes notice `n`'s email for one attempt until `until` (when, should this process die
    /// sending it, it is due again); `true` for the one caller that took it.
    pub async fn take_mail(
        &self,
        n: &NoticeRecord,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE token_notices SET mail_next_at = $3, mail_attempts = mail_attempts + 1 \
                   WHERE id = $1 AND mail_state = 'pending' AND mail_next_at = $2";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(n.id).bind(ts(n.mail_next_at))
            .bind(ts(until)).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Writes what an attempt at notice `id`'s email came to: `state` (pending again from
    /// `retry_at`, sent, failed or off) and why it failed, or empty.
    pub async fn settle_mail(
        &self,
        id: i64,
        state: MailState,
        error: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE token_notices SET mail_state = $2, mail_error = $3, mail_next_at = $4 \
                   WHERE id = $1";
        on_pool!(self.0, pool => sqlx::query(sql).bind(id).bind(state.as_str()).bind(error)
            .bind(ts(retry_at)).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Forgets notices made before `before` whose email is not pending; how many. Their tokens
    /// have expired or been revoked by then, so none is made again.
    pub async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let sql = "DELETE FROM token_notices WHERE created_at < $1 AND mail_state <> 'pending'";
        Ok(on_pool!(self.0, pool => sqlx::query(sql).bind(ts(before))
            .execute(pool).await.map(|r| r.rows_affected()))?)
    }

    /// The notice `uuid` (tests and the admin's view).
    pub async fn by_uuid(&self, uuid: Uuid) -> Result<Option<NoticeRecord>, StoreError> {
        let sql = format!("SELECT {COLS} FROM token_notices WHERE uuid = $1");
        let rows: Vec<NoticeRow> =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_all(pool).await)?;
        first(rows).map(NoticeRecord::try_from).transpose()
    }
}
