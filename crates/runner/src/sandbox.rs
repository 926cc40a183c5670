//! Where a job's commands run: inside a namespace sandbox made by bubblewrap (`bwrap`), so that
//! the code of any project can run on a host that also holds the server's keys, its database,
//! the runner's token and other jobs' files.
//!
//! Each command of a `run` step gets a fresh sandbox:
//!
//! - the host's file system read-only (`/`), with the runner's secrets hidden under empty
//!   directories (or `/dev/null` for files): the paths the runner was told to hide (the
//!   server's data dir, key files, the database, the config file), the runner's whole work dir
//!   (other jobs), and the credentials the runner's user keeps in its home directory;
//! - the job's own directory (`~`) read-write at the same path, and the job's private `/tmp`,
//!   which both last for the whole job, so steps see each other's files as on CircleCI;
//! - its own PID namespace, so the runner, the server and other jobs' processes can be neither
//!   seen (`/proc`) nor signalled; its own IPC and UTS namespaces; a minimal `/dev`; an empty
//!   `/run` (host daemons' sockets, e.g. Docker's, are out of reach);
//! - no capabilities, `no_new_privs` (set-uid programs gain nothing), a new session (no
//!   terminal to inject keystrokes into), and everything in it killed when the step ends.
//!
//! The network is shared with the host: jobs fetch dependencies like on CircleCI. So anything
//! that trusts a local connection (a database with `trust` authentication) trusts jobs too.
//!
//! [`Sandbox::None`] runs commands directly on the host as the runner's user; it exists only
//! for an operator who chose it explicitly (`--sandbox none`).

use crate::process::CommandSpec;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// How to install bubblewrap, for the error a runner without it refuses to start with.
pub const INSTALL_HINT: &str = "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`), or start with `--sandbox none` to run jobs unsandboxed as this user (only for code you trust)";

/// The sandbox an operator chose (`--sandbox bubblewrap|none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Every command in a bubblewrap sandbox (the default).
    #[default]
    Bubblewrap,
    /// No sandbox: jobs run as the runner's user and can read what it can.
    None,
}

impl SandboxMode {
    /// The name in settings.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Bubblewrap => "bubblewrap",
            SandboxMode::None => "none",
        }
    }
}

impl std::str::FromStr for SandboxMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bubblewrap" | "bwrap" => Ok(SandboxMode::Bubblewrap),
            "none" => Ok(SandboxMode::None),
            other => Err(format!("sandbox '{other}' is not one of: bubblewrap, none")),
        }
    }
}

/// Where a job's commands run.
#[derive(Debug, Clone)]
pub enum Sandbox {
    /// In a bubblewrap namespace sandbox.
    Bubblewrap(Bubblewrap),
    /// Directly on the host, as the runner's user: any job can read what the runner can.
    None,
}

/// A working bubblewrap and what it keeps out of every job's sight.
#[derive(Debug, Clone)]
pub struct Bubblewrap {
    program: PathBuf,
    hidden: Vec<PathBuf>,
}

/// Why the sandbox cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// `bwrap` is not on `PATH`.
    #[error("bubblewrap (`bwrap`) was not found on PATH: {INSTALL_HINT}")]
    Missing,
    /// `bwrap` is there but cannot make a sandbox here (no user namespaces, a seccomp policy…).
    #[error("bubblewrap ({program}) cannot make a sandbox on this host: {reason}; {INSTALL_HINT}")]
    Unusable {
        /// The program that was tried.
        program: String,
        /// What it said.
        reason: String,
    },
}

impl Sandbox {
    /// The sandbox `mode` names, hiding `hidden` (see [`Sandbox::bubblewrap`]).
    pub fn new(mode: SandboxMode, hidden: Vec<PathBuf>) -> Result<Sandbox, SandboxError> {
        match mode {
            SandboxMode::Bubblewrap => Sandbox::bubblewrap(hidden),
            SandboxMode::None => Ok(Sandbox::None),
        }
    }

