//! Reading a project's repository: which commit a branch or tag names, the config at that
//! commit, and what the commit says about itself. Uses the system `git` on a bare mirror per
//! project under the repo cache dir; nothing here ever checks files out or runs repository code.

use circlet_core::ci_config::MAX_CONFIG_BYTES;
use circlet_store::Project;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// How long a fetch may take, connecting included. A trigger waits for it, and a remote that
/// accepts a connection and never answers must not hold the request (and a server worker) for
/// minutes; a repository too large to fetch in this time is too large for a trigger to wait on.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a command that only reads the local mirror may take.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(10);

/// For HTTP(S) remotes: slower than this many bytes a second…
const LOW_SPEED_BYTES: &str = "1000";
/// …for this many seconds, and curl gives up before the whole fetch times out.
const LOW_SPEED_SECONDS: &str = "20";

/// The most a git command may write to stdout before it is stopped (a commit's message and
/// people; the config is checked against its own, smaller limit first).
const MAX_STDOUT: usize = 4 * 1024 * 1024;

/// The most of git's stderr kept for the log.
const MAX_STDERR: usize = 16 * 1024;

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The head of a branch (or `revision`, displayed as this branch).
    Branch(String),
    /// The commit a tag points to.
    Tag(String),
}

/// A resolved commit and what the pipeline needs from it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The full commit id.
    pub revision: String,
    /// `.circleci/config.yml` at that commit.
    pub config: ConfigFile,
    /// What the commit says about itself.
    pub commit: CommitInfo,
}

/// `.circleci/config.yml` at a commit, as far as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFile {
    /// There is no such file.
    Missing,
    /// It has this many bytes, more than [`MAX_CONFIG_BYTES`]: it was not read.
    TooLarge(u64),
    /// Its text.
    Text(String),
}

/// A commit's message and people, for the v1.1 build object and v2's `vcs.commit`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct CommitInfo {
    /// First line of the message.
    pub subject: String,
    /// The rest of the message.
    pub body: String,
    /// Author name.
    pub author_name: String,
    /// Author email.
    pub author_email: String,
    /// Author date, ISO 8601.
    pub author_date: String,
    /// Committer name.
    pub committer_name: String,
    /// Committer email.
    pub committer_email: String,
    /// Committer date, ISO 8601.
    pub committer_date: String,
}

/// Why a repository could not be read. Its `Display` is what the user who triggered sees.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The branch, tag or revision does not exist in the repository (the text says which).
    #[error("{0}")]
    NotFound(String),
    /// The repository could not be fetched or read (unreachable, not a repository, too slow,
    /// git missing, …). The details are for the server's log only: git's errors name hosts,
    /// ports, paths and how a connection failed, which would make `repo_url` a scanner of
    /// whatever the server can reach.
    #[error("could not read the repository")]
    Unreadable(String),
}

