//! Orbs: what this instance's registry holds (`/orbs`), and one orb's versions and packed YAML
//! (`/orbs/{namespace}/{name}`). Publishing is the operator's: `circlet admin orb publish`.

use super::{Chrome, render, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use circlet_app::Caller;
use circlet_store::OrbRecord;
use serde::Deserialize;

/// One orb version as the pages list it.
pub struct OrbRow {
    namespace: String,
    name: String,
    version: String,
    published: String,
    published_by: String,
}

impl From<&OrbRecord> for OrbRow {
    fn from(r: &OrbRecord) -> Self {
        OrbRow {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            version: format!("{}.{}.{}", r.major, r.minor, r.patch),
            published: when(&r.published_at),
            published_by: r.published_by.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "orbs.html")]
struct OrbsPage {
    chrome: Chrome,
    rows: Vec<OrbRow>,
}

#[derive(Template)]
#[template(path = "orb.html")]
struct OrbPage {
    chrome: Chrome,
    full_name: String,
    versions: Vec<OrbRow>,
    shown: String,
    source: String,
}

/// `GET /orbs`.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let caller = Caller::Session(user.clone());
    let rows = state
        .app
        .orbs(&caller)
        .await?
        .iter()
        .map(OrbRow::from)
        .collect();
    render(&OrbsPage {
        chrome: Chrome::new(Some(user), csrf),
        rows,
    })
}

/// Which version to show.
#[derive(Deserialize)]
pub struct VersionQuery {
    version: Option<String>,
}

/// `GET /orbs/{namespace}/{name}`: its versions and one version's YAML (the newest unless
/// `?version=X.Y.Z`).
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    Path((namespace, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
) -> Result<Html<String>, PageError> {
    let caller = Caller::Session(user.clone());
    let versions: Vec<OrbRow> = state
        .app
        .orb_versions(&caller, &namespace, &name)
        .await?
        .iter()
        .map(OrbRow::from)
        .collect();
    let shown = q.version.unwrap_or_else(|| versions[0].version.clone());
    let source = state
        .app
        .orb_source(&caller, &namespace, &name, &shown)
        .await?;
    render(&OrbPage {
        chrome: Chrome::new(Some(user), csrf),
        full_name: format!("{namespace}/{name}"),
        versions,
        shown,
        source,
    })
}
