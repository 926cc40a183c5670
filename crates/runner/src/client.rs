//! The HTTP side of the runner protocol: claiming work, and [`HttpReporter`], the
//! [`Reporter`] that sends a job's events to the server.
//!
//! The token only ever goes into the `Authorization` header (marked sensitive); URLs and error
//! messages never contain it.

use crate::report::{Download, ReportError, Reporter, Upload};
use circlet_core::runner_protocol::{
    BASE_PATH, CacheFound, CacheLookup, CacheSaved, ClaimedJob, HeartbeatReply, JobFinished,
    RUNNER_NAME_HEADER, StepFinished, StepStarted, TestResults, TestTimings, Workspace,
};
use futures_util::TryStreamExt;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long an ordinary request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts for a request that failed on the way (no connection, a 5xx) before giving up.
const ATTEMPTS: u32 = 3;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// 401 or 403: the server does not accept this runner's token.
    #[error("the server refused the runner token ({0})")]
    Unauthorized(StatusCode),
    /// 409: the job is no longer this runner's.
    #[error("the job is no longer this runner's (409)")]
    Conflict,
    /// 404.
    #[error("not found (404)")]
    NotFound,
    /// Another status; the server's `message` when it gave one.
    #[error("the server answered {status}: {message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// The request did not get an answer.
    #[error("{0}")]
    Network(String),
}

impl From<ClientError> for ReportError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Conflict => ReportError::Lost,
            ClientError::NotFound => ReportError::NotFound,
            other => ReportError::Failed(other.to_string()),
        }
    }
}

/// A connection to a circlet server's runner API.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `{server}/api/runner/v1`, without a trailing slash.
    base: Url,
    token: Arc<SecretString>,
    /// What the runner calls itself in its claims.
    name: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server at `server` (`http://` or `https://host:port`, optionally with a
    /// path prefix). An `https://` server's certificate is checked against the system's root
    /// certificates, or, given `ca_file`, against the certificates in that PEM file only (a
    /// private certificate authority).
    pub fn new(
        server: &str,
        token: SecretString,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Client> {
        let mut base = Url::parse(server.trim_end_matches('/'))
            .map_err(|e| anyhow::anyhow!("server URL '{server}' is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            anyhow::bail!("server URL '{server}' must start with http:// or https://");
        }
        if !base.username().is_empty() || base.password().is_some() {
            anyhow::bail!("server URL must not contain credentials; pass the token with --token");
        }
        base.set_query(None);
        base.set_fragment(None);
        let path = format!("{}{BASE_PATH}", base.path().trim_end_matches('/'));
        base.set_path(&path);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("circlet-runner/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // A runner is pointed at one server; a redirect elsewhere would carry its token.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(file) = ca_file {
            let pem = std::fs::read(file)
                .map_err(|e| anyhow::anyhow!("cannot read the CA file {}: {e}", file.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                anyhow::anyhow!(
                    "the CA file {} holds no PEM certificates: {e}",
                    file.display()
                )
            })?;
            if certs.is_empty() {
                anyhow::bail!("the CA file {} holds no PEM certificates", file.display());
            }
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build()?;
        Ok(Client {
            http,
            base,
            token: Arc::new(token),
            name: None,
        })
    }

    /// The same client, naming itself `name` when it claims work (Admin → Runners shows it).
    /// A header carries visible ASCII only: other characters become `?`, so that no name can
    /// make a claim unsendable.
    pub fn named(mut self, name: &str) -> Client {
        let ascii: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        self.name = Some(ascii);
        self
    }

    /// The URL of `segments` under the protocol's base, each segment percent-encoded.
    fn url<S: AsRef<str>>(&self, segments: &[S]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s.as_ref());
            }
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
            .timeout(REQUEST_TIMEOUT)
    }

    /// `POST /claim?wait=SECONDS`: a job, or `None` when none came within `wait`.
    pub async fn claim(&self, wait: Duration) -> Result<Option<ClaimedJob>, ClientError> {
        let mut url = self.url(&["claim"]);
        url.query_pairs_mut()
            .append_pair("wait", &wait.as_secs().to_string());
        let mut request = self
            .request(Method::POST, url)
            .timeout(wait + REQUEST_TIMEOUT);
        if let Some(name) = &self.name {
            request = request.header(RUNNER_NAME_HEADER, name);
        }
        let response = request.send().await.map_err(network)?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let response = check(response).await?;
        let job = response
            .json::<ClaimedJob>()
            .await
            .map_err(|e| ClientError::Network(format!("unreadable claim reply: {e}")))?;
        Ok(Some(job))
    }

    /// Sends a request built by `build`, again after a network failure or a 5xx.
    async fn send(
        &self,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut attempt = 1;
        loop {
            let result = match build().send().await {
                Ok(r) => check(r).await,
                Err(e) => Err(network(e)),
            };
            if attempt < ATTEMPTS && retryable(&result) {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                attempt += 1;
                continue;
            }
            return result;
        }
    }

    /// The reporter for job `id`.
    pub fn reporter(&self, id: &str) -> HttpReporter {
        HttpReporter {
            client: self.clone(),
            job: id.to_owned(),
        }
    }
}

fn retryable(result: &Result<reqwest::Response, ClientError>) -> bool {
    match result {
        Err(ClientError::Network(_)) => true,
        Err(ClientError::Status { status, .. }) => status.is_server_error(),
        _ => false,
    }
}

/// A request that got no answer; the URL is safe to show (the token is never in it).
fn network(e: reqwest::Error) -> ClientError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let url = e.url().map_or(String::new(), |u| format!(" ({u})"));
    // The innermost cause is the one that says what happened ("Connection refused").
    let mut innermost: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(next) = innermost.and_then(std::error::Error::source) {
        innermost = Some(next);
    }
    let cause = innermost.map_or(String::new(), |s| format!(": {s}"));
    ClientError::Network(format!("{what}{url}{cause}"))
}

