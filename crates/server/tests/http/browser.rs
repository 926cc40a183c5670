//! The web UI in a real browser: headless Chromium driven through chromedriver (WebDriver).
//!
//! Each test starts its own chromedriver on a free port with a fresh Chromium profile. Tests are
//! written as named steps; a failing step saves a screenshot to
//! `target/browser-screenshots/<test>-<step>.png` before panicking. A missing chromedriver or
//! Chromium fails the test (set `CIRCLET_CHROMEDRIVER` / `CIRCLET_CHROMIUM` to point elsewhere).

use crate::app::{PASSWORD, TestApp};
use anyhow::{Context, anyhow, bail, ensure};
use circlet_core::{BranchName, ProjectSlug, RepoUrl, Role};
use circlet_store::{BackendKind, NewProject};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any single wait (a page, an element, a dialog, chromedriver itself) may take.
const WAIT: Duration = Duration::from_secs(15);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

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
struct Browser {
    client: Client,
    test: &'static str,
    // Field order is drop order: the session handle, then chromedriver, then the profile dir.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a Chromium session; `test` names the screenshots.
    async fn start(test: &'static str) -> Browser {
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
    async fn step<T>(&self, name: &str, work: impl Future<Output = anyhow::Result<T>>) -> T {
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
    async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> anyhow::Result<T>
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
    async fn element(&self, id: &str) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Id(id))
            .await
            .with_context(|| format!("no element #{id}"))
    }

    /// Waits for the element with `id` and returns its text.
    async fn text(&self, id: &str) -> anyhow::Result<String> {
        Ok(self.element(id).await?.text().await?)
    }

    /// Types `value` into the (cleared) field with `id`.
    async fn fill(&self, id: &str, value: &str) -> anyhow::Result<()> {
        let field = self.element(id).await?;
        field.clear().await?;
        field
            .send_keys(value)
            .await
            .with_context(|| format!("typing into #{id}"))
    }

    /// Clicks the element with `id`.
    async fn click(&self, id: &str) -> anyhow::Result<()> {
        self.element(id)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking #{id}"))
    }

