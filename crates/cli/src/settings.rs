//! Settings: defaults → config file → `CIRCLET_*` environment → flags, parsed once into
//! [`Settings`] and validated before anything starts.

use anyhow::{Context, anyhow, bail};
use circlet_app::notices::mail::MailSettings;
use circlet_app::tokens::scanner_keys::KeySource;
use circlet_core::forwarded::TrustedProxies;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Flags (each also read from its `CIRCLET_*` variable); they win over the config file.
#[derive(Args, Debug, Default)]
pub struct Overrides {
    /// TOML config file (see circlet.example.toml).
    #[arg(long, env = "CIRCLET_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CIRCLET_LISTEN", global = true)]
    listen: Option<String>,
    /// Directory for the SQLite database and the instance keys [default: ./circlet-data].
    #[arg(long, env = "CIRCLET_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://… [default: the SQLite file in the data dir].
    #[arg(long, env = "CIRCLET_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Base URL for generated links (badges, artifacts, builds) [default: http://<listen>].
    #[arg(long, env = "CIRCLET_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Largest request body accepted, in bytes [default: 1048576].
    #[arg(long, env = "CIRCLET_MAX_BODY_BYTES", global = true)]
    max_body_bytes: Option<usize>,
    /// Longest lifetime of a new API token, in days; unset allows tokens that never expire.
    #[arg(long, env = "CIRCLET_MAX_TOKEN_LIFETIME_DAYS", global = true)]
    max_token_lifetime_days: Option<u32>,
    /// Jobs `serve` runs itself, at once, on this host; 0 leaves all work to `circlet runner`
    /// processes [default: 1].
    #[arg(long, env = "CIRCLET_RUNNERS", global = true)]
    runners: Option<usize>,
    /// Seconds without a heartbeat after which a running job ends `infrastructure_fail`
    /// [default: 60].
    #[arg(long, env = "CIRCLET_RUNNER_TIMEOUT_SECS", global = true)]
    runner_timeout_secs: Option<u64>,
    /// File holding the key env var values are sealed with (64 hex digits; replicas point at
    /// the same file) [default: <data-dir>/env.key, generated on first start].
    #[arg(long, env = "CIRCLET_ENV_KEY_FILE", global = true)]
    env_key_file: Option<PathBuf>,
    /// Where artifacts are kept: s3://bucket[/prefix] (credentials and region from the usual
    /// AWS_* variables) [default: the `artifacts` directory in the data dir].
    #[arg(long, env = "CIRCLET_ARTIFACTS_URL", global = true)]
    artifacts_url: Option<String>,
    /// An S3-compatible server to use instead of AWS, e.g. http://127.0.0.1:9000 (plain http
    /// only on loopback).
    #[arg(long, env = "CIRCLET_S3_ENDPOINT", global = true)]
    s3_endpoint: Option<String>,
    /// Largest single artifact, in bytes [default: 5368709120, 5 GiB].
    #[arg(long, env = "CIRCLET_MAX_ARTIFACT_BYTES", global = true)]
    max_artifact_bytes: Option<u64>,
    /// Largest total of one build's artifacts, in bytes [default: 21474836480, 20 GiB].
    #[arg(long, env = "CIRCLET_MAX_BUILD_ARTIFACT_BYTES", global = true)]
    max_build_artifact_bytes: Option<u64>,
    /// Failed token authentications from one address within 5 minutes after which that address
    /// gets 429 for the rest of the window; 0 turns the limit off [default: 30].
    #[arg(long, env = "CIRCLET_AUTH_FAILURES_PER_WINDOW", global = true)]
    auth_failures_per_window: Option<u32>,
    /// Let commit statuses and outbound webhooks go to loopback, private and link-local
    /// addresses (`true`), not only public ones [default: false].
    #[arg(long, env = "CIRCLET_ALLOW_PRIVATE_OUTBOUND", global = true)]
    allow_private_outbound: Option<bool>,
    /// Take leak reports from secret scanners (`POST /api/secret-scanning/github`), signed with
    /// the keys in this keys document: a file, or an http(s) URL such as GitHub's
    /// https://api.github.com/meta/public_keys/secret_scanning [default: none, reports off].
    #[arg(long, env = "CIRCLET_SECRET_SCANNING_KEYS", global = true)]
    secret_scanning_keys: Option<String>,
    /// Where runners (the embedded one, or `circlet runner`) run jobs' commands: `bubblewrap`
    /// (a namespace sandbox that keeps the data dir, keys and other jobs out of reach) or
    /// `none` (as this user, able to read everything it can) [default: bubblewrap].
    #[arg(long, env = "CIRCLET_SANDBOX", global = true)]
    sandbox: Option<String>,
    /// A reverse proxy (address or block like 10.0.0.0/8; repeat, or separate with commas)
    /// whose X-Forwarded-For names the client; from anyone else the header is ignored
    /// [default: none].
    #[arg(
        long = "trusted-proxy",
        env = "CIRCLET_TRUSTED_PROXY",
        value_delimiter = ',',
        global = true
    )]
    trusted_proxy: Vec<String>,
    /// Open connections at most; one more closes the longest-idle connection, or waits when all
    /// are busy [default: (open-file limit - 128) / 2, 448 for the usual 1024].
    #[arg(long, env = "CIRCLET_MAX_CONNECTIONS", global = true)]
    max_connections: Option<usize>,
    /// Seconds a client has to send a whole request head [default: 10].
    #[arg(long, env = "CIRCLET_HEADER_TIMEOUT_SECS", global = true)]
    header_timeout_secs: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request [default: 120].
    #[arg(long, env = "CIRCLET_IDLE_TIMEOUT_SECS", global = true)]
    idle_timeout_secs: Option<u64>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "CIRCLET_TLS_CERT", global = true)]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "CIRCLET_TLS_KEY", global = true)]
    tls_key: Option<PathBuf>,
    /// Email token notices (expiring in 7 days and 1 day, revoked because leaked) and password
    /// reset links through this SMTP server: smtps://user:password@host:465,
    /// smtp://user:password@host:587?tls=required (STARTTLS), or plain smtp://host:25 (a
    /// password only to a loopback host); needs --smtp-from [default: none, notices on
    /// dashboards only].
    #[arg(long, env = "CIRCLET_SMTP_URL", global = true)]
    smtp_url: Option<String>,
    /// The address token notices and reset links come from, e.g. "circlet <ci@example.com>".
    #[arg(long, env = "CIRCLET_SMTP_FROM", global = true)]
    smtp_from: Option<String>,
    /// Seconds between looks for tokens soon to expire (and pending notice emails); for tests
    /// [default: 600].
    #[arg(long, env = "CIRCLET_NOTICE_INTERVAL_SECS", global = true, hide = true)]
    notice_interval_secs: Option<u64>,
}

