//! What the server and a runner say to each other under `/api/runner/v1`: one place, shared by
//! both sides, so they cannot drift apart.
//!
//! Every request carries a runner token (`CCIRUN_…`) as `Authorization: Bearer`. A runner
//! claims one node of a job at a time (a job of `parallelism: N` is N nodes, claimed by any
//! runners); `{id}` below is the claimed node's id ([`ClaimedJob::id`]). The exchange for one
//! node:
//!
//! | request | body | reply |
//! |---|---|---|
//! | `POST /claim?wait=SECONDS` | — | 200 [`ClaimedJob`], or 204 when nothing came within `wait` (≤ 30) |
//! | `POST /jobs/{id}/heartbeat` | — | 200 [`HeartbeatReply`]; 409 when the job is no longer this runner's |
//! | `POST /jobs/{id}/steps` | [`StepStarted`] | 204 |
//! | `POST /jobs/{id}/steps/{index}/output` | UTF-8 text, any size up to [`MAX_OUTPUT_CHUNK`] | 204 |
//! | `POST /jobs/{id}/steps/{index}/finish` | [`StepFinished`] | 204 |
//! | `POST /jobs/{id}/tests` | [`TestResults`] | 204 |
//! | `PUT /jobs/{id}/artifacts/{path}` | the file, streamed | 204 |
//! | `POST /jobs/{id}/caches/lookup` | [`CacheLookup`] | 200 [`CacheFound`], or 204 when no key finds a cache |
//! | `GET /jobs/{id}/caches/{cache id}` | — | 200, the archive (tar + zstd) |
//! | `PUT /jobs/{id}/caches?key=KEY` | the archive, streamed | 201 [`CacheSaved`] `stored: true`; 200 `stored: false` when the key exists |
//! | `GET /jobs/{id}/workspace` | — | 200 [`Workspace`]: the layers `attach_workspace` applies |
//! | `GET /jobs/{id}/workspace/{layer id}` | — | 200, the layer's archive |
//! | `PUT /jobs/{id}/workspace` | the archive of `persist_to_workspace`, streamed | 204 |
//! | `GET /jobs/{id}/timings` | — | 200 [`TestTimings`]: the project's test timings, for `circleci tests split` |
//! | `POST /jobs/{id}/finish` | [`JobFinished`] | 204 |
//!
//! Errors are `{"message": …}` with a 4xx status, like the rest of the API. A job that is
//! canceled, reaped or finished answers 409 to anything but `heartbeat`, so a runner that lost
//! its job stops at once.

use crate::ci_config::Step;
use serde::{Deserialize, Serialize};

/// Where the protocol lives, under the server's base URL.
pub const BASE_PATH: &str = "/api/runner/v1";

/// The header a runner names itself with on each claim (its host name by default).
pub const RUNNER_NAME_HEADER: &str = "x-runner-name";

/// The longest a claim may wait for work, in seconds.
pub const MAX_CLAIM_WAIT_SECS: u64 = 30;

/// The largest output chunk a runner may send at once (bytes).
pub const MAX_OUTPUT_CHUNK: usize = 256 * 1024;

/// How often a runner heartbeats while it runs a job (seconds).
pub const HEARTBEAT_INTERVAL_SECS: u64 = 5;

/// The job a runner claimed: everything it needs to run it. Its `Debug` names the environment
/// variables but never prints their values (project secrets are among them).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedJob {
    /// The id of the claimed node of the job (a uuid), used in every later request. Node 0's
    /// is the job's own id (`CIRCLE_WORKFLOW_JOB_ID`).
    pub id: String,
    /// Which node of the job this is, from 0 (`CIRCLE_NODE_INDEX`).
    #[serde(default)]
    pub node_index: u32,
    /// How many nodes the job runs (`parallelism`, `CIRCLE_NODE_TOTAL`).
    #[serde(default = "one")]
    pub node_total: u32,
    /// The per-project build number.
    pub build_num: i64,
    /// The job's name in the config (`CIRCLE_JOB`).
    pub job_name: String,
    /// The project slug, `gh/org/repo`.
    pub project_slug: String,
    /// The repository's owner (`CIRCLE_PROJECT_USERNAME`).
    pub org: String,
    /// The repository's name (`CIRCLE_PROJECT_REPONAME`).
    pub repo: String,
    /// Where to clone from (`file://`, `https://`, `git@…`).
    pub repo_url: String,
    /// The commit to check out.
    pub revision: String,
    /// The branch built, if any.
    pub branch: Option<String>,
    /// The tag built, if any.
    pub tag: Option<String>,
    /// A ref to fetch after cloning, holding `revision` when no branch does (a forked pull
    /// request's `refs/pull/N/head`).
    #[serde(default)]
    pub fetch_ref: Option<String>,
    /// The build's page (`CIRCLE_BUILD_URL`).
    pub build_url: String,
    /// The job's working directory as the config gives it (`~/project` when unset).
    pub working_directory: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The job's environment, in precedence order already applied by the server (CircleCI's
    /// built-ins, build parameters, project env vars, the job's `environment`); a step's own
    /// `environment` goes on top.
    pub env: Vec<(String, String)>,
    /// Values to replace by `********` in output before sending it (project env var values).
    pub masks: Vec<String>,
    /// Notes to show at the top of the job (executor keys circlet does not honour, …).
    pub messages: Vec<String>,
    /// The longest any step may run, in seconds.
    pub step_timeout_secs: u64,
    /// The project's SSH keys the job may use: its checkout key (for an SSH repository), and
    /// its additional keys when a step adds them.
    #[serde(default)]
    pub ssh_keys: Vec<JobSshKey>,
}

