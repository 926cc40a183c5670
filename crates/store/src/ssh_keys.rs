//! A project's SSH keys: checkout keys and additional keys, each with its public half, its
//! fingerprints and its private half sealed (never in clear here: sealing is the app's).

use crate::error::Conflict;
use crate::{Store, StoreError, now, on_pool};
use time::OffsetDateTime;

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SshKeyRecord {
    /// Store id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// `deploy-key`, `user-key` (checkout keys) or `additional`.
    pub kind: String,
    /// The host an additional key is for (empty: any).
    pub hostname: String,
    /// The public half, one OpenSSH line.
    pub public_key: String,
    /// `SHA256:…`.
    pub fingerprint_sha256: String,
    /// `aa:bb:…`.
    pub fingerprint_md5: String,
    /// The key the private half is sealed with.
    pub key_id: String,
    /// The sealed private half.
    pub sealed: Vec<u8>,
    /// When it was added.
    pub created_at: OffsetDateTime,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewSshKey<'a> {
    /// The project.
    pub project_id: i64,
    /// `deploy-key`, `user-key` or `additional`.
    pub kind: &'a str,
    /// The host (additional keys).
    pub hostname: &'a str,
    /// The public half.
    pub public_key: &'a str,
    /// `SHA256:…`.
    pub fingerprint_sha256: &'a str,
    /// `aa:bb:…`.
    pub fingerprint_md5: &'a str,
    /// The sealing key's id.
    pub key_id: &'a str,
    /// The sealed private half.
    pub sealed: &'a [u8],
}

const COLS: &str = "id, project_id, kind, hostname, public_key, fingerprint_sha256, fingerprint_md5, key_id, sealed, created_at";

/// Use-cases on SSH keys; see [`Store::ssh_keys`].
pub struct SshKeys<'s>(pub(crate) &'s Store);

impl SshKeys<'_> {
    /// Adds a key; [`Conflict::Duplicate`] when the project has it already (for that host).
    pub async fn add(&self, new: &NewSshKey<'_>) -> Result<SshKeyRecord, StoreError> {
        let sql = format!(
            "INSERT INTO project_ssh_keys (project_id, kind, hostname, public_key, fingerprint_sha256, \
             fingerprint_md5, key_id, sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING {COLS}"
        );
        on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(new.project_id).bind(new.kind).bind(new.hostname).bind(new.public_key)
            .bind(new.fingerprint_sha256).bind(new.fingerprint_md5).bind(new.key_id)
            .bind(new.sealed).bind(now()).fetch_one(pool).await)
        .map_err(|e| StoreError::from(e).conflict_as(Conflict::Duplicate))
    }

    /// The project's keys, oldest first.
    pub async fn of_project(&self, project_id: i64) -> Result<Vec<SshKeyRecord>, StoreError> {
        let sql = format!("SELECT {COLS} FROM project_ssh_keys WHERE project_id = $1 ORDER BY id");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(project_id).fetch_all(pool).await)?)
    }

    /// Removes key `id` of the project; whether it was there.
    pub async fn delete(&self, project_id: i64, id: i64) -> Result<bool, StoreError> {
        let sql = "DELETE FROM project_ssh_keys WHERE project_id = $1 AND id = $2";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(project_id).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Up to `limit` keys sealed with a key other than `current`, with their project's uuid.
    pub async fn sealed_by_other_keys(
        &self,
        current: &str,
        limit: i64,
    ) -> Result<Vec<SshKeyRecord>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM project_ssh_keys WHERE key_id <> $1 ORDER BY id LIMIT $2");
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(current).bind(limit).fetch_all(pool).await)?,
        )
    }

    /// Replaces the sealed half of `old` if it is unchanged since read; whether it was.
    pub async fn reseal(
        &self,
        old: &SshKeyRecord,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE project_ssh_keys SET key_id = $1, sealed = $2 WHERE id = $3 AND key_id = $4 AND sealed = $5";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(key_id).bind(sealed).bind(old.id)
            .bind(&old.key_id).bind(&old.sealed).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
