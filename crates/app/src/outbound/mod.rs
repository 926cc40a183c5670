//! What circlet tells others when builds change: commit statuses back to the forge and
//! CircleCI's outbound webhooks (`workflow-completed`, `job-completed`).
//!
//! - the door for a project's admins ([`App::outbound`]): the status target (its token sealed
//!   like env vars) and the webhooks (their signing secrets sealed alike), and their logs;
//! - [`notify`]: which job and workflow changes are still to be told, turned into messages;
//! - [`send`]: the outbox, posted with retries and backoff, never on a job's path.

pub mod notify;
pub mod send;

use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::forge::{Forge, status};
use circlet_core::scope::Action;
use circlet_store::Project;
use circlet_store::outbound::{MessageRecord, NewWebhook, StatusTargetRecord, WebhookRecord};
use secrecy::{ExposeSecret, SecretString};

/// The events an outbound webhook can carry.
pub const EVENTS: [&str; 2] = ["workflow-completed", "job-completed"];
/// What the status target's token is sealed for.
const TARGET_SEALED: &str = "status-token";
/// How many messages a log shows.
pub const LOGGED: i64 = 30;
/// What a missing webhook is called.
pub const WEBHOOK_NOT_FOUND: &str = "Webhook not found";

fn webhook_sealed(uuid: &uuid::Uuid) -> String {
    format!("webhook-secret:{uuid}")
}

/// A webhook as an admin gives it.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    /// Its name.
    pub name: String,
    /// Where events go (`http(s)://`).
    pub url: String,
    /// Check the receiver's certificate.
    pub verify_tls: bool,
    /// The events.
    pub events: Vec<String>,
    /// The signing secret.
    pub signing_secret: SecretString,
}

