//! What a runner gets for a job it claimed: the steps, the environment in CircleCI's precedence
//! (built-ins, build parameters, project env vars, the job's own), what to mask in its output.

use crate::{App, AppError};
use circlet_core::ci_config::Job;
use circlet_core::runner_protocol::ClaimedJob;
use circlet_store::builds::NodeRecord;
use circlet_store::{JobRecord, PipelineRecord, Project, WorkflowRecord};
use std::collections::BTreeMap;

impl App {
    /// What a runner needs to run `node` of `job`, which it just claimed; `None` when the job
    /// may not run (its pipeline's starter may not use one of its contexts): it has then ended
    /// `unauthorized`, saying why, and the runner should claim another.
    pub async fn claimed_job(
        &self,
        job: JobRecord,
        node: &NodeRecord,
    ) -> Result<Option<ClaimedJob>, AppError> {
        let project = self
            .store
            .projects()
            .by_id(job.project_id)
            .await?
            .ok_or_else(AppError::project_not_found)?;
        let definition: Job = serde_json::from_str(&job.spec)
            .map_err(|e| AppError::Invalid(format!("stored job definition is unreadable: {e}")))?;
        let build_parameters: BTreeMap<String, String> =
            serde_json::from_str(&job.build_parameters).unwrap_or_default();
        let mut messages: Vec<String> = definition
            .executor_notes
            .iter()
            .map(|note| format!("The config asks for {note}; circlet does not provide it."))
            .collect();
        messages.push("circlet runs this job's steps in a shell on the runner's host.".into());
        let pipeline = self
            .store
            .builds()
            .pipeline_by_id(job.pipeline_id)
            .await?
            .ok_or_else(|| AppError::NotFound(super::trigger::PIPELINE_NOT_FOUND.into()))?;
        // Withheld when the pipeline was made so, and for a fork's pull request whenever the
        // project no longer passes secrets to forks (a retry after the switch was turned off).
        let withheld = pipeline.secrets_withheld
            || (pipeline.pr_fork && !project.builds.forks_receive_secrets);
        if withheld {
            messages.push(SECRETS_WITHHELD.into());
        }
        // Contexts are judged even for a job that will not get them: one whose starter may not
        // use them never runs.
        let contexts = match self
            .job_contexts(&project, &pipeline, job.build_num, &definition.contexts)
            .await?
        {
            Ok(opened) => opened,
            Err(crate::contexts::Unauthorized(why)) => {
                self.end_unauthorized(&job, node, &why).await?;
                return Ok(None);
            }
        };
        let mut project_env = if withheld {
            Vec::new()
        } else {
            crate::env_vars::open_all(&self.store, &self.config.env_keys, &project).await?
        };
        // Context variables come after the project's, and so win over them, as on CircleCI.
        if !withheld {
            project_env.extend(contexts.into_iter().flat_map(|c| c.vars));
        }
        let mut masks: Vec<String> = project_env
            .iter()
            .filter(|(_, v)| circlet_core::envvar::masked_in_output(v))
            .map(|(_, v)| v.clone())
            .collect();
        let workflow = self
            .store
            .builds()
            .workflow_by_id(job.workflow_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("workflow {} not found", job.workflow_id)))?;
        let previous = match &job.branch {
            Some(branch) => {
                self.store
                    .builds()
                    .previous_on_branch(project.id, branch, job.build_num)
                    .await?
            }
            None => None,
        };
        let organization = self
            .store
            .organizations()
            .ensure(project.slug.vcs(), project.slug.org())
            .await?;
        let facts = RunFacts {
            public_url: &self.config.public_url,
            project: &project,
            organization: organization.uuid,
            pipeline: &pipeline,
            workflow: &workflow,
            job: &job,
            node: node.index,
            previous,
        };
        let mut env = job_env(&facts, &build_parameters, &project_env, &definition);
        if let Some(pr) = pipeline.pull_request() {
            pull_request_env(&mut env, &pr);
        }
        // Where `circleci run oidc get` asks for a token with another audience.
        env.insert(
            0,
            (
                OIDC_TOKEN_URL_VAR.into(),
                format!("{}/api/oidc/job-token", self.config.public_url),
            ),
        );
        // ID tokens are secrets of the project's: a fork's job that may not have those gets
        // none (as CircleCI does for open source projects).
        if !withheld {
            let tokens = self.job_oidc_tokens(&project, &job, &pipeline).await?;
            masks.push(tokens.v1.clone());
            masks.push(tokens.v2.clone());
            // First: built in, yet a variable the project or config sets wins, as elsewhere.
            env.insert(0, ("CIRCLE_OIDC_TOKEN_V2".into(), tokens.v2));
            env.insert(0, ("CIRCLE_OIDC_TOKEN".into(), tokens.v1));
        }
        // A job of a setup pipeline not yet continued gets a key to continue it with, its own
        // (only its digest is kept), masked in its output.
        if self.store.builds().setup_state(job.pipeline_id).await?
            == Some(circlet_store::builds::SetupState::Waiting)
        {
            let key = circlet_core::secret::random_hex_secret();
            let key = format!(
                "{CONTINUATION_KEY_PREFIX}{}",
                secrecy::ExposeSecret::expose_secret(&key)
            );
            self.store
                .builds()
                .add_continuation_key(job.pipeline_id, &continuation_digest(&key))
                .await?;
            masks.push(key.clone());
            env.push(("CIRCLE_CONTINUATION_KEY".into(), key));
        }
        let ssh_keys = self
            .job_ssh_keys(&project, &definition, withheld, &mut masks)
            .await?;
        Ok(Some(ClaimedJob {
            ssh_keys,
            id: node.uuid.to_string(),
            node_index: u32::try_from(node.index).unwrap_or(0),
            node_total: u32::try_from(job.parallelism).unwrap_or(1),
            build_num: job.build_num,
            job_name: job.name.clone(),
            project_slug: project.slug.to_string(),
            org: project.slug.org().to_owned(),
            repo: project.slug.repo().to_owned(),
            repo_url: project.repo_url.as_str().to_owned(),
            revision: job.revision.clone(),
            branch: job.branch.clone(),
            tag: job.tag.clone(),
            fetch_ref: pipeline.fetch_ref.clone(),
            build_url: build_url(&self.config.public_url, &project, job.build_num),
            working_directory: definition
                .working_directory
                .clone()
                .unwrap_or_else(|| "~/project".into()),
            steps: definition.steps,
            env,
            masks,
            messages,
            step_timeout_secs: self.config.step_timeout.as_secs(),
        }))
    }

    /// Ends `job`, whose `node` a runner just claimed, `unauthorized` without running it; its
    /// one step says `why`.
    async fn end_unauthorized(
        &self,
        job: &JobRecord,
        node: &NodeRecord,
        why: &str,
    ) -> Result<(), AppError> {
        let builds = self.store.builds();
        builds
            .start_step(job.id, node.index, 0, UNAUTHORIZED_STEP)
            .await?;
        let seq = builds.next_output_seq(job.id, node.index, 0).await?;
        builds
            .append_output(
                job.id,
                node.index,
                0,
                seq,
                &format!("This job was not run: {why}.\n"),
            )
            .await?;
        builds
            .finish_step(job.id, node.index, 0, "failed", None)
            .await?;
        builds
            .finish(job.id, circlet_core::build_state::JobState::Unauthorized)
            .await?;
        self.work_available.notify_waiters();
        Ok(())
    }
}

