//! Forges' webhooks: the door project admins use (the secret, the build settings, the
//! deliveries and Redeliver; [`Webhooks`]) and the door forges knock at
//! ([`App::receive_hook`], in [`receive`]).

pub mod receive;

use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::forge::decide::BuildSettings;
use circlet_core::scope::Action;
use circlet_store::Project;
use circlet_store::hooks::DeliveryRecord;
use secrecy::{ExposeSecret, SecretString};

pub use receive::{HookReply, Received};

/// What the webhook secret is sealed for, within its project.
const SEALED_NAME: &str = "webhook-secret";

/// How many deliveries the settings page lists.
pub const LISTED_DELIVERIES: i64 = 30;

/// What a missing delivery is called.
pub const DELIVERY_NOT_FOUND: &str = "Delivery not found";

impl App {
    /// The door to a project's webhook settings: its admins only ([`Action::ManageProject`]).
    pub async fn webhooks(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
    ) -> Result<Webhooks<'_>, AppError> {
        let access = self.authorize(caller, slug, Action::ManageProject).await?;
        Ok(Webhooks {
            app: self,
            project: access.project,
            actor_login: caller
                .user()
                .map(|u| u.login.to_string())
                .unwrap_or_default(),
        })
    }

    /// The project's webhook secret in clear, if it has one (for checking a delivery).
    async fn hook_secret(&self, project: &Project) -> Result<Option<SecretString>, AppError> {
        let Some(sealed) = self.store.hooks().secret(project.id).await? else {
            return Ok(None);
        };
        match self.config.env_keys.open_sealed(
            &project.uuid.to_string(),
            SEALED_NAME,
            &sealed.key_id,
            &sealed.sealed,
        ) {
            Ok(clear) => Ok(Some(SecretString::from(clear))),
            Err(why) => {
                tracing::error!(project = %project.slug, "webhook secret {why}; deliveries are refused");
                Ok(None)
            }
        }
    }
}

/// A project's webhook settings, for one of its admins.
pub struct Webhooks<'a> {
    app: &'a App,
    /// The project.
    pub project: Project,
    actor_login: String,
}

impl Webhooks<'_> {
    /// When the project's secret was made, if it has one.
    pub async fn secret_made_at(&self) -> Result<Option<time::OffsetDateTime>, AppError> {
        Ok(self
            .app
            .store
            .hooks()
            .secret(self.project.id)
            .await?
            .map(|s| s.created_at))
    }

    /// Makes a new secret, replacing any earlier one (whose deliveries fail from now on), and
    /// returns it: the only time it is shown.
    pub async fn new_secret(&self) -> Result<SecretString, AppError> {
        let secret = circlet_core::secret::random_hex_secret();
        let (key_id, sealed) = self.app.config.env_keys.seal_for(
            &self.project.uuid.to_string(),
            SEALED_NAME,
            secret.expose_secret(),
        );
        self.app
            .store
            .hooks()
            .set_secret(self.project.id, &key_id, &sealed)
            .await?;
        tracing::info!(project = %self.project.slug, by = %self.actor_login, "webhook secret replaced");
        Ok(secret)
    }

    /// Changes what the project's webhooks build.
    pub async fn set_build_settings(&self, settings: BuildSettings) -> Result<(), AppError> {
        self.app
            .store
            .projects()
            .set_build_settings(self.project.id, settings)
            .await?;
        Ok(())
    }

    /// The newest deliveries, newest first.
    pub async fn deliveries(&self) -> Result<Vec<DeliveryRecord>, AppError> {
        Ok(self
            .app
            .store
            .hooks()
            .deliveries(self.project.id, LISTED_DELIVERIES)
            .await?)
    }

    /// Handles delivery `uuid` again as a new delivery, even a head already built.
    pub async fn redeliver(&self, uuid: uuid::Uuid) -> Result<Received, AppError> {
        let original = self
            .app
            .store
            .hooks()
            .delivery(self.project.id, uuid)
            .await?
            .ok_or_else(|| AppError::NotFound(DELIVERY_NOT_FOUND.into()))?;
        receive::redeliver(self.app, &self.project, &original).await
    }
}

/// Re-seals every webhook secret not under the current key, like
/// [`crate::env_vars::reseal_all`] does for variables; returns how many were re-sealed.
pub async fn reseal_secrets(
    store: &circlet_store::Store,
    keys: &crate::env_vars::Keyring,
) -> anyhow::Result<usize> {
    let current = keys.current_id();
    crate::env_vars::reseal_in_passes(
        "webhook secrets",
        async |limit| {
            Ok(store
                .hooks()
                .secrets_sealed_by_other_keys(&current, limit)
                .await?)
        },
        async |(project_id, old)| {
            let Some(project) = store.projects().by_id(project_id).await? else {
                return Ok(false);
            };
            let uuid = project.uuid.to_string();
            let clear = keys
                .open_sealed(&uuid, SEALED_NAME, &old.key_id, &old.sealed)
                .map_err(|why| anyhow::anyhow!("webhook secret of {} {why}", project.slug))?;
            let (key_id, sealed) = keys.seal_for(&uuid, SEALED_NAME, &clear);
            Ok(store
                .hooks()
                .reseal_secret(project_id, &old, &key_id, &sealed)
                .await?)
        },
    )
    .await
}
