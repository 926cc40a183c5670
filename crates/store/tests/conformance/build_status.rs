//! The status of a branch (what badges and cc.xml show): how the latest finished pipeline
//! ended, all its workflows together, and whether anything is still building.

use super::{create_project, create_user, run, runner};
use circlet_core::build_state::JobState;
use circlet_store::builds::{JobRecord, NewJob, NewPipeline, NewWorkflow, NodeEnd, RerunJob};
use circlet_store::{BranchStatus, Project, Store};
use circlet_testkit::both_backends;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    build_status_follows_the_latest_finished_pipeline_per_branch,
    build_status_is_building_while_any_job_is_unfinished,
    build_status_fails_a_pipeline_whose_first_job_failed_until_a_retry_passes,
);

/// A pipeline on `branch` with one workflow of `jobs` (name, requires), returning its jobs.
async fn pipeline_on(
    store: &Store,
    project: &Project,
    branch: &str,
    jobs: &[(&str, &[&str])],
) -> Vec<JobRecord> {
    let new = NewPipeline {
        actor_role_ceiling: None,
        id: None,
        project_id: project.id,
        number: None,
        commit_json: String::new(),
        trigger_type: "api".into(),
        actor_id: None,
        actor_login: "tester".into(),
        branch: Some(branch.into()),
        tag: None,
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        parameters_json: "{}".into(),
        errors: vec![],
        why: "api".into(),
        config: None,
        setup: false,
        origin: Default::default(),
        workflows: vec![NewWorkflow {
            name: "build".into(),
            jobs: jobs
                .iter()
                .map(|(name, requires)| NewJob {
                    name: (*name).into(),
                    requires: requires.iter().map(|r| (*r).to_owned()).collect(),
                    accepts: vec![],
                    approval: false,
                    spec_json: "{}".into(),
                    build_parameters_json: "{}".into(),
                    resource_class: None,
                    parallelism: 1,
                })
                .collect(),
        }],
    };
    store
        .builds()
        .create_pipeline(&new)
        .await
        .expect("create pipeline")
        .1
}

/// Claims the next queued job (it must be `job`) and ends it as `state`.
async fn run_job(store: &Store, runner_id: i64, job: &JobRecord, state: JobState) {
    let (claimed, _) = store
        .builds()
        .claim_next(runner_id, None)
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(claimed.id, job.id, "claimed another job than expected");
    assert!(
        store
            .builds()
            .finish_node(job.id, 0, NodeEnd::by(runner_id, state))
            .await
            .unwrap()
    );
}

async fn build_status_follows_the_latest_finished_pipeline_per_branch(store: Store) {
    let owner = create_user(&store, "owner").await;
    let project = create_project(&store, "gh/acme/widgets", &owner).await;
    let other = create_project(&store, "gh/acme/other", &owner).await;
    let runner_id = runner(&store).await;
    let builds = store.builds();
    let none = BranchStatus {
        latest_finished: None,
        building: false,
    };
    assert_eq!(
        builds.branch_status(project.id, "main").await.unwrap(),
        none
    );

    let main1 = pipeline_on(&store, &project, "main", &[("build", &[])]).await;
    run_job(&store, runner_id, &main1[0], JobState::Success).await;
    let feature = pipeline_on(&store, &project, "feature/x", &[("build", &[])]).await;
    run_job(&store, runner_id, &feature[0], JobState::Failed).await;
    let elsewhere = pipeline_on(&store, &other, "main", &[("build", &[])]).await;
    run_job(&store, runner_id, &elsewhere[0], JobState::Canceled).await;

    let latest = |status: BranchStatus| status.latest_finished.map(|j| (j.build_num, j.state));
    let main = builds.branch_status(project.id, "main").await.unwrap();
    assert!(!main.building);
    assert_eq!(latest(main), Some((main1[0].build_num, JobState::Success)));
    let feature_status = builds.branch_status(project.id, "feature/x").await.unwrap();
    assert_eq!(
        latest(feature_status),
        Some((feature[0].build_num, JobState::Failed))
    );
    let other_status = builds.branch_status(other.id, "main").await.unwrap();
    assert_eq!(
        latest(other_status),
        Some((elsewhere[0].build_num, JobState::Canceled))
    );

    // A job that never ran (its requirement failed) ends the pipeline, and the failure shows;
    // the label is the pipeline's highest build number.
    let chain = pipeline_on(&store, &project, "main", &[("a", &[]), ("b", &["a"])]).await;
    run_job(&store, runner_id, &chain[0], JobState::Timedout).await;
    let main = builds.branch_status(project.id, "main").await.unwrap();
    assert_eq!(
        builds.job_by_id(chain[1].id).await.unwrap().unwrap().state,
        JobState::NotRun
    );
    assert_eq!(latest(main), Some((chain[1].build_num, JobState::Timedout)));
}

