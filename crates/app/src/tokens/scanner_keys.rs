//! The public keys secret scanners sign leak reports with, read from where the admin said
//! (a file, or the URL GitHub publishes them at) and kept in memory.
//!
//! The document is read at the first report, again when it is an hour old, and again when a
//! report names a key it lacks (a scanner rotated its keys). Reads are bounded: at most one per
//! [`KeysConfig::refetch_after`] (5 minutes by default), so reports naming made-up keys cannot
//! make circlet hammer GitHub's API (60 unauthenticated requests an hour). When a read fails,
//! the keys read before stay in use.

use crate::AppError;
use circlet_core::Invalid;
use circlet_core::leak_report::{MAX_KEYS_BYTES, ScannerKey, ScannerKeys};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a keys document is used before it is read again.
const TTL: Duration = Duration::from_secs(60 * 60);

/// How long a read of a keys URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the keys document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file on this host.
    File(PathBuf),
    /// An `http://` or `https://` URL, such as GitHub's
    /// ([`circlet_core::leak_report::GITHUB_KEYS_URL`]).
    Url(String),
}

impl KeySource {
    /// `raw` as a URL when it starts with `http://` or `https://`, else as a file path.
    pub fn parse(raw: &str) -> Result<KeySource, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Invalid::new(
                "the secret-scanning keys setting is empty: give a file or an http(s) URL",
            ));
        }
        if raw.starts_with("http://") || raw.starts_with("https://") {
            reqwest::Url::parse(raw).map_err(|e| {
                Invalid::new(format!(
                    "the secret-scanning keys URL '{raw}' is not a URL: {e}"
                ))
            })?;
            Ok(KeySource::Url(raw.to_owned()))
        } else if raw.contains("://") {
            Err(Invalid::new(format!(
                "the secret-scanning keys '{raw}' must be a file or an http(s) URL"
            )))
        } else {
            Ok(KeySource::File(PathBuf::from(raw)))
        }
    }

    /// For messages and `config check`.
    pub fn describe(&self) -> String {
        match self {
            KeySource::File(p) => p.display().to_string(),
            KeySource::Url(u) => u.clone(),
        }
    }
}

/// Where the keys come from, and how often they may be read again.
#[derive(Debug, Clone)]
pub struct KeysConfig {
    /// Where the keys document is.
    pub source: KeySource,
    /// The least time between two reads of the document.
    pub refetch_after: Duration,
}

impl KeysConfig {
    /// Keys from `source`, read again at most every 5 minutes.
    pub fn new(source: KeySource) -> Self {
        KeysConfig {
            source,
            refetch_after: Duration::from_secs(5 * 60),
        }
    }
}

/// The keys read, and when the document was last read (or tried).
struct Cache {
    keys: Option<(ScannerKeys, Instant)>,
    last_attempt: Option<Instant>,
}

/// The scanners' keys of this instance, read on demand and kept; one per process.
pub struct ScannerKeyring {
    config: KeysConfig,
    http: reqwest::Client,
    // An async lock: one read at a time, and reports wait for the read they need.
    cache: tokio::sync::Mutex<Cache>,
}

impl ScannerKeyring {
    /// A keyring reading from `config`; nothing is read yet.
    pub fn new(config: KeysConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("circlet/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client builds");
        ScannerKeyring {
            config,
            http,
            cache: tokio::sync::Mutex::new(Cache {
                keys: None,
                last_attempt: None,
            }),
        }
    }

    /// Where the keys come from.
    pub fn source(&self) -> &KeySource {
        &self.config.source
    }

    /// The key named `id`, reading the document first when none was read yet, when it is old,
    /// or when it lacks `id` (each at most once per `refetch_after`). `None` for a key the
    /// document does not have; `Unavailable` when no document could be read at all.
    pub async fn key(&self, id: &str) -> Result<Option<ScannerKey>, AppError> {
        let mut cache = self.cache.lock().await;
        let may_read = cache
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.config.refetch_after);
        let wanted = match &cache.keys {
            None => true,
            Some((keys, read_at)) => read_at.elapsed() >= TTL || keys.get(id).is_none(),
        };
        if wanted && may_read {
            cache.last_attempt = Some(Instant::now());
            match self.read().await {
                Ok(keys) => cache.keys = Some((keys, Instant::now())),
                Err(e) => tracing::warn!(
                    "cannot read the secret-scanning keys from {}: {e}",
                    self.config.source.describe()
                ),
            }
        }
        match &cache.keys {
            Some((keys, _)) => Ok(keys.get(id).cloned()),
            None => Err(AppError::Unavailable),
        }
    }

    /// Reads and parses the document.
    async fn read(&self) -> Result<ScannerKeys, String> {
        let bytes = match &self.config.source {
            KeySource::File(path) => read_file(path).await?,
            KeySource::Url(url) => self.fetch(url).await?,
        };
        ScannerKeys::parse(&bytes).map_err(|e| e.0)
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{e}"))?;
        if !response.status().is_success() {
            return Err(format!("the server answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{e}"))? {
            if body.len() + chunk.len() > MAX_KEYS_BYTES {
                return Err(format!(
                    "the document is larger than {MAX_KEYS_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

async fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let len = tokio::fs::metadata(path)
        .await
        .map_err(|e| e.to_string())?
        .len();
    if len > MAX_KEYS_BYTES as u64 {
        return Err(format!("the file is larger than {MAX_KEYS_BYTES} bytes"));
    }
    tokio::fs::read(path).await.map_err(|e| e.to_string())
}

/// Reads and checks the keys file at `path` now, for start-up: a file that cannot be used
/// stops `serve` with the reason instead of failing every report later.
pub fn check_file(path: &std::path::Path) -> Result<usize, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ScannerKeys::parse(&bytes)
        .map(|keys| keys.len())
        .map_err(|e| format!("{}: {}", path.display(), e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leak_report_key_sources_are_files_or_http_urls() {
        assert_eq!(
            KeySource::parse(" https://api.github.com/meta/public_keys/secret_scanning ").unwrap(),
            KeySource::Url("https://api.github.com/meta/public_keys/secret_scanning".into())
        );
        assert_eq!(
            KeySource::parse("/etc/circlet/keys.json").unwrap(),
            KeySource::File("/etc/circlet/keys.json".into())
        );
        for bad in ["", "  ", "ftp://example.com/keys", "https://"] {
            assert!(KeySource::parse(bad).is_err(), "{bad:?}");
        }
    }
}
