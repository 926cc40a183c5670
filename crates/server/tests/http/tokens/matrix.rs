//! The authorization matrix: every endpoint that exists × every kind of caller, on a private and
//! on a public project, in one table. A later issue adds an endpoint by adding a row.

use super::{DENIED, LOGIN_REQUIRED, NO_PROJECT, Reply};
use crate::app::TestApp;
use crate::both_backends;
use circlet_core::Role;
use circlet_core::scope::ProjectScope;
use circlet_store::Project;
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
}

/// The columns, in the order every row lists them.
const COLUMNS: [Who; 10] = [
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
}

const OK: Want = Want::Pass(200);
const NEW: Want = Want::Pass(201);
const L401: Want = Want::Login;
const D403: Want = Want::Denied;
const N404: Want = Want::Hidden;

impl Want {
    fn status(self) -> u16 {
        match self {
            Want::Pass(s) => s,
            Want::Login => 401,
            Want::Denied => 403,
            Want::Hidden => 404,
        }
    }

    fn message(self) -> Option<&'static str> {
        match self {
            Want::Pass(_) => None,
            Want::Login => Some(LOGIN_REQUIRED),
            Want::Denied => Some(DENIED),
            Want::Hidden => Some(NO_PROJECT),
        }
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
            Content::Json | Content::Xml => {
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
}

/// One endpoint: how to call it, and what each column gets on a private and a public project.
struct Row {
    method: Method,
    /// `{slug}` becomes the project's slug; `{token}` the id of a fresh project token of that
    /// project, made for this cell (something to delete).
    path: &'static str,
    body: Option<Value>,
    content: Content,
    private: [Want; 10],
    public: [Want; 10],
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
    private: [Want; 10],
    public: [Want; 10],
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
fn get_row(content: Content, path: &'static str, private: [Want; 10], public: [Want; 10]) -> Row {
    Row {
        content,
        ..row(Method::GET, path, None, private, public)
    }
}

/// The matrix of issue 3 item 8 for the endpoints that exist. Project tokens never manage
/// tokens; v2 and `/me` are for users only.
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use Method as M;
    let new_token = || Some(json!({"scope": "status", "label": "made by the matrix"}));
    vec![
        //                                                                  reader writer admin outsider site-admin all view-builds status other-all none
        row(M::GET,    "/api/v1.1/project/{slug}/token",         None,
            /* private */ [D403, D403, OK,  N404, OK,  D403, D403, D403, N404, N404],
            /* public  */ [D403, D403, OK,  D403, OK,  D403, D403, D403, D403, L401]),
        row(M::POST,   "/api/v1.1/project/{slug}/token",         new_token(),
            /* private */ [D403, D403, NEW, N404, NEW, D403, D403, D403, N404, N404],
            /* public  */ [D403, D403, NEW, D403, NEW, D403, D403, D403, D403, L401]),
        row(M::DELETE, "/api/v1.1/project/{slug}/token/{token}", None,
            /* private */ [D403, D403, OK,  N404, OK,  D403, D403, D403, N404, N404],
            /* public  */ [D403, D403, OK,  D403, OK,  D403, D403, D403, D403, L401]),
        row(M::GET,    "/api/v1.1/me",                           None,
            /* private */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401]),
        row(M::GET,    "/api/v2/me",                             None,
            /* private */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401]),
        row(M::GET,    "/api/v2/project/{slug}",                 None,
            /* private */ [OK,   OK,   OK,  N404, OK,  L401, L401, L401, L401, L401],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401]),
        // Issue 4 items 10 and 11: badges and cc.xml need `ReadStatus`; `view-builds` does not
        // grant it, even on a public project that anyone may read without a token.
        get_row(Content::Svg, "/{slug}.svg",
            /* private */ [OK,   OK,   OK,  N404, OK,  OK,   D403, OK,   N404, N404],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  OK,   D403, OK,   OK,   OK]),
        get_row(Content::Svg, "/{slug}/tree/main.svg?style=shield",
            /* private */ [OK,   OK,   OK,  N404, OK,  OK,   D403, OK,   N404, N404],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  OK,   D403, OK,   OK,   OK]),
        get_row(Content::Xml, "/{slug}.cc.xml",
            /* private */ [OK,   OK,   OK,  N404, OK,  OK,   D403, OK,   N404, N404],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  OK,   D403, OK,   OK,   OK]),
        get_row(Content::Xml, "/{slug}/tree/main.cc.xml?ccmenu=cc.xml",
            /* private */ [OK,   OK,   OK,  N404, OK,  OK,   D403, OK,   N404, N404],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  OK,   D403, OK,   OK,   OK]),
        get_row(Content::Xml, "/cc.xml",
            /* private */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401],
            /* public  */ [OK,   OK,   OK,  OK,   OK,  L401, L401, L401, L401, L401]),
    ]
}

/// Users, projects and one token per (column, project visibility).
struct World {
    private: Project,
    public: Project,
    tokens: HashMap<(Who, bool), String>,
}

impl World {
    async fn build(app: &TestApp) -> World {
        let admin = app.user("ada", false).await;
        let reader = app.user("rita", false).await;
        let writer = app.user("walt", false).await;
        let outsider = app.user("olga", false).await;
        let root = app.user("root", true).await;
        let private = app.project(&admin, "gh/acme/private", false).await;
        let public = app.project(&admin, "gh/acme/public", true).await;
        let other = app.project(&admin, "gh/acme/other", false).await;
        let mut tokens = HashMap::new();
        let other_all = app.project_token(&other, ProjectScope::All).await;
        let personal = [
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
        World {
            private,
            public,
            tokens,
        }
    }
}

/// Calls `row` as `token` on the project at `slug` (which may not exist: `project` is `None`).
async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    row: &Row,
    slug: &str,
    project: Option<&Project>,
    token: Option<&str>,
) -> Reply {
    let mut path = row.path.replace("{slug}", slug);
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
                    let got = call(&app, &client, row, &slug, Some(project), token).await;
                    let ok = want.matches(row.content, &got);
                    let _ = write!(grid_want, " {:>11}", want.status());
                    let _ = write!(grid_got, " {:>10}{}", got.status, if ok { ' ' } else { '!' });
                    if !ok {
                        let _ = writeln!(details, "    {who:?}: want {} {:?}, got {}", want.status(), want.message().unwrap_or(""), describe(&got));
                    }
                    // A project one may not see answers exactly like one that does not exist.
                    if *want == N404 {
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