/// The one step of a job that ended `unauthorized`.
pub const UNAUTHORIZED_STEP: &str = "Unauthorized: contexts";

/// The variable giving a job the address `circleci run oidc get` asks for a token at.
pub const OIDC_TOKEN_URL_VAR: &str = "CIRCLE_OIDC_TOKEN_URL";

/// What every continuation key starts with (64 hex digits follow), so the leak guard knows one.
pub const CONTINUATION_KEY_PREFIX: &str = "CCICK_";

/// How a continuation key is kept: its SHA-256, hex.
pub fn continuation_digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What a forked pull request's job says at its top when the project keeps its secrets from it.
pub const SECRETS_WITHHELD: &str = "This job builds a forked pull request: the project's environment variables, its contexts' variables, additional SSH keys and OIDC ID tokens are withheld from it (Project settings → Advanced → \"Pass secrets to builds from forked pull requests\").";

/// CircleCI's pull request variables: `CIRCLE_PULL_REQUEST(S)` (and `CI_PULL_REQUEST(S)`) for every pull request build,
/// `CIRCLE_PR_NUMBER`, `CIRCLE_PR_REPONAME` and `CIRCLE_PR_USERNAME` only for a fork's, as
/// CircleCI documents them (scripts test `CIRCLE_PR_NUMBER` to tell a fork).
fn pull_request_env(env: &mut Vec<(String, String)>, pr: &circlet_core::forge::decide::PrRef) {
    env.push(("CIRCLE_PULL_REQUEST".into(), pr.url.clone()));
    env.push(("CIRCLE_PULL_REQUESTS".into(), pr.url.clone()));
    // The older names CircleCI still sets, read by tools such as env-ci.
    env.push(("CI_PULL_REQUEST".into(), pr.url.clone()));
    env.push(("CI_PULL_REQUESTS".into(), pr.url.clone()));
    if pr.fork {
        env.push(("CIRCLE_PR_NUMBER".into(), pr.number.to_string()));
        env.push(("CIRCLE_PR_REPONAME".into(), pr.head_repo.clone()));
        env.push(("CIRCLE_PR_USERNAME".into(), pr.author.clone()));
    }
}

