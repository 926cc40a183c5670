//! The places a job may keep files that outlive it (caches, workspaces): its directory `~` and
//! its `/tmp`. A path of a `save_cache`, `persist_to_workspace` or `attach_workspace` step, or a
//! file a cache key's `checksum` reads, must lie in one of them; the runner, which reads and
//! writes them outside the sandbox, never goes anywhere else for a job, through a symbolic link
//! either.
//!
//! Archives name files by area (`home/…`, `tmp/…`) rather than by host path, so a cache saved by
//! one job restores into another job's directory, on any runner.

use crate::sandbox::{JobDirs, Sandbox};
use crate::workdir;
use std::path::{Path, PathBuf};

/// One of the job's two places.
#[derive(Debug, Clone)]
pub(crate) struct Area {
    /// Its name in archives: `home` or `tmp`.
    pub name: &'static str,
    /// Where the job sees it (`~`'s path, `/tmp`).
    pub seen: PathBuf,
    /// Where it is on the host.
    pub host: PathBuf,
}

/// A path of the job, placed.
#[derive(Debug, Clone)]
pub(crate) struct Placed<'a> {
    /// Its area.
    pub area: &'a Area,
    /// Its path below the area.
    pub rel: PathBuf,
}

impl Placed<'_> {
    /// Where it is on the host.
    pub(crate) fn host(&self) -> PathBuf {
        self.area.host.join(&self.rel)
    }

    /// Its name in a cache archive: `home/…` or `tmp/…`.
    pub(crate) fn archive_name(&self) -> PathBuf {
        Path::new(self.area.name).join(&self.rel)
    }
}

/// A job's areas.
#[derive(Debug, Clone)]
pub(crate) struct Areas {
    areas: [Area; 2],
    root: PathBuf,
    workdir: PathBuf,
}

impl Areas {
    /// The areas of the job whose directories are `dirs`, commands seeing `root` as `~`.
    pub(crate) fn new(sandbox: &Sandbox, dirs: &JobDirs, root: &Path, workdir: &Path) -> Areas {
        let tmp_host = sandbox
            .on_host(Path::new("/tmp"), dirs)
            .unwrap_or_else(|| dirs.tmp.clone());
        Areas {
            areas: [
                Area {
                    name: "home",
                    seen: root.to_path_buf(),
                    host: root.to_path_buf(),
                },
                Area {
                    name: "tmp",
                    seen: PathBuf::from("/tmp"),
                    host: tmp_host,
                },
            ],
            root: root.to_path_buf(),
            workdir: workdir.to_path_buf(),
        }
    }

    /// `given` (as a config writes it: `~/x`, `/tmp/x`, or relative to `base`, the working
    /// directory by default) placed in an area, or why it cannot be.
    pub(crate) fn place(&self, given: &str, base: Option<&Path>) -> Result<Placed<'_>, String> {
        let seen = workdir::resolve(&self.root, base.unwrap_or(&self.workdir), given);
        self.place_seen(&seen).ok_or_else(|| {
            format!(
                "{given} ({}) is outside the job's directories: only paths under ~ ({}) and /tmp can be kept",
                seen.display(),
                self.root.display()
            )
        })
    }

    fn place_seen(&self, seen: &Path) -> Option<Placed<'_>> {
        self.areas.iter().find_map(|area| {
            let rel = seen.strip_prefix(&area.seen).ok()?;
            Some(Placed {
                area,
                rel: rel.to_path_buf(),
            })
        })
    }

    /// The area a cache archive's name (`home/…`, `tmp/…`) belongs to: the directory to unpack
    /// it into and its name there.
    pub(crate) fn for_archive_name(&self, name: &Path) -> Option<(PathBuf, PathBuf)> {
        let mut parts = name.components();
        let first = parts.next()?.as_os_str().to_str()?;
        let area = self.areas.iter().find(|a| a.name == first)?;
        Some((area.host.clone(), parts.as_path().to_path_buf()))
    }

    /// Makes sure an area's directory exists on the host.
    pub(crate) fn ensure(&self) -> std::io::Result<()> {
        for area in &self.areas {
            std::fs::create_dir_all(&area.host)?;
        }
        Ok(())
    }
}

