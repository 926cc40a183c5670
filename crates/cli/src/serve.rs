//! `circlet serve`.

use crate::datadir;
use crate::settings::Settings;
use anyhow::{Context, anyhow};
use circlet_app::tokens::scanner_keys::{KeySource, KeysConfig, check_file};
use circlet_app::tokens::{self, Actor};
use circlet_app::{App, AppConfig};
use circlet_core::token::{self, TokenKind, TokenName};
use circlet_runner::{RunnerConfig, RunnerError, Sandbox};
use circlet_server::{AppState, ServerConfig, SessionKey};
use circlet_store::Store;
use secrecy::SecretString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;

/// Prepares the data dir, keys and store, binds, and serves until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let started = std::time::SystemTime::now();
    let signalled = shutdown_signal()?;
    // Before anything is made: a keys file that cannot be used stops the start.
    let secret_scanning = secret_scanning(&settings)?;
    datadir::prepare(&settings.data_dir)?;
    let session_key = datadir::key(&settings.data_dir, datadir::SESSION_KEY_FILE)?;
    // Made now so every instance has it from its first start; env var values are sealed with it.
    datadir::key_at(&settings.env_key_file)?;
    let env_keys = circlet_app::env_vars::Keyring::from_file(&settings.env_key_file)?;
    let store = open_store(&settings).await?;
    // Before listening: a runner that cannot sandbox its jobs must not start at all.
    let sandbox = match settings.runners {
        0 => None,
        _ => Some(Sandbox::new(
            settings.sandbox,
            embedded_runner_hidden(&settings),
        )?),
    };
    // Before listening too: a certificate that cannot be used stops the start.
    let tls = match &settings.tls {
        Some((cert, key)) => Some(circlet_server::tls::acceptor(cert, key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| anyhow!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr()?;
    // With HTTPS, the embedded runner reaches the server on a loopback listener of its own:
    // the certificate names the public host, which loopback is not.
    let internal = match (&tls, settings.runners) {
        (Some(_), n) if n > 0 => Some(
            TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
                .await
                .map_err(|e| anyhow!("cannot listen on loopback for the embedded runner: {e}"))?,
        ),
        _ => None,
    };
    let runner_addr = match &internal {
        Some(l) => l.local_addr()?,
        None => loopback(addr),
    };
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"));
    let mut app_config = AppConfig::new(public_url.clone());
    app_config.max_token_lifetime_days = settings.max_token_lifetime_days;
    app_config.allow_private_outbound = settings.allow_private_outbound;
    app_config.secret_scanning = secret_scanning;
    app_config.repo_cache_dir = settings.data_dir.join("repos");
    app_config.env_keys = std::sync::Arc::new(env_keys);
    app_config.runner_timeout = std::time::Duration::from_secs(settings.runner_timeout_secs);
    app_config.artifacts = artifact_storage(&settings)?;
    app_config.mailer = mailer(&settings)?;
    app_config.notice_interval = std::time::Duration::from_secs(settings.notice_interval_secs);
    let mut config = ServerConfig::new(addr, SessionKey::new(session_key));
    config.max_body_bytes = settings.max_body_bytes;
    config.auth_failures_per_window = settings.auth_failures_per_window;
    config.trusted_proxies = settings.trusted_proxies.clone();
    config.max_connections = settings.max_connections;
    config.header_timeout = std::time::Duration::from_secs(settings.header_timeout_secs);
    config.idle_timeout = std::time::Duration::from_secs(settings.idle_timeout_secs);
    let artifacts_dir = settings.data_dir.join("artifacts");
    tracing::info!(
        "circlet listening on {scheme}://{addr} (public URL {public_url}, {:?} store, artifacts in {})",
        store.kind(),
        app_config.artifacts.location
    );
    if settings.artifacts_url.is_none() {
        tokio::task::spawn_blocking(move || remove_abandoned_uploads(&artifacts_dir, started));
    }
    let state = AppState::new(App::new(store.clone(), app_config), config);
    // The embedded runner speaks the runner protocol to this very server, over loopback.
    let (stop_runner, runner_stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = match (settings.runners, sandbox) {
        (0, _) | (_, None) => None,
        (n, Some(sandbox)) => {
            let config = RunnerConfig {
                server: format!("http://{runner_addr}"),
                token: SecretString::from(String::new()),
                work_dir: settings.data_dir.join("runner-work"),
                concurrency: n,
                name: format!("embedded ({})", circlet_runner::default_name()),
                sandbox,
                ca_file: None,
                // This binary answers to `circleci` in jobs.
                tools: std::env::current_exe().ok(),
            };
            Some(tokio::spawn(embedded_runner(
                store.clone(),
                settings.data_dir.clone(),
                config,
                runner_stopped,
            )))
        }
    };
    // On a signal, the runner stops first (its jobs report while the server still listens),
    // then the server stops accepting and finishes in-flight requests.
    let shutdown = async move {
        signalled.await;
        let _ = stop_runner.send(());
        if let Some(runner) = runner {
            match runner.await {
                Ok(Err(e)) => tracing::warn!("embedded runner: {e:#}"),
                Err(e) => tracing::warn!("embedded runner task failed: {e}"),
                Ok(Ok(())) => {}
            }
        }
    };
    let listeners = circlet_server::Listeners {
        public: listener,
        tls,
        internal,
    };
    circlet_server::serve_with(listeners, state, shutdown)
        .await
        .context("server failed")?;
    store.close().await;
    tracing::info!("circlet stopped");
    Ok(())
}

/// Leak reports' settings: on when scanner keys are configured, a keys file read and checked
/// now (a file that cannot be used stops the start; a URL is read at the first report).
fn secret_scanning(settings: &Settings) -> anyhow::Result<Option<KeysConfig>> {
    let Some(source) = settings.secret_scanning_keys.clone() else {
        return Ok(None);
    };
    match &source {
        KeySource::File(path) => {
            let n = check_file(path).map_err(|e| anyhow!("secret-scanning keys: {e}"))?;
            tracing::info!(
                "leak reports from secret scanners on, {n} key(s) in {}",
                path.display()
            );
        }
        KeySource::Url(url) => {
            tracing::info!("leak reports from secret scanners on, keys from {url}");
        }
    }
    Ok(Some(KeysConfig::new(source)))
}

/// The mailer for token notices, when an SMTP server is configured; said once either way.
fn mailer(
    settings: &Settings,
) -> anyhow::Result<Option<std::sync::Arc<circlet_app::notices::mail::Mailer>>> {
    let Some(smtp) = &settings.smtp else {
        tracing::info!(
            "token notices go to dashboards only: no SMTP server is configured (--smtp-url), so no email is sent"
        );
        return Ok(None);
    };
    let mailer = circlet_app::notices::mail::Mailer::new(smtp).map_err(|e| anyhow!("{e}"))?;
    tracing::info!(
        "token notices are emailed from {} as well as shown on dashboards",
        mailer.from()
    );
    Ok(Some(std::sync::Arc::new(mailer)))
}

/// Where the embedded runner reaches this server: the bound address, with a wildcard address
/// replaced by loopback.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// What the embedded runner's jobs must not see: the data dir (keys, database, mirrors,
/// artifacts, other jobs), the env var key wherever it is, the SQLite database wherever it is,
/// and the config file (it may hold a database password).
fn embedded_runner_hidden(settings: &Settings) -> Vec<PathBuf> {
    let mut hidden = vec![settings.data_dir.clone(), settings.env_key_file.clone()];
    let retired = format!("{}.retired", settings.env_key_file.display());
    hidden.push(PathBuf::from(retired));
    let sqlite = settings
        .database_url
        .strip_prefix("sqlite://")
        .or_else(|| settings.database_url.strip_prefix("sqlite:"));
    if let Some(path) = sqlite {
        let file = path.split('?').next().unwrap_or(path);
        // The database and the files SQLite and circlet keep beside it, wherever it is, and
        // its directory when it has one of its own in the URL.
        for suffix in ["", "-wal", "-shm", "-journal", ".revocations"] {
            hidden.push(PathBuf::from(format!("{file}{suffix}")));
        }
        if let Some(dir) = Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            hidden.push(dir.to_path_buf());
        }
    }
    hidden.extend(settings.config_file.clone());
    hidden
}

/// Runs the embedded runner until `stop`; when the server refuses its token (revoked because a
/// job printed it, or by an admin), says so and carries on with a new one.
async fn embedded_runner(
    store: Store,
    data_dir: PathBuf,
    mut config: RunnerConfig,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), RunnerError> {
    loop {
        config.token = embedded_runner_token(&store, &data_dir).await?;
        let stopping = async {
            let _ = (&mut stop).await;
        };
        match circlet_runner::run(config.clone(), stopping).await {
            Err(RunnerError::TokenRefused(_)) => {
                tracing::error!(
                    "the embedded runner's token was refused; making it a new one so that jobs keep running"
                );
                // Never a tight loop, whatever the server says.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// The embedded runner's token: the one kept in the data dir while the store still knows it,
/// otherwise a new one (a replica sharing the database has its own data dir, so its own token).
async fn embedded_runner_token(store: &Store, data_dir: &Path) -> anyhow::Result<SecretString> {
    if let Some(value) = datadir::read_secret(data_dir, datadir::RUNNER_TOKEN_FILE)?
        && let Some(checked) = token::check(&value)
        && checked.kind == TokenKind::Runner
        && store.tokens().by_digest(&checked.digest).await?.is_some()
    {
        return Ok(SecretString::from(value));
    }
    let name = TokenName::parse(
        &format!("embedded runner ({})", circlet_runner::default_name()),
        "name",
    )?;
    let actor = Actor {
        user_id: None,
        login: "circlet-serve".into(),
        address: "local".into(),
    };
    let (value, record) = tokens::issue_runner(store, &name, None, &actor)
        .await
        .map_err(|e| anyhow!("cannot create the embedded runner's token: {e}"))?;
    datadir::write_secret(data_dir, datadir::RUNNER_TOKEN_FILE, value.expose())?;
    tracing::info!(
        "created a runner token for the embedded runner (id {})",
        record.uuid
    );
    Ok(SecretString::from(value.expose().to_owned()))
}

/// Connects to the configured database and applies migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Resolves on the first SIGINT or SIGTERM. The handlers are installed now, not when the
/// future is first polled, so a signal that comes right after start-up is not fatal.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install a SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

/// Clears the partial files of uploads an earlier run's crash left in the local artifacts
/// directory; in the background, as a large directory takes a while to walk.
fn remove_abandoned_uploads(dir: &std::path::Path, started: std::time::SystemTime) {
    use circlet_app::artifacts::ArtifactStorage;
    match ArtifactStorage::remove_abandoned_uploads(dir, started) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            "removed {n} partial artifact upload(s) left by an earlier crash from {}",
            dir.display()
        ),
        Err(e) => tracing::warn!(
            "could not clear partial artifact uploads from {}: {e}",
            dir.display()
        ),
    }
}

/// The artifact store the settings name: an S3 bucket, or `<data dir>/artifacts`.
fn artifact_storage(
    settings: &Settings,
) -> anyhow::Result<circlet_app::artifacts::ArtifactStorage> {
    use circlet_app::artifacts::ArtifactStorage;
    let storage = match &settings.artifacts_url {
        Some(url) => ArtifactStorage::s3(url, settings.s3_endpoint.as_deref(), None)?,
        None => ArtifactStorage::local(&settings.data_dir.join("artifacts"))?,
    };
    Ok(storage.with_limits(
        settings.max_artifact_bytes,
        settings.max_build_artifact_bytes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Overrides;

    #[test]
    fn the_embedded_runner_hides_the_database_and_its_companions_wherever_they_are() {
        let mut settings = Settings::load(&Overrides::default()).unwrap();
        for (url, file) in [
            ("sqlite://ci.db", "ci.db"),
            ("sqlite:ci.db?mode=rwc", "ci.db"),
            ("sqlite:///srv/db/ci.db", "/srv/db/ci.db"),
        ] {
            settings.database_url = url.into();
            let hidden = embedded_runner_hidden(&settings);
            for suffix in ["", "-wal", "-shm", ".revocations"] {
                let path = PathBuf::from(format!("{file}{suffix}"));
                assert!(hidden.contains(&path), "{url}: {path:?} not in {hidden:?}");
            }
            assert!(hidden.contains(&settings.data_dir), "{hidden:?}");
            assert!(hidden.contains(&settings.env_key_file), "{hidden:?}");
        }
        settings.database_url = "sqlite:///srv/db/ci.db".into();
        assert!(embedded_runner_hidden(&settings).contains(&PathBuf::from("/srv/db")));
    }
}
