//! `circlet admin token …` and `circlet admin audit` on both backends, against a running
//! `circlet serve` on the same store: a created token works at once, a revoked one fails on the
//! next request, and no token value reaches the audit log or the server's log.

use crate::{Instance, Server};
use circlet_core::Login;
use circlet_core::token::{NewToken, TokenKind};
use circlet_store::BackendKind;
use circlet_testkit::both_backends;

both_backends!(
    a_created_token_is_the_only_output_and_works_at_once,
    bad_token_commands_are_refused_in_one_line,
    tokens_are_revoked_by_value_or_id_on_the_running_server,
    a_token_created_with_limits_acts_within_them,
    the_instance_s_longest_token_lifetime_binds_admin_token_create,
);

const PASSWORD: &str = "correct horse battery";

/// `^CCIPAT_[A-Za-z0-9]{22}_[0-9a-f]{40}$`.
fn is_personal_token(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CCIPAT_") else {
        return false;
    };
    let Some((id, hex)) = rest.split_once('_') else {
        return false;
    };
    id.len() == 22
        && id.chars().all(|c| c.is_ascii_alphanumeric())
        && hex.len() == 40
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// An installation with the user `alice`.
fn with_alice(instance: &Instance) {
    instance
        .admin(
            &["user", "create", "alice", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        )
        .ok();
}

/// Runs `admin token create` and returns the one line it printed, checked to be a token.
fn create_token(instance: &Instance, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", "--user", "alice", "--name", "deploy"];
    args.extend_from_slice(extra);
    let run = instance.admin(&args, None);
    let out = run.ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout: {out:?}");
    assert_eq!(out, format!("{}\n", lines[0]), "nothing but the token");
    assert!(is_personal_token(lines[0]), "a personal token: {out:?}");
    assert!(
        !run.stderr.contains(lines[0]),
        "the token is not repeated on stderr: {}",
        run.stderr
    );
    lines[0].to_owned()
}

/// `GET /api/v2/me` with `token` in the `Circle-Token` header: status and body.
async fn me(server: &Server, token: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(server.url("/api/v2/me"))
        .header("Circle-Token", token)
        .send()
        .await
        .expect("GET /api/v2/me");
    (r.status().as_u16(), r.json().await.expect("a JSON body"))
}

async fn a_created_token_is_the_only_output_and_works_at_once(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    with_alice(&instance);
    let server = instance.serve();

    let never = create_token(&instance, &[]);
    let monthly = create_token(&instance, &["--expires-in-days", "30"]);
    assert_ne!(never, monthly);
    for token in [&never, &monthly] {
        let (status, body) = me(&server, token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["login"], "alice");
    }
    // The query-string and Basic forms too, and a mistyped token: none of them may reach the log.
    let client = reqwest::Client::new();
    let by_query = client
        .get(server.url(&format!("/api/v2/me?circle-token={never}")))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), 200);
    let by_basic = client
        .get(server.url("/api/v1.1/me"))
        .basic_auth(&monthly, None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(by_basic.status(), 200);
    let mistyped = format!("{}x", &never[..never.len() - 1]);
    let refused = client
        .get(server.url(&format!("/api/v2/me?circle-token={mistyped}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // A token in the path (v1.1 deletes a project token by its value) or nested in another
    // parameter (the login page's `next`) is no safer in a log line.
    let in_path = client
        .delete(server.url(&format!("/api/v1.1/project/gh/alice/none/token/{never}")))
        .header("Circle-Token", &monthly)
        .send()
        .await
        .unwrap();
    assert_eq!(in_path.status(), 404);
    let nested = client
        .get(server.url(&format!(
            "/login?next=%2Faccount%3Fcircle-token%3D{monthly}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(nested.status(), 200);

    let store = instance.store().await;
    let alice = store
        .users()
        .by_login(&Login::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    let tokens = store.tokens().list_personal(alice.id).await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|t| t.name == "deploy"));
    let expiring: Vec<_> = tokens.iter().filter_map(|t| t.expires_at).collect();
    assert_eq!(expiring.len(), 1, "only --expires-in-days sets an expiry");
    let days = (expiring[0] - time::OffsetDateTime::now_utc()).whole_days();
    assert!((29..=30).contains(&days), "expires in 30 days, not {days}");
    store.close().await;

    let (_, log) = server.stop();
    assert!(
        log.contains("circle-token=[redacted]"),
        "the requests were logged:\n{log}"
    );
    for token in [&never, &monthly, &mistyped] {
        assert!(
            !log.contains(token.as_str()),
            "the server log holds a token:\n{log}"
        );
    }
}

async fn bad_token_commands_are_refused_in_one_line(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    with_alice(&instance);
    let create = |user: &str, name: &str, extra: &[&str]| {
        let mut args = vec!["token", "create", "--user", user, "--name", name];
        args.extend_from_slice(extra);
        instance.admin(&args, None)
    };
    for (run, fragments) in [
        (create("zed", "deploy", &[]), &["'zed'"][..]),
        (create("alice", "  ", &[]), &["name", "1 to 100"][..]),
        (
            create("alice", "deploy", &["--expires-in-days", "0"]),
            &["at least one day"][..],
        ),
        (
            create("alice", "deploy", &["--expires-in-days", "4000000000"]),
            &["too far in the future"][..],
        ),
        // Fine-grained limits: a project, an organization or a role that is not there.
        (
            create("alice", "deploy", &["--project", "gh/acme/missing"]),
            &["There is no project gh/acme/missing among your projects"][..],
        ),
        (
            create("alice", "deploy", &["--org", "gh/nowhere"]),
            &["There is no organization gh/nowhere"][..],
        ),
        (
            create("alice", "deploy", &["--project", "gh/a/b", "--org", "gh/a"]),
            &["not both"][..],
        ),
        (
            create("alice", "deploy", &["--role-ceiling", "owner"]),
            &["unknown role"][..],
        ),
        (
            create("alice", "deploy", &["--org", "acme"]),
            &["organization must look like vcs/org"][..],
        ),
    ] {
        run.fails_with(fragments);
        assert_eq!(run.stdout, "", "a refused create prints no token");
    }

    let revoke = |what: &str| instance.admin(&["token", "revoke", what], None);
    revoke("not-a-token").fails_with(&["neither an API token id nor a valid API token"]);
    revoke("00000000-0000-0000-0000-000000000000").fails_with(&["no API token"]);
    // Well-formed but never issued here: the checksum passes, the store has no such digest.
    let stranger = NewToken::generate(TokenKind::Personal);
    let run = revoke(stranger.expose());
    run.fails_with(&["no API token"]);
    assert!(
        !run.stderr.contains(stranger.expose()),
        "the error does not repeat the token"
    );

    let store = instance.store().await;
    assert!(
        store
            .audit()
            .list(circlet_store::AuditScope::All, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

async fn tokens_are_revoked_by_value_or_id_on_the_running_server(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    with_alice(&instance);
    let server = instance.serve();
    let by_value = create_token(&instance, &[]);
    let by_id = create_token(&instance, &[]);
    let kept = create_token(&instance, &[]);
    for token in [&by_value, &by_id, &kept] {
        assert_eq!(me(&server, token).await.0, 200);
    }

    let out = instance.admin(&["token", "revoke", &by_value], None);
    assert!(
        out.ok().starts_with("revoked personal token \"deploy\""),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(&by_value) && !out.stderr.contains(&by_value));
    assert_eq!(
        me(&server, &by_value).await,
        (
            401,
            serde_json::json!({"message": "Invalid token provided."})
        ),
        "revoked by value: refused on the next request"
    );
    assert_eq!(me(&server, &by_id).await.0, 200, "the others still work");

    let store = instance.store().await;
    let record = store
        .tokens()
        .by_digest(&circlet_core::token::digest(&by_id))
        .await
        .unwrap()
        .expect("the token is stored");
    store.close().await;
    let id = record.uuid.to_string();
    instance.admin(&["token", "revoke", &id], None).ok();
    assert_eq!(
        me(&server, &by_id).await.0,
        401,
        "revoked by id: refused on the next request"
    );
    assert_eq!(me(&server, &kept).await.0, 200);

    instance
        .admin(&["token", "revoke", &id], None)
        .fails_with(&["no API token"]);
    instance
        .admin(&["token", "revoke", &by_value], None)
        .fails_with(&["no API token"]);

    let audit = instance.admin(&["audit"], None);
    let out = audit.ok();
    // `serve` also audits the creation of its embedded runner's token; this test is about
    // the personal tokens it made.
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.contains("runner token"))
        .collect();
    assert_eq!(lines.len(), 5, "three created, two revoked:\n{out}");
    let events: Vec<&str> = lines
        .iter()
        .map(|l| l.split('\t').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        events,
        [
            "token.revoked",
            "token.revoked",
            "token.created",
            "token.created",
            "token.created"
        ],
        "newest first:\n{out}"
    );
    for line in &lines {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields.len(),
            5,
            "time, event, actor, address, detail: {line}"
        );
        assert!(
            fields[0].ends_with('Z') && fields[0].len() == 20,
            "a UTC time: {line}"
        );
        assert_eq!(fields[2], "admin-cli", "{line}");
        assert!(fields[4].contains("personal token \"deploy\""), "{line}");
    }
    assert!(lines[0].contains(&record.last4));
    let limited = instance.admin(&["audit", "--limit", "2"], None);
    assert_eq!(limited.ok().lines().count(), 2);

    let (_, log) = server.stop();
    for token in [&by_value, &by_id, &kept] {
        assert!(
            !out.contains(token.as_str()),
            "the audit log holds a token:\n{out}"
        );
        assert!(
            !log.contains(token.as_str()),
            "the server log holds a token:\n{log}"
        );
    }
}

async fn a_token_created_with_limits_acts_within_them(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    with_alice(&instance);
    for slug in ["gh/acme/api", "gh/acme/web"] {
        instance
            .admin(&["project", "create", slug, "--owner", "alice"], None)
            .ok();
    }
    let run = instance.admin(
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "reader",
            "--project",
            "gh/acme/api",
            "--role-ceiling",
            "read",
        ],
        None,
    );
    let token = run.ok().trim().to_owned();
    assert!(is_personal_token(&token), "{token:?}");
    assert!(
        run.stderr.contains("read on gh/acme/api"),
        "stderr names the limits: {}",
        run.stderr
    );
    let unlimited = create_token(&instance, &[]);
    let server = instance.serve();
    let client = reqwest::Client::new();
    let status = |path: &'static str, token: String| {
        let client = client.clone();
        let url = server.url(path);
        async move {
            client
                .get(url)
                .header("Circle-Token", token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status("/api/v1.1/project/gh/acme/api", token.clone()).await,
        200
    );
    assert_eq!(
        status("/api/v1.1/project/gh/acme/web", token.clone()).await,
        404
    );
    assert_eq!(
        status("/api/v1.1/project/gh/acme/web", unlimited.clone()).await,
        200
    );
    let trigger = client
        .post(server.url("/api/v2/project/gh/acme/api/pipeline"))
        .header("Circle-Token", &token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        trigger.status(),
        403,
        "the read ceiling holds for alice, the admin"
    );
    server.stop();
}

/// Issue 17 item 17: `admin token create` ignored `--max-token-lifetime-days`, making tokens
/// that outlive what the instance promises (or never expire). It now refuses them as the web
/// UI and the API do, saying which flag to use, and makes tokens within the limit.
async fn the_instance_s_longest_token_lifetime_binds_admin_token_create(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    with_alice(&instance);
    let create = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "deploy",
            "--max-token-lifetime-days",
            "30",
        ];
        args.extend_from_slice(extra);
        instance.admin(&args, None)
    };
    create(&[]).fails_with(&["must expire within 30 days", "--expires-in-days"]);
    create(&["--expires-in-days", "31"]).fails_with(&["must expire within 30 days"]);
    let store = instance.store().await;
    let alice = store
        .users()
        .by_login(&Login::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .tokens()
            .list_personal(alice.id)
            .await
            .unwrap()
            .is_empty(),
        "no token was made"
    );
    let run = create(&["--expires-in-days", "30"]);
    assert!(is_personal_token(run.ok().trim()), "{}", run.stdout);
    let made = store.tokens().list_personal(alice.id).await.unwrap();
    assert_eq!(made.len(), 1);
    let left = made[0].expires_at.expect("it expires") - time::OffsetDateTime::now_utc();
    assert!(left <= time::Duration::days(30), "{left}");
    // Without the flag the operator may still choose any lifetime, as before.
    instance
        .admin(
            &["token", "create", "--user", "alice", "--name", "forever"],
            None,
        )
        .ok();
    store.close().await;
}
