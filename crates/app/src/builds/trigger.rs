//! Triggering: from "build this branch" to a stored pipeline with its workflows and queued jobs.
//! The v1.1 and v2 trigger endpoints and the web UI's form all come through [`trigger`].

use super::git::{ConfigFile, GitError, Target};
use super::leak_guard;
use crate::AppError;
use crate::{App, Caller};
use circlet_core::ProjectSlug;
use circlet_core::ci_config::{
    self, GitRef, ParamValue, PipelineContext, PlannedWorkflow, RequiredStatus, Selection,
};
use circlet_core::runner_class::RunnerClass;
use circlet_core::scope::Action;
use circlet_core::{BranchName, Role, envvar};
use circlet_store::{
    JobRecord, NewJob, NewPipeline, NewWorkflow, PipelineOrigin, PipelineRecord, Project, User,
};
use std::collections::BTreeMap;

/// At most this many pipeline parameters or build parameters per trigger.
pub const MAX_PARAMETERS: usize = 100;
/// The longest pipeline parameter name.
pub const MAX_PARAMETER_NAME: usize = 128;
/// The longest pipeline parameter value (as text).
pub const MAX_PARAMETER_VALUE: usize = 512;
/// The longest build parameter value.
pub const MAX_BUILD_PARAMETER_VALUE: usize = 32 * 1024;
/// At most this many configs are parsed at once: parsing is CPU work, and a hostile 1 MiB
/// config can make the YAML scanner hold about 200 MiB while it lasts.
pub const MAX_CONCURRENT_PARSES: usize = 2;

/// A request to run a pipeline.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    /// What to build.
    pub target: Target,
    /// A commit to build instead of the target's head (v1.1 `revision`).
    pub revision: Option<String>,
    /// v2 pipeline parameters.
    pub parameters: BTreeMap<String, ParamValue>,
    /// v1.1 build parameters, exported to the job's environment (`CIRCLE_JOB` included).
    pub build_parameters: BTreeMap<String, String>,
    /// Run only this job (v1.1 `CIRCLE_JOB`, `job`).
    pub only_job: Option<String>,
    /// v2 trigger type: `api`, `explicit`, `webhook`, …
    pub trigger_type: &'static str,
    /// v1.1 `why` of its jobs: `api`, `github`, …
    pub why: &'static str,
    /// What a webhook adds: its pull request, the ref holding a fork's commit, whether its jobs
    /// get the project's secrets, the delivery.
    pub origin: PipelineOrigin,
    /// Build nothing when the commit says `[ci skip]` or `[skip ci]` (webhooks' pushes).
    pub honour_skip: bool,
    /// Cancel the branch's earlier unfinished workflows ("Auto-cancel redundant workflows").
    pub auto_cancel: bool,
    /// Run only this scheduled workflow (a config's cron trigger fired).
    pub scheduled_workflow: Option<String>,
}

impl TriggerRequest {
    /// A plain build of `target`'s head.
    pub fn new(target: Target) -> Self {
        TriggerRequest {
            target,
            revision: None,
            parameters: BTreeMap::new(),
            build_parameters: BTreeMap::new(),
            only_job: None,
            trigger_type: "api",
            why: "api",
            origin: PipelineOrigin::default(),
            honour_skip: false,
            auto_cancel: false,
            scheduled_workflow: None,
        }
    }
}

/// Who a pipeline is attributed to: a user of circlet, or a name a forge gave.
#[derive(Debug, Clone)]
pub struct Attribution {
    /// The circlet user, if one.
    pub user_id: Option<i64>,
    /// Their login (or the forge's name for whoever pushed).
    pub login: String,
    /// The ceiling of the limited personal token they acted through, if they did.
    pub role_ceiling: Option<Role>,
}

impl Attribution {
    /// `user`.
    pub fn user(user: &User) -> Self {
        Attribution {
            user_id: Some(user.id),
            login: user.login.to_string(),
            role_ceiling: None,
        }
    }
}

/// What a trigger came to.
#[derive(Debug, Clone)]
pub enum Started {
    /// A pipeline.
    Pipeline(Box<Triggered>),
    /// Nothing: the commit asked not to be built (the reason, for people).
    Skipped(String),
}

