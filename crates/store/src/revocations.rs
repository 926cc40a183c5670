//! Telling every server process that a credential may have lost its rights.
//!
//! The HTTP side keeps verified tokens in memory so that an authenticated request costs no
//! database read. That is only safe if a revocation reaches every process before its next
//! request. This module keeps one number, the *auth generation*, that changes whenever a token
//! is deleted or replaced or a user is disabled, in this process or in any other process on the
//! same database:
//!
//! - SQLite: other processes on the same file (the admin CLI while the server runs) append one
//!   byte to a file beside the database after committing; every reader compares that file's
//!   size and inode with what it saw last, one `stat` per request.
//! - PostgreSQL: the revoking transaction runs `pg_notify('circlet_auth', 'r:…')`, delivered to
//!   every replica's listening connection at commit. Each replica's listener changes its
//!   generation and then acknowledges (`a:…`); the revoking process waits (at most
//!   [`ACK_WAIT`]) for the acknowledgement of every replica it has heard from lately before it
//!   answers, so when the client learns of the revocation, every live replica already refuses
//!   the token. Replicas know each other from a ping each sends every [`PING_EVERY`]. A replica
//!   whose listener is not connected, or has heard nothing (not even its own ping) for
//!   [`DEAF_AFTER`], reports `None` from [`Store::auth_generation`]: callers then trust nothing
//!   cached, so a replica cut off from PostgreSQL cannot keep honouring revoked tokens.
//!
//! A cached entry is valid only while the generation equals the one read *before* the database
//! read that produced the entry; see [`Store::auth_generation`].
//!
//! A second number, the *project generation* ([`Store::project_generation`]), changes whenever
//! a pipeline is created, a job starts, ends or is retried, or a project's settings or members
//! change, so that badges, build lists, projects and roles can be read from memory too. It
//! travels the same way on PostgreSQL (`s:…`, sent after the commit and acknowledged like a
//! revocation, so whoever made the change knows every replica sees it when told it is done). On
//! SQLite only the server process touches builds and changes settings and members (the admin CLI
//! only adds projects, which nobody can have remembered), so it needs no file of its own.

use crate::{Backend, Store};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

mod listener;
use listener::{listen, notify, ping};

/// The PostgreSQL notification channel.
const CHANNEL: &str = "circlet_auth";
/// How long a revoking process waits for the replicas' acknowledgements before answering anyway.
const ACK_WAIT: Duration = Duration::from_secs(2);
/// How often each replica tells the others it is there (and checks that it still hears).
const PING_EVERY: Duration = Duration::from_secs(1);
/// A listener that has heard nothing for this long is treated as deaf; a replica not heard from
/// for this long is not waited for.
const DEAF_AFTER: Duration = Duration::from_secs(3);
/// Delay between attempts to (re)connect the listener.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The auth generation of one store and how other processes' changes reach it.
#[derive(Debug)]
pub(crate) struct Revocations {
    generation: AtomicU64,
    project: AtomicU64,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    Sqlite {
        /// The file other processes append to; `None` for an in-memory database.
        file: Option<PathBuf>,
        /// What was seen of `file` when last looked at, and the file itself once open.
        seen: Mutex<Seen>,
    },
    Postgres {
        /// This process's name among the replicas.
        id: String,
        /// Set while the listener is connected and listening.
        listening: AtomicBool,
        /// Set once the listener task has been started.
        started: AtomicBool,
        /// When the listener last heard anything, in milliseconds since `since`.
        last_heard_ms: AtomicU64,
        /// The origin of `last_heard_ms`.
        since: Instant,
        /// Replicas heard from, and when.
        peers: Mutex<HashMap<String, Instant>>,
        /// Every notification heard, for revokers waiting for acknowledgements.
        heard: broadcast::Sender<String>,
    },
}

/// The revocations file as last seen: (inode, length), and an open handle to it with its
/// inode. With the handle, a look is one `lseek` to the end, the cheapest way to read a file's
/// length (a path `stat` was a third of a badge's system time; even `fstat` fills a whole
/// `statx`). Writers only ever append to the file, never replace or remove it, so the handle's
/// inode is the path's for as long as the process runs.
#[derive(Debug, Default)]
struct Seen {
    stamp: Option<(u64, u64)>,
    open: Option<(u64, std::fs::File)>,
}

