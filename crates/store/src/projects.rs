//! Projects, their settings and their members.

use crate::error::{Conflict, Missing};
use crate::generations::{Change, announcing};
use crate::users::{UserRow, user_cols};
use crate::{Store, StoreError, User, now, on_pool};
use circlet_core::forge::decide::BuildSettings;
use circlet_core::{BranchName, ProjectSlug, RepoUrl, Role, Vcs};
use time::OffsetDateTime;
use uuid::Uuid;

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Store-assigned id.
    pub id: i64,
    /// Public id, shown by API v2.
    pub uuid: Uuid,
    /// `vcs/org/repo`.
    pub slug: ProjectSlug,
    /// Where the runner clones from.
    pub repo_url: RepoUrl,
    /// The branch built when none is named.
    pub default_branch: BranchName,
    /// Public projects' builds, badges and artifacts can be read without credentials.
    pub public: bool,
    /// When the project was added.
    pub created_at: OffsetDateTime,
    /// What its webhooks build.
    pub builds: BuildSettings,
    /// How often its repository is polled for new heads, in seconds (`None`: never).
    pub poll_interval_secs: Option<i64>,
}

/// What it takes to add a project.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// `vcs/org/repo`, unique ignoring case.
    pub slug: ProjectSlug,
    /// Where the runner clones from.
    pub repo_url: RepoUrl,
    /// The branch built when none is named.
    pub default_branch: BranchName,
    /// Whether anonymous reads are allowed.
    pub public: bool,
}

/// Where a user stands in an organization, as far as projects tell (organizations are not
/// stored yet: an organization is the projects of one `vcs/org`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgStanding {
    /// Projects under the organization.
    pub projects: i64,
    /// Those of them the user is an admin of.
    pub admin_of: i64,
}

/// A project member and their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member.
    pub user: User,
    /// What they may do.
    pub role: Role,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProjectRow {
    id: i64,
    uuid: Uuid,
    vcs: String,
    org: String,
    repo: String,
    repo_url: String,
    default_branch: String,
    public: bool,
    created_at: OffsetDateTime,
    build_prs_only: bool,
    autocancel_builds: bool,
    build_fork_prs: bool,
    forks_receive_secrets: bool,
    poll_interval_secs: Option<i64>,
}

fn corrupt(e: circlet_core::Invalid) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(e.0.into()))
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;
    fn try_from(r: ProjectRow) -> Result<Self, StoreError> {
        Ok(Project {
            id: r.id,
            uuid: r.uuid,
            slug: ProjectSlug::from_parts(&r.vcs, &r.org, &r.repo).map_err(corrupt)?,
            repo_url: RepoUrl::parse(&r.repo_url).map_err(corrupt)?,
            default_branch: BranchName::parse(&r.default_branch).map_err(corrupt)?,
            public: r.public,
            created_at: r.created_at,
            builds: BuildSettings {
                build_prs_only: r.build_prs_only,
                autocancel_builds: r.autocancel_builds,
                build_fork_prs: r.build_fork_prs,
                forks_receive_secrets: r.forks_receive_secrets,
            },
            poll_interval_secs: r.poll_interval_secs,
        })
    }
}

fn role_from(raw: &str) -> Result<Role, StoreError> {
    Role::parse(raw).map_err(corrupt)
}

macro_rules! project_cols {
    () => {
        "projects.id, projects.uuid, projects.vcs, projects.org, projects.repo, projects.repo_url, projects.default_branch, projects.public, projects.created_at, \
         projects.build_prs_only, projects.autocancel_builds, projects.build_fork_prs, projects.forks_receive_secrets, \
         projects.poll_interval_secs"
    };
}
pub(crate) use project_cols;

/// Use-cases on projects; see [`Store::projects`].
pub struct Projects<'s>(pub(crate) &'s Store);

