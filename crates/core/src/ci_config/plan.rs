//! From a parsed config and what was triggered to the workflows and jobs a pipeline runs.

use super::{CiConfig, Filters, Job, Requirement, Step, Workflow, WorkflowJob};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The most steps one job may have. Each step is a row the server stores and a request the
/// runner makes; CircleCI has no published limit, and real jobs have tens.
pub const MAX_STEPS_PER_JOB: usize = 500;

/// The most jobs one pipeline may create, over all its workflows (a job in two workflows
/// counts twice: it runs twice).
pub const MAX_JOBS_PER_PIPELINE: usize = 500;

/// What a trigger asks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    /// Every workflow without a schedule, each job filtered (a push, a v2 trigger, `POST …/build`).
    Workflows,
    /// Only this job, outside any workflow (v1.1 `CIRCLE_JOB`).
    OnlyJob(&'a str),
    /// Only this scheduled workflow (its `triggers` fired), each job filtered.
    Scheduled(&'a str),
}

/// What a pipeline builds: a branch or a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitRef<'a> {
    /// A branch.
    Branch(&'a str),
    /// A tag.
    Tag(&'a str),
}

impl Filters {
    /// Whether a job with these filters runs for `target`: on a branch when its branch filter
    /// allows it; on a tag only when it has a tag filter and that allows it (CircleCI runs no
    /// job for a tag unless told to).
    pub fn runs_for(&self, target: GitRef<'_>) -> bool {
        match target {
            GitRef::Branch(b) => self.branches.allows(b),
            GitRef::Tag(t) => self.tags.as_ref().is_some_and(|f| f.allows(t)),
        }
    }
}

/// A workflow to create.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWorkflow {
    /// Its name.
    pub name: String,
    /// Its jobs, in config order.
    pub jobs: Vec<PlannedJob>,
}

/// A job to create.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedJob {
    /// Jobs of the same workflow it requires, and how each must end.
    pub requires: Vec<Requirement>,
    /// The contexts it names.
    pub context: Vec<String>,
    /// Whether it is an approval: nothing runs, the workflow waits for someone to approve.
    pub approval: bool,
    /// The job's definition, named as in the workflow (an approval's has no steps).
    pub job: Job,
}

/// The most bytes of job definitions one pipeline may plan. A job is copied into every workflow
/// that runs it, so a 1 MiB config of one long job and thousands of workflows naming it would
/// otherwise plan gigabytes; real pipelines plan well under a megabyte.
pub const MAX_PLANNED_BYTES: usize = 16 * 1024 * 1024;

/// The workflows `selection` runs for `target`. A job whose filters exclude it is left out, and
/// so is every job that requires a job left out; a workflow left without jobs is not created,
/// and neither is one that runs on a schedule. Naming a job the config does not have is an
/// error, and so is planning more than [`MAX_PLANNED_BYTES`] of job definitions, a plan past
/// [`MAX_JOBS_PER_PIPELINE`] jobs or with a job past [`MAX_STEPS_PER_JOB`] steps.
pub fn plan(
    config: &CiConfig,
    target: GitRef<'_>,
    selection: Selection<'_>,
) -> Result<Vec<PlannedWorkflow>, String> {
    let planned = plan_unbounded(config, target, selection)?;
    let jobs: usize = planned.iter().map(|w| w.jobs.len()).sum();
    if jobs > MAX_JOBS_PER_PIPELINE {
        return Err(format!(
            "this pipeline would run {jobs} jobs; circlet runs at most {MAX_JOBS_PER_PIPELINE} jobs per pipeline"
        ));
    }
    let long = planned
        .iter()
        .flat_map(|w| &w.jobs)
        .find(|j| j.job.steps.len() > MAX_STEPS_PER_JOB);
    if let Some(j) = long {
        return Err(format!(
            "job '{}' has {} steps; circlet runs at most {MAX_STEPS_PER_JOB} steps per job",
            j.job.name,
            j.job.steps.len()
        ));
    }
    Ok(planned)
}