impl Seen {
    /// Looks at `file` again; `true` when it changed since the last look.
    fn changed(&mut self, file: &Path) -> bool {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::MetadataExt;
        let now = match &self.open {
            Some((ino, f)) => (&*f).seek(SeekFrom::End(0)).ok().map(|len| (*ino, len)),
            None => {
                self.open = std::fs::File::open(file)
                    .ok()
                    .and_then(|f| Some((f.metadata().ok()?.ino(), f)));
                stamp(file)
            }
        };
        let changed = now != self.stamp;
        self.stamp = now;
        changed
    }
}

impl Revocations {
    /// For a SQLite database at `db` (`None`: in memory).
    pub(crate) fn sqlite(db: Option<&Path>) -> Self {
        let file = db.map(|p| {
            let mut name = p.as_os_str().to_owned();
            name.push(".revocations");
            PathBuf::from(name)
        });
        let mut seen = Seen::default();
        if let Some(file) = &file {
            // Made empty now if missing, so it can be held open from the start; if it cannot
            // be made, it is looked up by path on every look instead.
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(file);
            seen.changed(file);
        }
        let seen = Mutex::new(seen);
        Revocations {
            generation: AtomicU64::new(0),
            project: AtomicU64::new(0),
            mode: Mode::Sqlite { file, seen },
        }
    }

    /// For a PostgreSQL database; deaf until [`Store::watch_revocations`] starts the listener.
    pub(crate) fn postgres() -> Self {
        Revocations {
            generation: AtomicU64::new(0),
            project: AtomicU64::new(0),
            mode: Mode::Postgres {
                id: uuid::Uuid::new_v4().simple().to_string(),
                listening: AtomicBool::new(false),
                started: AtomicBool::new(false),
                last_heard_ms: AtomicU64::new(0),
                since: Instant::now(),
                peers: Mutex::new(HashMap::new()),
                heard: broadcast::channel(256).0,
            },
        }
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn bump_project(&self) {
        self.project.fetch_add(1, Ordering::SeqCst);
    }
}

/// What remembered projects, roles, badge states and build lists are tagged with (see
/// [`Store::project_generation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectGeneration(u64);

/// (inode, length) of the revocations file; `None` when it does not exist.
fn stamp(file: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(file).ok().map(|m| (m.ino(), m.len()))
}

impl Store {
    /// The current auth generation, or `None` when changes from other processes cannot be seen
    /// right now (PostgreSQL listener not connected): then nothing cached may be trusted.
    ///
    /// Read it *before* the database read whose result is cached, and trust the cached result
    /// only while a later call returns the same number.
    pub fn auth_generation(&self) -> Option<u64> {
        let r = &self.revocations;
        if let Mode::Sqlite {
            file: Some(file),
            seen,
        } = &r.mode
            && seen.lock().expect("revocations lock").changed(file)
        {
            r.bump();
        }
        self.hears_others()
            .then(|| r.generation.load(Ordering::SeqCst))
    }

    /// Whether other processes' changes reach this one right now: always on SQLite; on
    /// PostgreSQL while the listener is connected and has heard something lately.
    fn hears_others(&self) -> bool {
        match &self.revocations.mode {
            Mode::Sqlite { .. } => true,
            Mode::Postgres {
                listening,
                last_heard_ms,
                since,
                ..
            } => {
                let heard = Duration::from_millis(last_heard_ms.load(Ordering::SeqCst));
                listening.load(Ordering::SeqCst) && since.elapsed() <= heard + DEAF_AFTER
            }
        }
    }

    /// The current project generation, or `None` when other processes' changes cannot be seen
    /// right now. Read it before the database read whose result is cached. Unlike the auth
    /// generation it costs no system call on SQLite: no other process changes projects there.
    pub fn project_generation(&self) -> Option<ProjectGeneration> {
        self.hears_others()
            .then(|| ProjectGeneration(self.revocations.project.load(Ordering::SeqCst)))
    }

    /// Called after a transaction that created a pipeline, started, ended or retried a job, or
    /// changed a project's settings or members committed: this process stops trusting what it remembers of projects at once, and the
    /// other replicas before this returns.
    pub(crate) async fn project_changed(&self) {
        self.revocations.bump_project();
        if let Backend::Postgres(pool) = &self.backend {
            let (payload, echo) = self.revocation_payload();
            notify(pool, &format!("s:{payload}")).await;
            self.await_acknowledgements(&payload, echo).await;
        }
    }

    /// How many processes listening for revocations on this database (this one included) were
    /// heard from lately: the replicas a revocation waits for. Always 1 on SQLite.
    pub fn auth_peers(&self) -> usize {
        match &self.revocations.mode {
            Mode::Sqlite { .. } => 1,
            Mode::Postgres { peers, .. } => peers
                .lock()
                .expect("peers lock")
                .values()
                .filter(|at| at.elapsed() < DEAF_AFTER)
                .count(),
        }
    }

