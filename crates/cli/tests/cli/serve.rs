//! `circlet serve`: first start on a fresh data dir, graceful stop, restart, and every way a
//! start can fail.

use crate::{Browser, Instance, Run, Server, circlet};
use circlet_store::BackendKind;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Reads a key file, checking it is private and holds 32 bytes as hex.
fn key(path: &Path) -> String {
    assert_eq!(mode(path), 0o600, "{} should be mode 0600", path.display());
    let text = fs::read_to_string(path).unwrap();
    assert!(
        text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()),
        "{} should hold 64 hex characters, not {text:?}",
        path.display()
    );
    text
}

#[tokio::test]
async fn first_start_makes_a_private_data_dir_and_a_restart_keeps_users_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fresh").join("data");
    let args: Vec<OsString> = vec![
        "--data-dir".into(),
        data.clone().into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let admin = |command: &[&str], stdin: Option<&str>| {
        let mut cmd = circlet(tmp.path());
        cmd.arg("--data-dir").arg(&data).arg("admin").args(command);
        Run::of(cmd, stdin)
    };

    let mut server = Server::start(tmp.path(), &args);
    assert_eq!(mode(&data), 0o700, "the data dir should be private");
    let session_key = key(&data.join("session.key"));
    let env_key = key(&data.join("env.key"));
    assert_ne!(session_key, env_key);

    let setup_line = server.wait_for("the setup URL", |l| {
        l.contains("create the first site admin at ")
    });
    assert!(setup_line.contains("WARN"), "{setup_line}");
    let setup_url = setup_line
        .split("create the first site admin at ")
        .nth(1)
        .unwrap()
        .trim();
    assert!(
        setup_url.starts_with(&server.url("/setup?code=")),
        "{setup_url} should be on {}",
        server.addr
    );

    let browser = Browser::new(&server);
    let health = browser.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({ "status": "ok" })
    );
    assert_eq!(browser.get("/readyz").await.status(), 200);
    assert_eq!(
        browser
            .get(&setup_url[server.url("").len()..])
            .await
            .status(),
        200
    );

    // A user made with the CLI while the server runs uses up the setup link.
    admin(
        &["user", "create", "alice", "--password-stdin"],
        Some("correct horse battery\n"),
    )
    .ok();
    admin(
        &[
            "project",
            "create",
            "gh/acme/widgets",
            "--owner",
            "alice",
            "--repo-url",
            "file:///tmp/x",
        ],
        None,
    )
    .ok();
    assert_eq!(
        browser
            .get(&setup_url[server.url("").len()..])
            .await
            .status(),
        410
    );

    let (status, log) = server.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM should end serve cleanly:\n{log}"
    );
    assert!(log.contains("circlet stopped"), "{log}");

    let server = Server::start(tmp.path(), &args);
    let browser = Browser::new(&server);
    assert_eq!(browser.get("/healthz").await.status(), 200);
    let response = browser.log_in("alice", "correct horse battery").await;
    assert_eq!(
        response.status(),
        303,
        "alice should still be able to log in"
    );
    let dashboard = browser.get("/").await.text().await.unwrap();
    assert!(
        dashboard.contains("gh/acme/widgets"),
        "alice's project should survive the restart:\n{dashboard}"
    );
    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        !log.contains("setup?code="),
        "with a user in the store there is no setup URL:\n{log}"
    );

    assert_eq!(key(&data.join("session.key")), session_key);
    assert_eq!(key(&data.join("env.key")), env_key);
    admin(
        &["user", "create", "alice", "--password-stdin"],
        Some("another long password\n"),
    )
    .fails_with(&["'alice'", "already taken"]);

    // `config check` says where the keys are without printing them.
    let mut cmd = circlet(tmp.path());
    cmd.arg("--data-dir").arg(&data).args(["config", "check"]);
    let out = Run::of(cmd, None);
    let out = out.ok();
    assert!(out.contains("session.key"), "{out}");
    assert!(
        !out.contains(&session_key) && !out.contains(&env_key),
        "{out}"
    );
}

#[tokio::test]
async fn serve_on_postgres_keeps_its_keys_in_the_data_dir_and_is_ready() {
    let instance = Instance::new(BackendKind::Postgres).await;
    let server = instance.serve();
    assert_eq!(mode(&instance.data_dir), 0o700);
    key(&instance.data_dir.join("session.key"));
    key(&instance.data_dir.join("env.key"));
    let browser = Browser::new(&server);
    let ready = browser.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
    let (status, log) = server.stop_with("-INT");
    assert_eq!(
        status.code(),
        Some(0),
        "SIGINT should end serve cleanly:\n{log}"
    );
    assert!(log.contains("circlet stopped"), "{log}");
    assert!(
        log.contains("create the first site admin at http://"),
        "{log}"
    );
    assert!(!log.contains("root@"), "no database URL in the log:\n{log}");
}

