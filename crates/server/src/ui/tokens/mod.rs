//! User settings → Personal API Tokens, and the pages both kinds of token share: the value shown
//! once, the removal confirmation with the token's impact, and the detail view with its recent
//! use. Project tokens' own handlers are in `project_tokens`.
//!
//! A token value appears in exactly one response, the first view of the page its creation
//! redirected to ([`reveal`]), and that response says `Cache-Control: no-store`.

mod expiry;
mod personal;
pub mod reveal;

pub use expiry::*;

pub use personal::*;

use super::moment::Moment;
use super::{Chrome, render, render_with, when};
use crate::auth::client::ClientIp;
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::route::RouteParams;
use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::tokens::{self, Actor};
use circlet_core::scope::{ProjectScope, narrower_scope};
use circlet_core::token::{NewToken, TokenKind, TokenName};
use circlet_store::{Project, TokenRecord, User};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How far back the usage shown on detail and removal pages reaches.
pub const USAGE_WINDOW: Duration = Duration::days(30);

/// Where the personal tokens' pages live.
const PERSONAL_BASE: &str = "/account/tokens";

/// The `{uuid}` segment of a token page's URL; anything that is not a UUID is a 404.
pub struct TokenId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for TokenId {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let params = RouteParams::from_request_parts(parts, state).await?;
        params
            .get("uuid")
            .and_then(|v| Uuid::parse_str(v).ok())
            .map(TokenId)
            .ok_or_else(token_not_found)
    }
}

/// The answer for a token that does not exist or is not the caller's to see.
pub fn token_not_found() -> PageError {
    PageError::not_found("There is no such API token.")
}

/// A token as the UI lists it: never its value, only the last 4 characters.
pub struct TokenView {
    /// Public id, for links.
    pub uuid: String,
    /// Name (personal) or label (project).
    pub name: String,
    /// `…` and the last 4 characters.
    pub masked: String,
    /// The scope's UI label, for project tokens.
    pub scope: Option<&'static str>,
    /// When it was created.
    pub created: Moment,
    /// When it was last used; `None`: never.
    pub last_used: Option<Moment>,
    /// When it expires; `None`: never.
    pub expires: Option<Moment>,
    /// Whether it has expired.
    pub expired: bool,
    /// For a token that never expires, what goes beside its "no expiry" mark: when it was
    /// last used, or that it never was.
    pub no_expiry: Option<String>,
    /// What a personal token is limited to, in words ("full rights of your account" when
    /// nothing is); `None` for project tokens.
    pub limits: Option<String>,
}

/// For a token without an expiry, what its "no expiry" mark says beside it in every list:
/// "last used <when>" or "never used"; `None` for a token that expires.
pub fn no_expiry_note(t: &TokenRecord) -> Option<String> {
    match (t.expires_at, t.last_used_at) {
        (Some(_), _) => None,
        (None, Some(used)) => Some(format!("last used {}", when(&used))),
        (None, None) => Some("never used".into()),
    }
}

impl TokenView {
    /// The view of `t` at `now`.
    pub fn of(t: &TokenRecord, now: OffsetDateTime) -> Self {
        TokenView {
            uuid: t.uuid.to_string(),
            name: t.name.clone(),
            masked: format!("…{}", t.last4),
            scope: t.scope.map(ProjectScope::label),
            created: Moment::of(&t.created_at, now),
            last_used: t.last_used_at.as_ref().map(|at| Moment::of(at, now)),
            expires: t.expires_at.as_ref().map(|at| Moment::of(at, now)),
            expired: t.expired_at(now),
            no_expiry: no_expiry_note(t),
            limits: (t.kind == TokenKind::Personal).then(|| t.limits.describe()),
        }
    }

    /// Views of `tokens`, in order.
    pub fn all(tokens: &[TokenRecord]) -> Vec<Self> {
        let now = OffsetDateTime::now_utc();
        tokens.iter().map(|t| TokenView::of(t, now)).collect()
    }
}

/// One kind of request a token made recently.
pub struct KindUse {
    /// The kind as counted (`status`, `artifacts`, `me`, …).
    pub kind: String,
    /// What that kind of request is, for people.
    pub what: &'static str,
    /// How many in the window.
    pub count: i64,
    /// When last.
    pub last: String,
}

