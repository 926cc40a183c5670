//! `TestApp`: the real server on an ephemeral port with a fresh database, plus personas.

use circlet_app::tokens::{Actor, issue_personal, issue_project, issue_runner};
use circlet_app::{App, AppConfig};
use circlet_core::scope::ProjectScope;
use circlet_core::token::TokenName;
use circlet_core::{BranchName, DisplayName, Email, Login, Password, ProjectSlug, RepoUrl};
use circlet_server::{AppState, ServerConfig, SessionKey};
use circlet_store::testkit::TestDb;
use circlet_store::{BackendKind, NewProject, NewUser, Project, Store, TokenRecord, User};
use circlet_testkit::csrf_in;
use reqwest::redirect::Policy;
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// Every persona's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// A runner started by [`TestApp::start_runner`]; dropping it stops the runner.
pub struct RunnerGuard {
    _work: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
    _task: tokio::task::JoinHandle<Result<(), circlet_runner::RunnerError>>,
}

/// A running server and its store.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's state (for the setup code).
    pub state: AppState,
    /// Direct store access, for arranging and checking.
    pub store: Store,
    db: std::sync::Arc<TestDb>,
    /// This server's own repo cache (`repo_cache_dir`), so tests never share mirrors.
    _repos: tempfile::TempDir,
    /// Holds this server's artifact store (`store/`), so tests can see every file written.
    artifacts: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

/// What a test may tune before its server starts: the HTTP side's settings and the use cases'.
pub struct Config {
    /// `circlet-server`'s own.
    pub http: ServerConfig,
    /// `circlet-app`'s.
    pub app: AppConfig,
}

impl TestApp {
    /// Starts a server on `kind` with default settings.
    pub async fn spawn(kind: BackendKind) -> TestApp {
        Self::spawn_with(kind, |_| {}).await
    }

    /// Starts a server on `kind`, letting `tune` adjust the configuration first.
    pub async fn spawn_with(kind: BackendKind, tune: impl FnOnce(&mut Config)) -> TestApp {
        Self::start(std::sync::Arc::new(TestDb::new(kind).await), tune).await
    }

    /// Another server on this one's database, with its own connections, caches and artifact
    /// directory: a second replica, or another process on the same SQLite file.
    pub async fn replica(&self) -> TestApp {
        Self::start(self.db.clone(), |_| {}).await
    }