fn one() -> u32 {
    1
}

/// An SSH key handed to a job. Its `Debug` never shows the private half.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSshKey {
    /// The host it is for (empty: any).
    pub hostname: String,
    /// MD5, `aa:bb:…`.
    pub fingerprint: String,
    /// `SHA256:…`.
    pub fingerprint_sha256: String,
    /// The private key.
    pub private_key: String,
    /// The checkout key (`checkout` uses it); otherwise an additional key (`add_ssh_keys`).
    pub checkout: bool,
}

impl std::fmt::Debug for JobSshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSshKey")
            .field("hostname", &self.hostname)
            .field("fingerprint", &self.fingerprint)
            .field("checkout", &self.checkout)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClaimedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ClaimedJob")
            .field("id", &self.id)
            .field("build_num", &self.build_num)
            .field(
                "node",
                &format_args!("{} of {}", self.node_index, self.node_total),
            )
            .field("job_name", &self.job_name)
            .field("project_slug", &self.project_slug)
            .field("revision", &self.revision)
            .field("branch", &self.branch)
            .field("tag", &self.tag)
            .field("steps", &self.steps.len())
            .field("env", &env_names)
            .field("masks", &format_args!("[{} redacted]", self.masks.len()))
            .field("ssh_keys", &self.ssh_keys)
            .finish_non_exhaustive()
    }
}

/// The reply to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    /// A user canceled the job: stop its steps and finish it as `canceled`.
    pub cancel: bool,
}

/// A step began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStarted {
    /// Its position in the job; the same index is used for its output and its end. 0 is the
    /// runner's own "Spin up environment"; step k (from 0) of the job's `steps` is k + 1.
    pub index: u32,
    /// Its display name.
    pub name: String,
    /// The command run, if a `run` step (v1.1 `bash_command`).
    pub command: Option<String>,
}

/// How a step or a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It passed.
    Success,
    /// It failed (a step exited non-zero).
    Failed,
    /// It ran out of time.
    Timedout,
    /// A user canceled it.
    Canceled,
    /// The runner could not run it (clone failed, …).
    InfrastructureFail,
}

impl Outcome {
    /// The stored name, the same as the serialized one.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failed => "failed",
            Outcome::Timedout => "timedout",
            Outcome::Canceled => "canceled",
            Outcome::InfrastructureFail => "infrastructure_fail",
        }
    }
}

/// A step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFinished {
    /// How.
    pub outcome: Outcome,
    /// The command's exit code, if it exited.
    pub exit_code: Option<i32>,
}

/// One test case from a JUnit XML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    /// The test's class (or suite) name.
    pub classname: String,
    /// The test's name.
    pub name: String,
    /// The file it came from, if the report says.
    pub file: Option<String>,
    /// `success`, `failure`, `error` or `skipped`.
    pub result: String,
    /// The failure message, if any.
    pub message: Option<String>,
    /// Seconds it took.
    pub run_time: f64,
}

/// Test results collected by `store_test_results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResults {
    /// The cases.
    pub tests: Vec<TestCase>,
}

/// Which cache `restore_cache` wants: the first of `keys` that finds one wins; each key is a
/// prefix, and the newest cache whose key starts with it is found. With `exact`, a key finds
/// only a cache saved under exactly that key (`save_cache` asks so before it archives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheLookup {
    /// Rendered keys, most specific first.
    pub keys: Vec<String>,
    /// Match whole keys only.
    #[serde(default)]
    pub exact: bool,
}

