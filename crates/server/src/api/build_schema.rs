//! The shapes of the build replies, for the OpenAPI document only.
//!
//! `build_json.rs` (and `/projects`, `…/tests`, `…/output`) build their JSON as
//! `serde_json::Value`: the v1.1 build object alone has some sixty fields, most of them
//! constants strict CircleCI clients expect, assembled from several stored rows. Rewriting
//! them as serialized structs would risk the shapes clients (and the tests) rely on, so these
//! types describe the same JSON for the document instead; nothing constructs them. A field
//! here is `Option` when the JSON may hold `null` there (or, in the v1.1 build, when the field
//! is left out of a `shallow=true` reply). When `build_json.rs` changes a shape, change it here:
//! the fuzz step of `scripts/test` checks the replies against these schemas.

#![expect(
    dead_code,
    reason = "types that describe JSON for the OpenAPI document; never constructed"
)]

use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// API v1.1's build object (a job). The fields from `vcs_type` on are absent when the list was
/// asked for with `shallow=true`; `steps` is only in the reply for one build.
#[derive(ToSchema)]
pub struct V1BuildJson {
    vcs_url: String,
    build_url: String,
    build_num: i64,
    branch: Option<String>,
    vcs_revision: String,
    committer_name: Option<String>,
    committer_email: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    /// Why it was built: `api`, `retry`, …
    why: String,
    dont_build: Option<String>,
    queued_at: String,
    start_time: Option<String>,
    stop_time: Option<String>,
    build_time_millis: Option<i64>,
    username: String,
    reponame: String,
    lifecycle: String,
    outcome: Option<String>,
    status: String,
    retry_of: Option<i64>,
    previous: Option<Value>,
    vcs_type: Option<String>,
    vcs_tag: Option<String>,
    author_name: Option<String>,
    author_email: Option<String>,
    author_date: Option<String>,
    committer_date: Option<String>,
    all_commit_details: Option<Vec<CommitDetailJson>>,
    compare: Option<String>,
    user: Option<BuildUserJson>,
    usage_queued_at: Option<String>,
    failed: Option<bool>,
    canceled: Option<bool>,
    timedout: Option<bool>,
    infrastructure_fail: Option<bool>,
    is_first_green_build: Option<bool>,
    oss: Option<bool>,
    no_dependency_cache: Option<bool>,
    ssh_disabled: Option<bool>,
    canceler: Option<Value>,
    retries: Option<Value>,
    previous_successful_build: Option<Value>,
    parallel: Option<i64>,
    build_parameters: Option<BTreeMap<String, Value>>,
    job_name: Option<String>,
    workflows: Option<BuildWorkflowJson>,
    pull_requests: Option<Vec<Value>>,
    platform: Option<String>,
    messages: Option<Vec<Value>>,
    ssh_users: Option<Vec<Value>>,
    node: Option<Vec<Value>>,
    circle_yml: Option<Value>,
    steps: Option<Vec<StepJson>>,
}

/// One commit in a v1.1 build's `all_commit_details`.
#[derive(ToSchema)]
pub struct CommitDetailJson {
    commit: String,
    commit_url: String,
    subject: Option<String>,
    body: Option<String>,
    branch: Option<String>,
    author_name: Option<String>,
    author_email: Option<String>,
    author_login: Option<String>,
    author_date: Option<String>,
    committer_name: Option<String>,
    committer_email: Option<String>,
    committer_login: Option<String>,
    committer_date: Option<String>,
}

/// Who triggered a v1.1 build.
#[derive(ToSchema)]
pub struct BuildUserJson {
    is_user: bool,
    login: String,
    name: Option<String>,
    vcs_type: String,
}

/// A v1.1 build's `workflows`.
#[derive(ToSchema)]
pub struct BuildWorkflowJson {
    job_name: String,
    job_id: Uuid,
    workflow_id: Uuid,
    workspace_id: Uuid,
    workflow_name: String,
    upstream_job_ids: Vec<Uuid>,
    upstream_concurrency_map: BTreeMap<String, Value>,
}

/// A step of a v1.1 build.
#[derive(ToSchema)]
pub struct StepJson {
    name: String,
    actions: Vec<ActionJson>,
}

/// The one action of a v1.1 step.
#[derive(ToSchema)]
pub struct ActionJson {
    name: String,
    index: i64,
    step: i64,
    #[schema(rename = "type")]
    kind: String,
    status: String,
    bash_command: Option<String>,
    exit_code: Option<i64>,
    start_time: String,
    end_time: Option<String>,
    run_time_millis: Option<i64>,
    messages: Vec<Value>,
    has_output: bool,
    output_url: String,
    parallel: bool,
    background: bool,
    failed: Option<bool>,
    timedout: Option<bool>,
    canceled: Option<bool>,
    infrastructure_fail: Option<bool>,
    #[schema(rename = "continue")]
    continue_: Option<Value>,
    source: String,
    truncated: bool,
}

/// One entry of a step's output (`…/output/{step}/{index}`).
#[derive(ToSchema)]
pub struct OutputJson {
    #[schema(rename = "type")]
    kind: String,
    time: String,
    message: String,
}

/// `{"tests": […]}` of `…/{build_num}/tests`.
#[derive(ToSchema)]
pub struct TestsJson {
    tests: Vec<TestJson>,
}

/// One test result.
#[derive(ToSchema)]
pub struct TestJson {
    classname: String,
    name: String,
    file: Option<String>,
    /// `success`, `failure`, `skipped`, …
    result: String,
    message: Option<String>,
    /// Seconds.
    run_time: f64,
    source: String,
    source_type: String,
}