/// What removing a token would affect: when and from where it was last used, and what it did.
pub struct Impact {
    /// When it was last used; `None`: never.
    pub last_used: Option<Moment>,
    /// The last few client addresses, most recent first.
    pub addresses: Vec<String>,
    /// Kinds of requests in the last [`USAGE_WINDOW`], most used first.
    pub kinds: Vec<KindUse>,
}

/// What a counted request kind means, for people.
fn describe_kind(kind: &str) -> &'static str {
    match kind {
        "status" => "Build statuses (badges, cc.xml)",
        "builds" => "Builds, step output and test results",
        "artifacts" => "Build artifacts",
        "trigger" => "Triggering, retrying or cancelling builds",
        "env-vars" => "Environment variables",
        "project-tokens" => "Project API tokens",
        "me" => "The account's own details (/me)",
        "projects" => "Projects",
        "collaborations" => "The account's organizations",
        "config" => "Compiling configurations",
        "create-project" => "Adding projects",
        _ => "Other requests",
    }
}

impl Impact {
    /// Loads `t`'s recent use from the store.
    pub async fn of(state: &AppState, t: &TokenRecord) -> Result<Self, PageError> {
        let since = OffsetDateTime::now_utc() - USAGE_WINDOW;
        let usage = state.app.store.tokens().usage(t.id, since).await?;
        Ok(Impact {
            last_used: t
                .last_used_at
                .as_ref()
                .map(|at| Moment::of(at, OffsetDateTime::now_utc())),
            addresses: t.last_used_from.clone(),
            kinds: usage
                .into_iter()
                .map(|u| KindUse {
                    what: describe_kind(&u.request_kind),
                    kind: u.request_kind,
                    count: u.count,
                    last: when(&u.last_at),
                })
                .collect(),
        })
    }

    /// The least-privilege hint for a project token of `scope` that made these requests.
    pub fn hint(&self, scope: Option<ProjectScope>) -> Option<ScopeHint> {
        let scope = scope?;
        let used: Vec<&str> = self.kinds.iter().map(|k| k.kind.as_str()).collect();
        let narrower = narrower_scope(scope, &used)?;
        let did = match narrower {
            ProjectScope::Status => "read statuses",
            ProjectScope::ViewBuilds => "read build artifacts",
            ProjectScope::All => return None,
        };
        Some(ScopeHint {
            text: format!(
                "This {} token only {did} in the last {} days, yet it can do more: replace it with a {} token.",
                scope.label(),
                USAGE_WINDOW.whole_days(),
                narrower.label()
            ),
            value: narrower.as_str(),
            label: narrower.label(),
        })
    }
}

/// The warning that a project token's scope is wider than its use, with the scope to replace
/// it with in one step.
pub struct ScopeHint {
    /// What it did, and what to do.
    pub text: String,
    /// The narrower scope's form value.
    pub value: &'static str,
    /// The narrower scope's UI label.
    pub label: &'static str,
}

/// The narrower-scope hint of an unlimited personal token: the limit that would have allowed
/// everything it did.
pub struct LimitHint {
    /// What it did, and what to make instead.
    pub text: String,
    /// The New Token form, filled in with that limit.
    pub href: String,
}

impl Impact {
    /// The hint for an unlimited personal token that made these requests on the projects
    /// `touched` (slugs, most recent first): the lowest role ceiling covering its request kinds,
    /// on those projects. `None` for a limited token, one not used on any project, or one that
    /// made a request kind the rule does not know.
    pub fn limit_hint(&self, t: &TokenRecord, touched: &[String]) -> Option<LimitHint> {
        if t.kind != TokenKind::Personal || t.limits.is_limited() || touched.is_empty() {
            return None;
        }
        let used: Vec<&str> = self.kinds.iter().map(|k| k.kind.as_str()).collect();
        let ceiling = circlet_core::token_limits::lowest_ceiling(&used)?;
        let mut sorted = touched.to_vec();
        sorted.sort();
        let list = sorted.join(", ");
        let mut href = format!("{PERSONAL_BASE}/new?ceiling={}", ceiling.as_str());
        for slug in &sorted {
            href.push_str("&project=");
            href.push_str(&super::encode_query_value(slug));
        }
        Some(LimitHint {
            text: format!(
                "In the last {} days this token needed at most the {} role, on {list} only; a token limited to {} on {list} would do.",
                USAGE_WINDOW.whole_days(),
                ceiling.as_str(),
                ceiling.as_str()
            ),
            href,
        })
    }
}

