//! Adding a project: the rule the API (`POST /api/v2/project/…`) and the web UI's form share.
//! The admin CLI adds projects as the operator and does not come through here.
//!
//! Organizations are not stored yet (issue 16 brings them): until then an organization is the
//! projects of one `vcs/org`, and a user *belongs* to it when they are an admin of one of them,
//! since adding a project is the organization's admins' call. The first project of an
//! organization nobody has yet makes its owner the organization's first admin; anyone may do
//! that. Site admins may add projects anywhere. A limited personal token adds none: the project
//! would be its user's to administer, outside what the token was limited to.

use crate::{App, AppError, Caller};
use circlet_store::{NewProject, Project};

impl App {
    /// Adds `new` with the caller's user as its admin. 403 with a message under an organization
    /// whose projects belong to others, or through a limited personal token; 409 when the slug
    /// is taken.
    ///
    /// The organization is checked before the slug, so a caller outside an organization gets the
    /// same 403 whether or not the project exists: a private project they cannot see stays
    /// indistinguishable from an absent one. A caller who belongs to the organization learns that a
    /// slug is taken (409) even when they cannot see the project; no answer could hide it from
    /// them, since an absent slug would be created.
    ///
    /// Two users adding the first projects of one new organization at the same moment may both
    /// succeed and both become its admins: the check and the insert are not one transaction.
    pub async fn create_project(
        &self,
        caller: &Caller,
        new: &NewProject,
    ) -> Result<Project, AppError> {
        let user = caller.require_user()?;
        caller.require_unlimited("add projects")?;
        if !user.site_admin {
            let standing = self
                .store
                .projects()
                .org_standing(new.slug.vcs(), new.slug.org(), user.id)
                .await?;
            if standing.projects > 0 && standing.admin_of == 0 {
                return Err(AppError::Refused(format!(
                    "You cannot add a project under {}/{}: that organization belongs to other users. \
                     An admin of one of its projects, or a site admin, can add it.",
                    new.slug.vcs().short(),
                    new.slug.org()
                )));
            }
        }
        Ok(self.store.projects().create(new, user.id).await?)
    }
}

impl App {
    /// The slug of the project CircleCI's `circleci/<org-id>/<project-id>` slug names (API v2,
    /// projects of GitHub App or GitLab integrations: the organization's and the project's ids,
    /// as `/api/v2/project/{slug}` and `/me/collaborations` give them). Who may see it is not
    /// asked here: the caller then goes through [`App::authorize`] with the slug, so an id of a
    /// project the caller may not see is "not found" exactly like an id of none.
    pub async fn project_slug_by_ids(
        &self,
        org_id: &str,
        project_id: &str,
    ) -> Result<circlet_core::ProjectSlug, AppError> {
        let (Ok(org_id), Ok(project_id)) = (
            uuid::Uuid::parse_str(org_id),
            uuid::Uuid::parse_str(project_id),
        ) else {
            return Err(AppError::project_not_found());
        };
        let project = self
            .store
            .projects()
            .by_uuid(project_id)
            .await?
            .ok_or_else(AppError::project_not_found)?;
        let org = self
            .store
            .organizations()
            .by_name(project.slug.vcs(), project.slug.org())
            .await?;
        match org {
            Some(org) if org.uuid == org_id => Ok(project.slug),
            _ => Err(AppError::project_not_found()),
        }
    }

    /// The slug of the project with public id `id` (API v2's `projects/{project_id}/…`). Who
    /// may see it is not asked here: the caller then goes through [`App::authorize`].
    pub async fn project_slug_by_id(
        &self,
        id: &str,
    ) -> Result<circlet_core::ProjectSlug, AppError> {
        let id = uuid::Uuid::parse_str(id).map_err(|_| AppError::project_not_found())?;
        let project = self
            .store
            .projects()
            .by_uuid(id)
            .await?
            .ok_or_else(AppError::project_not_found)?;
        Ok(project.slug)
    }

    /// The id of the organization `project` belongs to (API v2's `organization_id`, the id
    /// `/me/collaborations` lists).
    pub async fn organization_id_of(&self, project: &Project) -> Result<uuid::Uuid, AppError> {
        let org = self
            .store
            .organizations()
            .ensure(project.slug.vcs(), project.slug.org())
            .await?;
        Ok(org.uuid)
    }
}
