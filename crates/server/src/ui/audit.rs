//! The audit log in the browser: a user's own view (their tokens, their actions, the projects
//! they administer) and the site admin's view of everything.

use super::admin::SiteAdmin;
use super::{Chrome, render};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Html;
use circlet_core::scope::Action;
use circlet_store::{AuditEntry, AuditScope};

/// How many entries a page shows, newest first.
const PAGE_ENTRIES: i64 = 500;

/// One audit entry, ready to show.
pub struct AuditRow {
    at: String,
    event: String,
    actor: String,
    address: String,
    detail: String,
}

impl AuditRow {
    fn of(e: AuditEntry) -> Self {
        AuditRow {
            at: at_seconds(&e.at),
            event: e.event,
            actor: or_dash(e.actor_login),
            address: or_dash(e.address),
            detail: e.detail,
        }
    }
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "—".into() } else { s }
}

/// Audit times to the second: the order of events matters more here than elsewhere.
fn at_seconds(t: &time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&f).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "account_audit.html")]
struct AccountAuditPage {
    chrome: Chrome,
    rows: Vec<AuditRow>,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AdminAuditPage {
    chrome: Chrome,
    rows: Vec<AuditRow>,
}

/// `GET /account/audit`: entries about the user's tokens or by the user, and those of the
/// projects they administer.
pub async fn account(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let project_ids = state
        .app
        .projects_where(
            &circlet_app::Caller::Session(user.clone()),
            Action::ManageProject,
        )
        .await?;
    let scope = AuditScope::For {
        user_id: user.id,
        project_ids: &project_ids,
    };
    let rows = state.app.store.audit().list(scope, PAGE_ENTRIES).await?;
    render(&AccountAuditPage {
        chrome: Chrome::new(Some(user), csrf),
        rows: rows.into_iter().map(AuditRow::of).collect(),
    })
}

/// `GET /admin/audit`: every entry (site admins only).
pub async fn admin(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let SiteAdmin(admin) = SiteAdmin::check(user)?;
    let rows = state
        .app
        .store
        .audit()
        .list(AuditScope::All, PAGE_ENTRIES)
        .await?;
    render(&AdminAuditPage {
        chrome: Chrome::new(Some(admin), csrf),
        rows: rows.into_iter().map(AuditRow::of).collect(),
    })
}
