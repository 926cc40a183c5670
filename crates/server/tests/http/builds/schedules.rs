//! Scheduled pipelines (issue 15, item 4): API v2's schedules in CircleCI's shapes, and the
//! scheduler driven with the test's own clock: each due run fires once (also with two replicas
//! racing for it), a run long past is logged as missed and not fired, a schedule acts as its
//! actor only while they may trigger, and a config's `triggers: schedule: cron` runs its workflow.

use super::{Fx, SLUG};
use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A timetable firing once an hour, in an hour two hours from now, every day: never due
/// while a test runs on the real clock (the server's own scheduler ticks meanwhile).
fn timetable() -> Value {
    let hour = (OffsetDateTime::now_utc().hour() + 2) % 24;
    json!({
        "per-hour": 1,
        "hours-of-day": [hour],
        "days-of-week": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
    })
}

async fn create(fx: &Fx, body: &Value) -> Value {
    let r = fx
        .post_json(&format!("/api/v2/project/{SLUG}/schedule"), body)
        .await;
    r.status_is(201);
    r.body
}

/// When schedule `id` is next due.
async fn next_run(fx: &Fx, id: &str) -> OffsetDateTime {
    fx.app
        .store
        .schedules()
        .by_uuid(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .next_run_at
        .expect("the schedule is due some time")
}

both_backends! {
    setup = TestApp::spawn;

    async fn a_due_schedule_fires_once_even_with_two_replicas_racing(app) {
        let fx = Fx::new(app).await;
        let s = create(&fx, &json!({
            "name": "nightly",
            "description": "every night",
            "attribution-actor": "current",
            "parameters": {"branch": "main", "greeting": "from-the-schedule"},
            "timetable": timetable(),
        })).await;
        let id = s["id"].as_str().unwrap().to_owned();
        let due = next_run(&fx, &id).await;
        assert_eq!(due.minute(), 0);
        assert!(due > OffsetDateTime::now_utc());

        // Not yet due: nothing.
        let early = fx.app.state.app.fire_due_schedules(due - time::Duration::seconds(1)).await.unwrap();
        assert_eq!(early, (0, 0));

        let other = fx.app.replica().await;
        let at = due + time::Duration::seconds(20);
        let (a, b) = tokio::join!(
            fx.app.state.app.fire_due_schedules(at),
            other.state.app.fire_due_schedules(at),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.0 + b.0, 1, "fired {a:?} and {b:?}");
        let made = fx.pipelines().await;
        assert_eq!(made.len(), 1);
        assert_eq!(made[0]["trigger"]["type"], "scheduled_pipeline");
        assert_eq!(made[0]["trigger"]["actor"]["login"], "ada");
        assert_eq!(made[0]["vcs"]["branch"], "main");
        assert_eq!(made[0]["trigger_parameters"]["parameters"]["greeting"], "from-the-schedule");
        // Moved on to the same hour the next day.
        assert_eq!(next_run(&fx, &id).await, due + time::Duration::days(1));
        assert_eq!(fx.app.state.app.fire_due_schedules(at).await.unwrap(), (0, 0));
    }
}

#[tokio::test]
async fn schedules_are_made_read_changed_and_removed_in_circleci_s_shapes() {
    let fx = Fx::new(TestApp::spawn(circlet_store::BackendKind::Sqlite).await).await;
    let s = create(
        &fx,
        &json!({
            "name": "hourly",
            "attribution-actor": "system",
            "parameters": {"tag": "v1"},
            "timetable": {"per-hour": 2, "hours-of-day": [1, 2], "days-of-month": [1, 15], "months": ["JAN"]},
        }),
    )
    .await;
    assert_eq!(s["project-slug"], SLUG);
    assert_eq!(s["parameters"], json!({"tag": "v1"}));
    assert_eq!(s["timetable"]["per-hour"], 2);
    assert_eq!(s["timetable"]["days-of-month"], json!([1, 15]));
    assert_eq!(s["actor"]["login"], "system");
    let id = s["id"].as_str().unwrap();

    let listed = fx.get(&format!("/api/v2/project/{SLUG}/schedule")).await;
    listed.status_is(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["next_page_token"], Value::Null);
    let got = fx.get(&format!("/api/v2/schedule/{id}")).await;
    got.status_is(200);
    assert_eq!(got.body["name"], "hourly");

    let changed = fx
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v2/schedule/{id}"),
            &json!({"name": "renamed", "attribution-actor": "current"}),
        )
        .await;
    changed.status_is(200);
    assert_eq!(changed.body["name"], "renamed");
    assert_eq!(changed.body["actor"]["login"], "ada");
    assert_eq!(changed.body["parameters"], json!({"tag": "v1"}), "kept");

    // Bad input: a clear 400 naming the problem; a taken name 409.
    for (body, says) in [
        (
            json!({"name": "x", "attribution-actor": "current", "timetable": {"per-hour": 0, "hours-of-day": [1], "days-of-week": ["MON"]}}),
            "per-hour",
        ),
        (
            json!({"name": "x", "attribution-actor": "current", "timetable": {"per-hour": 1, "hours-of-day": [1], "days-of-week": ["MON"], "days-of-month": [1]}}),
            "either",
        ),
        (
            json!({"name": "x", "attribution-actor": "someone", "timetable": timetable()}),
            "attribution-actor",
        ),
        (
            json!({"name": "x", "attribution-actor": "current", "parameters": {"branch": "a", "tag": "b"}, "timetable": timetable()}),
            "not both",
        ),
        (
            json!({"name": "", "attribution-actor": "current", "timetable": timetable()}),
            "name",
        ),
        (
            json!({"name": "x", "attribution-actor": "current"}),
            "timetable",
        ),
    ] {
        let r = fx
            .post_json(&format!("/api/v2/project/{SLUG}/schedule"), &body)
            .await;
        r.status_is(400);
        let message = r.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{message} should name {says}");
    }
    let dup = fx
        .post_json(
            &format!("/api/v2/project/{SLUG}/schedule"),
            &json!({"name": "renamed", "attribution-actor": "current", "timetable": timetable()}),
        )
        .await;
    dup.status_is(409);

    // A reader reads but does not change; an outsider does not see.
    let reader = fx.app.user("rita", false).await;
    fx.app
        .store
        .projects()
        .set_member(fx.project.id, reader.id, circlet_core::Role::Read)
        .await
        .unwrap();
    let rita = fx.app.personal_token(&reader).await;
    fx.get_as(&rita, &format!("/api/v2/schedule/{id}"))
        .await
        .status_is(200);
    let outsider = fx.app.user("otto", false).await;
    let otto = fx.app.personal_token(&outsider).await;
    fx.get_as(&otto, &format!("/api/v2/schedule/{id}"))
        .await
        .status_is(404);
    fx.get_as(&otto, "/api/v2/schedule/not-a-uuid")
        .await
        .status_is(404);

    let gone = fx
        .send_json(
            reqwest::Method::DELETE,
            &format!("/api/v2/schedule/{id}"),
            &json!({}),
        )
        .await;
    gone.status_is(200);
    fx.get(&format!("/api/v2/schedule/{id}"))
        .await
        .status_is(404);
}