fn plan_unbounded(
    config: &CiConfig,
    target: GitRef<'_>,
    selection: Selection<'_>,
) -> Result<Vec<PlannedWorkflow>, String> {
    if let Selection::OnlyJob(name) = selection {
        let job = config
            .job(name)
            .ok_or_else(|| format!("job '{name}' is not defined in .circleci/config.yml"))?;
        return Ok(vec![PlannedWorkflow {
            name: name.to_owned(),
            jobs: vec![PlannedJob {
                requires: Vec::new(),
                context: Vec::new(),
                approval: false,
                job: job.clone(),
            }],
        }]);
    }
    let jobs: BTreeMap<&str, (&Job, usize)> = config
        .jobs
        .iter()
        .map(|j| (j.name.as_str(), (j, size_of_job(j))))
        .collect();
    let mut planned_bytes = 0;
    let mut out = Vec::new();
    let chosen = |w: &&Workflow| match selection {
        Selection::Scheduled(name) => w.name == name && !w.schedules.is_empty(),
        _ => w.schedules.is_empty(),
    };
    for workflow in config.workflows.iter().filter(chosen) {
        // The parser refuses cycles, so every job has its place in the order.
        let order = requirement_order(&workflow.jobs).unwrap_or_default();
        let mut kept: Vec<(usize, PlannedJob)> = Vec::new();
        let mut kept_names: BTreeSet<&str> = BTreeSet::new();
        for i in order {
            let wj = &workflow.jobs[i];
            let requirements_kept = wj
                .requires
                .iter()
                .all(|r| kept_names.contains(r.job.as_str()));
            if !wj.filters.runs_for(target) || !requirements_kept {
                continue;
            }
            let job = if wj.approval {
                Job {
                    name: wj.name.clone(),
                    environment: Vec::new(),
                    working_directory: None,
                    executor_notes: Vec::new(),
                    parallelism: 1,
                    resource_class: None,
                    shell: None,
                    contexts: Vec::new(),
                    steps: Vec::new(),
                }
            } else {
                let Some(&(job, size)) = jobs.get(wj.job.as_str()) else {
                    return Err(format!(
                        "workflow '{}' runs job '{}', which is not defined",
                        workflow.name, wj.job
                    ));
                };
                planned_bytes += size;
                if planned_bytes > MAX_PLANNED_BYTES {
                    return Err(format!(
                        "the pipeline's jobs add up to more than {MAX_PLANNED_BYTES} bytes of definitions (a job counts once for every workflow that runs it)"
                    ));
                }
                let mut job = job.clone();
                job.name = wj.name.clone();
                job.contexts = wj.context.clone();
                job
            };
            kept_names.insert(&wj.name);
            kept.push((
                i,
                PlannedJob {
                    requires: wj.requires.clone(),
                    context: wj.context.clone(),
                    approval: wj.approval,
                    job,
                },
            ));
        }
        if !kept.is_empty() {
            // Back to config order for display.
            kept.sort_by_key(|(i, _)| *i);
            out.push(PlannedWorkflow {
                name: workflow.name.clone(),
                jobs: kept.into_iter().map(|(_, job)| job).collect(),
            });
        }
    }
    Ok(out)
}

/// About how many bytes `job`'s definition holds: its text, and a little for each part.
fn size_of_job(job: &Job) -> usize {
    let pairs = |env: &[(String, String)]| -> usize {
        env.iter().map(|(k, v)| k.len() + v.len() + 16).sum()
    };
    let text = |o: &Option<String>| o.as_ref().map_or(0, String::len);
    let list = |l: &[String]| -> usize { l.iter().map(|x| x.len() + 8).sum() };
    let steps: usize = job
        .steps
        .iter()
        .map(|step| {
            16 + match step {
                Step::Checkout => 0,
                Step::CheckoutInto { path } => path.len(),
                Step::Run(run) => {
                    run.name.len()
                        + run.command.len()
                        + pairs(&run.environment)
                        + text(&run.working_directory)
                        + text(&run.shell)
                }
                Step::StoreArtifacts { path, destination } => path.len() + text(destination),
                Step::StoreTestResults { path } => path.len(),
                Step::SaveCache {
                    key, paths, name, ..
                } => key.len() + list(paths) + text(name),
                Step::RestoreCache { keys, name } => list(keys) + text(name),
                Step::PersistToWorkspace { root, paths } => root.len() + list(paths),
                Step::AttachWorkspace { at } => at.len(),
                Step::AddSshKeys { fingerprints } => list(fingerprints),
                Step::SetupRemoteDocker { version } => text(version),
            }
        })
        .sum();
    job.name.len()
        + pairs(&job.environment)
        + text(&job.working_directory)
        + text(&job.resource_class)
        + text(&job.shell)
        + job.executor_notes.iter().map(String::len).sum::<usize>()
        + steps
}