    /// A bubblewrap sandbox hiding `hidden` (files or directories; those that do not exist
    /// when a command starts are skipped) and the usual credentials in this user's home.
    /// Checks that `bwrap` is installed and can make the sandbox on this host.
    pub fn bubblewrap(hidden: Vec<PathBuf>) -> Result<Sandbox, SandboxError> {
        let program = find_on_path("bwrap").ok_or(SandboxError::Missing)?;
        let mut all: Vec<PathBuf> = hidden.iter().map(|p| absolute(p)).collect();
        if let Some(home) = std::env::var_os("HOME").map(PathBuf::from)
            && home.is_absolute()
            && home != Path::new("/")
        {
            all.extend(HOME_SECRETS.iter().map(|s| home.join(s)));
        }
        all.sort();
        all.dedup();
        let sandbox = Bubblewrap {
            program,
            hidden: all,
        };
        sandbox.probe()?;
        Ok(Sandbox::Bubblewrap(sandbox))
    }

    /// One line for the runner's start-up log and each job's first step.
    pub fn describe(&self) -> String {
        match self {
            Sandbox::Bubblewrap(b) => format!(
                "steps run in a bubblewrap sandbox ({}): host files read-only, the job's directory and /tmp writable, {} paths hidden, own PID namespace",
                b.program.display(),
                b.hidden.len()
            ),
            Sandbox::None => {
                "steps run WITHOUT a sandbox, as the runner's user (--sandbox none)".into()
            }
        }
    }

    /// Whether a job may not see `path` (it lies in a hidden path or in the work dir `work`).
    pub(crate) fn hides(&self, path: &Path, work: &Path) -> bool {
        match self {
            Sandbox::None => false,
            Sandbox::Bubblewrap(b) => {
                let path = path.canonicalize().unwrap_or_else(|_| absolute(path));
                path.starts_with(work)
                    || b.hidden
                        .iter()
                        .any(|h| path.starts_with(h.canonicalize().unwrap_or_else(|_| h.clone())))
            }
        }
    }

    /// `spec` made to run inside the sandbox of the job whose directories are `dirs`.
    pub(crate) fn wrap(&self, spec: CommandSpec, dirs: &JobDirs) -> CommandSpec {
        match self {
            Sandbox::None => spec,
            Sandbox::Bubblewrap(b) => b.wrap(spec, dirs),
        }
    }

    /// Where a path as a job sees it is on the host, if the job can write there: inside the
    /// job's directory (the same path) or its `/tmp`. Without a sandbox every path is itself.
    pub(crate) fn on_host(&self, seen: &Path, dirs: &JobDirs) -> Option<PathBuf> {
        match self {
            Sandbox::None => Some(seen.to_path_buf()),
            Sandbox::Bubblewrap(_) => {
                if seen.starts_with(&dirs.root) {
                    Some(seen.to_path_buf())
                } else if let Ok(rest) = seen.strip_prefix("/tmp") {
                    Some(dirs.tmp.join(rest))
                } else {
                    None
                }
            }
        }
    }
}

impl Sandbox {
    /// Where the runner may read files for a job (artifacts, test results): what the job itself
    /// could write; without a sandbox, anything (the job could read it all anyway).
    pub(crate) fn readable(&self, dirs: &JobDirs) -> Vec<PathBuf> {
        match self {
            Sandbox::None => vec![PathBuf::from("/")],
            Sandbox::Bubblewrap(_) => vec![dirs.root.clone(), dirs.tmp.clone()],
        }
    }
}

/// Credentials a user's home commonly holds; hidden from jobs when they exist.
const HOME_SECRETS: [&str; 13] = [
    ".ssh",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".docker",
    ".kube",
    ".gnupg",
    ".netrc",
    ".git-credentials",
    ".pgpass",
    ".npmrc",
    ".cargo/credentials.toml",
    ".pypirc",
];

