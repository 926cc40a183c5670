//! Artifacts of jobs: which files a job's `store_artifacts` uploaded, their sizes and digests.
//! The bytes themselves live in the object store (see `circlet_server::artifacts`); a row here
//! is written only after an upload completed, so every listed artifact can be downloaded.

use crate::error::Missing;
use crate::{Store, StoreError, now, on_pool};
use circlet_core::artifact_path::ArtifactPath;
use time::OffsetDateTime;

/// A completed upload, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArtifact {
    /// The job (a v1.1 build).
    pub job_id: i64,
    /// The parallel container index (always 0 for now).
    pub node_index: i64,
    /// The path below the build's prefix.
    pub path: ArtifactPath,
    /// Bytes stored.
    pub size: i64,
    /// The `Content-Type` it is served with.
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// The object store's own ETag, when it gave one.
    pub store_etag: Option<String>,
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRecord {
    /// Store id.
    pub id: i64,
    /// The job.
    pub job_id: i64,
    /// The parallel container index.
    pub node_index: i64,
    /// The path below the build's prefix.
    pub path: ArtifactPath,
    /// Bytes.
    pub size: i64,
    /// The `Content-Type` it is served with.
    pub content_type: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// The object store's own ETag, if any.
    pub store_etag: Option<String>,
    /// When the upload completed (a re-upload of the same path moves it).
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ArtifactRow {
    id: i64,
    job_id: i64,
    node_index: i64,
    path: String,
    size: i64,
    content_type: String,
    sha256: String,
    store_etag: Option<String>,
    created_at: OffsetDateTime,
}

impl TryFrom<ArtifactRow> for ArtifactRecord {
    type Error = StoreError;
    fn try_from(r: ArtifactRow) -> Result<Self, StoreError> {
        Ok(ArtifactRecord {
            id: r.id,
            job_id: r.job_id,
            node_index: r.node_index,
            path: ArtifactPath::parse(&r.path).map_err(|_| {
                StoreError::Database(sqlx::Error::Decode("bad stored artifact path".into()))
            })?,
            size: r.size,
            content_type: r.content_type,
            sha256: r.sha256,
            store_etag: r.store_etag,
            created_at: r.created_at,
        })
    }
}

const COLS: &str =
    "id, job_id, node_index, path, size, content_type, sha256, store_etag, created_at";

/// Use-cases on artifacts; see [`Store::artifacts`].
pub struct Artifacts<'s>(pub(crate) &'s Store);

impl Artifacts<'_> {
    /// Records a completed upload; a second upload of the same path replaces the first.
    pub async fn record(&self, new: &NewArtifact) -> Result<ArtifactRecord, StoreError> {
        let sql = format!(
            "INSERT INTO job_artifacts (job_id, node_index, path, size, content_type, sha256, store_etag, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (job_id, node_index, path) DO UPDATE SET size = excluded.size, \
             content_type = excluded.content_type, sha256 = excluded.sha256, \
             store_etag = excluded.store_etag, created_at = excluded.created_at \
             RETURNING {COLS}"
        );
        let at = now();
        let row: ArtifactRow = on_pool!(self.0, pool => {
            sqlx::query_as(&sql)
                .bind(new.job_id)
                .bind(new.node_index)
                .bind(new.path.as_str())
                .bind(new.size)
                .bind(&new.content_type)
                .bind(&new.sha256)
                .bind(&new.store_etag)
                .bind(at)
                .fetch_all(pool)
                .await
                .and_then(crate::only)
        })
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound(Missing::Job(new.job_id))
            }
            _ => e.into(),
        })?;
        row.try_into()
    }

    /// A job's artifacts, by node and path.
    pub async fn of_job(&self, job_id: i64) -> Result<Vec<ArtifactRecord>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM job_artifacts WHERE job_id = $1 ORDER BY node_index, path");
        let rows: Vec<ArtifactRow> =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(job_id).fetch_all(pool).await)?;
        rows.into_iter().map(ArtifactRecord::try_from).collect()
    }

    /// One page of a job's artifacts by store id, after `after_id` (exclusive), at most
    /// `limit`; the v2 list pages with it.
    pub async fn page_of_job(
        &self,
        job_id: i64,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ArtifactRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM job_artifacts WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows: Vec<ArtifactRow> = on_pool!(self.0, pool => {
            sqlx::query_as(&sql).bind(job_id).bind(after_id.unwrap_or(0)).bind(limit).fetch_all(pool).await
        })?;
        rows.into_iter().map(ArtifactRecord::try_from).collect()
    }

    /// One artifact of a job.
    pub async fn get(
        &self,
        job_id: i64,
        node_index: i64,
        path: &ArtifactPath,
    ) -> Result<Option<ArtifactRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM job_artifacts WHERE job_id = $1 AND node_index = $2 AND path = $3"
        );
        let row: Option<ArtifactRow> = on_pool!(self.0, pool => {
            sqlx::query_as(&sql).bind(job_id).bind(node_index).bind(path.as_str()).fetch_optional(pool).await
        })?;
        row.map(ArtifactRecord::try_from).transpose()
    }

    /// Per branch, the newest job of a project that has artifacts: `(branch, build_num)`,
    /// newest first, at most `limit` branches (the project page's "latest artifacts").
    pub async fn latest_per_branch(
        &self,
        project_id: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = "SELECT j.branch, MAX(j.build_num) AS build_num FROM jobs j \
                   WHERE j.project_id = $1 AND j.branch IS NOT NULL \
                   AND EXISTS (SELECT 1 FROM job_artifacts a WHERE a.job_id = j.id) \
                   GROUP BY j.branch ORDER BY MAX(j.build_num) DESC LIMIT $2";
        Ok(on_pool!(self.0, pool => {
            sqlx::query_as(sql).bind(project_id).bind(limit).fetch_all(pool).await
        })?)
    }

    /// Bytes a job's artifacts take, leaving out `except` (a path about to be replaced), for
    /// the per-build limit.
    pub async fn bytes_of_job(
        &self,
        job_id: i64,
        except: Option<&ArtifactPath>,
    ) -> Result<i64, StoreError> {
        // PostgreSQL sums BIGINT as NUMERIC: cast back so both backends answer an i64.
        let sql = "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM job_artifacts \
                   WHERE job_id = $1 AND ($2 IS NULL OR path <> $2)";
        let except = except.map(ArtifactPath::as_str);
        Ok(on_pool!(self.0, pool => {
            sqlx::query_scalar(sql).bind(job_id).bind(except).fetch_one(pool).await
        })?)
    }
}
