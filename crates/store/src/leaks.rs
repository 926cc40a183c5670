//! Leaked tokens: secret scanners' reports already handled (by the SHA-256 of their raw body,
//! so a replay changes nothing) and the digests of tokens revoked because they leaked (so a
//! later report of one can be told it was real, though the token row is gone).

use crate::{Store, StoreError, now, on_pool};
use circlet_core::token::{TokenDigest, TokenKind};

/// Use-cases on leaks; see [`Store::leaks`].
pub struct Leaks<'s>(pub(crate) &'s Store);

impl Leaks<'_> {
    /// Whether a report whose body has SHA-256 `digest` was handled before.
    pub async fn report_seen(&self, digest: &[u8; 32]) -> Result<bool, StoreError> {
        let sql = "SELECT COUNT(*) FROM leak_reports WHERE digest = $1";
        let n: i64 = on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(&digest[..]).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Records a handled report: `entries` strings reported, `revoked` tokens revoked. `false`
    /// when it was recorded already (the same report, handled at the same time elsewhere).
    pub async fn record_report(
        &self,
        digest: &[u8; 32],
        entries: usize,
        revoked: usize,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO leak_reports (digest, received_at, entries, revoked) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING";
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let n = on_pool!(self.0, pool => sqlx::query(sql)
            .bind(&digest[..]).bind(now()).bind(count(entries)).bind(count(revoked))
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Remembers that the token with `digest` leaked and is being revoked (kept once; the first
    /// time counts).
    pub async fn remember(&self, digest: &TokenDigest, kind: TokenKind) -> Result<(), StoreError> {
        let sql = "INSERT INTO leaked_tokens (digest, kind, revoked_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (digest) DO NOTHING";
        on_pool!(self.0, pool => sqlx::query(sql)
            .bind(&digest.0[..]).bind(kind.as_str()).bind(now())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether the token with `digest` was revoked because it leaked.
    pub async fn was_leaked(&self, digest: &TokenDigest) -> Result<bool, StoreError> {
        let sql = "SELECT COUNT(*) FROM leaked_tokens WHERE digest = $1";
        let n: i64 = on_pool!(self.0, pool => sqlx::query_scalar(sql).bind(&digest.0[..]).fetch_one(pool).await)?;
        Ok(n > 0)
    }
}
