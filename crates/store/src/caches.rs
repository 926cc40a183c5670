//! Dependency caches and workflow workspaces: which archives exist, whose they are, how large,
//! and how long they are kept (a project's retention, [`DEFAULT_RETENTION_DAYS`] unless set).
//! The archives' bytes live in the artifact object store under each row's `object`; a row is
//! written only after its upload completed, so whatever is listed is whole.

use crate::{Store, StoreError, now, on_pool};
use time::OffsetDateTime;

/// How long caches and workspaces are kept when a project has not said (CircleCI's default).
pub const DEFAULT_RETENTION_DAYS: i64 = 15;

/// The most days a project may keep them.
pub const MAX_RETENTION_DAYS: i64 = 365;

/// A saved cache.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CacheRecord {
    /// Store id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The key it was saved under.
    pub cache_key: String,
    /// The archive's object-store key.
    pub object: String,
    /// The archive's size in bytes.
    pub size: i64,
    /// The build that saved it.
    pub build_num: i64,
    /// When it was saved.
    pub created_at: OffsetDateTime,
}

/// A cache whose upload completed, to record.
#[derive(Debug, Clone)]
pub struct NewCache<'a> {
    /// The project.
    pub project_id: i64,
    /// Its key.
    pub cache_key: &'a str,
    /// The archive's object-store key.
    pub object: &'a str,
    /// Bytes.
    pub size: i64,
    /// The build that saved it.
    pub build_num: i64,
}

/// One layer of a workflow's workspace: what one job's `persist_to_workspace` added.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LayerRecord {
    /// Store id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The workflow.
    pub workflow_id: i64,
    /// The job that persisted it.
    pub job_id: i64,
    /// The archive's object-store key.
    pub object: String,
    /// Bytes.
    pub size: i64,
    /// When it was persisted.
    pub created_at: OffsetDateTime,
}

/// A layer whose upload completed, to record.
#[derive(Debug, Clone)]
pub struct NewLayer<'a> {
    /// The project.
    pub project_id: i64,
    /// The workflow.
    pub workflow_id: i64,
    /// The job persisting it.
    pub job_id: i64,
    /// The archive's object-store key.
    pub object: &'a str,
    /// Bytes.
    pub size: i64,
}

/// What a project's caches and workspaces take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageUse {
    /// Caches kept.
    pub caches: i64,
    /// Bytes they take.
    pub cache_bytes: i64,
    /// Workspace layers kept.
    pub layers: i64,
    /// Bytes they take.
    pub layer_bytes: i64,
}

/// How a save ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Recorded; `replaced` names the object of an expired cache of the same key it replaced,
    /// which the caller deletes.
    Stored {
        /// The expired archive to delete, if any.
        replaced: Option<String>,
    },
    /// A live cache of that key exists already: a saved key is never overwritten. The caller
    /// deletes the object it uploaded.
    Exists,
}

/// Use-cases on caches and workspaces; see [`Store::caches`].
pub struct Caches<'s>(pub(crate) &'s Store);

const CACHE_COLS: &str = "id, project_id, cache_key, object, size, build_num, created_at";
const LAYER_COLS: &str = "id, project_id, workflow_id, job_id, object, size, created_at";

/// The retention of the project whose id is the SQL expression `project`, in days.
fn retention_of(project: &str) -> String {
    format!(
        "COALESCE((SELECT days FROM project_retention WHERE project_id = {project}), {DEFAULT_RETENTION_DAYS})"
    )
}

