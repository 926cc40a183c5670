//! circlet-server at the level a user sees: the real server on 127.0.0.1:0 with a fresh store,
//! driven over HTTP. Tests written with `both_backends!` run on SQLite and on PostgreSQL.

mod api;
mod app;
mod artifacts;
mod badges;
mod browser;
mod builds;
mod client_address;
mod connections;
mod contexts;
mod env_vars;
mod openapi;
mod ssh_keys;
mod tokens;
mod ui;
mod ui_accounts;
mod ui_admin;
mod ui_badges;
mod ui_pipelines;
mod ui_runners;
mod ui_tokens;
