//! The JSON shapes of builds: API v1.1's build object and API v2's pipeline, workflow and job
//! objects, all made from the same stored rows. Types follow what strict clients decode: Go
//! booleans are never null, numbers are numbers, ids are uuids, times are RFC 3339 UTC.

use crate::error::ApiError;
use crate::state::AppState;
use circlet_app::builds::git::CommitInfo;
use circlet_app::builds::leak_guard::MASK;
use circlet_app::builds::masks::ProjectMasks;
use circlet_core::build_state::{self, JobState};
use circlet_store::builds::NodeRecord;
use circlet_store::{JobRecord, PipelineRecord, Project, WorkflowRecord};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// Pipelines, workflows and projects' masks already read while rendering one reply.
#[derive(Default)]
pub struct Cache {
    pipelines: HashMap<i64, PipelineRecord>,
    workflows: HashMap<i64, Vec<WorkflowRecord>>,
    masks: HashMap<i64, Arc<ProjectMasks>>,
}

impl Cache {
    /// Loads the pipelines and workflows of `jobs` in two queries, so that rendering a page of
    /// builds does not cost two queries per build.
    pub async fn prefetch(&mut self, state: &AppState, jobs: &[JobRecord]) -> Result<(), ApiError> {
        let mut ids: Vec<i64> = jobs
            .iter()
            .map(|j| j.pipeline_id)
            .filter(|id| !self.pipelines.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let builds = state.app.store.builds();
        for p in builds.pipelines_by_ids(&ids).await? {
            self.pipelines.insert(p.id, p);
        }
        for id in &ids {
            self.workflows.entry(*id).or_default();
        }
        for w in builds.workflows_of_pipelines(&ids).await? {
            self.workflows.entry(w.pipeline_id).or_default().push(w);
        }
        Ok(())
    }

    /// The pipeline with this id.
    pub async fn pipeline(
        &mut self,
        state: &AppState,
        id: i64,
    ) -> Result<PipelineRecord, ApiError> {
        if let Some(p) = self.pipelines.get(&id) {
            return Ok(p.clone());
        }
        let p = state
            .app
            .store
            .builds()
            .pipeline_by_id(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("Pipeline not found".into()))?;
        self.pipelines.insert(id, p.clone());
        Ok(p)
    }

    /// The masks of `project`'s secrets, read once per reply.
    pub async fn masks(
        &mut self,
        state: &AppState,
        project: &Project,
    ) -> Result<Arc<ProjectMasks>, ApiError> {
        if let Some(m) = self.masks.get(&project.id) {
            return Ok(m.clone());
        }
        let m = Arc::new(ProjectMasks::load(&state.app, project).await?);
        self.masks.insert(project.id, m.clone());
        Ok(m)
    }

    /// The workflow with this id (in pipeline `pipeline_id`).
    pub async fn workflow(
        &mut self,
        state: &AppState,
        pipeline_id: i64,
        id: i64,
    ) -> Result<WorkflowRecord, ApiError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.workflows.entry(pipeline_id) {
            slot.insert(state.app.store.builds().workflows(pipeline_id).await?);
        }
        self.workflows
            .get(&pipeline_id)
            .and_then(|all| all.iter().find(|w| w.id == id))
            .cloned()
            .ok_or_else(|| ApiError::NotFound("Workflow not found".into()))
    }
}

/// RFC 3339 UTC with milliseconds, as CircleCI sends times, e.g. `2026-11-28T13:36:35.120Z`.
pub fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn iso_opt(t: Option<OffsetDateTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(iso(t)))
}

/// The repository's web URL as CircleCI gives it (`https://github.com/org/repo`).
pub fn vcs_url(p: &Project) -> String {
    let host = match p.slug.vcs() {
        circlet_core::Vcs::GitHub => "github.com",
        circlet_core::Vcs::Bitbucket => "bitbucket.org",
    };
    format!("https://{host}/{}/{}", p.slug.org(), p.slug.repo())
}

/// The commit info stored with a pipeline.
pub fn commit(p: &PipelineRecord) -> CommitInfo {
    serde_json::from_str(&p.commit_info).unwrap_or_default()
}