impl Projects<'_> {
    /// Adds a project with `owner_id` as its admin, in one transaction. `Conflict` when the
    /// slug is taken (ignoring case and VCS spelling).
    pub async fn create(&self, new: &NewProject, owner_id: i64) -> Result<Project, StoreError> {
        let insert = concat!(
            "INSERT INTO projects (slug_key, vcs, org, repo, repo_url, default_branch, public, created_at, uuid) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
            project_cols!()
        );
        let member = "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ($1, $2, 'admin', $3)";
        let row: ProjectRow = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            let row: ProjectRow = sqlx::query_as(insert)
                .bind(new.slug.key())
                .bind(new.slug.vcs().short())
                .bind(new.slug.org())
                .bind(new.slug.repo())
                .bind(new.repo_url.as_str())
                .bind(new.default_branch.as_str())
                .bind(new.public)
                .bind(now())
                .bind(Uuid::new_v4())
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(member).bind(row.id).bind(owner_id).bind(now()).execute(&mut *tx).await?;
            let (vcs, org) = (new.slug.vcs(), new.slug.org());
            sqlx::query(crate::organizations::ENSURE).bind(Uuid::new_v4()).bind(vcs.short()).bind(org)
                .bind(crate::organizations::name_key(vcs, org)).bind(now()).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        }.await)
        .map_err(|e| StoreError::from(e).conflict_as(Conflict::Project(new.slug.to_string())))?;
        row.try_into()
    }

    /// How many projects exist under the organization `org` of `vcs` (compared ignoring ASCII
    /// case, like slugs), and of how many of them `user_id` is an admin.
    pub async fn org_standing(
        &self,
        vcs: Vcs,
        org: &str,
        user_id: i64,
    ) -> Result<OrgStanding, StoreError> {
        let sql = concat!(
            "SELECT COUNT(*), COUNT(project_members.user_id) FROM projects ",
            "LEFT JOIN project_members ON project_members.project_id = projects.id ",
            "AND project_members.user_id = $3 AND project_members.role = 'admin' ",
            "WHERE projects.vcs = $1 AND LOWER(projects.org) = $2"
        );
        let (projects, admin_of): (i64, i64) = on_pool!(self.0, pool => {
            sqlx::query_as(sql).bind(vcs.short()).bind(org.to_ascii_lowercase()).bind(user_id).fetch_one(pool).await
        })?;
        Ok(OrgStanding { projects, admin_of })
    }

    /// The project with this slug (any VCS spelling, any case).
    pub async fn by_slug(&self, slug: &ProjectSlug) -> Result<Option<Project>, StoreError> {
        let sql = concat!(
            "SELECT ",
            project_cols!(),
            " FROM projects WHERE slug_key = $1"
        );
        let row: Option<ProjectRow> = on_pool!(self.0, pool => sqlx::query_as(sql).bind(slug.key()).fetch_optional(pool).await)?;
        row.map(Project::try_from).transpose()
    }

    /// The project with this public id.
    pub async fn by_uuid(&self, uuid: Uuid) -> Result<Option<Project>, StoreError> {
        let sql = concat!("SELECT ", project_cols!(), " FROM projects WHERE uuid = $1");
        let row: Option<ProjectRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(uuid).fetch_optional(pool).await)?;
        row.map(Project::try_from).transpose()
    }

    /// The project with this slug and how the latest finished pipeline on `branch` ended (the
    /// project's default branch when `None`; [`crate::FinishedPipeline::state`]): all a
    /// status badge reads. One query when the branch has no finished pipeline, else one more
    /// for its workflows and one per workflow for their jobs (only when the memo is stale).
    pub async fn by_slug_with_badge_state(
        &self,
        slug: &ProjectSlug,
        branch: Option<&str>,
    ) -> Result<Option<(Project, Option<circlet_core::build_state::JobState>)>, StoreError> {
        let sql = concat!(
            "SELECT ",
            project_cols!(),
            ", (",
            crate::build_status::latest_finished_pipeline!(
                "projects.id",
                "COALESCE($2, projects.default_branch)"
            ),
            ") AS latest_pipeline FROM projects WHERE slug_key = $1"
        );
        let row: Option<(ProjectRow, Option<i64>)> = on_pool!(self.0, pool => {
            use sqlx::{FromRow, Row};
            sqlx::query(sql)
                .bind(slug.key())
                .bind(branch)
                .fetch_optional(pool)
                .await?
                .map(|r| Ok::<_, sqlx::Error>((ProjectRow::from_row(&r)?, r.try_get("latest_pipeline")?)))
                .transpose()
        })?;
        let Some((project, latest)) = row else {
            return Ok(None);
        };
        let state = match latest {
            Some(id) => self.0.builds().pipeline_outcome(id).await?.map(|p| p.state),
            None => None,
        };
        Ok(Some((project.try_into()?, state)))
    }

    /// The project with this store id.
    pub async fn by_id(&self, id: i64) -> Result<Option<Project>, StoreError> {
        let sql = concat!("SELECT ", project_cols!(), " FROM projects WHERE id = $1");
        let row: Option<ProjectRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        row.map(Project::try_from).transpose()
    }

    /// Every project, by slug.
    pub async fn list_all(&self) -> Result<Vec<Project>, StoreError> {
        let sql = concat!(
            "SELECT ",
            project_cols!(),
            " FROM projects ORDER BY slug_key"
        );
        let rows: Vec<ProjectRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        rows.into_iter().map(Project::try_from).collect()
    }

    /// The projects `user_id` is a member of, with their role, by slug.
    pub async fn list_for_member(&self, user_id: i64) -> Result<Vec<(Project, Role)>, StoreError> {
        let sql = concat!(
            "SELECT ",
            project_cols!(),
            ", project_members.role FROM projects ",
            "JOIN project_members ON project_members.project_id = projects.id ",
            "WHERE project_members.user_id = $1 ORDER BY projects.slug_key"
        );
        let rows: Vec<(ProjectRow, String)> = on_pool!(self.0, pool => {
            use sqlx::{FromRow, Row};
            sqlx::query(sql).bind(user_id).fetch_all(pool).await?
                .iter()
                .map(|r| Ok::<_, sqlx::Error>((ProjectRow::from_row(r)?, r.try_get("role")?)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter()
            .map(|(p, role)| Ok((p.try_into()?, role_from(&role)?)))
            .collect()
    }

    /// The role `user_id` holds in `project_id`, if any. Site-admin rights are the caller's to add.
    pub async fn role_of(&self, project_id: i64, user_id: i64) -> Result<Option<Role>, StoreError> {
        let sql = "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2";
        let role: Option<String> = on_pool!(self.0, pool => {
            sqlx::query_scalar(sql).bind(project_id).bind(user_id).fetch_optional(pool).await
        })?;
        role.as_deref().map(role_from).transpose()
    }

    /// Makes `user_id` a member with `role`, or changes their role.
    pub async fn set_member(
        &self,
        project_id: i64,
        user_id: i64,
        role: Role,
    ) -> Result<(), StoreError> {
        let sql = concat!(
            "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) ",
            "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role"
        );
        announcing!(self.0, Change::Project, tx => async {
            sqlx::query(sql).bind(project_id).bind(user_id).bind(role.as_str()).bind(now()).execute(&mut *tx).await.map(|r| r.rows_affected() > 0)
        })?;
        Ok(())
    }

    /// Removes a member; `NotFound` when they were not one.
    pub async fn remove_member(&self, project_id: i64, user_id: i64) -> Result<(), StoreError> {
        let sql = "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2";
        let removed = announcing!(self.0, Change::Project, tx => async {
            sqlx::query(sql).bind(project_id).bind(user_id).execute(&mut *tx).await.map(|r| r.rows_affected() > 0)
        })?;
        if !removed {
            return Err(StoreError::NotFound(Missing::Member));
        }
        Ok(())
    }

    /// Members of a project with their roles, by login.
    pub async fn members(&self, project_id: i64) -> Result<Vec<Member>, StoreError> {
        let sql = concat!(
            "SELECT ",
            user_cols!(),
            ", project_members.role FROM project_members ",
            "JOIN users ON users.id = project_members.user_id ",
            "WHERE project_members.project_id = $1 ORDER BY users.login"
        );
        let rows: Vec<(UserRow, String)> = on_pool!(self.0, pool => {
            use sqlx::{FromRow, Row};
            sqlx::query(sql).bind(project_id).fetch_all(pool).await?
                .iter()
                .map(|r| Ok::<_, sqlx::Error>((UserRow::from_row(r)?, r.try_get("role")?)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter()
            .map(|(u, role)| {
                Ok(Member {
                    user: u.try_into()?,
                    role: role_from(&role)?,
                })
            })
            .collect()
    }

    /// Changes a project's clone URL, default branch and visibility.
    pub async fn update_settings(
        &self,
        project_id: i64,
        repo_url: &RepoUrl,
        default_branch: &BranchName,
        public: bool,
    ) -> Result<(), StoreError> {
        let sql =
            "UPDATE projects SET repo_url = $2, default_branch = $3, public = $4 WHERE id = $1";
        let updated = announcing!(self.0, Change::Project, tx => async {
            sqlx::query(sql).bind(project_id).bind(repo_url.as_str()).bind(default_branch.as_str()).bind(public)
                .execute(&mut *tx).await.map(|r| r.rows_affected() > 0)
        })?;
        if !updated {
            return Err(StoreError::NotFound(Missing::Project));
        }
        Ok(())
    }

    /// Changes what a project's webhooks build.
    pub async fn set_build_settings(
        &self,
        project_id: i64,
        builds: BuildSettings,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE projects SET build_prs_only = $2, autocancel_builds = $3, \
                   build_fork_prs = $4, forks_receive_secrets = $5 WHERE id = $1";
        let updated = announcing!(self.0, Change::Project, tx => async {
            sqlx::query(sql)
                .bind(project_id)
                .bind(builds.build_prs_only)
                .bind(builds.autocancel_builds)
                .bind(builds.build_fork_prs)
                .bind(builds.forks_receive_secrets)
                .execute(&mut *tx).await.map(|r| r.rows_affected() > 0)
        })?;
        if !updated {
            return Err(StoreError::NotFound(Missing::Project));
        }
        Ok(())
    }
}
