//! Contexts: an organization's shared environment variables, stored sealed (this module never
//! sees a clear value), and the restrictions on who may use them.

use crate::error::{Conflict, Missing};
use crate::{Store, StoreError, now, on_pool};
use circlet_core::context::RestrictionKind;
use time::OffsetDateTime;
use uuid::Uuid;

/// A context.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Context {
    /// Store id.
    pub id: i64,
    /// Public id (API v2's).
    pub uuid: Uuid,
    /// Its organization's store id.
    pub org_id: i64,
    /// Its name, unique in its organization.
    pub name: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// A context's variable, sealed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContextVar {
    /// Its name.
    pub name: String,
    /// Which instance key sealed it.
    pub key_id: String,
    /// Nonce, ciphertext and tag.
    pub sealed: Vec<u8>,
    /// What listings show.
    pub masked: String,
    /// When it was first set.
    pub created_at: OffsetDateTime,
    /// When it was last set.
    pub updated_at: OffsetDateTime,
}

/// A restriction on who may use a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    /// Public id.
    pub uuid: Uuid,
    /// What it limits.
    pub kind: RestrictionKind,
    /// A project's id, or a role's name.
    pub value: String,
    /// When it was added.
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct RestrictionRow {
    uuid: Uuid,
    kind: String,
    value: String,
    created_at: OffsetDateTime,
}

impl TryFrom<RestrictionRow> for Restriction {
    type Error = StoreError;
    fn try_from(r: RestrictionRow) -> Result<Self, StoreError> {
        Ok(Restriction {
            uuid: r.uuid,
            kind: RestrictionKind::parse(&r.kind)
                .map_err(|e| StoreError::Database(sqlx::Error::Decode(e.0.into())))?,
            value: r.value,
            created_at: r.created_at,
        })
    }
}

const COLS: &str = "id, uuid, org_id, name, created_at";
const VAR_COLS: &str = "name, key_id, sealed, masked, created_at, updated_at";

/// Use-cases on contexts; see [`Store::contexts`].
pub struct Contexts<'s>(pub(crate) &'s Store);

