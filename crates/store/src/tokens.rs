//! Where tokens are stored: API tokens of every kind, as digests only, and their recent use.
//!
//! The token value never reaches this module; callers hand it a `TokenDigest` (SHA-256) and the
//! last 4 characters for display.

use crate::error::{Conflict, Missing};
use crate::generations::{Change, announcing};
use crate::{Store, StoreError, now, on_pool, ts};
use circlet_core::scope::ProjectScope;
use circlet_core::token::{TokenDigest, TokenKind};
use circlet_core::token_limits::{LimitOrganization, LimitProject, Reach, TokenLimits};
use circlet_core::{ProjectSlug, Role, Vcs};
use time::OffsetDateTime;
use uuid::Uuid;

/// How many client addresses a token remembers.
pub const REMEMBERED_ADDRESSES: usize = 5;

/// A stored token: everything but its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Store-assigned id.
    pub id: i64,
    /// Public id, used in URLs and the API.
    pub uuid: Uuid,
    /// Personal, project or runner.
    pub kind: TokenKind,
    /// The last 4 characters of the value, for display.
    pub last4: String,
    /// The personal token's name or the project token's label.
    pub name: String,
    /// The owner of a personal token.
    pub user_id: Option<i64>,
    /// The project of a project token.
    pub project_id: Option<i64>,
    /// The scope of a project token.
    pub scope: Option<ProjectScope>,
    /// Who created it.
    pub created_by: Option<i64>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used (to within the usage flush interval).
    pub last_used_at: Option<OffsetDateTime>,
    /// The last few distinct client addresses, most recent first.
    pub last_used_from: Vec<String>,
    /// What a personal token is limited to (none for other kinds).
    pub limits: TokenLimits,
}

impl TokenRecord {
    /// Whether the token has expired at `at`.
    pub fn expired_at(&self, at: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= at)
    }
}

/// What it takes to store a new token.
#[derive(Debug, Clone)]
pub struct NewTokenRecord {
    /// Personal, project or runner.
    pub kind: TokenKind,
    /// SHA-256 of the value.
    pub digest: TokenDigest,
    /// Last 4 characters of the value.
    pub last4: String,
    /// Name or label.
    pub name: String,
    /// Owner of a personal token.
    pub user_id: Option<i64>,
    /// Project of a project token.
    pub project_id: Option<i64>,
    /// Scope of a project token.
    pub scope: Option<ProjectScope>,
    /// Who is creating it.
    pub created_by: Option<i64>,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// What a personal token is limited to, already checked: the listed projects and the
    /// organization exist.
    pub limits: TokenLimits,
}

/// A token with the names of what it belongs to, for inventories.
#[derive(Debug, Clone)]
pub struct InventoryEntry {
    /// The token.
    pub token: TokenRecord,
    /// The owner's login (personal tokens) or creator's login (others), if known.
    pub user_login: Option<String>,
    /// The project's canonical slug key (project tokens).
    pub project_slug: Option<String>,
}

/// One token's use since the last flush.
#[derive(Debug, Clone, Default)]
pub struct UsageUpdate {
    /// The token.
    pub token_id: i64,
    /// The latest use.
    pub at: Option<OffsetDateTime>,
    /// Client addresses, most recent first.
    pub addresses: Vec<String>,
    /// Uses per kind of request.
    pub kinds: Vec<(String, i64)>,
    /// The projects a personal token was used on (each once).
    pub projects: Vec<i64>,
}

/// A kind of request a token made, how often, and when last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageByKind {
    /// The kind of request (`status`, `builds`, `artifacts`, `me`, …).
    pub request_kind: String,
    /// How many.
    pub count: i64,
    /// When last.
    pub last_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    uuid: Uuid,
    kind: String,
    last4: String,
    name: String,
    user_id: Option<i64>,
    project_id: Option<i64>,
    scope: Option<String>,
    created_by: Option<i64>,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    last_used_from: String,
    role_ceiling: Option<String>,
    limit_organization_id: Option<i64>,
    limited_to_projects: bool,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(format!("bad stored {what}").into()))
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(TokenRecord {
            id: r.id,
            uuid: r.uuid,
            kind: TokenKind::parse(&r.kind).ok_or_else(|| corrupt("token kind"))?,
            last4: r.last4,
            name: r.name,
            user_id: r.user_id,
            project_id: r.project_id,
            scope: r
                .scope
                .map(|s| ProjectScope::parse(&s).map_err(|_| corrupt("scope")))
                .transpose()?,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            last_used_from: r
                .last_used_from
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            limits: TokenLimits {
                // The reach is read by `Tokens::complete`.
                reach: Reach::Everywhere,
                ceiling: r
                    .role_ceiling
                    .map(|c| Role::parse(&c).map_err(|_| corrupt("role ceiling")))
                    .transpose()?,
            },
        })
    }
}

