//! Issue 17 item 14: access that agreed neither with CircleCI nor with circlet itself. The
//! per-caller cases (anonymous and project tokens on v2 reads, tokens on public projects) are
//! rows of the authorization matrix (`tokens::matrix`); here the rest: CORS, `/projects`'
//! `scopes`, `started_by`, creating a project without a body, `circleci/<org-id>/<project-id>`
//! slugs, and the one script a real config runs without a token.

use super::{Fx, SLUG};
use crate::app::TestApp;
use crate::tokens::{Reply, send};
use circlet_core::Role;
use circlet_testkit::{GitRepo, both_backends};
use serde_json::json;

/// The CORS headers of a reply, as a browser reads them.
fn cors(r: &reqwest::Response) -> (Option<String>, Option<String>) {
    let h = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    (
        h("access-control-allow-origin"),
        h("access-control-allow-credentials"),
    )
}

both_backends! {
    setup = TestApp::spawn;

    async fn the_api_allows_any_origin_with_a_token_and_never_with_cookies(app) {
        let fx = Fx::new(app).await;
        let client = reqwest::Client::new();
        let origin = "https://dashboard.example";
        // A dashboard's fetch with a token: readable from any origin, never with credentials.
        let r = client.get(fx.app.at("/api/v2/me")).header("Origin", origin)
            .header("Circle-Token", &fx.token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(cors(&r), (Some("*".into()), None));
        // Errors too, so a dashboard can read the message.
        let r = client.get(fx.app.at(&format!("/api/v1.1/project/{SLUG}/1"))).header("Origin", origin)
            .send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(cors(&r), (Some("*".into()), None));
        // The preflight of a JSON write with the token header.
        let r = client.request(reqwest::Method::OPTIONS, fx.app.at(&format!("/api/v2/project/{SLUG}/pipeline")))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "circle-token, content-type")
            .send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(cors(&r), (Some("*".into()), None));
        let allowed = |name: &str| r.headers()[name].to_str().unwrap().to_ascii_lowercase();
        assert!(allowed("access-control-allow-headers").contains("circle-token"), "{:?}", r.headers());
        assert!(allowed("access-control-allow-headers").contains("content-type"));
        assert!(allowed("access-control-allow-methods").contains("post"));
        // Then the write itself, as the browser sends it.
        let r = client.post(fx.app.at(&format!("/api/v2/project/{SLUG}/pipeline")))
            .header("Origin", origin).header("Circle-Token", &fx.token).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(cors(&r).0.as_deref(), Some("*"));

        // A request with circlet's session cookie gets no CORS header: its answer stays the
        // session's origin's.
        fx.app.user("bea", false).await;
        let browser = fx.app.logged_in("bea").await;
        let r = browser.get(fx.app.at("/api/v2/me")).header("Origin", origin).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(cors(&r), (None, None));
        // Pages and the runner protocol are not the token API.
        let r = client.get(fx.app.at("/login")).header("Origin", origin).send().await.unwrap();
        assert_eq!(cors(&r), (None, None));
        let r = client.post(fx.app.at("/api/runner/v1/claim")).header("Origin", origin).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(cors(&r), (None, None));
    }

    async fn projects_report_the_callers_real_scopes(app) {
        let fx = Fx::new(app).await;
        let reader = fx.app.user("rita", false).await;
        let writer = fx.app.user("walt", false).await;
        let projects = fx.app.store.projects();
        projects.set_member(fx.project.id, reader.id, Role::Read).await.unwrap();
        projects.set_member(fx.project.id, writer.id, Role::Write).await.unwrap();
        let scopes_of = async |token: &str| -> Vec<String> {
            let r = fx.get_as(token, "/api/v1.1/projects").await;
            r.status_is(200);
            let scopes = &r.body[0]["scopes"];
            serde_json::from_value(scopes.clone()).unwrap_or_else(|_| panic!("{}", r.text))
        };
        let reader_scopes = scopes_of(&fx.app.personal_token(&reader).await).await;
        assert_eq!(reader_scopes, ["view-builds", "status"]);
        let writer_scopes = scopes_of(&fx.app.personal_token(&writer).await).await;
        assert_eq!(writer_scopes, ["trigger-builds", "view-builds", "status"]);
        let admin_scopes = scopes_of(&fx.token).await;
        assert!(admin_scopes.contains(&"all".to_owned()) && admin_scopes.contains(&"write-settings".to_owned()), "{admin_scopes:?}");
    }

    async fn workflows_are_started_by_the_users_id_as_me_gives_it(app) {
        let fx = Fx::new(app).await;
        let made = fx.v2_trigger(&json!({})).await;
        let me = fx.get("/api/v2/me").await;
        me.status_is(200);
        let ws = fx.get(&format!("/api/v2/pipeline/{}/workflow", made["id"].as_str().unwrap())).await;
        ws.status_is(200);
        assert_eq!(ws.body["items"][0]["started_by"], me.body["id"], "{}", ws.text);
        let wid = ws.body["items"][0]["id"].as_str().unwrap();
        let w = fx.get(&format!("/api/v2/workflow/{wid}")).await;
        assert_eq!(w.body["started_by"], fx.user.uuid.to_string());
    }

    async fn a_project_is_created_without_a_body_as_circleci_allows(app) {
        let fx = Fx::new(app).await;
        // No body, no content type: what CircleCI's "follow project" call sends.
        let r = fx.post_empty("/api/v2/project/gh/acme/bodyless").await;
        r.status_is(201);
        assert_eq!(r.body["slug"], "gh/acme/bodyless");
        assert_eq!(r.body["vcs_info"]["default_branch"], "main");
        assert_eq!(r.body["vcs_info"]["vcs_url"], "https://github.com/acme/bodyless.git");
        let r = fx.post_json("/api/v2/project/gh/acme/with-body", &json!({"default_branch": "trunk"})).await;
        r.status_is(201);
        assert_eq!(r.body["vcs_info"]["default_branch"], "trunk");
        // A body that is not a project is still refused, with a message.
        let r = fx.post_json("/api/v2/project/gh/acme/bad", &json!({"defualt_branch": "x"})).await;
        r.status_is(400);
        assert!(r.message().contains("defualt_branch"), "{}", r.text);
    }

    async fn circleci_slugs_name_a_project_by_its_organizations_and_its_own_id(app) {
        let fx = Fx::new(app).await;
        fx.v2_trigger(&json!({})).await;
        let p = fx.get(&format!("/api/v2/project/{SLUG}")).await;
        p.status_is(200);
        let (org, id) = (p.body["organization_id"].as_str().unwrap().to_owned(), p.body["id"].as_str().unwrap().to_owned());
        // The organization id is the one `/me/collaborations` lists.
        let orgs = fx.get("/api/v2/me/collaborations").await;
        orgs.status_is(200);
        assert!(orgs.body.as_array().unwrap().iter().any(|o| o["id"] == org.as_str()), "{} vs {}", orgs.text, p.text);
        for path in [format!("/api/v2/project/circleci/{org}/{id}"), format!("/api/v2/project/circleci%2F{org}%2F{id}")] {
            let r = fx.get(&path).await;
            r.status_is(200);
            assert_eq!(r.body, p.body, "{path}");
        }
        let list = fx.get(&format!("/api/v2/project/circleci/{org}/{id}/pipeline")).await;
        list.status_is(200);
        assert_eq!(list.body["items"][0]["number"], json!(1));
        let job = fx.get(&format!("/api/v2/project/circleci%2F{org}%2F{id}/job/1")).await;
        job.status_is(200);
        assert_eq!(job.body["project"]["slug"], SLUG);
        // Ids that name nothing, or a project under another organization, answer like a
        // missing project; so does one the caller may not see.
        let other = uuid::Uuid::new_v4();
        for path in [format!("/api/v2/project/circleci/{other}/{id}"), format!("/api/v2/project/circleci/{org}/{other}"), format!("/api/v2/project/circleci/{org}/not-an-id/pipeline")] {
            fx.get(&path).await.is(404, crate::tokens::NO_PROJECT);
        }
        let outsider = fx.app.user("olga", false).await;
        let outsider = fx.app.personal_token(&outsider).await;
        fx.get_as(&outsider, &format!("/api/v2/project/circleci/{org}/{id}")).await.is(404, crate::tokens::NO_PROJECT);
    }

    async fn a_public_projects_workflow_jobs_are_read_without_a_token(app) {
        // What real configs do: `curl $API/workflow/$CIRCLE_WORKFLOW_ID/job` with no token.
        let repo = GitRepo::with_config(crate::builds::CONFIG);
        let owner = app.user("ada", false).await;
        let token = app.personal_token(&owner).await;
        app.project_with_repo(&owner, "gh/acme/open", &repo.url(), true).await;
        let client = reqwest::Client::new();
        let made = send(client.post(app.at("/api/v2/project/gh/acme/open/pipeline")).header("Circle-Token", &token).json(&json!({}))).await;
        made.status_is(201);
        let pid = made.body["id"].as_str().unwrap();
        let ws: Reply = send(client.get(app.at(&format!("/api/v2/pipeline/{pid}/workflow")))).await;
        ws.status_is(200);
        let wid = ws.body["items"][0]["id"].as_str().unwrap();
        let jobs = send(client.get(app.at(&format!("/api/v2/workflow/{wid}/job")))).await;
        jobs.status_is(200);
        let names: Vec<&str> = jobs.body["items"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["build", "test", "deploy"]);
        // Writes still need a user.
        send(client.post(app.at(&format!("/api/v2/workflow/{wid}/cancel")))).await.is(401, crate::tokens::LOGIN_REQUIRED);
    }
}
