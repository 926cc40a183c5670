//! One project's API tokens, behind one door: [`App::project_tokens`] checks that the caller
//! may manage them ([`Action::ManageProjectTokens`]); the v1.1 API and Project settings → API
//! Permissions both come through it.

use super::{Actor, Lifetime, issue_project};
use crate::error::TOKEN_NOT_FOUND;
use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::scope::{Action, ProjectScope};
use circlet_core::token::{self, NewToken, TokenKind, TokenName};
use circlet_store::{Project, TokenRecord};
use time::OffsetDateTime;
use uuid::Uuid;

impl App {
    /// The API tokens of the project at `slug`, if `caller` may manage them.
    pub async fn project_tokens(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
    ) -> Result<ProjectTokens<'_>, AppError> {
        let access = self
            .authorize(caller, slug, Action::ManageProjectTokens)
            .await?;
        Ok(ProjectTokens {
            app: self,
            project: access.project,
        })
    }
}

/// One project's tokens, for a caller allowed to manage them.
pub struct ProjectTokens<'a> {
    app: &'a App,
    /// The project.
    pub project: Project,
}

impl ProjectTokens<'_> {
    /// Every token of the project (never a value: only the last 4 characters are kept).
    pub async fn list(&self) -> Result<Vec<TokenRecord>, AppError> {
        Ok(self
            .app
            .store
            .tokens()
            .list_project(self.project.id)
            .await?)
    }

    /// The project's token `uuid`; another project's token, or none, is not found.
    pub async fn get(&self, uuid: Uuid) -> Result<TokenRecord, AppError> {
        let found = self.app.store.tokens().by_uuid(uuid).await?;
        self.ours(found)
    }

    /// The project's token named by `id_or_value`: its id, or the token itself (CircleCI's
    /// API accepts either); another project's token, or none, is not found.
    pub async fn find(&self, id_or_value: &str) -> Result<TokenRecord, AppError> {
        let found = match Uuid::parse_str(id_or_value) {
            Ok(uuid) => self.app.store.tokens().by_uuid(uuid).await?,
            Err(_) => match token::check(id_or_value) {
                Some(checked) => self.app.store.tokens().by_digest(&checked.digest).await?,
                None => None,
            },
        };
        self.ours(found)
    }

    fn ours(&self, found: Option<TokenRecord>) -> Result<TokenRecord, AppError> {
        found
            .filter(|t| t.kind == TokenKind::Project && t.project_id == Some(self.project.id))
            .ok_or_else(|| AppError::NotFound(TOKEN_NOT_FOUND.into()))
    }

    /// Issues a token of `scope` labelled `label` living `lifetime` (within the instance's
    /// limit). The value is in the returned [`NewToken`], once.
    pub async fn issue(
        &self,
        scope: ProjectScope,
        label: &TokenName,
        lifetime: Lifetime,
        actor: &Actor,
    ) -> Result<(NewToken, TokenRecord), AppError> {
        let policy = self.app.config.token_policy();
        let expires_at = policy.expiry(lifetime, OffsetDateTime::now_utc())?;
        issue_project(
            &self.app.store,
            &self.project,
            scope,
            label,
            expires_at,
            actor,
        )
        .await
    }

    /// Replaces `old` (see [`super::replace`]), with a new scope or lifetime if `with` says;
    /// the old value stops working.
    pub async fn replace(
        &self,
        old: &TokenRecord,
        with: super::Replacement,
        actor: &Actor,
    ) -> Result<(NewToken, TokenRecord), AppError> {
        let policy = self.app.config.token_policy();
        super::replace(&self.app.store, &policy, old, with, actor).await
    }

    /// Deletes `token`; it stops working at once.
    pub async fn delete(&self, token: &TokenRecord, actor: &Actor) -> Result<(), AppError> {
        super::delete(&self.app.store, token, "token.deleted", actor).await
    }
}
