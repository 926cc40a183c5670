//! The job executor driven through its event interface: real git repositories, real bash, real
//! processes killed for real. A [`Recorder`] stands in for the server and keeps every event.

use circlet_core::ci_config::{RunStep, Step, When};
use circlet_core::runner_protocol::{
    CacheFound, CacheLookup, ClaimedJob, HeartbeatReply, JobFinished, Outcome, StepFinished,
    StepStarted, TestResults,
};
use circlet_runner::{
    Download, JobEnd, JobOptions, ReportError, Reporter, Sandbox, Stop, StopReason, Upload, run_job,
};
use circlet_testkit::GitRepo;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Started(StepStarted),
    Output(u32, String),
    StepFinished(u32, StepFinished),
    Tests(TestResults),
    Artifact(String, Vec<u8>),
    JobFinished(JobFinished),
}

/// Keeps what a job reports; can ask for a cancel, lose the job, or lack artifact uploads.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    /// Heartbeats answer `cancel: true` once output containing `ready` was seen.
    cancel_when_ready: bool,
    /// Heartbeats answer 409 once output containing `ready` was seen.
    lose_when_ready: bool,
    ready: AtomicBool,
    /// Artifact uploads answer 404.
    no_artifacts: bool,
    /// Saved caches, oldest first: (key, archive).
    caches: Mutex<Vec<(String, Vec<u8>)>>,
    /// Downloads announce the size a cache had before it was cut (see the damage test).
    cut_downloads: bool,
}

impl Recorder {
    fn push(&self, e: Event) {
        self.events.lock().unwrap().push(e);
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn output(&self, index: u32) -> String {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Output(i, t) if i == index => Some(t),
                _ => None,
            })
            .collect()
    }

    /// The artifacts uploaded, as (path, text).
    fn uploaded(&self) -> Vec<(String, String)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Artifact(p, b) => Some((p, String::from_utf8(b).unwrap())),
                _ => None,
            })
            .collect()
    }

    fn started(&self) -> Vec<u32> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Started(s) => Some(s.index),
                _ => None,
            })
            .collect()
    }

    fn step_end(&self, index: u32) -> Option<StepFinished> {
        self.events().into_iter().find_map(|e| match e {
            Event::StepFinished(i, f) if i == index => Some(f),
            _ => None,
        })
    }

    fn job_end(&self) -> Option<JobFinished> {
        self.events().into_iter().find_map(|e| match e {
            Event::JobFinished(f) => Some(f),
            _ => None,
        })
    }
}

impl Reporter for Recorder {
    async fn step_started(&self, step: &StepStarted) -> Result<(), ReportError> {
        self.push(Event::Started(step.clone()));
        Ok(())
    }
    async fn output(&self, index: u32, text: &str) -> Result<(), ReportError> {
        if text.contains("ready") {
            self.ready.store(true, Ordering::SeqCst);
        }
        self.push(Event::Output(index, text.to_owned()));
        Ok(())
    }
    async fn step_finished(&self, index: u32, end: &StepFinished) -> Result<(), ReportError> {
        self.push(Event::StepFinished(index, *end));
        Ok(())
    }
    async fn test_results(&self, results: &TestResults) -> Result<(), ReportError> {
        self.push(Event::Tests(results.clone()));
        Ok(())
    }
    async fn artifact(&self, segments: &[String], file: &Path) -> Result<(), ReportError> {
        if self.no_artifacts {
            return Err(ReportError::NotFound);
        }
        let body = std::fs::read(file).map_err(|e| ReportError::Failed(e.to_string()))?;
        self.push(Event::Artifact(segments.join("/"), body));
        Ok(())
    }
    async fn cache_lookup(&self, lookup: &CacheLookup) -> Result<Option<CacheFound>, ReportError> {
        let caches = self.caches.lock().unwrap();
        for key in &lookup.keys {
            let found = caches.iter().enumerate().rev().find(|(_, (k, _))| {
                if lookup.exact {
                    k == key
                } else {
                    k.starts_with(key.as_str())
                }
            });
            if let Some((i, (k, bytes))) = found {
                let announced = if self.cut_downloads {
                    bytes.len() * 2
                } else {
                    bytes.len()
                };
                return Ok(Some(CacheFound {
                    id: i as i64,
                    key: k.clone(),
                    size_bytes: announced as u64,
                    build_num: 1,
                }));
            }
        }
        Ok(None)
    }
    async fn cache_download(&self, id: i64) -> Result<Download, ReportError> {
        let bytes = self.caches.lock().unwrap()[id as usize].1.clone();
        Ok(Box::pin(std::io::Cursor::new(bytes)))
    }
    async fn cache_upload(&self, key: &str, mut archive: Upload) -> Result<bool, ReportError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = archive.recv().await {
            bytes.extend(chunk.map_err(|e| ReportError::Failed(e.to_string()))?);
        }
        let mut caches = self.caches.lock().unwrap();
        if caches.iter().any(|(k, _)| k == key) {
            return Ok(false);
        }
        caches.push((key.to_owned(), bytes));
        Ok(true)
    }
    async fn heartbeat(&self) -> Result<HeartbeatReply, ReportError> {
        let ready = self.ready.load(Ordering::SeqCst);
        if ready && self.lose_when_ready {
            return Err(ReportError::Lost);
        }
        Ok(HeartbeatReply {
            cancel: ready && self.cancel_when_ready,
        })
    }
    async fn job_finished(&self, end: &JobFinished) -> Result<(), ReportError> {
        self.push(Event::JobFinished(end.clone()));
        Ok(())
    }
}

