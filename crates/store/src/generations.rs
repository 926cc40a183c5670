//! The two generations that tell a server process its memory may be stale, and the one
//! operation that moves either: [`announcing!`]. Named for what it carries, both numbers on one
//! channel; it was `revocations` while it carried only the first.
//!
//! The HTTP side keeps verified tokens in memory so that an authenticated request costs no
//! database read. That is only safe if a revocation reaches every process before its next
//! request. The *auth generation* ([`Store::auth_generation`]) changes whenever a token is
//! deleted or replaced or a user is disabled or enabled, in this process or in any other process
//! on the same database. The *project generation* ([`Store::project_generation`]) changes
//! whenever a pipeline is created, a job starts or ends (a workflow canceled, a job reaped) or is
//! retried, or a project's settings, members or variables change, so that badges, build lists,
//! projects and roles can be read from memory too.
//!
//! A write that moves one is written inside [`announcing!`], which runs it in one transaction
//! and, when it changed something, does every step in this order before the caller gets its
//! answer: the announcement goes into the transaction (PostgreSQL), the transaction commits, this
//! process's generation moves, the other processes are told (SQLite: the file below) and the
//! live replicas' acknowledgements are awaited (PostgreSQL). No step is the caller's to remember:
//!
//! - SQLite: a revoking process appends one byte to a file beside the database after committing;
//!   every reader compares that file's size and inode with what it saw last, one `lseek` per
//!   look. A project change needs no file: only the server process builds, and the web UI and
//!   API that change settings, members and variables are the server's. The admin CLI's
//!   `project add-member` is the exception: on SQLite a running server learns of it only when
//!   what it remembered expires (its time to live, 60 s).
//! - PostgreSQL: the changing transaction runs `pg_notify('circlet_auth', 'r:…')` (a revocation)
//!   or `'s:…'` (a project change), delivered to every replica's listening connection at
//!   commit. Each replica's listener changes its generation and then acknowledges (`a:…`); the
//!   changing process waits (at most [`ACK_WAIT`]) for the acknowledgement of every replica it
//!   has heard from lately before it answers, so when the client learns of the change, every
//!   live replica already sees it. Replicas know each other from a ping each sends every
//!   [`PING_EVERY`]. A process that was not listening yet (the admin CLI) starts listening at its
//!   first announcement and first hears the live replicas (see [`Store::join`]). A replica whose
//!   listener is not connected, or has heard nothing (not even its own ping) for [`DEAF_AFTER`],
//!   reports `None` from either generation: callers then trust nothing remembered, so a replica
//!   cut off from PostgreSQL cannot keep honouring revoked tokens.
//!
//! A remembered entry is valid only while the generation equals the one read *before* the
//! database read that produced the entry; see [`Store::auth_generation`].

use crate::{Backend, Store};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, broadcast};

mod listener;
use listener::{listen, ping};

/// The PostgreSQL notification channel.
const CHANNEL: &str = "circlet_auth";
/// How long a changing process waits for the replicas' acknowledgements before answering anyway.
const ACK_WAIT: Duration = Duration::from_secs(2);
/// How often each replica tells the others it is there (and checks that it still hears).
const PING_EVERY: Duration = Duration::from_secs(1);
/// A listener that has heard nothing for this long is treated as deaf; a replica not heard from
/// for this long is not waited for.
const DEAF_AFTER: Duration = Duration::from_secs(3);
/// Delay between attempts to (re)connect the listener.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Runs `$body`, an `async` block over the open transaction `$tx` whose value is a
/// `Result<_, sqlx::Error>`, on `$store` and, when its outcome says something changed
/// ([`Outcome`]), announces `$change` ([`Change`]) with it; the value is the body's outcome as a
/// `Result<_, StoreError>`. Every step of the module docs happens before the value is ready:
/// the announcement is sent inside the transaction, the transaction commits, and then
/// [`Store::announced`] runs. An outcome of "nothing changed", or an error, rolls the
/// transaction back and announces nothing.
macro_rules! announcing {
    ($store:expr, $change:expr, $tx:ident => $body:expr) => {
        async {
            let store: &$crate::Store = $store;
            let announcement = store.announcement($change).await;
            let outcome = $crate::on_pool!(store, pool => async {
                let mut $tx = pool.begin().await?;
                let outcome = $body.await?;
                if $crate::generations::Outcome::changed(&outcome) {
                    if let Some(sql) = announcement.statement() {
                        sqlx::query(sql).bind(announcement.payload()).execute(&mut *$tx).await?;
                    }
                    $tx.commit().await?;
                }
                Ok::<_, sqlx::Error>(outcome)
            }.await)?;
            if $crate::generations::Outcome::changed(&outcome) {
                store.announced(announcement).await;
            }
            Ok::<_, $crate::StoreError>(outcome)
        }
        .await
    };
}
pub(crate) use announcing;

