//! API v2: `POST /project/{slug}/pipeline` and reading pipelines, workflows and jobs, every
//! required field of circleci-api.md §4.2 present with its type.

use super::{Fx, Req, SLUG, Ty, check_schema};
use crate::app::TestApp;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

use Req::{Is, OrNull};

/// PipelineCreation (the trigger's 201 body).
const CREATION: &[(&str, Req)] = &[
    ("id", Is(Ty::Uuid)),
    ("state", Is(Ty::Str)),
    ("number", Is(Ty::Int)),
    ("created_at", Is(Ty::Time)),
];

/// Pipeline.
const PIPELINE: &[(&str, Req)] = &[
    ("id", Is(Ty::Uuid)),
    ("errors", Is(Ty::Arr)),
    ("project_slug", Is(Ty::Str)),
    ("updated_at", Is(Ty::Time)),
    ("number", Is(Ty::Int)),
    ("trigger_parameters", Is(Ty::Obj)),
    ("state", Is(Ty::Str)),
    ("created_at", Is(Ty::Time)),
    ("trigger", Is(Ty::Obj)),
    ("trigger/type", Is(Ty::Str)),
    ("trigger/received_at", Is(Ty::Time)),
    ("trigger/actor", Is(Ty::Obj)),
    ("trigger/actor/login", Is(Ty::Str)),
    ("trigger/actor/avatar_url", Is(Ty::Str)),
    ("vcs", Is(Ty::Obj)),
    ("vcs/provider_name", Is(Ty::Str)),
    ("vcs/target_repository_url", Is(Ty::Str)),
    ("vcs/origin_repository_url", Is(Ty::Str)),
    ("vcs/revision", OrNull(Ty::Str)),
    ("vcs/commit", Is(Ty::Obj)),
    ("vcs/commit/subject", Is(Ty::Str)),
    ("vcs/commit/body", Is(Ty::Str)),
];

/// Workflow.
const WORKFLOW: &[(&str, Req)] = &[
    ("id", Is(Ty::Uuid)),
    ("name", Is(Ty::Str)),
    ("pipeline_id", Is(Ty::Uuid)),
    ("pipeline_number", Is(Ty::Int)),
    ("project_slug", Is(Ty::Str)),
    ("status", Is(Ty::Str)),
    ("started_by", Is(Ty::Uuid)),
    ("created_at", Is(Ty::Time)),
    ("stopped_at", OrNull(Ty::Time)),
];

/// WorkflowJob.
const WORKFLOW_JOB: &[(&str, Req)] = &[
    ("id", Is(Ty::Uuid)),
    ("name", Is(Ty::Str)),
    ("type", Is(Ty::Str)),
    ("status", Is(Ty::Str)),
    ("dependencies", Is(Ty::Arr)),
    ("project_slug", Is(Ty::Str)),
    ("started_at", OrNull(Ty::Time)),
    ("job_number", Is(Ty::Int)),
];

/// JobDetails.
const JOB_DETAILS: &[(&str, Req)] = &[
    ("web_url", Is(Ty::Str)),
    ("project", Is(Ty::Obj)),
    ("project/id", Is(Ty::Uuid)),
    ("project/slug", Is(Ty::Str)),
    ("project/name", Is(Ty::Str)),
    ("project/external_url", Is(Ty::Str)),
    ("parallel_runs", Is(Ty::Arr)),
    ("parallel_runs/0/index", Is(Ty::Int)),
    ("parallel_runs/0/status", Is(Ty::Str)),
    ("started_at", OrNull(Ty::Time)),
    ("latest_workflow", Is(Ty::Obj)),
    ("latest_workflow/id", Is(Ty::Uuid)),
    ("latest_workflow/name", Is(Ty::Str)),
    ("name", Is(Ty::Str)),
    ("executor", Is(Ty::Obj)),
    ("executor/resource_class", Is(Ty::Str)),
    ("parallelism", Is(Ty::Int)),
    ("status", Is(Ty::Str)),
    ("number", Is(Ty::Int)),
    ("pipeline", Is(Ty::Obj)),
    ("pipeline/id", Is(Ty::Uuid)),
    ("duration", OrNull(Ty::Int)),
    ("created_at", Is(Ty::Time)),
    ("messages", Is(Ty::Arr)),
    ("contexts", Is(Ty::Arr)),
    ("organization", Is(Ty::Obj)),
    ("organization/name", Is(Ty::Str)),
    ("queued_at", Is(Ty::Time)),
    ("stopped_at", OrNull(Ty::Time)),
];

