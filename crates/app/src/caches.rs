//! Dependency caches and workflow workspaces: the rules a runner's requests about them follow
//! (which cache a key finds, that a saved key is never replaced, which layers a job attaches
//! and in which order), how long they are kept, and what they take per project. Receiving and
//! serving the archives' bytes is HTTP's (`circlet_server::api::runner_storage`); they live in
//! the artifact object store under `caches/<project uuid>/…` and `workspaces/<project uuid>/…`,
//! next to (never inside) any build's artifact prefix.

use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::cache_key::MAX_KEY_LEN;
use circlet_core::runner_protocol::{CacheFound, CacheLookup, WorkspaceLayer};
use circlet_core::scope::Action;
use circlet_store::caches::{DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS};
use circlet_store::{
    CacheRecord, JobRecord, LayerRecord, NewCache, NewLayer, Project, Saved, StorageUse,
};
use object_store::ObjectStoreExt as _;
use object_store::path::{Path as ObjectPath, PathPart};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// The most keys one `restore_cache` may try.
pub const MAX_LOOKUP_KEYS: usize = 64;

/// How many expired archives one sweep removes at most; the next sweep takes the rest.
const SWEEP_BATCH: i64 = 500;

/// How often expired caches and workspaces are looked for.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Removes expired caches and workspace layers now and every ten minutes, for ever.
pub async fn sweep_every(app: App) {
    let mut ticker = tokio::time::interval(SWEEP_EVERY);
    loop {
        ticker.tick().await;
        match app.sweep_expired_storage().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(archives = n, "removed expired caches and workspace layers"),
            Err(e) => tracing::warn!("could not remove expired caches and workspaces: {e}"),
        }
    }
}

/// What Project settings shows about a project's caches and workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSettings {
    /// What they take now.
    pub usage: StorageUse,
    /// How many days they are kept.
    pub retention_days: i64,
}