fn job(steps: Vec<Step>) -> ClaimedJob {
    ClaimedJob {
        id: uuid::Uuid::new_v4().to_string(),
        node_index: 0,
        node_total: 1,
        build_num: 1,
        job_name: "build".into(),
        project_slug: "gh/acme/widget".into(),
        org: "acme".into(),
        repo: "widget".into(),
        repo_url: String::new(),
        revision: String::new(),
        branch: None,
        tag: None,
        fetch_ref: None,
        build_url: "http://127.0.0.1:1/gh/acme/widget/1".into(),
        working_directory: "~/project".into(),
        steps,
        env: vec![],
        masks: vec![],
        messages: vec!["docker: cimg/base:stable is run on this host's shell".into()],
        step_timeout_secs: 3600,
        ssh_keys: vec![],
    }
}

fn run(command: &str) -> RunStep {
    RunStep {
        name: command.lines().next().unwrap_or("").into(),
        command: command.into(),
        environment: vec![],
        working_directory: None,
        no_output_timeout: None,
        when: When::OnSuccess,
        shell: None,
        background: false,
    }
}

fn run_when(command: &str, when: When) -> Step {
    Step::Run(RunStep {
        when,
        ..run(command)
    })
}

struct Harness {
    dir: tempfile::TempDir,
    opts: JobOptions,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        // Every job here runs as a runner runs it by default: in the bubblewrap sandbox.
        let sandbox =
            Sandbox::bubblewrap(vec![]).expect("bubblewrap works here (scripts/test installs it)");
        let mut opts = JobOptions::new(dir.path().join("work"), "test-runner".into(), sandbox);
        opts.heartbeat_interval = Duration::from_millis(100);
        opts.kill_grace = Duration::from_millis(500);
        Harness { dir, opts }
    }

    fn root_of(&self, job: &ClaimedJob) -> PathBuf {
        self.opts.work_dir.join(&job.id)
    }

    async fn run(&self, job: &ClaimedJob, rec: &Recorder) -> JobEnd {
        let stop = Stop::new();
        self.run_with(job, rec, &stop).await
    }

    async fn run_with(&self, job: &ClaimedJob, rec: &Recorder, stop: &Stop) -> JobEnd {
        tokio::time::timeout(Duration::from_secs(60), run_job(job, rec, &self.opts, stop))
            .await
            .expect("the job ends within a minute")
    }
}

/// A real repository under `dir`: one commit on `main` holding `hello.txt`; and that commit.
fn git_repo(dir: &Path) -> (GitRepo, String) {
    let repo = GitRepo::empty_in(dir);
    let rev = repo.commit(&[("hello.txt", "hello from the repo\n")], "first");
    (repo, rev)
}

fn finished(outcome: Outcome, exit_code: Option<i32>) -> Option<StepFinished> {
    Some(StepFinished { outcome, exit_code })
}