#[tokio::test]
async fn a_missed_run_is_not_fired_late_and_an_actor_without_rights_fires_nothing() {
    let fx = Fx::new(TestApp::spawn(circlet_store::BackendKind::Sqlite).await).await;
    let s = create(
        &fx,
        &json!({"name": "n", "attribution-actor": "current", "timetable": timetable()}),
    )
    .await;
    let id = s["id"].as_str().unwrap().to_owned();
    let due = next_run(&fx, &id).await;
    // The server was down for a day and a half: one missed run, nothing fired, the next run
    // is the first one after now.
    let later = due + time::Duration::hours(36);
    assert_eq!(
        fx.app.state.app.fire_due_schedules(later).await.unwrap(),
        (0, 1)
    );
    assert!(fx.pipelines().await.is_empty());
    let next = next_run(&fx, &id).await;
    assert!(
        next > later && next - later <= time::Duration::days(1),
        "{next}"
    );

    // Its actor may no longer trigger: the run passes without a pipeline.
    let writer = fx.app.user("wes", false).await;
    fx.app
        .store
        .projects()
        .set_member(fx.project.id, writer.id, circlet_core::Role::Write)
        .await
        .unwrap();
    let wes = fx.app.personal_token(&writer).await;
    // Nobody's rights are checked when a system schedule fires: only admins make one.
    let system = reqwest::Client::new()
        .post(fx.app.at(&format!("/api/v2/project/{SLUG}/schedule")))
        .header("Circle-Token", &wes)
        .json(&json!({"name": "sys", "attribution-actor": "system", "timetable": timetable()}))
        .send()
        .await
        .unwrap();
    assert_eq!(system.status(), 403);
    let r = send_as(
        &fx,
        &wes,
        &json!({"name": "wes's", "attribution-actor": "current", "timetable": timetable()}),
    )
    .await;
    let wes_id = r["id"].as_str().unwrap().to_owned();
    fx.app
        .store
        .projects()
        .set_member(fx.project.id, writer.id, circlet_core::Role::Read)
        .await
        .unwrap();
    let due = next_run(&fx, &wes_id).await;
    fx.app
        .state
        .app
        .fire_due_schedules(due + time::Duration::seconds(5))
        .await
        .unwrap();
    assert!(fx.pipelines().await.is_empty());
}