    /// Opens `url`.
    async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The current page's path.
    async fn path(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Waits until the page's path is `path`.
    async fn at_path(&self, path: &str) -> anyhow::Result<()> {
        self.until(&format!("the page at {path}"), || async {
            Ok((self.path().await? == path).then_some(()))
        })
        .await
    }

    /// The HTTP status the current document arrived with.
    async fn status(&self) -> anyhow::Result<u16> {
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
    async fn no_server_error(&self) -> anyhow::Result<()> {
        let status = self.status().await?;
        ensure!(status < 500, "the page came with HTTP {status}");
        Ok(())
    }

    /// Logs in through the login form and waits for the signed-in navigation bar.
    async fn log_in(&self, app: &TestApp, login: &str, password: &str) -> anyhow::Result<()> {
        self.goto(&app.at("/login")).await?;
        self.fill("login", login).await?;
        self.fill("password", password).await?;
        self.click("submit").await?;
        let nav = self.text("nav-account").await?;
        ensure!(nav == login, "the navigation shows {nav:?}, not {login:?}");
        self.no_server_error().await
    }

    /// Clicks "Log out" and waits for the login page.
    async fn log_out(&self) -> anyhow::Result<()> {
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
    async fn dialog(&self) -> anyhow::Result<String> {
        self.until("a confirmation dialog", || async {
            Ok(self.client.get_alert_text().await.ok())
        })
        .await
    }

    /// Ends the session (Chromium quits), then chromedriver stops on drop.
    async fn finish(self) {
        let _ = self.client.clone().close().await;
    }
}

/// The walk-through: set up the first admin, log out and in, add a project, find it on
/// the dashboard, log out, and be sent to the login page.
#[tokio::test]
async fn setup_login_add_project_logout() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let b = Browser::start("setup_login_add_project_logout").await;

    b.step("open-setup", async {
        b.goto(&app.state.setup_url()).await?;
        b.element("password_confirm").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create-admin", async {
        b.fill("login", "ada").await?;
        b.fill("name", "Ada Lovelace").await?;
        b.fill("email", "ada@example.test").await?;
        b.fill("password", PASSWORD).await?;
        b.fill("password_confirm", PASSWORD).await?;
        b.click("submit").await?;
        let nav = b.text("nav-account").await?;
        ensure!(
            nav == "ada",
            "the navigation shows {nav:?}, not the admin's login"
        );
        b.at_path("/").await?;
        b.element("add-project").await?;
        b.no_server_error().await
    })
    .await;

    b.step("log-out", b.log_out()).await;
    b.step("log-in", b.log_in(&app, "ada", PASSWORD)).await;

    b.step("open-add-project", async {
        b.click("add-project").await?;
        b.at_path("/projects/new").await?;
        b.element("repo_url").await?;
        b.no_server_error().await
    })
    .await;

    b.step("add-project", async {
        b.element("vcs")
            .await?
            .select_by(Locator::Css("option[value='gh']"))
            .await?;
        b.fill("org", "acme").await?;
        b.fill("repo", "widgets").await?;
        b.fill("repo_url", "file:///srv/git/widgets.git").await?;
        b.fill("default_branch", "trunk").await?;
        b.click("submit").await?;
        let slug = b.text("project-slug").await?;
        ensure!(slug == "gh/acme/widgets", "the project page shows {slug:?}");
        b.at_path("/projects/gh/acme/widgets").await?;
        b.no_server_error().await
    })
    .await;

    b.step("project-stored", async {
        let slug = ProjectSlug::parse("gh/acme/widgets")?;
        let project = app
            .store
            .projects()
            .by_slug(&slug)
            .await?
            .context("the project is not in the store")?;
        ensure!(project.repo_url.as_str() == "file:///srv/git/widgets.git");
        ensure!(project.default_branch.as_str() == "trunk");
        ensure!(!project.public, "the project should be private");
        Ok(())
    })
    .await;

    b.step("dashboard-lists-project", async {
        b.client
            .find(Locator::LinkText("Projects"))
            .await?
            .click()
            .await?;
        b.at_path("/").await?;
        let projects = b.text("projects").await?;
        ensure!(
            projects.contains("gh/acme/widgets"),
            "the dashboard's projects table reads {projects:?}"
        );
        b.no_server_error().await
    })
    .await;

    b.step("log-out-again", b.log_out()).await;

    b.step("dashboard-needs-login", async {
        b.goto(&app.at("/")).await?;
        b.at_path("/login").await?;
        b.element("password").await?;
        b.no_server_error().await
    })
    .await;

    b.finish().await;
}

/// A wrong password shows the login page again with the error message, not a server error.
#[tokio::test]
async fn wrong_password_shows_the_error() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("alice", false).await;
    let b = Browser::start("wrong_password_shows_the_error").await;

    b.step("submit-wrong-password", async {
        b.goto(&app.at("/login")).await?;
        b.fill("login", "alice").await?;
        b.fill("password", "not the right password").await?;
        b.click("submit").await?;
        let message = b.text("error-message").await?;
        ensure!(
            message.contains("Incorrect login or password."),
            "the error message reads {message:?}"
        );
        let status = b.status().await?;
        ensure!(status == 401, "the error page came with HTTP {status}");
        Ok(())
    })
    .await;

    b.step("still-logged-out", async {
        ensure!(
            b.client.find(Locator::Id("nav-account")).await.is_err(),
            "signed in despite the wrong password"
        );
        let login = b.element("login").await?.prop("value").await?;
        ensure!(
            login.as_deref() == Some("alice"),
            "the login field should keep what was typed, has {login:?}"
        );
        Ok(())
    })
    .await;

    b.finish().await;
}

/// Removing a member asks first: dismissing the dialog keeps them, accepting removes them.
#[tokio::test]
async fn removing_a_member_asks_for_confirmation() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let bob = app.user("bob", false).await;
    let project = app
        .store
        .projects()
        .create(
            &NewProject {
                slug: ProjectSlug::parse("gh/acme/widgets").unwrap(),
                repo_url: RepoUrl::parse("file:///srv/git/widgets.git").unwrap(),
                default_branch: BranchName::parse("main").unwrap(),
                public: false,
            },
            owner.id,
        )
        .await
        .unwrap();
    app.store
        .projects()
        .set_member(project.id, bob.id, Role::Write)
        .await
        .unwrap();
    let members = || async {
        let all = app.store.projects().members(project.id).await?;
        anyhow::Ok(
            all.into_iter()
                .map(|m| m.user.login.as_str().to_owned())
                .collect::<Vec<_>>(),
        )
    };
    let remove_bob = Locator::Css("form[data-confirm] button[title='Remove bob']");
    let b = Browser::start("removing_a_member_asks_for_confirmation").await;

    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open-members", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings/members"))
            .await?;
        let table = b.text("members").await?;
        ensure!(table.contains("bob"), "bob is not listed: {table:?}");
        b.client.find(remove_bob).await?;
        b.no_server_error().await
    })
    .await;

    b.step("dismiss-confirm", async {
        // A marker that disappears if the page is replaced by a form submission.
        b.client
            .execute("window.circletMarker = 'still here'; return null;", vec![])
            .await?;
        b.client.find(remove_bob).await?.click().await?;
        let question = b.dialog().await?;
        ensure!(
            question == "Remove bob from gh/acme/widgets?",
            "the dialog asks {question:?}"
        );
        b.client.dismiss_alert().await?;
        let marker = b
            .client
            .execute("return window.circletMarker || null;", vec![])
            .await?;
        ensure!(
            marker == "still here",
            "the page was submitted despite the dismissed dialog"
        );
        b.client.find(remove_bob).await?;
        let now = members().await?;
        ensure!(now == ["bob", "owner"], "members after dismissing: {now:?}");
        Ok(())
    })
    .await;

    b.step("accept-confirm", async {
        b.client.find(remove_bob).await?.click().await?;
        let question = b.dialog().await?;
        ensure!(question == "Remove bob from gh/acme/widgets?");
        b.client.accept_alert().await?;
        b.until("the members page without bob", || async {
            let replaced = b
                .client
                .execute("return window.circletMarker === undefined;", vec![])
                .await?
                == true;
            Ok((replaced && b.client.find(remove_bob).await.is_err()).then_some(()))
        })
        .await?;
        b.at_path("/projects/gh/acme/widgets/settings/members")
            .await?;
        let table = b.text("members").await?;
        if table.contains("bob") {
            bail!("bob is still listed: {table:?}");
        }
        b.no_server_error().await?;
        let now = members().await?;
        ensure!(now == ["owner"], "members after accepting: {now:?}");
        Ok(())
    })
    .await;

    b.finish().await;
}

