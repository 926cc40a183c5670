//! A job's contexts: whether the user who started its pipeline may use each one (judged when a
//! runner claims it), their variables opened for it, every use and refusal audited; and the
//! re-sealing of context variables when the env key rotates.

use crate::{App, AppError};
use circlet_core::Role;
use circlet_core::context::{self, Denial, RestrictionKind, Starter};
use circlet_store::builds::PipelineRecord;
use circlet_store::organizations::Organization;
use circlet_store::{NewAuditEntry, Project};
use uuid::Uuid;

/// A context a job may use, opened.
#[derive(Debug)]
pub struct UsedContext {
    /// Its public id (the job's OIDC tokens list it in `context-ids`).
    pub uuid: Uuid,
    /// Its variables in clear, by name.
    pub vars: Vec<(String, String)>,
}

/// Why a job may not run: what its page says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthorized(pub String);

impl App {
    /// Who started `pipeline`, as context restrictions judge them.
    async fn starter(
        &self,
        pipeline: &PipelineRecord,
        org: &Organization,
    ) -> Result<(Starter, String), AppError> {
        let who = pipeline.actor_login.clone();
        match pipeline.actor_id {
            Some(id) => {
                let mut role = match self.store.users().by_id(id).await? {
                    Some(user) => self.org_role(&user, org).await?,
                    None => None,
                };
                // Started through a limited token: the user counts with at most its ceiling.
                if let Some(ceiling) = pipeline.actor_role_ceiling.as_deref() {
                    let ceiling = Role::parse(ceiling).unwrap_or(Role::Read);
                    role = role.map(|r| r.min(ceiling));
                }
                Ok((Starter::User(role), who))
            }
            // A forge's push or pull request, or a schedule run as the system.
            None if pipeline.trigger_type == "webhook" || who == crate::schedules::SYSTEM_ACTOR => {
                Ok((Starter::Forge, who))
            }
            // The user who started it was deleted since.
            None => Ok((Starter::User(None), who)),
        }
    }

    /// The contexts `names` for a job of `project` in `pipeline`, opened, when the pipeline's
    /// starter may use every one; else why not. Each use and refusal is audited.
    pub async fn job_contexts(
        &self,
        project: &Project,
        pipeline: &PipelineRecord,
        build_num: i64,
        names: &[String],
    ) -> Result<Result<Vec<UsedContext>, Unauthorized>, AppError> {
        if names.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let org = self
            .store
            .organizations()
            .ensure(project.slug.vcs(), project.slug.org())
            .await?;
        let org_slug = format!("{}/{}", org.vcs.short(), org.name);
        let (starter, who) = self.starter(pipeline, &org).await?;
        let project_id = project.uuid.to_string();
        let mut used = Vec::new();
        for name in names {
            let Some(found) = self.store.contexts().by_name(org.id, name).await? else {
                let why = format!("{org_slug} has no context named \"{name}\"");
                return self.refuse(project, build_num, &who, why).await;
            };
            let restrictions = self.store.contexts().restrictions(found.id).await?;
            let listed: Vec<(RestrictionKind, &str)> = restrictions
                .iter()
                .map(|r| (r.kind, r.value.as_str()))
                .collect();
            if let Err(denial) = context::admits(&listed, &project_id, starter) {
                let why = match denial {
                    Denial::NotMember => format!(
                        "{who}, who started this pipeline, is not a member of {org_slug} and may not use its context \"{name}\""
                    ),
                    Denial::Project => format!(
                        "the context \"{name}\" is restricted to other projects than {}",
                        project.slug
                    ),
                    Denial::Role(role) if starter == Starter::Forge => format!(
                        "the context \"{name}\" may be used only by {org_slug}'s members with the {} role or higher; this pipeline was started by {who} through the forge, not by a circlet user",
                        role.as_str()
                    ),
                    Denial::Role(role) => format!(
                        "the context \"{name}\" may be used only by {org_slug}'s members with the {} role or higher, and {who}, who started this pipeline, holds less",
                        role.as_str()
                    ),
                };
                return self.refuse(project, build_num, &who, why).await;
            }
            let uuid = found.uuid.to_string();
            let mut vars = Vec::new();
            for v in self.store.contexts().vars(found.id).await? {
                let value = self
                    .config
                    .env_keys
                    .open_sealed(&uuid, &v.name, &v.key_id, &v.sealed)
                    .map_err(|why| {
                        AppError::internal(anyhow::anyhow!(
                            "context {uuid} variable {}: {why}",
                            v.name
                        ))
                    })?;
                vars.push((v.name, value));
            }
            self.audit_job(
                "context.used",
                pipeline.actor_id,
                &who,
                project,
                format!(
                    "job {build_num} of {} used context \"{name}\" ({uuid})",
                    project.slug
                ),
            )
            .await?;
            used.push(UsedContext {
                uuid: found.uuid,
                vars,
            });
        }
        Ok(Ok(used))
    }

    async fn refuse(
        &self,
        project: &Project,
        build_num: i64,
        who: &str,
        why: String,
    ) -> Result<Result<Vec<UsedContext>, Unauthorized>, AppError> {
        let detail = format!("job {build_num} of {}: {why}", project.slug);
        self.audit_job("context.refused", None, who, project, detail)
            .await?;
        Ok(Err(Unauthorized(why)))
    }

    /// Audits a job's use (or refusal) of a context, as `who` started its pipeline.
    async fn audit_job(
        &self,
        event: &str,
        actor_id: Option<i64>,
        who: &str,
        project: &Project,
        detail: String,
    ) -> Result<(), AppError> {
        self.store
            .audit()
            .append(&NewAuditEntry {
                event: event.into(),
                actor_id,
                actor_login: who.to_owned(),
                owner_id: None,
                project_id: Some(project.id),
                token_uuid: None,
                address: String::new(),
                detail,
            })
            .await?;
        Ok(())
    }
}

/// Re-seals every context variable not under the env keyring's current key, like
/// `env_vars::reseal_all` does for project variables; returns how many were re-sealed.
pub async fn reseal_vars(
    store: &circlet_store::Store,
    keys: &crate::env_vars::Keyring,
) -> anyhow::Result<usize> {
    let current = keys.current_id();
    crate::env_vars::reseal_in_passes(
        "context variables",
        async |limit| {
            Ok(store
                .contexts()
                .vars_sealed_by_other_keys(&current, limit)
                .await?)
        },
        async |(context_id, uuid, v): (i64, Uuid, circlet_store::ContextVar)| {
            let uuid = uuid.to_string();
            let clear = keys
                .open_sealed(&uuid, &v.name, &v.key_id, &v.sealed)
                .map_err(|why| anyhow::anyhow!("context {uuid} variable {}: {why}", v.name))?;
            let (key_id, sealed) = keys.seal_for(&uuid, &v.name, &clear);
            Ok(store
                .contexts()
                .reseal_var(context_id, &v, &key_id, &sealed)
                .await?)
        },
    )
    .await
}
