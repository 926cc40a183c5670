//! Project environment variables, stored sealed: this module never sees a clear value. The
//! server seals with `circlet_core::envcrypt` before writing and opens only to hand a job to a
//! runner.

use crate::generations::{Change, announcing};
use crate::{Store, StoreError, now, on_pool};
use time::OffsetDateTime;

/// A stored variable.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EnvVarRecord {
    /// Its name.
    pub name: String,
    /// Which instance key sealed it.
    pub key_id: String,
    /// Nonce, ciphertext and tag.
    pub sealed: Vec<u8>,
    /// What listings show.
    pub masked: String,
    /// When it was (last) set.
    pub created_at: OffsetDateTime,
}

/// A variable to store.
#[derive(Debug, Clone)]
pub struct NewEnvVar {
    /// Its name.
    pub name: String,
    /// Which instance key sealed it.
    pub key_id: String,
    /// Nonce, ciphertext and tag.
    pub sealed: Vec<u8>,
    /// What listings show.
    pub masked: String,
}

/// Use-cases on environment variables; see [`Store::env_vars`].
pub struct EnvVars<'s>(pub(crate) &'s Store);

const COLS: &str = "name, key_id, sealed, masked, created_at";

impl EnvVars<'_> {
    /// Sets a variable of a project, replacing one of the same name. Changes the project
    /// generation: what the server shows of builds is masked with the variables' values, and
    /// build lists are kept in memory by that generation.
    pub async fn set(&self, project_id: i64, v: &NewEnvVar) -> Result<EnvVarRecord, StoreError> {
        let sql = format!(
            "INSERT INTO env_vars (project_id, name, key_id, sealed, masked, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id, name) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, \
             masked = excluded.masked, created_at = excluded.created_at RETURNING {COLS}"
        );
        let record: Option<EnvVarRecord> = announcing!(self.0, Change::Project, tx => async {
            sqlx::query_as(&sql).bind(project_id).bind(&v.name).bind(&v.key_id).bind(&v.sealed).bind(&v.masked).bind(now())
                .fetch_optional(&mut *tx).await
        })?;
        Ok(record.ok_or(sqlx::Error::RowNotFound)?)
    }

    /// A project's variables, by name.
    pub async fn list(&self, project_id: i64) -> Result<Vec<EnvVarRecord>, StoreError> {
        let sql = format!("SELECT {COLS} FROM env_vars WHERE project_id = $1 ORDER BY name");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).fetch_all(pool).await)?)
    }

    /// One variable.
    pub async fn get(
        &self,
        project_id: i64,
        name: &str,
    ) -> Result<Option<EnvVarRecord>, StoreError> {
        let sql = format!("SELECT {COLS} FROM env_vars WHERE project_id = $1 AND name = $2");
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).bind(name).fetch_optional(pool).await)?,
        )
    }

    /// Deletes a variable; `false` when there was none. Changes the project generation, like
    /// [`EnvVars::set`].
    pub async fn delete(&self, project_id: i64, name: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM env_vars WHERE project_id = $1 AND name = $2";
        Ok(announcing!(self.0, Change::Project, tx => async {
            sqlx::query(sql).bind(project_id).bind(name).execute(&mut *tx).await.map(|r| r.rows_affected() > 0)
        })?)
    }

    /// Up to `limit` variables (any project) not sealed by `key_id`, with their project's id:
    /// what a key rotation has left to do.
    pub async fn sealed_by_other_keys(
        &self,
        key_id: &str,
        limit: i64,
    ) -> Result<Vec<(i64, EnvVarRecord)>, StoreError> {
        let sql = format!(
            "SELECT project_id, {COLS} FROM env_vars WHERE key_id <> $1 ORDER BY project_id, name LIMIT $2"
        );
        let rows: Vec<RotRow> = on_pool!(self.0, pool => sqlx::query_as(&sql).bind(key_id).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.project_id,
                    EnvVarRecord {
                        name: r.name,
                        key_id: r.key_id,
                        sealed: r.sealed,
                        masked: r.masked,
                        created_at: r.created_at,
                    },
                )
            })
            .collect())
    }

    /// Replaces a variable's sealed value if it is still the one `old` describes (a concurrent
    /// `set` wins over a rotation); `false` when it changed meanwhile.
    pub async fn reseal(
        &self,
        project_id: i64,
        old: &EnvVarRecord,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE env_vars SET key_id = $3, sealed = $4 WHERE project_id = $1 AND name = $2 AND key_id = $5 AND sealed = $6";
        let n = on_pool!(self.0, pool => {
            sqlx::query(sql).bind(project_id).bind(&old.name).bind(key_id).bind(sealed).bind(&old.key_id).bind(&old.sealed)
                .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}

#[derive(sqlx::FromRow)]
struct RotRow {
    project_id: i64,
    name: String,
    key_id: String,
    sealed: Vec<u8>,
    masked: String,
    created_at: OffsetDateTime,
}