/// Turns a non-success status into an error carrying the server's message.
async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(ClientError::Unauthorized(status));
        }
        StatusCode::CONFLICT => return Err(ClientError::Conflict),
        StatusCode::NOT_FOUND => return Err(ClientError::NotFound),
        _ => {}
    }
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    Err(ClientError::Status { status, message })
}

/// Sends one job's events to the server.
#[derive(Debug, Clone)]
pub struct HttpReporter {
    client: Client,
    job: String,
}

impl HttpReporter {
    fn url(&self, rest: &[&str]) -> Url {
        let mut segments = vec!["jobs", self.job.as_str()];
        segments.extend_from_slice(rest);
        self.client.url(&segments)
    }

    async fn post_json<T: serde::Serialize>(
        &self,
        rest: &[&str],
        body: &T,
    ) -> Result<(), ReportError> {
        let url = self.url(rest);
        self.client
            .send(|| self.client.request(Method::POST, url.clone()).json(body))
            .await?;
        Ok(())
    }
}

impl HttpReporter {
    /// `GET` of an archive, read as it arrives.
    async fn download(&self, rest: &[&str]) -> Result<Download, ReportError> {
        let url = self.url(rest);
        let response = self
            .client
            .send(|| {
                self.client
                    .request(Method::GET, url.clone())
                    // Archives may be large; the connect timeout still applies, and the
                    // job's own time limits stop a transfer that hangs.
                    .timeout(Duration::from_secs(24 * 3600))
            })
            .await?;
        let stream = response.bytes_stream().map_err(std::io::Error::other);
        Ok(Box::pin(tokio_util::io::StreamReader::new(stream)))
    }

    /// `PUT` of an archive made while it is sent. Not retried: the body is read once. A chunk
    /// that is an error breaks the request off, so the server keeps nothing.
    async fn upload(&self, url: Url, archive: Upload) -> Result<reqwest::Response, ReportError> {
        let chunks = futures_util::stream::unfold(archive, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let response = self
            .client
            .request(Method::PUT, url)
            .timeout(Duration::from_secs(24 * 3600))
            .header(reqwest::header::CONTENT_TYPE, "application/zstd")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .map_err(network)?;
        Ok(check(response).await?)
    }
}

impl Reporter for HttpReporter {
    async fn cache_lookup(&self, lookup: &CacheLookup) -> Result<Option<CacheFound>, ReportError> {
        let url = self.url(&["caches", "lookup"]);
        let response = self
            .client
            .send(|| self.client.request(Method::POST, url.clone()).json(lookup))
            .await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        response
            .json::<CacheFound>()
            .await
            .map(Some)
            .map_err(|e| ReportError::Failed(format!("unreadable cache lookup reply: {e}")))
    }

    async fn cache_download(&self, id: i64) -> Result<Download, ReportError> {
        self.download(&["caches", &id.to_string()]).await
    }

    async fn cache_upload(&self, key: &str, archive: Upload) -> Result<bool, ReportError> {
        let mut url = self.url(&["caches"]);
        url.query_pairs_mut().append_pair("key", key);
        let response = self.upload(url, archive).await?;
        response
            .json::<CacheSaved>()
            .await
            .map(|saved| saved.stored)
            .map_err(|e| ReportError::Failed(format!("unreadable cache upload reply: {e}")))
    }

    async fn workspace(&self) -> Result<Workspace, ReportError> {
        let url = self.url(&["workspace"]);
        let response = self
            .client
            .send(|| self.client.request(Method::GET, url.clone()))
            .await?;
        response
            .json::<Workspace>()
            .await
            .map_err(|e| ReportError::Failed(format!("unreadable workspace reply: {e}")))
    }

