//! `circlet serve`.

use crate::datadir;
use crate::settings::Settings;
use anyhow::{Context, anyhow};
use circlet_server::{AppState, ServerConfig, SessionKey};
use circlet_store::Store;
use tokio::net::TcpListener;

/// Prepares the data dir, keys and store, binds, and serves until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    datadir::prepare(&settings.data_dir)?;
    let session_key = datadir::key(&settings.data_dir, datadir::SESSION_KEY_FILE)?;
    // Made now so every instance has it from its first start; env var encryption uses it.
    datadir::key(&settings.data_dir, datadir::ENV_KEY_FILE)?;
    let store = open_store(&settings).await?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| anyhow!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let mut config = ServerConfig::new(addr, public_url.clone(), SessionKey::new(session_key));
    config.max_body_bytes = settings.max_body_bytes;
    config.max_token_lifetime_days = settings.max_token_lifetime_days;
    config.repo_cache_dir = settings.data_dir.join("repos");
    tracing::info!(
        "circlet listening on http://{addr} (public URL {public_url}, {:?} store)",
        store.kind()
    );
    let state = AppState::new(store.clone(), config);
    circlet_server::serve(listener, state, shutdown_signal())
        .await
        .context("server failed")?;
    store.close().await;
    tracing::info!("circlet stopped");
    Ok(())
}

/// Connects to the configured database and applies migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
