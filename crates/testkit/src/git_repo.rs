//! Real git repositories for tests: made with the system `git` in a temporary directory, reached
//! as a path or a `file:///…` URL, with the commits, branches and tags a test arranges.

use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

/// A non-bare repository on branch `main`, removed when dropped.
///
/// Every `git` it runs ignores the user's and the system's git configuration and commits as a
/// fixed identity, unsigned, so a repository looks the same on every machine.
pub struct GitRepo {
    dir: TempDir,
}

impl GitRepo {
    /// An empty repository (no commits yet) in a new directory under `parent`, for tests about
    /// where a repository lives (such as inside a directory a sandbox hides).
    pub fn empty_in(parent: &Path) -> GitRepo {
        GitRepo::init(tempfile::tempdir_in(parent).expect("a directory for a repository"))
    }

    /// A repository whose first commit on `main` (subject `first commit`, body `with a body`)
    /// holds `.circleci/config.yml` = `config`.
    pub fn with_config(config: &str) -> GitRepo {
        let repo =
            GitRepo::init(tempfile::tempdir().expect("a temporary directory for a repository"));
        repo.commit(
            &[(".circleci/config.yml", config)],
            "first commit\n\nwith a body",
        );
        repo
    }

    fn init(dir: TempDir) -> GitRepo {
        let repo = GitRepo { dir };
        repo.git(&["init", "--quiet", "--initial-branch=main", "."]);
        repo
    }

    /// `file:///…`, what a project's `repo_url` names.
    pub fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    /// Where the working tree is.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `files` (paths relative to the working tree) on the current branch and commits
    /// them; returns the new commit id.
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
