//! The tables [`super`] copies: every column of every table of both backends' migrations,
//! typed for the trip, parents before children. A migration that adds a table or a column adds
//! it here too; `check_schema` refuses a copy (and so fails the copy's tests) until it does.

/// How a column is read from either backend and written to either: the Rust type both
/// backends' native column types map to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// `INTEGER` (SQLite) / `BIGINT` (PostgreSQL).
    Int,
    /// `INTEGER` on both: PostgreSQL's is 4 bytes and decodes only as `i32`.
    Int4,
    /// `REAL` / `DOUBLE PRECISION`.
    Real,
    /// `TEXT`.
    Text,
    /// `INTEGER` 0/1 / `BOOLEAN`.
    Bool,
    /// `BLOB` / `UUID`.
    Uuid,
    /// `BLOB` / `BYTEA`.
    Bytes,
    /// `TEXT` / `TIMESTAMPTZ`.
    Time,
}

/// One table as the copy sees it.
pub(super) struct Table {
    /// The table's name, as in the migrations.
    pub(super) name: &'static str,
    /// Every column; the primary key's columns come first.
    pub(super) columns: &'static [(&'static str, Kind)],
    /// How many leading `columns` make up the primary key: the copy reads in key order and
    /// resumes after the last key of the previous batch.
    pub(super) key: usize,
    /// Whether `id` is generated (`AUTOINCREMENT` / `GENERATED ALWAYS AS IDENTITY`).
    pub(super) identity: bool,
}

use Kind::{Bool, Bytes, Int, Int4, Real, Text, Time};

