//! The `circlet` binary driven as its users drive it: started as a process with flags,
//! environment and config files; watched through its exit code, stdout and stderr; reached over
//! HTTP like a browser would. The store is read directly only to confirm what a command did.
//!
//! This file holds the harness (running the binary, a served instance, a browser-like client);
//! each module holds one use-case: `serve` (lifecycle and start-up failures), `admin` (the admin
//! CLI on both backends), `config` (`config check`), `login` (a CLI-made user in the browser),
//! `runner` (`circlet runner`'s start-up and shutdown), `tokens` (`admin token` and
//! `admin audit` against a running server), `notices` (token notices emailed to a real SMTP
//! server), `migrate_store` (moving an installation from
//! SQLite to PostgreSQL), `faults` (kill -9, a stopped database, a killed runner, a full disk),
//! `scale_out` (three replicas on one PostgreSQL, via scripts/scale-out), `soak` (a minute of
//! mixed load) and `hostile` (bad tokens from the runner's address, control characters in job
//! names, more connections than open files).

mod admin;
mod artifacts;
mod builds;
mod circleci_tool;
mod config;
mod faults;
mod hostile;
mod leak_reports;
mod login;
mod migrate_store;
mod notices;
mod oidc;
mod runner;
mod sandbox;
mod scale_out;
mod serve;
mod soak;
mod tls;
mod tokens;
mod webhooks;

use circlet_store::testkit::TestDb;
use circlet_store::{BackendKind, Store};
use circlet_testkit::csrf_in;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_circlet");

/// How long any single step (a command, a start-up, a shutdown) may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// A `circlet` command with an environment free of the caller's `CIRCLET_*` settings, run in
/// `cwd` so that defaults such as `./circlet-data` land in a temporary directory.
fn circlet(cwd: &Path) -> Command {
    scrubbed(Command::new(BIN), cwd)
}

/// `circlet` started through `wrapper`, a program and its arguments that end by running the
/// command that follows them (like `unshare … sh -c '…; exec "$@"'`), with the same clean
/// environment as [`circlet`].
fn circlet_wrapped(cwd: &Path, wrapper: &[OsString]) -> Command {
    let (program, args) = wrapper.split_first().expect("a wrapper program");
    let mut cmd = Command::new(program);
    cmd.args(args).arg(BIN);
    scrubbed(cmd, cwd)
}

/// `cmd` without the caller's `CIRCLET_*` settings, run in `cwd`.
fn scrubbed(mut cmd: Command, cwd: &Path) -> Command {
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("CIRCLET_") || name == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    // A panic would print a backtrace; the failure-mode tests check that none does.
    cmd.current_dir(cwd).env("RUST_BACKTRACE", "1");
    cmd
}

/// What a finished `circlet` run left behind.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Runs `cmd` to completion, feeding it `stdin`; fails the test if it outlives [`DEADLINE`].
    fn of(mut cmd: Command, stdin: Option<&str>) -> Run {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start circlet");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(text.as_bytes())
                .expect("write to circlet's stdin");
        }
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = match rx.recv_timeout(DEADLINE) {
            Ok(output) => output.expect("wait for circlet"),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("circlet {cmd:?} did not finish within {DEADLINE:?}");
            }
        };
        Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the run succeeded and returns its stdout.
    fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts the run failed the way every circlet failure must: a non-zero exit, exactly one
    /// `circlet: error:` line, last on stderr, and no panic. Returns that line.
    fn error_line(&self) -> &str {
        assert!(
            !self.status.success(),
            "expected a failure, got {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("stack backtrace"),
            "circlet panicked:\n{}",
            self.stderr
        );
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("circlet: error:"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "expected one `circlet: error:` line on stderr:\n{}",
            self.stderr
        );
        assert_eq!(
            self.stderr.lines().last(),
            Some(errors[0]),
            "the error line should be the last thing printed:\n{}",
            self.stderr
        );
        errors[0]
    }

    /// Asserts the run failed cleanly (see [`Run::error_line`]) with a line containing every
    /// one of `fragments`.
    fn fails_with(&self, fragments: &[&str]) {
        let line = self.error_line();
        for fragment in fragments {
            assert!(
                line.contains(fragment),
                "error line should mention {fragment:?}: {line}"
            );
        }
    }
}

/// An empty circlet installation on one backend: a data dir and, for PostgreSQL, a database
/// of its own. The flags that point circlet at it are [`Instance::args`].
struct Instance {
    db: TestDb,
    data_dir: PathBuf,
}

