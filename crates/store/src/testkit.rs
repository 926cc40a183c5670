//! A fresh, empty, migrated database per test, on either backend (feature `testkit`).
//!
//! PostgreSQL comes from `CIRCLET_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/test`,
//! the server the test command makes sure of); each test gets its own database, dropped when
//! the [`TestDb`] is dropped. If PostgreSQL cannot be reached the test fails and says so:
//! a backend is never skipped silently.

use crate::{BackendKind, NewProject, NewUser, Store};
use circlet_core::{BranchName, DisplayName, Email, Login, ProjectSlug, RepoUrl};
use tempfile::TempDir;

/// The PostgreSQL server tests use when `CIRCLET_TEST_POSTGRES_URL` is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://root@127.0.0.1:5432/test";

/// A database that exists for one test.
pub struct TestDb {
    /// The URL to hand to `Store::connect` or `circlet --database-url`.
    pub url: String,
    /// Which backend.
    pub kind: BackendKind,
    dir: TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A new database of the given kind.
    pub async fn new(kind: BackendKind) -> TestDb {
        match kind {
            BackendKind::Sqlite => Self::sqlite(),
            BackendKind::Postgres => Self::postgres().await,
        }
    }

    /// A SQLite file in a fresh temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}/circlet.db", dir.path().display());
        TestDb {
            url,
            kind: BackendKind::Sqlite,
            dir,
            pg: None,
        }
    }

    /// A new database on the test PostgreSQL server.
    pub async fn postgres() -> TestDb {
        let admin_url = std::env::var("CIRCLET_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let name = format!("circlet_t_{}", uuid::Uuid::new_v4().simple());
        let admin = Store::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL for tests is not reachable at {admin_url} ({e}); run the README's test \
                 command, which starts one, or set CIRCLET_TEST_POSTGRES_URL"
            )
        });
        crate::on_pool!(admin, pool => sqlx::query(&format!("CREATE DATABASE {name}")).execute(pool).await.map(|r| r.rows_affected()))
            .expect("create a test database");
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let dir = tempfile::tempdir().expect("create a temporary directory");
        TestDb {
            url,
            kind: BackendKind::Postgres,
            dir,
            pg: Some((admin_url, name)),
        }
    }

    /// A temporary directory that lives as long as this database (a data dir for tests).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Connects and migrates.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a separate thread with its own runtime may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let admin = Store::connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = crate::on_pool!(admin, pool => sqlx::query(&sql).execute(pool).await.map(|r| r.rows_affected()));
                admin.close().await;
                Some(())
            })
        })
        .join();
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A user to create in a test: `login`, a name and address made from it, and a password hash
/// no password matches (tests that log in hash a real password instead).
pub fn new_user(login: &str, site_admin: bool) -> NewUser {
    NewUser {
        login: Login::parse(login).expect("a valid login"),
        name: DisplayName::parse(login).expect("a valid name"),
        email: Email::parse(&format!("{login}@example.test")).expect("a valid address"),
        password_hash: format!("not a password hash: {login} never logs in"),
        site_admin,
    }
}

/// A project to create in a test at `slug` (cloned from its VCS host), default branch `main`.
pub fn new_project(slug: &str, public: bool) -> NewProject {
    let slug = ProjectSlug::parse(slug).expect("a valid slug");
    NewProject {
        repo_url: RepoUrl::default_for(&slug),
        slug,
        default_branch: BranchName::parse("main").expect("a valid branch"),
        public,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::with_database("postgres://u@h:1/test", "x"),
            "postgres://u@h:1/x"
        );
        assert_eq!(
            super::with_database("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://h", "x"), "postgres://h/x");
    }
}
