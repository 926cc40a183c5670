//! Pipelines, workflows and jobs: creating them, the runner queue, and reading them back.
//!
//! A job's life: `blocked` (waiting on `requires`) or `queued` → `running` (its first node
//! claimed) → a final state (every node ended; see [`nodes`]). Each of a job's `parallelism`
//! nodes is claimed by exactly one runner. When a job ends, the jobs of its workflow that
//! required it are released (`queued`) or given up (`not_run`) in the same transaction.

use crate::error::Missing;
use crate::generations::{Change, announcing};
use crate::{Store, StoreError, now, now_ms, on_pool, ts};
use circlet_core::Role;
use circlet_core::build_state::JobState;
use circlet_core::forge::decide::PrRef;
use time::OffsetDateTime;
use uuid::Uuid;

/// What it takes to create a pipeline with its workflows and jobs.
#[derive(Debug, Clone, Default)]
pub struct NewPipeline {
    /// Its id, when the caller chose it (the config may use `<< pipeline.id >>` before the
    /// pipeline exists); a new one otherwise.
    pub id: Option<Uuid>,
    /// The project.
    pub project_id: i64,
    /// A number taken earlier with [`Builds::reserve_pipeline_number`] (the config may use
    /// `<< pipeline.number >>` before the pipeline exists), or `None` to take the next one now.
    pub number: Option<i64>,
    /// What the commit says about itself, as a JSON object.
    pub commit_json: String,
    /// `api`, `webhook`, `explicit`.
    pub trigger_type: String,
    /// The triggering user, if any.
    pub actor_id: Option<i64>,
    /// Their login.
    pub actor_login: String,
    /// The role ceiling of the limited personal token that triggered it, if one did: the most
    /// its jobs' context restrictions count the user as.
    pub actor_role_ceiling: Option<Role>,
    /// The branch built, or `None` for a tag.
    pub branch: Option<String>,
    /// The tag built, if any.
    pub tag: Option<String>,
    /// The revision built.
    pub revision: String,
    /// Pipeline parameters as given, as a JSON object.
    pub parameters_json: String,
    /// Config errors; a pipeline with errors is `errored` and has no workflows.
    pub errors: Vec<String>,
    /// Why its jobs run (v1.1 `why`): `api`, `retry`, …
    pub why: String,
    /// The workflows to create.
    pub workflows: Vec<NewWorkflow>,
    /// The config as read, and what it compiled to (empty when it did not), if one was read.
    pub config: Option<(String, String)>,
    /// A setup pipeline (`setup: true`): a setup job continues it with a generated config.
    pub setup: bool,
    /// Where a webhook's pipeline comes from (all empty for other triggers).
    pub origin: PipelineOrigin,
}

/// What a forge's webhook adds to a pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineOrigin {
    /// The pull request it builds.
    pub pull_request: Option<PrRef>,
    /// The ref holding its commit when no branch does (a fork's pull request).
    pub fetch_ref: Option<String>,
    /// Its jobs get none of the project's secrets (a fork's pull request).
    pub secrets_withheld: bool,
    /// The webhook delivery that started it.
    pub delivery_id: Option<i64>,
}

/// A workflow to create.
#[derive(Debug, Clone)]
pub struct NewWorkflow {
    /// Its name.
    pub name: String,
    /// Its jobs.
    pub jobs: Vec<NewJob>,
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job's name in the config.
    pub name: String,
    /// Names of jobs of the same workflow that must end first.
    pub requires: Vec<String>,
    /// For each of `requires`, the ends it accepts (`success`, `failed`, `canceled`,
    /// `not_run`, joined with commas); a missing entry accepts `success` only.
    pub accepts: Vec<String>,
    /// An approval job: it runs nothing, and waits `on_hold` to be approved.
    pub approval: bool,
    /// What the runner needs to run it, as JSON.
    pub spec_json: String,
    /// Build parameters given by the trigger, as a JSON object.
    pub build_parameters_json: String,
    /// The self-hosted resource class (`namespace/name`) whose runners alone may run it;
    /// `None` for the default pool.
    pub resource_class: Option<String>,
    /// How many nodes run it side by side (`parallelism`, 1 to 256).
    pub parallelism: u32,
}

