//! The outbox, posted: each due message is taken by one replica for one attempt (a lease, so a
//! message whose sender died is tried again), posted with a ten-second deadline and no
//! redirects, and settled: delivered on a 2xx, else tried again after 5 s, 10 s, 20 s, … (at
//! most an hour apart), given up after [`MAX_ATTEMPTS`]. Statuses carry the forge's token,
//! webhook events CircleCI's `circleci-signature: v1=<HMAC-SHA256>`. Never on a job's path.

use crate::{App, AppError};
use circlet_core::forge::{Forge, signature, status};
use circlet_store::outbound::MessageRecord;
use secrecy::ExposeSecret;
use std::time::Duration;
use time::OffsetDateTime;

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long one attempt may take.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long a taken message is another replica's.
const LEASE: time::Duration = time::Duration::seconds(60);
/// At most this many messages are being posted at once.
const IN_FLIGHT: usize = 8;

/// Counts a finished attempt (a failed one is logged).
fn joined(done: Option<Result<Result<bool, AppError>, tokio::task::JoinError>>) -> usize {
    match done {
        Some(Ok(Ok(true))) => 1,
        Some(Ok(Err(e))) => {
            tracing::warn!("could not send a build notification: {e}");
            0
        }
        _ => 0,
    }
}

/// How often changes and due messages are looked for.
const TICK: Duration = Duration::from_millis(500);

/// Every half second: turns changes into messages and sends what is due.
pub async fn notify_every(app: App) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = app.notify_changes().await {
            tracing::warn!("could not queue build notifications: {e}");
        }
        if let Err(e) = app.send_due(OffsetDateTime::now_utc()).await {
            tracing::warn!("could not send build notifications: {e}");
        }
    }
}

/// When attempt `attempts` (1-based) having failed, the next one is due.
pub fn backoff(attempts: i32) -> time::Duration {
    let secs = 5i64.saturating_mul(1 << (attempts.clamp(1, 20) - 1));
    time::Duration::seconds(secs.min(3600))
}

/// The HTTP clients messages go out with: one checking certificates, one not (a webhook with
/// `verify-tls: false`). Neither follows redirects.
pub struct Clients {
    checked: reqwest::Client,
    unchecked: reqwest::Client,
    private: bool,
}

impl Clients {
    /// Clients that reach only public addresses, unless `private` allows the others too
    /// (loopback, private networks, link-local: a project admin could otherwise make the server
    /// post to, and time, services only it can reach).
    pub fn new(private: bool) -> Self {
        let build = |verify: bool| {
            let mut b = reqwest::Client::builder()
                .timeout(DEADLINE)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("circlet/", env!("CARGO_PKG_VERSION")))
                .tls_danger_accept_invalid_certs(!verify);
            if !private {
                b = b.dns_resolver(std::sync::Arc::new(PublicOnly));
            }
            b.build().expect("an HTTP client builds")
        };
        Clients {
            checked: build(true),
            unchecked: build(false),
            private,
        }
    }

    /// Whether `url` may be posted to: its host, if an address, is a public one.
    fn allows(&self, url: &str) -> bool {
        if self.private {
            return true;
        }
        let Some(parsed) = reqwest::Url::parse(url).ok() else {
            return false;
        };
        let Some(host) = parsed.host_str() else {
            return false;
        };
        // A name is checked when resolved ([`PublicOnly`]); an address here.
        match host.trim_start_matches('[').trim_end_matches(']').parse() {
            Ok(ip) => public(ip),
            Err(_) => true,
        }
    }
}

/// A resolver that keeps only public addresses.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is an address of the public internet.
pub fn public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

impl App {
    /// Sends every message due at `now` (the caller's clock; leases and retries count from
    /// the later of it and the real time), at most [`IN_FLIGHT`] at once so one slow receiver
    /// holds up no other; how many were delivered.
    pub async fn send_due(&self, now: OffsetDateTime) -> Result<usize, AppError> {
        let mut running = tokio::task::JoinSet::new();
        let mut delivered = 0;
        for m in self.store.outbound().due(now, 50).await? {
            while running.len() >= IN_FLIGHT {
                delivered += joined(running.join_next().await);
            }
            let app = self.clone();
            running.spawn(async move { app.attempt(m, now).await });
        }
        while let Some(done) = running.join_next().await {
            delivered += joined(Some(done));
        }
        Ok(delivered)
    }