/// Bare mirrors of project repositories, one per project, one git operation at a time each.
pub struct Repos {
    root: PathBuf,
    locks: Mutex<HashMap<uuid::Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl Repos {
    /// Mirrors live under `root` (created when first needed; made absolute now, since git
    /// runs with other working directories).
    pub fn new(root: PathBuf) -> Self {
        Repos {
            root: std::path::absolute(&root).unwrap_or(root),
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The repository's branches and tags (`refs/heads/…`, `refs/tags/…`) and the commit or
    /// tag object each points at, as `git ls-remote` lists them (for polling).
    pub async fn heads(
        &self,
        project: &Project,
        key: Option<&secrecy::SecretString>,
    ) -> Result<Vec<(String, String)>, GitError> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(project.uuid).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        tokio::fs::create_dir_all(&self.root).await.map_err(|e| {
            GitError::Unreadable(format!("cannot create {}: {e}", self.root.display()))
        })?;
        let identity = match key {
            Some(key) => Some(KeyFile::write(&self.root, project, key).await?),
            None => None,
        };
        let listed = git_with(
            identity.as_ref().map(|k| k.path.as_path()),
            &self.root,
            &[
                "ls-remote",
                "--heads",
                "--tags",
                "--",
                project.repo_url.as_str(),
            ],
            Limits {
                timeout: FETCH_TIMEOUT,
                max_stdout: MAX_STDOUT,
            },
        )
        .await?;
        Ok(listed
            .lines()
            .filter_map(|line| {
                let (sha, name) = line.split_once('\t')?;
                // `^{}` lines repeat an annotated tag, peeled: the tag itself is enough.
                (!name.ends_with("^{}")).then(|| (name.to_owned(), sha.to_owned()))
            })
            .collect())
    }

    /// Fetches `target` (or `fetch_ref` in its place, when given: a forked pull request's
    /// `refs/pull/N/head`) from the project's repository and reads what a pipeline needs at
    /// `revision` (which must then be reachable from the fetched refs or already known), or at
    /// the target's head.
    pub async fn resolve(
        &self,
        project: &Project,
        target: &Target,
        fetch_ref: Option<&str>,
        revision: Option<&str>,
        key: Option<&secrecy::SecretString>,
    ) -> Result<Resolved, GitError> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(project.uuid).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        let dir = self.root.join(format!("{}.git", project.uuid));
        if !dir.join("HEAD").exists() {
            tokio::fs::create_dir_all(&self.root).await.map_err(|e| {
                GitError::Unreadable(format!("cannot create {}: {e}", self.root.display()))
            })?;
            git(
                &self.root,
                &["init", "--quiet", "--bare", &path_arg(&dir)],
                Limits::LOCAL,
            )
            .await?;
        }
        let url = project.repo_url.as_str();
        // The project's checkout key, for an SSH remote: in a file of the server's own, only
        // while this fetch runs (the mirror's lock is held), removed whatever happens.
        let identity = match key {
            Some(key) => Some(KeyFile::write(&self.root, project, key).await?),
            None => None,
        };
        let identity = identity.as_ref().map(|k| k.path.as_path());
        let (refspec, local, what) = match (fetch_ref, target) {
            (Some(r), _) => {
                if !r.starts_with("refs/") || circlet_core::BranchName::parse(r).is_err() {
                    return Err(GitError::NotFound(format!(
                        "'{}' is not a ref",
                        r.escape_debug()
                    )));
                }
                (format!("+{r}:{r}"), r.to_owned(), format!("ref '{r}'"))
            }
            (None, Target::Branch(b)) => (
                format!("+refs/heads/{b}:refs/heads/{b}"),
                format!("refs/heads/{b}"),
                format!("branch '{b}'"),
            ),
            (None, Target::Tag(t)) => (
                format!("+refs/tags/{t}:refs/tags/{t}"),
                format!("refs/tags/{t}"),
                format!("tag '{t}'"),
            ),
        };
        match fetch(&dir, url, &refspec, identity).await {
            Ok(_) => {}
            Err(GitError::Unreadable(e)) if e.contains("couldn't find remote ref") => {
                return Err(GitError::NotFound(format!(
                    "{what} does not exist in the repository"
                )));
            }
            Err(e) => return Err(e),
        }
        let revision = match revision {
            None => rev_parse(&dir, &format!("{local}^{{commit}}")).await?,
            Some(rev) => {
                if !is_revision(rev) {
                    return Err(GitError::NotFound(format!(
                        "revision '{}' is not a commit id (4 to 40 hexadecimal characters)",
                        rev.escape_debug()
                    )));
                }
                // A commit counts only if a branch or tag of the repository holds it: the
                // mirror also keeps forks' pull request heads, which are no branch's code.
                let found = match rev_parse(&dir, &format!("{rev}^{{commit}}")).await {
                    Ok(full) if fetch_ref.is_some() || on_a_branch(&dir, &full).await => Ok(full),
                    Ok(_) => Err(()),
                    Err(_) => Err(()),
                };
                match found {
                    Ok(full) => full,
                    Err(()) => {
                        // Not on the branch's history: fetch every branch once, then give up.
                        fetch(&dir, url, "+refs/heads/*:refs/remotes/all/*", identity).await?;
                        let missing = || {
                            GitError::NotFound(format!(
                                "revision '{rev}' does not exist in the repository"
                            ))
                        };
                        let full = rev_parse(&dir, &format!("{rev}^{{commit}}"))
                            .await
                            .map_err(|_| missing())?;
                        if fetch_ref.is_none() && !on_a_branch(&dir, &full).await {
                            return Err(missing());
                        }
                        full
                    }
                }
            }
        };
        let config = read_config(&dir, &revision).await?;
        let raw = git(
            &dir,
            &[
                "log",
                "-1",
                "--format=%s%x00%b%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI",
                &revision,
            ],
            Limits::LOCAL,
        )
        .await?;
        let mut parts = raw.trim_end_matches('\n').split('\0').map(str::to_owned);
        let mut next = || parts.next().unwrap_or_default();
        let commit = CommitInfo {
            subject: next(),
            body: next().trim().to_owned(),
            author_name: next(),
            author_email: next(),
            author_date: next(),
            committer_name: next(),
            committer_email: next(),
            committer_date: next(),
        };
        Ok(Resolved {
            revision,
            config,
            commit,
        })
    }
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// 4 to 40 hex digits.
fn is_revision(rev: &str) -> bool {
    (4..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn rev_parse(dir: &Path, what: &str) -> Result<String, GitError> {
    Ok(git(
        dir,
        &["rev-parse", "--verify", "--quiet", what],
        Limits::LOCAL,
    )
    .await?
    .trim()
    .to_owned())
}

/// A private key in a file of mode 0600 for the length of a fetch; removed when dropped.
struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    async fn write(
        root: &Path,
        project: &Project,
        key: &secrecy::SecretString,
    ) -> Result<KeyFile, GitError> {
        use secrecy::ExposeSecret;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = root.join(format!("{}.key", project.uuid));
        let _ = std::fs::remove_file(&path);
        let mut text = key.expose_secret().trim().to_owned();
        text.push('\n');
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| GitError::Unreadable(format!("cannot write the checkout key: {e}")))?;
        Ok(KeyFile { path })
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Fetches `refspec` from `url` into the mirror at `dir`, within [`FETCH_TIMEOUT`], with the
/// private key in `identity` for an SSH remote.
async fn fetch(
    dir: &Path,
    url: &str,
    refspec: &str,
    identity: Option<&Path>,
) -> Result<String, GitError> {
    git_with(
        identity,
        dir,
        &[
            "-c",
            &format!("http.lowSpeedLimit={LOW_SPEED_BYTES}"),
            "-c",
            &format!("http.lowSpeedTime={LOW_SPEED_SECONDS}"),
            "fetch",
            "--quiet",
            "--force",
            "--no-tags",
            "--",
            url,
            refspec,
        ],
        Limits {
            timeout: FETCH_TIMEOUT,
            max_stdout: MAX_STDOUT,
        },
    )
    .await
}

/// Whether a branch or tag fetched into the mirror holds `commit`.
async fn on_a_branch(dir: &Path, commit: &str) -> bool {
    git(
        dir,
        &[
            "for-each-ref",
            "--count=1",
            "--contains",
            commit,
            "refs/heads",
            "refs/remotes/all",
            "refs/tags",
        ],
        Limits::LOCAL,
    )
    .await
    .is_ok_and(|listed| !listed.trim().is_empty())
}

/// The config at `revision`: its size is asked first, and a file larger than
/// [`MAX_CONFIG_BYTES`] is never read (a 400 MB config packs into a 2 MB object).
async fn read_config(dir: &Path, revision: &str) -> Result<ConfigFile, GitError> {
    let object = format!("{revision}:.circleci/config.yml");
    // Fails when the path is not in the commit (a fetched commit is otherwise readable).
    let Ok(size) = git(dir, &["cat-file", "-s", &object], Limits::LOCAL).await else {
        return Ok(ConfigFile::Missing);
    };
    let size: u64 = size
        .trim()
        .parse()
        .map_err(|_| GitError::Unreadable(format!("git cat-file -s said {size:?}")))?;
    if size > MAX_CONFIG_BYTES as u64 {
        return Ok(ConfigFile::TooLarge(size));
    }
    let limits = Limits {
        max_stdout: MAX_CONFIG_BYTES,
        ..Limits::LOCAL
    };
    match git(dir, &["cat-file", "blob", &object], limits).await {
        Ok(text) => Ok(ConfigFile::Text(text)),
        // Not a file (a directory or a submodule at that path).
        Err(_) => Ok(ConfigFile::Missing),
    }
}

/// How long a git command may run and how much it may print.
#[derive(Debug, Clone, Copy)]
struct Limits {
    timeout: Duration,
    max_stdout: usize,
}

impl Limits {
    /// For commands that only read the local mirror.
    const LOCAL: Limits = Limits {
        timeout: LOCAL_TIMEOUT,
        max_stdout: MAX_STDOUT,
    };
}

/// Runs `git args` in `dir`: never prompts, never runs `ext::` transports, bounded in time
/// and in what it may print. Stdout on success; otherwise what went wrong, for the log.
async fn git(dir: &Path, args: &[&str], limits: Limits) -> Result<String, GitError> {
    git_with(None, dir, args, limits).await
}

/// [`git`], with the SSH private key in `identity` (only it) for an SSH remote.
async fn git_with(
    identity: Option<&Path>,
    dir: &Path,
    args: &[&str],
    limits: Limits,
) -> Result<String, GitError> {
    let mut ssh = format!(
        "ssh -o BatchMode=yes -o ConnectTimeout={}",
        FETCH_TIMEOUT.as_secs() / 2
    );
    if let Some(key) = identity {
        // The remote's host key is trusted on first sight and remembered beside the mirrors.
        let known = key.with_extension("known_hosts");
        ssh.push_str(&format!(
            " -i '{}' -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='{}'",
            key.display(),
            known.display()
        ));
    }
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "protocol.ext.allow=never",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", ssh)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let command = args
        .iter()
        .find(|a| !a.starts_with('-') && !a.contains('='))
        .copied();
    let command = command.unwrap_or("git");
    // The child is killed when this future is dropped, on time-out or on error.
    match tokio::time::timeout(limits.timeout, run(cmd, limits.max_stdout)).await {
        Ok(Ok(Ran::Succeeded(stdout))) => Ok(String::from_utf8_lossy(&stdout).into_owned()),
        Ok(Ok(Ran::Failed(stderr))) => {
            let stderr = String::from_utf8_lossy(&stderr);
            Err(GitError::Unreadable(format!(
                "git {command} failed: {}",
                stderr.trim()
            )))
        }
        Ok(Ok(Ran::TooMuchOutput)) => Err(GitError::Unreadable(format!(
            "git {command} wrote more than {} bytes",
            limits.max_stdout
        ))),
        Ok(Err(e)) => Err(GitError::Unreadable(format!(
            "cannot run git {command}: {e}"
        ))),
        Err(_) => Err(GitError::Unreadable(format!(
            "git {command} took longer than {} s",
            limits.timeout.as_secs()
        ))),
    }
}

/// How a git command ended.
enum Ran {
    /// Exit status 0, and its stdout.
    Succeeded(Vec<u8>),
    /// Another status, and the start of its stderr.
    Failed(Vec<u8>),
    /// It wrote more to stdout than it may, and was killed.
    TooMuchOutput,
}

/// Runs `cmd`, keeping at most `max_stdout` bytes of its stdout (past that it is killed) and
/// [`MAX_STDERR`] of its stderr (the rest is read and dropped, so git never blocks on it).
async fn run(mut cmd: Command, max_stdout: usize) -> std::io::Result<Ran> {
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let read_stdout = async {
        let mut out = Vec::new();
        stdout
            .take(max_stdout as u64 + 1)
            .read_to_end(&mut out)
            .await?;
        if out.len() > max_stdout {
            // Killed now, not at the end of `join!`: git may be blocked writing stdout.
            child.start_kill()?;
        }
        Ok::<_, std::io::Error>(out)
    };
    let read_stderr = async {
        let mut err = Vec::new();
        let mut stderr = stderr;
        (&mut stderr)
            .take(MAX_STDERR as u64)
            .read_to_end(&mut err)
            .await?;
        tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await?;
        Ok::<_, std::io::Error>(err)
    };
    let (out, err) = tokio::join!(read_stdout, read_stderr);
    let (out, err) = (out?, err?);
    let status = child.wait().await?;
    Ok(if out.len() > max_stdout {
        Ran::TooMuchOutput
    } else if status.success() {
        Ran::Succeeded(out)
    } else {
        Ran::Failed(err)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn revisions_are_short_or_full_hex() {
        assert!(super::is_revision("abcd"));
        assert!(super::is_revision(&"a".repeat(40)));
        assert!(!super::is_revision("abc"));
        assert!(!super::is_revision(&"a".repeat(41)));
        assert!(!super::is_revision("--upload-pack=x"));
        assert!(!super::is_revision("HEAD"));
    }
}
