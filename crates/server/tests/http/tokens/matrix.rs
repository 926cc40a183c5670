//! The authorization matrix: every endpoint that exists × every kind of caller, on a private and
//! on a public project, in one table. A later issue adds an endpoint by adding a row.

use super::{DENIED, LOGIN_REQUIRED, NO_PROJECT, Reply, send};
use crate::app::TestApp;
use circlet_core::Role;
use circlet_core::scope::ProjectScope;
use circlet_store::Project;
use circlet_testkit::GitRepo;
use circlet_testkit::both_backends;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The callers, one column each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    /// Personal token of a member with the read role.
    Reader,
    /// Personal token of a member with the write role.
    Writer,
    /// Personal token of a project admin.
    Admin,
    /// Personal token of a user who is not a member.
    Outsider,
    /// Personal token of a site admin who is not a member.
    SiteAdmin,
    /// Project token `all` of the project asked about.
    All,
    /// Project token `view-builds` of the project asked about.
    ViewBuilds,
    /// Project token `status` of the project asked about.
    Status,
    /// Project token `all` of another (private) project.
    OtherAll,
    /// No credential.
    Nobody,
    /// Personal token of the project admin, limited to the read role (issue 16).
    LimitedRead,
    /// Personal token of the project admin, limited to the write role.
    LimitedWrite,
    /// Personal token of the project admin, limited to another project (`gh/acme/other`).
    LimitedOther,
    /// Personal token of the project admin, limited to the organization `gh/acme`.
    LimitedOrg,
}

/// The columns, in the order every row lists them.
const COLUMNS: [Who; 14] = [
    Who::Reader,
    Who::Writer,
    Who::Admin,
    Who::Outsider,
    Who::SiteAdmin,
    Who::All,
    Who::ViewBuilds,
    Who::Status,
    Who::OtherAll,
    Who::Nobody,
    Who::LimitedRead,
    Who::LimitedWrite,
    Who::LimitedOther,
    Who::LimitedOrg,
];

/// What one cell expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Success with this status.
    Pass(u16),
    /// 401 "You must log in first."
    Login,
    /// 403 "Permission denied"
    Denied,
    /// 404 "Project not found"
    Hidden,
    /// 404 with this message: a thing addressed by id (a pipeline, a workflow) that the caller
    /// may not see answers like one that does not exist.
    Gone(&'static str),
}

const OK: Want = Want::Pass(200);
const NEW: Want = Want::Pass(201);
const L401: Want = Want::Login;
const D403: Want = Want::Denied;
const N404: Want = Want::Hidden;
const ACC: Want = Want::Pass(202);
const P404: Want = Want::Gone("Pipeline not found");
const W404: Want = Want::Gone("Workflow not found");

impl Want {
    fn status(self) -> u16 {
        match self {
            Want::Pass(s) => s,
            Want::Login => 401,
            Want::Denied => 403,
            Want::Hidden | Want::Gone(_) => 404,
        }
    }

    fn message(self) -> Option<&'static str> {
        match self {
            Want::Pass(_) => None,
            Want::Login => Some(LOGIN_REQUIRED),
            Want::Denied => Some(DENIED),
            Want::Hidden => Some(NO_PROJECT),
            Want::Gone(message) => Some(message),
        }
    }

    /// Whether the caller is told "no such thing", which must read exactly like a thing that
    /// does not exist.
    fn hidden(self) -> bool {
        matches!(self, Want::Hidden | Want::Gone(_))
    }

    /// Whether `got` is this cell's answer for an endpoint answering with `content`.
    fn matches(self, content: Content, got: &Reply) -> bool {
        let ct = got
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if got.status != self.status() {
            return false;
        }
        match content {
            // An image endpoint answers with an image whatever the status (an `<img>` must
            // render); there is no message to compare, only the status.
            Content::Svg => ct == "image/svg+xml",
            // A feed is XML on success and a JSON message otherwise.
            Content::Xml if matches!(self, Want::Pass(_)) => ct.starts_with("application/xml"),
            // A file is whatever it is; only its refusals are JSON.
            Content::File if matches!(self, Want::Pass(_)) => got.text == ARTIFACT,
            Content::Json | Content::Xml | Content::File => {
                ct.starts_with("application/json")
                    && self.message().is_none_or(|m| got.message() == m)
            }
        }
    }
}

