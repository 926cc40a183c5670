//! The data dir: created with mode 0700; holds the SQLite database and the instance keys,
//! each generated on first start into a file of mode 0600.

use anyhow::{Context, anyhow, bail};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Key for session digests and CSRF tokens.
pub const SESSION_KEY_FILE: &str = "session.key";
/// Key for encrypting environment variable values at rest.
pub const ENV_KEY_FILE: &str = "env.key";

/// Creates the data dir (mode 0700) if it is missing and checks it is writable.
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
    fs::write(&probe, b"")
        .with_context(|| format!("data dir {} is not writable", dir.display()))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Reads the 32-byte key in `dir/name`, generating it (mode 0600) when absent.
pub fn key(dir: &Path, name: &str) -> anyhow::Result<[u8; 32]> {
    key_at(&dir.join(name))
}

/// Reads the 32-byte key in the file at `path`, generating it (mode 0600) when absent.
pub fn key_at(path: &Path) -> anyhow::Result<[u8; 32]> {
    let path = path.to_path_buf();
    if path.exists() {
        let mode = fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} is readable by other users (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
        let text = fs::read_to_string(&path)
            .with_context(|| format!("cannot read key {}", path.display()))?;
        let bytes = hex_decode(text.trim())
            .ok_or_else(|| anyhow!("key file {} is not 64 hex characters", path.display()))?;
        return Ok(bytes);
    }
    let key = circlet_core::secret::random_bytes::<32>();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create key file {}", path.display()))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    file.write_all(hex.as_bytes())?;
    file.sync_all()?;
    tracing::info!("generated {}", path.display());
    Ok(key)
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
    // A random name: two writers never remove or overwrite each other's temporary file.
    let tmp = dir.join(format!(
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
}
