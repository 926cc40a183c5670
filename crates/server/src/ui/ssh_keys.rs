//! Project settings → SSH Keys: the checkout keys (add a deploy key or a user key; the newest
//! is the one checkouts use) and the additional keys for hosts (paste a private key), each with
//! its SHA-256 and MD5 fingerprints, and a confirmed Remove. Private halves go in and are never
//! shown again; the rules are `circlet_app::ssh_keys`'.

use super::projects::SlugPath;
use super::{Chrome, UiForm, render_with, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circlet_app::ssh_keys::{CheckoutKind, ProjectSshKeys};
use circlet_app::{AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_store::{Project, SshKeyRecord, User};
use serde::Deserialize;

/// A key as the page shows it.
pub struct KeyView {
    id: i64,
    kind: String,
    hostname: String,
    sha256: String,
    md5: String,
    public_key: String,
    preferred: bool,
    added: String,
}

#[derive(Template)]
#[template(path = "ssh_keys.html")]
struct SshKeysPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    checkout: Vec<KeyView>,
    additional: Vec<KeyView>,
    hostname: String,
    error: Option<String>,
}

fn view(k: SshKeyRecord, preferred: bool) -> KeyView {
    KeyView {
        id: k.id,
        kind: k.kind,
        hostname: if k.hostname.is_empty() {
            "(every host)".into()
        } else {
            k.hostname
        },
        sha256: k.fingerprint_sha256,
        md5: k.fingerprint_md5,
        public_key: k.public_key,
        preferred,
        added: when(&k.created_at),
    }
}

async fn door<'a>(
    state: &'a AppState,
    user: &User,
    slug: &ProjectSlug,
) -> Result<ProjectSshKeys<'a>, PageError> {
    Ok(state
        .app
        .ssh_keys(&Caller::visitor(Some(user)), slug)
        .await?)
}

async fn page(
    keys: ProjectSshKeys<'_>,
    user: User,
    csrf: CsrfToken,
    status: StatusCode,
    error: Option<String>,
    hostname: String,
) -> Result<Response, PageError> {
    let checkout = keys.checkout_keys().await?;
    let newest = checkout.last().map(|k| k.id);
    let checkout = checkout
        .into_iter()
        .map(|k| {
            let preferred = Some(k.id) == newest;
            view(k, preferred)
        })
        .collect();
    let additional = keys
        .additional_keys()
        .await?
        .into_iter()
        .map(|k| view(k, false))
        .collect();
    Ok(render_with(
        status,
        &SshKeysPage {
            chrome: Chrome::new(Some(user), csrf),
            project: keys.project,
            tab: "ssh",
            checkout,
            additional,
            hostname,
            error,
        },
    )?
    .into_response())
}

fn url(project: &Project) -> String {
    format!("/projects/{}/settings/ssh", project.slug)
}

/// A user's mistake, shown on the page; anything else is an error page.
fn mistake(e: AppError) -> Result<String, PageError> {
    match e {
        AppError::Invalid(m) | AppError::Conflict(m) => Ok(m),
        other => Err(other.into()),
    }
}

/// `GET …/settings/ssh`.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Response, PageError> {
    let keys = door(&state, &user, &slug).await?;
    page(keys, user, csrf, StatusCode::OK, None, String::new()).await
}

/// The checkout key form.
#[derive(Deserialize)]
pub struct CheckoutForm {
    kind: String,
}

/// `POST …/settings/ssh/checkout`: a new checkout key.
pub async fn add_checkout(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<CheckoutForm>,
) -> Result<Response, PageError> {
    let keys = door(&state, &user, &slug).await?;
    let made = match CheckoutKind::parse(&form.kind) {
        Ok(kind) => keys.create_checkout_key(kind).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match made {
        Ok(()) => Ok(Redirect::to(&url(&keys.project)).into_response()),
        Err(e) => {
            let error = mistake(e)?;
            page(
                keys,
                user,
                csrf,
                StatusCode::BAD_REQUEST,
                Some(error),
                String::new(),
            )
            .await
        }
    }
}

/// The additional key form.
#[derive(Deserialize)]
pub struct AdditionalForm {
    #[serde(default)]
    hostname: String,
    private_key: String,
}

/// `POST …/settings/ssh/additional`: an additional key for a host.
pub async fn add_additional(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<AdditionalForm>,
) -> Result<Response, PageError> {
    let keys = door(&state, &user, &slug).await?;
    match keys.add_key(&form.hostname, &form.private_key).await {
        Ok(_) => Ok(Redirect::to(&url(&keys.project)).into_response()),
        Err(e) => {
            let error = mistake(e)?;
            // The hostname comes back; the private key never does.
            page(
                keys,
                user,
                csrf,
                StatusCode::BAD_REQUEST,
                Some(error),
                form.hostname,
            )
            .await
        }
    }
}

/// `{id}` of a key's remove URL.
#[derive(Deserialize)]
pub struct KeyPath {
    vcs: String,
    org: String,
    repo: String,
    id: String,
}

/// `POST …/settings/ssh/{id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(p): Path<KeyPath>,
) -> Result<Response, PageError> {
    let slug = ProjectSlug::from_parts(&p.vcs, &p.org, &p.repo)?;
    let keys = door(&state, &user, &slug).await?;
    let id: i64 =
        p.id.parse()
            .map_err(|_| PageError::not_found("There is no such SSH key."))?;
    keys.delete(id).await?;
    Ok(Redirect::to(&url(&keys.project)).into_response())
}