impl Overrides {
    /// The `--sandbox` flag (or `CIRCLET_SANDBOX`), for `circlet runner`, which reads no config
    /// file.
    pub fn sandbox(&self) -> anyhow::Result<circlet_runner::SandboxMode> {
        match &self.sandbox {
            Some(s) => s.parse().map_err(|e: String| anyhow!(e)),
            None => Ok(circlet_runner::SandboxMode::default()),
        }
    }
}

/// The config file's keys: the same names as the flags, with `_` for `-`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    max_body_bytes: Option<usize>,
    max_token_lifetime_days: Option<u32>,
    runners: Option<usize>,
    runner_timeout_secs: Option<u64>,
    env_key_file: Option<PathBuf>,
    artifacts_url: Option<String>,
    s3_endpoint: Option<String>,
    max_artifact_bytes: Option<u64>,
    max_build_artifact_bytes: Option<u64>,
    auth_failures_per_window: Option<u32>,
    allow_private_outbound: Option<bool>,
    sandbox: Option<String>,
    secret_scanning_keys: Option<String>,
    trusted_proxy: Option<Vec<String>>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    notice_interval_secs: Option<u64>,
}

/// The effective, validated settings.
#[derive(Debug)]
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data dir.
    pub data_dir: PathBuf,
    /// The database URL (defaulted to the SQLite file in the data dir).
    pub database_url: String,
    /// The public base URL, if set; otherwise derived from the bound address.
    pub public_url: Option<String>,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// Longest lifetime of a new API token, in days.
    pub max_token_lifetime_days: Option<u32>,
    /// How many jobs the embedded runner runs at once (0: no embedded runner).
    pub runners: usize,
    /// Seconds without a heartbeat before a running job is given up.
    pub runner_timeout_secs: u64,
    /// The env var key file.
    pub env_key_file: PathBuf,
    /// `s3://bucket[/prefix]` for artifacts; `None` keeps them in `<data dir>/artifacts`.
    pub artifacts_url: Option<String>,
    /// An S3-compatible endpoint instead of AWS.
    pub s3_endpoint: Option<String>,
    /// Largest single artifact, in bytes.
    pub max_artifact_bytes: u64,
    /// Largest total of one build's artifacts, in bytes.
    pub max_build_artifact_bytes: u64,
    /// Failed token authentications per address and window before 429 (0: no limit).
    pub auth_failures_per_window: u32,
    /// Whether commit statuses and outbound webhooks may go to non-public addresses.
    pub allow_private_outbound: bool,
    /// Where secret scanners' public keys are; `None`: leak reports are off.
    pub secret_scanning_keys: Option<KeySource>,
    /// Where the embedded runner runs jobs' commands.
    pub sandbox: circlet_runner::SandboxMode,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// Open connections at most.
    pub max_connections: usize,
    /// Seconds a client has to send a request head.
    pub header_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_secs: u64,
    /// HTTPS: the certificate chain and key files, when set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Where token notices' emails go, when they are sent.
    pub smtp: Option<MailSettings>,
    /// Seconds between sweeps for token notices.
    pub notice_interval_secs: u64,
    /// Where the settings came from, for `config check`.
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// Merges defaults, the config file and `overrides` (flags and environment).
    pub fn load(o: &Overrides) -> anyhow::Result<Settings> {
        let file = match &o.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let listen_raw = o
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw
            .parse()
            .map_err(|_| anyhow!("listen address '{listen_raw}' must look like 127.0.0.1:8080"))?;
        let data_dir = o
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("circlet-data"));
        let database_url = match o.database_url.clone().or(file.database_url) {
            Some(url) => url,
            None => format!("sqlite://{}", data_dir.join("circlet.db").display()),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            bail!("database URL must start with sqlite:// or postgres://");
        }
        let public_url = o
            .public_url
            .clone()
            .or(file.public_url)
            .map(|u| u.trim_end_matches('/').to_owned());
        if let Some(u) = &public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            bail!("public URL '{u}' must start with http:// or https://");
        }
        let max_body_bytes = o
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(1024 * 1024);
        if max_body_bytes < 1024 {
            bail!("max body bytes must be at least 1024");
        }
        let max_token_lifetime_days = o.max_token_lifetime_days.or(file.max_token_lifetime_days);
        // Beyond a century, expiry dates leave the calendar the forms and the store work in.
        if max_token_lifetime_days.is_some_and(|d| !(1..=36_500).contains(&d)) {
            bail!("max token lifetime must be 1 to 36500 days");
        }
        let runners = o.runners.or(file.runners).unwrap_or(1);
        if runners > 64 {
            bail!("runners must be 0 to 64");
        }
        let runner_timeout_secs = o
            .runner_timeout_secs
            .or(file.runner_timeout_secs)
            .unwrap_or(60);
        // Runners heartbeat every 5 s; a shorter timeout would end healthy jobs.
        if !(10..=86_400).contains(&runner_timeout_secs) {
            bail!("runner timeout must be 10 to 86400 seconds");
        }
        let env_key_file = o
            .env_key_file
            .clone()
            .or(file.env_key_file)
            .unwrap_or_else(|| data_dir.join(crate::datadir::ENV_KEY_FILE));
        let artifacts_url = o
            .artifacts_url
            .clone()
            .or(file.artifacts_url)
            .filter(|u| !u.trim().is_empty());
        if let Some(u) = &artifacts_url
            && !u.starts_with("s3://")
        {
            bail!("artifacts URL '{u}' must start with s3:// (leave it unset for the data dir)");
        }
        let s3_endpoint = o
            .s3_endpoint
            .clone()
            .or(file.s3_endpoint)
            .filter(|u| !u.trim().is_empty());
        if s3_endpoint.is_some() && artifacts_url.is_none() {
            bail!("an S3 endpoint is set but no s3:// artifacts URL");
        }
        let max_artifact_bytes = o
            .max_artifact_bytes
            .or(file.max_artifact_bytes)
            .unwrap_or(circlet_app::artifacts::DEFAULT_MAX_FILE_BYTES);
        let max_build_artifact_bytes = o
            .max_build_artifact_bytes
            .or(file.max_build_artifact_bytes)
            .unwrap_or(circlet_app::artifacts::DEFAULT_MAX_BUILD_BYTES);
        if max_artifact_bytes == 0 || max_build_artifact_bytes == 0 {
            bail!("artifact limits must be at least 1 byte");
        }
        let auth_failures_per_window = o
            .auth_failures_per_window
            .or(file.auth_failures_per_window)
            .unwrap_or(30);
        let allow_private_outbound = o
            .allow_private_outbound
            .or(file.allow_private_outbound)
            .unwrap_or(false);
        let secret_scanning_keys = o
            .secret_scanning_keys
            .clone()
            .or(file.secret_scanning_keys)
            .map(|raw| KeySource::parse(&raw))
            .transpose()
            .map_err(|e| anyhow!(e))?;
        let sandbox = match o.sandbox.clone().or(file.sandbox) {
            Some(s) => s.parse().map_err(|e: String| anyhow!(e))?,
            None => circlet_runner::SandboxMode::default(),
        };
        let trusted_proxy = if o.trusted_proxy.is_empty() {
            file.trusted_proxy.unwrap_or_default()
        } else {
            o.trusted_proxy.clone()
        };
        let trusted_proxies = TrustedProxies::parse(
            trusted_proxy
                .iter()
                .map(String::as_str)
                .filter(|p| !p.trim().is_empty()),
        )
        .map_err(|e| anyhow!("trusted proxy: {e}"))?;
        let max_connections = o
            .max_connections
            .or(file.max_connections)
            .unwrap_or_else(default_max_connections);
        if !(1..=1_000_000).contains(&max_connections) {
            bail!("max connections must be 1 to 1000000");
        }
        let header_timeout_secs = o
            .header_timeout_secs
            .or(file.header_timeout_secs)
            .unwrap_or(10);
        if !(1..=3_600).contains(&header_timeout_secs) {
            bail!("header timeout must be 1 to 3600 seconds");
        }
        let idle_timeout_secs = o
            .idle_timeout_secs
            .or(file.idle_timeout_secs)
            .unwrap_or(120);
        if !(1..=86_400).contains(&idle_timeout_secs) {
            bail!("idle timeout must be 1 to 86400 seconds");
        }
        let tls = match (
            o.tls_cert.clone().or(file.tls_cert),
            o.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => bail!("a TLS certificate is set but no key: set --tls-key too"),
            (None, Some(_)) => bail!("a TLS key is set but no certificate: set --tls-cert too"),
        };
        let smtp = match (
            o.smtp_url
                .clone()
                .or(file.smtp_url)
                .filter(|u| !u.trim().is_empty()),
            o.smtp_from
                .clone()
                .or(file.smtp_from)
                .filter(|f| !f.trim().is_empty()),
        ) {
            (Some(url), Some(from)) => {
                let smtp = MailSettings {
                    smtp_url: SecretString::from(url),
                    from,
                };
                smtp.check().map_err(|e| anyhow!("{e}"))?;
                Some(smtp)
            }
            (None, None) => None,
            (Some(_), None) => {
                bail!("an SMTP URL is set but no sender address: set --smtp-from too")
            }
            (None, Some(_)) => bail!("a sender address is set but no SMTP URL: set --smtp-url too"),
        };
        let notice_interval_secs = o
            .notice_interval_secs
            .or(file.notice_interval_secs)
            .unwrap_or(600);
        if !(1..=86_400).contains(&notice_interval_secs) {
            bail!("notice interval must be 1 to 86400 seconds");
        }
        Ok(Settings {
            smtp,
            notice_interval_secs,
            tls,
            sandbox,
            auth_failures_per_window,
            allow_private_outbound,
            trusted_proxies,
            secret_scanning_keys,
            max_connections,
            header_timeout_secs,
            idle_timeout_secs,
            artifacts_url,
            s3_endpoint,
            max_artifact_bytes,
            max_build_artifact_bytes,
            listen,
            env_key_file,
            runners,
            runner_timeout_secs,
            data_dir,
            database_url,
            public_url,
            max_body_bytes,
            max_token_lifetime_days,
            config_file: o.config.clone(),
        })
    }

    /// The public URL when none is set: `http://<listen>`, or `https://…` with TLS.
    pub fn default_public_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.listen)
    }

    /// The effective configuration as TOML-like lines, with the database password masked.
    pub fn describe(&self) -> String {
        let keys = self.data_dir.join(crate::datadir::SESSION_KEY_FILE);
        format!(
            "config_file = {}\nlisten = \"{}\"\ndata_dir = \"{}\"\ndatabase_url = \"{}\"\npublic_url = \"{}\"\nmax_body_bytes = {}\nmax_token_lifetime_days = {}\nrunners = {}\nrunner_timeout_secs = {}\nartifacts_url = \"{}\"\ns3_endpoint = \"{}\"\nmax_artifact_bytes = {}\nmax_build_artifact_bytes = {}\nauth_failures_per_window = {}\nallow_private_outbound = {}\nsecret_scanning_keys = {}\nsandbox = \"{}\"\ntrusted_proxy = [{}]\nmax_connections = {}\nheader_timeout_secs = {}\nidle_timeout_secs = {}\ntls_cert = {}\ntls_key = {}\nsmtp_url = {}\nsmtp_from = {}\nsession_key = {}\nenv_key = {}\n",
            self.config_file
                .as_ref()
                .map_or("(none)".into(), |p| format!("\"{}\"", p.display())),
            self.listen,
            self.data_dir.display(),
            mask_url_password(&self.database_url),
            self.public_url
                .clone()
                .unwrap_or_else(|| self.default_public_url()),
            self.max_body_bytes,
            self.max_token_lifetime_days
                .map_or("\"(none: tokens may never expire)\"".into(), |d| d
                    .to_string()),
            self.runners,
            self.runner_timeout_secs,
            self.artifacts_url.clone().unwrap_or_else(|| format!(
                "(local: {})",
                self.data_dir.join("artifacts").display()
            )),
            self.s3_endpoint.as_deref().unwrap_or("(AWS)"),
            self.max_artifact_bytes,
            self.max_build_artifact_bytes,
            self.auth_failures_per_window,
            self.allow_private_outbound,
            self.secret_scanning_keys.as_ref().map_or(
                "\"(none: leak reports off)\"".into(),
                |k| format!("\"{}\"", k.describe())
            ),
            self.sandbox.as_str(),
            self.trusted_proxies
                .blocks()
                .iter()
                .map(|b| format!("\"{b}\""))
                .collect::<Vec<_>>()
                .join(", "),
            self.max_connections,
            self.header_timeout_secs,
            self.idle_timeout_secs,
            self.tls
                .as_ref()
                .map_or("(none: plain HTTP)".into(), |(c, _)| format!(
                    "\"{}\"",
                    c.display()
                )),
            self.tls
                .as_ref()
                .map_or("(none)".into(), |(_, k)| format!("\"{}\"", k.display())),
            self.smtp.as_ref().map_or(
                "\"(none: token notices on dashboards only)\"".into(),
                |m| format!("\"{}\"", mask_url_password(m.smtp_url.expose_secret()))
            ),
            self.smtp
                .as_ref()
                .map_or("\"(none)\"".into(), |m| format!("{:?}", m.from)),
            key_state(&keys),
            key_state(&self.env_key_file),
        )
    }
}