#[tokio::test]
async fn checkout_clones_the_revision_onto_its_branch_in_the_job_root() {
    let h = Harness::new();
    let (repo, rev) = git_repo(h.dir.path());
    let mut j = job(vec![
        Step::Checkout,
        Step::Run(run(
            "cat hello.txt; git rev-parse --abbrev-ref HEAD; git rev-parse HEAD; pwd; echo \"cwd=$CIRCLE_WORKING_DIRECTORY\"",
        )),
    ]);
    j.repo_url = repo.path().to_string_lossy().into_owned();
    j.revision = rev.clone();
    j.branch = Some("main".into());
    let rec = Recorder::default();
    let end = h.run(&j, &rec).await;

    let root = h.root_of(&j);
    let project = root.join("project");
    let out = rec.output(2);
    assert!(out.contains("hello from the repo\nmain\n"), "{out}");
    assert!(
        out.contains(&format!("{rev}\n{}\n", project.display())),
        "{out}"
    );
    assert!(out.contains(&format!("cwd={}", project.display())), "{out}");
    assert_eq!(rec.step_end(1), finished(Outcome::Success, Some(0)));
    assert_eq!(
        end,
        JobEnd::Finished(JobFinished {
            outcome: Outcome::Success,
            message: None
        })
    );
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Success);
    // Step 0 is the synthetic one, with the job's notes and the runner's name.
    let spin = rec.output(0);
    assert!(
        spin.contains("cimg/base:stable") && spin.contains("test-runner"),
        "{spin}"
    );
    assert_eq!(rec.started(), [0, 1, 2]);
    assert!(rec.output(1).contains("$ git clone"), "{}", rec.output(1));
    // The job's directory is gone once it ends.
    assert!(!root.exists());
}

#[tokio::test]
async fn checkout_without_a_branch_is_detached_at_the_revision() {
    let h = Harness::new();
    let (repo, rev) = git_repo(h.dir.path());
    let mut j = job(vec![
        Step::Checkout,
        Step::Run(run("git rev-parse --abbrev-ref HEAD; git rev-parse HEAD")),
    ]);
    j.repo_url = repo.url();
    j.revision = rev.clone();
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    assert_eq!(rec.output(2), format!("HEAD\n{rev}\n"));
}

#[tokio::test]
async fn a_repository_that_cannot_be_cloned_is_an_infrastructure_failure() {
    let h = Harness::new();
    let mut j = job(vec![Step::Checkout, Step::Run(run("echo never"))]);
    j.repo_url = h
        .dir
        .path()
        .join("no-such-repo")
        .to_string_lossy()
        .into_owned();
    j.revision = "a".repeat(40);
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    let end = rec.job_end().unwrap();
    assert_eq!(end.outcome, Outcome::InfrastructureFail);
    assert!(end.message.unwrap().contains("clone"));
    assert_eq!(rec.started(), [0, 1]);
    assert!(
        rec.output(1).contains("Could not clone"),
        "{}",
        rec.output(1)
    );
}

#[tokio::test]
async fn a_missing_revision_fails_the_step_and_the_job() {
    let h = Harness::new();
    let (repo, _) = git_repo(h.dir.path());
    let mut j = job(vec![Step::Checkout]);
    j.repo_url = repo.path().to_string_lossy().into_owned();
    j.revision = "0123456789abcdef0123456789abcdef01234567".into();
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    assert_eq!(rec.step_end(1).unwrap().outcome, Outcome::Failed);
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Failed);
}

#[tokio::test]
async fn a_run_step_merges_stdout_and_stderr_in_order_and_reports_its_exit_code() {
    let h = Harness::new();
    let j = job(vec![
        Step::Run(run("echo one; echo two >&2; echo three; exit 3")),
        Step::Run(run("echo not reached")),
    ]);
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    assert_eq!(rec.output(1), "one\ntwo\nthree\nExited with code 3\n");
    assert_eq!(rec.step_end(1), finished(Outcome::Failed, Some(3)));
    assert_eq!(rec.started(), [0, 1]);
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Failed);
}

#[tokio::test]
async fn the_shell_is_bash_with_errexit_and_pipefail() {
    let h = Harness::new();
    let j = job(vec![
        Step::Run(run("false | true\necho after-pipe")),
        run_when("false\necho after-false", When::Always),
        run_when("echo \"$BASH_VERSION\" | grep -q .", When::Always),
    ]);
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    assert!(!rec.output(1).contains("after-pipe"), "{}", rec.output(1));
    assert_eq!(rec.step_end(1), finished(Outcome::Failed, Some(1)));
    assert!(!rec.output(2).contains("after-false"), "{}", rec.output(2));
    assert_eq!(rec.step_end(3), finished(Outcome::Success, Some(0)));
}

