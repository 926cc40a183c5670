//! Job and workflow changes into messages: every job state change becomes a commit status
//! (`ci/circlet: <job>`), every ended job a `job-completed` event, every ended workflow a
//! status (`ci/circlet: workflow <name>`) and a `workflow-completed` event, in the payloads
//! CircleCI documents for its webhooks. Each change is claimed before it is told, so replicas
//! tell it once.

use crate::builds::git::CommitInfo;
use crate::builds::job_env::build_url;
use crate::{App, AppError};
use circlet_core::build_state::{JobState, workflow_status};
use circlet_core::forge::{Forge, status};
use circlet_store::outbound::{NewMessage, WebhookRecord};
use circlet_store::{JobRecord, PipelineRecord, Project, WorkflowRecord};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

/// At most this many changes per pass.
const BATCH: i64 = 100;

fn iso(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// What a workflow's status is told as on a forge (`success`, `failed`, `error`, `canceled`).
fn workflow_state(status: &str) -> JobState {
    match status {
        "success" => JobState::Success,
        "failed" => JobState::Failed,
        "canceled" => JobState::Canceled,
        "error" => JobState::InfrastructureFail,
        _ => JobState::NotRun,
    }
}

impl App {
    /// Turns the job and workflow changes not yet told into messages; how many were queued.
    pub async fn notify_changes(&self) -> Result<usize, AppError> {
        let builds = self.store.builds();
        let mut queued = 0;
        for job in builds.jobs_to_notify(BATCH).await? {
            let told = builds.job_notified_state(job.id).await?;
            if !builds
                .claim_job_notice(job.id, told.as_deref(), job.state)
                .await?
            {
                continue;
            }
            let was_final = told
                .as_deref()
                .and_then(JobState::parse)
                .is_some_and(JobState::is_final);
            queued += self.tell_job(&job, was_final).await?;
        }
        for w in builds.workflows_to_notify(BATCH).await? {
            let jobs = builds.jobs_of_workflow(w.id).await?;
            let states: Vec<JobState> = jobs.iter().map(|j| j.state).collect();
            let status = workflow_status(&states, w.canceled);
            if !builds.claim_workflow_notice(w.id, status).await? {
                continue;
            }
            queued += self.tell_workflow(&w, &jobs, status).await?;
        }
        Ok(queued)
    }

    async fn context(
        &self,
        project_id: i64,
        pipeline_id: i64,
    ) -> Result<Option<(Project, PipelineRecord)>, AppError> {
        let Some(project) = self.store.projects().by_id(project_id).await? else {
            return Ok(None);
        };
        let Some(pipeline) = self.store.builds().pipeline_by_id(pipeline_id).await? else {
            return Ok(None);
        };
        Ok(Some((project, pipeline)))
    }

    async fn tell_job(&self, job: &JobRecord, was_final: bool) -> Result<usize, AppError> {
        let Some((project, pipeline)) = self.context(job.project_id, job.pipeline_id).await? else {
            return Ok(0);
        };
        let mut queued = 0;
        if !job.approval {
            let url = build_url(&self.config.public_url, &project, job.build_num);
            queued += self
                .queue_status(
                    &project,
                    &job.revision,
                    &format!("ci/circlet: {}", job.name),
                    job.state,
                    &url,
                )
                .await?;
        }
        if job.state.is_final() && !was_final {
            let Some(workflow) = self.store.builds().workflow_by_id(job.workflow_id).await? else {
                return Ok(queued);
            };
            let body = |hook: &WebhookRecord| {
                let mut event = payload(
                    "job-completed",
                    hook,
                    &project,
                    &pipeline,
                    &workflow,
                    None,
                    &self.config.public_url,
                );
                event["job"] = json!({
                    "id": job.uuid,
                    "name": job.name,
                    "number": job.build_num,
                    "started_at": job.started_at.map(iso),
                    "stopped_at": job.stopped_at.map(iso),
                    "status": job.state.v2_status(),
                });
                event
            };
            queued += self.queue_events(&project, "job-completed", body).await?;
        }
        Ok(queued)
    }

    async fn tell_workflow(
        &self,
        w: &WorkflowRecord,
        jobs: &[JobRecord],
        status: &'static str,
    ) -> Result<usize, AppError> {
        let Some((project, pipeline)) = self.context(w.project_id, w.pipeline_id).await? else {
            return Ok(0);
        };
        let stopped = jobs.iter().filter_map(|j| j.stopped_at).max();
        let mut queued = 0;
        let url = format!("{}/projects/{}", self.config.public_url, project.slug);
        queued += self
            .queue_status(
                &project,
                &pipeline.revision,
                &format!("ci/circlet: workflow {}", w.name),
                workflow_state(status),
                &url,
            )
            .await?;
        let body = |hook: &WebhookRecord| {
            let mut event = payload(
                "workflow-completed",
                hook,
                &project,
                &pipeline,
                w,
                stopped,
                &self.config.public_url,
            );
            event["workflow"]["status"] = json!(status);
            event
        };
        queued += self
            .queue_events(&project, "workflow-completed", body)
            .await?;
        Ok(queued)
    }

    async fn queue_status(
        &self,
        project: &Project,
        sha: &str,
        context: &str,
        state: JobState,
        target_url: &str,
    ) -> Result<usize, AppError> {
        let Some(target) = self.store.outbound().status_target(project.id).await? else {
            return Ok(0);
        };
        let Ok(forge) = Forge::parse(&target.forge) else {
            return Ok(0);
        };
        let repository = if target.repository.is_empty() {
            format!("{}/{}", project.slug.org(), project.slug.repo())
        } else {
            target.repository.clone()
        };
        let url = status::status_url(forge, &target.api_url, &repository, sha);
        let body = status::status_body(forge, context, state, target_url);
        let event = format!("status: {context} {}", status::commit_state(forge, state));
        self.store
            .outbound()
            .enqueue(&NewMessage {
                project_id: project.id,
                webhook_id: None,
                kind: "status",
                event: &event,
                url: &url,
                body: &body,
            })
            .await?;
        Ok(1)
    }

    async fn queue_events(
        &self,
        project: &Project,
        event: &str,
        body: impl Fn(&WebhookRecord) -> Value,
    ) -> Result<usize, AppError> {
        let mut queued = 0;
        for hook in self.store.outbound().webhooks(project.id).await? {
            if !hook.events.split(',').any(|e| e == event) {
                continue;
            }
            let text = body(&hook).to_string();
            self.store
                .outbound()
                .enqueue(&NewMessage {
                    project_id: project.id,
                    webhook_id: Some(hook.id),
                    kind: "webhook",
                    event,
                    url: &hook.url,
                    body: &text,
                })
                .await?;
            queued += 1;
        }
        Ok(queued)
    }
}

/// CircleCI's webhook payload's common part: `type`, `id`, `happened_at`, `webhook`,
/// `project`, `organization`, `pipeline` (with `vcs`), `workflow`.
fn payload(
    kind: &str,
    hook: &WebhookRecord,
    project: &Project,
    pipeline: &PipelineRecord,
    workflow: &WorkflowRecord,
    stopped: Option<time::OffsetDateTime>,
    public_url: &str,
) -> Value {
    let commit: CommitInfo = serde_json::from_str(&pipeline.commit_info).unwrap_or_default();
    let repo_url = project.repo_url.as_str();
    let mut vcs = json!({
        "provider_name": match project.slug.vcs() {
            circlet_core::Vcs::GitHub => "github",
            circlet_core::Vcs::Bitbucket => "bitbucket",
        },
        "origin_repository_url": repo_url,
        "target_repository_url": repo_url,
        "revision": pipeline.revision,
        "commit": {
            "subject": commit.subject,
            "body": commit.body,
            "author": {"name": commit.author_name, "email": commit.author_email},
            "authored_at": commit.author_date,
            "committer": {"name": commit.committer_name, "email": commit.committer_email},
            "committed_at": commit.committer_date,
        },
    });
    if let Some(b) = &pipeline.branch {
        vcs["branch"] = json!(b);
    }
    if let Some(t) = &pipeline.tag {
        vcs["tag"] = json!(t);
    }
    let parameters: Value =
        serde_json::from_str(&pipeline.parameters).unwrap_or_else(|_| json!({}));
    json!({
        "type": kind,
        "id": uuid::Uuid::new_v4(),
        "happened_at": iso(time::OffsetDateTime::now_utc()),
        "webhook": {"id": hook.uuid, "name": hook.name},
        "project": {"id": project.uuid, "name": project.slug.repo(), "slug": project.slug.to_string()},
        "organization": {"id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{}/{}", project.slug.vcs().short(), project.slug.org()).as_bytes()), "name": project.slug.org()},
        "pipeline": {
            "id": pipeline.uuid,
            "number": pipeline.number,
            "created_at": iso(pipeline.created_at),
            "trigger": {"type": pipeline.trigger_type},
            "trigger_parameters": parameters,
            "vcs": vcs,
        },
        "workflow": {
            "id": workflow.uuid,
            "name": workflow.name,
            "created_at": iso(workflow.created_at),
            "stopped_at": stopped.map(iso),
            "url": format!("{public_url}/projects/{}", project.slug),
        },
    })
}