/// Whether `key` can name a cache: not empty, at most [`MAX_KEY_LEN`] bytes, no control
/// characters.
pub fn check_key(key: &str) -> Result<(), AppError> {
    if key.is_empty() {
        return Err(AppError::Invalid("A cache key must not be empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(AppError::Invalid(format!(
            "A cache key may be at most {MAX_KEY_LEN} bytes; this one has {}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "A cache key must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// A fresh object key for an archive of `project`: `<kind>/<project uuid>/<random uuid>`.
fn new_object(kind: &str, project: &Project) -> ObjectPath {
    ObjectPath::from_iter([
        PathPart::from(kind),
        PathPart::from(project.uuid.to_string()),
        PathPart::from(uuid::Uuid::new_v4().to_string()),
    ])
}

/// A fresh object key for a cache archive of `project`.
pub fn new_cache_object(project: &Project) -> ObjectPath {
    new_object("caches", project)
}

/// A fresh object key for a workspace layer of `project`.
pub fn new_layer_object(project: &Project) -> ObjectPath {
    new_object("workspaces", project)
}

impl App {
    /// The oldest moment a live cache or layer of `project_id` can have been saved.
    async fn kept_since(&self, project_id: i64) -> Result<OffsetDateTime, AppError> {
        let days = self.store.caches().retention_days(project_id).await?;
        Ok(OffsetDateTime::now_utc() - time::Duration::days(days))
    }

    /// The cache `restore_cache` (or, `exact`, `save_cache`'s check) finds for `job`: only its
    /// own project's, only live ones.
    pub async fn find_cache(
        &self,
        job: &JobRecord,
        lookup: &CacheLookup,
    ) -> Result<Option<CacheFound>, AppError> {
        if lookup.keys.is_empty() || lookup.keys.len() > MAX_LOOKUP_KEYS {
            return Err(AppError::Invalid(format!(
                "A cache lookup names 1 to {MAX_LOOKUP_KEYS} keys"
            )));
        }
        for key in &lookup.keys {
            check_key(key)?;
        }
        let since = self.kept_since(job.project_id).await?;
        let caches = self.store.caches();
        let found = if lookup.exact {
            let mut found = None;
            for key in &lookup.keys {
                found = caches.exact(job.project_id, key, since).await?;
                if found.is_some() {
                    break;
                }
            }
            found
        } else {
            caches.find(job.project_id, &lookup.keys, since).await?
        };
        Ok(found.map(|c| CacheFound {
            id: c.id,
            key: c.cache_key,
            size_bytes: u64::try_from(c.size).unwrap_or(0),
            build_num: c.build_num,
        }))
    }

    /// Cache `id`, if it is a live cache of `job`'s project.
    pub async fn cache_for_job(&self, job: &JobRecord, id: i64) -> Result<CacheRecord, AppError> {
        let since = self.kept_since(job.project_id).await?;
        let not_found = || AppError::NotFound("No such cache".into());
        let found = self.store.caches().by_id(id).await?.ok_or_else(not_found)?;
        if found.project_id != job.project_id || found.created_at < since {
            return Err(not_found());
        }
        Ok(found)
    }

    /// Whether `job` builds a fork's pull request without the project's secrets.
    async fn job_withheld(&self, job: &JobRecord) -> Result<bool, AppError> {
        let pipeline = self.store.builds().pipeline_by_id(job.pipeline_id).await?;
        Ok(pipeline.is_some_and(|p| p.secrets_withheld || p.pr_fork))
    }

    /// Records the completed upload of `object` as the cache `key` of `job`'s project; `false`
    /// (and the upload deleted) when the key was saved meanwhile by another job.
    pub async fn record_cache(
        &self,
        job: &JobRecord,
        key: &str,
        object: &ObjectPath,
        size: u64,
    ) -> Result<bool, AppError> {
        check_key(key)?;
        // A fork's job could leave a cache the default branch then restores and runs: its
        // caches are not kept (it restores the project's all the same).
        if self.job_withheld(job).await? {
            tracing::info!(
                build = job.build_num,
                "a forked pull request's cache was not kept"
            );
            self.delete_object(object.as_ref()).await;
            return Ok(false);
        }
        let since = self.kept_since(job.project_id).await?;
        let saved = self
            .store
            .caches()
            .record(
                &NewCache {
                    project_id: job.project_id,
                    cache_key: key,
                    object: object.as_ref(),
                    size: i64::try_from(size).unwrap_or(i64::MAX),
                    build_num: job.build_num,
                },
                since,
            )
            .await?;
        match saved {
            Saved::Stored { replaced } => {
                if let Some(old) = replaced {
                    self.delete_object(&old).await;
                }
                Ok(true)
            }
            Saved::Exists => {
                self.delete_object(object.as_ref()).await;
                Ok(false)
            }
        }
    }

    /// Records the completed upload of `object` as a workspace layer persisted by `job`.
    pub async fn record_layer(
        &self,
        job: &JobRecord,
        object: &ObjectPath,
        size: u64,
    ) -> Result<LayerRecord, AppError> {
        Ok(self
            .store
            .caches()
            .record_layer(&NewLayer {
                project_id: job.project_id,
                workflow_id: job.workflow_id,
                job_id: job.id,
                object: object.as_ref(),
                size: i64::try_from(size).unwrap_or(i64::MAX),
            })
            .await?)
    }

    /// The layers `job`'s `attach_workspace` applies, in order, with their records: those of
    /// every job of its workflow that it depends on (directly or not), in the order of the
    /// workflow's graph. A retry depends on what the job it retries depended on, so it sees the
    /// original's workspace; of several runs of one upstream job, the newest that persisted
    /// anything counts.
    pub async fn workspace_of(
        &self,
        job: &JobRecord,
    ) -> Result<Vec<(LayerRecord, WorkspaceLayer)>, AppError> {
        let since = self.kept_since(job.project_id).await?;
        let jobs = self
            .store
            .builds()
            .jobs_of_workflow(job.workflow_id)
            .await?;
        let layers = self
            .store
            .caches()
            .layers_of_workflow(job.workflow_id, since)
            .await?;
        Ok(order_layers(job, &jobs, layers))
    }

    /// Layer `id`, if `job` attaches it.
    pub async fn layer_for_job(&self, job: &JobRecord, id: i64) -> Result<LayerRecord, AppError> {
        self.workspace_of(job)
            .await?
            .into_iter()
            .map(|(record, _)| record)
            .find(|r| r.id == id)
            .ok_or_else(|| AppError::NotFound("No such workspace layer for this job".into()))
    }

    /// Removes caches and layers past their project's retention, rows first (so nothing
    /// expired is found again) and then their archives. Returns how many went.
    pub async fn sweep_expired_storage(&self) -> Result<usize, AppError> {
        let objects = self
            .store
            .caches()
            .take_expired(OffsetDateTime::now_utc(), SWEEP_BATCH)
            .await?;
        for object in &objects {
            self.delete_object(object).await;
        }
        Ok(objects.len())
    }

    /// Deletes an archive from the object store; one already gone is fine, and a failure only
    /// wastes space, so it is logged rather than returned.
    async fn delete_object(&self, object: &str) {
        let path = ObjectPath::from(object);
        match self.config.artifacts.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(%object, "could not delete an archive: {e}"),
        }
    }

    /// What `caller` sees of `slug`'s caches and workspaces in Project settings.
    pub async fn storage_settings(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
    ) -> Result<StorageSettings, AppError> {
        let access = self.authorize(caller, slug, Action::ManageProject).await?;
        let caches = self.store.caches();
        Ok(StorageSettings {
            usage: caches.usage(access.project.id).await?,
            retention_days: caches.retention_days(access.project.id).await?,
        })
    }

    /// Sets how many days `slug`'s caches and workspaces are kept (1 to 365).
    pub async fn set_retention(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        days: i64,
    ) -> Result<(), AppError> {
        let access = self.authorize(caller, slug, Action::ManageProject).await?;
        if !(1..=MAX_RETENTION_DAYS).contains(&days) {
            return Err(AppError::Invalid(format!(
                "Caches and workspaces can be kept from 1 to {MAX_RETENTION_DAYS} days (the default is {DEFAULT_RETENTION_DAYS})"
            )));
        }
        self.store
            .caches()
            .set_retention_days(access.project.id, days)
            .await?;
        Ok(())
    }
}

/// The layers of `layers` (a workflow's, oldest first) that `job` attaches, in the order to
/// apply them; see [`App::workspace_of`].
fn order_layers(
    job: &JobRecord,
    jobs: &[JobRecord],
    layers: Vec<LayerRecord>,
) -> Vec<(LayerRecord, WorkspaceLayer)> {
    // The workflow's graph by name, from the jobs as planned (a retry has no `requires`).
    let mut requires: BTreeMap<&str, &[String]> = BTreeMap::new();
    let mut position: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        position.entry(j.name.as_str()).or_insert(i);
        if j.retry_of.is_none() {
            requires.entry(j.name.as_str()).or_insert(&j.requires);
        }
    }
    let ancestors_of = |name: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = requires
            .get(name)
            .map_or(vec![], |r| r.iter().map(String::as_str).collect());
        while let Some(n) = todo.pop() {
            if seen.insert(n.to_owned()) {
                todo.extend(
                    requires
                        .get(n)
                        .into_iter()
                        .flat_map(|r| r.iter().map(String::as_str)),
                );
            }
        }
        seen
    };
    let upstream = ancestors_of(&job.name);
    let by_id: BTreeMap<i64, &JobRecord> = jobs.iter().map(|j| (j.id, j)).collect();
    // Of several runs of one upstream job, the newest run that persisted anything.
    let mut chosen: BTreeMap<&str, i64> = BTreeMap::new();
    for layer in &layers {
        if let Some(j) = by_id.get(&layer.job_id)
            && upstream.contains(&j.name)
        {
            let newest = chosen.entry(j.name.as_str()).or_insert(j.id);
            *newest = (*newest).max(j.id);
        }
    }
    // Depth in the graph first (a job after everything it requires), then the workflow's order.
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    for name in &upstream {
        depth.insert(name.clone(), ancestors_of(name).len());
    }
    let mut picked: Vec<(LayerRecord, &JobRecord)> = layers
        .into_iter()
        .filter_map(|l| {
            let j = *by_id.get(&l.job_id)?;
            (chosen.get(j.name.as_str()) == Some(&j.id)).then_some((l, j))
        })
        .collect();
    picked.sort_by_key(|(l, j)| {
        (
            depth.get(&j.name).copied().unwrap_or(0),
            position.get(j.name.as_str()).copied().unwrap_or(0),
            l.id,
        )
    });
    let mut out: Vec<(LayerRecord, WorkspaceLayer)> = Vec::with_capacity(picked.len());
    for (layer, j) in picked {
        let before = ancestors_of(&j.name);
        let upstream_layers = out
            .iter()
            .filter(|(_, w)| w.job_name == j.name || before.contains(&w.job_name))
            .map(|(l, _)| l.id)
            .collect();
        let described = WorkspaceLayer {
            id: layer.id,
            job_name: j.name.clone(),
            build_num: j.build_num,
            size_bytes: u64::try_from(layer.size).unwrap_or(0),
            upstream: upstream_layers,
        };
        out.push((layer, described));
    }
    out
}