/// The pipeline made, and its jobs.
#[derive(Debug, Clone)]
pub struct Triggered {
    /// The pipeline (state `errored` with `errors` when its config could not run).
    pub pipeline: PipelineRecord,
    /// Its jobs, in creation order; empty when errored or when every job was filtered out.
    pub jobs: Vec<JobRecord>,
}

/// A branch or tag name as a [`Target`], or a 400 naming the problem.
pub fn target(branch: Option<&str>, tag: Option<&str>) -> Result<Option<Target>, AppError> {
    let check = |what: &str, raw: &str| {
        BranchName::parse(raw)
            .map(|b| b.as_str().to_owned())
            .map_err(|e| AppError::Invalid(format!("{what}: {e}")))
    };
    match (branch, tag) {
        (Some(_), Some(_)) => Err(AppError::Invalid(
            "Give either a branch or a tag, not both".into(),
        )),
        (Some(b), None) => Ok(Some(Target::Branch(check("branch", b)?))),
        (None, Some(t)) => Ok(Some(Target::Tag(check("tag", t)?))),
        (None, None) => Ok(None),
    }
}

/// Pipeline parameters given as JSON (a trigger's, a compile's, a continuation's): each a
/// string, integer or boolean, all within CircleCI's limits ([`check_parameters`]).
pub fn pipeline_parameters(
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, ParamValue>, AppError> {
    let parameters = given
        .iter()
        .map(|(name, v)| Ok((name.clone(), param_value(name, v)?)))
        .collect::<Result<BTreeMap<_, _>, AppError>>()?;
    check_parameters(&parameters)?;
    Ok(parameters)
}

/// Checks v2 pipeline parameters against CircleCI's limits.
pub fn check_parameters(parameters: &BTreeMap<String, ParamValue>) -> Result<(), AppError> {
    if parameters.len() > MAX_PARAMETERS {
        return Err(AppError::Invalid(format!(
            "At most {MAX_PARAMETERS} pipeline parameters may be given"
        )));
    }
    for (name, value) in parameters {
        if name.is_empty() || name.chars().count() > MAX_PARAMETER_NAME {
            return Err(AppError::Invalid(format!(
                "Pipeline parameter names must be 1 to {MAX_PARAMETER_NAME} characters"
            )));
        }
        if value.to_string().chars().count() > MAX_PARAMETER_VALUE {
            return Err(AppError::Invalid(format!(
                "Pipeline parameter '{name}' is longer than {MAX_PARAMETER_VALUE} characters"
            )));
        }
        // A NUL cannot reach a command line or an environment: the job would fail to start.
        if name.contains('\0') || matches!(value, ParamValue::Str(s) if s.contains('\0')) {
            return Err(AppError::Invalid(format!(
                "Pipeline parameter '{}' must not contain a NUL character",
                name.escape_debug()
            )));
        }
    }
    Ok(())
}

/// Checks v1.1 build parameters: environment variable names, bounded values.
pub fn check_build_parameters(parameters: &BTreeMap<String, String>) -> Result<(), AppError> {
    if parameters.len() > MAX_PARAMETERS {
        return Err(AppError::Invalid(format!(
            "At most {MAX_PARAMETERS} build parameters may be given"
        )));
    }
    for (name, value) in parameters {
        if !envvar::valid_name(name) {
            return Err(AppError::Invalid(format!(
                "Build parameter name '{}' is invalid: use letters, digits and _, not starting with a digit",
                name.escape_debug()
            )));
        }
        if steers_the_shell(name) {
            return Err(AppError::Invalid(format!(
                "Build parameter '{name}' is not allowed: it would change how every step's shell, linker or git behaves"
            )));
        }
        if value.len() > MAX_BUILD_PARAMETER_VALUE {
            return Err(AppError::Invalid(format!(
                "Build parameter '{name}' is longer than {MAX_BUILD_PARAMETER_VALUE} bytes"
            )));
        }
        if value.contains('\0') {
            return Err(AppError::Invalid(format!(
                "Build parameter '{name}' must not contain a NUL character: no environment variable can hold one"
            )));
        }
    }
    Ok(())
}

/// Variables that change how bash, the dynamic linker or git run (`BASH_ENV` makes bash run a
/// command before every step): a user who may trigger but not read env vars could use them to
/// exfiltrate the project's secrets, so build parameters may not set them.
fn steers_the_shell(name: &str) -> bool {
    const EXACT: [&str; 9] = [
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "IFS",
        "PATH",
        "HOME",
    ];
    let upper = name.to_ascii_uppercase();
    EXACT.contains(&upper.as_str())
        || upper.starts_with("LD_")
        || upper.starts_with("GIT_")
        || upper.starts_with("BASH_FUNC_")
}

impl App {
    /// The door to starting pipelines of the project at `slug`: `caller` must be a user allowed
    /// [`Action::Trigger`] there, and the pipelines are theirs.
    pub async fn pipelines(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
    ) -> Result<Pipelines<'_>, AppError> {
        let access = self.authorize(caller, slug, Action::Trigger).await?;
        let actor = caller.require_user()?.clone();
        Ok(Pipelines {
            app: self,
            project: access.project,
            actor,
            ceiling: caller.limits().and_then(|l| l.ceiling),
        })
    }
}

