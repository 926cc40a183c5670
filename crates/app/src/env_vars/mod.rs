//! Project environment variables: set, list, open for a job, mask, and the keys they are
//! sealed with ([`keyring`]). Values go in; only masks (`xxxx` + last 4) come out, except to the
//! job a runner claims. The API, the web UI and the admin CLI all come through here.

pub mod keyring;

pub use keyring::{Keyring, retired_path};

use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::envvar;
use circlet_core::scope::Action;
use circlet_store::{EnvVarRecord, NewEnvVar, Project, Store};

/// What a variable that is not there is called.
pub const ENV_VAR_NOT_FOUND: &str = "Environment variable not found";

impl App {
    /// The env vars of the project at `slug`, if `caller` may manage them
    /// ([`Action::ManageEnvVars`]).
    pub async fn env_vars(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
    ) -> Result<ProjectEnvVars<'_>, AppError> {
        let access = self.authorize(caller, slug, Action::ManageEnvVars).await?;
        Ok(ProjectEnvVars {
            app: self,
            project: access.project,
        })
    }
}

/// One project's env vars, for a caller allowed to manage them.
pub struct ProjectEnvVars<'a> {
    app: &'a App,
    /// The project.
    pub project: Project,
}

impl ProjectEnvVars<'_> {
    /// Every variable, masked, by name.
    pub async fn list(&self) -> Result<Vec<EnvVarRecord>, AppError> {
        Ok(self.app.store.env_vars().list(self.project.id).await?)
    }

    /// The variable `name`, masked.
    pub async fn get(&self, name: &str) -> Result<EnvVarRecord, AppError> {
        self.app
            .store
            .env_vars()
            .get(self.project.id, name)
            .await?
            .ok_or_else(|| AppError::NotFound(ENV_VAR_NOT_FOUND.into()))
    }

    /// Sets (or overwrites) `name`, sealed; the stored record shows the mask only.
    pub async fn set(&self, name: &str, value: &str) -> Result<EnvVarRecord, AppError> {
        set(
            &self.app.store,
            &self.app.config.env_keys,
            &self.project,
            name,
            value,
        )
        .await
    }

    /// Removes `name`.
    pub async fn delete(&self, name: &str) -> Result<(), AppError> {
        if self
            .app
            .store
            .env_vars()
            .delete(self.project.id, name)
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound(ENV_VAR_NOT_FOUND.into()))
        }
    }
}

/// Sets (or overwrites) a variable, sealed; returns the stored record (masked value only).
async fn set(
    store: &Store,
    keys: &Keyring,
    project: &Project,
    name: &str,
    value: &str,
) -> Result<EnvVarRecord, AppError> {
    envvar::check(name, value)?;
    let (key_id, sealed) = keys.seal(project, name, value);
    let new = NewEnvVar {
        name: name.to_owned(),
        key_id,
        sealed,
        masked: envvar::masked(value),
    };
    Ok(store.env_vars().set(project.id, &new).await?)
}

/// A project's variables in clear, for the job a runner is about to run. Any that cannot be
/// opened (a key was lost) is an error: a job must not run with a variable silently missing.
pub async fn open_all(
    store: &Store,
    keys: &Keyring,
    project: &Project,
) -> Result<Vec<(String, String)>, AppError> {
    let uuid = project.uuid.to_string();
    let mut out = Vec::new();
    for v in store.env_vars().list(project.id).await? {
        let value = keys
            .open(&uuid, &v)
            .map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
        out.push((v.name, value));
    }
    Ok(out)
}

/// The values of a project's variables that output masking hides
/// ([`envvar::masked_in_output`]), for masking what the server shows of its builds. `None`
/// when one cannot be opened (a key was lost): the caller must then assume any text may hold
/// a secret.
pub async fn values_to_mask(
    store: &Store,
    keys: &Keyring,
    project: &Project,
) -> Result<Option<Vec<String>>, AppError> {
    let uuid = project.uuid.to_string();
    let mut out = Vec::new();
    for v in store.env_vars().list(project.id).await? {
        match keys.open(&uuid, &v) {
            Ok(value) if envvar::masked_in_output(&value) => out.push(value),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(project = %project.slug, "cannot mask build data with env var values: {e}");
                return Ok(None);
            }
        }
    }
    Ok(Some(out))
}

/// How many rows a re-sealing pass reads at a time.
const RESEAL_BATCH: i64 = 500;

/// Re-seals sealed values in passes, for every kind a key rotation rewrites: `batch(limit)`
/// reads up to `limit` values not under the current key, `reseal_one` re-seals one and says
/// whether it wrote (a conditional update: a value set meanwhile is never overwritten). Each
/// pass re-seals what it read, so only rows rewritten concurrently come back and a few passes
/// suffice; the bound keeps a pathological writer from holding a rotation forever. Returns how
/// many were re-sealed; `what` names them in the error.
pub async fn reseal_in_passes<T>(
    what: &str,
    mut batch: impl AsyncFnMut(i64) -> anyhow::Result<Vec<T>>,
    mut reseal_one: impl AsyncFnMut(T) -> anyhow::Result<bool>,
) -> anyhow::Result<usize> {
    let mut done = 0;
    for _ in 0..100 {
        let rows = batch(RESEAL_BATCH).await?;
        if rows.is_empty() {
            return Ok(done);
        }
        for row in rows {
            if reseal_one(row).await? {
                done += 1;
            }
        }
    }
    anyhow::bail!("{what} kept being rewritten under an old key; run the rotation again")
}

/// Re-seals every variable not under the current key; returns how many were re-sealed. Safe
/// to run while servers serve: a value set meanwhile is never overwritten (its row changed, so
/// the conditional update skips it, and the next pass picks it up if it is still on an old key).
pub async fn reseal_all(store: &Store, keys: &Keyring) -> anyhow::Result<usize> {
    let current = keys.current_id();
    reseal_in_passes(
        "variables",
        async |limit| {
            Ok(store
                .env_vars()
                .sealed_by_other_keys(&current, limit)
                .await?)
        },
        async |(project_id, v): (i64, EnvVarRecord)| {
            let Some(project) = store.projects().by_id(project_id).await? else {
                return Ok(false);
            };
            let clear = keys
                .open(&project.uuid.to_string(), &v)
                .map_err(|e| anyhow::anyhow!(e))?;
            let (key_id, sealed) = keys.seal(&project, &v.name, &clear);
            Ok(store
                .env_vars()
                .reseal(project_id, &v, &key_id, &sealed)
                .await?)
        },
    )
    .await
}

/// Re-seals every SSH key's private half not under the current key, like [`reseal_all`] does
/// for variables; returns how many were re-sealed.
pub async fn reseal_ssh_keys(store: &Store, keys: &Keyring) -> anyhow::Result<usize> {
    let current = keys.current_id();
    reseal_in_passes(
        "SSH keys",
        async |limit| {
            Ok(store
                .ssh_keys()
                .sealed_by_other_keys(&current, limit)
                .await?)
        },
        async |k| {
            let Some(project) = store.projects().by_id(k.project_id).await? else {
                return Ok(false);
            };
            let uuid = project.uuid.to_string();
            let name = crate::ssh_keys::sealed_name(&k.fingerprint_sha256);
            let clear = keys
                .open_sealed(&uuid, &name, &k.key_id, &k.sealed)
                .map_err(|why| anyhow::anyhow!("SSH key {} {why}", k.fingerprint_sha256))?;
            let (key_id, sealed) = keys.seal_for(&uuid, &name, &clear);
            Ok(store.ssh_keys().reseal(&k, &key_id, &sealed).await?)
        },
    )
    .await
}