/// Which generation a change moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// A token deleted or replaced, a user disabled or enabled: the auth generation.
    Revocation,
    /// A pipeline, a job, or a project's settings, members or variables: the project generation.
    Project,
}

/// What an [`announcing!`] body's outcome says about whether it changed anything.
pub(crate) trait Outcome {
    /// `true` when the write changed something: its transaction commits and is announced.
    fn changed(&self) -> bool;
}

/// `Some`: the row written.
impl<T> Outcome for Option<T> {
    fn changed(&self) -> bool {
        self.is_some()
    }
}

/// `true`: something was written.
impl Outcome for bool {
    fn changed(&self) -> bool {
        *self
    }
}

/// `Ok`: the write was made; `Err`: why it was not (the caller's to report).
impl<T, E> Outcome for Result<T, E> {
    fn changed(&self) -> bool {
        self.is_ok()
    }
}

/// One change on its way, from before its transaction until every live replica acknowledged it.
#[derive(Debug)]
pub(crate) struct Announcement {
    change: Change,
    payload: String,
    /// Every notification heard, subscribed to before this one is sent: there exactly on
    /// PostgreSQL.
    echo: Option<broadcast::Receiver<String>>,
}

impl Announcement {
    /// The statement the changing transaction runs with [`Announcement::payload`] bound: a
    /// notification delivered at commit (PostgreSQL); `None` on SQLite, whose other processes
    /// learn of a revocation from the file after the commit.
    pub(crate) fn statement(&self) -> Option<&'static str> {
        self.echo.as_ref()?;
        Some(match self.change {
            Change::Revocation => "SELECT pg_notify('circlet_auth', 'r:' || $1)",
            Change::Project => "SELECT pg_notify('circlet_auth', 's:' || $1)",
        })
    }

    /// What names this change in its notification and its acknowledgements.
    pub(crate) fn payload(&self) -> &str {
        &self.payload
    }
}

/// Both generations of one store and how other processes' changes reach them.
#[derive(Debug)]
pub(crate) struct Generations {
    auth: AtomicU64,
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
        /// Every notification heard, for announcers waiting for acknowledgements.
        heard: broadcast::Sender<String>,
        /// Set once this process has heard the live replicas before its first announcement.
        joined: OnceCell<()>,
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

impl Generations {
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
        Generations {
            auth: AtomicU64::new(0),
            project: AtomicU64::new(0),
            mode: Mode::Sqlite { file, seen },
        }
    }

    /// For a PostgreSQL database; deaf until [`Store::watch_revocations`] starts the listener.
    pub(crate) fn postgres() -> Self {
        Generations {
            auth: AtomicU64::new(0),
            project: AtomicU64::new(0),
            mode: Mode::Postgres {
                id: uuid::Uuid::new_v4().simple().to_string(),
                listening: AtomicBool::new(false),
                started: AtomicBool::new(false),
                last_heard_ms: AtomicU64::new(0),
                since: Instant::now(),
                peers: Mutex::new(HashMap::new()),
                heard: broadcast::channel(256).0,
                joined: OnceCell::new(),
            },
        }
    }

    /// Moves the generation `change` names, in this process only.
    fn bump(&self, change: Change) {
        match change {
            Change::Revocation => &self.auth,
            Change::Project => &self.project,
        }
        .fetch_add(1, Ordering::SeqCst);
    }

    /// Moves both: anything may have changed while nobody listened.
    fn bump_both(&self) {
        self.bump(Change::Revocation);
        self.bump(Change::Project);
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
        let g = &self.generations;
        if let Mode::Sqlite {
            file: Some(file),
            seen,
        } = &g.mode
            && seen.lock().expect("revocations lock").changed(file)
        {
            g.bump(Change::Revocation);
        }
        self.hears_others().then(|| g.auth.load(Ordering::SeqCst))
    }

