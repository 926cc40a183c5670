//! Organizations as their members see them, and contexts: an organization's shared env vars.
//!
//! A user's role in an organization is the highest role they hold in any of its projects (site
//! admins are admins of every organization). As on CircleCI, members see the organization's
//! contexts and the names (never the values) of their variables, members who may build (write)
//! create contexts and set or delete the variables of unrestricted ones, and admins restrict
//! contexts, change restricted ones and delete them. A caller who is not a member is told the
//! organization or context does not exist. Every change, and every job's use of a context (or
//! refusal), is audited.
//!
//! A job names contexts in its workflow (`context: deploy`); when a runner claims it,
//! [`App::job_contexts`] checks that the user who started the pipeline may use each one
//! (`circlet_core::context::admits`) and opens their variables, sealed like project env vars.

use crate::caller::Actor;
use crate::{App, AppError, Caller};
use circlet_core::context::{self, RestrictionKind};
use circlet_core::{Role, Vcs, envvar};
use circlet_store::organizations::Organization;
use circlet_store::{Context, ContextVar, NewAuditEntry, Restriction, User};
use uuid::Uuid;

mod jobs;

pub use jobs::{Unauthorized, UsedContext, reseal_vars};

/// What an organization that does not exist, or that the caller is not a member of, is called.
pub const ORGANIZATION_NOT_FOUND: &str = "Organization not found";

/// How an organization is named in a request: its id, or its slug (`gh/acme`, `github/acme`).
#[derive(Debug, Clone, Copy)]
pub enum OrgRef<'a> {
    /// Its public id.
    Id(Uuid),
    /// `vcs/name`.
    Slug(&'a str),
}

impl<'a> OrgRef<'a> {
    /// An id if `raw` is one, else a slug.
    pub fn parse(raw: &'a str) -> Self {
        Uuid::parse_str(raw).map_or(OrgRef::Slug(raw), OrgRef::Id)
    }
}

/// An organization as one member sees it.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    /// The organization.
    pub org: Organization,
    /// The member's role in it.
    pub role: Role,
}

impl OrgAccess {
    /// `vcs/name`, as slugs spell it.
    pub fn slug(&self) -> String {
        format!("{}/{}", self.org.vcs.short(), self.org.name)
    }

    fn require(&self, needed: Role) -> Result<(), AppError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                needed: Some(needed),
            })
        }
    }
}

impl App {
    /// `user`'s role in `org`: the highest they hold in its projects; admin for site admins.
    async fn org_role(&self, user: &User, org: &Organization) -> Result<Option<Role>, AppError> {
        if user.disabled {
            return Ok(None);
        }
        if user.site_admin {
            return Ok(Some(Role::Admin));
        }
        Ok(self
            .store
            .organizations()
            .member_roles(org.id, user.id)
            .await?
            .into_iter()
            .max())
    }

    /// The organization `org` names, if `caller` (a user) is a member of it.
    pub async fn organization_for(
        &self,
        caller: &Caller,
        org: OrgRef<'_>,
    ) -> Result<OrgAccess, AppError> {
        let user = caller.require_user()?;
        let not_found = || AppError::NotFound(ORGANIZATION_NOT_FOUND.into());
        let found = match org {
            OrgRef::Id(id) => self.store.organizations().by_uuid(id).await?,
            OrgRef::Slug(slug) => {
                let Some((vcs, name)) = slug.split_once('/') else {
                    return Err(AppError::Invalid(
                        "an organization's slug looks like gh/acme".into(),
                    ));
                };
                let vcs = Vcs::parse(vcs)?;
                self.store.organizations().by_name(vcs, name).await?
            }
        }
        .ok_or_else(not_found)?;
        let mut role = self.org_role(user, &found).await?;
        if let Some(limits) = caller.limits() {
            // An organization is outside a token limited to projects: its contexts serve
            // every project of it.
            role = limits.role_in_organization(role, found.id);
        }
        let role = role.ok_or_else(not_found)?;
        caller.note_kind(self, "organizations");
        Ok(OrgAccess { org: found, role })
    }