impl Contexts<'_> {
    /// Makes a context named `name` in organization `org_id`; [`Conflict::Context`] when the
    /// organization has one of that name.
    pub async fn create(&self, org_id: i64, name: &str) -> Result<Context, StoreError> {
        let sql = format!(
            "INSERT INTO contexts (uuid, org_id, name, created_at) VALUES ($1, $2, $3, $4) RETURNING {COLS}"
        );
        on_pool!(self.0, pool => sqlx::query_as(&sql).bind(Uuid::new_v4()).bind(org_id).bind(name).bind(now())
            .fetch_one(pool).await)
            .map_err(|e| StoreError::from(e).conflict_as(Conflict::Context(name.to_owned())))
    }

    /// An organization's contexts, by name.
    pub async fn list(&self, org_id: i64) -> Result<Vec<Context>, StoreError> {
        let sql = format!("SELECT {COLS} FROM contexts WHERE org_id = $1 ORDER BY name");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(org_id).fetch_all(pool).await)?)
    }

    /// The context with this public id.
    pub async fn by_uuid(&self, uuid: Uuid) -> Result<Option<Context>, StoreError> {
        let sql = format!("SELECT {COLS} FROM contexts WHERE uuid = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_optional(pool).await)?)
    }

    /// The organization's context named `name` (exactly).
    pub async fn by_name(&self, org_id: i64, name: &str) -> Result<Option<Context>, StoreError> {
        let sql = format!("SELECT {COLS} FROM contexts WHERE org_id = $1 AND name = $2");
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(org_id).bind(name).fetch_optional(pool).await)?,
        )
    }

    /// Deletes a context with its variables and restrictions; `false` when there was none.
    pub async fn delete(&self, id: i64) -> Result<bool, StoreError> {
        let sql = "DELETE FROM contexts WHERE id = $1";
        Ok(
            on_pool!(self.0, pool => sqlx::query(sql).bind(id).execute(pool).await.map(|r| r.rows_affected() > 0))?,
        )
    }

    /// Sets a variable of context `context_id`, replacing one of the same name (which keeps
    /// its `created_at`). [`Missing::Context`] when the context is gone.
    pub async fn set_var(
        &self,
        context_id: i64,
        v: &crate::NewEnvVar,
    ) -> Result<ContextVar, StoreError> {
        let sql = format!(
            "INSERT INTO context_env_vars (context_id, name, key_id, sealed, masked, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (context_id, name) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, \
             masked = excluded.masked, updated_at = excluded.updated_at RETURNING {VAR_COLS}"
        );
        on_pool!(self.0, pool => sqlx::query_as(&sql).bind(context_id).bind(&v.name).bind(&v.key_id)
            .bind(&v.sealed).bind(&v.masked).bind(now()).fetch_one(pool).await)
        .map_err(|e| gone_context(e.into()))
    }

    /// A context's variables, by name.
    pub async fn vars(&self, context_id: i64) -> Result<Vec<ContextVar>, StoreError> {
        let sql =
            format!("SELECT {VAR_COLS} FROM context_env_vars WHERE context_id = $1 ORDER BY name");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(context_id).fetch_all(pool).await)?)
    }

    /// Deletes a variable; `false` when there was none.
    pub async fn delete_var(&self, context_id: i64, name: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM context_env_vars WHERE context_id = $1 AND name = $2";
        Ok(
            on_pool!(self.0, pool => sqlx::query(sql).bind(context_id).bind(name).execute(pool).await
            .map(|r| r.rows_affected() > 0))?,
        )
    }

    /// Up to `limit` variables (any context) not sealed by `key_id`, with their context's
    /// public id: what a key rotation has left to do.
    pub async fn vars_sealed_by_other_keys(
        &self,
        key_id: &str,
        limit: i64,
    ) -> Result<Vec<(i64, Uuid, ContextVar)>, StoreError> {
        let sql = "SELECT v.context_id, c.uuid, v.name, v.key_id, v.sealed, v.masked, v.created_at, v.updated_at \
                   FROM context_env_vars v JOIN contexts c ON c.id = v.context_id \
                   WHERE v.key_id <> $1 ORDER BY v.context_id, v.name LIMIT $2";
        let rows: Vec<RotRow> = on_pool!(self.0, pool => sqlx::query_as(sql).bind(key_id).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.context_id,
                    r.uuid,
                    ContextVar {
                        name: r.name,
                        key_id: r.key_id,
                        sealed: r.sealed,
                        masked: r.masked,
                        created_at: r.created_at,
                        updated_at: r.updated_at,
                    },
                )
            })
            .collect())
    }

    /// Replaces a variable's sealed value if it is still the one `old` describes (a concurrent
    /// set wins over a rotation); `false` when it changed meanwhile.
    pub async fn reseal_var(
        &self,
        context_id: i64,
        old: &ContextVar,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE context_env_vars SET key_id = $3, sealed = $4 \
                   WHERE context_id = $1 AND name = $2 AND key_id = $5 AND sealed = $6";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(context_id).bind(&old.name).bind(key_id)
            .bind(sealed).bind(&old.key_id).bind(&old.sealed).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Adds a restriction; [`Conflict::Restriction`] when the context has it already,
    /// [`Missing::Context`] when the context is gone.
    pub async fn restrict(
        &self,
        context_id: i64,
        kind: RestrictionKind,
        value: &str,
    ) -> Result<Restriction, StoreError> {
        let sql = "INSERT INTO context_restrictions (uuid, context_id, kind, value, created_at) \
                   VALUES ($1, $2, $3, $4, $5) RETURNING uuid, kind, value, created_at";
        let row: RestrictionRow =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(Uuid::new_v4()).bind(context_id)
            .bind(kind.as_str()).bind(value).bind(now()).fetch_one(pool).await)
            .map_err(|e| gone_context(StoreError::from(e).conflict_as(Conflict::Restriction)))?;
        row.try_into()
    }

    /// A context's restrictions, oldest first.
    pub async fn restrictions(&self, context_id: i64) -> Result<Vec<Restriction>, StoreError> {
        let sql = "SELECT uuid, kind, value, created_at FROM context_restrictions \
                   WHERE context_id = $1 ORDER BY id";
        let rows: Vec<RestrictionRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(context_id).fetch_all(pool).await)?;
        rows.into_iter().map(Restriction::try_from).collect()
    }

    /// Removes restriction `uuid` of context `context_id`; `false` when it has none such.
    pub async fn unrestrict(&self, context_id: i64, uuid: Uuid) -> Result<bool, StoreError> {
        let sql = "DELETE FROM context_restrictions WHERE context_id = $1 AND uuid = $2";
        Ok(
            on_pool!(self.0, pool => sqlx::query(sql).bind(context_id).bind(uuid).execute(pool).await
            .map(|r| r.rows_affected() > 0))?,
        )
    }
}

/// A write that named a context deleted meanwhile (its foreign key fails) is a missing
/// context, not a database failure.
fn gone_context(e: StoreError) -> StoreError {
    match &e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            StoreError::NotFound(Missing::Context)
        }
        _ => e,
    }
}

#[derive(sqlx::FromRow)]
struct RotRow {
    context_id: i64,
    uuid: Uuid,
    name: String,
    key_id: String,
    sealed: Vec<u8>,
    masked: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}
