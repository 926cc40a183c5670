//! PostgreSQL stopped under a running server: requests that need it answer 503 with a JSON
//! message within a few seconds (no hang, no 500, no crash), the probes tell liveness from
//! readiness, and once PostgreSQL is back the same server process serves again by itself.
//!
//! The cluster is the test's own (initdb in a temp dir, a free port), never the shared one the
//! other tests use: it is stopped with `pg_ctl stop -m immediate`, as a crash or a failover would.

use crate::{DEADLINE, Run, Server, circlet};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a request may take to fail while the database is down.
const FAIL_FAST: Duration = Duration::from_secs(5);

/// How soon after PostgreSQL stops the server must stop trusting tokens it remembers: the
/// revocations listener's deafness timeout (3 s) and some slack for a loaded machine.
const NOTICED_WITHIN: Duration = Duration::from_secs(5);

/// Clients asking all along, before, while and after the database is down.
const LOAD_CLIENTS: usize = 4;

/// A throwaway PostgreSQL cluster: a data directory in a temp dir and a port of its own. As root,
/// it belongs to the `postgres` user (initdb refuses to run as root), like `scripts/test`'s own.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    owner: Option<&'static str>,
    port: u16,
}

impl Cluster {
    /// initdb and start.
    fn start() -> Cluster {
        let bin = pg_bin().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin \
                 and CIRCLET_TEST_PG_BIN unset; scripts/test installs Debian's postgresql"
            )
        });
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        // /tmp rather than $TMPDIR: the postgres user must be able to reach the directory.
        let dir = tempfile::Builder::new()
            .prefix("circlet-pg-fault.")
            .tempdir_in("/tmp")
            .expect("create a temp dir for PostgreSQL");
        let owner = root.then_some("postgres");
        if let Some(user) = owner {
            let chown = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(
                chown.success(),
                "running as root, the throwaway PostgreSQL needs a '{user}' user to own it"
            );
        }
        let port = free_port();
        let cluster = Cluster {
            dir,
            bin,
            owner,
            port,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "--auth=trust".as_ref(),
                "-U".as_ref(),
                "root".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\n",
            cluster.dir.path().display()
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        std::io::Write::write_all(&mut file, conf.as_bytes()).expect("write postgresql.conf");
        cluster.start_again();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Its `postgres` database, which circlet may use as its own.
    fn url(&self) -> String {
        format!("postgres://root@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the stopped cluster and waits until it accepts connections.
    fn start_again(&self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        );
    }

    /// Stops the cluster at once: every backend is killed, no checkpoint (a crash, to clients).
    fn stop_immediately(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }

    /// Runs one of the server binaries as the cluster's owner, from inside its directory (so the
    /// owner never needs access to the test's working directory); fails the test on failure.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let path = self.bin.join(program);
        let mut cmd = match self.owner {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        cmd.args(args).current_dir(self.dir.path());
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} ({cmd:?}): {e}"));
        assert!(
            out.status.success(),
            "{program} failed ({}):\n{}{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let path = self.bin.join("pg_ctl");
            let data = self.data();
            let mut cmd = match self.owner {
                Some(user) => {
                    let mut c = Command::new("runuser");
                    c.args(["-u", user, "--"]).arg(&path);
                    c
                }
                None => Command::new(&path),
            };
            let _ = cmd
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"])
                .current_dir(self.dir.path())
                .output();
        }
    }
}

/// `CIRCLET_TEST_PG_BIN` (which `scripts/test` sets), else the newest
/// `/usr/lib/postgresql/N/bin` with a server in it (the client package alone also creates the
/// directory).
fn pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CIRCLET_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

/// One request's outcome: status, body, and how long it took.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
    took: Duration,
}

impl Answer {
    /// Asserts a 503 with a JSON `message`, in less than [`FAIL_FAST`].
    fn is_fast_503(&self, what: &str) {
        assert_eq!(self.status, 503, "{what}: {self:?}");
        let body: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("{what}: not JSON: {self:?}"));
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        assert!(self.took < FAIL_FAST, "{what} took {:?}", self.took);
    }
}

