//! Issue 17 item 13: v2 fields as CircleCI sends them, for strict clients: strings that are
//! never null, `trigger_parameters` in CircleCI's shape, times with milliseconds (and so
//! durations of fast jobs that are not 0), the origin repository's own URL.

use super::{Fx, SLUG};
use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `2026-11-28T13:36:35.120Z`: UTC, exactly three digits of milliseconds.
#[track_caller]
fn millis_time(v: &Value) -> OffsetDateTime {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    let b = s.as_bytes();
    assert!(
        s.len() == 24
            && b[19] == b'.'
            && s.ends_with('Z')
            && b[20..23].iter().all(u8::is_ascii_digit),
        "{s} is not a time with milliseconds"
    );
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

both_backends! {
    setup = TestApp::spawn;

    async fn v2_pipeline_fields_are_typed_and_shaped_as_circleci_sends_them(app) {
        let fx = Fx::new(app).await;
        // A commit with a subject and no body.
        let head = fx.repo.commit_on("feature", &[("README", "x\n")], "no body here");
        let made = fx.v2_trigger(&json!({"branch": "feature", "parameters": {"greeting": "bonjour"}})).await;
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await;
        p.status_is(200);
        let p = p.body;
        assert_eq!(p["trigger"]["actor"]["avatar_url"], "", "a string, never null: {p}");
        assert_eq!(p["vcs"]["commit"]["subject"], "no body here");
        assert_eq!(p["vcs"]["commit"]["body"], "", "a string, never null: {p}");
        assert_eq!(p["vcs"]["origin_repository_url"], fx.repo.url().as_str());
        assert_eq!(p["vcs"]["target_repository_url"], "https://github.com/acme/widget");
        millis_time(&p["created_at"]);
        millis_time(&p["updated_at"]);
        millis_time(&p["trigger"]["received_at"]);
        let made_at = millis_time(&made["created_at"]);
        assert_eq!(made_at, millis_time(&p["created_at"]));

        let t = &p["trigger_parameters"];
        assert_eq!(t["circleci"]["trigger_type"], "api", "{t}");
        millis_time(&t["circleci"]["event_time"]);
        assert_eq!(t["git"]["branch"], "feature");
        assert_eq!(t["git"]["ref"], "refs/heads/feature");
        assert_eq!(t["git"]["checkout_sha"], head.as_str());
        assert_eq!(t["git"]["repo_url"], fx.repo.url().as_str());
        assert_eq!(t["git"]["repo_name"], "widget");
        assert_eq!(t["git"]["commit_message"], "no body here");
        assert_eq!(t["parameters"], json!({"greeting": "bonjour"}));

        // Without parameters there are none to show; a tag build names its tag.
        fx.repo.tag("v2.0");
        let made = fx.v2_trigger(&json!({"tag": "v2.0"})).await;
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await.body;
        let t = &p["trigger_parameters"];
        assert!(t.get("parameters").is_none(), "{t}");
        assert_eq!(t["git"]["tag"], "v2.0");
        assert_eq!(t["git"]["ref"], "refs/tags/v2.0");
        assert!(t["git"].get("branch").is_none(), "{t}");
        // The first commit has a body, shown whole.
        let made = fx.v2_trigger(&json!({"branch": "main"})).await;
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await.body;
        assert_eq!(p["vcs"]["commit"]["body"], "with a body");
    }

    async fn job_times_have_milliseconds_so_fast_jobs_last_more_than_zero(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = crate::builds::id_of(&job);
        runner.start_step(id, 1, "greet", Some("echo hello")).await;
        runner.finish_step(id, 1, "success", Some(0)).await;
        runner.finish(id, "success").await;

        let b = fx.build(1).await;
        let (start, stop) = (millis_time(&b["start_time"]), millis_time(&b["stop_time"]));
        millis_time(&b["queued_at"]);
        assert_eq!(b["build_time_millis"], json!((stop - start).whole_milliseconds() as i64), "{b}");
        let action = &b["steps"].as_array().unwrap().iter().find(|s| s["name"] == "greet").unwrap()["actions"][0];
        let (a, z) = (millis_time(&action["start_time"]), millis_time(&action["end_time"]));
        assert_eq!(action["run_time_millis"], json!((z - a).whole_milliseconds() as i64), "{action}");
        // Stored to the millisecond: four times all on whole seconds would be a one-in-a-
        // trillion coincidence.
        assert!([start, stop, a, z].iter().any(|t| t.millisecond() != 0), "{b}");

        let v2 = fx.get(&format!("/api/v2/project/{SLUG}/job/1")).await;
        v2.status_is(200);
        let (s2, e2) = (millis_time(&v2.body["started_at"]), millis_time(&v2.body["stopped_at"]));
        assert_eq!((s2, e2), (start, stop));
        assert_eq!(v2.body["duration"], b["build_time_millis"]);
    }
}