    /// The current project generation, or `None` when other processes' changes cannot be seen
    /// right now. Read it before the database read whose result is cached. Unlike the auth
    /// generation it costs no system call on SQLite (see the module docs).
    pub fn project_generation(&self) -> Option<ProjectGeneration> {
        self.hears_others()
            .then(|| ProjectGeneration(self.generations.project.load(Ordering::SeqCst)))
    }

    /// Whether other processes' changes reach this one right now: always on SQLite; on
    /// PostgreSQL while the listener is connected and has heard something lately.
    fn hears_others(&self) -> bool {
        match &self.generations.mode {
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

    /// How many processes listening on this database (this one included) were heard from
    /// lately: the replicas an announcement waits for. Always 1 on SQLite.
    pub fn auth_peers(&self) -> usize {
        match &self.generations.mode {
            Mode::Sqlite { .. } => 1,
            Mode::Postgres { peers, .. } => peers
                .lock()
                .expect("peers lock")
                .values()
                .filter(|at| at.elapsed() < DEAF_AFTER)
                .count(),
        }
    }

    /// Starts listening for other replicas' revocations and project changes (PostgreSQL;
    /// nothing to do for SQLite). Until the listener is connected, both generations are `None`.
    /// Idempotent. A server calls it at start-up; a process that announces a change without
    /// having called it starts listening then (see [`Store::join`]).
    pub fn watch_revocations(&self) {
        self.start_listening();
    }

    /// Starts the listener and its pings unless they were started before; `true` when this call
    /// started them.
    fn start_listening(&self) -> bool {
        let (Mode::Postgres { started, .. }, Backend::Postgres(pool)) =
            (&self.generations.mode, &self.backend)
        else {
            return false;
        };
        if started.swap(true, Ordering::SeqCst) {
            return false;
        }
        let (store, pool2) = (self.clone(), pool.clone());
        tokio::spawn(async move { listen(store, pool2).await });
        let (store, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move { ping(store, pool).await });
        true
    }

    /// Readies an announcement of `change` for [`announcing!`] (nothing else calls it), before
    /// its transaction begins: on PostgreSQL this process first joins the replicas (once; see
    /// [`Store::join`]), then subscribes to what its listener hears, so that no acknowledgement
    /// can arrive unseen.
    pub(crate) async fn announcement(&self, change: Change) -> Announcement {
        self.join().await;
        let echo = match &self.generations.mode {
            Mode::Postgres { heard, .. } => Some(heard.subscribe()),
            Mode::Sqlite { .. } => None,
        };
        Announcement {
            change,
            payload: uuid::Uuid::new_v4().to_string(),
            echo,
        }
    }

    /// The first time a process that never called [`Store::watch_revocations`] announces (the
    /// admin CLI; PostgreSQL): starts listening, and waits until the live replicas have been
    /// heard from (they answer the listener's hello at once, and ping every [`PING_EVERY`]
    /// anyway), so that the announcement waits for their acknowledgements as a server's does.
    /// Once per process, at most [`DEAF_AFTER`] plus one ping interval. A server, listening
    /// since start-up, does not wait here.
    async fn join(&self) {
        let Mode::Postgres { joined, .. } = &self.generations.mode else {
            return;
        };
        joined
            .get_or_init(|| async {
                if !self.start_listening() {
                    return;
                }
                let deadline = Instant::now() + DEAF_AFTER;
                while !self.hears_others() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(PING_EVERY + Duration::from_millis(100)).await;
            })
            .await;
    }

    /// The end of [`announcing!`] (nothing else calls it), once the change committed: this
    /// process stops trusting what it remembers at once, the other processes on a SQLite file
    /// are told through it (a revocation), and the live PostgreSQL replicas acknowledge before
    /// this returns.
    pub(crate) async fn announced(&self, announcement: Announcement) {
        let g = &self.generations;
        g.bump(announcement.change);
        match &g.mode {
            Mode::Sqlite {
                file: Some(file), ..
            } if announcement.change == Change::Revocation => {
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
            Mode::Sqlite { .. } => {}
            Mode::Postgres {
                listening, peers, ..
            } => {
                let Some(mut echo) = announcement.echo else {
                    return;
                };
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
                let prefix = format!("a:{}:", announcement.payload);
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
