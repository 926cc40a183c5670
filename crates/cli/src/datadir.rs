//! The data dir: created with mode 0700; holds the SQLite database and the instance keys,
//! each generated on first start into a file of mode 0600, and the directories of artifacts,
//! repository mirrors and the embedded runner's jobs, each made mode 0700.
//!
//! A data dir someone else made (mode 0755, say) is used as it is, with a warning: what circlet
//! puts in it is private all the same. Files are made 0600 by whoever makes them (keys here, the
//! SQLite database and its revocations file in `circlet-store`, whose `-wal`/`-shm` SQLite
//! makes with the database's mode); the directories are made 0700 here before anything writes
//! into them, so whatever the artifact store, git or a job creates inside with the usual 0644 /
//! 0755 cannot be reached by other users. The process umask is left alone on purpose: the
//! embedded runner's checkouts and job steps inherit it, and builds that package or copy files
//! expect the umask they were started with, not 0077.

use anyhow::{Context, anyhow, bail};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Key for session digests and CSRF tokens.
pub const SESSION_KEY_FILE: &str = "session.key";
/// Key for encrypting environment variable values at rest.
pub const ENV_KEY_FILE: &str = "env.key";

/// The directories circlet keeps in the data dir, made mode 0700 by [`prepare`].
pub const PRIVATE_DIRS: [&str; 3] = ["artifacts", "repos", "runner-work"];

/// Creates the data dir (mode 0700) if it is missing, checks it is writable, makes the
/// [`PRIVATE_DIRS`] (mode 0700), and warns about any of these that other users can reach.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    }
    if !dir.is_dir() {
        bail!("data dir {} is not a directory", dir.display());
    }
    let probe = dir.join(".write-test");
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)
        .with_context(|| format!("data dir {} is not writable", dir.display()))?;
    let _ = fs::remove_file(&probe);
    warn_if_shared(dir, "the data dir");
    for name in PRIVATE_DIRS {
        let sub = dir.join(name);
        match DirBuilder::new().mode(0o700).create(&sub) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                warn_if_shared(&sub, "a data directory");
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", sub.display())),
        }
    }
    Ok(())
}

/// Warns when users other than the owner may read or enter `path`.
fn warn_if_shared(path: &Path, what: &str) {
    let Ok(meta) = fs::metadata(path) else { return };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            "{what} {} is accessible to other users (mode {mode:o}); what circlet creates in it \
             is private, but chmod 700 it (and chmod -R go= what was there before)",
            path.display()
        );
    }
}

/// Reads the 32-byte key in `dir/name`, generating it (mode 0600) when absent.
pub fn key(dir: &Path, name: &str) -> anyhow::Result<[u8; 32]> {
    key_at(&dir.join(name))
}

/// Reads the 32-byte key in the file at `path`, generating it (mode 0600) when absent. Two
/// processes starting at once on a fresh data dir agree on one key: the file appears whole or
/// not at all (hard-linked from a complete temporary file), and the one that loses the race
/// reads the winner's.
pub fn key_at(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Some(key) = read_key(path)? {
        return Ok(key);
    }
    let key = circlet_core::secret::random_bytes::<32>();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = complete_temp_beside(path, &hex)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!("generated {}", path.display());
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(path)?
            .ok_or_else(|| anyhow!("key file {} vanished while starting", path.display())),
        Err(e) => Err(e).with_context(|| format!("cannot create key file {}", path.display())),
    }
}

/// The key in the file at `path`; `None` when there is no such file.
fn read_key(path: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read key {}", path.display())),
    };
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            "{} is readable by other users (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    let bytes = hex_decode(text.trim())
        .ok_or_else(|| anyhow!("key file {} is not 64 hex characters", path.display()))?;
    Ok(Some(bytes))
}

/// A new file (mode 0600) holding `value`, synced, in the directory of `path` under a random
/// name: two writers never remove or overwrite each other's temporary file.
fn complete_temp_beside(path: &Path, value: &str) -> anyhow::Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{name}.{}.tmp",
        circlet_core::secret::random_bytes::<8>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(value.as_bytes())?;
    file.sync_all()?;
    Ok(tmp)
}

/// The embedded runner's token, kept across restarts (mode 0600).
pub const RUNNER_TOKEN_FILE: &str = "runner.token";

/// The secret text in `dir/name`, if the file exists.
pub fn read_secret(dir: &Path, name: &str) -> anyhow::Result<Option<String>> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(text.trim().to_owned()))
}

/// Writes `value` to `dir/name` with mode 0600, replacing the file atomically.
pub fn write_secret(dir: &Path, name: &str, value: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    let tmp = complete_temp_beside(&path, value)?;
    fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn hex_decode(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_and_keys_get_private_modes_and_keys_persist() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        prepare(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let k1 = key(&dir, SESSION_KEY_FILE).unwrap();
        assert_eq!(
            fs::metadata(dir.join(SESSION_KEY_FILE))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(k1, key(&dir, SESSION_KEY_FILE).unwrap());
        assert_ne!(k1, key(&dir, ENV_KEY_FILE).unwrap());
    }

    #[test]
    fn a_garbled_key_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("k"), "zz").unwrap();
        assert!(key(tmp.path(), "k").is_err());
    }

    #[test]
    fn processes_starting_at_once_agree_on_one_key() {
        for _ in 0..20 {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            let keys: Vec<[u8; 32]> = std::thread::scope(|scope| {
                let racers: Vec<_> = (0..8)
                    .map(|_| scope.spawn(|| key(dir, SESSION_KEY_FILE).unwrap()))
                    .collect();
                racers.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
            assert_eq!(keys[0], key(dir, SESSION_KEY_FILE).unwrap());
            let left: Vec<_> = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left, [SESSION_KEY_FILE], "no temporary files are left");
        }
    }
}
