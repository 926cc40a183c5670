//! Running one command of a step: in its own process group, stdout and stderr merged into one
//! pipe (so they interleave as they were written), with a step timeout, a no-output timeout and
//! the job's stop signal. Ending a command always ends its whole process group, so nothing a
//! step started outlives it.

use crate::output::OutputSink;
use crate::report::{Reporter, Stop, StopReason};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep_until};

/// How often output is sent while it flows.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(300);

/// What to run.
pub(crate) struct CommandSpec {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Where it runs (must exist).
    pub cwd: PathBuf,
    /// Its whole environment, in order: a later entry wins over an earlier one of the same name.
    pub env: Vec<(String, String)>,
}

/// The limits a command runs under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The longest it may run.
    pub timeout: Option<Duration>,
    /// The longest it may go without output.
    pub no_output: Option<Duration>,
    /// How long after SIGTERM the group gets SIGKILL.
    pub kill_grace: Duration,
}

/// How a command ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// It exited by itself: its exit code, or `None` when a signal ended it.
    Exited(Option<i32>),
    /// It ran longer than `timeout` and was killed.
    TimedOut,
    /// It went without output longer than `no_output` and was killed.
    NoOutput,
    /// The job was stopped and it was killed.
    Stopped(StopReason),
    /// It could not be started.
    NotStarted(std::io::Error),
}

/// Kills the group if a command is abandoned (its task aborted) before it was reaped.
struct GroupGuard {
    pgid: Pid,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
    }
}

/// Runs `spec`, streaming its output into `sink`, until it exits or a limit or the stop signal
/// ends it.
pub(crate) async fn run<R: Reporter>(
    spec: CommandSpec,
    sink: &mut OutputSink<'_, R>,
    limits: Limits,
    stop: &Stop,
) -> Ended {
    let (mut child, mut reader, mut guard) = match spawn(spec) {
        Ok(started) => started,
        Err(e) => return Ended::NotStarted(e),
    };
    let started = Instant::now();
    let deadline = limits.timeout.map(|t| started + t);
    let mut last_output = started;
    let mut buf = vec![0u8; 64 * 1024];
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Once the leader exited: its exit code, or `None` when a signal ended it.
    let mut status: Option<Option<i32>> = None;
    let mut eof = false;
    // Set once the leader has exited but something it left behind still holds the pipe.
    let mut leftovers_deadline: Option<Instant> = None;

    let ended = loop {
        if eof && let Some(code) = status {
            break Ended::Exited(code);
        }
        let silent_until = limits.no_output.map(|d| last_output + d);
        tokio::select! {
            n = reader.read(&mut buf), if !eof => match n {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => {
                    sink.push(&buf[..n]);
                    last_output = Instant::now();
                    if sink.is_full() {
                        sink.flush().await;
                    }
                }
            },
            st = child.wait(), if status.is_none() => {
                status = Some(st.ok().and_then(|s| s.code()));
                if !eof {
                    // The step is over when its shell exits; whatever it started in the
                    // background goes with it (CircleCI's `background: true` is not supported).
                    let _ = killpg(guard.pgid, Signal::SIGTERM);
                    leftovers_deadline = Some(Instant::now() + limits.kill_grace);
                }
            },
            _ = flush.tick() => sink.flush().await,
            _ = sleep_until_opt(leftovers_deadline) => {
                let _ = killpg(guard.pgid, Signal::SIGKILL);
                // Something outside the group (a daemonized grandchild) may still hold the pipe.
                drain(&mut reader, sink, &mut buf, Duration::from_millis(500)).await;
                break Ended::Exited(status.flatten());
            },
            _ = sleep_until_opt(deadline), if status.is_none() => break Ended::TimedOut,
            _ = sleep_until_opt(silent_until), if status.is_none() => break Ended::NoOutput,
            reason = stop.wait(), if status.is_none() => break Ended::Stopped(reason),
        }
    };
    if !matches!(ended, Ended::Exited(_)) {
        terminate(&mut child, guard.pgid, limits.kill_grace).await;
        drain(&mut reader, sink, &mut buf, Duration::from_millis(500)).await;
    }
    // Anything left in the group after its leader exited gets no more time.
    let _ = killpg(guard.pgid, Signal::SIGKILL);
    guard.armed = false;
    ended
}

/// Starts the command in a new process group with stdout and stderr on one pipe.
fn spawn(spec: CommandSpec) -> std::io::Result<(Child, pipe::Receiver, GroupGuard)> {
    let (read_end, write_end) = std::io::pipe()?;
    let err_end = write_end.try_clone()?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::from(err_end))
        .process_group(0);
    let child = cmd.spawn()?;
    // The command holds our copies of the write end; until they close, the pipe never ends.
    drop(cmd);
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| std::io::Error::other("the child has no pid"))?;
    let guard = GroupGuard {
        pgid: Pid::from_raw(pid),
        armed: true,
    };
    let reader = pipe::Receiver::from_owned_fd(OwnedFd::from(read_end))?;
    Ok((child, reader, guard))
}

/// SIGTERM to the group; SIGKILL after `grace` if the leader has not exited.
async fn terminate(child: &mut Child, pgid: Pid, grace: Duration) {
    let _ = killpg(pgid, Signal::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = child.wait().await;
    }
    // Members that ignored SIGTERM while the leader did not.
    let _ = killpg(pgid, Signal::SIGKILL);
}

/// Reads what is still in the pipe, for at most `limit`.
async fn drain<R: Reporter>(
    reader: &mut pipe::Receiver,
    sink: &mut OutputSink<'_, R>,
    buf: &mut [u8],
    limit: Duration,
) {
    let until = Instant::now() + limit;
    while let Ok(Ok(n)) = tokio::time::timeout_at(until, reader.read(buf)).await {
        if n == 0 {
            break;
        }
        sink.push(&buf[..n]);
    }
}

/// Sleeps until `at`, or forever when there is no deadline.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
