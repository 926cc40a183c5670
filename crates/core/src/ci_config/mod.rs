//! The CI configuration circlet understands: CircleCI's `.circleci/config.yml`, versions 2 and
//! 2.1, compiled as CircleCI compiles it into the jobs and workflows a pipeline runs.
//!
//! The stages, each its own module:
//! 1. [`yaml`]: YAML 1.1 text to a [`Node`] tree (anchors, aliases and merge keys applied,
//!    every node with its line and column), within bounds a hostile config cannot pass;
//! 2. `expand`: a 2.1 config's orbs, commands, executors, job parameters, matrices,
//!    `when`/`unless` and `<< … >>` expanded to the 2.0 form (what `config process` prints);
//! 3. `parse`: the 2.0 form read into the typed [`CiConfig`], every key checked;
//! 4. `plan`: the workflows and jobs one pipeline runs, by branch or tag and filters.
//!
//! Each problem is reported once with where it is (see `problems`), and a problem in one
//! stage stops the next, so no error is a consequence of another.

mod expand;
mod node;
mod parse;
mod patterns;
mod plan;
mod problems;
mod values;
mod yaml;

pub use expand::{
    MAX_COMMAND_DEPTH, MAX_EXPANDED_BYTES, MAX_EXPANDED_NODES, MAX_ORB_DEPTH, MAX_ORBS, MemoryOrbs,
    NoOrbs, OrbRef, OrbSource, OrbVersion, PublishedOrb, VersionRange, check_orb, valid_orb_name,
};
pub use node::{Kind, Map, Mark, Node, Scalar, Value, emit};

pub use parse::{compile, parse};
pub use plan::{
    GitRef, MAX_JOBS_PER_PIPELINE, MAX_STEPS_PER_JOB, PlannedJob, PlannedWorkflow, Selection, plan,
};
pub use problems::MAX_LISTED;
pub use values::{PIPELINE_VALUES, ParamValue, PipelineContext};
pub use yaml::{Document, MAX_DEPTH, MAX_NODES, MAX_SCALAR_BYTES, YamlError, load};

/// The largest config accepted, in bytes: a config is refused past it before it is parsed (and
/// best before it is read).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `version: 2` or `version: 2.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigVersion {
    /// 2 (2.0).
    V2,
    /// 2.1: pipeline parameters and `<< >>` interpolation.
    V2_1,
}

/// A compiled configuration, ready to plan workflows from.
#[derive(Debug, Clone, PartialEq)]
pub struct CiConfig {
    /// The version the config was written in.
    pub version: ConfigVersion,
    /// `setup: true`: a setup config, whose workflows generate the pipeline's real config.
    pub setup: bool,
    /// Jobs by key, in order (a 2.1 job invoked twice with different parameters is two jobs).
    pub jobs: Vec<Job>,
    /// Workflows in file order; a config without any gets one workflow running the `build` job.
    pub workflows: Vec<Workflow>,
}

impl CiConfig {
    /// The job whose key is `name`.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// A config compiled: the typed config, and the 2.0 form it was read from (what
/// `circlet config process` prints).
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The typed config.
    pub config: CiConfig,
    /// The expanded config as YAML.
    pub processed: String,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
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
    /// How many copies of the job run side by side (`parallelism`), 1 by default.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub parallelism: u32,
    /// The `resource_class` asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_class: Option<String>,
    /// The job's default `shell` for `run` steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// The contexts whose environment variables it gets: its workflow's `context`, set when
    /// the job is planned (a job definition itself names none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// When a step runs.
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
    /// Check out the repository at the built revision, into the working directory.
    Checkout,
    /// `checkout: {path: …}`: check out into `path` instead.
    CheckoutInto {
        /// Where, relative to the working directory unless absolute.
        path: String,
    },
    /// Run a shell command (also `deploy`).
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
    /// Save `paths` as the cache `key` (a template like `deps-{{ checksum "Cargo.lock" }}`).
    SaveCache {
        /// The key template.
        key: String,
        /// What to save.
        paths: Vec<String>,
        /// The step's name, if given.
        name: Option<String>,
        /// When it runs.
        #[serde(default)]
        when: When,
    },
    /// Restore the first cache whose key starts with one of `keys`, in order.
    RestoreCache {
        /// Key templates, most specific first.
        keys: Vec<String>,
        /// The step's name, if given.
        name: Option<String>,
    },
    /// Keep `paths` under `root` for the workflow's later jobs.
    PersistToWorkspace {
        /// The directory `paths` are relative to.
        root: String,
        /// Files and globs to keep.
        paths: Vec<String>,
    },
    /// Put what earlier jobs of the workflow persisted into `at`.
    AttachWorkspace {
        /// The directory.
        at: String,
    },
    /// Install the project's SSH keys (those with these fingerprints, or all).
    AddSshKeys {
        /// The keys' fingerprints; empty for all.
        fingerprints: Vec<String>,
    },
    /// Give the job a Docker engine of its own.
    SetupRemoteDocker {
        /// The Docker version asked for.
        version: Option<String>,
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
    /// The shell to run it with, when not the job's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Whether it runs in the background while the next steps run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub background: bool,
}

/// A workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// Its jobs, in file order.
    pub jobs: Vec<WorkflowJob>,
    /// `triggers`: the schedules it runs on. A workflow with schedules runs only on them, not
    /// on pushes.
    pub schedules: Vec<Schedule>,
}

/// A scheduled trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The cron expression (five fields, UTC).
    pub cron: String,
    /// The branches it runs on.
    pub branches: RefFilter,
}

/// A job's place in a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowJob {
    /// Its name in the workflow.
    pub name: String,
    /// The key of the job it runs in [`CiConfig::jobs`] (its name, for an approval job).
    pub job: String,
    /// Jobs of this workflow that must end first, and how.
    pub requires: Vec<Requirement>,
    /// Which branches and tags it runs for.
    pub filters: Filters,
    /// The contexts whose environment variables it gets.
    pub context: Vec<String>,
    /// `type: approval`: the workflow waits here until someone approves.
    pub approval: bool,
}

/// One of a job's `requires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The required job's name in the workflow.
    pub job: String,
    /// How it must have ended: `success` unless the config says otherwise.
    pub statuses: Vec<RequiredStatus>,
}

/// An end a requirement accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequiredStatus {
    /// It succeeded.
    Success,
    /// It failed.
    Failed,
    /// It was canceled.
    Canceled,
    /// It did not run.
    NotRun,
}

/// `filters`: which branches and tags a job runs for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filters {
    /// `branches`: for a branch pipeline; without it, every branch.
    pub branches: RefFilter,
    /// `tags`: for a tag pipeline; without it, no tag (CircleCI's rule).
    pub tags: Option<RefFilter>,
}

/// `only` and `ignore` lists, each exact names or `/regex/`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefFilter {
    /// If non-empty, the name must match one of these.
    pub only: Vec<Pattern>,
    /// The name must match none of these.
    pub ignore: Vec<Pattern>,
}

impl RefFilter {
    /// Whether `name` passes.
    pub fn allows(&self, name: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| p.matches(name)))
            && !self.ignore.iter().any(|p| p.matches(name))
    }
}

/// A branch or tag name pattern: exact, or a whole-string regular expression written `/…/`.
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
    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == name,
            Pattern::Regex(r) => r.is_match(name),
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

#[cfg(test)]
mod tests {
    mod corpus;
    mod errors;
    mod fixtures;
    mod properties;
}