#[tokio::test]
async fn when_decides_which_steps_run_after_a_failure() {
    let h = Harness::new();
    let j = job(vec![
        Step::Run(run("exit 1")),
        run_when("echo on-success", When::OnSuccess),
        run_when("echo on-fail", When::OnFail),
        run_when("echo always", When::Always),
    ]);
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    assert_eq!(rec.started(), [0, 1, 3, 4]);
    assert_eq!(rec.output(3), "on-fail\n");
    assert_eq!(rec.output(4), "always\n");
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Failed);

    let ok = job(vec![
        Step::Run(run("true")),
        run_when("echo on-fail", When::OnFail),
        run_when("echo always", When::Always),
    ]);
    let rec = Recorder::default();
    h.run(&ok, &rec).await;
    assert_eq!(rec.started(), [0, 1, 3]);
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Success);
}

#[tokio::test]
async fn no_output_timeout_kills_a_silent_step() {
    let h = Harness::new();
    let mut step = run("echo started; sleep 300");
    step.no_output_timeout = Some(Duration::from_secs(1));
    let j = job(vec![
        Step::Run(step),
        run_when("echo cleanup", When::OnFail),
    ]);
    let rec = Recorder::default();
    let began = Instant::now();
    h.run(&j, &rec).await;
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    let out = rec.output(1);
    assert!(out.starts_with("started\n"), "{out}");
    assert!(
        out.contains("Too long with no output (exceeded 1s)"),
        "{out}"
    );
    assert_eq!(rec.step_end(1), finished(Outcome::Timedout, None));
    assert_eq!(rec.output(2), "cleanup\n");
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Timedout);
}

#[tokio::test]
async fn the_step_timeout_kills_a_long_step() {
    let h = Harness::new();
    let mut j = job(vec![Step::Run(run(
        "while true; do echo tick; sleep 0.2; done",
    ))]);
    j.step_timeout_secs = 1;
    let rec = Recorder::default();
    let began = Instant::now();
    h.run(&j, &rec).await;
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(rec.step_end(1), finished(Outcome::Timedout, None));
    assert!(
        rec.output(1).contains("ran longer than 1s"),
        "{}",
        rec.output(1)
    );
}

/// Whether a live process runs `sleep MARKER` on this host (a zombie waiting for a reaper counts
/// as gone). Found by its command line: inside the sandbox a job's pids are not the host's.
fn sleeping(marker: &str) -> bool {
    let wanted = format!("sleep\0{marker}\0");
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.filter_map(Result::ok).any(|p| {
        let dir = p.path();
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            return false;
        };
        if cmdline != wanted.as_bytes() {
            return false;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        !state.starts_with('Z') && !state.starts_with('X')
    })
}