/// What an endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// JSON, errors as `{"message": …}`.
    Json,
    /// An SVG image, refusals included.
    Svg,
    /// A cc.xml feed; errors as JSON.
    Xml,
    /// A downloaded file (any type); errors as JSON.
    File,
}

/// One endpoint: how to call it, and what each column gets on a private and a public project.
struct Row {
    method: Method,
    /// `{slug}` becomes the project's slug; `{token}` the id of a fresh project token of that
    /// project, made for this cell (something to delete); `{build}`, `{pipeline}` and
    /// `{workflow}` the finished build (number 1) the project was given, its pipeline's and its
    /// workflow's ids.
    path: &'static str,
    body: Option<Value>,
    content: Content,
    private: [Want; 14],
    public: [Want; 14],
}

impl Row {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn row(
    method: Method,
    path: &'static str,
    body: Option<Value>,
    private: [Want; 14],
    public: [Want; 14],
) -> Row {
    Row {
        method,
        path,
        body,
        content: Content::Json,
        private,
        public,
    }
}

/// A `GET` row for an endpoint that answers with `content` rather than JSON.
fn get_row(content: Content, path: &'static str, private: [Want; 14], public: [Want; 14]) -> Row {
    Row {
        content,
        ..row(Method::GET, path, None, private, public)
    }
}

/// The matrix of issue 3 item 8 for the endpoints that exist. Project tokens never manage
/// tokens; `/me` and v2's writes are for users only; v2's reads answer like v1.1's (issue 17
/// item 14).
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use Method as M;
    let new_token = || Some(json!({"scope": "status", "label": "made by the matrix"}));
    vec![
        // A limited personal token acts as its user with at most its ceiling (read-limited and
        // write-limited admins answer like readers and writers), within its reach only (limited
        // to another project, the admin answers like an outsider; to the project's organization,
        // like the admin).
        //                                                                  reader writer admin outsider site-admin all view-builds status other-all none | limited: read write other-project org
        row(M::GET,    "/api/v1.1/project/{slug}/token",         None,
            /* private */ [D403, D403, OK,  N404, OK,  D403, D403, D403, N404, N404, D403, D403, N404, OK],
            /* public  */ [D403, D403, OK,  D403, OK,  D403, D403, D403, D403, L401, D403, D403, D403, OK]),
        row(M::POST,   "/api/v1.1/project/{slug}/token",         new_token(),
            /* private */ [D403, D403, NEW, N404, NEW, D403, D403, D403, N404, N404, D403, D403, N404, NEW],
            /* public  */ [D403, D403, NEW, D403, NEW, D403, D403, D403, D403, L401, D403, D403, D403, NEW]),
        row(M::DELETE, "/api/v1.1/project/{slug}/token/{token}", None,
            /* private */ [D403, D403, OK,  N404, OK,  D403, D403, D403, N404, N404, D403, D403, N404, OK],
            /* public  */ [D403, D403, OK,  D403, OK,  D403, D403, D403, D403, L401, D403, D403, D403, OK]),
        row(M::GET,    "/api/v1.1/me",                           None,
            /* private */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v2/me",                             None,
            /* private */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v2/project/{slug}",                 None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        // Issue 4 items 10 and 11: badges and cc.xml need `ReadStatus`; `view-builds` does not
        // grant it on a private project. Issue 17 item 14: a token never has less than no
        // token, so on a public project every token reads what anyone may.
        get_row(Content::Svg, "/{slug}.svg",
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, OK  , N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        get_row(Content::Svg, "/{slug}/tree/main.svg?style=shield",
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, OK  , N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        get_row(Content::Xml, "/{slug}.cc.xml",
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, OK  , N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        get_row(Content::Xml, "/{slug}/tree/main.cc.xml?ccmenu=cc.xml",
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, OK  , N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        get_row(Content::Xml, "/cc.xml",
            /* private */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK]),
        // Issue 5: environment variables, project admins only; never project tokens.
        row(M::GET,    "/api/v1.1/project/{slug}/envvar",        None,
            /* private */ [D403, D403, OK,  N404, OK,  D403, D403, D403, N404, N404, D403, D403, N404, OK],
            /* public  */ [D403, D403, OK,  D403, OK,  D403, D403, D403, D403, L401, D403, D403, D403, OK]),
        row(M::POST,   "/api/v1.1/project/{slug}/envvar",        Some(json!({"name": "MATRIX", "value": "matrix-value"})),
            /* private */ [D403, D403, NEW, N404, NEW, D403, D403, D403, N404, N404, D403, D403, N404, NEW],
            /* public  */ [D403, D403, NEW, D403, NEW, D403, D403, D403, D403, L401, D403, D403, D403, NEW]),
        row(M::GET,    "/api/v2/project/{slug}/envvar",          None,
            /* private */ [D403, D403, OK,  N404, OK,  L401, L401, L401, L401, L401, D403, D403, N404, OK],
            /* public  */ [D403, D403, OK,  D403, OK,  L401, L401, L401, L401, L401, D403, D403, D403, OK]),
        row(M::POST,   "/api/v2/project/{slug}/envvar",          Some(json!({"name": "MATRIX", "value": "matrix-value"})),
            /* private */ [D403, D403, NEW, N404, NEW, L401, L401, L401, L401, L401, D403, D403, N404, NEW],
            /* public  */ [D403, D403, NEW, D403, NEW, L401, L401, L401, L401, L401, D403, D403, D403, NEW]),
        // Issue 4: builds. Reading builds is `ReadBuilds` (project tokens: `all` only);
        // triggering, retrying and canceling need the write role, never a project token.
        row(M::GET,    "/api/v1.1/project/{slug}",               None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v1.1/project/{slug}/tree/main",     None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v1.1/project/{slug}/{build}",       None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v1.1/project/{slug}/{build}/tests", None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v1.1/project/{slug}/{build}/output/0/0", None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::POST,   "/api/v1.1/project/{slug}/tree/main",     only_build(),
            /* private */ [D403, NEW,  NEW, N404, NEW, D403, D403, D403, N404, N404, D403, NEW , N404, NEW],
            /* public  */ [D403, NEW,  NEW, D403, NEW, D403, D403, D403, D403, L401, D403, NEW , D403, NEW]),
        row(M::POST,   "/api/v1.1/project/{slug}",               Some(json!({"job": "build"})),
            /* private */ [D403, NEW,  NEW, N404, NEW, D403, D403, D403, N404, N404, D403, NEW , N404, NEW],
            /* public  */ [D403, NEW,  NEW, D403, NEW, D403, D403, D403, D403, L401, D403, NEW , D403, NEW]),
        row(M::POST,   "/api/v1.1/project/{slug}/build",         None,
            /* private */ [D403, OK,   OK,  N404, OK,  D403, D403, D403, N404, N404, D403, OK  , N404, OK],
            /* public  */ [D403, OK,   OK,  D403, OK,  D403, D403, D403, D403, L401, D403, OK  , D403, OK]),
        row(M::POST,   "/api/v1.1/project/{slug}/{build}/retry", None,
            /* private */ [D403, NEW,  NEW, N404, NEW, D403, D403, D403, N404, N404, D403, NEW , N404, NEW],
            /* public  */ [D403, NEW,  NEW, D403, NEW, D403, D403, D403, D403, L401, D403, NEW , D403, NEW]),
        row(M::POST,   "/api/v1.1/project/{slug}/{build}/cancel", None,
            /* private */ [D403, OK,   OK,  N404, OK,  D403, D403, D403, N404, N404, D403, OK  , N404, OK],
            /* public  */ [D403, OK,   OK,  D403, OK,  D403, D403, D403, D403, L401, D403, OK  , D403, OK]),
        row(M::GET,    "/api/v1.1/recent-builds",                None,
            /* private */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v1.1/projects",                     None,
            /* private */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401, OK  , OK  , OK  , OK]),
        row(M::POST,   "/api/v2/project/{slug}/pipeline",        Some(json!({})),
            /* private */ [D403, NEW,  NEW, N404, NEW, L401, L401, L401, L401, L401, D403, NEW , N404, NEW],
            /* public  */ [D403, NEW,  NEW, D403, NEW, L401, L401, L401, L401, L401, D403, NEW , D403, NEW]),
        row(M::GET,    "/api/v2/project/{slug}/pipeline",        None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v2/project/{slug}/pipeline/1",      None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v2/project/{slug}/job/{build}",     None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , D403, D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::POST,   "/api/v2/project/{slug}/job/{build}/cancel", None,
            /* private */ [D403, OK,   OK,  N404, OK,  L401, L401, L401, L401, L401, D403, OK  , N404, OK],
            /* public  */ [D403, OK,   OK,  D403, OK,  L401, L401, L401, L401, L401, D403, OK  , D403, OK]),
        row(M::GET,    "/api/v2/pipeline/{pipeline}",            None,
            /* private */ [OK  , OK  , OK  , P404, OK  , OK  , D403, D403, P404, P404, OK  , OK  , P404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v2/pipeline/{pipeline}/workflow",   None,
            /* private */ [OK  , OK  , OK  , P404, OK  , OK  , D403, D403, P404, P404, OK  , OK  , P404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v2/workflow/{workflow}",            None,
            /* private */ [OK  , OK  , OK  , W404, OK  , OK  , D403, D403, W404, W404, OK  , OK  , W404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v2/workflow/{workflow}/job",        None,
            /* private */ [OK  , OK  , OK  , W404, OK  , OK  , D403, D403, W404, W404, OK  , OK  , W404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::POST,   "/api/v2/workflow/{workflow}/cancel",     None,
            /* private */ [D403, ACC,  ACC, W404, ACC, L401, L401, L401, L401, L401, D403, ACC , W404, ACC],
            /* public  */ [D403, ACC,  ACC, D403, ACC, L401, L401, L401, L401, L401, D403, ACC , D403, ACC]),
        // Issue 17: a rerun starts pipelines' jobs: the write role, users only.
        row(M::POST,   "/api/v2/workflow/{workflow}/rerun",      Some(json!({})),
            /* private */ [D403, ACC,  ACC, W404, ACC, L401, L401, L401, L401, L401, D403, ACC , W404, ACC],
            /* public  */ [D403, ACC,  ACC, D403, ACC, L401, L401, L401, L401, L401, D403, ACC , D403, ACC]),
        // Issue 5: artifacts are `ReadArtifacts`: read role, `view-builds` or `all`, anyone on
        // a public project (so every token there); `status` never on a private one. v2 reads
        // follow the same rule (issue 17 item 14: project tokens within their scope, anyone
        // on a public project).
        row(M::GET,    "/api/v1.1/project/{slug}/{build}/artifacts", None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , OK  , D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v1.1/project/{slug}/latest/artifacts?branch=main", None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , OK  , D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        row(M::GET,    "/api/v2/project/{slug}/{build}/artifacts", None,
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , OK  , D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
        get_row(Content::File, "/artifacts/{slug}/{build}/0/out/report.txt",
            /* private */ [OK  , OK  , OK  , N404, OK  , OK  , OK  , D403, N404, N404, OK  , OK  , N404, OK],
            /* public  */ [OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK  , OK]),
    ]
}

/// A v1.1 trigger body that runs the `build` job alone.
fn only_build() -> Option<Value> {
    Some(json!({"build_parameters": {"CIRCLE_JOB": "build"}}))
}

/// The one artifact of each project's finished build (`out/report.txt`).
const ARTIFACT: &str = "the matrix's artifact\n";

/// The config of the matrix's projects: one job.
const CONFIG: &str = "version: 2.1\njobs:\n  build:\n    steps: [checkout]\nworkflows:\n  main:\n    jobs: [build]\n";

/// A finished build of a project, for the rows that address one.
struct Built {
    build_num: i64,
    pipeline: String,
    workflow: String,
}

/// Users, projects (on a real repository, each with one finished build) and one token per
/// (column, project visibility).
struct World {
    private: Project,
    public: Project,
    tokens: HashMap<(Who, bool), String>,
    built: HashMap<bool, Built>,
    _repo: GitRepo,
}

impl World {
    async fn build(app: &TestApp) -> World {
        let admin = app.user("ada", false).await;
        let reader = app.user("rita", false).await;
        let writer = app.user("walt", false).await;
        let outsider = app.user("olga", false).await;
        let root = app.user("root", true).await;
        let repo = GitRepo::with_config(CONFIG);
        let private = app
            .project_with_repo(&admin, "gh/acme/private", &repo.url(), false)
            .await;
        let public = app
            .project_with_repo(&admin, "gh/acme/public", &repo.url(), true)
            .await;
        let other = app.project(&admin, "gh/acme/other", false).await;
        let mut tokens = HashMap::new();
        let other_all = app.project_token(&other, ProjectScope::All).await;
        let limited =
            |projects: Vec<&Project>, organization: Option<&str>, ceiling: Option<Role>| {
                circlet_app::tokens::AskedLimits {
                    projects: projects.into_iter().map(|p| p.slug.clone()).collect(),
                    organization: organization
                        .map(|o| circlet_core::slug::parse_organization(o).unwrap()),
                    ceiling,
                }
            };
        let limited_token = async |limits| app.personal_token_limited(&admin, limits).await.0;
        let personal = [
            (
                Who::LimitedRead,
                limited_token(limited(vec![], None, Some(Role::Read))).await,
            ),
            (
                Who::LimitedWrite,
                limited_token(limited(vec![], None, Some(Role::Write))).await,
            ),
            (
                Who::LimitedOther,
                limited_token(limited(vec![&other], None, None)).await,
            ),
            (
                Who::LimitedOrg,
                limited_token(limited(vec![], Some("gh/acme"), None)).await,
            ),
            (Who::Reader, app.personal_token(&reader).await),
            (Who::Writer, app.personal_token(&writer).await),
            (Who::Admin, app.personal_token(&admin).await),
            (Who::Outsider, app.personal_token(&outsider).await),
            (Who::SiteAdmin, app.personal_token(&root).await),
            (Who::OtherAll, other_all),
        ];
        for (project, public) in [(&private, false), (&public, true)] {
            let members = app.store.projects();
            members
                .set_member(project.id, reader.id, Role::Read)
                .await
                .unwrap();
            members
                .set_member(project.id, writer.id, Role::Write)
                .await
                .unwrap();
            for (who, token) in &personal {
                tokens.insert((*who, public), token.clone());
            }
            for (who, scope) in [
                (Who::All, ProjectScope::All),
                (Who::ViewBuilds, ProjectScope::ViewBuilds),
                (Who::Status, ProjectScope::Status),
            ] {
                tokens.insert((who, public), app.project_token(project, scope).await);
            }
        }
        let admin_token = tokens[&(Who::Admin, false)].clone();
        let runner = app.runner_token("matrix runner").await;
        let mut built = HashMap::new();
        for (project, public) in [(&private, false), (&public, true)] {
            built.insert(
                public,
                finished_build(app, project, &admin_token, &runner).await,
            );
        }
        World {
            private,
            public,
            tokens,
            built,
            _repo: repo,
        }
    }
}

/// Triggers build 1 of `project` as its admin and plays a runner that runs its step and
/// finishes it.
async fn finished_build(app: &TestApp, project: &Project, admin: &str, runner: &str) -> Built {
    let client = reqwest::Client::new();
    let slug = project.slug.to_string();
    let made = send(
        client
            .post(app.at(&format!("/api/v1.1/project/{slug}/tree/main")))
            .header("Circle-Token", admin)
            .json(&only_build()),
    )
    .await;
    made.status_is(201);
    let pipeline = send(
        client
            .get(app.at(&format!("/api/v2/project/{slug}/pipeline/1")))
            .header("Circle-Token", admin),
    )
    .await;
    let runner_call = |path: String, body: Option<Value>| {
        let mut rb = client
            .post(app.at(&format!("/api/runner/v1{path}")))
            .bearer_auth(runner);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send()
    };
    let claimed: Value = runner_call("/claim".into(), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(claimed["build_num"], made.body["build_num"], "{claimed}");
    let id = claimed["id"].as_str().unwrap();
    // Its one step, as a runner reports it: `output/0/0` reads that step's output.
    let step = runner_call(
        format!("/jobs/{id}/steps"),
        Some(json!({"index": 0, "name": "Checkout code", "command": null})),
    )
    .await
    .unwrap();
    assert_eq!(step.status(), 204);
    let uploaded = client
        .put(app.at(&format!(
            "/api/runner/v1/jobs/{id}/artifacts/out/report.txt"
        )))
        .bearer_auth(runner)
        .body(ARTIFACT)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 204);
    let done = runner_call(
        format!("/jobs/{id}/finish"),
        Some(json!({"outcome": "success", "message": null})),
    )
    .await
    .unwrap();
    assert_eq!(done.status(), 204);
    Built {
        build_num: made.body["build_num"].as_i64().unwrap(),
        pipeline: pipeline.body["id"].as_str().unwrap().to_owned(),
        workflow: made.body["workflows"]["workflow_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

/// Calls `row` as `token` on the project at `slug` (which may not exist: `project` and `built`
/// are `None`).
async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    row: &Row,
    slug: &str,
    project: Option<(&Project, &Built)>,
    token: Option<&str>,
) -> Reply {
    let mut path = row.path.replace("{slug}", slug);
    let missing = || uuid::Uuid::new_v4().to_string();
    let (build_num, pipeline, workflow) = match project {
        Some((_, b)) => (b.build_num, b.pipeline.clone(), b.workflow.clone()),
        None => (1, missing(), missing()),
    };
    path = path
        .replace("{build}", &build_num.to_string())
        .replace("{pipeline}", &pipeline)
        .replace("{workflow}", &workflow);
    let project = project.map(|(p, _)| p);
    if path.contains("{token}") {
        let id = match project {
            Some(p) => {
                app.project_token_record(p, ProjectScope::Status)
                    .await
                    .1
                    .uuid
            }
            None => uuid::Uuid::new_v4(),
        };
        path = path.replace("{token}", &id.to_string());
    }
    let mut request = client.request(row.method.clone(), app.at(&path));
    if let Some(t) = token {
        request = request.header("Circle-Token", t);
    }
    if let Some(body) = &row.body {
        request = request.json(body);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned();
    assert!(status < 500, "server error {status}: {text}");
    // A non-JSON body (image, feed) has no message: `Value::Null`.
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

fn describe(r: &Reply) -> String {
    let mut body = r.text.clone();
    if body.len() > 120 {
        body.truncate(120);
        body.push('…');
    }
    format!("{} {body}", r.status)
}

both_backends! {
    setup = TestApp::spawn;
    async fn the_authorization_matrix(app) {
        let world = World::build(&app).await;
        let client = reqwest::Client::new();
        let rows = rows();
        let mut cells = 0;
        let mut report = String::new();
        for row in &rows {
            for (public, project, wants) in [(false, &world.private, &row.private), (true, &world.public, &row.public)] {
                let where_ = if public { "public" } else { "private" };
                let slug = project.slug.to_string();
                let mut grid_want = String::new();
                let mut grid_got = String::new();
                let mut details = String::new();
                for (who, want) in COLUMNS.iter().zip(wants) {
                    cells += 1;
                    let token = world.tokens.get(&(*who, public)).map(String::as_str);
                    let built = &world.built[&public];
                    let got = call(&app, &client, row, &slug, Some((project, built)), token).await;
                    let ok = want.matches(row.content, &got);
                    let _ = write!(grid_want, " {:>11}", want.status());
                    let _ = write!(grid_got, " {:>10}{}", got.status, if ok { ' ' } else { '!' });
                    if !ok {
                        let _ = writeln!(details, "    {who:?}: want {} {:?}, got {}", want.status(), want.message().unwrap_or(""), describe(&got));
                    }
                    // A project one may not see answers exactly like one that does not exist.
                    if want.hidden() {
                        let missing = call(&app, &client, row, "gh/acme/missing", None, token).await;
                        if (missing.status, &missing.text) != (got.status, &got.text) {
                            let _ = writeln!(details, "    {who:?}: a missing project answers {}, this one {}", describe(&missing), describe(&got));
                        }
                    }
                }
                if !details.is_empty() {
                    let header: String = COLUMNS.iter().map(|w| format!(" {:>11}", format!("{w:?}"))).collect();
                    let _ = writeln!(report, "{} on the {where_} project:\n  who {header}\n  want{grid_want}\n  got {grid_got}\n{details}", row.name());
                }
            }
        }
        assert_eq!(cells, rows.len() * 2 * COLUMNS.len());
        if !report.is_empty() {
            eprintln!("authorization matrix mismatches (! marks a cell):\n{report}");
            panic!("the authorization matrix differs from issue 3; see the cells above");
        }
    }
}