#[test]
fn start_up_failures_print_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("file"), "not a directory").unwrap();
    fs::write(
        dir.join("syntax.toml"),
        "listen = \"127.0.0.1:0\"\ndata_dir = \"unterminated\n",
    )
    .unwrap();
    fs::write(
        dir.join("unknown.toml"),
        "listen = \"127.0.0.1:0\"\n\nbogus = 1\n",
    )
    .unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let data = dir.join("data").display().to_string();

    let cases: &[(&str, Vec<&str>, &[&str])] = &[
        (
            "port already in use",
            vec!["--data-dir", &data, "--listen", &taken_addr, "serve"],
            &["cannot listen on", &taken_addr, "in use"],
        ),
        (
            "data dir under a regular file",
            vec!["--data-dir", "file/data", "serve"],
            &["data dir", "file/data"],
        ),
        (
            "data dir that is a regular file",
            vec!["--data-dir", "file", "serve"],
            &["data dir", "not a directory"],
        ),
        (
            "unreachable database",
            vec![
                "--data-dir",
                &data,
                "--database-url",
                "postgres://root@127.0.0.1:1/x",
                "serve",
            ],
            &["database unavailable", "PostgreSQL"],
        ),
        (
            "unreachable database for an admin command",
            vec![
                "--database-url",
                "postgres://root@127.0.0.1:1/x",
                "admin",
                "user",
                "disable",
                "alice",
            ],
            &["database unavailable"],
        ),
        (
            "config file with a syntax error",
            vec!["--config", "syntax.toml", "serve"],
            &["syntax.toml", "line 2"],
        ),
        (
            "config file with an unknown key",
            vec!["--config", "unknown.toml", "serve"],
            &["unknown.toml", "line 3", "bogus"],
        ),
        (
            "missing config file",
            vec!["--config", "missing.toml", "serve"],
            &["cannot read config file", "missing.toml"],
        ),
        (
            "bad listen value",
            vec!["--data-dir", &data, "--listen", "localhost", "serve"],
            &["listen address 'localhost'"],
        ),
        (
            "database URL with an unknown scheme",
            vec!["--database-url", "mysql://root@127.0.0.1/x", "serve"],
            &["sqlite://", "postgres://"],
        ),
        (
            "public URL that is not http",
            vec!["--public-url", "ftp://ci.example", "serve"],
            &["public URL", "ftp://ci.example"],
        ),
    ];
    // Run side by side: the unreachable-database cases each wait out a connect timeout.
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(_, args, _)| {
                scope.spawn(move || {
                    let mut cmd = circlet(dir);
                    cmd.args(args);
                    Run::of(cmd, None)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((what, _, fragments), run) in cases.iter().zip(&runs) {
        let line = run.error_line();
        for fragment in *fragments {
            assert!(
                line.contains(fragment),
                "{what}: the error should mention {fragment:?}: {line}"
            );
        }
    }
    drop(taken);
}

/// Issue 17 item 17: "PostgreSQL unreachable" named no host. The error names where circlet
/// tried to connect (host, port, user, database), for `serve` and an admin command alike, and
/// never the URL's password.
#[test]
fn an_unreachable_postgres_is_named_without_its_password() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data").display().to_string();
    let url = "postgres://ci:hunter2-secret@127.0.0.1:1/circlet_db";
    let commands: [Vec<&str>; 2] = [
        vec!["--data-dir", &data, "--database-url", url, "serve"],
        vec!["--database-url", url, "admin", "user", "disable", "alice"],
    ];
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = commands
            .iter()
            .map(|args| {
                let cwd = tmp.path();
                scope.spawn(move || {
                    let mut cmd = circlet(cwd);
                    cmd.args(args);
                    Run::of(cmd, None)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        run.fails_with(&[
            "database unavailable",
            "PostgreSQL at 127.0.0.1:1",
            "user ci",
            "database circlet_db",
        ]);
        assert!(
            !run.stderr.contains("hunter2"),
            "the password is never shown:\n{}",
            run.stderr
        );
    }
}

/// Issue 11 item 14: a data dir made beforehand with mode 0755 used to get a 0644 database and
/// 0755 artifacts; now serve warns about the directory and keeps what it makes in it private.
#[tokio::test]
async fn a_data_dir_open_to_others_is_warned_about_and_what_serve_puts_in_it_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shared");
    fs::create_dir(&data).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
    let args: Vec<OsString> = vec![
        "--data-dir".into(),
        data.clone().into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--runners".into(),
        "0".into(),
    ];
    let mut server = Server::start(tmp.path(), &args);
    let warning = server.wait_for("a warning about the data dir", |l| {
        l.contains("accessible to other users")
    });
    assert!(
        warning.contains("WARN") && warning.contains(&data.display().to_string()),
        "{warning}"
    );
    // Migrations wrote through the WAL before the server listened: all three files exist.
    let browser = Browser::new(&server);
    assert_eq!(browser.get("/healthz").await.status(), 200);
    for file in [
        "circlet.db",
        "circlet.db-wal",
        "circlet.db-shm",
        "circlet.db.revocations",
        "session.key",
        "env.key",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    for dir in ["artifacts", "repos", "runner-work"] {
        assert_eq!(mode(&data.join(dir)), 0o700, "{dir}");
    }
    assert_eq!(
        mode(&data),
        0o755,
        "the data dir stays as its owner made it"
    );
    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
}
