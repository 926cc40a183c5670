//! Token notices end to end: `circlet serve --smtp-url` against a real SMTP server on loopback
//! (`aiosmtpd`): a personal token 6 days from expiry and a project token 20 hours from it are
//! emailed about once each by the periodic sweep; a token a job prints is revoked by the leak
//! guard and its owner emailed at once; no email and no log line holds a token; `config check`
//! masks the SMTP password.

use crate::builds::{Api, setup, v1_trigger};
use crate::{Run, circlet};
use circlet_store::BackendKind;
use circlet_testkit::{GitRepo, SmtpSink};
use serde_json::json;
use std::ffi::OsString;
use time::{Duration, OffsetDateTime};

const LEAKY: &str = r#"
version: 2
jobs:
  leaky:
    steps:
      - run: echo "my token is $HEAD$TAIL, oops"
workflows:
  main:
    jobs: [leaky]
"#;

/// Makes a project token of gh/acme/widget expiring at `at`; its value.
async fn project_token(api: &Api<'_>, label: &str, at: OffsetDateTime) -> String {
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = api
        .post(
            "/api/v1.1/project/gh/acme/widget/token",
            json!({"scope": "all", "label": label, "expires_at": at}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn expiring_and_leaked_tokens_are_emailed_once_and_never_in_full() {
    let sink = SmtpSink::start();
    let repo = GitRepo::with_config(LEAKY);
    let (inst, e2e) = setup(BackendKind::Sqlite, &repo).await;
    let week = inst
        .admin(
            &[
                "token",
                "create",
                "--user",
                "alice",
                "--name",
                "laptop",
                "--expires-in-days",
                "6",
            ],
            None,
        )
        .ok()
        .trim()
        .to_owned();
    let mut args = inst.args();
    args.extend(
        [
            "--listen",
            "127.0.0.1:0",
            "--smtp-url",
            &sink.url(),
            "--smtp-from",
            "circlet <ci@example.test>",
            "--notice-interval-secs",
            "1",
        ]
        .map(OsString::from),
    );
    let mut server = crate::Server::start(inst.db.dir(), &args);
    server.wait_for("the mail line", |l| {
        l.contains("token notices are emailed from")
    });
    let api = Api::new(&server, &e2e);
    let day = project_token(
        &api,
        "deploy",
        OffsetDateTime::now_utc() + Duration::hours(20),
    )
    .await;

    // The sweep finds both: one email each.
    let mails = sink.wait_for(2);
    let subject_of = |want: &str| {
        mails
            .iter()
            .find(|m| m.subject.contains(want))
            .unwrap_or_else(|| panic!("no email about {want}: {mails:#?}"))
            .clone()
    };
    let laptop = subject_of("personal API token 'laptop'");
    assert!(
        laptop.subject.ends_with("expires in 6 days"),
        "{}",
        laptop.subject
    );
    assert_eq!(laptop.rcpt_to, "alice@localhost");
    assert_eq!(laptop.mail_from, "ci@example.test");
    assert!(
        laptop.body.contains(&server.url("/account/tokens")),
        "{}",
        laptop.body
    );
    let deploy = subject_of("project API token 'deploy'");
    assert!(
        deploy
            .subject
            .ends_with("of gh/acme/widget expires in 20 hours"),
        "{}",
        deploy.subject
    );
    assert!(
        deploy
            .body
            .contains(&server.url("/projects/gh/acme/widget/settings/api")),
        "{}",
        deploy.body
    );

    // A job prints the 6-day token (given in two halves, neither of them a token): the leak
    // guard revokes it and its owner is emailed now.
    let (head, tail) = week.split_at(week.len() / 2);
    let num = v1_trigger(
        &api,
        &[
            ("build_parameters[CIRCLE_JOB]", "leaky"),
            ("build_parameters[HEAD]", head),
            ("build_parameters[TAIL]", tail),
        ],
    )
    .await;
    api.finished(num).await;
    let mails = sink.wait_for(3);
    let revoked = &mails[2];
    assert_eq!(
        revoked.subject,
        format!(
            "[circlet] Your personal API token 'laptop' (…{}) was revoked because it leaked",
            &week[week.len() - 4..]
        )
    );
    assert!(
        revoked.body.contains(&format!(
            "was printed in the output of build #{num} of gh/acme/widget and has been revoked"
        )),
        "{}",
        revoked.body
    );

    // A token made now is found by a later sweep: the sweeps go on, and tell nothing twice.
    let later = project_token(
        &api,
        "nightly",
        OffsetDateTime::now_utc() + Duration::days(3),
    )
    .await;
    let mails = sink.wait_for(4);
    assert!(mails[3].subject.contains("'nightly'"), "{:#?}", mails[3]);
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    let mails = sink.messages();
    assert_eq!(mails.len(), 4, "{mails:#?}");
    let mut subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    subjects.dedup();
    assert_eq!(subjects.len(), 4);
    for value in [&week, &day, &later, &e2e] {
        assert!(!log.contains(value.as_str()), "a token in the log");
        for m in &mails {
            assert!(
                !m.raw.contains(value.as_str()) && !m.body.contains(value.as_str()),
                "a token in {m:#?}"
            );
        }
    }
}

#[test]
fn config_check_masks_the_smtp_password() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::of(
        {
            let mut cmd = circlet(tmp.path());
            cmd.args([
                "--smtp-url",
                "smtps://circlet:hunter2-secret@mail.example.com:465",
                "--smtp-from",
                "ci@example.com",
                "config",
                "check",
            ]);
            cmd
        },
        None,
    );
    let out = run.ok();
    assert!(
        out.contains("smtp_url = \"smtps://circlet:****@mail.example.com:465\""),
        "{out}"
    );
    assert!(out.contains("smtp_from = \"ci@example.com\""), "{out}");
    assert!(!out.contains("hunter2") && !run.stderr.contains("hunter2"));

    // A password that would go out in the clear stops the check, unnamed.
    let run = Run::of(
        {
            let mut cmd = circlet(tmp.path());
            cmd.env(
                "CIRCLET_SMTP_URL",
                "smtp://circlet:hunter2-secret@mail.example.com:587",
            )
            .env("CIRCLET_SMTP_FROM", "ci@example.com")
            .args(["config", "check"]);
            cmd
        },
        None,
    );
    run.fails_with(&["unencrypted"]);
    assert!(!run.stderr.contains("hunter2"));
}