/// A stored pipeline.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PipelineRecord {
    /// Store id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// The project.
    pub project_id: i64,
    /// Per-project number.
    pub number: i64,
    /// How it was triggered.
    pub trigger_type: String,
    /// Who triggered it.
    pub actor_login: String,
    /// The circlet user who triggered it: `None` for a forge's push, the system, or a user
    /// deleted since.
    pub actor_id: Option<i64>,
    /// Branch, if a branch build.
    pub branch: Option<String>,
    /// Tag, if a tag build.
    pub tag: Option<String>,
    /// Revision.
    pub revision: String,
    /// Parameters, JSON object.
    pub parameters: String,
    /// `created` or `errored`.
    pub state: String,
    /// Config errors, JSON array of strings.
    pub errors: String,
    /// What the commit says about itself, a JSON object.
    pub commit_info: String,
    /// When created.
    pub created_at: OffsetDateTime,
    /// When last changed.
    pub updated_at: OffsetDateTime,
    /// Its pull request's number, if it builds one.
    pub pr_number: Option<i64>,
    /// Its pull request's page.
    pub pr_url: Option<String>,
    /// Its pull request's head repository's name.
    pub pr_head_repo: Option<String>,
    /// Who opened its pull request.
    pub pr_author: Option<String>,
    /// Whether its pull request comes from a fork.
    pub pr_fork: bool,
    /// The ref holding its commit when no branch does (a fork's pull request).
    pub fetch_ref: Option<String>,
    /// Its jobs get none of the project's secrets.
    pub secrets_withheld: bool,
    /// The webhook delivery that started it.
    pub delivery_id: Option<i64>,
    /// The role ceiling of the limited personal token that triggered it (`read`, `write`,
    /// `admin`), if one did.
    pub actor_role_ceiling: Option<String>,
}

impl PipelineRecord {
    /// The pull request it builds, if any.
    pub fn pull_request(&self) -> Option<PrRef> {
        Some(PrRef {
            number: u64::try_from(self.pr_number?).ok()?,
            url: self.pr_url.clone().unwrap_or_default(),
            head_repo: self.pr_head_repo.clone().unwrap_or_default(),
            author: self.pr_author.clone().unwrap_or_default(),
            fork: self.pr_fork,
        })
    }
}

/// One page of a project's pipelines; see [`Builds::pipelines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelinePage {
    /// The pipelines, newest first.
    pub pipelines: Vec<PipelineRecord>,
    /// Pass as `before` for the next page; `None` when this page is the last.
    pub next_before: Option<i64>,
}

/// A stored workflow.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkflowRecord {
    /// Store id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// Its pipeline.
    pub pipeline_id: i64,
    /// Its pipeline's project.
    pub project_id: i64,
    /// Its name.
    pub name: String,
    /// Whether a user canceled it.
    pub canceled: bool,
    /// When created.
    pub created_at: OffsetDateTime,
}

