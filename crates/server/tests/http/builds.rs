//! Builds at the level a client sees (issue 4), on real git repositories, with the runner played
//! over HTTP by the test itself:
//! - [`v2`]: triggering pipelines and reading pipelines, workflows and jobs (API v2 shapes);
//! - [`v2_access`]: who may read v2 and from where (CORS), `scopes`, `started_by`, slugs by id;
//! - [`v2_fidelity`]: v2 fields as CircleCI types them (strings, milliseconds, parameters);
//! - [`v2_reads`]: the reads CircleCI's clients call (tests, lists, insights, follows, …);
//! - [`v1_triggers`]: API v1.1 triggers, retry and cancel;
//! - [`v1_reads`]: API v1.1 build lists, detail with steps, output, tests, `/projects`;
//! - [`bad_input`]: refusals, and what errored configs leave behind;
//! - [`runner_protocol`]: claim, environment, release of dependents, the reaper;
//! - [`leak_guard`]: tokens printed by a job are masked and revoked;
//! - [`runner_storage`]: caches and workspaces with the real runner;
//! - [`runner_classes`]: self-hosted resource classes, `/api/v3/runner`, Admin → Runners;
//! - [`parallelism`]: `parallelism: N` as N nodes, in the APIs and on the build page.
//! - [`outbound`]: commit statuses and outbound webhooks, to receivers on loopback;
//! - [`polls`]: polling repositories that cannot send webhooks;
//! - [`schedules`]: scheduled pipelines (API v2 schedules, config cron triggers, the scheduler);
//! - [`webhooks`]: forges' webhooks start pipelines, as each forge sends them;
//! - [`webhook_rules`]: the settings that decide what they build, and every forge's payloads.

mod bad_input;
mod config_language;
mod job_env;
mod leak_guard;
mod outbound;
mod parallelism;
mod polls;
mod runner_classes;
mod runner_protocol;
mod runner_storage;
mod schedules;
mod v1_reads;
mod v1_triggers;
mod v2;
mod v2_access;
mod v2_fidelity;
mod v2_reads;
mod webhook_rules;
mod webhooks;

use crate::app::TestApp;
use crate::tokens::{Reply, send};
use circlet_store::{Project, User};
use circlet_testkit::GitRepo;
use serde_json::Value;
use std::time::Duration;

/// The config most tests build: a 2.1 pipeline parameter used by a step, a job environment,
/// a three-stage workflow whose last job runs on `main` only.
pub const CONFIG: &str = r#"version: 2.1
parameters:
  greeting:
    type: string
    default: hello
jobs:
  build:
    environment:
      FROM_JOB: job-value
    steps:
      - checkout
      - run:
          name: greet
          command: echo << pipeline.parameters.greeting >>
  test:
    steps:
      - run: make test
  deploy:
    steps:
      - run: ./deploy
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
      - deploy:
          requires: [test]
          filters:
            branches:
              only: [main]
"#;

/// A config the parser refuses (a job without steps).
pub const BROKEN_CONFIG: &str = "version: 2.1\njobs:\n  build:\n    environment: {A: b}\nworkflows:\n  main:\n    jobs: [build]\n";

/// The slug of the project every fixture makes.
pub const SLUG: &str = "gh/acme/widget";

/// A server with one private project on a real repository, its admin and a personal token.
pub struct Fx {
    /// The server.
    pub app: TestApp,
    /// The project's repository (`main` holds [`CONFIG`]).
    pub repo: GitRepo,
    /// The project admin.
    pub user: User,
    /// The admin's personal token.
    pub token: String,
    /// The project, `gh/acme/widget`.
    pub project: Project,
    client: reqwest::Client,
}

impl Fx {
    /// Sets up the fixture on `app`.
    pub async fn new(app: TestApp) -> Fx {
        let repo = GitRepo::with_config(CONFIG);
        let user = app.user("ada", false).await;
        let token = app.personal_token(&user).await;
        let project = app.project_with_repo(&user, SLUG, &repo.url(), false).await;
        Fx {
            app,
            repo,
            user,
            token,
            project,
            client: reqwest::Client::new(),
        }
    }

    /// `GET path` as the admin.
    pub async fn get(&self, path: &str) -> Reply {
        self.get_as(&self.token, path).await
    }

