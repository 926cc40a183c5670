//! The instance's OIDC signing keys: one current key that signs, and the keys it replaced,
//! published until their last tokens expire. Private halves are sealed by the app.

use crate::{Store, StoreError, first, now, on_pool, ts};
use time::OffsetDateTime;

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OidcKeyRecord {
    /// The key's id (`kid`).
    pub kid: String,
    /// `ES256`.
    pub algorithm: String,
    /// The public half as a JWK.
    pub public_jwk: String,
    /// The private half, sealed.
    pub sealed_private: Vec<u8>,
    /// The env key that sealed it.
    pub seal_key_id: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When a rotation replaced it (`None`: it is the current key).
    pub retired_at: Option<OffsetDateTime>,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewOidcKey<'a> {
    /// Its id.
    pub kid: &'a str,
    /// `ES256`.
    pub algorithm: &'a str,
    /// The public half as a JWK.
    pub public_jwk: &'a str,
    /// The private half, sealed.
    pub sealed_private: &'a [u8],
    /// The env key that sealed it.
    pub seal_key_id: &'a str,
}

const COLS: &str =
    "kid, algorithm, public_jwk, sealed_private, seal_key_id, created_at, retired_at";
const INSERT_CURRENT: &str = "INSERT INTO oidc_keys (kid, algorithm, public_jwk, sealed_private, seal_key_id, current_key, created_at) \
     VALUES ($1, $2, $3, $4, $5, 1, $6)";

/// Use-cases on OIDC keys; see [`Store::oidc_keys`].
pub struct OidcKeys<'s>(pub(crate) &'s Store);

impl OidcKeys<'_> {
    /// The key that signs now, if there is one.
    pub async fn current(&self) -> Result<Option<OidcKeyRecord>, StoreError> {
        let sql = format!("SELECT {COLS} FROM oidc_keys WHERE current_key = 1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).fetch_optional(pool).await)?)
    }

    /// Makes `new` the current key if there is none; `false` when there already is one (made
    /// meanwhile by another server, say), which stays current.
    pub async fn create_first(&self, new: &NewOidcKey<'_>) -> Result<bool, StoreError> {
        let result = on_pool!(self.0, pool => sqlx::query(INSERT_CURRENT)
            .bind(new.kid).bind(new.algorithm).bind(new.public_jwk).bind(new.sealed_private)
            .bind(new.seal_key_id).bind(now()).execute(pool).await.map(|r| r.rows_affected()));
        match result {
            Ok(_) => Ok(true),
            Err(e) if matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation()) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Retires the current key (if any) and makes `new` current, in one transaction; keys
    /// retired before `forget_before` are deleted. Returns the retired key's id.
    pub async fn rotate(
        &self,
        new: &NewOidcKey<'_>,
        forget_before: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let retire = "UPDATE oidc_keys SET current_key = NULL, retired_at = $1 WHERE current_key = 1 RETURNING kid";
        let forget = "DELETE FROM oidc_keys WHERE retired_at < $1";
        let at = now();
        Ok(on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            let retired: Vec<(String,)> = sqlx::query_as(retire).bind(at).fetch_all(&mut *tx).await?;
            sqlx::query(INSERT_CURRENT)
                .bind(new.kid).bind(new.algorithm).bind(new.public_jwk).bind(new.sealed_private)
                .bind(new.seal_key_id).bind(at).execute(&mut *tx).await?;
            sqlx::query(forget).bind(ts(forget_before)).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(first(retired).map(|(kid,)| kid))
        }.await)?)
    }

    /// The keys to publish: the current one and those retired at or after `retired_since`,
    /// newest first.
    pub async fn published(
        &self,
        retired_since: OffsetDateTime,
    ) -> Result<Vec<OidcKeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM oidc_keys WHERE retired_at IS NULL OR retired_at >= $1 \
             ORDER BY created_at DESC, id DESC"
        );
        Ok(
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(ts(retired_since)).fetch_all(pool).await)?,
        )
    }

    /// Every key not sealed under `seal_key_id`.
    pub async fn sealed_by_other_keys(
        &self,
        seal_key_id: &str,
    ) -> Result<Vec<OidcKeyRecord>, StoreError> {
        let sql = format!("SELECT {COLS} FROM oidc_keys WHERE seal_key_id <> $1 ORDER BY id");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(seal_key_id).fetch_all(pool).await)?)
    }

    /// Replaces the sealed private half of `key` if it is still as read; `true` if it was.
    pub async fn reseal(
        &self,
        key: &OidcKeyRecord,
        seal_key_id: &str,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE oidc_keys SET seal_key_id = $3, sealed_private = $4 \
                   WHERE kid = $1 AND seal_key_id = $2";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(&key.kid).bind(&key.seal_key_id)
            .bind(seal_key_id).bind(sealed).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