async fn gone_within(marker: &str, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if !sleeping(marker) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A `sleep` argument no other process has: 300 seconds and a unique fraction.
fn unique_sleep() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    format!(
        "300.{}{:04}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A step whose shell waits on a background `sleep MARKER`, started before it says `ready`.
fn sleeper(marker: &str) -> Step {
    Step::Run(run(&format!(
        "bash -c 'sleep {marker} & echo $! > /tmp/sleep.pid; wait' &\nuntil [ -s /tmp/sleep.pid ]; do sleep 0.05; done; echo ready; wait"
    )))
}

#[tokio::test]
async fn cancel_kills_the_running_step_and_its_children_and_skips_the_rest() {
    let h = Harness::new();
    let marker = unique_sleep();
    let j = job(vec![
        sleeper(&marker),
        run_when("echo always", When::Always),
    ]);
    let rec = Recorder {
        cancel_when_ready: true,
        ..Default::default()
    };
    let began = Instant::now();
    let end = h.run(&j, &rec).await;
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert!(
        gone_within(&marker, Duration::from_secs(3)).await,
        "sleep {marker} survived"
    );
    assert_eq!(rec.step_end(1), finished(Outcome::Canceled, None));
    assert_eq!(rec.started(), [0, 1]);
    assert_eq!(
        end,
        JobEnd::Finished(JobFinished {
            outcome: Outcome::Canceled,
            message: None
        })
    );
}

#[tokio::test]
async fn a_lost_job_is_killed_and_not_finished() {
    let h = Harness::new();
    let marker = unique_sleep();
    let j = job(vec![sleeper(&marker)]);
    let rec = Recorder {
        lose_when_ready: true,
        ..Default::default()
    };
    let end = h.run(&j, &rec).await;
    assert_eq!(end, JobEnd::Lost);
    assert!(
        gone_within(&marker, Duration::from_secs(3)).await,
        "sleep {marker} survived"
    );
    assert_eq!(rec.job_end(), None);
    assert_eq!(rec.step_end(1), None);
}

#[tokio::test]
async fn shutdown_stops_the_job_as_an_infrastructure_failure() {
    let h = Harness::new();
    let marker = unique_sleep();
    let j = job(vec![sleeper(&marker)]);
    let rec = Recorder::default();
    let stop = Stop::new();
    let trigger = async {
        while !rec.ready.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.trigger(StopReason::Shutdown);
    };
    let began = Instant::now();
    let (end, ()) = tokio::join!(h.run_with(&j, &rec, &stop), trigger);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(
        end,
        JobEnd::Finished(JobFinished {
            outcome: Outcome::InfrastructureFail,
            message: Some("runner stopped".into())
        })
    );
    assert_eq!(
        rec.step_end(1).unwrap().outcome,
        Outcome::InfrastructureFail
    );
    assert!(
        gone_within(&marker, Duration::from_secs(3)).await,
        "sleep {marker} survived"
    );
}

#[tokio::test]
async fn step_environment_wins_over_job_environment() {
    let h = Harness::new();
    let mut step = run("echo \"A=$A B=$B C=$C\"");
    step.environment = vec![("A".into(), "step".into()), ("C".into(), "step-c".into())];
    let mut j = job(vec![Step::Run(step), Step::Run(run("echo \"A=$A\""))]);
    j.env = vec![
        ("A".into(), "job".into()),
        ("B".into(), "first".into()),
        ("B".into(), "second".into()),
    ];
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    assert_eq!(rec.output(1), "A=step B=second C=step-c\n");
    assert_eq!(rec.output(2), "A=job\n");
}

#[tokio::test]
async fn working_directories_resolve_inside_the_job_root() {
    let h = Harness::new();
    let mut step = run("pwd");
    step.working_directory = Some("sub/dir".into());
    let mut j = job(vec![
        Step::Run(step),
        Step::Run(RunStep {
            working_directory: Some("~".into()),
            ..run("pwd")
        }),
    ]);
    j.working_directory = "~/src".into();
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    let root = h.root_of(&j);
    assert_eq!(
        rec.output(1),
        format!("{}\n", root.join("src/sub/dir").display())
    );
    assert_eq!(rec.output(2), format!("{}\n", root.display()));
}

#[tokio::test]
async fn secrets_are_masked_in_real_output_even_when_written_in_pieces() {
    let h = Harness::new();
    let mut j = job(vec![Step::Run(run(
        "printf 'pw=hunter2-'; sleep 0.5; printf 'secret done\\n'; echo \"$TOKEN\"; echo abc",
    ))]);
    j.env = vec![("TOKEN".into(), "tok-123456".into())];
    j.masks = vec!["hunter2-secret".into(), "tok-123456".into(), "abc".into()];
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    assert_eq!(rec.output(1), "pw=******** done\n********\nabc\n");
}

#[tokio::test]
async fn test_results_are_parsed_and_broken_reports_only_noted() {
    let h = Harness::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit");
    let j = job(vec![
        Step::Run(run(&format!(
            "mkdir -p results/py results/bad && cp {0}/pytest.xml results/py/ && cp {0}/broken.xml results/bad/ && echo notxml > results/readme.txt",
            fixtures.display()
        ))),
        Step::StoreTestResults {
            path: "results".into(),
        },
    ]);
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    let tests: Vec<_> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Tests(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].tests.len(), 5);
    let out = rec.output(2);
    assert!(
        out.contains("bad/broken.xml: not a readable JUnit report"),
        "{out}"
    );
    assert!(out.contains("py/pytest.xml: 5 tests"), "{out}");
    assert_eq!(rec.step_end(2).unwrap().outcome, Outcome::Success);
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Success);
}

#[tokio::test]
async fn artifacts_are_uploaded_under_their_destination_and_run_after_a_failure() {
    let h = Harness::new();
    let j = job(vec![
        Step::Run(run(
            "mkdir -p out/logs && echo one > out/a.txt && echo two > 'out/logs/b c.log' && ln -s /etc/passwd out/passwd && exit 1",
        )),
        Step::StoreArtifacts {
            path: "out".into(),
            destination: Some("reports".into()),
        },
        Step::StoreArtifacts {
            path: "out/a.txt".into(),
            destination: None,
        },
    ]);
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    let uploaded = rec.uploaded();
    assert_eq!(
        uploaded,
        [
            ("reports/a.txt".into(), "one\n".into()),
            ("reports/logs/b c.log".into(), "two\n".into()),
            ("out/a.txt".into(), "one\n".into()),
        ]
    );
    assert!(
        rec.output(2).contains("passwd: a link to outside"),
        "{}",
        rec.output(2)
    );
    assert_eq!(rec.step_end(2).unwrap().outcome, Outcome::Success);
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Failed);
}