macro_rules! token_cols {
    () => {
        "api_tokens.id, api_tokens.uuid, api_tokens.kind, api_tokens.last4, api_tokens.name, \
         api_tokens.user_id, api_tokens.project_id, api_tokens.scope, api_tokens.created_by, \
         api_tokens.created_at, api_tokens.expires_at, api_tokens.last_used_at, api_tokens.last_used_from, \
         api_tokens.role_ceiling, api_tokens.limit_organization_id, api_tokens.limited_to_projects"
    };
}

/// Inserts a token unless `$12` is set and the owner (`$6`) already holds that many personal
/// tokens. Counting and inserting in one statement keeps SQLite from upgrading a read
/// transaction to a write one (which fails with `SQLITE_BUSY` when another connection wrote in
/// between) and serializes concurrent creations there.
const INSERT: &str = concat!(
    "INSERT INTO api_tokens (uuid, kind, digest, last4, name, user_id, project_id, scope, created_by, created_at, expires_at, ",
    "role_ceiling, limit_organization_id, limited_to_projects) ",
    "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14, $15 ",
    "WHERE $12 IS NULL OR (SELECT COUNT(*) FROM api_tokens WHERE kind = 'personal' AND user_id = $6) < $12 ",
    "RETURNING ",
    token_cols!()
);

/// Use-cases on tokens; see [`Store::tokens`].
pub struct Tokens<'s>(pub(crate) &'s Store);

/// Binds a new token's values and the personal-token cap to [`INSERT`] and runs it on `$exec`;
/// `None` when the cap refused it.
macro_rules! insert_token {
    ($new:expr, $cap:expr, $exec:expr) => {
        sqlx::query_as::<_, TokenRow>(INSERT)
            .bind(Uuid::new_v4())
            .bind($new.kind.as_str())
            .bind(&$new.digest.0[..])
            .bind(&$new.last4)
            .bind(&$new.name)
            .bind($new.user_id)
            .bind($new.project_id)
            .bind($new.scope.map(ProjectScope::as_str))
            .bind($new.created_by)
            .bind(now())
            .bind($new.expires_at.map(ts))
            .bind($cap)
            .bind($new.limits.ceiling.map(Role::as_str))
            .bind(match &$new.limits.reach {
                Reach::Organization(org) => Some(org.id),
                _ => None,
            })
            .bind(matches!($new.limits.reach, Reach::Projects(_)))
            .fetch_optional($exec)
    };
}

/// Writes the project list of the token `$token_id` made from `$new`, on `$exec` (a
/// transaction).
macro_rules! insert_limit_projects {
    ($new:expr, $token_id:expr, $tx:expr) => {
        async {
            if let Reach::Projects(list) = &$new.limits.reach {
                for p in list {
                    sqlx::query(
                        "INSERT INTO api_token_projects (token_id, project_id) VALUES ($1, $2)",
                    )
                    .bind($token_id)
                    .bind(p.id)
                    .execute(&mut *$tx)
                    .await?;
                }
            }
            Ok::<_, sqlx::Error>(())
        }
    };
}

