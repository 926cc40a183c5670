//! A job's nodes (`parallelism: N`): claiming one, its heartbeats, its end, and reaping nodes
//! whose runner went silent. Each node is claimed by one runner; the job is `running` from its
//! first claim and ends when its last node does, with the nodes' combined result
//! ([`circlet_core::build_state::nodes_result`]), in the transaction that ends that node.

use super::queue::Ending;
use super::*;

/// One claimed node of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Its job.
    pub job_id: i64,
    /// Its place among the job's nodes, from 0 (`CIRCLE_NODE_INDEX`).
    pub index: i64,
    /// The id a runner names it by: node 0 has its job's uuid, the others their own.
    pub uuid: Uuid,
    /// `running`, or how it ended.
    pub state: JobState,
    /// The runner (its token id) running or having run it.
    pub runner_id: Option<i64>,
    /// When it was claimed.
    pub started_at: OffsetDateTime,
    /// When it ended.
    pub stopped_at: Option<OffsetDateTime>,
    /// Its runner's last heartbeat.
    pub heartbeat_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct NodeRow {
    job_id: i64,
    node_index: i64,
    uuid: Uuid,
    state: String,
    runner_id: Option<i64>,
    started_at: OffsetDateTime,
    stopped_at: Option<OffsetDateTime>,
    heartbeat_at: OffsetDateTime,
}

impl TryFrom<NodeRow> for NodeRecord {
    type Error = StoreError;
    fn try_from(r: NodeRow) -> Result<Self, StoreError> {
        Ok(NodeRecord {
            job_id: r.job_id,
            index: r.node_index,
            uuid: r.uuid,
            state: JobState::parse(&r.state).ok_or_else(|| corrupt("node state"))?,
            runner_id: r.runner_id,
            started_at: r.started_at,
            stopped_at: r.stopped_at,
            heartbeat_at: r.heartbeat_at,
        })
    }
}

const NODE_COLS: &str =
    "job_id, node_index, uuid, state, runner_id, started_at, stopped_at, heartbeat_at";

impl JobRecord {
    /// The state of each of the job's `parallelism` runs, by index, from its claimed `nodes`:
    /// a run no runner claimed yet is `queued`, or ended as its job did (a cancel).
    pub fn run_states(&self, nodes: &[NodeRecord]) -> Vec<JobState> {
        (0..self.parallelism)
            .map(|i| match nodes.iter().find(|n| n.index == i) {
                Some(node) => node.state,
                None if self.state.is_final() => self.state,
                None => JobState::Queued,
            })
            .collect()
    }
}

/// How a node ends, and who may end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeEnd {
    /// Only when this runner holds it (`None`: anyone).
    pub runner_id: Option<i64>,
    /// Only when its last heartbeat is older than this (the reaper's condition).
    pub silent_before: Option<OffsetDateTime>,
    /// Its final state.
    pub state: JobState,
}

impl NodeEnd {
    /// The runner holding the node ends it as `state`.
    pub fn by(runner_id: i64, state: JobState) -> NodeEnd {
        NodeEnd {
            runner_id: Some(runner_id),
            silent_before: None,
            state,
        }
    }
}

/// A claim's job row and how many of its nodes are claimed with this one.
#[derive(sqlx::FromRow)]
struct Claimed {
    #[sqlx(flatten)]
    job: JobRow,
    nodes_claimed: i64,
}

