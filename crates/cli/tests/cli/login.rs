//! A user made with the admin CLI logs in through the web pages like a browser would, on both
//! backends; disabling them with the CLI ends their session at once.

use crate::{Browser, Instance};
use circlet_store::BackendKind;
use circlet_testkit::both_backends;

both_backends!(
    a_cli_user_logs_in_in_the_browser,
    a_generated_password_logs_in,
);

const PASSWORD: &str = "correct horse battery";

async fn a_cli_user_logs_in_in_the_browser(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    let mut server = instance.serve();
    server.wait_for("the setup URL", |l| l.contains("/setup?code="));
    instance
        .admin(
            &["user", "create", "alice", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        )
        .ok();
    instance
        .admin(
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

    let browser = Browser::new(&server);
    let home = browser.get("/").await;
    assert_eq!(home.status(), 303, "anonymous visitors are sent to log in");
    assert!(location(&home).starts_with("/login"), "{}", location(&home));

    for (login, password) in [
        ("alice", "not the password"),
        ("nobody", PASSWORD),
        ("Bad Login!", PASSWORD),
    ] {
        let refused = browser.log_in(login, password).await;
        assert_eq!(refused.status(), 401, "{login} / {password}");
        let page = refused.text().await.unwrap();
        assert!(page.contains("Incorrect login or password."), "{page}");
    }

    let response = browser.log_in("alice", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let home = browser.get("/").await;
    assert_eq!(home.status(), 200);
    let page = home.text().await.unwrap();
    assert!(page.contains("Projects"), "{page}");
    assert!(page.contains("gh/acme/widgets"), "{page}");

    // Disabling in the CLI ends the browser session at once and keeps alice out.
    instance.admin(&["user", "disable", "alice"], None).ok();
    let home = browser.get("/").await;
    assert_eq!(home.status(), 303, "the session ended");
    let refused = browser.log_in("alice", PASSWORD).await;
    assert_eq!(refused.status(), 401);
    let page = refused.text().await.unwrap();
    assert!(page.contains("disabled"), "{page}");

    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains(PASSWORD), "no password in the log:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
}

async fn a_generated_password_logs_in(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    let run = instance.admin(&["user", "create", "bob"], None);
    let password = run
        .ok()
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password line in:\n{}", run.stdout))
        .to_owned();
    let server = instance.serve();
    let browser = Browser::new(&server);
    assert_eq!(browser.log_in("bob", &password).await.status(), 303);
    assert_eq!(browser.get("/").await.status(), 200);
    let (status, log) = server.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains(&password), "no password in the log:\n{log}");
}

fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}