impl Caches<'_> {
    /// The project's retention in days.
    pub async fn retention_days(&self, project_id: i64) -> Result<i64, StoreError> {
        let sql = format!("SELECT CAST({} AS BIGINT)", retention_of("$1"));
        Ok(
            on_pool!(self.0, pool => sqlx::query_scalar(&sql).bind(project_id).fetch_one(pool).await)?,
        )
    }

    /// Sets the project's retention (1 to [`MAX_RETENTION_DAYS`] days; the caller checks).
    pub async fn set_retention_days(&self, project_id: i64, days: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO project_retention (project_id, days) VALUES ($1, $2) \
                   ON CONFLICT (project_id) DO UPDATE SET days = excluded.days";
        let days = i32::try_from(days.clamp(1, MAX_RETENTION_DAYS)).unwrap_or(15);
        on_pool!(self.0, pool => sqlx::query(sql).bind(project_id).bind(days).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The cache `restore_cache` restores for `keys`: for each key in turn, the newest cache
    /// saved since `since` whose key starts with it; `None` if no key finds one.
    pub async fn find(
        &self,
        project_id: i64,
        keys: &[String],
        since: OffsetDateTime,
    ) -> Result<Option<CacheRecord>, StoreError> {
        // `substr` rather than LIKE: a key may hold `%` and `_`.
        let sql = format!(
            "SELECT {CACHE_COLS} FROM caches WHERE project_id = $1 AND created_at >= $2 \
             AND substr(cache_key, 1, length($3)) = $3 ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        for key in keys {
            let found: Option<CacheRecord> = on_pool!(self.0, pool => sqlx::query_as(&sql)
                .bind(project_id).bind(since).bind(key).fetch_optional(pool).await)?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Cache `id`, whichever project's and however old.
    pub async fn by_id(&self, id: i64) -> Result<Option<CacheRecord>, StoreError> {
        let sql = format!("SELECT {CACHE_COLS} FROM caches WHERE id = $1");
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// The live cache saved under exactly `key` (since `since`), if any.
    pub async fn exact(
        &self,
        project_id: i64,
        key: &str,
        since: OffsetDateTime,
    ) -> Result<Option<CacheRecord>, StoreError> {
        let sql = format!(
            "SELECT {CACHE_COLS} FROM caches WHERE project_id = $1 AND cache_key = $2 AND created_at >= $3"
        );
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(project_id).bind(key).bind(since).fetch_optional(pool).await)?)
    }

    /// Records a completed cache upload, unless a live cache of its key exists (saved since
    /// `since`); an expired one of the same key is replaced.
    pub async fn record(
        &self,
        new: &NewCache<'_>,
        since: OffsetDateTime,
    ) -> Result<Saved, StoreError> {
        let expired = "DELETE FROM caches WHERE project_id = $1 AND cache_key = $2 AND created_at < $3 RETURNING object";
        let insert = "INSERT INTO caches (project_id, cache_key, object, size, build_num, created_at) \
                      VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, cache_key) DO NOTHING RETURNING id";
        let replaced: Option<String> = on_pool!(self.0, pool => sqlx::query_scalar(expired)
            .bind(new.project_id).bind(new.cache_key).bind(since).fetch_optional(pool).await)?;
        let id: Option<i64> = on_pool!(self.0, pool => sqlx::query_scalar(insert)
            .bind(new.project_id).bind(new.cache_key).bind(new.object).bind(new.size)
            .bind(new.build_num).bind(now()).fetch_optional(pool).await)?;
        Ok(match id {
            Some(_) => Saved::Stored { replaced },
            None => Saved::Exists,
        })
    }

    /// Records a completed workspace layer.
    pub async fn record_layer(&self, new: &NewLayer<'_>) -> Result<LayerRecord, StoreError> {
        let sql = format!(
            "INSERT INTO workspace_layers (project_id, workflow_id, job_id, object, size, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {LAYER_COLS}"
        );
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(new.project_id).bind(new.workflow_id).bind(new.job_id).bind(new.object)
            .bind(new.size).bind(now()).fetch_one(pool).await)?)
    }

    /// A workflow's layers persisted since `since`, oldest first.
    pub async fn layers_of_workflow(
        &self,
        workflow_id: i64,
        since: OffsetDateTime,
    ) -> Result<Vec<LayerRecord>, StoreError> {
        let sql = format!(
            "SELECT {LAYER_COLS} FROM workspace_layers WHERE workflow_id = $1 AND created_at >= $2 ORDER BY id"
        );
        Ok(on_pool!(self.0, pool => sqlx::query_as(&sql)
            .bind(workflow_id).bind(since).fetch_all(pool).await)?)
    }

    /// What the project's caches and workspace layers take.
    pub async fn usage(&self, project_id: i64) -> Result<StorageUse, StoreError> {
        // PostgreSQL sums BIGINT as NUMERIC: cast back so both backends answer an i64.
        let caches = "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM caches WHERE project_id = $1";
        let layers = "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM workspace_layers WHERE project_id = $1";
        let (c, cb): (i64, i64) = on_pool!(self.0, pool => sqlx::query_as(caches).bind(project_id).fetch_one(pool).await)?;
        let (l, lb): (i64, i64) = on_pool!(self.0, pool => sqlx::query_as(layers).bind(project_id).fetch_one(pool).await)?;
        Ok(StorageUse {
            caches: c,
            cache_bytes: cb,
            layers: l,
            layer_bytes: lb,
        })
    }

    /// Removes up to `limit` caches and layers older than their project's retention at `at`,
    /// returning their objects for the caller to delete from the object store.
    pub async fn take_expired(
        &self,
        at: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        // Each retention in use is one cut-off; the default covers projects without a row.
        let days_sql = "SELECT DISTINCT CAST(days AS BIGINT) FROM project_retention";
        let mut all_days: Vec<i64> =
            on_pool!(self.0, pool => sqlx::query_scalar(days_sql).fetch_all(pool).await)?;
        all_days.push(DEFAULT_RETENTION_DAYS);
        all_days.sort_unstable();
        all_days.dedup();
        let mut objects = Vec::new();
        for table in ["caches", "workspace_layers"] {
            let sql = format!(
                "DELETE FROM {table} WHERE id IN (SELECT t.id FROM {table} t WHERE t.created_at < $1 \
                 AND {} = $2 ORDER BY t.id LIMIT $3) RETURNING object",
                retention_of("t.project_id")
            );
            for &days in &all_days {
                let cut = at - time::Duration::days(days);
                let left = limit - i64::try_from(objects.len()).unwrap_or(i64::MAX);
                if left <= 0 {
                    return Ok(objects);
                }
                let days4 = i32::try_from(days).unwrap_or(15);
                let taken: Vec<String> = on_pool!(self.0, pool => sqlx::query_scalar(&sql)
                    .bind(cut).bind(days4).bind(left).fetch_all(pool).await)?;
                objects.extend(taken);
            }
        }
        Ok(objects)
    }
}