impl Builds<'_> {
    /// Atomically hands the next node of the oldest job of `class` (`None`: the default pool,
    /// jobs without a self-hosted class) that still has an unclaimed node to runner
    /// `runner_id`; two runners never get one node. A queued job becomes `running` with its
    /// first node; a job a user asked to cancel hands out no more nodes.
    pub async fn claim_next(
        &self,
        runner_id: i64,
        class: Option<&str>,
    ) -> Result<Option<(JobRecord, NodeRecord)>, StoreError> {
        // Shown as the job's and the node's start (to the millisecond); the heartbeat, compared
        // by the reaper, stays in whole seconds.
        let at = now_ms();
        let beat = now();
        // The outer conditions are checked again on the row itself: on PostgreSQL a job
        // canceled or fully claimed while this waited for its lock is left alone.
        let sql = match self.0.kind() {
            crate::BackendKind::Postgres => concat!(
                "UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, $1), nodes_claimed = nodes_claimed + 1 ",
                "WHERE id = (SELECT id FROM jobs WHERE state IN ('queued', 'running') AND nodes_claimed < parallelism ",
                "AND cancel_requested = FALSE AND resource_class IS NOT DISTINCT FROM $2 ",
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) ",
                "AND state IN ('queued', 'running') AND nodes_claimed < parallelism AND cancel_requested = FALSE ",
                "RETURNING nodes_claimed, ",
                job_cols!()
            ),
            // The statement takes SQLite's write lock before it reads: nobody can claim in between.
            crate::BackendKind::Sqlite => concat!(
                "UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, $1), nodes_claimed = nodes_claimed + 1 ",
                "WHERE id = (SELECT id FROM jobs WHERE state IN ('queued', 'running') AND nodes_claimed < parallelism ",
                "AND cancel_requested = FALSE AND resource_class IS $2 ORDER BY id LIMIT 1) ",
                "AND state IN ('queued', 'running') AND nodes_claimed < parallelism AND cancel_requested = FALSE ",
                "RETURNING nodes_claimed, ",
                job_cols!()
            ),
        };
        let insert = format!(
            "INSERT INTO job_nodes ({NODE_COLS}) VALUES ($1, $2, $3, 'running', $4, $5, NULL, $6) RETURNING {NODE_COLS}"
        );
        let claimed: Option<(JobRow, NodeRow)> = announcing!(self.0, Change::Project, tx => async {
            let Some(c): Option<Claimed> = sqlx::query_as(sql).bind(at).bind(class).fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            let index = c.nodes_claimed - 1;
            let uuid = if index == 0 { c.job.uuid } else { Uuid::new_v4() };
            let node: NodeRow = sqlx::query_as(&insert)
                .bind(c.job.id).bind(index).bind(uuid).bind(runner_id).bind(at).bind(beat)
                .fetch_one(&mut *tx).await?;
            Ok::<_, sqlx::Error>(Some((c.job, node)))
        })?;
        claimed
            .map(|(job, node)| Ok((JobRecord::try_from(job)?, NodeRecord::try_from(node)?)))
            .transpose()
    }

    /// Records a heartbeat from the runner running node `index` of `job_id`. `None` when that
    /// runner no longer holds the node (it ended or was taken away); otherwise whether
    /// cancellation of the job was requested.
    pub async fn heartbeat(
        &self,
        job_id: i64,
        index: i64,
        runner_id: i64,
    ) -> Result<Option<bool>, StoreError> {
        let beat = "UPDATE job_nodes SET heartbeat_at = $4 \
                    WHERE job_id = $1 AND node_index = $2 AND runner_id = $3 AND state = 'running'";
        let cancel = "SELECT cancel_requested FROM jobs WHERE id = $1";
        on_pool!(self.0, pool => async {
            let n = sqlx::query(beat).bind(job_id).bind(index).bind(runner_id).bind(now())
                .execute(pool).await?.rows_affected();
            if n == 0 {
                return Ok(None);
            }
            sqlx::query_scalar(cancel).bind(job_id).fetch_optional(pool).await
        }.await)
        .map_err(StoreError::from)
    }

    /// Ends node `index` of `job_id` as `end` says; when it was the job's last running node
    /// (and every node was claimed, or the job is being canceled) the job ends too, with the
    /// nodes' combined result, releasing or giving up what required it. `false` when the node
    /// is not running, not held by that runner, or has sent a heartbeat since
    /// `end.silent_before`. `Invalid` when `end.state` is not final.
    pub async fn finish_node(
        &self,
        job_id: i64,
        index: i64,
        end: NodeEnd,
    ) -> Result<bool, StoreError> {
        if !end.state.is_final() || end.state == JobState::NotRun {
            return Err(StoreError::Invalid(format!(
                "a node cannot finish as {}",
                end.state.as_str()
            )));
        }
        self.end(job_id, Ending::Node { index, end }).await
    }

    /// The node a runner names by `uuid`.
    pub async fn node_by_uuid(&self, uuid: Uuid) -> Result<Option<NodeRecord>, StoreError> {
        let sql = format!("SELECT {NODE_COLS} FROM job_nodes WHERE uuid = $1");
        let row: Option<NodeRow> =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(uuid).fetch_optional(pool).await)?;
        row.map(NodeRecord::try_from).transpose()
    }

    /// A job's claimed nodes, by index.
    pub async fn nodes(&self, job_id: i64) -> Result<Vec<NodeRecord>, StoreError> {
        let sql =
            format!("SELECT {NODE_COLS} FROM job_nodes WHERE job_id = $1 ORDER BY node_index");
        let rows: Vec<NodeRow> =
            on_pool!(self.0, pool => sqlx::query_as(&sql).bind(job_id).fetch_all(pool).await)?;
        rows.into_iter().map(NodeRecord::try_from).collect()
    }

    /// Ends running nodes whose runner has not sent a heartbeat since `deadline` (strictly
    /// before it), as `infrastructure_fail`, ending their jobs when they were the last.
    /// Returns how many nodes.
    pub async fn reap_stale(&self, deadline: OffsetDateTime) -> Result<usize, StoreError> {
        let deadline = ts(deadline);
        let sql = "SELECT job_id, node_index FROM job_nodes WHERE state = 'running' AND heartbeat_at < $1 \
                   ORDER BY job_id, node_index";
        let stale: Vec<(i64, i64)> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(deadline).fetch_all(pool).await)?;
        let mut n = 0;
        for (job_id, index) in stale {
            // Checked again when ending it: a heartbeat since the SELECT saves the node.
            let end = NodeEnd {
                runner_id: None,
                silent_before: Some(deadline),
                state: JobState::InfrastructureFail,
            };
            if self.finish_node(job_id, index, end).await? {
                n += 1;
            }
        }
        Ok(n)
    }
}
