//! From a parsed config and what was triggered to the workflows and jobs a pipeline runs.

use super::{CiConfig, Job};
use std::collections::HashMap;

/// The most steps one job may have. Each step is a row the server stores and a request the
/// runner makes; CircleCI has no published limit, and real jobs have tens.
pub const MAX_STEPS_PER_JOB: usize = 500;

/// The most jobs one pipeline may create, over all its workflows (a job in two workflows
/// counts twice: it runs twice).
pub const MAX_JOBS_PER_PIPELINE: usize = 500;

/// What a trigger asks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    /// Every workflow, each job filtered by branch (a push, a v2 trigger, `POST …/build`).
    Workflows,
    /// Only this job, outside any workflow (v1.1 `CIRCLE_JOB`).
    OnlyJob(&'a str),
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
    /// Jobs of the same workflow it requires.
    pub requires: Vec<String>,
    /// The job's definition.
    pub job: Job,
}

/// The workflows `selection` runs for `branch` (`None` for a tag build). A job whose branch
/// filter excludes it is left out, and so is every job that requires a job left out; a workflow
/// left without jobs is not created. Naming a job the config does not have is an error, and so
/// is a plan past [`MAX_JOBS_PER_PIPELINE`] jobs or with a job past [`MAX_STEPS_PER_JOB`] steps.
pub fn plan(
    config: &CiConfig,
    branch: Option<&str>,
    selection: Selection<'_>,
) -> Result<Vec<PlannedWorkflow>, String> {
    let planned = plan_unbounded(config, branch, selection)?;
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
    branch: Option<&str>,
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
                job: job.clone(),
            }],
        }]);
    }
    let mut out = Vec::new();
    for workflow in &config.workflows {
        let mut kept: Vec<PlannedJob> = Vec::new();
        // Config order puts a job after the jobs it requires (the parser refuses cycles and
        // unknown requirements), so one pass sees every requirement's fate first.
        let mut order: Vec<&super::WorkflowJob> = workflow.jobs.iter().collect();
        let mut depths = HashMap::new();
        for wj in &workflow.jobs {
            depth(workflow, &wj.job, &mut depths, 0);
        }
        order.sort_by_key(|wj| depths.get(wj.job.as_str()).copied().unwrap_or(0));
        for wj in order {
            let requirements_kept = wj
                .requires
                .iter()
                .all(|r| kept.iter().any(|k| &k.job.name == r));
            if !wj.branches.allows(branch) || !requirements_kept {
                continue;
            }
            let Some(job) = config.job(&wj.job) else {
                return Err(format!(
                    "workflow '{}' runs job '{}', which is not defined",
                    workflow.name, wj.job
                ));
            };
            kept.push(PlannedJob {
                requires: wj.requires.clone(),
                job: job.clone(),
            });
        }
        if !kept.is_empty() {
            // Back to config order for display.
            kept.sort_by_key(|k| workflow.jobs.iter().position(|wj| wj.job == k.job.name));
            out.push(PlannedWorkflow {
                name: workflow.name.clone(),
                jobs: kept,
            });
        }
    }
    Ok(out)
}

/// How many requirement levels lie below `job` (0 for a job requiring nothing), remembered in
/// `depths`: each job's depth is worked out once, so jobs that share requirements (a chain of
/// diamonds) cost no more than a line of jobs, rather than doubling with every level. Bounded
/// by the workflow's size, so a cycle (which the parser refuses anyway) cannot recurse forever.
fn depth<'a>(
    workflow: &'a super::Workflow,
    job: &'a str,
    depths: &mut HashMap<&'a str, usize>,
    seen: usize,
) -> usize {
    if let Some(d) = depths.get(job) {
        return *d;
    }
    if seen > workflow.jobs.len() {
        return seen;
    }
    let d = workflow
        .jobs
        .iter()
        .find(|wj| wj.job == job)
        .map(|wj| {
            wj.requires
                .iter()
                .map(|r| 1 + depth(workflow, r, depths, seen + 1))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    depths.insert(job, d);
    d
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

    #[test]
    fn every_workflow_runs_with_branch_filters_applied() {
        let c = config(TWO_STAGE);
        let on_main = plan(&c, Some("main"), Selection::Workflows).unwrap();
        assert_eq!(on_main.len(), 2);
        assert_eq!(names(&on_main[0]), ["build", "test", "deploy"]);
        assert_eq!(on_main[0].jobs[2].requires, ["test"]);
        let on_feature = plan(&c, Some("feature"), Selection::Workflows).unwrap();
        assert_eq!(names(&on_feature[0]), ["build", "test"]);
        let on_wip = plan(&c, Some("wip-1"), Selection::Workflows).unwrap();
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
        let p = plan(&c, Some("main"), Selection::Workflows).unwrap();
        assert_eq!(names(&p[0]), ["c"]);
        let p = plan(&c, Some("release"), Selection::Workflows).unwrap();
        assert_eq!(names(&p[0]), ["a", "b", "c"]);
    }

    #[test]
    fn tag_builds_skip_jobs_limited_to_branches() {
        let c = config(TWO_STAGE);
        let p = plan(&c, None, Selection::Workflows).unwrap();
        assert_eq!(names(&p[0]), ["build", "test"]);
    }

    #[test]
    fn pipelines_past_the_job_or_step_limits_are_refused() {
        let steps = |n: usize| "      - checkout\n".repeat(n);
        let at_limit = format!(
            "version: 2\njobs:\n  build:\n    steps:\n{}",
            steps(MAX_STEPS_PER_JOB)
        );
        assert!(plan(&config(&at_limit), Some("main"), Selection::Workflows).is_ok());
        let over = format!(
            "version: 2\njobs:\n  build:\n    steps:\n{}",
            steps(MAX_STEPS_PER_JOB + 1)
        );
        let err = plan(&config(&over), Some("main"), Selection::Workflows).unwrap_err();
        assert!(
            err.contains("'build' has 501 steps") && err.contains("at most 500"),
            "{err}"
        );
        let err = plan(&config(&over), Some("main"), Selection::OnlyJob("build")).unwrap_err();
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
            Some("main"),
            Selection::Workflows,
        )
        .unwrap();
        assert_eq!(p[0].jobs.len(), MAX_JOBS_PER_PIPELINE);
        let err = plan(
            &config(&jobs(MAX_JOBS_PER_PIPELINE + 1)),
            Some("main"),
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
        // Each job requires the two before it: without remembering depths, working them out
        // doubled with every job (40 jobs took minutes, a 2 KB config pinned a thread).
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
        let p = plan(&c, Some("main"), Selection::Workflows).unwrap();
        assert_eq!(p[0].jobs.len(), n);
        assert_eq!(
            p[0].jobs[n - 1].requires,
            [format!("j{}", n - 2), format!("j{}", n - 3)]
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn circle_job_runs_that_job_alone() {
        let c = config(TWO_STAGE);
        let p = plan(&c, Some("feature"), Selection::OnlyJob("deploy")).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(names(&p[0]), ["deploy"]);
        assert!(p[0].jobs[0].requires.is_empty());
        let err = plan(&c, Some("main"), Selection::OnlyJob("nope")).unwrap_err();
        assert!(err.contains("'nope'"), "{err}");
    }
}