/// A job's writable directories on the host.
#[derive(Debug, Clone)]
pub(crate) struct JobDirs {
    /// `~`: the job's directory, bound at the same path.
    pub root: PathBuf,
    /// What the job sees as `/tmp`.
    pub tmp: PathBuf,
    /// The runner's work dir, which holds every job's directory: hidden but for this job's.
    pub work: PathBuf,
}

impl Bubblewrap {
    fn wrap(&self, spec: CommandSpec, dirs: &JobDirs) -> CommandSpec {
        let mut args: Vec<String> = [
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/run",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // DNS on hosts whose resolv.conf points into /run (systemd-resolved).
        for keep in ["/run/systemd/resolve"] {
            if Path::new(keep).is_dir() {
                args.extend(["--ro-bind".into(), keep.into(), keep.into()]);
            }
        }
        let bind = |args: &mut Vec<String>, how: &str, from: &Path, to: &Path| {
            args.push(how.into());
            args.push(from.to_string_lossy().into_owned());
            args.push(to.to_string_lossy().into_owned());
        };
        // /tmp first: the job's other directories may lie below it.
        bind(&mut args, "--bind", &dirs.tmp, Path::new("/tmp"));
        let mut hidden: Vec<&Path> = self.hidden.iter().map(PathBuf::as_path).collect();
        hidden.push(&dirs.work);
        let mut emptied: Vec<&Path> = Vec::new();
        for &h in &hidden {
            // What lies under /tmp is already out of sight behind the job's own /tmp, and what
            // lies in another hidden directory behind that directory's empty one.
            let covered = hidden.iter().any(|&o| o != h && h.starts_with(o));
            if covered || h.starts_with("/tmp") || h == Path::new("/") {
                continue;
            }
            match std::fs::metadata(h) {
                Ok(m) if m.is_dir() => {
                    args.push("--tmpfs".into());
                    args.push(h.to_string_lossy().into_owned());
                    emptied.push(h);
                }
                Ok(_) => bind(&mut args, "--ro-bind", Path::new("/dev/null"), h),
                Err(_) => {}
            }
        }
        bind(&mut args, "--bind", &dirs.root, &dirs.root);
        // Read-only like the rest of the host; the job's own directory below stays writable.
        for h in emptied {
            args.push("--remount-ro".into());
            args.push(h.to_string_lossy().into_owned());
        }
        args.push("--chdir".into());
        args.push(spec.cwd.to_string_lossy().into_owned());
        args.push("--".into());
        args.push(spec.program);
        args.extend(spec.args);
        CommandSpec {
            program: self.program.to_string_lossy().into_owned(),
            args,
            // bwrap itself starts anywhere; the command gets `--chdir`.
            cwd: PathBuf::from("/"),
            env: spec.env,
        }
    }

    /// Makes one throwaway sandbox the way jobs get theirs, to fail at start-up rather than at
    /// the first job.
    fn probe(&self) -> Result<(), SandboxError> {
        let scratch =
            std::env::temp_dir().join(format!("circlet-sandbox-probe-{}", std::process::id()));
        let dirs = JobDirs {
            root: scratch.join("job"),
            tmp: scratch.join("tmp"),
            work: scratch.clone(),
        };
        let made =
            std::fs::create_dir_all(&dirs.root).and_then(|()| std::fs::create_dir_all(&dirs.tmp));
        let result = made.map_err(|e| e.to_string()).and_then(|()| {
            let spec = self.wrap(
                CommandSpec {
                    program: "/bin/sh".into(),
                    args: vec!["-c".into(), "test -w . && test -w /tmp".into()],
                    cwd: dirs.root.clone(),
                    env: vec![],
                },
                &dirs,
            );
            let out = std::process::Command::new(&spec.program)
                .args(&spec.args)
                .current_dir(&spec.cwd)
                .env_clear()
                .stdin(Stdio::null())
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                let said = String::from_utf8_lossy(&out.stderr);
                Err(said
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("it failed without a message")
                    .trim()
                    .to_owned())
            }
        });
        let _ = std::fs::remove_dir_all(&scratch);
        result.map_err(|reason| SandboxError::Unusable {
            program: self.program.display().to_string(),
            reason,
        })
    }
}

