//! Project environment variables: the instance keyring, setting and deleting variables (sealed
//! before they reach the store), and opening them — only ever to hand a job to a runner.
//!
//! The keyring lives in files: the current key in `env.key` (64 hex digits) and keys it replaced
//! in `env.key.retired` (one per line), so values sealed before a rotation stay readable. The
//! files are re-read when they change, so `circlet admin rotate-env-key` takes effect in a
//! running server (and in every replica sharing the files) without a restart.

use crate::error::ApiError;
use circlet_core::{envcrypt, envvar};
use circlet_store::{EnvVarRecord, NewEnvVar, Project, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

/// The instance's env var keys.
pub struct Keyring {
    /// Where the current key is; `None` for a fixed in-memory keyring (tests).
    path: Option<PathBuf>,
    inner: RwLock<Keys>,
}

struct Keys {
    current: (String, [u8; 32]),
    all: HashMap<String, [u8; 32]>,
    stamp: Option<(SystemTime, Option<SystemTime>)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({:?}, [redacted])", self.path)
    }
}

/// The file holding the keys a rotation replaced, next to the current key's.
pub fn retired_path(current: &Path) -> PathBuf {
    let mut name = current.as_os_str().to_owned();
    name.push(".retired");
    PathBuf::from(name)
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

fn stamp(path: &Path) -> Option<(SystemTime, Option<SystemTime>)> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((modified(path)?, modified(&retired_path(path))))
}

fn read_keys(path: &Path) -> anyhow::Result<Keys> {
    // Stamped before reading: a rotation landing in between is seen at the next refresh.
    let stamped = stamp(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read env key {}: {e}", path.display()))?;
    let current = parse_key(&text)
        .ok_or_else(|| anyhow::anyhow!("env key {} is not 64 hex digits", path.display()))?;
    let mut all = HashMap::new();
    if let Ok(retired) = std::fs::read_to_string(retired_path(path)) {
        for line in retired.lines().filter(|l| !l.trim().is_empty()) {
            let key = parse_key(line).ok_or_else(|| {
                anyhow::anyhow!(
                    "{} holds a line that is not a key",
                    retired_path(path).display()
                )
            })?;
            all.insert(envcrypt::key_id(&key), key);
        }
    }
    let id = envcrypt::key_id(&current);
    all.insert(id.clone(), current);
    Ok(Keys {
        current: (id, current),
        all,
        stamp: stamped,
    })
}

impl Keyring {
    /// The keyring in `path` (and its `.retired` file).
    pub fn from_file(path: &Path) -> anyhow::Result<Keyring> {
        Ok(Keyring {
            path: Some(std::path::absolute(path)?),
            inner: RwLock::new(read_keys(path)?),
        })
    }

    /// A keyring of one key that never changes (tests, tools).
    pub fn fixed(key: [u8; 32]) -> Keyring {
        let id = envcrypt::key_id(&key);
        Keyring {
            path: None,
            inner: RwLock::new(Keys {
                current: (id.clone(), key),
                all: HashMap::from([(id, key)]),
                stamp: None,
            }),
        }
    }

    /// Re-reads the files if they changed since last read. A broken file keeps the old keys
    /// (and says so in the log) rather than losing them.
    fn refresh(&self) {
        let Some(path) = &self.path else { return };
        let now = stamp(path);
        let seen = self.inner.read().unwrap_or_else(|e| e.into_inner()).stamp;
        if now.is_none() || now == seen {
            return;
        }
        match read_keys(path) {
            Ok(keys) => *self.inner.write().unwrap_or_else(|e| e.into_inner()) = keys,
            Err(e) => tracing::warn!("keeping the env keys in memory: {e}"),
        }
    }

    /// The current key's id.
    pub fn current_id(&self) -> String {
        self.refresh();
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .current
            .0
            .clone()
    }

    /// Seals `value` for `name` of `project` under the current key: (key id, sealed bytes).
    pub fn seal(&self, project: &Project, name: &str, value: &str) -> (String, Vec<u8>) {
        self.refresh();
        let keys = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (id, key) = &keys.current;
        (
            id.clone(),
            envcrypt::seal(key, &project.uuid.to_string(), name, value),
        )
    }

    /// Opens a stored variable of `project_uuid`, or says why it cannot be opened.
    pub fn open(&self, project_uuid: &str, v: &EnvVarRecord) -> Result<String, String> {
        self.refresh();
        let keys = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let key = keys.all.get(&v.key_id).ok_or_else(|| {
            format!(
                "environment variable {} is sealed with key {}, which this server does not have",
                v.name, v.key_id
            )
        })?;
        envcrypt::open(key, project_uuid, &v.name, &v.sealed)
            .ok_or_else(|| format!("environment variable {} does not open", v.name))
    }
}

/// Sets (or overwrites) a variable, sealed; returns the stored record (masked value only).
pub async fn set(
    store: &Store,
    keys: &Keyring,
    project: &Project,
    name: &str,
    value: &str,
) -> Result<EnvVarRecord, ApiError> {
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
) -> Result<Vec<(String, String)>, ApiError> {
    let uuid = project.uuid.to_string();
    let mut out = Vec::new();
    for v in store.env_vars().list(project.id).await? {
        let value = keys
            .open(&uuid, &v)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
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
) -> Result<Option<Vec<String>>, ApiError> {
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

/// Re-seals every variable not under the current key; returns how many were re-sealed. Safe
/// to run while servers serve: a value set meanwhile is never overwritten (its row changed, so
/// the conditional update skips it, and the next pass picks it up if it is still on an old key).
pub async fn reseal_all(store: &Store, keys: &Keyring) -> anyhow::Result<usize> {
    let current = keys.current_id();
    let mut done = 0;
    // Each pass re-seals what it read; only rows rewritten concurrently come back, so a few
    // passes always suffice. The bound keeps a pathological writer from holding this forever.
    for _ in 0..100 {
        let batch = store.env_vars().sealed_by_other_keys(&current, 500).await?;
        if batch.is_empty() {
            return Ok(done);
        }
        for (project_id, v) in batch {
            let Some(project) = store.projects().by_id(project_id).await? else {
                continue;
            };
            let clear = keys
                .open(&project.uuid.to_string(), &v)
                .map_err(|e| anyhow::anyhow!(e))?;
            let (key_id, sealed) = keys.seal(&project, &v.name, &clear);
            if store
                .env_vars()
                .reseal(project_id, &v, &key_id, &sealed)
                .await?
            {
                done += 1;
            }
        }
    }
    anyhow::bail!("variables kept being rewritten under an old key; run the rotation again")
}