impl App {
    /// The door to what a project tells others: its admins only.
    pub async fn outbound(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
    ) -> Result<ProjectOutbound<'_>, AppError> {
        let access = self.authorize(caller, slug, Action::ManageProject).await?;
        Ok(ProjectOutbound {
            app: self,
            project: access.project,
        })
    }

    /// The webhook with public id `uuid` and the door to its project ("Webhook not found" also
    /// when the caller may not manage its project).
    pub async fn outbound_webhook(
        &self,
        caller: &Caller,
        uuid: uuid::Uuid,
    ) -> Result<(ProjectOutbound<'_>, WebhookRecord), AppError> {
        let not_found = || AppError::NotFound(WEBHOOK_NOT_FOUND.into());
        let hook = self
            .store
            .outbound()
            .webhook(uuid)
            .await?
            .ok_or_else(not_found)?;
        let project = self
            .store
            .projects()
            .by_id(hook.project_id)
            .await?
            .ok_or_else(not_found)?;
        match self.outbound(caller, &project.slug).await {
            Ok(door) => Ok((door, hook)),
            Err(AppError::NotFound(_)) => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    fn open(
        &self,
        project_uuid: &uuid::Uuid,
        name: &str,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<SecretString, AppError> {
        self.config
            .env_keys
            .open_sealed(&project_uuid.to_string(), name, key_id, sealed)
            .map(SecretString::from)
            .map_err(|why| AppError::Internal(anyhow::anyhow!("a sealed secret {why}")))
    }
}

/// What one project tells others, for one of its admins.
pub struct ProjectOutbound<'a> {
    app: &'a App,
    /// The project.
    pub project: Project,
}

impl ProjectOutbound<'_> {
    /// The commit-status target.
    pub async fn status_target(&self) -> Result<Option<StatusTargetRecord>, AppError> {
        Ok(self
            .app
            .store
            .outbound()
            .status_target(self.project.id)
            .await?)
    }

    /// Sets where commit statuses go; the token is sealed and never shown again.
    pub async fn set_status_target(
        &self,
        forge: &str,
        api_url: &str,
        repository: &str,
        token: &SecretString,
    ) -> Result<(), AppError> {
        let forge = Forge::parse(forge)?;
        status::check_target(forge, api_url, repository.trim())?;
        if token.expose_secret().trim().is_empty() || token.expose_secret().len() > 1000 {
            return Err(AppError::Invalid(
                "the access token must be 1 to 1000 characters".into(),
            ));
        }
        let (key_id, sealed) = self.app.config.env_keys.seal_for(
            &self.project.uuid.to_string(),
            TARGET_SEALED,
            token.expose_secret().trim(),
        );
        let store = &self.app.store;
        if store
            .outbound()
            .status_target(self.project.id)
            .await?
            .is_none()
            && store.outbound().webhooks(self.project.id).await?.is_empty()
        {
            store.builds().mark_told(self.project.id).await?;
        }
        store
            .outbound()
            .drop_pending_statuses(self.project.id)
            .await?;
        store
            .outbound()
            .set_status_target(
                self.project.id,
                forge.as_str(),
                api_url.trim(),
                repository.trim(),
                &key_id,
                &sealed,
            )
            .await?;
        Ok(())
    }

    /// Stops posting commit statuses.
    pub async fn remove_status_target(&self) -> Result<(), AppError> {
        let outbound = self.app.store.outbound();
        outbound.drop_pending_statuses(self.project.id).await?;
        outbound.remove_status_target(self.project.id).await?;
        Ok(())
    }

    /// The project's webhooks.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRecord>, AppError> {
        Ok(self.app.store.outbound().webhooks(self.project.id).await?)
    }

    fn check(spec: &WebhookSpec) -> Result<String, AppError> {
        let name = spec.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::Invalid("name must be 1 to 100 characters".into()));
        }
        let url = spec.url.trim();
        let web = url.starts_with("https://") || url.starts_with("http://");
        if !web || url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AppError::Invalid(
                "url must be an http:// or https:// URL".into(),
            ));
        }
        if spec.events.is_empty() {
            return Err(AppError::Invalid(
                "events must name workflow-completed, job-completed or both".into(),
            ));
        }
        for e in &spec.events {
            if !EVENTS.contains(&e.as_str()) {
                return Err(AppError::Invalid(format!(
                    "unknown event '{}': use workflow-completed or job-completed",
                    e.escape_debug()
                )));
            }
        }
        let secret = spec.signing_secret.expose_secret();
        if secret.is_empty() || secret.len() > 500 {
            return Err(AppError::Invalid(
                "signing-secret must be 1 to 500 characters".into(),
            ));
        }
        let mut events = spec.events.clone();
        events.sort();
        events.dedup();
        Ok(events.join(","))
    }

    /// Adds a webhook.
    pub async fn create_webhook(&self, spec: &WebhookSpec) -> Result<WebhookRecord, AppError> {
        let events = Self::check(spec)?;
        let store = &self.app.store;
        if store
            .outbound()
            .status_target(self.project.id)
            .await?
            .is_none()
            && store.outbound().webhooks(self.project.id).await?.is_empty()
        {
            store.builds().mark_told(self.project.id).await?;
        }
        // Sealed once, under the id the row is made with.
        let uuid = uuid::Uuid::new_v4();
        let (key_id, sealed) = self.app.config.env_keys.seal_for(
            &self.project.uuid.to_string(),
            &webhook_sealed(&uuid),
            spec.signing_secret.expose_secret(),
        );
        Ok(store
            .outbound()
            .create_webhook(
                uuid,
                &NewWebhook {
                    project_id: self.project.id,
                    name: spec.name.trim(),
                    url: spec.url.trim(),
                    verify_tls: spec.verify_tls,
                    events: &events,
                    key_id: &key_id,
                    sealed: &sealed,
                },
            )
            .await?)
    }

    /// Replaces `hook`'s values with `spec`.
    pub async fn update_webhook(
        &self,
        hook: &WebhookRecord,
        spec: &WebhookSpec,
    ) -> Result<WebhookRecord, AppError> {
        let events = Self::check(spec)?;
        let (key_id, sealed) = self.app.config.env_keys.seal_for(
            &self.project.uuid.to_string(),
            &webhook_sealed(&hook.uuid),
            spec.signing_secret.expose_secret(),
        );
        self.app
            .store
            .outbound()
            .update_webhook(
                hook.id,
                &NewWebhook {
                    project_id: self.project.id,
                    name: spec.name.trim(),
                    url: spec.url.trim(),
                    verify_tls: spec.verify_tls,
                    events: &events,
                    key_id: &key_id,
                    sealed: &sealed,
                },
            )
            .await?
            .ok_or_else(|| AppError::NotFound(WEBHOOK_NOT_FOUND.into()))
    }

    /// `hook`'s signing secret, for an update that keeps it.
    pub fn signing_secret(&self, hook: &WebhookRecord) -> Result<SecretString, AppError> {
        self.app.open(
            &self.project.uuid,
            &webhook_sealed(&hook.uuid),
            &hook.key_id,
            &hook.sealed,
        )
    }

    /// Removes `hook` and its log.
    pub async fn delete_webhook(&self, hook: &WebhookRecord) -> Result<(), AppError> {
        if !self.app.store.outbound().delete_webhook(hook.id).await? {
            return Err(AppError::NotFound(WEBHOOK_NOT_FOUND.into()));
        }
        Ok(())
    }

    /// The newest messages to `webhook` (`None`: the commit statuses), newest first.
    pub async fn log(
        &self,
        webhook: Option<&WebhookRecord>,
    ) -> Result<Vec<MessageRecord>, AppError> {
        Ok(self
            .app
            .store
            .outbound()
            .log(self.project.id, webhook.map(|w| w.id), LOGGED)
            .await?)
    }
}

/// Re-seals every status token and webhook secret not under the current key; how many.
pub async fn reseal_secrets(
    store: &circlet_store::Store,
    keys: &crate::env_vars::Keyring,
) -> anyhow::Result<usize> {
    let current = keys.current_id();
    crate::env_vars::reseal_in_passes(
        "outbound secrets",
        async |limit| {
            Ok(store
                .outbound()
                .sealed_by_other_keys(&current, limit)
                .await?)
        },
        async |(tag, project_id, key_id, sealed): (String, i64, String, Vec<u8>)| {
            let Some(project) = store.projects().by_id(project_id).await? else {
                return Ok(false);
            };
            let name = match tag.split_once(':') {
                Some(("target", _)) => TARGET_SEALED.to_owned(),
                Some(("webhook", id)) => {
                    let id: i64 = id.parse().unwrap_or(-1);
                    let Some(hook) = store
                        .outbound()
                        .webhooks(project_id)
                        .await?
                        .into_iter()
                        .find(|h| h.id == id)
                    else {
                        return Ok(false);
                    };
                    webhook_sealed(&hook.uuid)
                }
                _ => return Ok(false),
            };
            let uuid = project.uuid.to_string();
            let clear = keys
                .open_sealed(&uuid, &name, &key_id, &sealed)
                .map_err(|why| anyhow::anyhow!("{tag} of {} {why}", project.slug))?;
            let (new_key, new_sealed) = keys.seal_for(&uuid, &name, &clear);
            Ok(store
                .outbound()
                .reseal(&tag, &sealed, &new_key, &new_sealed)
                .await?)
        },
    )
    .await
}
