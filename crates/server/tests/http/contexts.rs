//! Contexts at the level a client sees (issue 16, item 2): API v2's `/context` endpoints in
//! CircleCI's shapes, who may read and change them, clear refusals; a workflow job's `context:`
//! injecting the variables after the project's (masked, listed in its OIDC token), and a job
//! whose starter may not use a context ending `unauthorized` without running.

use crate::app::TestApp;
use crate::builds::{Fx, SLUG};
use crate::tokens::send;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

const SECRET: &str = "ctx-secret-value-0123456789";

/// A config whose `build` job uses the context `deploy` and whose `ship` job requires it.
const CONFIG: &str = r#"version: 2.1
jobs:
  build:
    environment:
      FROM_JOB: job-value
    steps:
      - run: echo building
  ship:
    steps:
      - run: ./ship
workflows:
  main:
    jobs:
      - build:
          context: [deploy]
      - ship:
          requires: [build]
"#;

async fn send_as(
    fx: &Fx,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> crate::tokens::Reply {
    let mut req = reqwest::Client::new()
        .request(method, fx.app.at(path))
        .header("Circle-Token", token);
    if let Some(body) = body {
        req = req.json(body);
    }
    send(req).await
}

/// Makes the context `deploy` of gh/acme as the fixture's admin; its id.
async fn make_context(fx: &Fx) -> String {
    let made = fx
        .post_json(
            "/api/v2/context",
            &json!({"name": "deploy", "owner": {"slug": "gh/acme", "type": "organization"}}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    made.body["id"].as_str().unwrap().to_owned()
}

async fn set_var(fx: &Fx, id: &str, name: &str, value: &str) {
    let r = fx
        .send_json(
            reqwest::Method::PUT,
            &format!("/api/v2/context/{id}/environment-variable/{name}"),
            &json!({"value": value}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn audit_events(fx: &Fx) -> Vec<(String, String)> {
    fx.app
        .store
        .audit()
        .list(circlet_store::AuditScope::All, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.detail))
        .collect()
}

/// The payload of a JWT, decoded.
fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

both_backends! {
    setup = TestApp::spawn;

    async fn contexts_are_made_listed_filled_restricted_and_deleted_in_circlecis_shapes(app) {
        let fx = Fx::new(app).await;
        let id = make_context(&fx).await;
        let orgs = fx.get("/api/v2/me/collaborations").await;
        let org_id = orgs.body[0]["id"].as_str().unwrap().to_owned();
        for query in [format!("owner-id={org_id}"), "owner-slug=gh/acme".into(), "owner-slug=github/acme&owner-type=organization".into()] {
            let list = fx.get(&format!("/api/v2/context?{query}")).await;
            assert_eq!(list.status, 200, "{query}: {}", list.text);
            assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{query}");
            assert_eq!(list.body["items"][0]["id"], id.as_str());
            assert_eq!(list.body["items"][0]["name"], "deploy");
            assert!(list.body["items"][0]["created_at"].as_str().unwrap().ends_with('Z'));
            assert_eq!(list.body["next_page_token"], Value::Null);
        }
        // The organization itself, by id or by slug.
        for path in [format!("/api/v2/organization/{org_id}"), "/api/v2/organization/gh/acme".into(), "/api/v2/organization/github%2Facme".into()] {
            let org = fx.get(&path).await;
            assert_eq!(org.status, 200, "{path}: {}", org.text);
            assert_eq!(org.body, json!({"id": org_id, "name": "acme", "slug": "gh/acme", "vcs_type": "github", "role": "admin"}), "{path}");
        }
        assert_eq!(fx.get("/api/v2/organization/gh/nobody").await.status, 404);
        let one = fx.get(&format!("/api/v2/context/{id}")).await;
        assert_eq!((one.status, one.body["name"].clone()), (200, json!("deploy")));

        // Variables: names and dates, never values; replaced in place.
        set_var(&fx, &id, "DEPLOY_TOKEN", SECRET).await;
        let again = fx.send_json(reqwest::Method::PUT, &format!("/api/v2/context/{id}/environment-variable/DEPLOY_TOKEN"), &json!({"value": "second-value"})).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body["variable"], "DEPLOY_TOKEN");
        assert_eq!(again.body["context_id"], id.as_str());
        assert!(again.body["updated_at"].is_string() && again.body["created_at"].is_string());
        let vars = fx.get(&format!("/api/v2/context/{id}/environment-variable")).await;
        assert_eq!(vars.body["items"].as_array().unwrap().len(), 1, "{}", vars.text);
        assert!(!vars.text.contains("second-value") && !again.text.contains("second-value"));
        let stored = fx.app.store.contexts().by_uuid(id.parse().unwrap()).await.unwrap().unwrap();
        let sealed = &fx.app.store.contexts().vars(stored.id).await.unwrap()[0];
        assert!(!sealed.sealed.windows(6).any(|w| w == b"second"), "sealed at rest");
        assert_eq!(sealed.masked, "xxxxalue");

        // Restrictions: a project of the organization, a role.
        let project = fx.post_json(&format!("/api/v2/context/{id}/restrictions"), &json!({"restriction_type": "project", "restriction_value": fx.project.uuid.to_string()})).await;
        assert_eq!(project.status, 201, "{}", project.text);
        assert_eq!(project.body["name"], SLUG);
        assert_eq!(project.body["project_id"], fx.project.uuid.to_string());
        let role = fx.post_json(&format!("/api/v2/context/{id}/restrictions"), &json!({"restriction_type": "role", "restriction_value": "Write"})).await;
        assert_eq!(role.status, 201, "{}", role.text);
        assert_eq!((role.body["restriction_value"].clone(), role.body["project_id"].clone()), (json!("write"), Value::Null));
        let listed = fx.get(&format!("/api/v2/context/{id}/restrictions")).await;
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
        let rid = role.body["id"].as_str().unwrap();
        let gone = send_as(&fx, &fx.token, reqwest::Method::DELETE, &format!("/api/v2/context/{id}/restrictions/{rid}"), None).await;
        assert_eq!(gone.status, 200, "{}", gone.text);
        let twice = send_as(&fx, &fx.token, reqwest::Method::DELETE, &format!("/api/v2/context/{id}/restrictions/{rid}"), None).await;
        assert_eq!(twice.status, 404);

        // Every change is audited, never with a value.
        let events = audit_events(&fx).await;
        for event in ["context.created", "context.env_var_set", "context.restricted", "context.unrestricted"] {
            assert!(events.iter().any(|(e, _)| e == event), "{event} in {events:?}");
        }
        assert!(events.iter().all(|(_, d)| !d.contains(SECRET) && !d.contains("second-value")));

        let deleted = send_as(&fx, &fx.token, reqwest::Method::DELETE, &format!("/api/v2/context/{id}"), None).await;
        assert_eq!(deleted.status, 200);
        assert_eq!(fx.get(&format!("/api/v2/context/{id}")).await.status, 404);
        assert!(audit_events(&fx).await.iter().any(|(e, _)| e == "context.deleted"));
    }

    async fn bad_context_requests_get_clear_4xx_and_change_nothing(app) {
        let fx = Fx::new(app).await;
        let id = make_context(&fx).await;
        let cases: Vec<(reqwest::Method, String, Option<Value>, u16, &str)> = vec![
            (reqwest::Method::POST, "/api/v2/context".into(), Some(json!({"name": "deploy", "owner": {"slug": "gh/acme"}})), 409, "already has a context named deploy"),
            (reqwest::Method::POST, "/api/v2/context".into(), Some(json!({"name": "", "owner": {"slug": "gh/acme"}})), 400, "name"),
            (reqwest::Method::POST, "/api/v2/context".into(), Some(json!({"name": "x"})), 400, "owner is required"),
            (reqwest::Method::POST, "/api/v2/context".into(), Some(json!({"name": "x", "owner": {"slug": "gh/acme", "type": "account"}})), 400, "organization"),
            (reqwest::Method::POST, "/api/v2/context".into(), Some(json!({"name": "x", "owner": {"slug": "gh/nobody"}})), 404, "Organization not found"),
            (reqwest::Method::POST, "/api/v2/context".into(), Some(json!({"name": "x", "owner": {"id": "not-a-uuid"}})), 400, "UUID"),
            (reqwest::Method::GET, "/api/v2/context".into(), None, 400, "owner"),
            (reqwest::Method::GET, "/api/v2/context/not-a-uuid".into(), None, 404, "Context not found"),
            (reqwest::Method::GET, format!("/api/v2/context/{}", uuid::Uuid::new_v4()), None, 404, "Context not found"),
            (reqwest::Method::PUT, format!("/api/v2/context/{id}/environment-variable/BAD-NAME"), Some(json!({"value": "v"})), 400, "BAD-NAME"),
            (reqwest::Method::PUT, format!("/api/v2/context/{id}/environment-variable/OK"), Some(json!({})), 400, "value is required"),
            (reqwest::Method::DELETE, format!("/api/v2/context/{id}/environment-variable/NOPE"), None, 404, "not found"),
            (reqwest::Method::POST, format!("/api/v2/context/{id}/restrictions"), Some(json!({"restriction_type": "expression", "restriction_value": "true"})), 400, "project or role"),
            (reqwest::Method::POST, format!("/api/v2/context/{id}/restrictions"), Some(json!({"restriction_type": "project", "restriction_value": uuid::Uuid::new_v4().to_string()})), 400, "has no project"),
            (reqwest::Method::POST, format!("/api/v2/context/{id}/restrictions"), Some(json!({"restriction_type": "role", "restriction_value": "owner"})), 400, "unknown role"),
            (reqwest::Method::POST, format!("/api/v2/context/{id}/restrictions"), Some(json!({"restriction_type": "role"})), 400, "required"),
        ];
        for (method, path, body, status, says) in cases {
            let r = send_as(&fx, &fx.token, method.clone(), &path, body.as_ref()).await;
            assert_eq!(r.status, status, "{method} {path}: {}", r.text);
            let message = r.body["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{method} {path}: {message}");
        }
        let list = fx.get("/api/v2/context?owner-slug=gh/acme").await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "nothing made");
        let vars = fx.get(&format!("/api/v2/context/{id}/environment-variable")).await;
        assert!(vars.body["items"].as_array().unwrap().is_empty());
        let restrictions = fx.get(&format!("/api/v2/context/{id}/restrictions")).await;
        assert!(restrictions.body["items"].as_array().unwrap().is_empty());
    }

    async fn writers_fill_unrestricted_contexts_admins_restrict_them(app) {
        let fx = Fx::new(app).await;
        let writer = fx.app.user("wendy", false).await;
        fx.app.store.projects().set_member(fx.project.id, writer.id, circlet_core::Role::Write).await.unwrap();
        let wendy = fx.app.personal_token(&writer).await;
        let made = send_as(&fx, &wendy, reqwest::Method::POST, "/api/v2/context", Some(&json!({"name": "shared", "owner": {"slug": "gh/acme"}}))).await;
        assert_eq!(made.status, 200, "a member who may build makes contexts: {}", made.text);
        let id = made.body["id"].as_str().unwrap().to_owned();
        let var = |value: &'static str| {
            let (fx, wendy, id) = (&fx, &wendy, &id);
            async move {
                send_as(fx, wendy, reqwest::Method::PUT, &format!("/api/v2/context/{id}/environment-variable/KEY"), Some(&json!({"value": value}))).await
            }
        };
        assert_eq!(var("first-value").await.status, 200);
        let restrict = send_as(&fx, &wendy, reqwest::Method::POST, &format!("/api/v2/context/{id}/restrictions"), Some(&json!({"restriction_type": "role", "restriction_value": "write"}))).await;
        assert_eq!(restrict.status, 403, "{}", restrict.text);
        // Once an admin restricts it, its variables are the admins' to change.
        let r = fx.post_json(&format!("/api/v2/context/{id}/restrictions"), &json!({"restriction_type": "role", "restriction_value": "write"})).await;
        assert_eq!(r.status, 201);
        assert_eq!(var("replaced-value").await.status, 403);
        let delete = send_as(&fx, &wendy, reqwest::Method::DELETE, &format!("/api/v2/context/{id}"), None).await;
        assert_eq!(delete.status, 403);
        let vars = fx.get(&format!("/api/v2/context/{id}/environment-variable")).await;
        assert_eq!(vars.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(fx.app.store.contexts().vars(fx.app.store.contexts().by_uuid(id.parse().unwrap()).await.unwrap().unwrap().id).await.unwrap()[0].masked, "xxxxalue");
    }

    async fn members_read_contexts_admins_change_them_others_see_nothing(app) {
        let fx = Fx::new(app).await;
        let id = make_context(&fx).await;
        let reader = fx.app.user("rita", false).await;
        fx.app.store.projects().set_member(fx.project.id, reader.id, circlet_core::Role::Read).await.unwrap();
        let rita = fx.app.personal_token(&reader).await;
        let outsider = fx.app.user("eve", false).await;
        let eve = fx.app.personal_token(&outsider).await;
        let project_token = fx.app.project_token(&fx.project, circlet_core::scope::ProjectScope::All).await;

        let read = send_as(&fx, &rita, reqwest::Method::GET, &format!("/api/v2/context/{id}"), None).await;
        assert_eq!(read.status, 200, "{}", read.text);
        let list = send_as(&fx, &rita, reqwest::Method::GET, "/api/v2/context?owner-slug=gh/acme", None).await;
        assert_eq!(list.status, 200);
        let write = send_as(&fx, &rita, reqwest::Method::PUT, &format!("/api/v2/context/{id}/environment-variable/X"), Some(&json!({"value": "v"}))).await;
        assert_eq!(write.status, 403, "{}", write.text);
        let delete = send_as(&fx, &rita, reqwest::Method::DELETE, &format!("/api/v2/context/{id}"), None).await;
        assert_eq!(delete.status, 403);
        let create = send_as(&fx, &rita, reqwest::Method::POST, "/api/v2/context", Some(&json!({"name": "mine", "owner": {"slug": "gh/acme"}}))).await;
        assert_eq!(create.status, 403);

        for path in [format!("/api/v2/context/{id}"), "/api/v2/context?owner-slug=gh/acme".into()] {
            let r = send_as(&fx, &eve, reqwest::Method::GET, &path, None).await;
            assert_eq!(r.status, 404, "an outsider learns nothing: {path}");
        }
        let r = send_as(&fx, &project_token, reqwest::Method::GET, &format!("/api/v2/context/{id}"), None).await;
        assert_eq!(r.status, 401, "contexts are for users");
        let anonymous = send(reqwest::Client::new().get(fx.app.at(&format!("/api/v2/context/{id}")))).await;
        assert_eq!(anonymous.status, 401);
        assert!(fx.get(&format!("/api/v2/context/{id}")).await.body["name"] == "deploy", "still there");
    }

    async fn a_job_gets_its_contexts_variables_after_the_projects(app) {
        let fx = Fx::new(app).await;
        fx.repo.commit(&[(".circleci/config.yml", CONFIG)], "use a context");
        let id = make_context(&fx).await;
        set_var(&fx, &id, "DEPLOY_TOKEN", SECRET).await;
        set_var(&fx, &id, "SHARED", "from-the-context").await;
        set_var(&fx, &id, "FROM_JOB", "context-loses-to-job").await;
        let r = fx.post_json(&format!("/api/v2/project/{SLUG}/envvar"), &json!({"name": "SHARED", "value": "from-the-project"})).await;
        assert_eq!(r.status, 201);
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let runner = fx.runner("r1").await;
        let job = runner.claim_some().await;
        let env: Vec<(String, String)> = serde_json::from_value(job["env"].clone()).unwrap();
        let effective = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert_eq!(effective("DEPLOY_TOKEN").as_deref(), Some(SECRET));
        assert_eq!(effective("SHARED").as_deref(), Some("from-the-context"), "the context wins over the project");
        assert_eq!(effective("FROM_JOB").as_deref(), Some("job-value"), "the config wins over the context");
        let masks: Vec<String> = serde_json::from_value(job["masks"].clone()).unwrap();
        assert!(masks.contains(&SECRET.to_owned()) && masks.contains(&"from-the-context".to_owned()));
        let oidc = jwt_claims(&effective("CIRCLE_OIDC_TOKEN").unwrap());
        assert_eq!(oidc["oidc.circleci.com/context-ids"], json!([id]));
        let events = audit_events(&fx).await;
        assert!(events.iter().any(|(e, d)| e == "context.used" && d.contains("deploy") && d.contains(SLUG)), "{events:?}");
        let number = job["build_num"].as_i64().unwrap();
        let details = fx.get(&format!("/api/v2/project/{SLUG}/job/{number}")).await;
        assert_eq!(details.body["contexts"], json!([{"name": "deploy"}]), "{}", details.text);
    }

    async fn a_job_whose_starter_may_not_use_a_context_ends_unauthorized_and_runs_nothing(app) {
        let fx = Fx::new(app).await;
        fx.repo.commit(&[(".circleci/config.yml", CONFIG)], "use a context");
        let id = make_context(&fx).await;
        set_var(&fx, &id, "DEPLOY_TOKEN", SECRET).await;
        let r = fx.post_json(&format!("/api/v2/context/{id}/restrictions"), &json!({"restriction_type": "role", "restriction_value": "admin"})).await;
        assert_eq!(r.status, 201);
        // A member who may trigger, but holds less than the context asks.
        let dev = fx.app.user("dev", false).await;
        fx.app.store.projects().set_member(fx.project.id, dev.id, circlet_core::Role::Write).await.unwrap();
        let dev_token = fx.app.personal_token(&dev).await;
        let started = send_as(&fx, &dev_token, reqwest::Method::POST, &format!("/api/v2/project/{SLUG}/pipeline"), Some(&json!({"branch": "main"}))).await;
        assert_eq!(started.status, 201, "{}", started.text);
        let runner = fx.runner("r1").await;
        assert!(runner.claim().await.is_none(), "the job is never handed to a runner");
        let pipeline = started.body["id"].as_str().unwrap();
        let workflows = fx.get(&format!("/api/v2/pipeline/{pipeline}/workflow")).await;
        let workflow = &workflows.body["items"][0];
        assert_eq!(workflow["status"], "unauthorized", "{}", workflows.text);
        let jobs = fx.get(&format!("/api/v2/workflow/{}/job", workflow["id"].as_str().unwrap())).await;
        let status_of = |name: &str| jobs.body["items"].as_array().unwrap().iter().find(|j| j["name"] == name).unwrap()["status"].clone();
        assert_eq!(status_of("build"), "unauthorized");
        assert_eq!(status_of("ship"), "not_run", "what requires it does not run");
        // Its page says why; nothing of the context reached anything.
        let build = fx.get(&format!("/api/v1.1/project/{SLUG}/1")).await;
        let text = build.text.clone();
        assert_eq!(build.body["status"], "unauthorized", "{text}");
        let output_url = build.body["steps"][0]["actions"][0]["output_url"].as_str().unwrap_or_default().to_owned();
        let output = fx.get(output_url.trim_start_matches(&fx.app.url)).await;
        assert!(output.text.contains("admin role"), "{}", output.text);
        assert!(output.text.contains("dev"), "{}", output.text);
        let events = audit_events(&fx).await;
        assert!(events.iter().any(|(e, d)| e == "context.refused" && d.contains("deploy")), "{events:?}");
        assert!(!events.iter().any(|(e, _)| e == "context.used"));

        // The admin may: their pipeline's job runs with the context.
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let job = runner.claim_some().await;
        assert!(job["env"].to_string().contains(SECRET));

        // A context restricted to another project, or one that does not exist, refuses too.
        let r = send_as(&fx, &fx.token, reqwest::Method::DELETE, &format!("/api/v2/context/{id}"), None).await;
        assert_eq!(r.status, 200);
        fx.v2_trigger(&json!({"branch": "main"})).await;
        assert!(runner.claim().await.is_none());
        let events = audit_events(&fx).await;
        assert!(events.iter().any(|(e, d)| e == "context.refused" && d.contains("has no context named \"deploy\"")), "{events:?}");
    }

    async fn limited_tokens_reach_contexts_within_their_limits_only(app) {
        // Issue 16: a fine-grained token reaches an organization's contexts only when it reaches
        // every project of it (no project list), with at most its ceiling; and a pipeline it
        // started uses contexts as its user would with at most that ceiling.
        use circlet_app::tokens::AskedLimits;
        use circlet_core::{ProjectSlug, Role, Vcs};
        let fx = Fx::new(app).await;
        fx.repo.commit(&[(".circleci/config.yml", CONFIG)], "use a context");
        let id = make_context(&fx).await;
        set_var(&fx, &id, "DEPLOY_TOKEN", SECRET).await;
        let limited = |limits: AskedLimits| {
            let fx = &fx;
            async move { fx.app.personal_token_limited(&fx.user, limits).await.0 }
        };
        let only_project = limited(AskedLimits { projects: vec![ProjectSlug::parse(SLUG).unwrap()], ..Default::default() }).await;
        let org_write = limited(AskedLimits { organization: Some((Vcs::GitHub, "acme".into())), ceiling: Some(Role::Write), ..Default::default() }).await;

        // Limited to a project, the admin is outside the organization's contexts.
        for path in [format!("/api/v2/context/{id}"), "/api/v2/context?owner-slug=gh/acme".into()] {
            let r = send_as(&fx, &only_project, reqwest::Method::GET, &path, None).await;
            assert_eq!(r.status, 404, "{path}: {}", r.text);
        }
        let create = send_as(&fx, &only_project, reqwest::Method::POST, "/api/v2/context", Some(&json!({"name": "wider", "owner": {"slug": "gh/acme"}}))).await;
        assert_eq!(create.status, 404, "{}", create.text);
        // Limited to the organization with the write ceiling, the admin acts as a writer.
        let read = send_as(&fx, &org_write, reqwest::Method::GET, &format!("/api/v2/context/{id}"), None).await;
        assert_eq!(read.status, 200, "{}", read.text);
        let restrict = send_as(&fx, &org_write, reqwest::Method::POST, &format!("/api/v2/context/{id}/restrictions"), Some(&json!({"restriction_type": "role", "restriction_value": "admin"}))).await;
        assert_eq!(restrict.status, 403, "restricting is the admins': {}", restrict.text);
        let delete = send_as(&fx, &org_write, reqwest::Method::DELETE, &format!("/api/v2/context/{id}"), None).await;
        assert_eq!(delete.status, 403);

        // Restricted to admins, the context stays out of a pipeline the write-limited token
        // started, though its user is the admin; their unlimited token's pipeline gets it.
        let r = fx.post_json(&format!("/api/v2/context/{id}/restrictions"), &json!({"restriction_type": "role", "restriction_value": "admin"})).await;
        assert_eq!(r.status, 201);
        let started = send_as(&fx, &org_write, reqwest::Method::POST, &format!("/api/v2/project/{SLUG}/pipeline"), Some(&json!({"branch": "main"}))).await;
        assert_eq!(started.status, 201, "{}", started.text);
        let runner = fx.runner("r1").await;
        assert!(runner.claim().await.is_none(), "the job is never handed to a runner");
        let events = audit_events(&fx).await;
        assert!(events.iter().any(|(e, d)| e == "context.refused" && d.contains("deploy")), "{events:?}");
        fx.v2_trigger(&json!({"branch": "main"})).await;
        let job = runner.claim_some().await;
        assert!(job["env"].to_string().contains(SECRET));
    }
}