/// A stored job (a v1.1 "build").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Store id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// The project.
    pub project_id: i64,
    /// The pipeline.
    pub pipeline_id: i64,
    /// The workflow.
    pub workflow_id: i64,
    /// Per-project build number.
    pub build_num: i64,
    /// The job's name.
    pub name: String,
    /// Jobs it requires (JSON array of names).
    pub requires: Vec<String>,
    /// What the runner needs (JSON).
    pub spec: String,
    /// Where it is in its life.
    pub state: JobState,
    /// v1.1 `why`.
    pub why: String,
    /// The build number this one retries.
    pub retry_of: Option<i64>,
    /// Build parameters (JSON object).
    pub build_parameters: String,
    /// Branch.
    pub branch: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// Revision.
    pub revision: String,
    /// When it was queued (created).
    pub queued_at: OffsetDateTime,
    /// When a runner started it.
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    pub stopped_at: Option<OffsetDateTime>,
    /// How many nodes run it (`parallelism`); each is a [`NodeRecord`] once claimed.
    pub parallelism: i64,
    /// A user asked to cancel it while it runs.
    pub cancel_requested: bool,
    /// An approval job.
    pub approval: bool,
    /// For each of `requires`, the ends it accepts (see [`NewJob::accepts`]).
    pub accepts: Vec<String>,
    /// Who approved it (a login), once approved.
    pub approved_by: Option<String>,
    /// The self-hosted resource class it must run on; `None` for the default pool.
    pub resource_class: Option<String>,
    /// Not run in its workflow: a rerun from failed kept the result of this build number.
    pub kept_from: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    uuid: Uuid,
    project_id: i64,
    pipeline_id: i64,
    workflow_id: i64,
    build_num: i64,
    name: String,
    requires: String,
    spec: String,
    state: String,
    why: String,
    retry_of: Option<i64>,
    build_parameters: String,
    branch: Option<String>,
    tag: Option<String>,
    revision: String,
    queued_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    stopped_at: Option<OffsetDateTime>,
    parallelism: i64,
    cancel_requested: bool,
    approval: bool,
    accepts: String,
    approved_by: Option<String>,
    resource_class: Option<String>,
    kept_from: Option<i64>,
}

/// A foreign-key violation on a job's rows means the job does not exist.
fn no_such_job(e: sqlx::Error, job_id: i64) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound(Missing::Job(job_id))
        }
        _ => e.into(),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(format!("bad stored {what}").into()))
}

impl TryFrom<JobRow> for JobRecord {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(JobRecord {
            id: r.id,
            uuid: r.uuid,
            project_id: r.project_id,
            pipeline_id: r.pipeline_id,
            workflow_id: r.workflow_id,
            build_num: r.build_num,
            name: r.name,
            requires: parse_names(&r.requires).ok_or_else(|| corrupt("requires"))?,
            spec: r.spec,
            state: JobState::parse(&r.state).ok_or_else(|| corrupt("job state"))?,
            why: r.why,
            retry_of: r.retry_of,
            build_parameters: r.build_parameters,
            branch: r.branch,
            tag: r.tag,
            revision: r.revision,
            queued_at: r.queued_at,
            started_at: r.started_at,
            stopped_at: r.stopped_at,
            parallelism: r.parallelism,
            cancel_requested: r.cancel_requested,
            approval: r.approval,
            accepts: parse_names(&r.accepts).ok_or_else(|| corrupt("accepts"))?,
            approved_by: r.approved_by,
            resource_class: r.resource_class,
            kept_from: r.kept_from,
        })
    }
}

/// A stored JSON array of strings (`requires`, pipeline `errors`) → the strings. A small reader
/// for the one JSON shape stored here, so the store needs no JSON library. Job names are any
/// YAML key and errors any text, so every JSON string escape is understood.
fn parse_names(raw: &str) -> Option<Vec<String>> {
    let mut chars = raw.trim().chars().peekable();
    let skip_ws = |c: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while c.next_if(|c| c.is_ascii_whitespace()).is_some() {}
    };
    if chars.next()? != '[' {
        return None;
    }
    let mut names = Vec::new();
    skip_ws(&mut chars);
    if chars.next_if_eq(&']').is_some() {
        return chars.next().is_none().then_some(names);
    }
    loop {
        skip_ws(&mut chars);
        if chars.next()? != '"' {
            return None;
        }
        let mut name = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    '"' => name.push('"'),
                    '\\' => name.push('\\'),
                    '/' => name.push('/'),
                    'b' => name.push('\u{8}'),
                    'f' => name.push('\u{c}'),
                    'n' => name.push('\n'),
                    'r' => name.push('\r'),
                    't' => name.push('\t'),
                    'u' => {
                        let high = hex4(&mut chars)?;
                        let code = if (0xD800..0xDC00).contains(&high) {
                            if chars.next()? != '\\' || chars.next()? != 'u' {
                                return None;
                            }
                            let low = hex4(&mut chars)?;
                            0x10000 + ((high - 0xD800) << 10) + low.checked_sub(0xDC00)?
                        } else {
                            high
                        };
                        name.push(char::from_u32(code)?);
                    }
                    _ => return None,
                },
                c => name.push(c),
            }
        }
        names.push(name);
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => continue,
            ']' => return chars.next().is_none().then_some(names),
            _ => return None,
        }
    }
}