/// Reads a token value from the "shown once" page: the value, the warning and the copy button.
async fn read_shown_token(b: &Browser, prefix: &str) -> anyhow::Result<String> {
    let value = b.text("token-value").await?;
    ensure!(
        value.starts_with(prefix) && value.len() == 70,
        "the page shows {value:?} as the token"
    );
    let warning = b.text("token-warning").await?;
    ensure!(
        warning.contains("will not be shown again"),
        "the warning reads {warning:?}"
    );
    b.click("copy-token").await?;
    b.until("the copy button to report the copy", || async {
        let label = b.text("copy-token").await?;
        Ok((label == "Copied").then_some(()))
    })
    .await?;
    b.no_server_error().await?;
    Ok(value)
}

/// Calls `path` with `token` in the `Circle-Token` header; the status and the JSON message.
async fn call_api(
    app: &TestApp,
    token: &str,
    path: &str,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let r = reqwest::Client::new()
        .get(app.at(path))
        .header("Circle-Token", token)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

/// Clicks the ✕ of the token named `name`, waits for the confirmation window, and returns its
/// text; the list page stays where it is underneath.
async fn open_remove_dialog(b: &Browser, name: &str, list_path: &str) -> anyhow::Result<String> {
    b.client
        .find(Locator::Css(&format!(
            "a[data-dialog][title='Remove {name}']"
        )))
        .await
        .with_context(|| format!("no ✕ for {name}"))?
        .click()
        .await?;
    let dialog = b
        .client
        .wait()
        .at_most(WAIT)
        .every(POLL)
        .for_element(Locator::Css("dialog#confirm-dialog[open]"))
        .await
        .context("no open confirmation window")?;
    b.at_path(list_path).await?;
    Ok(dialog.text().await?)
}

/// Dismisses the confirmation window with Cancel, then removes the token through it.
async fn cancel_then_remove(
    b: &Browser,
    name: &str,
    list_path: &str,
    impact: &[&str],
) -> anyhow::Result<()> {
    let text = open_remove_dialog(b, name, list_path).await?;
    ensure!(
        text.contains(name),
        "the window does not name {name}: {text:?}"
    );
    for fact in impact {
        ensure!(text.contains(fact), "the window lacks {fact:?}: {text:?}");
    }
    b.click("cancel-remove").await?;
    b.until("the confirmation window to close", || async {
        Ok(b.client
            .find(Locator::Css("dialog#confirm-dialog[open]"))
            .await
            .is_err()
            .then_some(()))
    })
    .await?;
    ensure!(
        b.text("tokens").await?.contains(name),
        "cancel removed {name}"
    );

    open_remove_dialog(b, name, list_path).await?;
    b.click("confirm-remove").await?;
    b.element("no-tokens").await?;
    b.at_path(list_path).await?;
    b.no_server_error().await
}

/// Issue item 15, personal tokens: create one in User settings, copy the value shown once, use
/// it over HTTP, remove it through the confirmation window, and see it refused.
#[tokio::test]
async fn a_personal_token_is_created_used_and_removed() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("alice", false).await;
    let b = Browser::start("a_personal_token_is_created_used_and_removed").await;
    b.step("log-in", b.log_in(&app, "alice", PASSWORD)).await;

    b.step("open-tokens-tab", async {
        b.click("nav-account").await?;
        b.at_path("/account").await?;
        b.click("tab-tokens").await?;
        b.at_path("/account/tokens").await?;
        b.element("no-tokens").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create", async {
        b.click("create-token").await?;
        b.at_path("/account/tokens/new").await?;
        b.fill("name", "ci-bot").await?;
        b.element("expiry")
            .await?
            .select_by(Locator::Css("option[value='never']"))
            .await?;
        b.click("submit").await?;
        b.element("token-value").await?;
        b.no_server_error().await
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIPAT_")).await;

    b.step("use-it", async {
        let (status, me) = call_api(&app, &token, "/api/v2/me").await?;
        ensure!(
            status == 200 && me["login"] == "alice",
            "GET /api/v2/me: {status} {me}"
        );
        app.state.usage.flush(&app.state).await;
        Ok(())
    })
    .await;

    b.step("listed-masked", async {
        b.click("done").await?;
        b.at_path("/account/tokens").await?;
        let table = b.text("tokens").await?;
        let last4 = &token[token.len() - 4..];
        ensure!(
            table.contains("ci-bot") && table.contains(&format!("…{last4}")),
            "the table reads {table:?}"
        );
        ensure!(!table.contains(&token), "the list shows the whole token");
        Ok(())
    })
    .await;

    b.step(
        "remove-through-the-window",
        cancel_then_remove(&b, "ci-bot", "/account/tokens", &["127.0.0.1", "me"]),
    )
    .await;

    b.step("refused-after-removal", async {
        let (status, body) = call_api(&app, &token, "/api/v2/me").await?;
        ensure!(
            status == 401 && body["message"] == "Invalid token provided.",
            "GET /api/v2/me after removal: {status} {body}"
        );
        Ok(())
    })
    .await;

    b.finish().await;
}

/// Issue item 15, project tokens: create one under API Permissions, copy the value shown once,
/// use it over HTTP, remove it through the confirmation window, and see it refused.
#[tokio::test]
async fn a_project_token_is_created_used_and_removed() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.store
        .projects()
        .create(
            &NewProject {
                slug: ProjectSlug::parse("gh/acme/widgets").unwrap(),
                repo_url: RepoUrl::parse("file:///srv/git/widgets.git").unwrap(),
                default_branch: BranchName::parse("main").unwrap(),
                public: false,
            },
            owner.id,
        )
        .await
        .unwrap();
    let list = "/projects/gh/acme/widgets/settings/api";
    let tokens_api = "/api/v1.1/project/gh/acme/widgets/token";
    let b = Browser::start("a_project_token_is_created_used_and_removed").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open-api-permissions", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-api").await?;
        b.at_path(list).await?;
        b.element("no-tokens").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create", async {
        b.click("create-token").await?;
        b.element("scope")
            .await?
            .select_by(Locator::Css("option[value='all']"))
            .await?;
        b.fill("label", "README badge").await?;
        b.element("expiry")
            .await?
            .select_by(Locator::Css("option[value='never']"))
            .await?;
        b.click("submit").await?;
        b.element("token-value").await?;
        b.no_server_error().await
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIPRJ_")).await;

    b.step("use-it", async {
        // The token is recognised: it reaches the authorization check, which refuses project
        // tokens the management of tokens (403, not 401).
        let (status, body) = call_api(&app, &token, tokens_api).await?;
        ensure!(
            status == 403 && body["message"] == "Permission denied",
            "GET {tokens_api}: {status} {body}"
        );
        app.state.usage.flush(&app.state).await;
        Ok(())
    })
    .await;

    b.step("listed-masked", async {
        b.click("done").await?;
        b.at_path(list).await?;
        let table = b.text("tokens").await?;
        ensure!(
            table.contains("README badge") && table.contains("All"),
            "the table reads {table:?}"
        );
        ensure!(!table.contains(&token), "the list shows the whole token");
        Ok(())
    })
    .await;

    b.step(
        "remove-through-the-window",
        cancel_then_remove(&b, "README badge", list, &["127.0.0.1"]),
    )
    .await;

    b.step("refused-after-removal", async {
        let (status, body) = call_api(&app, &token, tokens_api).await?;
        ensure!(
            status == 401 && body["message"] == "Invalid token provided.",
            "GET {tokens_api} after removal: {status} {body}"
        );
        Ok(())
    })
    .await;

    b.finish().await;
}

