//! The CI configuration circlet understands: a subset of CircleCI's `.circleci/config.yml`
//! (versions 2 and 2.1), parsed into a typed model with clear errors for anything else.
//!
//! Supported: `version`; `jobs.<name>` with `steps` (`checkout`, `run`, `store_artifacts`,
//! `store_test_results`), `environment`, `working_directory`, and executor keys (`docker`,
//! `machine`, `macos`, `resource_class`, `executor`, `shell`), which circlet notes and runs on
//! the runner host's shell; `workflows` with job lists, `requires` and
//! `filters.branches.only/ignore`; 2.1 pipeline `parameters` with `<< pipeline.parameters.x >>`,
//! `<< pipeline.git.branch >>` and `<< pipeline.number >>`. Everything else is refused by name.

mod parse;
mod plan;
mod values;
mod yaml;

pub use parse::parse;
pub use plan::{
    MAX_JOBS_PER_PIPELINE, MAX_STEPS_PER_JOB, PlannedJob, PlannedWorkflow, Selection, plan,
};
pub use values::{ParamValue, PipelineContext};
pub use yaml::{MAX_DEPTH, MAX_NODES, MAX_SCALAR_BYTES};

/// The largest config accepted, in bytes: a config is refused past it before it is parsed (and
/// best before it is read).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// `version: 2` or `version: 2.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigVersion {
    /// 2 (2.0).
    V2,
    /// 2.1: pipeline parameters and `<< >>` interpolation.
    V2_1,
}

/// A parsed, interpolated configuration, ready to plan workflows from.
#[derive(Debug, Clone, PartialEq)]
pub struct CiConfig {
    /// The config's version.
    pub version: ConfigVersion,
    /// Jobs by name, in file order.
    pub jobs: Vec<Job>,
    /// Workflows in file order; a config without any gets one workflow running the `build` job.
    pub workflows: Vec<Workflow>,
}

impl CiConfig {
    /// The job called `name`.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its name.
    pub name: String,
    /// Environment for every step (the job's `environment`).
    pub environment: Vec<(String, String)>,
    /// The job's `working_directory`, if set.
    pub working_directory: Option<String>,
    /// What the config asked to run on (`docker: cimg/base`), shown in the job's messages:
    /// circlet runs every step on the runner host's shell.
    pub executor_notes: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// When a `run` step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// Only when every earlier step succeeded (the default).
    #[default]
    OnSuccess,
    /// Only when an earlier step failed.
    OnFail,
    /// Whatever happened before.
    Always,
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Check out the repository at the built revision.
    Checkout,
    /// Run a shell command.
    Run(RunStep),
    /// Upload files under `path` as artifacts, under `destination` (default: the path).
    StoreArtifacts {
        /// File or directory to upload.
        path: String,
        /// Prefix of the artifacts' paths.
        destination: Option<String>,
    },
    /// Collect JUnit XML test results under `path`.
    StoreTestResults {
        /// Directory holding the results.
        path: String,
    },
}

/// A `run` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStep {
    /// Its display name (the command's first line when none is given).
    pub name: String,
    /// The shell command.
    pub command: String,
    /// Extra environment for this step.
    pub environment: Vec<(String, String)>,
    /// Where to run, relative to the job's working directory unless absolute.
    pub working_directory: Option<String>,
    /// How long the step may go without output before it is stopped.
    pub no_output_timeout: Option<Duration>,
    /// When it runs.
    pub when: When,
}

/// A workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// Its jobs, in file order.
    pub jobs: Vec<WorkflowJob>,
}

/// A job's place in a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowJob {
    /// The job it runs.
    pub job: String,
    /// Jobs of this workflow that must succeed first.
    pub requires: Vec<String>,
    /// Which branches it runs on.
    pub branches: BranchFilter,
}

/// `filters.branches`: `only` and `ignore`, each exact names or `/regex/`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BranchFilter {
    /// If non-empty, the branch must match one of these.
    pub only: Vec<Pattern>,
    /// The branch must match none of these.
    pub ignore: Vec<Pattern>,
}

impl BranchFilter {
    /// Whether a job with this filter runs for `branch` (`None`: a tag build, where branch
    /// filters with `only` exclude the job, as in CircleCI).
    pub fn allows(&self, branch: Option<&str>) -> bool {
        match branch {
            None => self.only.is_empty(),
            Some(b) => {
                (self.only.is_empty() || self.only.iter().any(|p| p.matches(b)))
                    && !self.ignore.iter().any(|p| p.matches(b))
            }
        }
    }
}

/// A branch name pattern: exact, or a whole-string regular expression written `/…/`.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Exactly this name.
    Exact(String),
    /// A regular expression that must match the whole name.
    Regex(regex::Regex),
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Pattern::Exact(a), Pattern::Exact(b)) => a == b,
            (Pattern::Regex(a), Pattern::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Pattern {
    /// Whether `branch` matches.
    pub fn matches(&self, branch: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == branch,
            Pattern::Regex(r) => r.is_match(branch),
        }
    }
}

/// Why a config cannot run: every problem found, each a sentence naming where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// Declared 2.1 pipeline parameters, by name.
pub type ParamDecls = BTreeMap<String, values::ParamDecl>;