const WORKFLOW_STATUSES: [&str; 9] = [
    "success",
    "running",
    "not_run",
    "failed",
    "error",
    "failing",
    "on_hold",
    "canceled",
    "unauthorized",
];

const JOB_STATUSES: [&str; 14] = [
    "success",
    "running",
    "not_run",
    "failed",
    "retried",
    "queued",
    "not_running",
    "infrastructure_fail",
    "timedout",
    "on_hold",
    "terminated-unknown",
    "blocked",
    "canceled",
    "unauthorized",
];

fn strs<'a>(items: &'a [Value], key: &str) -> Vec<&'a str> {
    items
        .iter()
        .map(|i| i[key].as_str().unwrap_or("<not a string>"))
        .collect()
}

both_backends! {
    setup = TestApp::spawn;
    async fn v2_trigger_with_plain_and_encoded_slugs_and_every_read_matches_the_schema(app) {
        let fx = Fx::new(app).await;
        let head = fx.repo.head();
        // No body at all: the default branch.
        let r = fx.post_empty(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        r.status_is(201);
        check_schema("PipelineCreation", &r.body, CREATION);
        assert_eq!(r.body["number"], json!(1));
        assert_eq!(r.body["state"], "created");
        let first = r.body["id"].as_str().unwrap().to_owned();
        // The %2F-encoded slug names the same project.
        let r = fx.post_json("/api/v2/project/gh%2Facme%2Fwidget/pipeline", &json!({"branch": "main"})).await;
        r.status_is(201);
        assert_eq!(r.body["number"], json!(2));

        let p = fx.get(&format!("/api/v2/pipeline/{first}")).await;
        p.status_is(200);
        check_schema("Pipeline", &p.body, PIPELINE);
        let p = p.body;
        assert_eq!(p["id"], first.as_str());
        assert_eq!(p["number"], json!(1));
        assert_eq!(p["state"], "created");
        assert_eq!(p["errors"], json!([]));
        assert_eq!(p["project_slug"], SLUG);
        assert_eq!(p["trigger"]["type"], "api");
        assert_eq!(p["trigger"]["actor"]["login"], "ada");
        assert_eq!(p["vcs"]["branch"], "main");
        assert_eq!(p["vcs"]["revision"], head.as_str());
        assert_eq!(p["vcs"]["provider_name"], "GitHub");
        assert_eq!(p["vcs"]["commit"]["subject"], "first commit");
        assert_eq!(p["vcs"]["commit"]["body"], "with a body");
        assert!(p["vcs"].get("tag").is_none_or(Value::is_null), "no tag on a branch build: {p}");

        let by_number = fx.get(&format!("/api/v2/project/{SLUG}/pipeline/1")).await;
        by_number.status_is(200);
        assert_eq!(by_number.body, p, "by number and by id are the same pipeline");
        let by_number = fx.get("/api/v2/project/gh%2Facme%2Fwidget/pipeline/2").await;
        by_number.status_is(200);
        assert_eq!(by_number.body["number"], json!(2));

        let ws = fx.get(&format!("/api/v2/pipeline/{first}/workflow")).await;
        ws.status_is(200);
        assert_eq!(ws.body["next_page_token"], Value::Null);
        let items = ws.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", ws.text);
        let w = &items[0];
        check_schema("Workflow", w, WORKFLOW);
        assert_eq!(w["name"], "main");
        assert_eq!(w["pipeline_id"], first.as_str());
        assert_eq!(w["pipeline_number"], json!(1));
        assert_eq!(w["project_slug"], SLUG);
        assert_eq!(w["status"], "running");
        assert_eq!(w["stopped_at"], Value::Null);
        let wid = w["id"].as_str().unwrap();
        let one = fx.get(&format!("/api/v2/workflow/{wid}")).await;
        one.status_is(200);
        assert_eq!(&one.body, w);

        let jobs = fx.get(&format!("/api/v2/workflow/{wid}/job")).await;
        jobs.status_is(200);
        assert_eq!(jobs.body["next_page_token"], Value::Null);
        let jobs = jobs.body["items"].as_array().unwrap().clone();
        for j in &jobs {
            check_schema("WorkflowJob", j, WORKFLOW_JOB);
            assert!(JOB_STATUSES.contains(&j["status"].as_str().unwrap()), "{j}");
            assert_eq!(j["type"], "build");
        }
        assert_eq!(strs(&jobs, "name"), ["build", "test", "deploy"]);
        assert_eq!(strs(&jobs, "status"), ["queued", "blocked", "blocked"]);
        assert_eq!(jobs[0]["dependencies"], json!([]));
        assert_eq!(jobs[1]["dependencies"], json!([jobs[0]["id"]]));
        assert_eq!(jobs[2]["dependencies"], json!([jobs[1]["id"]]));
        let numbers: Vec<i64> = jobs.iter().map(|j| j["job_number"].as_i64().unwrap()).collect();
        assert_eq!(numbers, [1, 2, 3]);

        let job = fx.get("/api/v2/project/gh%2Facme%2Fwidget/job/1").await;
        job.status_is(200);
        check_schema("JobDetails", &job.body, JOB_DETAILS);
        let job = job.body;
        assert_eq!(job["name"], "build");
        assert_eq!(job["number"], json!(1));
        assert_eq!(job["status"], "queued");
        assert_eq!(job["pipeline"]["id"], first.as_str());
        assert_eq!(job["latest_workflow"]["id"], wid);
        assert_eq!(job["latest_workflow"]["name"], "main");
        assert_eq!(job["project"]["slug"], SLUG);
        assert_eq!(job["project"]["id"], fx.project.uuid.to_string());
        assert_eq!(job["web_url"], fx.app.at("/gh/acme/widget/1"));
        assert_eq!(job["duration"], Value::Null);
        let plain = fx.get(&format!("/api/v2/project/{SLUG}/job/1")).await;
        plain.status_is(200);
        assert_eq!(plain.body["name"], "build");
        fx.get(&format!("/api/v2/project/{SLUG}/job/99")).await.status_is(404);
        fx.get(&format!("/api/v2/pipeline/{}", uuid::Uuid::new_v4())).await.status_is(404);

        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        list.status_is(200);
        let items = list.body["items"].as_array().unwrap();
        let numbers: Vec<i64> = items.iter().map(|p| p["number"].as_i64().unwrap()).collect();
        assert_eq!(numbers, [2, 1], "newest first");
        for p in items {
            check_schema("Pipeline in a list", p, PIPELINE);
        }
        assert_eq!(list.body["next_page_token"], Value::Null);
    }

    async fn v2_triggers_a_branch_a_tag_and_passes_parameters(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        // Parameters reach the steps through << pipeline.parameters.greeting >>.
        let made = fx.v2_trigger(&json!({"parameters": {"greeting": "bonjour"}})).await;
        assert_eq!(made["state"], "created");
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await;
        assert_eq!(p.body["trigger_parameters"]["parameters"], json!({"greeting": "bonjour"}));
        let job = runner.claim_some().await;
        assert_eq!(job["steps"][1]["run"]["command"], "echo bonjour", "{job}");
        // Failed, so its dependents are given up and the queue holds only what comes next.
        runner.finish(crate::builds::id_of(&job), "failed").await;
        // Without parameters the declared default is used.
        fx.v2_trigger(&json!({})).await;
        let job = runner.claim_some().await;
        assert_eq!(job["steps"][1]["run"]["command"], "echo hello", "{job}");

        let feature = fx.repo.commit_on("feature", &[("README", "feature\n")], "feature work");
        let main_head = fx.repo.head();
        fx.repo.tag("v1.0");
        let made = fx.v2_trigger(&json!({"branch": "feature"})).await;
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await.body;
        assert_eq!(p["vcs"]["branch"], "feature");
        assert_eq!(p["vcs"]["revision"], feature.as_str());
        assert_eq!(p["vcs"]["commit"]["subject"], "feature work");
        let ws = fx.get(&format!("/api/v2/pipeline/{}/workflow", p["id"].as_str().unwrap())).await;
        let wid = ws.body["items"][0]["id"].as_str().unwrap().to_owned();
        let jobs = fx.get(&format!("/api/v2/workflow/{wid}/job")).await;
        let items = jobs.body["items"].as_array().unwrap();
        assert_eq!(strs(items, "name"), ["build", "test"], "deploy runs on main only");

        let made = fx.v2_trigger(&json!({"tag": "v1.0"})).await;
        let p = fx.get(&format!("/api/v2/pipeline/{}", made["id"].as_str().unwrap())).await;
        check_schema("Pipeline of a tag", &p.body, PIPELINE);
        assert_eq!(p.body["vcs"]["tag"], "v1.0");
        assert!(p.body["vcs"].get("branch").is_none_or(Value::is_null), "{}", p.text);
        assert_eq!(p.body["vcs"]["revision"], main_head.as_str(), "the commit, not the tag object");

        // The list filters by branch.
        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline?branch=feature")).await;
        let items = list.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", list.text);
        assert_eq!(items[0]["vcs"]["branch"], "feature");
    }

    async fn v2_pipeline_list_pages_by_twenty_with_a_page_token(app) {
        let fx = Fx::new(app).await;
        for _ in 0..20 {
            fx.v2_trigger(&json!({})).await;
        }
        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 20);
        assert_eq!(list.body["next_page_token"], Value::Null, "exactly one full page: no next page");
        fx.v2_trigger(&json!({})).await;
        let list = fx.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        let items = list.body["items"].as_array().unwrap();
        let numbers: Vec<i64> = items.iter().map(|p| p["number"].as_i64().unwrap()).collect();
        assert_eq!(numbers, (2..=21).rev().collect::<Vec<_>>());
        let token = list.body["next_page_token"].as_str().expect("a next page").to_owned();
        assert!(!token.is_empty());
        let page2 = fx.get(&format!("/api/v2/project/{SLUG}/pipeline?page-token={token}")).await;
        page2.status_is(200);
        let items = page2.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", page2.text);
        assert_eq!(items[0]["number"], json!(1));
        assert_eq!(page2.body["next_page_token"], Value::Null);
        let bad = fx.get(&format!("/api/v2/project/{SLUG}/pipeline?page-token=not-ours")).await;
        bad.status_is(400);
        assert!(!bad.message().is_empty());
    }

    async fn v2_workflow_status_follows_its_jobs(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let made = fx.v2_trigger(&json!({"branch": "main"})).await;
        let pid = made["id"].as_str().unwrap();
        let ws = fx.get(&format!("/api/v2/pipeline/{pid}/workflow")).await;
        let wid = ws.body["items"][0]["id"].as_str().unwrap().to_owned();
        for outcome in ["success", "success", "success"] {
            runner.run_next(outcome).await;
        }
        let w = fx.get(&format!("/api/v2/workflow/{wid}")).await;
        check_schema("Workflow", &w.body, WORKFLOW);
        assert_eq!(w.body["status"], "success");
        assert!(w.body["stopped_at"].is_string(), "a finished workflow has stopped: {}", w.text);
        let job = fx.get(&format!("/api/v2/project/{SLUG}/job/3")).await;
        check_schema("JobDetails", &job.body, JOB_DETAILS);
        assert_eq!(job.body["status"], "success");
        assert!(job.body["duration"].is_i64(), "{}", job.text);
        assert!(job.body["started_at"].is_string() && job.body["stopped_at"].is_string());

        // A canceled workflow: 202, its jobs end, the status says so.
        let made = fx.v2_trigger(&json!({"branch": "main"})).await;
        let pid = made["id"].as_str().unwrap();
        let ws = fx.get(&format!("/api/v2/pipeline/{pid}/workflow")).await;
        let wid = ws.body["items"][0]["id"].as_str().unwrap().to_owned();
        let r = fx.post_empty(&format!("/api/v2/workflow/{wid}/cancel")).await;
        r.status_is(202);
        assert!(r.body["message"].is_string());
        let w = fx.get(&format!("/api/v2/workflow/{wid}")).await;
        assert_eq!(w.body["status"], "canceled", "{}", w.text);
        assert!(WORKFLOW_STATUSES.contains(&w.body["status"].as_str().unwrap()));
        assert_eq!(runner.claim().await, None, "nothing of a canceled workflow runs");

        // Canceled while a job runs: the status stays within the v2 enum until the runner stops.
        let made = fx.v2_trigger(&json!({"branch": "main"})).await;
        let pid = made["id"].as_str().unwrap();
        let ws = fx.get(&format!("/api/v2/pipeline/{pid}/workflow")).await;
        let wid = ws.body["items"][0]["id"].as_str().unwrap().to_owned();
        let job = runner.claim_some().await;
        fx.post_empty(&format!("/api/v2/workflow/{wid}/cancel")).await.status_is(202);
        let w = fx.get(&format!("/api/v2/workflow/{wid}")).await;
        assert_eq!(w.body["status"], "canceled", "{}", w.text);
        let hb = runner.heartbeat(crate::builds::id_of(&job)).await;
        assert_eq!(hb.json(), json!({"cancel": true}));
        runner.finish(crate::builds::id_of(&job), "canceled").await;
        let w = fx.get(&format!("/api/v2/workflow/{wid}")).await;
        assert_eq!(w.body["status"], "canceled", "{}", w.text);
    }
}