/// The four hex digits of a `\\uXXXX` escape.
fn hex4(chars: &mut impl Iterator<Item = char>) -> Option<u32> {
    let hex: String = chars.take(4).collect();
    if hex.len() != 4 {
        return None;
    }
    u32::from_str_radix(&hex, 16).ok()
}

/// Strings → a JSON array of strings, escaped so that any JSON reader (the API's, this
/// module's [`parse_names`]) reads back exactly the same strings.
fn names_json(names: &[String]) -> String {
    let mut out = String::from("[");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in name.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

macro_rules! job_cols {
    () => {
        "jobs.id, jobs.uuid, jobs.project_id, jobs.pipeline_id, jobs.workflow_id, jobs.build_num, jobs.name, \
         jobs.requires, jobs.spec, jobs.state, jobs.why, jobs.retry_of, jobs.build_parameters, jobs.branch, \
         jobs.tag, jobs.revision, jobs.queued_at, jobs.started_at, jobs.stopped_at, jobs.parallelism, \
         jobs.cancel_requested, jobs.approval, jobs.accepts, jobs.approved_by, \
         jobs.resource_class, jobs.kept_from"
    };
}

const PIPELINE_COLS: &str = "id, uuid, project_id, number, trigger_type, actor_login, actor_id, branch, tag, revision, \
                             parameters, state, errors, commit_info, created_at, updated_at, pr_number, pr_url, pr_head_repo, \
                             pr_author, pr_fork, fetch_ref, secrets_withheld, delivery_id, actor_role_ceiling";
/// A workflow with its project (from its pipeline), so callers can check access in one lookup.
const WORKFLOW_SELECT: &str = "SELECT w.id, w.uuid, w.pipeline_id, p.project_id, w.name, w.canceled, w.created_at \
                               FROM workflows w JOIN pipelines p ON p.id = w.pipeline_id";

/// Which jobs a v1.1 build list shows (`filter=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JobFilter {
    /// Every job.
    #[default]
    All,
    /// Finished jobs.
    Completed,
    /// Successful jobs.
    Successful,
    /// Failed jobs (failed, timed out, infrastructure failure).
    Failed,
    /// Queued or running jobs.
    Running,
}

impl JobFilter {
    fn sql(self) -> &'static str {
        match self {
            JobFilter::All => "",
            JobFilter::Completed => {
                " AND jobs.state IN ('success','failed','canceled','infrastructure_fail','timedout')"
            }
            JobFilter::Successful => " AND jobs.state = 'success'",
            JobFilter::Failed => " AND jobs.state IN ('failed','infrastructure_fail','timedout')",
            JobFilter::Running => " AND jobs.state IN ('queued','running','blocked')",
        }
    }
}

/// Use-cases on builds; see [`Store::builds`].
pub struct Builds<'s>(pub(crate) &'s Store);

mod across;
mod continuing;
mod creating;
mod nodes;
mod notify;
mod queue;
mod reading;
mod rerun;
mod steps;

pub use across::{TestRun, WorkflowRun};
pub use continuing::SetupState;
pub use nodes::{NodeEnd, NodeRecord};
pub use rerun::RerunJob;
pub use steps::StepRecord;