/// Issue 5 item 9: Project settings → Environment Variables: add one (the value never shows
/// again, only its mask), a bad name gets a readable error, remove through the confirmation
/// window.
#[tokio::test]
async fn an_env_var_is_added_listed_masked_and_removed() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.store
        .projects()
        .create(
            &NewProject {
                slug: ProjectSlug::parse("gh/acme/widgets").unwrap(),
                repo_url: RepoUrl::parse("file:///srv/git/widgets.git").unwrap(),
                default_branch: BranchName::parse("main").unwrap(),
                public: false,
            },
            owner.id,
        )
        .await
        .unwrap();
    let list = "/projects/gh/acme/widgets/settings/env";
    let b = Browser::start("an_env_var_is_added_listed_masked_and_removed").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open-tab", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-env").await?;
        b.at_path(list).await?;
        b.element("env-empty").await?;
        b.no_server_error().await
    })
    .await;

    b.step("bad-name", async {
        // The browser's own pattern check would stop the form; a user without it gets ours.
        b.client
            .execute(
                "document.getElementById('env-name').removeAttribute('pattern')",
                vec![],
            )
            .await?;
        b.fill("env-name", "MY-VAR").await?;
        b.fill("env-value", "whatever").await?;
        b.click("env-add").await?;
        let error = b.text("error-message").await?;
        ensure!(error.contains("MY-VAR"), "the error reads {error:?}");
        b.no_server_error().await
    })
    .await;

    b.step("add", async {
        b.fill("env-name", "DEPLOY_KEY").await?;
        b.fill("env-value", "super-secret-9876").await?;
        b.click("env-add").await?;
        let table = b.text("env-vars").await?;
        ensure!(table.contains("DEPLOY_KEY"), "the list reads {table:?}");
        ensure!(table.contains("xxxx9876"), "no mask in {table:?}");
        let html = b.client.source().await?;
        ensure!(!html.contains("super-secret"), "the page shows the value");
        b.no_server_error().await
    })
    .await;

    b.step("remove", async {
        let text = open_remove_dialog(&b, "DEPLOY_KEY", list).await?;
        ensure!(text.contains("DEPLOY_KEY"), "the window reads {text:?}");
        b.click("confirm-remove").await?;
        b.element("env-empty").await?;
        b.at_path(list).await?;
        b.no_server_error().await
    })
    .await;
    ensure_env_vars_gone(&app).await;
    b.finish().await;
}