#[tokio::test]
async fn a_server_without_artifact_uploads_fails_the_step_with_a_clear_line() {
    let h = Harness::new();
    let j = job(vec![
        Step::Run(run("mkdir out && echo x > out/x")),
        Step::StoreArtifacts {
            path: "out".into(),
            destination: None,
        },
    ]);
    let rec = Recorder {
        no_artifacts: true,
        ..Default::default()
    };
    h.run(&j, &rec).await;
    assert!(
        rec.output(2)
            .contains("answered 404 Not Found to an artifact upload"),
        "{}",
        rec.output(2)
    );
    assert_eq!(rec.step_end(2).unwrap().outcome, Outcome::Failed);
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Failed);
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_never_names_a_directory() {
    let h = Harness::new();
    let mut j = job(vec![Step::Run(run("touch escaped"))]);
    j.id = "../../escape".into();
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::InfrastructureFail);
    assert!(rec.started().is_empty());
    assert!(!h.dir.path().join("escaped").exists());
}

/// In the sandbox a job writes only under `~` and its own `/tmp`, so that is all the runner
/// (outside the sandbox) uploads for it: `/tmp/x` is the job's, and a host file it could only
/// read, or a file behind a link among the directories above it, is not sent.
#[tokio::test]
async fn uploads_come_only_from_the_jobs_directory_and_its_own_tmp() {
    let h = Harness::new();
    let j = job(vec![
        Step::Run(run(
            "mkdir -p /tmp/results && echo mine > /tmp/results/r.txt && ln -s /etc out-etc",
        )),
        Step::StoreArtifacts {
            path: "/tmp/results".into(),
            destination: Some("results".into()),
        },
        Step::StoreArtifacts {
            path: "/etc/hostname".into(),
            destination: None,
        },
        Step::StoreArtifacts {
            path: "out-etc/hostname".into(),
            destination: None,
        },
    ]);
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    let uploaded = rec.uploaded();
    assert_eq!(uploaded, [("results/r.txt".into(), "mine\n".into())]);
    assert!(
        rec.output(3).contains("outside the job's directories"),
        "{}",
        rec.output(3)
    );
    assert!(
        rec.output(4).contains("outside the job's directory"),
        "{}",
        rec.output(4)
    );
    // The job's /tmp is not the host's.
    assert_ne!(
        std::fs::read_to_string("/tmp/results/r.txt")
            .ok()
            .as_deref(),
        Some("mine\n")
    );
    assert_eq!(rec.job_end().unwrap().outcome, Outcome::Success);
}

/// A local repository inside a path the sandbox hides (the server's data dir, with its
/// mirrors of other projects) is not cloned for a job.
#[tokio::test]
async fn a_repository_in_a_hidden_directory_is_not_checked_out() {
    // Not under /tmp, which every job has a private one of anyway.
    let secret = tempfile::tempdir_in("/var/tmp").unwrap();
    let (origin, revision) = git_repo(secret.path());
    let mut h = Harness::new();
    h.opts.sandbox =
        Sandbox::bubblewrap(vec![secret.path().to_owned()]).expect("bubblewrap works here");
    let mut j = job(vec![Step::Checkout, Step::Run(run("echo never"))]);
    j.repo_url = origin.url();
    j.revision = revision;
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    let end = rec.job_end().unwrap();
    assert_eq!(end.outcome, Outcome::InfrastructureFail, "{end:?}");
    assert!(rec.output(1).contains("may not read"), "{}", rec.output(1));
    assert_eq!(rec.started(), [0, 1]);
}