/// What a missing pipeline is called.
pub const PIPELINE_NOT_FOUND: &str = "Pipeline not found";

/// What a missing approval request is called.
pub const APPROVAL_NOT_FOUND: &str = "Approval request not found";

/// Starting pipelines of one project, for a user allowed to.
pub struct Pipelines<'a> {
    app: &'a App,
    /// The project.
    pub project: Project,
    actor: User,
    /// A limited token's ceiling, carried by its pipelines to their contexts.
    ceiling: Option<Role>,
}

impl Pipelines<'_> {
    /// Starts a pipeline (see [`trigger`]).
    pub async fn trigger(&self, req: TriggerRequest) -> Result<Triggered, AppError> {
        match trigger(
            self.app,
            &self.project,
            &Attribution {
                role_ceiling: self.ceiling,
                ..Attribution::user(&self.actor)
            },
            req,
        )
        .await?
        {
            Started::Pipeline(t) => Ok(*t),
            Started::Skipped(why) => Err(AppError::Invalid(why)),
        }
    }

    /// The project's job (v1.1 build) numbered `build_num`; `missing` ("Build not found", "Job
    /// not found": each API's word) when there is none.
    pub async fn job(&self, build_num: i64, missing: &str) -> Result<JobRecord, AppError> {
        self.app
            .store
            .builds()
            .job_by_num(self.project.id, build_num)
            .await?
            .ok_or_else(|| AppError::NotFound(missing.into()))
    }

    /// Approves the approval job whose id is `request_id` (CircleCI's `approval_request_id`)
    /// among `jobs`, the jobs of one workflow: it ends `success`, signed by this user, and the
    /// jobs waiting for it are released.
    pub async fn approve(
        &self,
        jobs: &[JobRecord],
        request_id: uuid::Uuid,
    ) -> Result<(), AppError> {
        let job = jobs
            .iter()
            .find(|j| j.uuid == request_id && j.approval)
            .ok_or_else(|| AppError::NotFound(APPROVAL_NOT_FOUND.into()))?;
        if !self
            .app
            .store
            .builds()
            .approve(job.id, self.actor.login.as_str())
            .await?
        {
            return Err(AppError::Invalid(format!(
                "Job '{}' is not waiting for an approval (it is {})",
                job.name,
                job.state.as_str()
            )));
        }
        self.app.work_available.notify_waiters();
        Ok(())
    }

    /// A new build of the same job (`why: retry`), queued at once. Only a finished job is
    /// retried: a running one must be canceled or waited for first.
    pub async fn retry(&self, job: &JobRecord) -> Result<JobRecord, AppError> {
        if job.approval {
            return Err(AppError::Invalid(format!(
                "Job '{}' is an approval: it is approved, not retried",
                job.name
            )));
        }
        if !job.state.is_final() {
            return Err(AppError::Invalid(format!(
                "Build #{} has not finished; cancel it first or wait for it",
                job.build_num
            )));
        }
        let new = self.app.store.builds().retry(job).await?;
        self.app.work_available.notify_waiters();
        Ok(new)
    }

    /// Cancels `job`: a queued one ends at once, a running one at its runner's next heartbeat;
    /// `false` when it had already ended.
    pub async fn cancel(&self, job: &JobRecord) -> Result<bool, AppError> {
        Ok(self.app.store.builds().request_cancel(job.id).await?)
    }
}