/// A client with a token, that measures every request.
#[derive(Clone)]
struct Timed {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Timed {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Circle-Token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let started = Instant::now();
        let r = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        Answer {
            status,
            body,
            took: started.elapsed(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }
}

/// `circlet --data-dir … --database-url … admin …` against the cluster.
fn admin(dir: &Path, args: &[OsString], command: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = circlet(dir);
    cmd.args(args).arg("admin").args(command);
    Run::of(cmd, stdin)
}

#[tokio::test]
async fn a_stopped_database_gets_fast_503s_and_the_server_recovers_by_itself() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<OsString> = vec![
        "--data-dir".into(),
        dir.path().join("data").into(),
        "--database-url".into(),
        cluster.url().into(),
    ];
    admin(
        dir.path(),
        &args,
        &["user", "create", "alice", "--admin", "--password-stdin"],
        Some("correct horse battery"),
    )
    .ok();
    admin(
        dir.path(),
        &args,
        &[
            "project",
            "create",
            "gh/acme/widget",
            "--owner",
            "alice",
            "--repo-url",
            "https://example.com/acme/widget.git",
        ],
        None,
    )
    .ok();
    let token = admin(
        dir.path(),
        &args,
        &["token", "create", "--user", "alice", "--name", "t"],
        None,
    )
    .ok()
    .trim()
    .to_owned();
    // With the embedded runner: its claims fail too, and must not take the server down.
    let mut serve_args = args.clone();
    serve_args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut server = Server::start(dir.path(), &serve_args);
    let api = Timed {
        http: reqwest::Client::builder()
            .timeout(DEADLINE)
            .build()
            .unwrap(),
        base: server.url(""),
        token,
    };
    assert_eq!(api.get("/api/v2/me").await.status, 200);

    // Clients keep asking all along; each answer must be a success or a fast 503, never a 500.
    let stop_load = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let mut load = Vec::new();
    for _ in 0..LOAD_CLIENTS {
        let (api, stop, answers) = (api.clone(), stop_load.clone(), answers.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let answer = api.get("/api/v1.1/project/gh/acme/widget").await;
                answers.lock().unwrap().push(answer);
            }
        }));
    }
    let deadline = Instant::now() + DEADLINE;
    while answers.lock().unwrap().len() < 2 * LOAD_CLIENTS {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cluster.stop_immediately();
    let down = Instant::now();
    let ready = api.get("/readyz").await;
    ready.is_fast_503("GET /readyz");
    // `/me` needs no database read while its token is remembered, and the memory is trusted
    // until the revocations listener notices its connection is gone: at once when the socket
    // closes, at the latest after its deafness timeout (3 s). Until then a 200 is right (no
    // revocation can commit on a stopped database); after it, only a fast 503 is.
    let me = loop {
        let answer = api.get("/api/v2/me").await;
        if answer.status != 200 {
            break answer;
        }
        assert!(
            down.elapsed() < NOTICED_WITHIN,
            "GET /api/v2/me still answered from memory {:?} after PostgreSQL stopped",
            down.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    me.is_fast_503("GET /api/v2/me");
    let write = api
        .send(
            reqwest::Method::POST,
            "/api/v2/project/gh/acme/widget/envvar",
            Some(json!({"name": "WHILE_DOWN", "value": "x"})),
        )
        .await;
    write.is_fast_503("POST envvar");
    let health = api.get("/healthz").await;
    assert_eq!(health.status, 200, "liveness does not need the database");
    assert!(server.is_running(), "circlet exited:\n{}", server.log());
    eprintln!(
        "database down: /readyz 503 in {:?}, /api/v2/me 503 in {:?}, POST envvar 503 in {:?}",
        ready.took, me.took, write.took
    );

    cluster.start_again();
    let up = Instant::now();
    let recovered = loop {
        let answer = api.get("/api/v2/me").await;
        if answer.status == 200 {
            break up.elapsed();
        }
        answer.is_fast_503("GET /api/v2/me while PostgreSQL starts");
        assert!(
            up.elapsed() < DEADLINE,
            "no recovery within {DEADLINE:?} of PostgreSQL's restart:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "database back after {:?} down: first 200 {recovered:?} after pg_ctl start returned",
        up - down
    );
    assert_eq!(api.get("/readyz").await.status, 200);
    let write = api
        .send(
            reqwest::Method::POST,
            "/api/v2/project/gh/acme/widget/envvar",
            Some(json!({"name": "AFTER", "value": "x"})),
        )
        .await;
    assert_eq!(write.status, 201, "{write:?}");

    stop_load.store(true, Ordering::Relaxed);
    for task in load {
        tokio::time::timeout(DEADLINE, task)
            .await
            .expect("the load stops")
            .expect("the load task did not panic");
    }
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let mut ok = 0;
    for answer in &answers {
        if answer.status == 200 {
            ok += 1;
        } else {
            answer.is_fast_503("GET a project's builds under load");
        }
    }
    eprintln!(
        "under load: {} answers, {ok} ok, {} fast 503s, slowest {:?}",
        answers.len(),
        answers.len() - ok,
        answers.iter().map(|a| a.took).max().unwrap_or_default()
    );
    assert!(server.is_running(), "circlet exited:\n{}", server.log());
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
