//! Scaffolding that every circlet crate's tests share, kept in one place rather than copied per
//! crate: [`both_backends!`] (each test written once, run on SQLite and on PostgreSQL),
//! [`GitRepo`] (a real git repository to build from), [`Sshd`] (a real SSH server serving it),
//! [`SmtpSink`] (a real SMTP server keeping what it is sent) and [`csrf_in`] (the CSRF field of
//! a page).
//!
//! Only ever a dev-dependency. It depends on no circlet crate, so the runner's tests can use it
//! without the store; the fresh database per test is `circlet_store::testkit::TestDb`.

mod forms;
mod git_repo;
mod smtp;
mod sshd;

pub use forms::csrf_in;
pub use git_repo::GitRepo;
pub use smtp::{Mail, SmtpSink, free_port};
pub use sshd::Sshd;

/// Writes each test once and runs it on SQLite and on PostgreSQL: every test comes out twice,
/// as `sqlite::<name>` and `postgres::<name>`, in modules that see everything of the module the
/// macro is called in. Call it once per module (wrap a second call in a module of its own).
/// The calling crate depends on `circlet-store` (for `BackendKind`) and `tokio`.
///
/// Cases are either functions beside the call, named in a list, or written inline:
///
/// ```text
/// // Each case is `async fn(BackendKind)`.
/// both_backends!(serve_starts, serve_stops);
///
/// // Each test awaits `fresh_store(kind, case)`: the runner sets up what the case takes
/// // (here `async fn(Store)`), runs it, and cleans up.
/// both_backends!(run = fresh_store; users_create, users_list);
///
/// // Inline: `app` is `TestApp::spawn(kind).await`; values after it are passed to the setup
/// // too (`async fn name(app, tune)` awaits `TestApp::spawn_with(kind, tune)`).
/// both_backends! {
///     setup = TestApp::spawn;
///     async fn the_dashboard_loads(app) { … }
/// }
/// ```
///
/// Tests are `#[tokio::test]`; an attribute written first replaces it for every test of the
/// call, e.g. `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.
#[macro_export]
macro_rules! both_backends {
    // One module per backend; each body runs with `$kind` bound to that backend.
    (@emit [$attr:meta] $kind:ident; $($name:ident $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[$attr]
                async fn $name() {
                    let $kind = ::circlet_store::BackendKind::Sqlite;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[$attr]
                async fn $name() {
                    let $kind = ::circlet_store::BackendKind::Postgres;
                    $body
                }
            )*
        }
    };
    (@with [$attr:meta] run = $run:path; $($case:ident),+ $(,)?) => {
        $crate::both_backends!(@emit [$attr] kind; $($case { $run(kind, super::$case).await; })+);
    };
    (@with [$attr:meta] setup = $setup:path;
        $(async fn $name:ident($arg:ident $(, $extra:expr)*) $body:block)*
    ) => {
        $crate::both_backends!(@emit [$attr] kind; $($name {
            let $arg = $setup(kind $(, $extra)*).await;
            $body
        })*);
    };
    (@with [$attr:meta] $($case:ident),+ $(,)?) => {
        $crate::both_backends!(@emit [$attr] kind; $($case { super::$case(kind).await; })+);
    };
    (@$($unknown:tt)*) => {
        ::core::compile_error!(
            "both_backends!: expected `case, …`, `run = path; case, …` or \
             `setup = path; async fn name(arg) { … } …`"
        );
    };
    (#[$attr:meta] $($rest:tt)*) => {
        $crate::both_backends!(@with [$attr] $($rest)*);
    };
    ($($rest:tt)*) => {
        $crate::both_backends!(@with [tokio::test] $($rest)*);
    };
}