    /// `GET path` with `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> Reply {
        send(
            self.client
                .get(self.app.at(path))
                .header("Circle-Token", token),
        )
        .await
    }

    /// `POST path` as the admin with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        send(
            self.client
                .post(self.app.at(path))
                .header("Circle-Token", &self.token)
                .json(body),
        )
        .await
    }

    /// `method path` as the admin with a JSON body.
    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Reply {
        send(
            self.client
                .request(method, self.app.at(path))
                .header("Circle-Token", &self.token)
                .json(body),
        )
        .await
    }

    /// The project's v2 pipelines, newest first (one page).
    pub async fn pipelines(&self) -> Vec<Value> {
        let r = self.get(&format!("/api/v2/project/{SLUG}/pipeline")).await;
        r.status_is(200);
        r.body["items"].as_array().unwrap().clone()
    }

    /// `POST path` as the admin without a body.
    pub async fn post_empty(&self, path: &str) -> Reply {
        send(
            self.client
                .post(self.app.at(path))
                .header("Circle-Token", &self.token),
        )
        .await
    }

    /// `POST path` as the admin with a form-encoded body.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        send(
            self.client
                .post(self.app.at(path))
                .header("Circle-Token", &self.token)
                .form(fields),
        )
        .await
    }

    /// `POST /api/v2/project/gh/acme/widget/pipeline` with `body`; fails unless 201.
    pub async fn v2_trigger(&self, body: &Value) -> Value {
        let r = self
            .post_json(&format!("/api/v2/project/{SLUG}/pipeline"), body)
            .await;
        r.status_is(201);
        r.body
    }

    /// `POST /api/v1.1/project/gh/acme/widget/tree/{branch}` with `body`; fails unless 201.
    pub async fn v1_trigger(&self, branch: &str, body: &Value) -> Value {
        let r = self
            .post_json(&format!("/api/v1.1/project/{SLUG}/tree/{branch}"), body)
            .await;
        r.status_is(201);
        r.body
    }

    /// A runner with a fresh runner token.
    pub async fn runner(&self, name: &str) -> PlayedRunner {
        PlayedRunner {
            client: self.client.clone(),
            base: self.app.at(circlet_core::runner_protocol::BASE_PATH),
            token: self.app.runner_token(name).await,
        }
    }

    /// The v1.1 build `n` of the project.
    pub async fn build(&self, n: i64) -> Value {
        let r = self.get(&format!("/api/v1.1/project/{SLUG}/{n}")).await;
        r.status_is(200);
        r.body
    }
}

/// A runner played by the test over HTTP, with its own runner token.
#[derive(Clone)]
pub struct PlayedRunner {
    client: reqwest::Client,
    base: String,
    /// Its token (`CCIRUN_…`).
    pub token: String,
}

/// A runner protocol reply: status and body text (empty for 204).
#[derive(Debug)]
pub struct Raw {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub text: String,
}

impl Raw {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("status {}, not JSON ({e}): {}", self.status, self.text))
    }
}

