//! Where a job's files go: every job gets a fresh root, `<work dir>/<job id>/`, and `~` in a
//! config means that root, never the home directory of the user the runner runs as. Jobs from
//! different projects therefore never see each other's files, nor the runner's own.

use std::path::{Component, Path, PathBuf};

/// Resolves a directory named in a config: `~` or `~/x` is inside the job `root`, an absolute
/// path stays as it is, and anything else is relative to `base`. `.` and `..` are resolved
/// lexically so that the path shown to users is the one used.
pub fn resolve(root: &Path, base: &Path, given: &str) -> PathBuf {
    let joined = if given == "~" {
        root.to_path_buf()
    } else if let Some(rest) = given.strip_prefix("~/") {
        root.join(rest.trim_start_matches('/'))
    } else if Path::new(given).is_absolute() {
        PathBuf::from(given)
    } else {
        base.join(given)
    };
    normalize(&joined)
}

/// Drops `.` components and lets `..` remove the component before it, without touching the
/// file system (the directories may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_is_the_job_root() {
        let root = Path::new("/w/job-1");
        assert_eq!(resolve(root, root, "~"), root);
        assert_eq!(resolve(root, root, "~/"), root);
        assert_eq!(resolve(root, root, "~/project"), root.join("project"));
        assert_eq!(
            resolve(root, root, "~//project/./src"),
            root.join("project/src")
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_base_and_absolute_ones_stay() {
        let root = Path::new("/w/job-1");
        let base = root.join("project");
        assert_eq!(resolve(root, root, "project"), base);
        assert_eq!(resolve(root, &base, "sub/dir"), base.join("sub/dir"));
        assert_eq!(resolve(root, &base, "../other"), root.join("other"));
        assert_eq!(resolve(root, &base, "/tmp/out"), Path::new("/tmp/out"));
        // A step's `~` is the job root too, not relative to the job's directory.
        assert_eq!(resolve(root, &base, "~/x"), root.join("x"));
        // Only a leading `~` is special.
        assert_eq!(resolve(root, &base, "a/~/b"), base.join("a/~/b"));
        assert_eq!(resolve(root, &base, "~user"), base.join("~user"));
    }

    #[test]
    fn tilde_never_reaches_the_real_home() {
        let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
        let root = Path::new("/srv/circlet-runner-work/3f2c1b9e");
        for given in ["~", "~/", "~/project", "~/.ssh", "~/./project", "~//x"] {
            let got = resolve(root, root, given);
            assert!(got.starts_with(root), "{given} -> {}", got.display());
            if home != Path::new("/") {
                assert!(!got.starts_with(&home), "{given} -> {}", got.display());
            }
        }
    }
}
