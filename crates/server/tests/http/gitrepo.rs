//! Real git repositories for build tests: made with the system `git` in a temp dir, reached by
//! the server as `file:///…`, with commits, branches and tags a test arranges.

use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

/// A non-bare repository on branch `main`, removed when dropped.
pub struct GitRepo {
    dir: TempDir,
}

impl GitRepo {
    /// A repository whose first commit on `main` holds `.circleci/config.yml` = `config`.
    pub fn with_config(config: &str) -> GitRepo {
        let repo = GitRepo {
            dir: tempfile::tempdir().expect("temp dir for a repository"),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main", "."]);
        repo.commit(
            &[(".circleci/config.yml", config)],
            "first commit\n\nwith a body",
        );
        repo
    }

    /// `file:///…`, the project's `repo_url`.
    pub fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    /// Where the working tree is.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `files` on the current branch and commits them; returns the new commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (name, text) in files {
            let at = self.path().join(name);
            std::fs::create_dir_all(at.parent().expect("a file has a parent dir")).unwrap();
            std::fs::write(&at, text).unwrap();
        }
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Commits `files` on `branch` (made from the current `main` if new), then returns to `main`.
    pub fn commit_on(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        let exists = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ])
            .output()
            .unwrap()
            .status
            .success();
        if exists {
            self.git(&["checkout", "--quiet", branch]);
        } else {
            self.git(&["checkout", "--quiet", "-b", branch]);
        }
        let sha = self.commit(files, message);
        self.git(&["checkout", "--quiet", "main"]);
        sha
    }

    /// An annotated tag at the current commit.
    pub fn tag(&self, name: &str) {
        self.git(&["tag", "-a", "-m", &format!("release {name}"), name]);
    }

    /// The current commit id.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Runs `git args` in the repository as a fixed test identity; panics on failure.
    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args([
                "-c",
                "user.name=Grace Tester",
                "-c",
                "user.email=grace@example.test",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("git prints UTF-8")
    }
}
