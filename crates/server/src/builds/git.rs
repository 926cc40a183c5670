//! Reading a project's repository: which commit a branch or tag names, the config at that
//! commit, and what the commit says about itself. Uses the system `git` on a bare mirror per
//! project under the repo cache dir; nothing here ever checks files out or runs repository code.

use circlet_store::Project;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::Command;

/// How long one git command may take (a fetch from a slow remote included).
const GIT_TIMEOUT: Duration = Duration::from_secs(120);

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
    /// `.circleci/config.yml` at that commit, if the file exists.
    pub config: Option<String>,
    /// What the commit says about itself.
    pub commit: CommitInfo,
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

/// Why a repository could not be read; the text is shown to the user who triggered.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The branch, tag or revision does not exist in the repository.
    #[error("{0}")]
    NotFound(String),
    /// The repository could not be fetched (unreachable, not a repository, git missing, …).
    #[error("{0}")]
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

    /// Fetches `target` from the project's repository and reads what a pipeline needs at
    /// `revision` (which must then be reachable from the fetched refs or already known), or at
    /// the target's head.
    pub async fn resolve(
        &self,
        project: &Project,
        target: &Target,
        revision: Option<&str>,
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
            git(&self.root, &["init", "--quiet", "--bare", &path_arg(&dir)]).await?;
        }
        let url = project.repo_url.as_str();
        let (refspec, local, what) = match target {
            Target::Branch(b) => (
                format!("+refs/heads/{b}:refs/heads/{b}"),
                format!("refs/heads/{b}"),
                format!("branch '{b}'"),
            ),
            Target::Tag(t) => (
                format!("+refs/tags/{t}:refs/tags/{t}"),
                format!("refs/tags/{t}"),
                format!("tag '{t}'"),
            ),
        };
        match git(
            &dir,
            &[
                "fetch",
                "--quiet",
                "--force",
                "--no-tags",
                "--",
                url,
                &refspec,
            ],
        )
        .await
        {
            Ok(_) => {}
            Err(GitError::Unreadable(e)) if e.contains("couldn't find remote ref") => {
                return Err(GitError::NotFound(format!(
                    "{what} does not exist in {url}"
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
                match rev_parse(&dir, &format!("{rev}^{{commit}}")).await {
                    Ok(full) => full,
                    Err(_) => {
                        // Not on the branch's history: fetch every branch once, then give up.
                        git(
                            &dir,
                            &[
                                "fetch",
                                "--quiet",
                                "--force",
                                "--no-tags",
                                "--",
                                url,
                                "+refs/heads/*:refs/remotes/all/*",
                            ],
                        )
                        .await?;
                        rev_parse(&dir, &format!("{rev}^{{commit}}"))
                            .await
                            .map_err(|_| {
                                GitError::NotFound(format!(
                                    "revision '{rev}' does not exist in {url}"
                                ))
                            })?
                    }
                }
            }
        };
        let config = match git(&dir, &["show", &format!("{revision}:.circleci/config.yml")]).await {
            Ok(text) => Some(text),
            Err(GitError::Unreadable(_)) => None,
            Err(e) => return Err(e),
        };
        let raw = git(
            &dir,
            &[
                "log",
                "-1",
                "--format=%s%x00%b%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI",
                &revision,
            ],
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
    Ok(git(dir, &["rev-parse", "--verify", "--quiet", what])
        .await?
        .trim()
        .to_owned())
}

/// Runs `git args` in `dir`: never prompts, never runs `ext::` transports, bounded in time.
/// Stdout on success; otherwise the first line git wrote to stderr.
async fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
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
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(GIT_TIMEOUT, cmd.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(GitError::Unreadable(format!("cannot run git: {e}"))),
        Err(_) => {
            return Err(GitError::Unreadable(format!(
                "git {} took longer than {} s",
                args.first().unwrap_or(&""),
                GIT_TIMEOUT.as_secs()
            )));
        }
    };
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .map(|l| l.trim_start_matches("fatal: ").trim())
        .find(|l| !l.is_empty())
        .unwrap_or("git failed")
        .to_owned();
    Err(GitError::Unreadable(line))
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