    /// The contexts of the organization `org` names, by name, for a member.
    pub async fn contexts_of(
        &self,
        caller: &Caller,
        org: OrgRef<'_>,
    ) -> Result<(OrgAccess, Vec<Context>), AppError> {
        let access = self.organization_for(caller, org).await?;
        let list = self.store.contexts().list(access.org.id).await?;
        Ok((access, list))
    }

    /// Makes a context named `name` in the organization `org` names (admins).
    pub async fn create_context(
        &self,
        caller: &Caller,
        actor: &Actor,
        org: OrgRef<'_>,
        name: &str,
    ) -> Result<Context, AppError> {
        let access = self.organization_for(caller, org).await?;
        access.require(Role::Write)?;
        context::check_name(name)?;
        let made = self.store.contexts().create(access.org.id, name).await?;
        audit(
            self,
            actor,
            "context.created",
            &access,
            &made,
            String::new(),
        )
        .await?;
        Ok(made)
    }

    /// The context with public id `id`, if `caller` is a member of its organization.
    pub async fn context_for(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<ContextAccess<'_>, AppError> {
        caller.require_user()?;
        let not_found = || AppError::NotFound(crate::error::CONTEXT_NOT_FOUND.into());
        let found = self
            .store
            .contexts()
            .by_uuid(id)
            .await?
            .ok_or_else(not_found)?;
        let org = self
            .store
            .organizations()
            .by_id(found.org_id)
            .await?
            .ok_or_else(not_found)?;
        let org = self
            .organization_for(caller, OrgRef::Id(org.uuid))
            .await
            .map_err(|e| match e {
                AppError::NotFound(_) => not_found(),
                other => other,
            })?;
        Ok(ContextAccess {
            app: self,
            org,
            context: found,
        })
    }
}

/// One context, for a member of its organization.
pub struct ContextAccess<'a> {
    app: &'a App,
    /// Its organization, with the caller's role.
    pub org: OrgAccess,
    /// The context.
    pub context: Context,
}

