//! The WebDriver plumbing: chromedriver as a child process, a headless Chromium session, and
//! the waits, steps and screenshots the tests are written with.

use crate::app::TestApp;
use anyhow::{Context, anyhow, ensure};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any single wait (a page, an element, a dialog, chromedriver itself) may take.
pub(super) const WAIT: Duration = Duration::from_secs(15);
/// How often a wait looks again.
pub(super) const POLL: Duration = Duration::from_millis(50);

/// An executable named by `var`, else `default`; a clear failure when it is missing.
fn executable(var: &str, default: &str, hint: &str) -> PathBuf {
    let (path, source) = match std::env::var_os(var) {
        Some(p) if !p.is_empty() => (PathBuf::from(p), format!("${var}")),
        _ => (PathBuf::from(default), "the default path".to_owned()),
    };
    assert!(
        path.is_file(),
        "browser tests need {hint}, but {} ({source}) does not exist. Install Debian's packages \
         (`apt-get install -y chromium chromium-driver`) or set {var} to the executable.",
        path.display()
    );
    path
}

/// A chromedriver child process, killed with its whole process group (Chromium included) on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until its `/status` says it is ready.
    async fn start(log: &Path) -> Driver {
        let binary = executable(
            "CIRCLET_CHROMEDRIVER",
            "/usr/bin/chromedriver",
            "chromedriver",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port for chromedriver")
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so drop can end Chromium and its helpers with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        driver.wait_ready(log).await;
        driver
    }

    async fn wait_ready(&mut self, log: &Path) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll chromedriver") {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                panic!("chromedriver exited at start ({status}); its log:\n{log}");
            }
            let last = match http.get(format!("{}/status", self.url)).send().await {
                Ok(r) => match r.json::<serde_json::Value>().await {
                    Ok(v) if v["value"]["ready"] == true => return,
                    Ok(v) => format!("not ready: {v}"),
                    Err(e) => format!("bad /status body: {e}"),
                },
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "chromedriver at {} not ready after {WAIT:?}: {last}",
                self.url
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is chromedriver's pid (process_group(0)); Chromium inherits the group.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session for one test.
pub(super) struct Browser {
    pub(super) client: Client,
    test: &'static str,
    // Field order is drop order: the session handle, then chromedriver, then the profile dir.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a Chromium session; `test` names the screenshots.
    pub(super) async fn start(test: &'static str) -> Browser {
        let chromium = executable("CIRCLET_CHROMIUM", "/usr/bin/chromium", "Chromium");
        let profile = tempfile::tempdir().expect("temporary Chromium profile");
        let driver = Driver::start(&profile.path().join("chromedriver.log")).await;
        let user_data = profile.path().join("chromium");
        let options = serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", user_data.display()),
            ],
        });
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(profile.path().join("chromedriver.log"))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "cannot open a Chromium session ({}) through chromedriver: {e}\n\
                     chromedriver log (last lines, newest first):\n{}",
                    chromium.display(),
                    tail.join("\n")
                )
            });
        client
            .set_window_size(1280, 900)
            .await
            .expect("size the window");
        Browser {
            client,
            test,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Runs one named step; on failure saves a screenshot named after it and panics.
    pub(super) async fn step<T>(
        &self,
        name: &str,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> T {
        match work.await {
            Ok(v) => v,
            Err(e) => {
                let shot = self.screenshot(name).await;
                let url = match self.client.current_url().await {
                    Ok(u) => u.to_string(),
                    Err(e) => format!("unknown ({e})"),
                };
                panic!(
                    "browser test {} failed at step '{name}' (page {url}): {e:#}\nscreenshot: {shot}",
                    self.test
                )
            }
        }
    }

    /// Saves a screenshot for `step`; returns where, or why not.
    async fn screenshot(&self, step: &str) -> String {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
                    _ => '-',
                })
                .collect()
        };
        let file = format!("{}-{}.png", clean(self.test), clean(step));
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            // An open dialog blocks screenshots (and chromedriver may already have dismissed it
            // while refusing): make sure it is gone and try once more.
            Err(_) => {
                let _ = self.client.dismiss_alert().await;
                match self.client.screenshot().await {
                    Ok(png) => png,
                    Err(e) => return format!("none (screenshot failed: {e})"),
                }
            }
        };
        let saved = std::fs::create_dir_all(&dir)
            .and_then(|()| dir.canonicalize())
            .and_then(|dir| std::fs::write(dir.join(&file), png).map(|()| dir.join(&file)));
        match saved {
            Ok(path) => path.display().to_string(),
            Err(e) => format!("none (cannot write {file} in {}: {e})", dir.display()),
        }
    }

    /// Polls `check` until it returns `Some`, or fails after [`WAIT`] naming `what`.
    pub(super) async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match check().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => None,
                Err(e) => Some(e),
            };
            if Instant::now() >= deadline {
                return Err(match last {
                    Some(e) => e.context(format!("timed out waiting for {what}")),
                    None => anyhow!("timed out after {WAIT:?} waiting for {what}"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for the element with `id` to be on the page.
    pub(super) async fn element(&self, id: &str) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Id(id))
            .await
            .with_context(|| format!("no element #{id}"))
    }

    /// Waits for the element with `id` and returns its text.
    pub(super) async fn text(&self, id: &str) -> anyhow::Result<String> {
        Ok(self.element(id).await?.text().await?)
    }

    /// Waits until the element with `id` has a text that `ready` accepts, and returns it. For an
    /// element the page had before a form was sent: reading it at once may read the old page.
    pub(super) async fn text_when(
        &self,
        id: &str,
        ready: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let last = std::cell::RefCell::new(String::new());
        let found = self
            .until(&format!("the text of #{id}"), || async {
                let Ok(element) = self.client.find(Locator::Id(id)).await else {
                    return Ok(None);
                };
                // The page may change under us: a stale element is read again.
                let Ok(text) = element.text().await else {
                    return Ok(None);
                };
                let ok = ready(&text);
                *last.borrow_mut() = text.clone();
                Ok(ok.then_some(text))
            })
            .await;
        let last = last.into_inner();
        found.with_context(|| format!("#{id} last read {last:?}"))
    }

    /// Types `value` into the (cleared) field with `id`.
    pub(super) async fn fill(&self, id: &str, value: &str) -> anyhow::Result<()> {
        let field = self.element(id).await?;
        field.clear().await?;
        field
            .send_keys(value)
            .await
            .with_context(|| format!("typing into #{id}"))
    }

    /// Clicks the element with `id`.
    pub(super) async fn click(&self, id: &str) -> anyhow::Result<()> {
        self.element(id)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking #{id}"))
    }

    /// Opens `url`.
    pub(super) async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The current page's path.
    pub(super) async fn path(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Waits until the page's path is `path`.
    pub(super) async fn at_path(&self, path: &str) -> anyhow::Result<()> {
        self.until(&format!("the page at {path}"), || async {
            Ok((self.path().await? == path).then_some(()))
        })
        .await
    }

    /// The HTTP status the current document arrived with.
    pub(super) async fn status(&self) -> anyhow::Result<u16> {
        let v = self
            .client
            .execute(
                "return performance.getEntriesByType('navigation')[0].responseStatus;",
                vec![],
            )
            .await?;
        let status = v
            .as_u64()
            .with_context(|| format!("no response status for this page: {v}"))?;
        Ok(u16::try_from(status)?)
    }

    /// Fails when the current document came with a server error.
    pub(super) async fn no_server_error(&self) -> anyhow::Result<()> {
        let status = self.status().await?;
        ensure!(status < 500, "the page came with HTTP {status}");
        Ok(())
    }

    /// Logs in through the login form and waits for the signed-in navigation bar.
    pub(super) async fn log_in(
        &self,
        app: &TestApp,
        login: &str,
        password: &str,
    ) -> anyhow::Result<()> {
        self.goto(&app.at("/login")).await?;
        self.fill("login", login).await?;
        self.fill("password", password).await?;
        self.click("submit").await?;
        let nav = self.text("nav-account").await?;
        ensure!(nav == login, "the navigation shows {nav:?}, not {login:?}");
        self.no_server_error().await
    }

    /// Clicks "Log out" and waits for the login page.
    pub(super) async fn log_out(&self) -> anyhow::Result<()> {
        self.click("logout").await?;
        self.at_path("/login").await?;
        self.element("password").await?;
        ensure!(
            self.client.find(Locator::Id("nav-account")).await.is_err(),
            "still signed in after logging out"
        );
        self.no_server_error().await
    }

    /// Waits until a JavaScript dialog is open and returns its text.
    pub(super) async fn dialog(&self) -> anyhow::Result<String> {
        self.until("a confirmation dialog", || async {
            Ok(self.client.get_alert_text().await.ok())
        })
        .await
    }

    /// Ends the session (Chromium quits), then chromedriver stops on drop.
    pub(super) async fn finish(self) {
        let _ = self.client.clone().close().await;
    }
}