fn null_if_empty(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s.to_owned())
    }
}

fn millis(job: &JobRecord) -> Value {
    match (job.started_at, job.stopped_at) {
        (Some(a), Some(b)) => json!((b - a).whole_milliseconds().max(0) as i64),
        _ => Value::Null,
    }
}

/// `{build_num, status, outcome, vcs_revision, pushed_at, added_at}` for `/projects`.
pub fn build_ref(job: &JobRecord) -> Value {
    json!({
        "build_num": job.build_num,
        "status": job.state.v1_status(),
        "outcome": job.state.outcome(),
        "lifecycle": job.state.lifecycle(),
        "vcs_revision": job.revision,
        "pushed_at": iso(job.queued_at),
        "added_at": iso(job.queued_at),
    })
}

/// API v1.1's build object for `job`. `detail` adds steps with their actions; `shallow` keeps
/// the documented summary fields only.
pub async fn v1(
    state: &AppState,
    cache: &mut Cache,
    project: &Project,
    job: &JobRecord,
    detail: bool,
    shallow: bool,
) -> Result<Value, ApiError> {
    let pipeline = cache.pipeline(state, job.pipeline_id).await?;
    let workflow = cache
        .workflow(state, job.pipeline_id, job.workflow_id)
        .await?;
    let c = commit(&pipeline);
    let s = job.state;
    let build_url = circlet_app::builds::job_env::build_url(
        &state.app.config.public_url,
        project,
        job.build_num,
    );
    let mut v = json!({
        "vcs_url": vcs_url(project),
        "build_url": build_url,
        "build_num": job.build_num,
        "branch": job.branch,
        "vcs_revision": job.revision,
        "committer_name": null_if_empty(&c.committer_name),
        "committer_email": null_if_empty(&c.committer_email),
        "subject": null_if_empty(&c.subject),
        "body": null_if_empty(&c.body),
        "why": job.why,
        "dont_build": null,
        "queued_at": iso(job.queued_at),
        "start_time": iso_opt(job.started_at),
        "stop_time": iso_opt(job.stopped_at),
        "build_time_millis": millis(job),
        "username": project.slug.org(),
        "reponame": project.slug.repo(),
        "lifecycle": s.lifecycle(),
        "outcome": s.outcome(),
        "status": s.v1_status(),
        "retry_of": job.retry_of,
        "previous": null,
    });
    if shallow {
        return Ok(v);
    }
    let masks = cache.masks(state, project).await?;
    // Build parameters reach the job in clear; shown, they are masked like its output.
    let build_parameters: Value =
        serde_json::from_str::<serde_json::Map<String, Value>>(&job.build_parameters)
            .map(|params| masks.json(&Value::Object(params)))
            .unwrap_or_else(|_| json!({}));
    let extra = json!({
        "vcs_type": project.slug.vcs().long(),
        "vcs_tag": job.tag,
        "author_name": null_if_empty(&c.author_name),
        "author_email": null_if_empty(&c.author_email),
        "author_date": null_if_empty(&c.author_date),
        "committer_date": null_if_empty(&c.committer_date),
        "all_commit_details": [{
            "commit": job.revision,
            "commit_url": format!("{}/commit/{}", vcs_url(project), job.revision),
            "subject": null_if_empty(&c.subject),
            "body": null_if_empty(&c.body),
            "branch": job.branch,
            "author_name": null_if_empty(&c.author_name),
            "author_email": null_if_empty(&c.author_email),
            "author_login": null,
            "author_date": null_if_empty(&c.author_date),
            "committer_name": null_if_empty(&c.committer_name),
            "committer_email": null_if_empty(&c.committer_email),
            "committer_login": null,
            "committer_date": null_if_empty(&c.committer_date),
        }],
        "compare": null,
        "user": {"is_user": true, "login": pipeline.actor_login, "name": null, "vcs_type": project.slug.vcs().long()},
        "usage_queued_at": iso(job.queued_at),
        "failed": if matches!(s, JobState::Failed | JobState::Timedout | JobState::InfrastructureFail) { json!(true) } else { Value::Null },
        "canceled": s == JobState::Canceled,
        "timedout": s == JobState::Timedout,
        "infrastructure_fail": s == JobState::InfrastructureFail,
        "is_first_green_build": false,
        "oss": project.public,
        "no_dependency_cache": false,
        "ssh_disabled": true,
        "canceler": null,
        "retries": null,
        "previous_successful_build": null,
        "parallel": job.parallelism,
        "build_parameters": build_parameters,
        "job_name": job.name,
        "workflows": {
            "job_name": job.name,
            "job_id": job.uuid,
            "workflow_id": workflow.uuid,
            "workspace_id": workflow.uuid,
            "workflow_name": workflow.name,
            "upstream_job_ids": [],
            "upstream_concurrency_map": {},
        },
        "pull_requests": pipeline.pull_request().map(|pr| vec![json!({"head_sha": job.revision, "url": pr.url})]).unwrap_or_default(),
        "platform": "2.0",
        "messages": [],
        "ssh_users": [],
        "node": [],
        "circle_yml": null,
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    if detail {
        v["steps"] = steps_json(state, project, job, &masks).await?;
    }
    Ok(v)
}

/// `steps: [{name, actions: [Action]}]` of a build: one action per node that ran the step
/// (`index` is the node).
async fn steps_json(
    state: &AppState,
    project: &Project,
    job: &JobRecord,
    masks: &ProjectMasks,
) -> Result<Value, ApiError> {
    let steps = state.app.store.builds().steps_of_all_nodes(job.id).await?;
    // A step's command comes from the job's definition: the runner reports steps by their
    // position in it, and the store keeps no copy of the command.
    let definition: Option<circlet_core::ci_config::Job> = serde_json::from_str(&job.spec).ok();
    // Index 0 is the runner's own "Spin up environment"; the definition's step k is k + 1.
    let command_of = |idx: i64| -> Value {
        let step = usize::try_from(idx)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| definition.as_ref()?.steps.get(i));
        match step {
            Some(circlet_core::ci_config::Step::Run(run)) => {
                Value::String(masks.text(&run.command))
            }
            _ => Value::Null,
        }
    };
    let mut out: Vec<Value> = Vec::with_capacity(steps.len());
    let mut last_idx = None;
    for st in steps {
        let failed = matches!(
            st.state.as_str(),
            "failed" | "timedout" | "infrastructure_fail"
        );
        let run_time = match st.stopped_at {
            Some(end) => json!((end - st.started_at).whole_milliseconds().max(0) as i64),
            None => Value::Null,
        };
        let output_url = format!(
            "{}/api/v1.1/project/{}/{}/output/{}/{}",
            state.app.config.public_url, project.slug, job.build_num, st.idx, st.node_index
        );
        let name = masks.text(&st.name);
        let action = json!({
                "name": name,
                "index": st.node_index,
                "step": st.idx,
                "type": "test",
                "status": st.state,
                "bash_command": command_of(st.idx),
                "exit_code": st.exit_code,
                "start_time": iso(st.started_at),
                "end_time": iso_opt(st.stopped_at),
                "run_time_millis": run_time,
                "messages": [],
                "has_output": true,
                "output_url": output_url,
                "parallel": job.parallelism > 1,
                "background": false,
                "failed": if failed { json!(true) } else { Value::Null },
                "timedout": if st.state == "timedout" { json!(true) } else { Value::Null },
                "canceled": if st.state == "canceled" { json!(true) } else { Value::Null },
                "infrastructure_fail": null,
                "continue": null,
                "source": "config",
                "truncated": false,
        });
        match out.last_mut() {
            Some(step) if last_idx == Some(st.idx) => {
                if let Some(actions) = step["actions"].as_array_mut() {
                    actions.push(action);
                }
            }
            _ => out.push(json!({"name": name, "actions": [action]})),
        }
        last_idx = Some(st.idx);
    }
    Ok(Value::Array(out))
}

/// A step's stored output on one node as v1.1's output file: `[{"type": "out", "time", "message"}]`.
pub async fn output_json(
    state: &AppState,
    job: &JobRecord,
    node: i64,
    idx: i64,
) -> Result<Value, ApiError> {
    let chunks = state
        .app
        .store
        .builds()
        .output(job.id, node, idx, 0)
        .await?;
    let message: String = chunks.into_iter().map(|(_, t)| t).collect();
    Ok(json!([{"type": "out", "time": iso(job.queued_at), "message": message}]))
}

/// The mask stored output uses, for tests and the UI.
pub const OUTPUT_MASK: &str = MASK;

/// API v2's pipeline object; its parameters are shown through `masks` (the project's).
pub fn v2_pipeline(project: &Project, p: &PipelineRecord, masks: &ProjectMasks) -> Value {
    let c = commit(p);
    let errors: Vec<String> = serde_json::from_str(&p.errors).unwrap_or_default();
    let mut vcs = json!({
        "provider_name": match project.slug.vcs() {
            circlet_core::Vcs::GitHub => "GitHub",
            circlet_core::Vcs::Bitbucket => "Bitbucket",
        },
        "target_repository_url": vcs_url(project),
        // Where the commit comes from: the repository builds clone.
        "origin_repository_url": project.repo_url.to_string(),
        "revision": p.revision,
        // Strings, never null: strict clients decode them as strings.
        "commit": {"subject": c.subject, "body": c.body},
    });
    if let Some(b) = &p.branch {
        vcs["branch"] = json!(b);
    }
    if let Some(t) = &p.tag {
        vcs["tag"] = json!(t);
    }
    if let Some(pr) = p.pull_request() {
        vcs["review_id"] = json!(pr.number.to_string());
        vcs["review_url"] = json!(pr.url);
    }
    let mut pipeline = json!({
        "id": p.uuid,
        "errors": errors.iter().map(|m| json!({"type": "config", "message": m})).collect::<Vec<_>>(),
        "project_slug": project.slug.to_string(),
        "updated_at": iso(p.updated_at),
        "number": p.number,
        "state": p.state,
        "created_at": iso(p.created_at),
        "trigger": {
            "type": p.trigger_type,
            "received_at": iso(p.created_at),
            "actor": {"login": p.actor_login, "avatar_url": ""},
        },
        "vcs": vcs,
    });
    if let Some(params) = trigger_parameters(project, p, masks) {
        pipeline["trigger_parameters"] = params;
    }
    pipeline
}

/// API v2's `trigger_parameters` of pipeline `p`, shaped as CircleCI's: `circleci` (how it was
/// triggered), `git` (what it builds) and, circlet's addition, `parameters` (the pipeline
/// parameters it was given, when there are any). Everything shown of them passes through
/// `masks` here, the one place that shapes the field. `None` leaves the field out.
pub fn trigger_parameters(
    project: &Project,
    p: &PipelineRecord,
    masks: &ProjectMasks,
) -> Option<Value> {
    let c = commit(p);
    let mut git = json!({
        "checkout_sha": p.revision,
        "repo_url": project.repo_url.to_string(),
        "checkout_url": project.repo_url.to_string(),
        "repo_name": project.slug.repo(),
        "repo_owner": project.slug.org(),
        "default_branch": project.default_branch.as_str(),
        "commit_message": c.subject,
    });
    if let Some(b) = &p.branch {
        git["branch"] = json!(b);
        git["ref"] = json!(format!("refs/heads/{b}"));
    }
    if let Some(t) = &p.tag {
        git["tag"] = json!(t);
        git["ref"] = json!(format!("refs/tags/{t}"));
    }
    let mut shaped = json!({
        "circleci": {
            "trigger_type": p.trigger_type,
            "event_time": iso(p.created_at),
        },
        "git": git,
    });
    let parameters: serde_json::Map<String, Value> =
        serde_json::from_str(&p.parameters).unwrap_or_default();
    if !parameters.is_empty() {
        shaped["parameters"] = Value::Object(parameters);
    }
    Some(masks.json(&shaped))
}

/// API v2's workflow object, its status derived from its jobs.
pub fn v2_workflow(
    project: &Project,
    pipeline: &PipelineRecord,
    started_by: uuid::Uuid,
    w: &WorkflowRecord,
    jobs: &[JobRecord],
) -> Value {
    let states: Vec<JobState> = jobs.iter().map(|j| j.state).collect();
    let status = build_state::workflow_status(&states, w.canceled);
    let stopped = if jobs.iter().all(|j| j.state.is_final()) {
        jobs.iter().filter_map(|j| j.stopped_at).max()
    } else {
        None
    };
    json!({
        "id": w.uuid,
        "name": w.name,
        "pipeline_id": pipeline.uuid,
        "pipeline_number": pipeline.number,
        "project_slug": project.slug.to_string(),
        "status": status,
        "started_by": started_by,
        "created_at": iso(w.created_at),
        "stopped_at": iso_opt(stopped),
        "tag": null,
    })
}

/// API v2's `started_by` of `pipeline`'s workflows: the id of the user who started it, as `/me`
/// gives it; for a pipeline no user started (a forge's push, or a user deleted since), a stable
/// id made from the name it was started under.
pub async fn started_by(
    state: &AppState,
    pipeline: &PipelineRecord,
) -> Result<uuid::Uuid, ApiError> {
    if let Some(id) = pipeline.actor_id
        && let Some(user) = state.app.store.users().by_id(id).await?
    {
        return Ok(user.uuid);
    }
    Ok(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        pipeline.actor_login.as_bytes(),
    ))
}