impl ContextAccess<'_> {
    /// Whether the caller may restrict and delete it (an organization admin).
    pub fn may_manage(&self) -> bool {
        self.org.role >= Role::Admin
    }

    /// The role that may set and delete its variables: write while it is unrestricted, admin
    /// once restricted (so a restriction cannot be undone by replacing what it guards).
    pub async fn role_to_edit(&self) -> Result<Role, AppError> {
        Ok(if self.restrictions().await?.is_empty() {
            Role::Write
        } else {
            Role::Admin
        })
    }

    /// Whether the caller may set and delete its variables.
    pub async fn may_edit(&self) -> Result<bool, AppError> {
        Ok(self.org.role >= self.role_to_edit().await?)
    }

    /// Its variables, masked, by name.
    pub async fn vars(&self) -> Result<Vec<ContextVar>, AppError> {
        Ok(self.app.store.contexts().vars(self.context.id).await?)
    }

    /// Its restrictions, oldest first.
    pub async fn restrictions(&self) -> Result<Vec<Restriction>, AppError> {
        Ok(self
            .app
            .store
            .contexts()
            .restrictions(self.context.id)
            .await?)
    }

    /// Sets (or replaces) variable `name`, sealed; the record shows the mask only.
    pub async fn set_var(
        &self,
        actor: &Actor,
        name: &str,
        value: &str,
    ) -> Result<ContextVar, AppError> {
        self.org.require(self.role_to_edit().await?)?;
        envvar::check(name, value)?;
        let (key_id, sealed) =
            self.app
                .config
                .env_keys
                .seal_for(&self.context.uuid.to_string(), name, value);
        let new = circlet_store::NewEnvVar {
            name: name.to_owned(),
            key_id,
            sealed,
            masked: envvar::masked(value),
        };
        let set = self
            .app
            .store
            .contexts()
            .set_var(self.context.id, &new)
            .await?;
        self.audit(actor, "context.env_var_set", format!(" variable {name}"))
            .await?;
        Ok(set)
    }

    /// Deletes variable `name`.
    pub async fn delete_var(&self, actor: &Actor, name: &str) -> Result<(), AppError> {
        self.org.require(self.role_to_edit().await?)?;
        if !self
            .app
            .store
            .contexts()
            .delete_var(self.context.id, name)
            .await?
        {
            return Err(AppError::NotFound(
                crate::env_vars::ENV_VAR_NOT_FOUND.into(),
            ));
        }
        self.audit(
            actor,
            "context.env_var_deleted",
            format!(" variable {name}"),
        )
        .await
    }

    /// Adds a restriction: `kind` `project` with a project id of this organization, or `role`
    /// with a role's name.
    pub async fn restrict(
        &self,
        actor: &Actor,
        kind: &str,
        value: &str,
    ) -> Result<Restriction, AppError> {
        self.org.require(Role::Admin)?;
        let kind = RestrictionKind::parse(kind)?;
        let value = context::restriction_value(kind, value)?;
        if kind == RestrictionKind::Project {
            let projects = self
                .app
                .store
                .organizations()
                .projects(self.org.org.id)
                .await?;
            if !projects
                .iter()
                .any(|(_, uuid, _)| uuid.to_string() == value)
            {
                return Err(AppError::Invalid(format!(
                    "{} has no project with id {value}",
                    self.org.slug()
                )));
            }
        }
        let added = self
            .app
            .store
            .contexts()
            .restrict(self.context.id, kind, &value)
            .await?;
        self.audit(
            actor,
            "context.restricted",
            format!(" to {} {value}", kind.as_str()),
        )
        .await?;
        Ok(added)
    }

    /// Removes restriction `id`.
    pub async fn unrestrict(&self, actor: &Actor, id: Uuid) -> Result<(), AppError> {
        self.org.require(Role::Admin)?;
        let gone = self
            .restrictions()
            .await?
            .into_iter()
            .find(|r| r.uuid == id);
        let Some(gone) = gone else {
            return Err(AppError::NotFound("Restriction not found".into()));
        };
        if !self
            .app
            .store
            .contexts()
            .unrestrict(self.context.id, id)
            .await?
        {
            return Err(AppError::NotFound("Restriction not found".into()));
        }
        self.audit(
            actor,
            "context.unrestricted",
            format!(" from {} {}", gone.kind.as_str(), gone.value),
        )
        .await
    }

    /// Deletes the context, its variables and restrictions.
    pub async fn delete(self, actor: &Actor) -> Result<(), AppError> {
        self.org.require(Role::Admin)?;
        if !self.app.store.contexts().delete(self.context.id).await? {
            return Err(AppError::NotFound(crate::error::CONTEXT_NOT_FOUND.into()));
        }
        self.audit(actor, "context.deleted", String::new()).await
    }

    async fn audit(&self, actor: &Actor, event: &str, more: String) -> Result<(), AppError> {
        audit(self.app, actor, event, &self.org, &self.context, more).await
    }
}

async fn audit(
    app: &App,
    actor: &Actor,
    event: &str,
    org: &OrgAccess,
    context: &Context,
    more: String,
) -> Result<(), AppError> {
    app.store
        .audit()
        .append(&NewAuditEntry {
            event: event.into(),
            actor_id: actor.user_id,
            actor_login: actor.login.clone(),
            owner_id: None,
            project_id: None,
            token_uuid: None,
            address: actor.address.clone(),
            detail: format!(
                "context \"{}\" ({}) of {}{more}",
                context.name,
                context.uuid,
                org.slug()
            ),
        })
        .await?;
    Ok(())
}