impl Instance {
    async fn new(kind: BackendKind) -> Instance {
        let db = TestDb::new(kind).await;
        let data_dir = match kind {
            // The default database URL is `circlet.db` in the data dir, which is where the
            // test database lives: this exercises the default rather than passing the URL.
            BackendKind::Sqlite => db.dir().to_owned(),
            BackendKind::Postgres => db.dir().join("data"),
        };
        Instance { db, data_dir }
    }

    /// The global flags that select this installation.
    fn args(&self) -> Vec<OsString> {
        let mut args = vec!["--data-dir".into(), self.data_dir.clone().into()];
        if self.db.kind == BackendKind::Postgres {
            args.extend(["--database-url".into(), self.db.url.clone().into()]);
        }
        args
    }

    /// Runs `circlet <args> admin <command…>` against this installation.
    fn admin(&self, command: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = circlet(self.db.dir());
        cmd.args(self.args()).arg("admin").args(command);
        Run::of(cmd, stdin)
    }

    /// Starts `circlet serve` on an ephemeral port.
    fn serve(&self) -> Server {
        let mut args = self.args();
        args.extend(["--listen".into(), "127.0.0.1:0".into()]);
        Server::start(self.db.dir(), &args)
    }

    /// A direct connection to the store, for checking what a command did.
    async fn store(&self) -> Store {
        self.db.store().await
    }
}

/// A running `circlet serve`, with its stderr collected line by line.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl Server {
    /// Starts `circlet <args> serve` in `cwd` and waits until it says where it listens.
    fn start(cwd: &Path, args: &[OsString]) -> Server {
        Server::start_command(circlet(cwd), args)
    }

    /// Starts `cmd` (a [`circlet`] or [`circlet_wrapped`] command) with `<args> serve` and waits
    /// until it says where it listens.
    fn start_command(mut cmd: Command, args: &[OsString]) -> Server {
        cmd.args(args)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start circlet serve");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            scheme: "http",
            lines,
            log: Vec::new(),
        };
        let line = server.wait_for("the listening line", |l| {
            l.contains("circlet listening on http")
        });
        let rest = &line[line.find("circlet listening on ").unwrap()..];
        let url = rest["circlet listening on ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or_default();
        let (scheme, addr) = url.split_once("://").unwrap_or(("http", url));
        server.scheme = if scheme == "https" { "https" } else { "http" };
        server.addr = addr
            .parse()
            .unwrap_or_else(|_| panic!("no address in {line:?}"));
        server
    }

    /// Reads stderr until a line satisfies `wanted`, failing the test at [`DEADLINE`] or when
    /// the server exits first.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.log.iter().find(|l| wanted(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} within {DEADLINE:?}; log so far:\n{}", self.log())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().expect("wait for circlet");
                    panic!("circlet exited ({status}) before {what}:\n{}", self.log())
                }
            }
        }
    }

    /// Whether the process is still running (it neither exited nor crashed).
    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server's process id.
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server logged so far.
    fn log(&self) -> String {
        self.log.join("\n")
    }

    /// `http://ADDR` (or `https://`) + `path`.
    fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Sends SIGTERM, waits for the process to finish, and returns its exit status and the
    /// whole log.
    fn stop(self) -> (ExitStatus, String) {
        self.stop_with("-TERM")
    }

    /// Sends `signal` (as `kill` spells it), waits for the process to finish, and returns its
    /// exit status and the whole log.
    fn stop_with(mut self, signal: &str) -> (ExitStatus, String) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {signal} failed");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "circlet did not stop within {DEADLINE:?} of kill {signal}:\n{}",
                        self.log()
                    )
                }
            }
        }
        let status = self.child.wait().expect("wait for circlet");
        (status, self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP client that behaves like a browser on circlet's pages: it keeps cookies and shows
/// redirects instead of following them.
struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    fn new(server: &Server) -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DEADLINE)
            .build()
            .expect("build an HTTP client");
        Browser {
            http,
            base: server.url(""),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Fills in and submits the login form, as a person at the login page would.
    async fn log_in(&self, login: &str, password: &str) -> reqwest::Response {
        let page = self.get("/login").await;
        assert_eq!(page.status(), 200, "GET /login");
        let html = page.text().await.expect("read the login page");
        let csrf = csrf_in(&html).unwrap_or_else(|| panic!("no csrf field in:\n{html}"));
        self.http
            .post(format!("{}/login", self.base))
            .form(&[("login", login), ("password", password), ("csrf", &csrf)])
            .send()
            .await
            .expect("POST /login")
    }
}
