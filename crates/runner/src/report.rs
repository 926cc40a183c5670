//! How the job executor tells the world what happens: the [`Reporter`] trait (one call per
//! runner-protocol request about a job) and the [`Stop`] signal that ends a job early.
//!
//! The executor only knows this trait, so it can be driven and tested without HTTP; the HTTP
//! implementation is [`crate::client::HttpReporter`].

use circlet_core::runner_protocol::{
    CacheFound, CacheLookup, HeartbeatReply, JobFinished, StepFinished, StepStarted, TestResults,
    TestTimings, Workspace,
};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;

/// Why a report did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The server says the job is no longer this runner's (409): stop it and send nothing more.
    #[error("the job is no longer this runner's")]
    Lost,
    /// The server does not offer this request (404).
    #[error("the server does not offer this request (404 Not Found)")]
    NotFound,
    /// Anything else: the network, a server error, an unexpected reply.
    #[error("{0}")]
    Failed(String),
}

/// An archive coming from the server (a cache, a workspace layer), read as it arrives.
pub type Download = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// An archive going to the server, in chunks as they are made; an `Err` chunk means the
/// archive could not be finished, and the upload must be abandoned rather than completed.
pub type Upload = tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>;

/// Receives what happens in one job, in order. Each method is one runner-protocol request.
pub trait Reporter: Sync {
    /// A step began.
    fn step_started(
        &self,
        step: &StepStarted,
    ) -> impl Future<Output = Result<(), ReportError>> + Send;

    /// More output of step `index`, already masked; at most `MAX_OUTPUT_CHUNK` bytes.
    fn output(
        &self,
        index: u32,
        text: &str,
    ) -> impl Future<Output = Result<(), ReportError>> + Send;

    /// Step `index` ended.
    fn step_finished(
        &self,
        index: u32,
        end: &StepFinished,
    ) -> impl Future<Output = Result<(), ReportError>> + Send;

    /// Test cases found by a `store_test_results` step; a job may send several batches.
    fn test_results(
        &self,
        results: &TestResults,
    ) -> impl Future<Output = Result<(), ReportError>> + Send;

    /// Uploads the file at `file` as the artifact whose path is `segments` joined by `/`.
    fn artifact(
        &self,
        segments: &[String],
        file: &Path,
    ) -> impl Future<Output = Result<(), ReportError>> + Send;

    /// The cache `lookup` finds, if any.
    fn cache_lookup(
        &self,
        lookup: &CacheLookup,
    ) -> impl Future<Output = Result<Option<CacheFound>, ReportError>> + Send {
        let _ = lookup;
        async { Err(ReportError::NotFound) }
    }

    /// The archive of cache `id`.
    fn cache_download(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Download, ReportError>> + Send {
        let _ = id;
        async { Err(ReportError::NotFound) }
    }

    /// Saves `archive` as the cache `key`; `false` when that key was saved already.
    fn cache_upload(
        &self,
        key: &str,
        archive: Upload,
    ) -> impl Future<Output = Result<bool, ReportError>> + Send {
        let _ = (key, archive);
        async { Err(ReportError::NotFound) }
    }

    /// The workspace layers this job attaches, in order.
    fn workspace(&self) -> impl Future<Output = Result<Workspace, ReportError>> + Send {
        async { Err(ReportError::NotFound) }
    }

    /// The archive of workspace layer `id`.
    fn layer_download(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Download, ReportError>> + Send {
        let _ = id;
        async { Err(ReportError::NotFound) }
    }

    /// Adds `archive` to the workflow's workspace as this job's layer.
    fn layer_upload(
        &self,
        archive: Upload,
    ) -> impl Future<Output = Result<(), ReportError>> + Send {
        let _ = archive;
        async { Err(ReportError::NotFound) }
    }

    /// The project's test timings, for `circleci tests split --split-by=timings`.
    fn timings(&self) -> impl Future<Output = Result<TestTimings, ReportError>> + Send {
        async { Err(ReportError::NotFound) }
    }

    /// The job is still running; the reply says whether a user canceled it.
    fn heartbeat(&self) -> impl Future<Output = Result<HeartbeatReply, ReportError>> + Send;

    /// The job ended.
    fn job_finished(
        &self,
        end: &JobFinished,
    ) -> impl Future<Output = Result<(), ReportError>> + Send;
}

/// Why a job is being stopped before its steps are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A user canceled it (a heartbeat said so): finish it as `canceled`.
    Canceled,
    /// The server gave it away (409): kill it and say nothing more about it.
    Lost,
    /// The runner is shutting down: finish it as `infrastructure_fail`.
    Shutdown,
}

/// A one-shot signal that stops a job: the first reason given wins. Clones share the signal.
#[derive(Debug, Clone)]
pub struct Stop(Arc<watch::Sender<Option<StopReason>>>);

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    /// A signal not yet given.
    pub fn new() -> Stop {
        Stop(Arc::new(watch::Sender::new(None)))
    }

    /// Gives the signal, unless it was given already.
    pub fn trigger(&self, reason: StopReason) {
        self.0.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// The reason, if the signal was given.
    pub fn reason(&self) -> Option<StopReason> {
        *self.0.borrow()
    }

    /// Resolves once the signal is given.
    pub async fn wait(&self) -> StopReason {
        let mut rx = self.0.subscribe();
        let reason = rx.wait_for(Option::is_some).await.ok().and_then(|r| *r);
        match reason {
            Some(reason) => reason,
            // Unreachable while `self` holds the sender; never resolve rather than guess.
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins_and_wakes_waiters() {
        let stop = Stop::new();
        assert_eq!(stop.reason(), None);
        let waiter = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.wait().await })
        };
        stop.trigger(StopReason::Canceled);
        stop.trigger(StopReason::Shutdown);
        assert_eq!(stop.reason(), Some(StopReason::Canceled));
        assert_eq!(waiter.await.unwrap(), StopReason::Canceled);
        // Waiting after the fact resolves at once.
        assert_eq!(stop.wait().await, StopReason::Canceled);
    }
}