async fn build_status_is_building_while_any_job_is_unfinished(store: Store) {
    let owner = create_user(&store, "owner").await;
    let project = create_project(&store, "gh/acme/widgets", &owner).await;
    let runner_id = runner(&store).await;
    let builds = store.builds();
    let jobs = pipeline_on(&store, &project, "main", &[("a", &[]), ("b", &["a"])]).await;
    // Queued (a) and blocked (b).
    assert!(builds.building(project.id, "main").await.unwrap());
    assert!(!builds.building(project.id, "other").await.unwrap());
    let (claimed, _) = builds.claim_next(runner_id, None).await.unwrap().unwrap();
    assert_eq!(claimed.id, jobs[0].id);
    // Running (a), blocked (b).
    assert!(
        builds
            .branch_status(project.id, "main")
            .await
            .unwrap()
            .building
    );
    builds
        .finish_node(jobs[0].id, 0, NodeEnd::by(runner_id, JobState::Success))
        .await
        .unwrap();
    // a passed, b released to the queue: still building, and the pipeline has not finished.
    let status = builds.branch_status(project.id, "main").await.unwrap();
    assert!(status.building);
    assert_eq!(status.latest_finished, None);
    run_job(&store, runner_id, &jobs[1], JobState::Success).await;
    let status = builds.branch_status(project.id, "main").await.unwrap();
    assert!(!status.building);
    let finished = status.latest_finished.expect("the pipeline has finished");
    assert_eq!(
        (finished.state, finished.build_num),
        (JobState::Success, jobs[1].build_num)
    );
}

async fn build_status_fails_a_pipeline_whose_first_job_failed_until_a_retry_passes(store: Store) {
    let owner = create_user(&store, "owner").await;
    let project = create_project(&store, "gh/acme/widgets", &owner).await;
    let runner_id = runner(&store).await;
    let builds = store.builds();
    let first = pipeline_on(&store, &project, "main", &[("build", &[])]).await;
    run_job(&store, runner_id, &first[0], JobState::Success).await;

    // `lint` fails, then `build` passes: the job that ended last passed, the pipeline failed.
    let jobs = pipeline_on(&store, &project, "main", &[("lint", &[]), ("build", &[])]).await;
    run_job(&store, runner_id, &jobs[0], JobState::Failed).await;
    let status = builds.branch_status(project.id, "main").await.unwrap();
    assert_eq!(
        status.latest_finished.map(|p| p.state),
        Some(JobState::Success),
        "until the whole pipeline ends, the one before shows"
    );
    run_job(&store, runner_id, &jobs[1], JobState::Success).await;
    let status = builds.branch_status(project.id, "main").await.unwrap();
    let finished = status.latest_finished.expect("finished");
    assert_eq!(
        (finished.state, finished.build_num),
        (JobState::Failed, jobs[1].build_num)
    );
    let badge = |store: &Store| {
        let slug = project.slug.clone();
        let store = store.clone();
        async move {
            let (_, state) = store
                .projects()
                .by_slug_with_badge_state(&slug, None)
                .await
                .unwrap()
                .unwrap();
            state
        }
    };
    assert_eq!(badge(&store).await, Some(JobState::Failed));

    // Retrying `lint` reopens the pipeline; the retry's success is its answer.
    let retry = builds.retry(&jobs[0]).await.unwrap();
    assert_eq!(
        badge(&store).await,
        Some(JobState::Success),
        "the first pipeline again"
    );
    run_job(&store, runner_id, &retry, JobState::Success).await;
    let status = builds.branch_status(project.id, "main").await.unwrap();
    let finished = status.latest_finished.expect("finished");
    assert_eq!(
        (finished.state, finished.build_num),
        (JobState::Success, retry.build_num)
    );
    assert_eq!(badge(&store).await, Some(JobState::Success));

    // A workflow rerun from failed: the new workflow stands for the one it reran.
    let jobs = pipeline_on(&store, &project, "main", &[("lint", &[]), ("build", &[])]).await;
    run_job(&store, runner_id, &jobs[0], JobState::Failed).await;
    run_job(&store, runner_id, &jobs[1], JobState::Success).await;
    assert_eq!(badge(&store).await, Some(JobState::Failed));
    let rerun = [
        RerunJob {
            definition: jobs[0].id,
            previous: jobs[0].id,
            keep: false,
        },
        RerunJob {
            definition: jobs[1].id,
            previous: jobs[1].id,
            keep: true,
        },
    ];
    let (_, again) = builds
        .rerun_workflow(jobs[0].workflow_id, &rerun)
        .await
        .unwrap();
    assert_eq!(
        badge(&store).await,
        Some(JobState::Success),
        "the rerun runs: the pipeline before"
    );
    run_job(&store, runner_id, &again[0], JobState::Success).await;
    assert_eq!(
        badge(&store).await,
        Some(JobState::Success),
        "the rerun passed"
    );
    let finished = builds
        .branch_status(project.id, "main")
        .await
        .unwrap()
        .latest_finished;
    assert_eq!(
        finished.map(|p| (p.state, p.build_num)),
        Some((
            JobState::Success,
            again[1].build_num.max(again[0].build_num)
        ))
    );
}