/// API v2's `parallel_runs`: each node's status, from its claim; a node no runner has claimed
/// yet has its job's status (`queued`, or how a canceled job ended).
fn parallel_runs(job: &JobRecord, nodes: &[NodeRecord]) -> Value {
    job.run_states(nodes)
        .iter()
        .enumerate()
        .map(|(i, state)| json!({"index": i, "status": state.v2_status()}))
        .collect()
}

/// API v2's workflow job item.
pub fn v2_workflow_job(project: &Project, job: &JobRecord, all: &[JobRecord]) -> Value {
    let dependencies: Vec<uuid::Uuid> = job
        .requires
        .iter()
        .filter_map(|name| all.iter().find(|j| &j.name == name).map(|j| j.uuid))
        .collect();
    let mut j = json!({
        "id": job.uuid,
        "name": job.name,
        "type": if job.approval { "approval" } else { "build" },
        "status": job.state.v2_status(),
        "dependencies": dependencies,
        "project_slug": project.slug.to_string(),
        "started_at": iso_opt(job.started_at),
        "stopped_at": iso_opt(job.stopped_at),
        "job_number": job.build_num,
    });
    if job.approval {
        // CircleCI's approval request is the approval job itself.
        j["approval_request_id"] = json!(job.uuid);
        j["approved_by"] = json!(job.approved_by);
    }
    j
}