impl PlayedRunner {
    /// `POST {base}{path}` with an optional JSON body, or a text body when `text` is given.
    pub async fn post(&self, path: &str, json: Option<&Value>, text: Option<&str>) -> Raw {
        let mut rb = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(60));
        if let Some(j) = json {
            rb = rb.json(j);
        }
        if let Some(t) = text {
            rb = rb
                .header("content-type", "text/plain; charset=utf-8")
                .body(t.to_owned());
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            status < 500,
            "runner call {path}: server error {status}: {text}"
        );
        Raw { status, text }
    }

    /// `PUT {base}/jobs/{id}/artifacts/{raw_path}` with `body`; `raw_path` goes into the URL as
    /// given (already percent-encoded where wanted).
    pub async fn put_artifact(&self, id: &str, raw_path: &str, body: reqwest::Body) -> Raw {
        let r = self
            .client
            .put(format!("{}/jobs/{id}/artifacts/{raw_path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/octet-stream")
            .timeout(Duration::from_secs(120))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            status < 500,
            "artifact upload {raw_path}: server error {status}: {text}"
        );
        Raw { status, text }
    }

    /// Claims with `?wait=secs`: the job, or `None` on 204.
    pub async fn claim_wait(&self, secs: u64) -> Option<Value> {
        let r = self.post(&format!("/claim?wait={secs}"), None, None).await;
        match r.status {
            200 => Some(r.json()),
            204 => {
                assert_eq!(r.text, "", "204 has no body");
                None
            }
            other => panic!("claim answered {other}: {}", r.text),
        }
    }

    /// Claims without waiting.
    pub async fn claim(&self) -> Option<Value> {
        self.claim_wait(0).await
    }

    /// Claims a job that must be there.
    pub async fn claim_some(&self) -> Value {
        self.claim().await.expect("a queued job to claim")
    }

    /// A heartbeat: the raw reply.
    pub async fn heartbeat(&self, id: &str) -> Raw {
        self.post(&format!("/jobs/{id}/heartbeat"), None, None)
            .await
    }

    /// Step `index` began; must answer 204.
    pub async fn start_step(&self, id: &str, index: u32, name: &str, command: Option<&str>) {
        let body = serde_json::json!({"index": index, "name": name, "command": command});
        let r = self
            .post(&format!("/jobs/{id}/steps"), Some(&body), None)
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    /// A chunk of step `index`'s output; must answer 204.
    pub async fn output(&self, id: &str, index: u32, text: &str) {
        let r = self
            .post(
                &format!("/jobs/{id}/steps/{index}/output"),
                None,
                Some(text),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    /// Step `index` ended; must answer 204.
    pub async fn finish_step(&self, id: &str, index: u32, outcome: &str, exit_code: Option<i32>) {
        let body = serde_json::json!({"outcome": outcome, "exit_code": exit_code});
        let r = self
            .post(
                &format!("/jobs/{id}/steps/{index}/finish"),
                Some(&body),
                None,
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    /// Test results; must answer 204.
    pub async fn tests(&self, id: &str, tests: &Value) {
        let r = self
            .post(&format!("/jobs/{id}/tests"), Some(tests), None)
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    /// The job ended: the raw reply.
    pub async fn finish_raw(&self, id: &str, outcome: &str) -> Raw {
        let body = serde_json::json!({"outcome": outcome, "message": null});
        self.post(&format!("/jobs/{id}/finish"), Some(&body), None)
            .await
    }

    /// The job ended; must answer 204.
    pub async fn finish(&self, id: &str, outcome: &str) {
        let r = self.finish_raw(id, outcome).await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    /// Claims the next job (which must exist) and ends it with `outcome` at once.
    pub async fn run_next(&self, outcome: &str) -> Value {
        let job = self.claim_some().await;
        self.finish(id_of(&job), outcome).await;
        job
    }
}

/// A claimed job's id.
pub fn id_of(job: &Value) -> &str {
    job["id"].as_str().expect("a claimed job has a string id")
}

/// A claimed job's environment as a map, later entries winning (as a shell applies them).
pub fn env_of(job: &Value) -> std::collections::BTreeMap<String, String> {
    job["env"]
        .as_array()
        .expect("env is a list of pairs")
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().expect("a name").to_owned(),
                pair[1].as_str().expect("a value").to_owned(),
            )
        })
        .collect()
}

/// The JSON type a field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A string.
    Str,
    /// An integer.
    Int,
    /// A boolean.
    Bool,
    /// An object.
    Obj,
    /// An array.
    Arr,
    /// A string holding a uuid.
    Uuid,
    /// A string holding an RFC 3339 timestamp.
    Time,
}

/// A field's requirement: always this type, or this type or null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    /// Present, never null.
    Is(Ty),
    /// Present, this type or null.
    OrNull(Ty),
}

fn has_type(v: &Value, ty: Ty) -> bool {
    match ty {
        Ty::Str => v.is_string(),
        Ty::Int => v.is_i64() || v.is_u64(),
        Ty::Bool => v.is_boolean(),
        Ty::Obj => v.is_object(),
        Ty::Arr => v.is_array(),
        Ty::Uuid => v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
        Ty::Time => v.as_str().is_some_and(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }),
    }
}

/// Fails, listing every problem, unless `v` has each field (a `/`-separated path) with its
/// required type.
#[track_caller]
pub fn check_schema(what: &str, v: &Value, fields: &[(&str, Req)]) {
    let mut problems = Vec::new();
    for (path, req) in fields {
        let pointer = format!("/{path}");
        match (v.pointer(&pointer), req) {
            (None, _) => problems.push(format!("{path}: missing")),
            (Some(Value::Null), Req::OrNull(_)) => {}
            (Some(x), Req::Is(ty) | Req::OrNull(ty)) if !has_type(x, *ty) => {
                problems.push(format!("{path}: want {req:?}, got {x}"))
            }
            _ => {}
        }
    }
    assert!(
        problems.is_empty(),
        "{what} does not match the schema:\n  {}\nwhole object: {v:#}",
        problems.join("\n  ")
    );
}

/// Polls `probe` until it returns `Ok`, for what the server does in the background.
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    crate::tokens::eventually(what, probe).await
}