/// `path` made absolute against the current directory, without following links.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The first executable called `name` in `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> JobDirs {
        JobDirs {
            root: PathBuf::from("/srv/work/j1"),
            tmp: PathBuf::from("/srv/work/j1.tmp"),
            work: PathBuf::from("/srv/work"),
        }
    }

    fn bwrap(hidden: &[&str]) -> Sandbox {
        Sandbox::Bubblewrap(Bubblewrap {
            program: PathBuf::from("/usr/bin/bwrap"),
            hidden: hidden.iter().map(PathBuf::from).collect(),
        })
    }

    #[test]
    fn paths_a_job_can_write_map_to_its_directories() {
        let s = bwrap(&[]);
        let d = dirs();
        assert_eq!(
            s.on_host(Path::new("/srv/work/j1/project"), &d),
            Some(PathBuf::from("/srv/work/j1/project"))
        );
        assert_eq!(
            s.on_host(Path::new("/tmp/results"), &d),
            Some(PathBuf::from("/srv/work/j1.tmp/results"))
        );
        assert_eq!(
            s.on_host(Path::new("/tmp"), &d),
            Some(PathBuf::from("/srv/work/j1.tmp"))
        );
        assert_eq!(s.on_host(Path::new("/etc/passwd"), &d), None);
        assert_eq!(s.on_host(Path::new("/srv/work/j2/x"), &d), None);
        assert_eq!(s.on_host(Path::new("/tmpfoo"), &d), None);
        // Without a sandbox a path is itself.
        assert_eq!(
            Sandbox::None.on_host(Path::new("/etc/passwd"), &d),
            Some(PathBuf::from("/etc/passwd"))
        );
    }

    #[test]
    fn the_command_runs_behind_bwrap_with_the_job_directory_bound_last() {
        let spec = CommandSpec {
            program: "/bin/bash".into(),
            args: vec!["-c".into(), "echo hi".into()],
            cwd: PathBuf::from("/srv/work/j1/project"),
            env: vec![("A".into(), "b".into())],
        };
        let d = dirs();
        let wrapped = bwrap(&["/definitely/not/here"]).wrap(spec, &d);
        assert_eq!(wrapped.program, "/usr/bin/bwrap");
        assert_eq!(wrapped.env, vec![("A".to_owned(), "b".to_owned())]);
        let a = wrapped.args.join(" ");
        for must in [
            "--unshare-pid",
            "--cap-drop ALL",
            "--die-with-parent",
            "--new-session",
            "--ro-bind / /",
            "--proc /proc",
            "--tmpfs /run",
        ] {
            assert!(a.contains(must), "{must} missing from {a}");
        }
        // The job's /tmp comes first, its directory last (after anything that could cover it).
        assert!(
            a.ends_with(
                "--bind /srv/work/j1.tmp /tmp --bind /srv/work/j1 /srv/work/j1 \
                 --chdir /srv/work/j1/project -- /bin/bash -c echo hi"
            ),
            "{a}"
        );
        // A hidden path that does not exist is not mounted over.
        assert!(!a.contains("/definitely/not/here"), "{a}");
    }

    #[test]
    fn hidden_paths_and_other_jobs_are_hidden() {
        let s = bwrap(&["/srv/data"]);
        assert!(s.hides(Path::new("/srv/data/circlet.db"), Path::new("/srv/work")));
        assert!(s.hides(Path::new("/srv/work/other-job/x"), Path::new("/srv/work")));
        assert!(!s.hides(Path::new("/srv/git/repo.git"), Path::new("/srv/work")));
        assert!(!Sandbox::None.hides(Path::new("/srv/data/circlet.db"), Path::new("/srv/work")));
    }
}