async fn send_as(fx: &Fx, token: &str, body: &Value) -> Value {
    let r = reqwest::Client::new()
        .post(fx.app.at(&format!("/api/v2/project/{SLUG}/schedule")))
        .header("Circle-Token", token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

const SCHEDULED_CONFIG: &str = r#"version: 2.1
jobs:
  build:
    steps: [checkout]
  report:
    steps:
      - run: echo nightly
workflows:
  push:
    jobs: [build]
  nightly:
    triggers:
      - schedule:
          cron: "30 3 * * *"
          filters:
            branches:
              only: [main]
    jobs: [report]
"#;

#[tokio::test]
async fn a_config_s_cron_trigger_runs_its_workflow_on_its_branch() {
    let fx = Fx::new(TestApp::spawn(circlet_store::BackendKind::Sqlite).await).await;
    fx.repo.commit(
        &[(".circleci/config.yml", SCHEDULED_CONFIG)],
        "nightly report",
    );
    // A pipeline of main reads the config: the push workflow runs, the nightly one is noted.
    fx.v2_trigger(&json!({"branch": "main"})).await;
    let noted = fx
        .app
        .store
        .schedules()
        .of_project(fx.project.id, "config", 0, 10)
        .await
        .unwrap();
    assert_eq!(noted.len(), 1);
    assert_eq!(noted[0].workflow.as_deref(), Some("nightly"));
    let due = noted[0].next_run_at.unwrap();
    assert_eq!((due.hour(), due.minute()), (3, 30));
    // Another branch's pipeline leaves main's schedule alone and adds none.
    fx.repo.commit_on("feature", &[("f", "1")], "f");
    fx.v2_trigger(&json!({"branch": "feature"})).await;
    assert_eq!(
        fx.app
            .store
            .schedules()
            .of_project(fx.project.id, "config", 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    assert_eq!(
        fx.app
            .state
            .app
            .fire_due_schedules(due + time::Duration::seconds(30))
            .await
            .unwrap(),
        (1, 0)
    );
    let newest = &fx.pipelines().await[0];
    assert_eq!(newest["trigger"]["type"], "scheduled_pipeline");
    let id = newest["id"].as_str().unwrap();
    let workflows = fx.get(&format!("/api/v2/pipeline/{id}/workflow")).await;
    let names: Vec<&str> = workflows.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nightly"]);

    // The trigger removed from main's config: the next pipeline of main forgets it.
    fx.repo.commit(
        &[(".circleci/config.yml", super::CONFIG)],
        "no more nightly",
    );
    fx.v2_trigger(&json!({"branch": "main"})).await;
    assert!(
        fx.app
            .store
            .schedules()
            .of_project(fx.project.id, "config", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
