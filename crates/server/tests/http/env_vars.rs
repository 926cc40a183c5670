//! Project environment variables at the level a client sees (issue 5 items 5–8): the v1.1 and
//! v2 endpoints, masks everywhere, clear 400s, sealed at rest, and injection into claimed jobs
//! with CircleCI's precedence.

use crate::app::TestApp;
use crate::builds::{Fx, SLUG};
use crate::tokens::send;
use circlet_store::BackendKind;
use circlet_testkit::both_backends;
use serde_json::{Value, json};

const SECRET: &str = "s3cr3t-value-0123456789";

fn v1(path: &str) -> String {
    format!("/api/v1.1/project/{SLUG}/envvar{path}")
}

fn v2(path: &str) -> String {
    format!("/api/v2/project/{SLUG}/envvar{path}")
}

/// Every byte the database holds (SQLite files, or a PostgreSQL dump).
fn database_bytes(fx: &Fx) -> Vec<u8> {
    match fx.app.db().kind {
        BackendKind::Sqlite => std::fs::read_dir(fx.app.db().dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .flat_map(|p| std::fs::read(&p).unwrap())
            .collect(),
        BackendKind::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .args(["--no-owner", "--dbname", &fx.app.db().url])
                .output()
                .expect("run pg_dump");
            assert!(out.status.success());
            out.stdout
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn delete(fx: &Fx, path: &str) -> crate::tokens::Reply {
    send(
        reqwest::Client::new()
            .delete(fx.app.at(path))
            .header("Circle-Token", &fx.token),
    )
    .await
}

both_backends! {
    setup = TestApp::spawn;
    async fn v1_create_list_get_delete_show_only_masks(app) {
        let fx = Fx::new(app).await;
        let made = fx.post_json(&v1(""), &json!({"name": "API_KEY", "value": SECRET})).await;
        assert_eq!(made.status, 201, "{}", made.text);
        assert_eq!(made.body, json!({"name": "API_KEY", "value": "xxxx6789"}));
        // Form-encoded works too, and a short value is masked whole.
        let short = fx.post_form(&v1(""), &[("name", "PIN"), ("value", "123")]).await;
        assert_eq!(short.status, 201, "{}", short.text);
        assert_eq!(short.body["value"], "xxxx");
        let list = fx.get(&v1("")).await;
        assert_eq!(list.status, 200);
        assert_eq!(
            list.body,
            json!([{"name": "API_KEY", "value": "xxxx6789"}, {"name": "PIN", "value": "xxxx"}])
        );
        let one = fx.get(&v1("/API_KEY")).await;
        assert_eq!(one.body, json!({"name": "API_KEY", "value": "xxxx6789"}));
        for reply in [&made, &list, &one] {
            assert!(!reply.text.contains(SECRET));
        }
        let gone = delete(&fx, &v1("/API_KEY")).await;
        assert_eq!(gone.status, 200);
        assert_eq!(gone.body, json!({"message": "ok"}));
        assert_eq!(fx.get(&v1("/API_KEY")).await.status, 404);
        assert_eq!(delete(&fx, &v1("/API_KEY")).await.status, 404);
    }

    async fn v2_create_overwrites_and_absent_is_404(app) {
        let fx = Fx::new(app).await;
        let made = fx.post_json(&v2(""), &json!({"name": "DEPLOY_KEY", "value": "first-value"})).await;
        assert_eq!(made.status, 201, "{}", made.text);
        assert_eq!(made.body["name"], "DEPLOY_KEY");
        assert_eq!(made.body["value"], "xxxxalue");
        assert!(made.body["created-at"].as_str().unwrap().ends_with('Z'));
        let again = fx.post_json(&v2(""), &json!({"name": "DEPLOY_KEY", "value": "second-val"})).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.body["value"], "xxxx-val");
        let list = fx.get(&v2("")).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(list.body["next_page_token"], Value::Null);
        assert_eq!(fx.get(&v2("/DEPLOY_KEY")).await.body["value"], "xxxx-val");
        // The %2F-encoded slug reaches the same variables.
        let encoded = fx.get("/api/v2/project/gh%2Facme%2Fwidget/envvar/DEPLOY_KEY").await;
        assert_eq!(encoded.status, 200);
        let missing = fx.get(&v2("/NOPE")).await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.body["message"], "Environment variable not found");
        let gone = delete(&fx, &v2("/DEPLOY_KEY")).await;
        assert_eq!(gone.status, 200);
        assert!(gone.body["message"].is_string());
    }

    async fn bad_names_and_values_get_clear_400s(app) {
        let fx = Fx::new(app).await;
        let dash = fx.post_json(&v2(""), &json!({"name": "MY-VAR", "value": "x"})).await;
        assert_eq!(dash.status, 400);
        assert!(dash.body["message"].as_str().unwrap().contains("MY-VAR"), "{}", dash.text);
        let digit = fx.post_json(&v1(""), &json!({"name": "1ABC", "value": "x"})).await;
        assert_eq!(digit.status, 400);
        let long_name = fx.post_json(&v1(""), &json!({"name": "A".repeat(257), "value": "x"})).await;
        assert_eq!(long_name.status, 400);
        let big = fx.post_json(&v2(""), &json!({"name": "BIG", "value": "x".repeat(40 * 1024)})).await;
        assert_eq!(big.status, 400);
        assert!(big.body["message"].as_str().unwrap().contains("32 KiB"), "{}", big.text);
        let no_value = fx.post_json(&v2(""), &json!({"name": "A"})).await;
        assert_eq!(no_value.status, 400);
        assert!(fx.get(&v2("")).await.body["items"].as_array().unwrap().is_empty());
    }

    async fn values_are_sealed_at_rest(app) {
        let fx = Fx::new(app).await;
        let made = fx.post_json(&v1(""), &json!({"name": "API_KEY", "value": SECRET})).await;
        assert_eq!(made.status, 201);
        let bytes = database_bytes(&fx);
        assert!(contains(&bytes, "API_KEY"), "the probe reads the right database");
        assert!(!contains(&bytes, SECRET), "the clear value is in the database");
        assert!(!contains(&bytes, &SECRET[..12]));
    }

    async fn project_tokens_cannot_touch_env_vars(app) {
        let fx = Fx::new(app).await;
        let all = fx.app.project_token(&fx.project, circlet_core::scope::ProjectScope::All).await;
        let r = fx.get_as(&all, &v1("")).await;
        assert_eq!(r.status, 403);
        let r = fx.get_as(&all, &v2("")).await;
        assert_eq!(r.status, 401, "API v2 is for users");
    }

    async fn claimed_jobs_get_env_vars_with_circleci_precedence_and_masks(app) {
        let fx = Fx::new(app).await;
        for (name, value) in [
            ("FROM_JOB", "project-loses-to-job"),
            ("PARAM_VS_PROJECT", "project-wins"),
            ("SHORT", "abc"),
            ("FLAG", "true"),
        ] {
            let r = fx.post_json(&v1(""), &json!({"name": name, "value": value})).await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        fx.v1_trigger("main", &json!({"build_parameters": {
            "CIRCLE_JOB": "build",
            "PARAM_VS_PROJECT": "parameter-loses",
            "ONLY_PARAM": "param-value",
        }}))
        .await;
        let runner = fx.runner("r1").await;
        let job = runner.claim_some().await;
        let env: Vec<(String, String)> = serde_json::from_value(job["env"].clone()).unwrap();
        // Later entries win when a runner applies the list.
        let effective = |name: &str| {
            env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
        };
        assert_eq!(effective("FROM_JOB"), Some("job-value"), "config environment wins");
        assert_eq!(effective("PARAM_VS_PROJECT"), Some("project-wins"), "project beats parameter");
        assert_eq!(effective("ONLY_PARAM"), Some("param-value"));
        assert_eq!(effective("SHORT"), Some("abc"));
        let masks: Vec<String> = serde_json::from_value(job["masks"].clone()).unwrap();
        assert!(masks.contains(&"project-wins".to_owned()));
        assert!(masks.contains(&"project-loses-to-job".to_owned()));
        assert!(!masks.contains(&"abc".to_owned()), "values under 4 characters are not masked");
        assert!(!masks.contains(&"true".to_owned()), "booleans are not masked");
    }
}