impl Tokens<'_> {
    /// Stores a new token. With `personal_cap`, refuses (`Conflict`) when the owner already has
    /// that many personal tokens, also when several creations race.
    pub async fn create(
        &self,
        new: &NewTokenRecord,
        personal_cap: Option<i64>,
    ) -> Result<TokenRecord, StoreError> {
        let cap = personal_cap.filter(|_| new.user_id.is_some());
        let lock = "SELECT id FROM users WHERE id = $1 FOR UPDATE";
        let row: Option<TokenRow> = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            if cap.is_some() && self.0.kind() == crate::BackendKind::Postgres {
                // READ COMMITTED would let two transactions both count one under the cap.
                sqlx::query(lock).bind(new.user_id).execute(&mut *tx).await?;
            }
            let row = insert_token!(new, cap, &mut *tx).await?;
            if let Some(r) = &row {
                insert_limit_projects!(new, r.id, tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        }.await)?;
        match row {
            Some(row) => Ok(with_limits_of(row.try_into()?, new)),
            None => Err(StoreError::Conflict(Conflict::TokenCap(
                cap.unwrap_or_default(),
            ))),
        }
    }

    /// Creates `new` and deletes the token `old` in one transaction; `NotFound` when `old` is gone.
    pub async fn replace(
        &self,
        old: Uuid,
        new: &NewTokenRecord,
    ) -> Result<TokenRecord, StoreError> {
        let row: Option<TokenRow> = announcing!(self.0, Change::Revocation, tx => async {
            let gone = sqlx::query("DELETE FROM api_tokens WHERE uuid = $1").bind(old).execute(&mut *tx).await?;
            if gone.rows_affected() == 0 {
                return Ok(None);
            }
            let row = insert_token!(new, None::<i64>, &mut *tx).await?;
            if let Some(r) = &row {
                insert_limit_projects!(new, r.id, tx).await?;
            }
            Ok::<_, sqlx::Error>(row)
        })?;
        let row = row.ok_or_else(|| StoreError::NotFound(Missing::Token))?;
        Ok(with_limits_of(row.try_into()?, new))
    }

    /// `row` as a record, with the projects or organization it is limited to read.
    async fn complete(&self, row: TokenRow) -> Result<TokenRecord, StoreError> {
        let (org_id, listed) = (row.limit_organization_id, row.limited_to_projects);
        let mut record = TokenRecord::try_from(row)?;
        if listed {
            let sql = "SELECT projects.id, projects.vcs, projects.org, projects.repo FROM api_token_projects \
                       JOIN projects ON projects.id = api_token_projects.project_id \
                       WHERE api_token_projects.token_id = $1 ORDER BY projects.slug_key";
            let rows: Vec<(i64, String, String, String)> = on_pool!(self.0, pool => sqlx::query_as(sql).bind(record.id).fetch_all(pool).await)?;
            let list = rows
                .into_iter()
                .map(|(id, vcs, org, repo)| {
                    Ok(LimitProject {
                        id,
                        slug: ProjectSlug::from_parts(&vcs, &org, &repo)
                            .map_err(|_| corrupt("project slug"))?,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            record.limits.reach = Reach::Projects(list);
        } else if let Some(id) = org_id {
            let sql = "SELECT vcs, name FROM organizations WHERE id = $1";
            let (vcs, name): (String, String) =
                on_pool!(self.0, pool => sqlx::query_as(sql).bind(id).fetch_one(pool).await)?;
            record.limits.reach = Reach::Organization(LimitOrganization {
                id,
                vcs: Vcs::parse(&vcs).map_err(|_| corrupt("organization"))?,
                name,
            });
        }
        Ok(record)
    }

    /// [`Tokens::complete`] for each of `rows`.
    async fn complete_all(&self, rows: Vec<TokenRow>) -> Result<Vec<TokenRecord>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.complete(row).await?);
        }
        Ok(out)
    }

    /// The token with this digest, if it exists (expired ones included: the caller decides).
    pub async fn by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE digest = $1"
        );
        let row: Option<TokenRow> = on_pool!(self.0, pool => sqlx::query_as(sql).bind(&digest.0[..]).fetch_optional(pool).await)?;
        match row {
            Some(row) => Ok(Some(self.complete(row).await?)),
            None => Ok(None),
        }
    }

    /// The token with this public id.
    pub async fn by_uuid(&self, uuid: Uuid) -> Result<Option<TokenRecord>, StoreError> {
        let sql = concat!("SELECT ", token_cols!(), " FROM api_tokens WHERE uuid = $1");
        let row: Option<TokenRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(uuid).fetch_optional(pool).await)?;
        match row {
            Some(row) => Ok(Some(self.complete(row).await?)),
            None => Ok(None),
        }
    }

    /// A user's personal tokens, newest first.
    pub async fn list_personal(&self, user_id: i64) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE kind = 'personal' AND user_id = $1 ",
            "ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<TokenRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(user_id).fetch_all(pool).await)?;
        self.complete_all(rows).await
    }

    /// A project's tokens, newest first.
    pub async fn list_project(&self, project_id: i64) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE kind = 'project' AND project_id = $1 ",
            "ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<TokenRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(project_id).fetch_all(pool).await)?;
        rows.into_iter().map(TokenRecord::try_from).collect()
    }

    /// Every token with its owner's login and project's slug, newest first (the admin inventory).
    pub async fn inventory(&self) -> Result<Vec<InventoryEntry>, StoreError> {
        self.inventory_where("TRUE", None).await
    }

    /// The personal and project tokens that expire after `after` and at or before `until`,
    /// with their owners' logins and projects' slugs, soonest first (expiry notices).
    pub async fn expiring(
        &self,
        after: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<InventoryEntry>, StoreError> {
        let filter = "api_tokens.kind IN ('personal', 'project') \
                      AND api_tokens.expires_at > $1 AND api_tokens.expires_at <= $2";
        self.inventory_where(filter, Some((after, until))).await
    }

    async fn inventory_where(
        &self,
        filter: &str,
        between: Option<(OffsetDateTime, OffsetDateTime)>,
    ) -> Result<Vec<InventoryEntry>, StoreError> {
        let order = if between.is_some() {
            "api_tokens.expires_at, api_tokens.id"
        } else {
            "api_tokens.created_at DESC, api_tokens.id DESC"
        };
        let sql = format!(
            "SELECT {}, users.login AS user_login, projects.slug_key AS project_slug \
             FROM api_tokens LEFT JOIN users ON users.id = COALESCE(api_tokens.user_id, api_tokens.created_by) \
             LEFT JOIN projects ON projects.id = api_tokens.project_id \
             WHERE {filter} ORDER BY {order}",
            token_cols!()
        );
        let rows: Vec<(TokenRow, Option<String>, Option<String>)> = on_pool!(self.0, pool => {
            use sqlx::{FromRow, Row};
            let mut q = sqlx::query(&sql);
            if let Some((after, until)) = between {
                q = q.bind(ts(after)).bind(ts(until));
            }
            q.fetch_all(pool).await?
                .iter()
                .map(|r| Ok::<_, sqlx::Error>((TokenRow::from_row(r)?, r.try_get("user_login")?, r.try_get("project_slug")?)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (t, user_login, project_slug) in rows {
            out.push(InventoryEntry {
                token: self.complete(t).await?,
                user_login,
                project_slug,
            });
        }
        Ok(out)
    }

    /// Deletes a token; returns what it was (its ceiling, not the projects or organization it
    /// was limited to), or `None` when there was no such token.
    pub async fn delete(&self, uuid: Uuid) -> Result<Option<TokenRecord>, StoreError> {
        let sql = concat!(
            "DELETE FROM api_tokens WHERE uuid = $1 RETURNING ",
            token_cols!()
        );
        let row: Option<TokenRow> = announcing!(self.0, Change::Revocation, tx => async {
            sqlx::query_as(sql).bind(uuid).fetch_optional(&mut *tx).await
        })?;
        row.map(TokenRecord::try_from).transpose()
    }

    /// Writes a batch of usage: last used time, recent addresses, per-kind counts. Tokens deleted
    /// meanwhile are skipped.
    pub async fn record_usage(&self, batch: &[UsageUpdate]) -> Result<(), StoreError> {
        let read = "SELECT last_used_from FROM api_tokens WHERE id = $1";
        let write = "UPDATE api_tokens SET last_used_at = $2, last_used_from = $3 WHERE id = $1";
        let upsert = concat!(
            "INSERT INTO api_token_usage (token_id, request_kind, count, last_at) VALUES ($1, $2, $3, $4) ",
            "ON CONFLICT (token_id, request_kind) DO UPDATE SET count = api_token_usage.count + excluded.count, ",
            "last_at = excluded.last_at"
        );
        // A project deleted since the request is skipped, not a failed batch.
        let touched = concat!(
            "INSERT INTO api_token_project_usage (token_id, project_id, last_at) ",
            "SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM projects WHERE id = $2) ",
            "ON CONFLICT (token_id, project_id) DO UPDATE SET last_at = excluded.last_at"
        );
        on_pool!(self.0, pool => async {
            // The addresses are read before the transaction: a SQLite transaction that reads
            // before it writes fails with SQLITE_BUSY when another connection writes in between,
            // and the batch would be lost.
            let mut merged = Vec::with_capacity(batch.len());
            for u in batch {
                let Some(at) = u.at else { continue };
                let previous: Option<String> =
                    sqlx::query_scalar(read).bind(u.token_id).fetch_optional(pool).await?;
                if let Some(previous) = previous {
                    merged.push((u, at, merge_addresses(&u.addresses, &previous)));
                }
            }
            let mut tx = pool.begin().await?;
            for (u, at, addresses) in merged {
                let updated = sqlx::query(write).bind(u.token_id).bind(ts(at)).bind(addresses).execute(&mut *tx).await?;
                if updated.rows_affected() == 0 {
                    continue;
                }
                for (kind, count) in &u.kinds {
                    sqlx::query(upsert).bind(u.token_id).bind(kind).bind(count).bind(ts(at)).execute(&mut *tx).await?;
                }
                for project_id in &u.projects {
                    sqlx::query(touched).bind(u.token_id).bind(project_id).bind(ts(at)).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        }.await)?;
        Ok(())
    }

    /// The ids of the projects a token was used on since `since`, most recently used first.
    pub async fn projects_used(
        &self,
        token_id: i64,
        since: OffsetDateTime,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = "SELECT project_id FROM api_token_project_usage WHERE token_id = $1 AND last_at >= $2 \
                   ORDER BY last_at DESC, project_id";
        Ok(on_pool!(self.0, pool => {
            sqlx::query_scalar(sql).bind(token_id).bind(ts(since)).fetch_all(pool).await
        })?)
    }

    /// What kinds of requests a token made since `since`, most used first.
    pub async fn usage(
        &self,
        token_id: i64,
        since: OffsetDateTime,
    ) -> Result<Vec<UsageByKind>, StoreError> {
        let sql = "SELECT request_kind, count, last_at FROM api_token_usage WHERE token_id = $1 AND last_at >= $2 ORDER BY count DESC, request_kind";
        let rows: Vec<(String, i64, OffsetDateTime)> = on_pool!(self.0, pool => {
            sqlx::query_as(sql).bind(token_id).bind(ts(since)).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(request_kind, count, last_at)| UsageByKind {
                request_kind,
                count,
                last_at,
            })
            .collect())
    }
}

/// `record` (just written from `new`) with the projects or organization `new` is limited to.
fn with_limits_of(mut record: TokenRecord, new: &NewTokenRecord) -> TokenRecord {
    record.limits.reach = new.limits.reach.clone();
    record
}

/// `fresh` (most recent first) ahead of `previous` (comma-separated), distinct, at most
/// [`REMEMBERED_ADDRESSES`].
fn merge_addresses(fresh: &[String], previous: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for a in fresh.iter().map(String::as_str).chain(previous.split(',')) {
        if !a.is_empty() && !out.contains(&a) && out.len() < REMEMBERED_ADDRESSES {
            out.push(a);
        }
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_merge_newest_first_distinct_and_bounded() {
        let fresh = vec!["10.0.0.9".to_owned(), "10.0.0.1".to_owned()];
        assert_eq!(
            super::merge_addresses(&fresh, "10.0.0.1,10.0.0.2"),
            "10.0.0.9,10.0.0.1,10.0.0.2"
        );
        assert_eq!(super::merge_addresses(&[], ""), "");
        let many: Vec<String> = (0..9).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(
            super::merge_addresses(&many, "x").split(',').count(),
            super::REMEMBERED_ADDRESSES
        );
    }
}