/// A cache found for a [`CacheLookup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheFound {
    /// Its id, for the download.
    pub id: i64,
    /// The key it was saved under.
    pub key: String,
    /// The archive's size in bytes.
    pub size_bytes: u64,
    /// The build that saved it.
    pub build_num: i64,
}

/// The reply to a cache upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheSaved {
    /// Whether it was kept: `false` when a cache of that key exists (keys are immutable).
    pub stored: bool,
}

/// What `attach_workspace` applies: the layers of the job's upstream jobs, in the order of the
/// workflow's graph (an upstream job's layer before its dependents').
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// The layers, in the order to apply them.
    pub layers: Vec<WorkspaceLayer>,
}

/// One layer: what one upstream job persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceLayer {
    /// Its id, for the download.
    pub id: i64,
    /// The job that persisted it.
    pub job_name: String,
    /// That job's build number.
    pub build_num: i64,
    /// The archive's size in bytes.
    pub size_bytes: u64,
    /// The ids of the layers (earlier in the list) whose jobs ran before this one's: this
    /// layer may replace their files. A file in two layers neither of which is the other's
    /// upstream was persisted by concurrent jobs, and attaching fails, as on CircleCI.
    pub upstream: Vec<i64>,
}

/// How long tests took in the newest successful run of the same job of the project that
/// stored test results, in seconds: by file, by class name and by test (`classname.name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestTimings {
    /// Seconds per test file.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, f64>,
    /// Seconds per class name.
    #[serde(default)]
    pub classnames: std::collections::BTreeMap<String, f64>,
    /// Seconds per test, `classname.name`.
    #[serde(default)]
    pub tests: std::collections::BTreeMap<String, f64>,
}

/// Where, below a job's `~`, the runner puts the `circleci` command.
pub const TOOLS_DIR: &str = ".circlet/bin";

/// Where, below a job's `~`, the runner writes the [`TestTimings`] of the job.
pub const TIMINGS_FILE: &str = ".circlet/timings.json";

/// The file below a job's `~` that `circleci step halt` makes: the job ends after the step.
pub const HALT_FILE: &str = ".circlet/halt";

/// The job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFinished {
    /// How.
    pub outcome: Outcome,
    /// Why, when it did not succeed for a reason the steps' output does not show.
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci_config::{RunStep, When};

    #[test]
    fn a_claimed_job_round_trips_through_json() {
        let job = ClaimedJob {
            id: "3f2c1b9e-0000-4000-8000-000000000001".into(),
            node_index: 2,
            node_total: 3,
            build_num: 7,
            job_name: "build".into(),
            project_slug: "gh/acme/widget".into(),
            org: "acme".into(),
            repo: "widget".into(),
            repo_url: "file:///tmp/widget".into(),
            revision: "a".repeat(40),
            branch: Some("main".into()),
            tag: None,
            fetch_ref: None,
            build_url: "http://127.0.0.1:8080/gh/acme/widget/7".into(),
            working_directory: "~/project".into(),
            steps: vec![
                Step::Checkout,
                Step::Run(RunStep {
                    name: "test".into(),
                    command: "make test".into(),
                    environment: vec![("A".into(), "1".into())],
                    working_directory: None,
                    no_output_timeout: Some(std::time::Duration::from_secs(600)),
                    when: When::Always,
                    shell: None,
                    background: false,
                }),
            ],
            env: vec![("CI".into(), "true".into())],
            masks: vec!["hunter22".into()],
            messages: vec![],
            step_timeout_secs: 3600,
            ssh_keys: vec![JobSshKey {
                hostname: String::new(),
                fingerprint: "aa:bb".into(),
                fingerprint_sha256: "SHA256:x".into(),
                private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nsecretbody\n".into(),
                checkout: true,
            }],
        };
        let text = serde_json::to_string(&job).expect("serializes");
        assert!(text.contains("\"checkout\""), "{text}");
        assert!(text.contains("\"when\":\"always\""), "{text}");
        let back: ClaimedJob = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, job);
        let shown = format!("{job:?}");
        assert!(
            shown.contains("\"CI\"")
                && !shown.contains("hunter22")
                && !shown.contains("secretbody"),
            "{shown}"
        );
    }

    #[test]
    fn outcomes_serialize_as_their_stored_names() {
        for o in [
            Outcome::Success,
            Outcome::Failed,
            Outcome::Timedout,
            Outcome::Canceled,
            Outcome::InfrastructureFail,
        ] {
            let text = serde_json::to_string(&o).expect("serializes");
            assert_eq!(text, format!("\"{}\"", o.as_str()));
        }
    }
}
