//! Pipelines across projects, for a user: API v2's `GET /pipeline` (the projects they may read,
//! optionally of one organization) and `GET /project/{slug}/pipeline/mine` (those they
//! started), newest first.

use crate::{App, AppError, Caller};
use circlet_core::scope::Action;
use circlet_core::{ProjectSlug, Vcs};
use circlet_store::{PipelineRecord, Project};

/// One page of pipelines, each with its project.
pub struct PipelineList {
    /// The pipelines, newest first.
    pub pipelines: Vec<(Project, PipelineRecord)>,
    /// Where the next page starts, `None` on the last.
    pub next_before: Option<i64>,
}

/// Which pipelines a list holds.
#[derive(Debug, Clone, Default)]
pub struct PipelineFilter {
    /// Only those of this organization's projects.
    pub organization: Option<(Vcs, String)>,
    /// Only this project's (which the caller must be allowed to read).
    pub project: Option<ProjectSlug>,
    /// Only those the caller started.
    pub mine: bool,
}

impl App {
    /// A page of the pipelines the caller's user may read (their projects, every project for a
    /// site admin, cut to a limited token's reach; or the one project named, which anyone who
    /// may read it may list) that `filter` keeps, newest first: those older than `before`, at
    /// most `limit`. `mine` needs a user.
    pub async fn pipeline_list(
        &self,
        caller: &Caller,
        filter: &PipelineFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<PipelineList, AppError> {
        let actor = match filter.mine {
            true => Some(caller.require_user()?.id),
            false => None,
        };
        let projects: Vec<Project> = match &filter.project {
            Some(slug) => vec![
                self.authorize(caller, slug, Action::ReadBuilds)
                    .await?
                    .project,
            ],
            None => {
                caller.require_user()?;
                let readable = self.projects_where(caller, Action::ReadBuilds).await?;
                self.projects_of(caller)
                    .await?
                    .into_iter()
                    .map(|(p, _)| p)
                    .filter(|p| readable.contains(&p.id))
                    .filter(|p| {
                        filter.organization.as_ref().is_none_or(|(vcs, org)| {
                            p.slug.vcs() == *vcs && p.slug.org().eq_ignore_ascii_case(org)
                        })
                    })
                    .collect()
            }
        };
        let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
        let page = self
            .store
            .builds()
            .pipelines_of_projects(&ids, actor, before, limit)
            .await?;
        let pipelines = page
            .pipelines
            .into_iter()
            .filter_map(|p| {
                let project = projects.iter().find(|x| x.id == p.project_id)?.clone();
                Some((project, p))
            })
            .collect();
        Ok(PipelineList {
            pipelines,
            next_before: page.next_before,
        })
    }
}