/// The reply to `POST …/build`: exactly `{"status": 200, "body": "Build created"}`.
#[derive(ToSchema)]
pub struct BuildCreatedJson {
    status: i64,
    body: String,
}

/// A project in v1.1's `/projects`.
#[derive(ToSchema)]
pub struct V1ProjectJson {
    vcs_url: String,
    vcs_type: String,
    username: String,
    reponame: String,
    default_branch: String,
    followed: bool,
    oss: bool,
    parallel: i64,
    has_usable_key: bool,
    feature_flags: BTreeMap<String, Value>,
    scopes: Vec<String>,
    /// Recent builds by branch name.
    branches: BTreeMap<String, BranchJson>,
}

/// A branch in v1.1's `/projects`.
#[derive(ToSchema)]
pub struct BranchJson {
    pusher_logins: Vec<String>,
    last_non_success: Option<BuildRefJson>,
    last_success: Option<BuildRefJson>,
    recent_builds: Vec<BuildRefJson>,
    running_builds: Vec<BuildRefJson>,
}

/// A build as `/projects` names it.
#[derive(ToSchema)]
pub struct BuildRefJson {
    build_num: i64,
    status: String,
    outcome: Option<String>,
    lifecycle: String,
    vcs_revision: String,
    pushed_at: String,
    added_at: String,
}

/// API v2's pipeline object.
#[derive(ToSchema)]
pub struct V2PipelineJson {
    id: Uuid,
    errors: Vec<PipelineErrorJson>,
    project_slug: String,
    updated_at: String,
    number: i64,
    /// CircleCI's shape: `circleci` (`trigger_type`, `event_time`), `git` (`branch` or `tag`,
    /// `ref`, `checkout_sha`, `repo_url`, …) and, circlet's addition, `parameters` (the
    /// pipeline parameters given, when any).
    #[schema(required = false)]
    trigger_parameters: BTreeMap<String, Value>,
    /// `created`, `errored`, `setup-pending`, `setup`, `pending`.
    state: String,
    created_at: String,
    trigger: TriggerJson,
    vcs: PipelineVcsJson,
}

/// An error in a v2 pipeline.
#[derive(ToSchema)]
pub struct PipelineErrorJson {
    #[schema(rename = "type")]
    kind: String,
    message: String,
}

/// A v2 pipeline's `trigger`.
#[derive(ToSchema)]
pub struct TriggerJson {
    #[schema(rename = "type")]
    kind: String,
    received_at: String,
    actor: ActorJson,
}

/// Who triggered a v2 pipeline.
#[derive(ToSchema)]
pub struct ActorJson {
    login: String,
    /// Empty when circlet has no picture of them; never null.
    avatar_url: String,
}

/// A v2 pipeline's `vcs`; `branch` or `tag` is present, whichever was built.
#[derive(ToSchema)]
pub struct PipelineVcsJson {
    provider_name: String,
    target_repository_url: String,
    origin_repository_url: String,
    revision: String,
    commit: CommitJson,
    #[schema(required = false)]
    branch: String,
    #[schema(required = false)]
    tag: String,
    /// The pull request's number, when the pipeline builds one.
    #[schema(required = false)]
    review_id: String,
    /// The pull request's page.
    #[schema(required = false)]
    review_url: String,
}

/// A v2 pipeline's commit.
#[derive(ToSchema)]
pub struct CommitJson {
    /// Strings, never null (empty when the commit message has no body).
    subject: String,
    body: String,
}

/// API v2's workflow object.
#[derive(ToSchema)]
pub struct V2WorkflowJson {
    id: Uuid,
    name: String,
    pipeline_id: Uuid,
    pipeline_number: i64,
    project_slug: String,
    /// `success`, `running`, `not_run`, `failed`, `error`, `failing`, `on_hold`, `canceled`,
    /// `unauthorized`.
    status: String,
    started_by: Uuid,
    created_at: String,
    stopped_at: Option<String>,
    tag: Option<String>,
}

/// A job in a v2 workflow's job list.
#[derive(ToSchema)]
pub struct V2WorkflowJobJson {
    id: Uuid,
    name: String,
    #[schema(rename = "type")]
    kind: String,
    status: String,
    dependencies: Vec<Uuid>,
    project_slug: String,
    started_at: Option<String>,
    stopped_at: Option<String>,
    job_number: i64,
}

/// API v2's job details.
#[derive(ToSchema)]
pub struct V2JobJson {
    web_url: String,
    project: JobProjectJson,
    parallel_runs: Vec<ParallelRunJson>,
    started_at: Option<String>,
    latest_workflow: NamedJson,
    name: String,
    executor: ExecutorJson,
    parallelism: i64,
    status: String,
    number: i64,
    pipeline: PipelineRefJson,
    duration: Option<i64>,
    created_at: String,
    messages: Vec<Value>,
    contexts: Vec<Value>,
    organization: OrganizationJson,
    queued_at: String,
    stopped_at: Option<String>,
}

/// A v2 job's project.
#[derive(ToSchema)]
pub struct JobProjectJson {
    id: Uuid,
    slug: String,
    name: String,
    external_url: String,
}

/// A v2 job's parallel run.
#[derive(ToSchema)]
pub struct ParallelRunJson {
    index: i64,
    status: String,
}

/// An id and a name.
#[derive(ToSchema)]
pub struct NamedJson {
    id: Uuid,
    name: String,
}

/// A v2 job's executor.
#[derive(ToSchema)]
pub struct ExecutorJson {
    resource_class: String,
    #[schema(rename = "type")]
    kind: String,
}

/// A v2 job's pipeline.
#[derive(ToSchema)]
pub struct PipelineRefJson {
    id: Uuid,
}

/// A v2 job's organization.
#[derive(ToSchema)]
pub struct OrganizationJson {
    name: String,
}