/// The build's page, as CircleCI spells it: `<public-url>/gh/org/repo/7`.
pub fn build_url(public_url: &str, project: &Project, build_num: i64) -> String {
    format!("{public_url}/{}/{build_num}", project.slug)
}

/// What a job's built-in variables tell it about where it runs.
struct RunFacts<'a> {
    public_url: &'a str,
    project: &'a Project,
    /// The project's organization's id (its OIDC tokens' `org-id`).
    organization: uuid::Uuid,
    pipeline: &'a PipelineRecord,
    workflow: &'a WorkflowRecord,
    job: &'a JobRecord,
    node: i64,
    /// The job before this one on its branch: its number and revision.
    previous: Option<(i64, String)>,
}

/// CircleCI's built-in variables that mean something on circlet (the list, and those left out
/// and why, is in docs/BEHAVIOUR.md). `CIRCLE_WORKING_DIRECTORY`, `CIRCLE_INTERNAL_TASK_DATA`
/// and `HOME` are the runner's, which knows its directories; the pull request's variables,
/// OIDC tokens and continuation key are added by [`App::claimed_job`].
fn builtin_env(f: &RunFacts<'_>) -> Vec<(String, String)> {
    let (project, job, pipeline) = (f.project, f.job, f.pipeline);
    let mut env: Vec<(String, String)> = vec![
        ("CI".into(), "true".into()),
        ("CIRCLECI".into(), "true".into()),
        ("CIRCLE_SHA1".into(), job.revision.clone()),
        ("CIRCLE_BUILD_NUM".into(), job.build_num.to_string()),
        ("CIRCLE_JOB".into(), job.name.clone()),
        ("CIRCLE_NODE_INDEX".into(), f.node.to_string()),
        ("CIRCLE_NODE_TOTAL".into(), job.parallelism.to_string()),
        (
            "CIRCLE_PROJECT_USERNAME".into(),
            project.slug.org().to_owned(),
        ),
        (
            "CIRCLE_PROJECT_REPONAME".into(),
            project.slug.repo().to_owned(),
        ),
        (
            "CIRCLE_BUILD_URL".into(),
            build_url(f.public_url, project, job.build_num),
        ),
        (
            "CIRCLE_REPOSITORY_URL".into(),
            project.repo_url.as_str().to_owned(),
        ),
        ("CIRCLE_WORKFLOW_JOB_ID".into(), job.uuid.to_string()),
        ("CIRCLE_WORKFLOW_ID".into(), f.workflow.uuid.to_string()),
        // A workflow's jobs share one workspace, retries included (`App::workspace_of`).
        (
            "CIRCLE_WORKFLOW_WORKSPACE_ID".into(),
            f.workflow.uuid.to_string(),
        ),
        ("CIRCLE_PIPELINE_ID".into(), pipeline.uuid.to_string()),
        ("CIRCLE_PIPELINE_NUMBER".into(), pipeline.number.to_string()),
        ("CIRCLE_PROJECT_ID".into(), project.uuid.to_string()),
        ("CIRCLE_ORGANIZATION_ID".into(), f.organization.to_string()),
    ];
    if !pipeline.actor_login.is_empty() {
        env.push(("CIRCLE_USERNAME".into(), pipeline.actor_login.clone()));
    }
    if let Some(b) = &job.branch {
        env.push(("CIRCLE_BRANCH".into(), b.clone()));
    }
    if let Some(t) = &job.tag {
        env.push(("CIRCLE_TAG".into(), t.clone()));
    }
    if let Some((number, revision)) = &f.previous {
        env.push(("CIRCLE_PREVIOUS_BUILD_NUM".into(), number.to_string()));
        if revision != &job.revision {
            env.push((
                "CIRCLE_COMPARE_URL".into(),
                format!(
                    "{}/compare/{revision}...{}",
                    project.slug.web_url(),
                    job.revision
                ),
            ));
        }
    }
    env
}