    async fn timings(&self) -> Result<TestTimings, ReportError> {
        let url = self.url(&["timings"]);
        let response = self
            .client
            .send(|| self.client.request(Method::GET, url.clone()))
            .await?;
        response
            .json::<TestTimings>()
            .await
            .map_err(|e| ReportError::Failed(format!("unreadable timings reply: {e}")))
    }

    async fn layer_download(&self, id: i64) -> Result<Download, ReportError> {
        self.download(&["workspace", &id.to_string()]).await
    }

    async fn layer_upload(&self, archive: Upload) -> Result<(), ReportError> {
        self.upload(self.url(&["workspace"]), archive).await?;
        Ok(())
    }

    async fn step_started(&self, step: &StepStarted) -> Result<(), ReportError> {
        self.post_json(&["steps"], step).await
    }

    async fn output(&self, index: u32, text: &str) -> Result<(), ReportError> {
        let index = index.to_string();
        let url = self.url(&["steps", &index, "output"]);
        self.client
            .send(|| {
                self.client
                    .request(Method::POST, url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(text.to_owned())
            })
            .await?;
        Ok(())
    }

    async fn step_finished(&self, index: u32, end: &StepFinished) -> Result<(), ReportError> {
        let index = index.to_string();
        self.post_json(&["steps", &index, "finish"], end).await
    }

    async fn test_results(&self, results: &TestResults) -> Result<(), ReportError> {
        self.post_json(&["tests"], results).await
    }

    async fn artifact(&self, segments: &[String], file: &Path) -> Result<(), ReportError> {
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|e| ReportError::Failed(format!("cannot open {}: {e}", file.display())))?;
        let len = opened
            .metadata()
            .await
            .map_err(|e| ReportError::Failed(format!("cannot read {}: {e}", file.display())))?
            .len();
        let mut rest = vec!["artifacts"];
        rest.extend(segments.iter().map(String::as_str));
        let url = self.url(&rest);
        // Not retried: the body is a stream, read once.
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(opened));
        let response = self
            .client
            .request(Method::PUT, url)
            // Uploads may be large; the connect timeout still applies.
            .timeout(Duration::from_secs(24 * 3600))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await
            .map_err(network)?;
        check(response).await?;
        Ok(())
    }

    async fn heartbeat(&self) -> Result<HeartbeatReply, ReportError> {
        let url = self.url(&["heartbeat"]);
        let response = self
            .client
            .send(|| self.client.request(Method::POST, url.clone()))
            .await?;
        response
            .json::<HeartbeatReply>()
            .await
            .map_err(|e| ReportError::Failed(format!("unreadable heartbeat reply: {e}")))
    }

    async fn job_finished(&self, end: &JobFinished) -> Result<(), ReportError> {
        self.post_json(&["finish"], end).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(server: &str) -> Client {
        Client::new(server, SecretString::from("CCIRUN_secret".to_owned()), None).unwrap()
    }

    #[test]
    fn urls_are_under_the_protocol_base_with_segments_encoded() {
        let c = client("http://127.0.0.1:8080/");
        assert_eq!(
            c.url(&["claim"]).as_str(),
            "http://127.0.0.1:8080/api/runner/v1/claim"
        );
        let r = c.reporter("3f2c1b9e-0000-4000-8000-000000000001");
        assert_eq!(
            r.url(&["artifacts", "test reports", "a/b", "?x#", "ü", "100%"])
                .as_str(),
            "http://127.0.0.1:8080/api/runner/v1/jobs/3f2c1b9e-0000-4000-8000-000000000001/artifacts/test%20reports/a%2Fb/%3Fx%23/%C3%BC/100%25"
        );
        let prefixed = client("http://ci.example/circlet");
        assert_eq!(
            prefixed.url(&["claim"]).as_str(),
            "http://ci.example/circlet/api/runner/v1/claim"
        );
    }

    #[test]
    fn bad_server_urls_are_refused_and_the_token_never_shows() {
        for bad in ["ftp://x", "not a url", "http://user:pw@host"] {
            assert!(
                Client::new(bad, SecretString::from("t".to_owned()), None).is_err(),
                "{bad}"
            );
        }
        let shown = format!("{:?}", client("http://127.0.0.1:1"));
        assert!(!shown.contains("CCIRUN_secret"), "{shown}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_network_error_without_the_token() {
        // Port 1 on loopback: nothing listens there.
        let c = client("http://127.0.0.1:1");
        let e = c.claim(Duration::from_secs(0)).await.unwrap_err();
        assert!(matches!(e, ClientError::Network(_)), "{e:?}");
        assert!(!e.to_string().contains("CCIRUN_secret"), "{e}");
    }
}