/// The runner's environment does not reach a job beyond a few harmless variables, and `HOME`
/// is the job's directory.
#[tokio::test]
async fn a_job_inherits_only_harmless_variables_of_the_runner() {
    let h = Harness::new();
    let j = job(vec![Step::Run(run(
        "env | cut -d= -f1 | sort | tr '\\n' ' '; echo; echo \"HOME=$HOME\"",
    ))]);
    let rec = Recorder::default();
    h.run(&j, &rec).await;
    let out = rec.output(1);
    let names: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert!(
        names.contains(&"PATH"),
        "the job's variables were listed: {out}"
    );
    for name in &names {
        let allowed = [
            "PATH",
            "LANG",
            "LANGUAGE",
            "TZ",
            "USER",
            "LOGNAME",
            "SHELL",
            "TERM",
            "RUSTUP_HOME",
            "HOME",
            "TMPDIR",
            "PWD",
            "SHLVL",
            "OLDPWD",
            "_",
        ]
        .contains(name)
            || name.starts_with("LC_")
            || name.starts_with("CIRCLE")
            || *name == "CI";
        assert!(allowed, "the job got the runner's {name}: {out}");
    }
    assert!(
        out.contains(&format!("HOME={}", h.root_of(&j).display())),
        "{out}"
    );
}

#[tokio::test]
async fn setup_remote_docker_needs_docker_and_add_ssh_keys_without_keys_adds_none() {
    let h = Harness::new();
    let rec = Recorder::default();
    let j = job(vec![
        Step::Run(run("echo the job goes on")),
        Step::AddSshKeys {
            fingerprints: vec![],
        },
        Step::Run(run(
            "test -f ~/.ssh/config && echo \"git ssh: $GIT_SSH_COMMAND\"",
        )),
        Step::SetupRemoteDocker { version: None },
    ]);
    h.run(&j, &rec).await;
    assert_eq!(rec.step_end(1), finished(Outcome::Success, Some(0)));
    assert_eq!(rec.step_end(2), finished(Outcome::Success, None));
    assert!(
        rec.output(2).contains("no additional SSH keys"),
        "{}",
        rec.output(2)
    );
    // The job's git uses the job's own ~/.ssh/config.
    assert!(
        rec.output(3).contains("git ssh: ssh -F "),
        "{}",
        rec.output(3)
    );
    assert!(rec.output(3).contains("/.ssh/config"), "{}", rec.output(3));
    // setup_remote_docker needs a Docker engine: this host's, if it has one.
    let docker = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("docker").is_file()));
    let docker_step = rec.step_end(4).expect("setup_remote_docker ran");
    if docker {
        assert_eq!(docker_step.outcome, Outcome::Success);
        assert_eq!(rec.job_end().map(|e| e.outcome), Some(Outcome::Success));
    } else {
        assert_eq!(docker_step.outcome, Outcome::Failed);
        assert!(
            rec.output(4).contains("needs a Docker engine"),
            "{}",
            rec.output(4)
        );
        assert_eq!(rec.job_end().map(|e| e.outcome), Some(Outcome::Failed));
    }
}