/// API v2's job details.
pub fn v2_job(
    state: &AppState,
    project: &Project,
    pipeline: &PipelineRecord,
    workflow: &WorkflowRecord,
    job: &JobRecord,
    nodes: &[NodeRecord],
) -> Value {
    let duration = match (job.started_at, job.stopped_at) {
        (Some(a), Some(b)) => json!((b - a).whole_milliseconds().max(0) as i64),
        _ => Value::Null,
    };
    json!({
        "web_url": circlet_app::builds::job_env::build_url(&state.app.config.public_url, project, job.build_num),
        "project": {
            "id": project.uuid,
            "slug": project.slug.to_string(),
            "name": project.slug.repo(),
            "external_url": vcs_url(project),
        },
        "parallel_runs": parallel_runs(job, nodes),
        "started_at": iso_opt(job.started_at),
        "latest_workflow": {"id": workflow.uuid, "name": workflow.name},
        "name": job.name,
        "executor": {"resource_class": "host", "type": "machine"},
        "parallelism": job.parallelism,
        "status": job.state.v2_status(),
        "number": job.build_num,
        "pipeline": {"id": pipeline.uuid},
        "duration": duration,
        "created_at": iso(job.queued_at),
        "messages": [],
        "contexts": serde_json::from_str::<circlet_core::ci_config::Job>(&job.spec)
            .map(|j| j.contexts)
            .unwrap_or_default()
            .into_iter()
            .map(|name| json!({"name": name}))
            .collect::<Vec<_>>(),
        "organization": {"name": project.slug.org()},
        "queued_at": iso(job.queued_at),
        "stopped_at": iso_opt(job.stopped_at),
    })
}