/// The connection cap that fits this process's open-file limit (the soft one, which is what
/// `accept` runs into); see `circlet_server::connections::max_connections_for`.
fn default_max_connections() -> usize {
    use nix::sys::resource::{Resource, getrlimit};
    let soft = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
    circlet_server::connections::max_connections_for(soft)
}

fn key_state(path: &Path) -> String {
    if path.exists() {
        format!("\"(secret, from {})\"", path.display())
    } else {
        "\"(not yet generated; made on first serve)\"".into()
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        anyhow!(
            "config file {}{}: {}",
            path.display(),
            line.map_or(String::new(), |l| format!(" line {l}")),
            e.message()
        )
    })
}

/// `scheme://user:password@host/…` → `scheme://user:****@host/…`.
pub fn mask_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:****{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_is_valid_and_holds_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../circlet.example.toml");
        let o = Overrides {
            config: Some(example),
            ..Default::default()
        };
        let s = Settings::load(&o).expect("circlet.example.toml loads");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.runners, 1);
        assert_eq!(s.runner_timeout_secs, 60);
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        assert_eq!((s.header_timeout_secs, s.idle_timeout_secs), (10, 120));
        assert!(s.trusted_proxies.blocks().is_empty());
    }

    #[test]
    fn connection_limits_and_trusted_proxies_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "trusted_proxy = [\"10.0.0.0/8\", \"::1\"]\nmax_connections = 100\nidle_timeout_secs = 30\n",
        )
        .unwrap();
        let o = Overrides {
            config: Some(file.clone()),
            header_timeout_secs: Some(5),
            ..Default::default()
        };
        let s = Settings::load(&o).unwrap();
        let shown: Vec<String> = s
            .trusted_proxies
            .blocks()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["10.0.0.0/8", "::1/128"]);
        assert_eq!(
            (
                s.max_connections,
                s.header_timeout_secs,
                s.idle_timeout_secs
            ),
            (100, 5, 30)
        );
        assert!(
            s.describe()
                .contains("trusted_proxy = [\"10.0.0.0/8\", \"::1/128\"]")
        );

        let o = Overrides {
            config: Some(file),
            trusted_proxy: vec!["192.168.1.1".into()],
            ..Default::default()
        };
        let s = Settings::load(&o).unwrap();
        assert_eq!(
            s.trusted_proxies.blocks().len(),
            1,
            "flags replace the file's list"
        );

        for (o, fragment) in [
            (
                Overrides {
                    trusted_proxy: vec!["10.0.0.0/33".into()],
                    ..Default::default()
                },
                "trusted proxy: '10.0.0.0/33'",
            ),
            (
                Overrides {
                    max_connections: Some(0),
                    ..Default::default()
                },
                "max connections",
            ),
            (
                Overrides {
                    header_timeout_secs: Some(0),
                    ..Default::default()
                },
                "header timeout",
            ),
            (
                Overrides {
                    idle_timeout_secs: Some(86_401),
                    ..Default::default()
                },
                "idle timeout",
            ),
        ] {
            let e = format!("{:#}", Settings::load(&o).unwrap_err());
            assert!(e.contains(fragment), "{e}");
        }
        let s = Settings::load(&Overrides::default()).unwrap();
        assert!(s.max_connections >= 16, "derived from the open-file limit");
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url_password("postgres://u:secret@h:5432/db"),
            "postgres://u:****@h:5432/db"
        );
        assert_eq!(mask_url_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(mask_url_password("sqlite://x/y.db"), "sqlite://x/y.db");
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\npublic_url = \"https://ci.example/\"\nmax_token_lifetime_days = 90\n",
        )
        .unwrap();
        let o = Overrides {
            config: Some(file),
            listen: Some("127.0.0.1:9001".into()),
            ..Default::default()
        };
        let s = Settings::load(&o).unwrap();
        assert_eq!(s.listen.port(), 9001);
        assert_eq!(s.public_url.as_deref(), Some("https://ci.example"));
        assert_eq!(s.database_url, "sqlite://circlet-data/circlet.db");
        assert_eq!(s.max_token_lifetime_days, Some(90));
    }

    #[test]
    fn token_lifetimes_are_bounded() {
        for days in [0, 36_501, u32::MAX] {
            let o = Overrides {
                max_token_lifetime_days: Some(days),
                ..Default::default()
            };
            let e = format!("{:#}", Settings::load(&o).unwrap_err());
            assert!(e.contains("1 to 36500 days"), "{days}: {e}");
        }
        let o = Overrides {
            max_token_lifetime_days: Some(36_500),
            ..Default::default()
        };
        assert_eq!(
            Settings::load(&o).unwrap().max_token_lifetime_days,
            Some(36_500)
        );
    }

    #[test]
    fn leak_report_scanner_keys_are_a_file_or_a_url() {
        let o = Overrides {
            secret_scanning_keys: Some(
                "https://api.github.com/meta/public_keys/secret_scanning".into(),
            ),
            ..Default::default()
        };
        let s = Settings::load(&o).unwrap();
        assert_eq!(
            s.secret_scanning_keys,
            Some(KeySource::Url(
                "https://api.github.com/meta/public_keys/secret_scanning".into()
            ))
        );
        assert!(s.describe().contains(
            "secret_scanning_keys = \"https://api.github.com/meta/public_keys/secret_scanning\""
        ));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "secret_scanning_keys = \"/etc/circlet/scanner-keys.json\"\n",
        )
        .unwrap();
        let o = Overrides {
            config: Some(file),
            ..Default::default()
        };
        let s = Settings::load(&o).unwrap();
        assert_eq!(
            s.secret_scanning_keys,
            Some(KeySource::File("/etc/circlet/scanner-keys.json".into()))
        );
        let s = Settings::load(&Overrides::default()).unwrap();
        assert_eq!(s.secret_scanning_keys, None);
        assert!(
            s.describe()
                .contains("secret_scanning_keys = \"(none: leak reports off)\"")
        );
        let o = Overrides {
            secret_scanning_keys: Some("ftp://example.com/keys".into()),
            ..Default::default()
        };
        let e = format!("{:#}", Settings::load(&o).unwrap_err());
        assert!(e.contains("must be a file or an http(s) URL"), "{e}");
    }

    #[test]
    fn smtp_settings_are_checked_and_the_password_is_masked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "smtp_url = \"smtps://circlet:s3cr%2Ft@mail.example.com:465\"\nsmtp_from = \"circlet <ci@example.com>\"\n",
        )
        .unwrap();
        let o = Overrides {
            config: Some(file),
            ..Default::default()
        };
        let s = Settings::load(&o).unwrap();
        let smtp = s.smtp.as_ref().expect("email on");
        assert_eq!(smtp.from, "circlet <ci@example.com>");
        let shown = s.describe();
        assert!(
            shown.contains("smtp_url = \"smtps://circlet:****@mail.example.com:465\""),
            "{shown}"
        );
        assert!(shown.contains("smtp_from = \"circlet <ci@example.com>\""));
        assert!(!shown.contains("s3cr") && !format!("{s:?}").contains("s3cr"));
        assert_eq!(s.notice_interval_secs, 600);

        let off = Settings::load(&Overrides::default()).unwrap();
        assert!(off.smtp.is_none());
        assert!(
            off.describe()
                .contains("smtp_url = \"(none: token notices on dashboards only)\"")
        );

        for (o, fragment) in [
            (
                Overrides {
                    smtp_url: Some("smtp://127.0.0.1:2525".into()),
                    ..Default::default()
                },
                "set --smtp-from too",
            ),
            (
                Overrides {
                    smtp_from: Some("ci@example.com".into()),
                    ..Default::default()
                },
                "set --smtp-url too",
            ),
            (
                Overrides {
                    smtp_url: Some("smtp://u:hunter2@mail.example.com:587".into()),
                    smtp_from: Some("ci@example.com".into()),
                    ..Default::default()
                },
                "unencrypted",
            ),
            (
                Overrides {
                    smtp_url: Some("smtp://127.0.0.1:2525".into()),
                    smtp_from: Some("nobody".into()),
                    ..Default::default()
                },
                "not an email address",
            ),
            (
                Overrides {
                    notice_interval_secs: Some(0),
                    ..Default::default()
                },
                "notice interval",
            ),
        ] {
            let e = format!("{:#}", Settings::load(&o).unwrap_err());
            assert!(e.contains(fragment), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn a_malformed_file_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"x\"\nbogus = 1\n").unwrap();
        let o = Overrides {
            config: Some(file),
            ..Default::default()
        };
        let e = format!("{:#}", Settings::load(&o).unwrap_err());
        assert!(e.contains("line 2") && e.contains("bogus"), "{e}");
    }
}
