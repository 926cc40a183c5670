//! Polling repositories that cannot send webhooks: each project's interval, when its next poll
//! is due (moved on by compare-and-set, so one replica polls), and the heads the last poll saw.

use crate::generations::{Change, announcing};
use crate::projects::{ProjectRow, project_cols};
use crate::{Project, Store, StoreError, now, on_pool, ts};
use time::OffsetDateTime;

/// Use-cases on polling; see [`Store::polls`].
pub struct Polls<'s>(pub(crate) &'s Store);

impl Polls<'_> {
    /// Sets how often the project is polled (`None`: never); a set interval polls soon.
    pub async fn set_interval(&self, project_id: i64, secs: Option<i64>) -> Result<(), StoreError> {
        let sql = "UPDATE projects SET poll_interval_secs = $2, poll_next_at = $3 WHERE id = $1";
        let next = secs.map(|_| now());
        let updated = announcing!(self.0, Change::Project, tx => async {
            sqlx::query(sql).bind(project_id).bind(secs).bind(next).execute(&mut *tx).await.map(|r| r.rows_affected() > 0)
        })?;
        if !updated {
            return Err(StoreError::NotFound(crate::error::Missing::Project));
        }
        Ok(())
    }

    /// Up to `limit` projects whose poll is due at `at`, each with when it was due.
    pub async fn due(
        &self,
        at: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<(Project, OffsetDateTime)>, StoreError> {
        let sql = concat!(
            "SELECT ",
            project_cols!(),
            ", projects.poll_next_at FROM projects WHERE poll_interval_secs IS NOT NULL ",
            "AND poll_next_at <= $1 ORDER BY poll_next_at LIMIT $2"
        );
        let rows: Vec<(ProjectRow, OffsetDateTime)> = on_pool!(self.0, pool => {
            use sqlx::{FromRow, Row};
            sqlx::query(sql).bind(ts(at)).bind(limit).fetch_all(pool).await?
                .iter()
                .map(|r| Ok::<_, sqlx::Error>((ProjectRow::from_row(r)?, r.try_get("poll_next_at")?)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter()
            .map(|(p, due)| Ok((Project::try_from(p)?, due)))
            .collect()
    }

    /// Moves project `id`'s next poll on from `due` (as read) to `next`; `true` for the one
    /// caller that moved it.
    pub async fn advance(
        &self,
        project_id: i64,
        due: OffsetDateTime,
        next: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE projects SET poll_next_at = $3 WHERE id = $1 AND poll_next_at = $2";
        let n = on_pool!(self.0, pool => sqlx::query(sql).bind(project_id).bind(ts(due)).bind(ts(next))
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The heads the last poll saw: (full ref, commit), by ref.
    pub async fn heads(&self, project_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        let sql = "SELECT ref, sha FROM poll_heads WHERE project_id = $1 ORDER BY ref";
        Ok(on_pool!(self.0, pool => sqlx::query_as(sql).bind(project_id).fetch_all(pool).await)?)
    }

    /// Replaces the heads the last poll saw.
    pub async fn set_heads(
        &self,
        project_id: i64,
        heads: &[(String, String)],
    ) -> Result<(), StoreError> {
        let clear = "DELETE FROM poll_heads WHERE project_id = $1";
        let insert = "INSERT INTO poll_heads (project_id, ref, sha) VALUES ($1, $2, $3)";
        on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query(clear).bind(project_id).execute(&mut *tx).await?;
            for (r, sha) in heads {
                sqlx::query(insert).bind(project_id).bind(r).bind(sha).execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)?;
        Ok(())
    }
}