async fn ensure_env_vars_gone(app: &TestApp) {
    let project = app
        .store
        .projects()
        .by_slug(&ProjectSlug::parse("gh/acme/widgets").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.store
            .env_vars()
            .list(project.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Issue 4 item 12: trigger a pipeline from the project page and watch its build finish on the
/// build page, live, with a real runner and a real git repository.
#[tokio::test]
async fn a_pipeline_is_triggered_and_watched_until_it_finishes() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    let repo = circlet_testkit::GitRepo::with_config(
        "version: 2.1\njobs:\n  build:\n    steps:\n      - run:\n          name: Say hello\n          command: echo hello from the runner; sleep 2; echo done\nworkflows:\n  main:\n    jobs: [build]\n",
    );
    app.project_with_repo(&owner, "gh/acme/widgets", &repo.url(), false)
        .await;
    let _runner = app.start_runner().await;
    let b = Browser::start("a_pipeline_is_triggered_and_watched_until_it_finishes").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("trigger", async {
        b.goto(&app.at("/projects/gh/acme/widgets")).await?;
        b.element("builds-empty").await?;
        b.click("trigger-pipeline").await?;
        b.at_path("/projects/gh/acme/widgets/trigger").await?;
        ensure!(b.element("name").await?.prop("value").await?.as_deref() == Some("main"));
        b.click("submit").await?;
        b.at_path("/projects/gh/acme/widgets").await?;
        b.element("pipeline-1").await?;
        b.no_server_error().await
    })
    .await;

    b.step("watch", async {
        b.client
            .find(Locator::Css("#pipeline-1 a.job"))
            .await?
            .click()
            .await?;
        b.at_path("/projects/gh/acme/widgets/jobs/1").await?;
        // The page follows the build live: its output appears, then its status turns success.
        b.until("the step output to stream in", || async {
            let steps = b.text("steps").await.unwrap_or_default();
            Ok(steps.contains("hello from the runner").then_some(()))
        })
        .await?;
        b.until("the build to succeed", || async {
            let status = b.text("job-status").await.unwrap_or_default();
            Ok((status == "success").then_some(()))
        })
        .await?;
        // Finished steps fold away; their output is still on the page.
        let source = b.client.source().await?;
        ensure!(
            source.contains("hello from the runner\ndone"),
            "the whole output is not on the page"
        );
        b.element("retry").await?;
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}

/// Issue 4 item 12: Admin → Runners: create a runner token (shown once, with the command that
/// starts a runner), see it listed masked, revoke it through the confirmation.
#[tokio::test]
async fn a_runner_token_is_created_and_revoked_in_admin_runners() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    app.user("root", true).await;
    let b = Browser::start("a_runner_token_is_created_and_revoked_in_admin_runners").await;
    b.step("log-in", b.log_in(&app, "root", PASSWORD)).await;

    b.step("open-runners", async {
        b.goto(&app.at("/admin/users")).await?;
        b.click("admin-tab-runners").await?;
        b.at_path("/admin/runners").await?;
        b.element("no-runners").await?;
        b.no_server_error().await
    })
    .await;

    b.step("create", async {
        b.fill("runner-name", "build-host-1").await?;
        b.click("create-runner").await?;
        b.element("runner-created").await?;
        b.no_server_error().await
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIRUN_")).await;

    b.step("use-it", async {
        let command = b.text("runner-command").await?;
        ensure!(
            command.contains(&token) && command.contains("circlet runner --server"),
            "the command reads {command:?}"
        );
        let r = reqwest::Client::new()
            .post(app.at("/api/runner/v1/claim"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(
            r.status() == 204,
            "claim with the new token: {}",
            r.status()
        );
        Ok(())
    })
    .await;

    b.step("listed-once", async {
        b.goto(&app.at("/admin/runners")).await?;
        let table = b.text("runners").await?;
        ensure!(
            table.contains("build-host-1") && table.contains(&format!("…{}", &token[66..])),
            "the table reads {table:?}"
        );
        ensure!(!b.client.source().await?.contains(&token), "shown twice");
        Ok(())
    })
    .await;

    b.step("revoke", async {
        b.client
            .find(Locator::Css("#runners button.danger-text"))
            .await?
            .click()
            .await?;
        let question = b.dialog().await?;
        ensure!(
            question.contains("build-host-1"),
            "the dialog reads {question:?}"
        );
        b.client.accept_alert().await?;
        b.element("no-runners").await?;
        let r = reqwest::Client::new()
            .post(app.at("/api/runner/v1/claim"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(r.status() == 401, "claim after revoking: {}", r.status());
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}

/// Issue 4 item 12: Project settings → Status Badges: create a Status token there and get
/// snippets carrying it, with a preview image that really loads.
#[tokio::test]
async fn badge_snippets_come_with_a_new_status_token_and_a_live_preview() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let owner = app.user("owner", false).await;
    app.project(&owner, "gh/acme/widgets", false).await;
    let b = Browser::start("badge_snippets_come_with_a_new_status_token_and_a_live_preview").await;
    b.step("log-in", b.log_in(&app, "owner", PASSWORD)).await;

    b.step("open-tab", async {
        b.goto(&app.at("/projects/gh/acme/widgets/settings"))
            .await?;
        b.click("tab-badges").await?;
        b.at_path("/projects/gh/acme/widgets/settings/badges")
            .await?;
        b.no_server_error().await
    })
    .await;

    b.step("create-token", async {
        b.element("badge-style")
            .await?
            .select_by(Locator::Css("option[value='shield']"))
            .await?;
        b.click("badge-create-token").await?;
        b.element("badge-result").await?;
        b.no_server_error().await
    })
    .await;
    let token = b.step("read-value", read_shown_token(&b, "CCIPRJ_")).await;

    b.step("snippets-and-preview", async {
        let markdown = b.text("snippet-markdown").await?;
        ensure!(
            markdown.starts_with("[![CircleCI](")
                && markdown.contains(&format!("style=shield&circle-token={token}")),
            "the Markdown reads {markdown:?}"
        );
        b.until("the preview image to load", || async {
            let width = b
                .client
                .execute(
                    "return document.getElementById('badge-preview').naturalWidth",
                    vec![],
                )
                .await?;
            Ok((width.as_u64().unwrap_or(0) > 0).then_some(()))
        })
        .await?;
        b.no_server_error().await
    })
    .await;
    b.finish().await;
}
