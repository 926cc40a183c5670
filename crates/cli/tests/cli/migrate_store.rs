//! `circlet admin migrate-store`: an installation set up on SQLite with the real binary moves to
//! PostgreSQL, and `circlet serve` started there with the same data dir accepts the old
//! personal and project tokens and the browser's session, still refuses the revoked token,
//! and its env.key still opens the env vars.

use crate::{Browser, Instance, Server};
use circlet_store::BackendKind;
use circlet_store::testkit::TestDb;
use std::ffi::OsString;

const PASSWORD: &str = "correct horse battery";

/// `GET path` with `token` in the `Circle-Token` header: status and body.
async fn get(server: &Server, path: &str, token: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(server.url(path))
        .header("Circle-Token", token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `POST path` with a JSON body and `token`: status and JSON reply.
async fn post(
    server: &Server,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(server.url(path))
        .header("Circle-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert_eq!(r.status(), 201, "POST {path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn an_installation_moves_from_sqlite_to_postgres_and_its_tokens_keep_working() {
    // On SQLite, made the way an operator and a user make things.
    let sqlite = Instance::new(BackendKind::Sqlite).await;
    sqlite
        .admin(
            &["user", "create", "alice", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        )
        .ok();
    sqlite
        .admin(
            &[
                "project",
                "create",
                "gh/acme/widgets",
                "--owner",
                "alice",
                "--repo-url",
                "file:///tmp/nowhere",
            ],
            None,
        )
        .ok();
    let token = |name: &str| {
        sqlite
            .admin(
                &["token", "create", "--user", "alice", "--name", name],
                None,
            )
            .ok()
            .trim()
            .to_owned()
    };
    let personal = token("kept");
    let leaked = token("leaked");
    let server = sqlite.serve();
    let status_token = post(
        &server,
        "/api/v1.1/project/gh/acme/widgets/token",
        &personal,
        serde_json::json!({"scope": "status", "label": "README badge"}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &server,
        "/api/v1.1/project/gh/acme/widgets/envvar",
        &personal,
        serde_json::json!({"name": "DEPLOY_KEY", "value": "s3cret-value-42"}),
    )
    .await;
    let browser = Browser::new(&server);
    assert_eq!(browser.log_in("alice", PASSWORD).await.status(), 303);
    assert_eq!(browser.get("/account").await.status(), 200);
    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    sqlite.admin(&["token", "revoke", &leaked], None).ok();

    // The move.
    let postgres = TestDb::postgres().await;
    let migrate = || {
        sqlite.admin(
            &[
                "migrate-store",
                "--from",
                &sqlite.db.url,
                "--to",
                &postgres.url,
            ],
            None,
        )
    };
    let run = migrate();
    let out = run.ok();
    assert!(out.contains("from SQLite to PostgreSQL"), "{out}");
    let rows = |table: &str| -> u64 {
        out.lines()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(table)).then(|| words.next().unwrap().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {table} line in:\n{out}"))
    };
    assert_eq!(rows("users"), 1);
    assert_eq!(rows("projects"), 1);
    assert_eq!(rows("sessions"), 1);
    // The kept personal token, the project token and the embedded runner's.
    assert_eq!(rows("api_tokens"), 3);
    assert_eq!(rows("env_vars"), 1);
    assert!(rows("audit_log") >= 4, "{out}");
    assert!(out.contains("same data dir"), "{out}");
    assert!(!out.contains(&postgres.url), "no URL is printed: {out}");
    // Again: the target holds data now, and nothing changes.
    migrate().fails_with(&["already holds data", "nothing was copied"]);

    // PostgreSQL, same data dir: the old credentials work, the revoked one does not.
    let args: Vec<OsString> = vec![
        "--data-dir".into(),
        sqlite.data_dir.clone().into(),
        "--database-url".into(),
        postgres.url.clone().into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let server = Server::start(sqlite.db.dir(), &args);
    assert!(server.log().contains("Postgres store"), "{}", server.log());

    let (status, body) = get(&server, "/api/v1.1/me", &personal).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"login\":\"alice\""), "{body}");
    let (status, _) = get(&server, "/api/v1.1/me", &leaked).await;
    assert_eq!(status, 401, "the revoked token stays revoked");
    let badge = server.url(&format!("/gh/acme/widgets.svg?circle-token={status_token}"));
    let r = reqwest::get(&badge).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<svg"));
    let anonymous = reqwest::get(server.url("/gh/acme/widgets.svg"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 404, "the project is still private");
    let (status, body) = get(
        &server,
        "/api/v1.1/project/gh/acme/widgets/envvar",
        &personal,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("DEPLOY_KEY"), "{body}");
    // The browser's session cookie, signed with the data dir's session key, still logs in.
    let browser = Browser {
        base: server.url(""),
        ..browser
    };
    assert_eq!(browser.get("/account").await.status(), 200);

    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        !log.contains("created a runner token for the embedded runner"),
        "the embedded runner's token moved too:\n{log}"
    );
    for secret in [&personal, &leaked, &status_token] {
        assert!(!log.contains(secret.as_str()), "a token reached the log");
    }

    // env.key still opens every value: a rotation opens each one to seal it anew.
    let mut rotate = crate::circlet(sqlite.db.dir());
    rotate.args(&args[..4]).args(["admin", "rotate-env-key"]);
    let run = crate::Run::of(rotate, None);
    assert!(run.ok().contains("re-sealed 1 value(s)"), "{}", run.stdout);
}

#[tokio::test]
async fn a_missing_source_or_an_unreachable_target_is_one_error_line() {
    let sqlite = Instance::new(BackendKind::Sqlite).await;
    sqlite
        .admin(
            &["user", "create", "alice", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        )
        .ok();
    let missing = format!("sqlite://{}/nope.db", sqlite.db.dir().display());
    sqlite
        .admin(
            &[
                "migrate-store",
                "--from",
                &missing,
                "--to",
                "postgres://127.0.0.1:1/x",
            ],
            None,
        )
        .fails_with(&["no SQLite database", "nope.db"]);
    assert!(
        !sqlite.db.dir().join("nope.db").exists(),
        "nothing was created"
    );
    // --from defaults to the configured database (the data dir's SQLite file, which exists).
    sqlite
        .admin(&["migrate-store", "--to", "postgres://127.0.0.1:1/x"], None)
        .fails_with(&["cannot open the --to database"]);
}