/// Reads the repository at the requested commit, plans the config's workflows and stores the
/// pipeline. A branch, tag or revision that does not exist, or an unreadable repository, is a
/// 400 and stores nothing. A config that cannot run stores an `errored` pipeline (so the UI and
/// v2 show why) and is returned as such; a `only_job` the config lacks does the same.
pub(crate) async fn trigger(
    app: &App,
    project: &Project,
    actor: &Attribution,
    req: TriggerRequest,
) -> Result<Started, AppError> {
    let key = app.checkout_key_for(project).await?;
    let resolved = app
        .repos
        .resolve(
            project,
            &req.target,
            req.origin.fetch_ref.as_deref(),
            req.revision.as_deref(),
            key.as_ref(),
        )
        .await
        .map_err(|e| {
            if let GitError::Unreadable(details) = &e {
                tracing::warn!(
                    project = %project.slug,
                    // The log formatter escapes control characters: git quotes the remote.
                    details = %details,
                    "could not read a project's repository"
                );
            }
            AppError::Invalid(e.to_string())
        })?;
    if req.honour_skip
        && circlet_core::forge::asks_to_skip(&resolved.commit.subject, &resolved.commit.body)
    {
        return Ok(Started::Skipped(format!(
            "commit {} asks not to be built ([ci skip] or [skip ci])",
            &resolved.revision[..resolved.revision.len().min(12)]
        )));
    }
    let number = app
        .store
        .builds()
        .reserve_pipeline_number(project.id)
        .await?;
    guard_parameters(app, project, number, &req).await?;
    let (branch, tag) = match &req.target {
        Target::Branch(b) => (Some(b.clone()), None),
        Target::Tag(t) => (None, Some(t.clone())),
    };
    let pipeline_id = uuid::Uuid::new_v4();
    let ctx = PipelineContext {
        id: pipeline_id.to_string(),
        branch: branch.clone(),
        tag: tag.clone(),
        revision: resolved.revision.clone(),
        number,
        project_git_url: project.repo_url.to_string(),
        project_type: project.slug.vcs().long().to_owned(),
        project_slug: project.slug.to_string(),
        trigger_source: req.trigger_type.to_owned(),
        parameters: req.parameters.clone(),
        ..PipelineContext::default()
    };
    let mut kept_config = None;
    let mut setup = false;
    let mut config_schedules = None;
    let planned = match resolved.config {
        ConfigFile::Missing => Err(vec![format!(
            "No .circleci/config.yml at revision {}",
            &resolved.revision
        )]),
        ConfigFile::TooLarge(size) => Err(vec![format!(
            "config is larger than {} bytes ({size} bytes)",
            ci_config::MAX_CONFIG_BYTES
        )]),
        ConfigFile::Text(text) => {
            let selection = match (&req.only_job, &req.scheduled_workflow) {
                (Some(job), _) => Chosen::OnlyJob(job.clone()),
                (None, Some(w)) => Chosen::Scheduled(w.clone()),
                (None, None) => Chosen::Workflows,
            };
            let made = plan_config(app, text.clone(), ctx, selection).await?;
            kept_config = Some((text, made.compiled));
            setup = made.setup;
            config_schedules = made.schedules;
            made.workflows
        }
    };
    let build_parameters_json = if req.build_parameters.is_empty() {
        "{}".to_owned()
    } else {
        serde_json::to_string(&req.build_parameters).unwrap_or_else(|_| "{}".into())
    };
    let (workflows, errors) = match planned {
        Ok(workflows) => (new_workflows(workflows, &build_parameters_json), Vec::new()),
        Err(errors) => (Vec::new(), errors),
    };
    let parameters_json = serde_json::to_string(
        &req.parameters
            .iter()
            .map(|(k, v)| (k.clone(), param_json(v)))
            .collect::<serde_json::Map<_, _>>(),
    )
    .expect("parameters serialize");
    let new = NewPipeline {
        id: Some(pipeline_id),
        project_id: project.id,
        number: Some(number),
        commit_json: serde_json::to_string(&resolved.commit).expect("commit info serializes"),
        trigger_type: req.trigger_type.to_owned(),
        actor_id: actor.user_id,
        actor_login: actor.login.clone(),
        actor_role_ceiling: actor.role_ceiling,
        branch,
        tag,
        revision: resolved.revision,
        parameters_json,
        errors,
        why: req.why.to_owned(),
        workflows,
        config: kept_config,
        setup,
        origin: req.origin,
    };
    let (pipeline, jobs) = app.store.builds().create_pipeline(&new).await?;
    if !jobs.is_empty() {
        app.work_available.notify_waiters();
    }
    if req.auto_cancel
        && let Some(branch) = &pipeline.branch
    {
        cancel_redundant(app, project, branch, pipeline.id).await?;
    }
    // The branch's config says which of its workflows run on a schedule; a scheduled run
    // itself leaves them as they are.
    // A fork's config is its author's: it schedules nothing.
    let forked = pipeline.pr_fork || pipeline.fetch_ref.is_some() || pipeline.secrets_withheld;
    if let (Some(entries), Some(branch)) = (config_schedules, &pipeline.branch)
        && req.trigger_type != "scheduled_pipeline"
        && !forked
    {
        let now = time::OffsetDateTime::now_utc();
        let entries: Vec<_> = entries
            .into_iter()
            .map(|(workflow, cron)| {
                let next = circlet_core::schedule::Calendar::cron(&cron)
                    .ok()
                    .and_then(|c| c.next_after(now));
                (workflow, cron, next)
            })
            .collect();
        app.store
            .schedules()
            .set_config_schedules(project.id, branch, &entries, crate::schedules::SYSTEM_ACTOR)
            .await?;
    }
    Ok(Started::Pipeline(Box::new(Triggered { pipeline, jobs })))
}