    async fn start(db: std::sync::Arc<TestDb>, tune: impl FnOnce(&mut Config)) -> TestApp {
        let store = db.store().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let mut config = Config {
            http: ServerConfig::new(addr, SessionKey::new(circlet_core::secret::random_bytes())),
            app: AppConfig::new(url.clone()),
        };
        let repos = tempfile::tempdir().unwrap();
        config.app.repo_cache_dir = repos.path().join("mirrors");
        // The tests' receivers listen on loopback.
        config.app.allow_private_outbound = true;
        let artifacts = tempfile::tempdir().unwrap();
        config.app.artifacts =
            circlet_app::artifacts::ArtifactStorage::local(&artifacts.path().join("store"))
                .unwrap();
        tune(&mut config);
        let state = AppState::new(App::new(store.clone(), config.app), config.http);
        let (stop, stopped) = oneshot::channel::<()>();
        let server_state = state.clone();
        tokio::spawn(async move {
            circlet_server::serve(listener, server_state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            url,
            state,
            store,
            db,
            _repos: repos,
            artifacts,
            _stop: stop,
        }
    }

    /// Starts a real runner (the `circlet-runner` crate, as `circlet serve` embeds it) against
    /// this server; it stops when the returned guard is dropped.
    pub async fn start_runner(&self) -> RunnerGuard {
        let token = self.runner_token("test-runner").await;
        let work = tempfile::tempdir().unwrap();
        let config = circlet_runner::RunnerConfig {
            server: self.url.clone(),
            token: secrecy::SecretString::from(token),
            work_dir: work.path().to_owned(),
            concurrency: 2,
            name: "test-runner".into(),
            // Jobs run as `circlet serve` runs them by default: in the sandbox.
            sandbox: circlet_runner::Sandbox::bubblewrap(vec![])
                .expect("bubblewrap works here (scripts/test installs it)"),
            ca_file: None,
            tools: None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(circlet_runner::run(config, async {
            let _ = stopped.await;
        }));
        RunnerGuard {
            _work: work,
            _stop: stop,
            _task: task,
        }
    }

    /// The directory whose `store/` holds this server's artifacts (unless a test configured
    /// other storage); nothing should ever be written beside `store/`.
    pub fn artifacts_dir(&self) -> &std::path::Path {
        self.artifacts.path()
    }

    /// An absolute URL on this server.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// A cookie-keeping client that does not follow redirects (so tests see them).
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap()
    }

    /// Creates a user with [`PASSWORD`].
    pub async fn user(&self, login: &str, site_admin: bool) -> User {
        let new = NewUser {
            login: Login::parse(login).unwrap(),
            name: DisplayName::parse(login).unwrap(),
            email: Email::parse(&format!("{login}@example.test")).unwrap(),
            password_hash: circlet_app::password::hash(Password::parse(PASSWORD).unwrap())
                .await
                .unwrap(),
            site_admin,
        };
        self.store.users().create(&new).await.unwrap()
    }

    /// A browser logged in as `login` (password [`PASSWORD`]).
    pub async fn logged_in(&self, login: &str) -> reqwest::Client {
        let b = self.browser();
        let csrf = self.csrf(&b, "/login").await;
        let r = b
            .post(self.at("/login"))
            .form(&[("login", login), ("password", PASSWORD), ("csrf", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "login as {login} should redirect");
        b
    }

    /// Loads `path` in `browser` and returns the CSRF token of its forms.
    pub async fn csrf(&self, browser: &reqwest::Client, path: &str) -> String {
        let html = browser
            .get(self.at(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_in(&html).unwrap_or_else(|| panic!("no csrf field on {path}: {html}"))
    }

    /// Posts a form with the CSRF token of the page at `from`.
    pub async fn post_form(
        &self,
        browser: &reqwest::Client,
        from: &str,
        to: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let csrf = self.csrf(browser, from).await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &csrf));
        browser.post(self.at(to)).form(&all).send().await.unwrap()
    }

    /// `r`, or where its 303 leads: a browser's GET of the `Location`, with `browser`'s
    /// cookies (token forms redirect to the page that shows the new value once).
    pub async fn follow(
        &self,
        browser: &reqwest::Client,
        r: reqwest::Response,
    ) -> reqwest::Response {
        if r.status() != 303 {
            return r;
        }
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let to = if to.starts_with('/') {
            self.at(&to)
        } else {
            to
        };
        browser.get(to).send().await.unwrap()
    }

    /// The test database: its URL, and the directory holding a SQLite database's files.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// Adds a project at `slug` (cloned from its VCS host) with `owner` as its admin.
    pub async fn project(&self, owner: &User, slug: &str, public: bool) -> Project {
        let new = circlet_store::testkit::new_project(slug, public);
        self.store.projects().create(&new, owner.id).await.unwrap()
    }

    /// Adds a project at `slug` built from the repository at `repo_url` (a `file:///…` URL of a
    /// [`circlet_testkit::GitRepo`]), default branch `main`, with `owner` as its admin.
    pub async fn project_with_repo(
        &self,
        owner: &User,
        slug: &str,
        repo_url: &str,
        public: bool,
    ) -> Project {
        let new = NewProject {
            repo_url: RepoUrl::parse(repo_url).unwrap(),
            slug: ProjectSlug::parse(slug).unwrap(),
            default_branch: BranchName::parse("main").unwrap(),
            public,
        };
        self.store.projects().create(&new, owner.id).await.unwrap()
    }

    /// A new runner token named `name`, issued as the admin CLI would.
    pub async fn runner_token(&self, name: &str) -> String {
        let name = TokenName::parse(name, "name").unwrap();
        let (value, _) = issue_runner(&self.store, &name, None, &test_actor())
            .await
            .unwrap();
        value.expose().to_owned()
    }

    /// A new personal token of `user` that never expires, issued as the admin CLI would.
    pub async fn personal_token(&self, user: &User) -> String {
        self.personal_token_expiring(user, None).await.0
    }

    /// A new personal token of `user` expiring at `expires_at`, and its record.
    pub async fn personal_token_expiring(
        &self,
        user: &User,
        expires_at: Option<OffsetDateTime>,
    ) -> (String, TokenRecord) {
        let name = TokenName::parse(&format!("{} test token", user.login), "name").unwrap();
        let (value, record) = issue_personal(
            &self.store,
            &self.state.app.config.token_policy(),
            user,
            &name,
            expires_at,
            &Default::default(),
            &test_actor(),
        )
        .await
        .unwrap();
        (value.expose().to_owned(), record)
    }

    /// A new personal token of `user`, limited as `limits` asks, and its record.
    pub async fn personal_token_limited(
        &self,
        user: &User,
        limits: circlet_app::tokens::AskedLimits,
    ) -> (String, TokenRecord) {
        let name = TokenName::parse(&format!("{} limited token", user.login), "name").unwrap();
        let (value, record) = issue_personal(
            &self.store,
            &self.state.app.config.token_policy(),
            user,
            &name,
            None,
            &limits,
            &test_actor(),
        )
        .await
        .unwrap();
        (value.expose().to_owned(), record)
    }

    /// A new project token of `project` with `scope` that never expires.
    pub async fn project_token(&self, project: &Project, scope: ProjectScope) -> String {
        self.project_token_record(project, scope).await.0
    }

    /// A new project token of `project` with `scope`, and its record.
    pub async fn project_token_record(
        &self,
        project: &Project,
        scope: ProjectScope,
    ) -> (String, TokenRecord) {
        let label = TokenName::parse(&format!("{} token", scope.as_str()), "label").unwrap();
        let (value, record) =
            issue_project(&self.store, project, scope, &label, None, &test_actor())
                .await
                .unwrap();
        (value.expose().to_owned(), record)
    }
}

/// Who issues the personas' tokens, for the audit log.
fn test_actor() -> Actor {
    Actor {
        user_id: None,
        login: "test-setup".into(),
        address: String::new(),
    }
}