/// The indexes of `jobs` in an order that puts every job after the jobs of the list it
/// requires (requirements on jobs not in the list are ignored), or `None` if they form a cycle.
///
/// Kahn's algorithm, linear in the jobs and requirements: a hostile config may list thousands.
pub(super) fn requirement_order(jobs: &[WorkflowJob]) -> Option<Vec<usize>> {
    let index: BTreeMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect();
    let mut waiting_for = vec![0usize; jobs.len()];
    let mut required_by: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    for (i, job) in jobs.iter().enumerate() {
        for r in &job.requires {
            if let Some(&j) = index.get(r.job.as_str()) {
                waiting_for[i] += 1;
                required_by[j].push(i);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..jobs.len()).filter(|&i| waiting_for[i] == 0).collect();
    let mut order = Vec::with_capacity(jobs.len());
    while let Some(j) = ready.pop_front() {
        order.push(j);
        for &i in &required_by[j] {
            waiting_for[i] -= 1;
            if waiting_for[i] == 0 {
                ready.push_back(i);
            }
        }
    }
    (order.len() == jobs.len()).then_some(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci_config::{PipelineContext, parse};

    fn config(text: &str) -> CiConfig {
        parse(text, &PipelineContext::default()).expect("valid config")
    }

    const TWO_STAGE: &str = r#"
version: 2.1
jobs:
  build: {steps: [checkout]}
  test: {steps: [{run: make test}]}
  deploy: {steps: [{run: make deploy}]}
workflows:
  main:
    jobs:
      - build
      - test: {requires: [build]}
      - deploy:
          requires: [test]
          filters: {branches: {only: [main]}}
  docs:
    jobs:
      - build:
          filters: {branches: {ignore: [/wip-.*/]}}
"#;

    fn names(w: &PlannedWorkflow) -> Vec<&str> {
        w.jobs.iter().map(|j| j.job.name.as_str()).collect()
    }

    fn required(j: &PlannedJob) -> Vec<&str> {
        j.requires.iter().map(|r| r.job.as_str()).collect()
    }

    #[test]
    fn every_workflow_runs_with_branch_filters_applied() {
        let c = config(TWO_STAGE);
        let on_main = plan(&c, GitRef::Branch("main"), Selection::Workflows).unwrap();
        assert_eq!(on_main.len(), 2);
        assert_eq!(names(&on_main[0]), ["build", "test", "deploy"]);
        assert_eq!(required(&on_main[0].jobs[2]), ["test"]);
        let on_feature = plan(&c, GitRef::Branch("feature"), Selection::Workflows).unwrap();
        assert_eq!(names(&on_feature[0]), ["build", "test"]);
        let on_wip = plan(&c, GitRef::Branch("wip-1"), Selection::Workflows).unwrap();
        assert_eq!(on_wip.len(), 1, "docs has no job left on wip branches");
        assert_eq!(on_wip[0].name, "main");
    }

    #[test]
    fn a_job_whose_requirement_is_filtered_out_is_left_out_too() {
        let c = config(
            r#"
version: 2
jobs:
  a: {steps: [checkout]}
  b: {steps: [checkout]}
  c: {steps: [checkout]}
workflows:
  w:
    jobs:
      - a: {filters: {branches: {only: release}}}
      - b: {requires: [a]}
      - c
"#,
        );
        let p = plan(&c, GitRef::Branch("main"), Selection::Workflows).unwrap();
        assert_eq!(names(&p[0]), ["c"]);
        let p = plan(&c, GitRef::Branch("release"), Selection::Workflows).unwrap();
        assert_eq!(names(&p[0]), ["a", "b", "c"]);
    }

    #[test]
    fn tag_builds_run_only_jobs_whose_tag_filter_matches() {
        // CircleCI runs nothing for a tag unless a job's `tags` filter asks for it.
        assert_eq!(
            plan(&config(TWO_STAGE), GitRef::Tag("v1"), Selection::Workflows),
            Ok(vec![])
        );
        let c = config(
            r#"
version: 2.1
jobs:
  build: {steps: [checkout]}
  publish: {steps: [checkout]}
  docs: {steps: [checkout]}
workflows:
  release:
    jobs:
      - build: {filters: {tags: {only: /.*/}}}
      - publish:
          requires: [build]
          filters: {tags: {only: '/^v[0-9.]+$/'}, branches: {ignore: /.*/}}
      - docs: {filters: {tags: {ignore: /^v.*/}}}
"#,
        );
        let tag = plan(&c, GitRef::Tag("v1.2"), Selection::Workflows).unwrap();
        assert_eq!(names(&tag[0]), ["build", "publish"]);
        let other = plan(&c, GitRef::Tag("nightly"), Selection::Workflows).unwrap();
        assert_eq!(names(&other[0]), ["build", "docs"]);
        let branch = plan(&c, GitRef::Branch("main"), Selection::Workflows).unwrap();
        assert_eq!(
            names(&branch[0]),
            ["build", "docs"],
            "branches: ignore /.*/ keeps publish to tags"
        );
    }

    #[test]
    fn scheduled_workflows_do_not_run_on_pushes() {
        let c = config(
            r#"
version: 2
jobs:
  build: {steps: [checkout]}
workflows:
  nightly:
    triggers:
      - schedule: {cron: "0 3 * * *", filters: {branches: {only: [main]}}}
    jobs: [build]
  push:
    jobs: [build]
"#,
        );
        assert_eq!(c.workflows[0].schedules[0].cron, "0 3 * * *");
        assert!(c.workflows[0].schedules[0].branches.allows("main"));
        let p = plan(&c, GitRef::Branch("main"), Selection::Workflows).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "push");
        let fired = plan(&c, GitRef::Branch("main"), Selection::Scheduled("nightly")).unwrap();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].name, "nightly");
    }

    #[test]
    fn a_long_job_in_thousands_of_workflows_is_refused_not_copied() {
        // 200 KB of command, run by 2,000 workflows: 400 MB of plan from a 250 KB config.
        let mut text = format!(
            "version: 2\njobs:\n  j: {{steps: [{{run: '{}'}}]}}\nworkflows:\n",
            "x".repeat(200_000)
        );
        for w in 0..2_000 {
            text.push_str(&format!("  w{w}: {{jobs: [j]}}\n"));
        }
        let err = plan(&config(&text), GitRef::Branch("main"), Selection::Workflows).unwrap_err();
        assert!(err.contains("more than 16777216 bytes"), "{err}");
        // Eighty workflows fit.
        let fits = text.lines().take(4 + 80).collect::<Vec<_>>().join("\n");
        assert_eq!(
            plan(&config(&fits), GitRef::Branch("main"), Selection::Workflows).map(|p| p.len()),
            Ok(80)
        );
    }

    #[test]
    fn circle_job_runs_that_job_alone() {
        let c = config(TWO_STAGE);
        let p = plan(&c, GitRef::Branch("feature"), Selection::OnlyJob("deploy")).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(names(&p[0]), ["deploy"]);
        assert!(p[0].jobs[0].requires.is_empty());
        let err = plan(&c, GitRef::Branch("main"), Selection::OnlyJob("nope")).unwrap_err();
        assert!(err.contains("'nope'"), "{err}");
    }

    #[test]
    fn pipelines_past_the_job_or_step_limits_are_refused() {
        let steps = |n: usize| "      - checkout\n".repeat(n);
        let at_limit = format!(
            "version: 2\njobs:\n  build:\n    steps:\n{}",
            steps(MAX_STEPS_PER_JOB)
        );
        assert!(
            plan(
                &config(&at_limit),
                GitRef::Branch("main"),
                Selection::Workflows
            )
            .is_ok()
        );
        let over = format!(
            "version: 2\njobs:\n  build:\n    steps:\n{}",
            steps(MAX_STEPS_PER_JOB + 1)
        );
        let err = plan(&config(&over), GitRef::Branch("main"), Selection::Workflows).unwrap_err();
        assert!(
            err.contains("'build' has 501 steps") && err.contains("at most 500"),
            "{err}"
        );
        let err = plan(
            &config(&over),
            GitRef::Branch("main"),
            Selection::OnlyJob("build"),
        )
        .unwrap_err();
        assert!(err.contains("501 steps"), "{err}");

        let jobs = |n: usize| {
            let defs: String = (0..n)
                .map(|i| format!("  j{i}: {{steps: [checkout]}}\n"))
                .collect();
            let list: String = (0..n).map(|i| format!("      - j{i}\n")).collect();
            format!("version: 2\njobs:\n{defs}workflows:\n  w:\n    jobs:\n{list}")
        };
        let p = plan(
            &config(&jobs(MAX_JOBS_PER_PIPELINE)),
            GitRef::Branch("main"),
            Selection::Workflows,
        )
        .unwrap();
        assert_eq!(p[0].jobs.len(), MAX_JOBS_PER_PIPELINE);
        let err = plan(
            &config(&jobs(MAX_JOBS_PER_PIPELINE + 1)),
            GitRef::Branch("main"),
            Selection::Workflows,
        )
        .unwrap_err();
        assert!(
            err.contains("501 jobs") && err.contains("at most 500"),
            "{err}"
        );
    }

    #[test]
    fn jobs_sharing_requirements_are_ordered_without_blowing_up() {
        // Each job requires the two before it: ordering them by recomputed depths doubled the
        // work with every job (40 jobs took minutes, a 2 KB config pinned a thread).
        let n = 40;
        let defs: String = (0..n)
            .map(|i| format!("  j{i}: {{steps: [checkout]}}\n"))
            .collect();
        let list: String = (0..n)
            .map(|i| match i {
                0 => "      - j0\n".to_owned(),
                1 => "      - j1: {requires: [j0]}\n".to_owned(),
                _ => format!("      - j{i}: {{requires: [j{}, j{}]}}\n", i - 1, i - 2),
            })
            .collect();
        let c = config(&format!(
            "version: 2\njobs:\n{defs}workflows:\n  w:\n    jobs:\n{list}"
        ));
        let started = std::time::Instant::now();
        let p = plan(&c, GitRef::Branch("main"), Selection::Workflows).unwrap();
        assert_eq!(p[0].jobs.len(), n);
        assert_eq!(
            required(&p[0].jobs[n - 1]),
            [format!("j{}", n - 2), format!("j{}", n - 3)]
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
