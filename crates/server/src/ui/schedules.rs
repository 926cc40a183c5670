//! Project settings → Schedules: the project's scheduled pipelines (API v2's), each with its
//! timetable, what it builds, whom it acts as and when it next runs; add one, remove one. The
//! rules and the scheduler are `circlet_app::schedules`'.

use super::projects::{ItemPath, SlugPath};
use super::{Chrome, UiForm, render_with, when};
use crate::auth::csrf::CsrfToken;
use crate::auth::session::CurrentUser;
use crate::error::PageError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circlet_app::schedules::{ProjectSchedules, ScheduleSpec, timetable_of};
use circlet_app::{AppError, Caller};
use circlet_core::schedule::{Timetable, WEEKDAYS};
use circlet_store::{Project, User};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A schedule as the page lists it.
pub struct ScheduleView {
    uuid: String,
    name: String,
    description: String,
    timetable: String,
    target: String,
    actor: String,
    next: String,
}

#[derive(Template)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    chrome: Chrome,
    project: Project,
    tab: &'static str,
    schedules: Vec<ScheduleView>,
    weekdays: [&'static str; 7],
    error: Option<String>,
}

fn describe(t: &Timetable) -> String {
    let days = if t.days_of_month.is_empty() {
        t.days_of_week.join(", ")
    } else {
        format!(
            "days {}",
            t.days_of_month
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let hours = t
        .hours_of_day
        .iter()
        .map(|h| format!("{h:02}"))
        .collect::<Vec<_>>()
        .join(", ");
    let months = if t.months.is_empty() {
        String::new()
    } else {
        format!(" in {}", t.months.join(", "))
    };
    format!("{}× an hour at {hours} UTC, {days}{months}", t.per_hour)
}

async fn page(
    door: ProjectSchedules<'_>,
    user: User,
    csrf: CsrfToken,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let schedules = door
        .list(0, 500)
        .await?
        .into_iter()
        .map(|s| ScheduleView {
            uuid: s.uuid.to_string(),
            timetable: timetable_of(&s).map(|t| describe(&t)).unwrap_or_default(),
            target: match (&s.branch, &s.tag) {
                (_, Some(t)) => format!("tag {t}"),
                (Some(b), None) => format!("branch {b}"),
                (None, None) => String::new(),
            },
            actor: s.actor_login.clone(),
            next: s
                .next_run_at
                .map(|t| when(&t))
                .unwrap_or_else(|| "never".into()),
            name: s.name,
            description: s.description,
        })
        .collect();
    Ok(render_with(
        status,
        &SchedulesPage {
            chrome: Chrome::new(Some(user), csrf),
            project: door.project,
            tab: "schedules",
            schedules,
            weekdays: WEEKDAYS,
            error,
        },
    )?
    .into_response())
}

/// `GET …/settings/schedules`.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
) -> Result<Response, PageError> {
    let door = state
        .app
        .schedules(&Caller::visitor(Some(&user)), &slug, false)
        .await?;
    page(door, user, csrf, StatusCode::OK, None).await
}

/// The add form; each weekday's checkbox is named after the day.
#[derive(Deserialize)]
pub struct ScheduleForm {
    name: String,
    #[serde(default)]
    description: String,
    per_hour: String,
    hours: String,
    #[serde(default)]
    branch: String,
    actor: String,
    #[serde(flatten)]
    days: BTreeMap<String, String>,
}

fn spec(form: ScheduleForm) -> Result<ScheduleSpec, AppError> {
    let bad = |what: &str| AppError::Invalid(format!("{what} must be numbers"));
    let per_hour = form
        .per_hour
        .trim()
        .parse()
        .map_err(|_| bad("Runs an hour"))?;
    let hours_of_day = form
        .hours
        .split(',')
        .map(|h| h.trim().parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("Hours (UTC), separated by commas,"))?;
    let days_of_week = WEEKDAYS
        .iter()
        .filter(|d| form.days.contains_key(**d))
        .map(|d| (*d).to_owned())
        .collect();
    let mut parameters = BTreeMap::new();
    if !form.branch.trim().is_empty() {
        parameters.insert(
            "branch".to_owned(),
            serde_json::Value::String(form.branch.trim().to_owned()),
        );
    }
    Ok(ScheduleSpec {
        name: form.name,
        description: form.description,
        attribution_actor: form.actor,
        parameters,
        timetable: Timetable {
            per_hour,
            hours_of_day,
            days_of_week,
            days_of_month: vec![],
            months: vec![],
        },
    })
}

/// `POST …/settings/schedules`: adds a schedule.
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    SlugPath(slug): SlugPath,
    UiForm(form): UiForm<ScheduleForm>,
) -> Result<Response, PageError> {
    let door = state
        .app
        .schedules(&Caller::visitor(Some(&user)), &slug, true)
        .await?;
    let made = match spec(form) {
        Ok(s) => door.create(&s).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(_) => Ok(Redirect::to(&format!(
            "/projects/{}/settings/schedules",
            door.project.slug
        ))
        .into_response()),
        Err(AppError::Invalid(m) | AppError::Conflict(m)) => {
            page(door, user, csrf, StatusCode::BAD_REQUEST, Some(m)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST …/settings/schedules/{uuid}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    item: ItemPath,
) -> Result<Response, PageError> {
    let missing = || PageError::not_found(circlet_app::schedules::SCHEDULE_NOT_FOUND);
    let uuid = item.uuid.ok_or_else(missing)?;
    let (door, s) = state
        .app
        .schedule(&Caller::visitor(Some(&user)), uuid, true)
        .await?;
    if door.project.slug.key() != item.slug.key() {
        return Err(missing());
    }
    door.delete(&s).await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/settings/schedules",
        door.project.slug
    ))
    .into_response())
}