    /// For a short-lived process about to revoke (the admin CLI): listens, and waits until the
    /// live replicas have been heard from (they answer its hello at once, and ping every
    /// [`PING_EVERY`] anyway), so that the revocation waits for their acknowledgements as the
    /// server's own do. At most [`DEAF_AFTER`] plus one ping interval; nothing to do on SQLite.
    pub async fn join_replicas(&self) {
        if matches!(self.revocations.mode, Mode::Sqlite { .. }) {
            return;
        }
        self.watch_revocations();
        let deadline = Instant::now() + DEAF_AFTER;
        while !self.hears_others() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(PING_EVERY + Duration::from_millis(100)).await;
    }

    /// Starts listening for other replicas' revocations (PostgreSQL; nothing to do for SQLite).
    /// Until the listener is connected, [`Store::auth_generation`] is `None`. Idempotent.
    pub fn watch_revocations(&self) {
        let Mode::Postgres { started, .. } = &self.revocations.mode else {
            return;
        };
        if started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Backend::Postgres(pool) = &self.backend else {
            return;
        };
        let (store, pool2) = (self.clone(), pool.clone());
        tokio::spawn(async move { listen(store, pool2).await });
        let (store, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move { ping(store, pool).await });
    }

    /// The statement a revoking transaction runs with one bound payload: a notification on
    /// PostgreSQL, a no-op on SQLite (whose other processes learn of it from the file).
    pub(crate) fn revocation_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "SELECT $1",
            Backend::Postgres(_) => "SELECT pg_notify('circlet_auth', 'r:' || $1)",
        }
    }

    /// A fresh payload for [`Store::revocation_sql`]; pass the same to [`Store::revoked`].
    pub(crate) fn revocation_payload(&self) -> (String, Option<broadcast::Receiver<String>>) {
        let rx = match &self.revocations.mode {
            Mode::Postgres { heard, .. } => Some(heard.subscribe()),
            Mode::Sqlite { .. } => None,
        };
        (uuid::Uuid::new_v4().to_string(), rx)
    }

    /// Called after a revoking transaction committed: this process stops trusting its cache at
    /// once, and the others learn of it before this returns (see the module docs).
    pub(crate) async fn revoked(&self, payload: &str, echo: Option<broadcast::Receiver<String>>) {
        let r = &self.revocations;
        r.bump();
        match &r.mode {
            Mode::Sqlite {
                file: Some(file), ..
            } => {
                let appended = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(file)
                    .and_then(|mut f| f.write_all(b"."));
                if let Err(e) = appended {
                    tracing::error!(
                        "could not tell other processes of a revocation ({}): {e}",
                        file.display()
                    );
                }
            }
            Mode::Sqlite { file: None, .. } => {}
            Mode::Postgres { .. } => self.await_acknowledgements(payload, echo).await,
        }
    }

    /// Waits (at most [`ACK_WAIT`]) until every replica heard from lately acknowledged the
    /// notification with `payload`; `echo` was subscribed before it was sent.
    async fn await_acknowledgements(
        &self,
        payload: &str,
        echo: Option<broadcast::Receiver<String>>,
    ) {
        match &self.revocations.mode {
            Mode::Sqlite { .. } => {}
            Mode::Postgres {
                listening, peers, ..
            } => {
                let Some(mut echo) = echo else { return };
                if !listening.load(Ordering::SeqCst) {
                    return;
                }
                let mut waiting: HashSet<String> = peers
                    .lock()
                    .expect("peers lock")
                    .iter()
                    .filter(|(_, at)| at.elapsed() < DEAF_AFTER)
                    .map(|(id, _)| id.clone())
                    .collect();
                let prefix = format!("a:{payload}:");
                let acked = tokio::time::timeout(ACK_WAIT, async {
                    while !waiting.is_empty() {
                        match echo.recv().await {
                            Ok(m) => {
                                if let Some(id) = m.strip_prefix(&prefix) {
                                    waiting.remove(id);
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => {}
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                })
                .await;
                if acked.is_err() {
                    tracing::warn!(
                        "{} replica(s) did not acknowledge a revocation or project change within \
                         {ACK_WAIT:?}; they stop trusting their caches within {DEAF_AFTER:?}",
                        waiting.len()
                    );
                }
            }
        }
    }
}