/// Every table, parents before the children whose foreign keys point at them.
pub(super) const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Int),
            ("uuid", Kind::Uuid),
            ("login", Text),
            ("name", Text),
            ("email", Text),
            ("password_hash", Text),
            ("site_admin", Bool),
            ("disabled", Bool),
            ("created_at", Time),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "sessions",
        columns: &[
            ("digest", Text),
            ("user_id", Int),
            ("created_at", Time),
            ("expires_at", Time),
        ],
        key: 1,
        identity: false,
    },
    Table {
        name: "projects",
        columns: &[
            ("id", Int),
            ("uuid", Kind::Uuid),
            ("slug_key", Text),
            ("vcs", Text),
            ("org", Text),
            ("repo", Text),
            ("repo_url", Text),
            ("default_branch", Text),
            ("public", Bool),
            ("created_at", Time),
            ("next_pipeline_number", Int),
            ("next_build_num", Int),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "project_members",
        columns: &[
            ("project_id", Int),
            ("user_id", Int),
            ("role", Text),
            ("created_at", Time),
        ],
        key: 2,
        identity: false,
    },
    Table {
        name: "api_tokens",
        columns: &[
            ("id", Int),
            ("uuid", Kind::Uuid),
            ("kind", Text),
            ("digest", Bytes),
            ("last4", Text),
            ("name", Text),
            ("user_id", Int),
            ("project_id", Int),
            ("scope", Text),
            ("created_by", Int),
            ("created_at", Time),
            ("expires_at", Time),
            ("last_used_at", Time),
            ("last_used_from", Text),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "api_token_usage",
        columns: &[
            ("token_id", Int),
            ("request_kind", Text),
            ("count", Int),
            ("last_at", Time),
        ],
        key: 2,
        identity: false,
    },
    Table {
        name: "audit_log",
        columns: &[
            ("id", Int),
            ("at", Time),
            ("event", Text),
            ("actor_id", Int),
            ("actor_login", Text),
            ("owner_id", Int),
            ("project_id", Int),
            ("token_uuid", Kind::Uuid),
            ("address", Text),
            ("detail", Text),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "instance_settings",
        columns: &[("name", Text), ("value", Text)],
        key: 1,
        identity: false,
    },
    Table {
        name: "pipelines",
        columns: &[
            ("id", Int),
            ("uuid", Kind::Uuid),
            ("project_id", Int),
            ("number", Int),
            ("trigger_type", Text),
            ("actor_id", Int),
            ("actor_login", Text),
            ("branch", Text),
            ("tag", Text),
            ("revision", Text),
            ("parameters", Text),
            ("state", Text),
            ("errors", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("commit_info", Text),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "pipeline_configs",
        columns: &[("pipeline_id", Int), ("source", Text), ("compiled", Text)],
        key: 1,
        identity: false,
    },
    Table {
        name: "pipeline_setups",
        columns: &[("pipeline_id", Int), ("continued_at", Time)],
        key: 1,
        identity: false,
    },
    Table {
        name: "continuation_keys",
        columns: &[("digest", Text), ("pipeline_id", Int), ("created_at", Time)],
        key: 1,
        identity: false,
    },
    Table {
        name: "workflows",
        columns: &[
            ("id", Int),
            ("uuid", Kind::Uuid),
            ("pipeline_id", Int),
            ("name", Text),
            ("canceled", Bool),
            ("created_at", Time),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "jobs",
        columns: &[
            ("id", Int),
            ("uuid", Kind::Uuid),
            ("project_id", Int),
            ("pipeline_id", Int),
            ("workflow_id", Int),
            ("build_num", Int),
            ("name", Text),
            ("requires", Text),
            ("spec", Text),
            ("state", Text),
            ("why", Text),
            ("retry_of", Int),
            ("build_parameters", Text),
            ("branch", Text),
            ("tag", Text),
            ("revision", Text),
            ("queued_at", Time),
            ("started_at", Time),
            ("stopped_at", Time),
            ("runner_id", Int),
            ("heartbeat_at", Time),
            ("cancel_requested", Bool),
            ("approval", Bool),
            ("accepts", Text),
            ("approved_by", Text),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "job_steps",
        columns: &[
            ("job_id", Int),
            ("idx", Int),
            ("name", Text),
            ("state", Text),
            ("exit_code", Int4),
            ("started_at", Time),
            ("stopped_at", Time),
            ("output_bytes", Int),
        ],
        key: 2,
        identity: false,
    },
    Table {
        name: "job_output",
        columns: &[
            ("job_id", Int),
            ("step_idx", Int),
            ("seq", Int),
            ("at", Time),
            ("text", Text),
        ],
        key: 3,
        identity: false,
    },
    Table {
        name: "job_tests",
        columns: &[
            ("id", Int),
            ("job_id", Int),
            ("classname", Text),
            ("name", Text),
            ("file", Text),
            ("result", Text),
            ("message", Text),
            ("run_time", Real),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "job_artifacts",
        columns: &[
            ("id", Int),
            ("job_id", Int),
            ("node_index", Int),
            ("path", Text),
            ("size", Int),
            ("content_type", Text),
            ("sha256", Text),
            ("store_etag", Text),
            ("created_at", Time),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "orbs",
        columns: &[
            ("id", Int),
            ("namespace", Text),
            ("name", Text),
            ("major", Int),
            ("minor", Int),
            ("patch", Int),
            ("source", Text),
            ("digest", Text),
            ("published_by", Text),
            ("published_at", Time),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "env_vars",
        columns: &[
            ("project_id", Int),
            ("name", Text),
            ("key_id", Text),
            ("sealed", Bytes),
            ("masked", Text),
            ("created_at", Time),
        ],
        key: 2,
        identity: false,
    },
    Table {
        name: "caches",
        columns: &[
            ("id", Int),
            ("project_id", Int),
            ("cache_key", Text),
            ("object", Text),
            ("size", Int),
            ("build_num", Int),
            ("created_at", Time),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "workspace_layers",
        columns: &[
            ("id", Int),
            ("project_id", Int),
            ("workflow_id", Int),
            ("job_id", Int),
            ("object", Text),
            ("size", Int),
            ("created_at", Time),
        ],
        key: 1,
        identity: true,
    },
    Table {
        name: "project_retention",
        columns: &[("project_id", Int), ("days", Int4)],
        key: 1,
        identity: false,
    },
];