/// "Auto-cancel redundant workflows": the branch's earlier workflows that have not finished
/// are canceled once a newer pipeline of it exists.
async fn cancel_redundant(
    app: &App,
    project: &Project,
    branch: &str,
    newer_than: i64,
) -> Result<(), AppError> {
    let builds = app.store.builds();
    for workflow in builds
        .redundant_workflows(project.id, branch, newer_than)
        .await?
    {
        match builds.cancel_workflow(workflow).await {
            // Finished or removed meanwhile: nothing left to cancel.
            Ok(()) | Err(circlet_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Shows the trigger's parameters (names and values) to the leak guard: a live token passed
/// that way is revoked now and audited, as one printed in a job's output would be. They are
/// stored as given (a build parameter is the job's environment) and masked whenever shown.
async fn guard_parameters(
    app: &App,
    project: &Project,
    number: i64,
    req: &TriggerRequest,
) -> Result<(), AppError> {
    let place = leak_guard::Place::Parameter(number);
    let texts = req
        .build_parameters
        .iter()
        .flat_map(|(k, v)| [k.as_str(), v.as_str()])
        .chain(req.parameters.iter().flat_map(|(k, v)| match v {
            ParamValue::Str(s) => vec![k.as_str(), s.as_str()],
            ParamValue::Bool(_) | ParamValue::Int(_) => vec![k.as_str()],
        }));
    for text in texts {
        leak_guard::scrub(app, project, place, text).await?;
    }
    Ok(())
}

/// A config compiled and planned for one pipeline.
struct PlannedConfig {
    /// The workflows to create, or the config's problems.
    workflows: Result<Vec<PlannedWorkflow>, Vec<String>>,
    /// What it compiled to, as kept (empty when it did not compile).
    compiled: String,
    /// A setup config: its workflows continue the pipeline with a generated config.
    setup: bool,
    /// The config's cron triggers for the pipeline's branch (workflow, cron), when it compiled.
    schedules: Option<Vec<(String, String)>>,
}

/// What a pipeline runs of its config ([`Selection`], owned).
enum Chosen {
    Workflows,
    OnlyJob(String),
    Scheduled(String),
}

/// Compiles `text` for `ctx` and plans what `chosen` runs for the pipeline's branch or tag,
/// off the async workers ([`App::off_workers`]).
async fn plan_config(
    app: &App,
    text: String,
    ctx: PipelineContext,
    chosen: Chosen,
) -> Result<PlannedConfig, AppError> {
    app.off_workers(move |orbs| {
        let selection = match &chosen {
            Chosen::OnlyJob(job) => Selection::OnlyJob(job),
            Chosen::Scheduled(w) => Selection::Scheduled(w),
            Chosen::Workflows => Selection::Workflows,
        };
        let compiled = match ci_config::compile(&text, &ctx, orbs) {
            Ok(c) => c,
            Err(e) => {
                return PlannedConfig {
                    workflows: Err(e.0),
                    compiled: String::new(),
                    setup: false,
                    schedules: None,
                };
            }
        };
        let target = match (&ctx.branch, &ctx.tag) {
            (Some(b), _) => GitRef::Branch(b),
            (None, Some(t)) => GitRef::Tag(t),
            (None, None) => GitRef::Branch(""),
        };
        let schedules = ctx.branch.as_deref().map(|b| {
            compiled
                .config
                .workflows
                .iter()
                .flat_map(|w| {
                    w.schedules
                        .iter()
                        .filter(|s| s.branches.allows(b))
                        .map(|s| (w.name.clone(), s.cron.clone()))
                })
                .collect()
        });
        PlannedConfig {
            schedules,
            workflows: ci_config::plan(&compiled.config, target, selection).map_err(|e| vec![e]),
            compiled: kept_compiled(compiled.processed),
            setup: compiled.config.setup,
        }
    })
    .await
}

/// The workflows and jobs to store for `planned`, each job with `build_parameters_json`.
fn new_workflows(planned: Vec<PlannedWorkflow>, build_parameters_json: &str) -> Vec<NewWorkflow> {
    planned
        .into_iter()
        .map(|w| NewWorkflow {
            name: w.name,
            jobs: w
                .jobs
                .into_iter()
                .map(|j| NewJob {
                    name: j.job.name.clone(),
                    accepts: j
                        .requires
                        .iter()
                        .map(|r| accepted_ends(&r.statuses))
                        .collect(),
                    approval: j.approval,
                    requires: j.requires.into_iter().map(|r| r.job).collect(),
                    spec_json: serde_json::to_string(&j.job).expect("a job definition serializes"),
                    build_parameters_json: build_parameters_json.to_owned(),
                    // A malformed class was refused when the config was read.
                    resource_class: RunnerClass::of_job(j.job.resource_class.as_deref())
                        .ok()
                        .flatten()
                        .map(|c| c.as_str().to_owned()),
                    parallelism: j.job.parallelism,
                })
                .collect(),
        })
        .collect()
}

/// The most bytes of expanded config kept for the pipeline's config page: as much as the config
/// itself may be. A larger expansion (many matrix jobs of long commands) is described, not kept.
const MAX_KEPT_COMPILED: usize = ci_config::MAX_CONFIG_BYTES;

/// `processed` as kept with the pipeline.
fn kept_compiled(processed: String) -> String {
    if processed.len() > MAX_KEPT_COMPILED {
        format!(
            "# The expanded config is {} bytes, more than circlet keeps ({MAX_KEPT_COMPILED}); `circlet config process` prints it.\n",
            processed.len()
        )
    } else {
        processed
    }
}

/// The ends a requirement accepts, as the store keeps them: `success,failed`.
fn accepted_ends(statuses: &[RequiredStatus]) -> String {
    statuses
        .iter()
        .map(|s| match s {
            RequiredStatus::Success => "success",
            RequiredStatus::Failed => "failed",
            RequiredStatus::Canceled => "canceled",
            RequiredStatus::NotRun => "not_run",
        })
        .collect::<Vec<_>>()
        .join(",")
}
impl App {
    /// Continues the setup pipeline a setup job's `key` (its `CIRCLE_CONTINUATION_KEY`) was
    /// given for, with `configuration` (a generated config, not itself a setup one) and
    /// pipeline `parameters`: its workflows are added to the pipeline, planned for the
    /// pipeline's branch or tag. A key that is not one, or whose pipeline was continued
    /// already, is refused; so is a configuration that does not compile (the key stays usable).
    pub async fn continue_pipeline(
        &self,
        key: &str,
        configuration: String,
        parameters: BTreeMap<String, ParamValue>,
    ) -> Result<usize, AppError> {
        let refused =
            |why: &str| AppError::Invalid(format!("Continuation key is not valid: {why}"));
        let digest = super::job_env::continuation_digest(key);
        let Some(pipeline) = self
            .store
            .builds()
            .pipeline_by_continuation_key(&digest)
            .await?
        else {
            return Err(refused("no setup job was given it"));
        };
        if self.store.builds().setup_state(pipeline.id).await?
            != Some(circlet_store::builds::SetupState::Waiting)
        {
            return Err(refused(
                "its pipeline was continued already (a pipeline continues once)",
            ));
        }
        let project = self
            .store
            .projects()
            .by_id(pipeline.project_id)
            .await?
            .ok_or_else(AppError::project_not_found)?;
        let ctx = PipelineContext {
            id: pipeline.uuid.to_string(),
            branch: pipeline.branch.clone(),
            tag: pipeline.tag.clone(),
            revision: pipeline.revision.clone(),
            number: pipeline.number,
            project_git_url: project.repo_url.to_string(),
            project_type: project.slug.vcs().long().to_owned(),
            project_slug: project.slug.to_string(),
            trigger_source: pipeline.trigger_type.clone(),
            parameters,
            ..PipelineContext::default()
        };
        let made = plan_config(self, configuration, ctx, Chosen::Workflows).await?;
        let workflows = made.workflows.map_err(|e| {
            AppError::Invalid(format!("The configuration is not valid: {}", e.join("; ")))
        })?;
        if made.setup {
            return Err(AppError::Invalid(
                "The configuration is not valid: a continuation cannot be a setup configuration (`setup: true`)".into(),
            ));
        }
        let jobs = self
            .store
            .builds()
            .continue_pipeline(&pipeline, &new_workflows(workflows, "{}"), "api")
            .await?
            .ok_or_else(|| {
                refused("its pipeline was continued already (a pipeline continues once)")
            })?;
        if !jobs.is_empty() {
            self.work_available.notify_waiters();
        }
        Ok(jobs.len())
    }

    /// A pipeline's config as read at its revision and as it compiled (empty when it did not;
    /// `None` when no config was read), for someone who may read the project's builds.
    pub async fn pipeline_config(
        &self,
        caller: &Caller,
        slug: &circlet_core::ProjectSlug,
        number: i64,
    ) -> Result<
        (
            Project,
            circlet_store::PipelineRecord,
            Option<(String, String)>,
        ),
        AppError,
    > {
        let access = self.authorize(caller, slug, Action::ReadBuilds).await?;
        let pipeline = self
            .store
            .builds()
            .pipeline_by_number(access.project.id, number)
            .await?
            .ok_or_else(|| AppError::NotFound(PIPELINE_NOT_FOUND.into()))?;
        let config = self.store.builds().pipeline_config(pipeline.id).await?;
        Ok((access.project, pipeline, config))
    }

    /// Compiles `text` for the pipeline `ctx` describes, as a trigger compiles it (orbs from
    /// the registry, on a blocking thread, a few at a time): the compiled config, or its
    /// problems.
    pub async fn compile_config(
        &self,
        text: String,
        ctx: PipelineContext,
    ) -> Result<Result<ci_config::Compiled, Vec<String>>, AppError> {
        self.off_workers(move |orbs| ci_config::compile(&text, &ctx, orbs).map_err(|e| e.0))
            .await
    }

    /// Runs `compile` (given the orb registry) on a blocking thread, a few at a time: a hostile
    /// config keeps a core busy for a second or more, which must not stall the async workers
    /// that answer every other request (issue 11).
    async fn off_workers<T: Send + 'static>(
        &self,
        compile: impl FnOnce(&crate::orbs::StoreOrbs) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _turn = self
            .config_parses
            .acquire()
            .await
            .map_err(AppError::internal)?;
        let orbs = self.orb_source_for_configs();
        tokio::task::spawn_blocking(move || compile(&orbs))
            .await
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("compiling a config")))
    }
}

/// A parameter value as JSON (its own type, not a string).
pub fn param_json(v: &ParamValue) -> serde_json::Value {
    match v {
        ParamValue::Str(s) => serde_json::Value::String(s.clone()),
        ParamValue::Bool(b) => serde_json::Value::Bool(*b),
        ParamValue::Int(i) => serde_json::Value::from(*i),
    }
}

/// A JSON value as a pipeline parameter (strings, booleans and integers only).
pub fn param_value(name: &str, v: &serde_json::Value) -> Result<ParamValue, AppError> {
    match v {
        serde_json::Value::String(s) => Ok(ParamValue::Str(s.clone())),
        serde_json::Value::Bool(b) => Ok(ParamValue::Bool(*b)),
        serde_json::Value::Number(n) if n.is_i64() => {
            Ok(ParamValue::Int(n.as_i64().unwrap_or_default()))
        }
        _ => Err(AppError::Invalid(format!(
            "Pipeline parameter '{name}' must be a string, an integer or a boolean"
        ))),
    }
}

/// A build parameter's value as the text exported to the job: strings as they are, other JSON
/// as its JSON text (`5` → `5`, `{"a": 1}` → `{"a":1}`).
pub fn build_parameter_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