/// Whether `pattern` has glob characters.
pub(crate) fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The existing paths `placed` names: itself, or what its glob pattern matches, in order. Every
/// path is checked to lie in the area without passing through a symbolic link that leaves it.
pub(crate) fn expand(placed: &Placed<'_>) -> Result<Vec<PathBuf>, String> {
    let rel = placed.rel.to_string_lossy();
    let found: Vec<PathBuf> = if is_glob(&rel) {
        let base = glob::Pattern::escape(&placed.area.host.to_string_lossy());
        let pattern = format!("{base}/{rel}");
        let matches =
            glob::glob(&pattern).map_err(|e| format!("'{rel}' is not a valid glob: {e}"))?;
        matches.filter_map(Result::ok).collect()
    } else {
        let host = placed.host();
        if std::fs::symlink_metadata(&host).is_ok() {
            vec![host]
        } else {
            vec![]
        }
    };
    for path in &found {
        inside(&placed.area.host, path)?;
    }
    Ok(found)
}

/// Fails unless `path`'s directory, resolved, lies in `area` (the path itself may be a link:
/// it is archived as one, never followed).
pub(crate) fn inside(area: &Path, path: &Path) -> Result<(), String> {
    let area = area
        .canonicalize()
        .map_err(|e| format!("cannot read {}: {e}", area.display()))?;
    let parent = path.parent().unwrap_or(path);
    let real = parent
        .canonicalize()
        .map_err(|e| format!("cannot read {}: {e}", parent.display()))?;
    if real.starts_with(&area) {
        Ok(())
    } else {
        Err(format!(
            "{} leads out of the job's directories (through a symbolic link)",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn areas(dir: &Path) -> Areas {
        let dirs = JobDirs {
            root: dir.join("job"),
            tmp: dir.join("job.tmp"),
            work: dir.to_path_buf(),
        };
        std::fs::create_dir_all(&dirs.root).unwrap();
        std::fs::create_dir_all(&dirs.tmp).unwrap();
        Areas::new(
            &Sandbox::None,
            &dirs,
            &dirs.root,
            &dirs.root.join("project"),
        )
    }

    #[test]
    fn paths_are_placed_in_home_or_tmp_and_nowhere_else() {
        let dir = tempfile::tempdir().unwrap();
        let a = areas(dir.path());
        let p = a.place("~/.cache/pip", None).unwrap();
        assert_eq!(p.archive_name(), Path::new("home/.cache/pip"));
        let p = a.place("node_modules", None).unwrap();
        assert_eq!(p.archive_name(), Path::new("home/project/node_modules"));
        let p = a.place("/tmp/x", None).unwrap();
        assert_eq!(p.archive_name(), Path::new("tmp/x"));
        // (The test's own directories lie under /tmp, which is an area too.)
        for outside in ["/etc", "/", "~/../../..", "/tmpfoo"] {
            let e = a.place(outside, None).unwrap_err();
            assert!(
                e.contains("outside the job's directories"),
                "{outside}: {e}"
            );
        }
        let (base, rel) = a.for_archive_name(Path::new("home/a/b")).unwrap();
        assert_eq!(base, dir.path().join("job"));
        assert_eq!(rel, Path::new("a/b"));
        assert!(a.for_archive_name(Path::new("etc/passwd")).is_none());
    }

    #[test]
    fn globs_match_inside_and_links_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = areas(dir.path());
        let project = dir.path().join("job/project");
        std::fs::create_dir_all(project.join("target/a")).unwrap();
        std::fs::write(project.join("target/a/x.whl"), "x").unwrap();
        std::fs::write(project.join("target/y.whl"), "y").unwrap();
        let found = expand(&a.place("target/**/*.whl", None).unwrap()).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            expand(&a.place("nothing-here", None).unwrap())
                .unwrap()
                .is_empty()
        );
        std::os::unix::fs::symlink("/etc", project.join("etc")).unwrap();
        let e = expand(&a.place("etc/*", None).unwrap()).unwrap_err();
        assert!(e.contains("leads out"), "{e}");
        // The link itself is kept as a link.
        assert_eq!(expand(&a.place("etc", None).unwrap()).unwrap().len(), 1);
    }
}