    /// One attempt at `m`, if this replica takes it; whether it was delivered.
    async fn attempt(&self, m: MessageRecord, now: OffsetDateTime) -> Result<bool, AppError> {
        let now = now.max(OffsetDateTime::now_utc());
        if !self.store.outbound().take(&m, now + LEASE).await? {
            return Ok(false);
        }
        {
            let attempt = m.attempts + 1;
            let (status, error) = match self.post(&m).await {
                Ok(code) if (200..300).contains(&code) => (Some(code), String::new()),
                Ok(code) => (Some(code), format!("the receiver answered {code}")),
                Err(e) => (None, e),
            };
            let now = now.max(OffsetDateTime::now_utc());
            let (state, retry_at) = if error.is_empty() {
                ("delivered", now)
            } else if attempt >= MAX_ATTEMPTS {
                ("failed", now)
            } else {
                ("pending", now + backoff(attempt))
            };
            self.store
                .outbound()
                .settle(m.id, state, status.map(i32::from), &error, retry_at)
                .await?;
            Ok(state == "delivered")
        }
    }

    /// One attempt at `m`: the receiver's status code, or why there was none.
    async fn post(&self, m: &MessageRecord) -> Result<u16, String> {
        let project = self
            .store
            .projects()
            .by_id(m.project_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the project is gone")?;
        if !self.http.allows(&m.url) {
            return Err("the address is not a public one".into());
        }
        let mut request;
        if let Some(hook_id) = m.webhook_id {
            let hooks = self
                .store
                .outbound()
                .webhooks(project.id)
                .await
                .map_err(|e| e.to_string())?;
            let hook = hooks
                .into_iter()
                .find(|h| h.id == hook_id)
                .ok_or("the webhook is gone")?;
            let secret = self
                .open(
                    &project.uuid,
                    &super::webhook_sealed(&hook.uuid),
                    &hook.key_id,
                    &hook.sealed,
                )
                .map_err(|e| e.to_string())?;
            let client = if hook.verify_tls {
                &self.http.checked
            } else {
                &self.http.unchecked
            };
            let mac = signature::hmac_of(secret.expose_secret().as_bytes(), m.body.as_bytes());
            request = client
                .post(&m.url)
                .header("circleci-signature", format!("v1={}", hex::encode(mac)))
                .header("circleci-event-type", &m.event);
        } else {
            let target = self
                .store
                .outbound()
                .status_target(project.id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("commit statuses are no longer set up")?;
            let forge = Forge::parse(&target.forge).map_err(|e| e.0)?;
            let token = self
                .open(
                    &project.uuid,
                    super::TARGET_SEALED,
                    &target.key_id,
                    &target.sealed,
                )
                .map_err(|e| e.to_string())?;
            let (name, value) = status::auth_header(forge, token.expose_secret());
            request = self.http.checked.post(&m.url).header(name, value);
            if forge == Forge::GitHub {
                request = request.header("accept", "application/vnd.github+json");
            }
        }
        request = request
            .header("content-type", "application/json")
            .body(m.body.clone());
        // The error names the address, never a header: a token never reaches the log.
        match request.send().await {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) if e.is_timeout() => Err(format!("no answer within {} s", DEADLINE.as_secs())),
            Err(e) if e.is_connect() => Err("could not connect".into()),
            Err(_) => Err("the request failed".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_public_addresses_are_reached_unless_allowed() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.0.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!super::public(private.parse().unwrap()), "{private}");
        }
        for public in ["140.82.112.3", "2606:4700::1111"] {
            assert!(super::public(public.parse().unwrap()), "{public}");
        }
        let strict = super::Clients::new(false);
        assert!(!strict.allows("http://127.0.0.1:8080/hook"));
        assert!(!strict.allows("http://[::1]/hook"));
        assert!(strict.allows("https://hooks.example.com/x"));
        assert!(super::Clients::new(true).allows("http://127.0.0.1:8080/hook"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let secs: Vec<i64> = (1..=12)
            .map(|a| super::backoff(a).whole_seconds())
            .collect();
        assert_eq!(&secs[..5], &[5, 10, 20, 40, 80]);
        assert_eq!(secs[11], 3600);
    }
}
