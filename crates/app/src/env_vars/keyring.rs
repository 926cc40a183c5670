//! The instance keyring env var values are sealed with.
//!
//! The keyring lives in files: the current key in `env.key` (64 hex digits) and keys it replaced
//! in `env.key.retired` (one per line), so values sealed before a rotation stay readable. The
//! files are re-read when they change, so `circlet admin rotate-env-key` takes effect in a
//! running server (and in every replica sharing the files) without a restart.

use circlet_core::envcrypt;
use circlet_store::{EnvVarRecord, Project};
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
        self.open_sealed(project_uuid, &v.name, &v.key_id, &v.sealed)
            .map_err(|why| format!("environment variable {} {why}", v.name))
    }

    /// Opens any value of `project_uuid` sealed for `name` with key `key_id` (env vars, SSH
    /// keys' private halves); the error says why not, without the value.
    pub fn open_sealed(
        &self,
        project_uuid: &str,
        name: &str,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<String, String> {
        self.refresh();
        let keys = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let key = keys.all.get(key_id).ok_or_else(|| {
            format!("is sealed with key {key_id}, which this server does not have")
        })?;
        envcrypt::open(key, project_uuid, name, sealed).ok_or_else(|| "does not open".to_owned())
    }

    /// Seals `value` for `name` of the project `project_uuid` under the current key.
    pub fn seal_for(&self, project_uuid: &str, name: &str, value: &str) -> (String, Vec<u8>) {
        self.refresh();
        let keys = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (id, key) = &keys.current;
        (id.clone(), envcrypt::seal(key, project_uuid, name, value))
    }
}