/// The job's environment, later entries winning (CircleCI's precedence): its built-in
/// variables, then build parameters (which never replace a built-in), then the project's env
/// vars, then the job's `environment` from the config.
fn job_env(
    facts: &RunFacts<'_>,
    build_parameters: &BTreeMap<String, String>,
    project_env: &[(String, String)],
    definition: &Job,
) -> Vec<(String, String)> {
    let mut env = builtin_env(facts);
    let builtin: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
    for (k, v) in build_parameters {
        if !builtin.contains(k) {
            env.push((k.clone(), v.clone()));
        }
    }
    env.extend(project_env.iter().cloned());
    env.extend(definition.environment.iter().cloned());
    env
}

impl App {
    /// The SSH keys a job gets: the checkout key when the repository is reached over SSH, the
    /// additional keys when a step adds them (unless the project's secrets are `withheld`);
    /// each private key's lines are masked in output.
    async fn job_ssh_keys(
        &self,
        project: &Project,
        definition: &Job,
        withheld: bool,
        masks: &mut Vec<String>,
    ) -> Result<Vec<circlet_core::runner_protocol::JobSshKey>, AppError> {
        use secrecy::ExposeSecret;
        let ssh_repo = circlet_core::ssh_keys::is_ssh_url(project.repo_url.as_str());
        let adds = !withheld
            && definition
                .steps
                .iter()
                .any(|s| matches!(s, circlet_core::ci_config::Step::AddSshKeys { .. }));
        if !ssh_repo && !adds {
            return Ok(Vec::new());
        }
        let opened = self.opened_ssh_keys(project).await?;
        let newest_checkout = opened
            .iter()
            .filter(|(k, _)| k.kind != "additional")
            .map(|(k, _)| k.id)
            .next_back();
        let mut keys = Vec::new();
        for (k, private) in opened {
            let checkout = Some(k.id) == newest_checkout;
            // A user key opens whatever its user may reach: never to a fork's code.
            let wanted = (checkout && ssh_repo && !(withheld && k.kind == "user-key"))
                || (k.kind == "additional" && adds);
            if !wanted {
                continue;
            }
            let text = private.expose_secret();
            masks.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                    .map(str::to_owned),
            );
            keys.push(circlet_core::runner_protocol::JobSshKey {
                hostname: k.hostname.clone(),
                fingerprint: k.fingerprint_md5.clone(),
                fingerprint_sha256: k.fingerprint_sha256.clone(),
                private_key: text.to_owned(),
                checkout,
            });
        }
        Ok(keys)
    }

    /// The timings `circleci tests split --split-by=timings` uses in `job`: from the newest
    /// successful run of a job of the same name in its project that stored test results, summed
    /// per file, per class name and per test.
    pub async fn test_timings(
        &self,
        job: &JobRecord,
    ) -> Result<circlet_core::runner_protocol::TestTimings, AppError> {
        let tests = self
            .store
            .builds()
            .timings_source(job.project_id, &job.name, job.id)
            .await?;
        let mut timings = circlet_core::runner_protocol::TestTimings::default();
        for t in tests {
            let secs = if t.run_time.is_finite() && t.run_time >= 0.0 {
                t.run_time
            } else {
                0.0
            };
            if let Some(file) = t.file.filter(|f| !f.is_empty()) {
                *timings.files.entry(file).or_default() += secs;
            }
            *timings.classnames.entry(t.classname.clone()).or_default() += secs;
            *timings
                .tests
                .entry(format!("{}.{}", t.classname, t.name))
                .or_default() += secs;
        }
        Ok(timings)
    }
}