#[cfg(test)]
mod tests {
    use super::queue::settle;
    use super::*;

    #[test]
    fn names_round_trip() {
        let names = vec!["build".to_owned(), "test-1".to_owned()];
        assert_eq!(parse_names(&names_json(&names)), Some(names));
        assert_eq!(parse_names("[]"), Some(vec![]));
        assert_eq!(parse_names("nope"), None);
    }

    #[test]
    fn settling_releases_and_gives_up_down_the_chain() {
        let row = |id: i64, name: &str, req: &str, st: &str| queue::Sibling {
            id,
            name: name.to_owned(),
            requires: req.to_owned(),
            state: st.to_owned(),
            approval: false,
            accepts: "[]".to_owned(),
        };
        let ok = [
            row(1, "a", "[]", "success"),
            row(2, "b", "[\"a\"]", "blocked"),
            row(3, "c", "[\"b\"]", "blocked"),
        ];
        assert_eq!(settle(&ok), vec![(2, JobState::Queued)]);
        let bad = [
            row(1, "a", "[]", "failed"),
            row(2, "b", "[\"a\"]", "blocked"),
            row(3, "c", "[\"b\"]", "blocked"),
        ];
        assert_eq!(
            settle(&bad),
            vec![(2, JobState::NotRun), (3, JobState::NotRun)]
        );
        let waiting = [
            row(1, "a", "[]", "running"),
            row(2, "b", "[\"a\"]", "blocked"),
        ];
        assert!(settle(&waiting).is_empty());
    }

    #[test]
    fn requirements_accept_the_ends_they_name_and_approvals_hold() {
        let row = |id: i64, name: &str, req: &str, st: &str, accepts: &str, approval: bool| {
            queue::Sibling {
                id,
                name: name.to_owned(),
                requires: req.to_owned(),
                state: st.to_owned(),
                approval,
                accepts: accepts.to_owned(),
            }
        };
        // `cleanup` runs whether `build` succeeded or failed; `deploy` waits for `hold`.
        let rows = [
            row(1, "build", "[]", "failed", "[]", false),
            row(
                2,
                "cleanup",
                "[\"build\"]",
                "blocked",
                "[\"success,failed\"]",
                false,
            ),
            row(3, "hold", "[\"build\"]", "blocked", "[]", true),
            row(4, "deploy", "[\"hold\"]", "blocked", "[]", false),
        ];
        assert_eq!(
            settle(&rows),
            vec![
                (2, JobState::Queued),
                (3, JobState::NotRun),
                (4, JobState::NotRun)
            ]
        );
        // Timed out and infrastructure failures are `failed` too; `canceled` is its own.
        for (end, runs) in [
            ("timedout", true),
            ("infrastructure_fail", true),
            ("canceled", false),
        ] {
            let rows = [
                row(1, "build", "[]", end, "[]", false),
                row(
                    2,
                    "cleanup",
                    "[\"build\"]",
                    "blocked",
                    "[\"failed\"]",
                    false,
                ),
            ];
            let next = if runs {
                JobState::Queued
            } else {
                JobState::NotRun
            };
            assert_eq!(settle(&rows), vec![(2, next)], "{end}");
        }
        let rows = [
            row(1, "build", "[]", "success", "[]", false),
            row(3, "hold", "[\"build\"]", "blocked", "[]", true),
            row(4, "deploy", "[\"hold\"]", "blocked", "[]", false),
        ];
        assert_eq!(
            settle(&rows),
            vec![(3, JobState::OnHold)],
            "deploy waits for the approval"
        );
        let approved = [
            row(3, "hold", "[]", "success", "[]", true),
            row(4, "deploy", "[\"hold\"]", "blocked", "[]", false),
        ];
        assert_eq!(settle(&approved), vec![(4, JobState::Queued)]);
    }
}