#[tokio::test]
async fn a_cache_comes_back_in_another_job_and_a_damaged_one_fails_its_step() {
    let h = Harness::new();
    let rec = Recorder::default();
    let save = job(vec![
        Step::Run(run(
            "mkdir -p ~/.m2/repo node_modules/x /tmp/t && echo jar > ~/.m2/repo/a.jar && echo js > node_modules/x/i.js && echo t > /tmp/t/f && ln -s x node_modules/link",
        )),
        Step::SaveCache {
            key: "v1-{{ .Environment.FLAVOUR }}-{{ checksum \"lock\" }}".into(),
            paths: vec![
                "~/.m2".into(),
                "node_modules".into(),
                "/tmp/t".into(),
                "missing".into(),
            ],
            name: None,
            when: When::OnSuccess,
        },
    ]);
    let mut save = save;
    save.env.push(("FLAVOUR".into(), "plain".into()));
    save.steps.insert(
        0,
        Step::Run(run("mkdir -p ~/project && echo 1 > ~/project/lock")),
    );
    h.run(&save, &rec).await;
    assert_eq!(
        rec.job_end().map(|e| e.outcome),
        Some(Outcome::Success),
        "{}",
        rec.output(3)
    );
    let out = rec.output(3);
    assert!(out.contains("Warning: could not find missing"), "{out}");
    assert!(out.contains("Stored cache v1-plain-"), "{out}");
    assert!(out.contains("4 files"), "{out}");
    let key = rec.caches.lock().unwrap()[0].0.clone();
    // `checksum` is CircleCI's: base64 of the SHA-256 of the file ("1\n").
    assert_eq!(key, "v1-plain-Q1WkaxnTSNwvV8BG+O9j1FOOu5NgAPPJ7pVKJ0YN2GU=");

    let rec2 = Recorder {
        caches: Mutex::new(rec.caches.lock().unwrap().clone()),
        ..Recorder::default()
    };
    let restore = job(vec![
        Step::RestoreCache {
            keys: vec!["v2-".into(), "v1-".into()],
            name: None,
        },
        Step::Run(run(
            "cat ~/.m2/repo/a.jar node_modules/x/i.js /tmp/t/f; readlink node_modules/link",
        )),
    ]);
    h.run(&restore, &rec2).await;
    assert!(
        rec2.output(1)
            .contains(&format!("Found a cache from build 1 at {key}")),
        "{}",
        rec2.output(1)
    );
    assert!(
        rec2.output(1).contains("Restored 4 files"),
        "{}",
        rec2.output(1)
    );
    assert_eq!(rec2.output(2), "jar\njs\nt\nx\n");

    // A flipped byte, or a cut-off download: the step fails and says so.
    for damage in ["flip", "cut"] {
        let mut caches = rec.caches.lock().unwrap().clone();
        let bytes = &mut caches[0].1;
        match damage {
            "flip" => {
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x5a;
            }
            _ => {
                let half = bytes.len() / 2;
                bytes.truncate(half);
            }
        }
        let rec3 = Recorder {
            caches: Mutex::new(caches),
            cut_downloads: damage == "cut",
            ..Recorder::default()
        };
        let again = job(vec![Step::RestoreCache {
            keys: vec!["v1-".into()],
            name: None,
        }]);
        h.run(&again, &rec3).await;
        assert_eq!(
            rec3.step_end(1).map(|e| e.outcome),
            Some(Outcome::Failed),
            "{damage}: {}",
            rec3.output(1)
        );
        let out = rec3.output(1);
        assert!(
            out.contains("Error: ") && out.contains("not fully restored"),
            "{damage}: {out}"
        );
    }
}

/// The attack: a step turns `~/.ssh` into a link to a directory outside the job, hoping the
/// runner (which writes keys outside the sandbox) follows it. It must not write there.
#[tokio::test]
async fn add_ssh_keys_writes_nothing_through_a_link_the_job_planted() {
    let h = Harness::new();
    let rec = Recorder::default();
    let outside = tempfile::tempdir().unwrap();
    let mut j = job(vec![
        Step::Run(run(&format!(
            "rm -rf ~/.ssh && ln -s {} ~/.ssh",
            outside.path().display()
        ))),
        Step::AddSshKeys {
            fingerprints: vec![],
        },
    ]);
    j.ssh_keys.push(circlet_core::runner_protocol::JobSshKey {
        hostname: String::new(),
        fingerprint: "aa:bb".into(),
        fingerprint_sha256: "SHA256:x".into(),
        private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nbody\n-----END OPENSSH PRIVATE KEY-----"
            .into(),
        checkout: false,
    });
    h.run(&j, &rec).await;
    assert_eq!(rec.step_end(1), finished(Outcome::Success, Some(0)));
    assert_eq!(
        rec.step_end(2).map(|e| e.outcome),
        Some(Outcome::Failed),
        "{}",
        rec.output(2)
    );
    assert!(
        rec.output(2).contains("cannot use ~/.ssh"),
        "{}",
        rec.output(2)
    );
    let written: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
    assert!(
        written.is_empty(),
        "the runner wrote outside the job: {written:?}"
    );
}

/// The same attack on `checkout` into a path: a step plants a link where the clone goes.
#[tokio::test]
async fn checkout_writes_nothing_through_a_link_the_job_planted() {
    let h = Harness::new();
    let rec = Recorder::default();
    let outside = tempfile::tempdir().unwrap();
    let repo = GitRepo::with_config("version: 2.1\n");
    let mut j = job(vec![
        Step::Run(run(&format!(
            "mkdir -p ~/project && ln -s {} ~/project/src",
            outside.path().display()
        ))),
        Step::CheckoutInto {
            path: "src/inner".into(),
        },
    ]);
    j.repo_url = repo.url();
    j.revision = repo.head();
    h.run(&j, &rec).await;
    assert_eq!(rec.step_end(1), finished(Outcome::Success, Some(0)));
    assert_eq!(
        rec.step_end(2).map(|e| e.outcome),
        Some(Outcome::Failed),
        "{}",
        rec.output(2)
    );
    let written: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
    assert!(
        written.is_empty(),
        "the clone went outside the job: {written:?}"
    );
}
