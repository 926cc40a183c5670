//! The leak banner: tokens the leak guard revoked in the last week, shown to their owner
//! (personal tokens) and to the admins of their project (project tokens).

use crate::error::PageError;
use crate::state::AppState;
use circlet_app::builds::leak_guard::LEAKED;
use circlet_core::scope::Action;
use circlet_store::User;

/// How far back the banner looks.
const WINDOW: time::Duration = time::Duration::days(7);

/// What the banner says: one line per revoked token, newest first.
pub async fn for_user(state: &AppState, user: &User) -> Result<Vec<String>, PageError> {
    // Project tokens' leaks go to who may manage them.
    let projects = state
        .app
        .projects_where(
            &circlet_app::Caller::Session(user.clone()),
            Action::ManageProjectTokens,
        )
        .await?;
    let since = time::OffsetDateTime::now_utc() - WINDOW;
    Ok(state
        .app
        .store
        .audit()
        .recent_for(LEAKED, since, user.id, &projects)
        .await?
        .into_iter()
        .map(|e| format!("{} ({})", e.detail, super::when(&e.at)))
        .collect())
}