/// The heading and tab navigation a token page sits in, and the URL its pages live under.
pub struct Place {
    /// The project, for project tokens; `None` for the user's personal tokens.
    pub project: Option<Project>,
    /// The list page's URL (`/account/tokens` or `…/settings/api`).
    pub base: String,
}

impl Place {
    fn personal() -> Self {
        Place {
            project: None,
            base: PERSONAL_BASE.into(),
        }
    }
}

/// The page that shows a new token's value, once (see [`reveal`]).
#[derive(Template)]
#[template(path = "token_created.html")]
struct CreatedPage {
    chrome: Chrome,
    project: Option<Project>,
    base: String,
    token: TokenView,
    /// `None` once the value has been shown.
    value: Option<NewToken>,
    replaced: bool,
}

/// The removal confirmation: what the token is, and what stops working without it.
#[derive(Template)]
#[template(path = "token_remove.html")]
struct RemovePage {
    chrome: Chrome,
    project: Option<Project>,
    base: String,
    token: TokenView,
    impact: Impact,
}

/// The removal confirmation page for `t`.
pub async fn remove_page(
    state: &AppState,
    chrome: Chrome,
    place: Place,
    t: &TokenRecord,
) -> Result<Html<String>, PageError> {
    render(&RemovePage {
        chrome,
        project: place.project,
        base: place.base,
        token: TokenView::of(t, OffsetDateTime::now_utc()),
        impact: Impact::of(state, t).await?,
    })
}

/// A token's detail view: its facts, recent use and the least-privilege hint.
#[derive(Template)]
#[template(path = "token_detail.html")]
struct DetailPage {
    chrome: Chrome,
    project: Option<Project>,
    base: String,
    token: TokenView,
    impact: Impact,
    hint: Option<ScopeHint>,
    limit_hint: Option<LimitHint>,
    /// The Replace form's expiry choices; `None` while a site admin has disabled creation.
    expiry: Option<ExpiryChoices>,
}

/// The detail page for `t`.
pub async fn detail_page(
    state: &AppState,
    chrome: Chrome,
    place: Place,
    t: &TokenRecord,
) -> Result<Html<String>, PageError> {
    let impact = Impact::of(state, t).await?;
    let limit_hint = if t.kind == TokenKind::Personal && !t.limits.is_limited() {
        let since = OffsetDateTime::now_utc() - USAGE_WINDOW;
        let mut touched = Vec::new();
        for id in state.app.store.tokens().projects_used(t.id, since).await? {
            if let Some(p) = state.app.store.projects().by_id(id).await? {
                touched.push(p.slug.to_string());
            }
        }
        impact.limit_hint(t, &touched)
    } else {
        None
    };
    let expiry = if tokens::creation_disabled(&state.app.store).await? {
        None
    } else {
        Some(ExpiryChoices::replacing(
            &state.app.config.token_policy(),
            t,
        ))
    };
    render(&DetailPage {
        chrome,
        project: place.project,
        base: place.base,
        token: TokenView::of(t, OffsetDateTime::now_utc()),
        hint: impact.hint(t.scope),
        limit_hint,
        impact,
        expiry,
    })
}

/// Why no token can be created now (a site admin disabled creation), for the pages that then
/// show the reason instead of a Create button; `None` when tokens can be created.
pub async fn creation_closed(state: &AppState) -> Result<Option<String>, PageError> {
    Ok(tokens::creation_disabled(&state.app.store)
        .await?
        .then(|| "A site admin has disabled API token creation on this instance. Existing tokens keep working and can be removed.".to_owned()))
}

/// The creation form, unless creation is closed: then a readable 403 that says why.
pub async fn ensure_creation_open(state: &AppState) -> Result<(), PageError> {
    match creation_closed(state).await? {
        Some(why) => Err(PageError::new(StatusCode::FORBIDDEN, why)),
        None => Ok(()),
    }
}

/// A form's outcome: a client error (shown again on the form with its status), or anything else.
pub fn form_error(e: PageError) -> Result<(StatusCode, String), PageError> {
    match e {
        PageError::Page {
            status, message, ..
        } if status.is_client_error() => Ok((status, message)),
        other => Err(other),
    }
}

/// The acting user and their address, for the audit log.
pub fn actor(user: &User, client: IpAddr) -> Actor {
    Actor::user(user, client.to_string())
}
