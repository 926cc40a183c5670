//! Finding the files a `store_artifacts` or `store_test_results` step names. A symbolic link
//! is followed only to a file inside the job's root, so a step cannot publish the runner's own
//! files (its home, its keys) by linking to them; linked directories are not entered, which also
//! rules out cycles.

use std::path::{Path, PathBuf};

/// A regular file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Where it is.
    pub path: PathBuf,
    /// Its path below the starting directory, one name per segment; empty when the start was
    /// this file itself.
    pub rel: Vec<String>,
}

/// What a walk found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// The files, in name order (depth first).
    pub files: Vec<Found>,
    /// Lines explaining what was left out and why.
    pub skipped: Vec<String>,
}

/// Every regular file at or below `start` (a file or a directory). `None` when `start` does
/// not exist. Links are followed only to files inside one of `bounds`.
pub(crate) fn files_under(start: &Path, bounds: &[PathBuf]) -> Option<Walk> {
    let bounds: Vec<PathBuf> = bounds
        .iter()
        .map(|b| b.canonicalize().unwrap_or_else(|_| b.clone()))
        .collect();
    let inside = |target: &Path| bounds.iter().any(|b| target.starts_with(b));
    let mut walk = Walk::default();
    std::fs::symlink_metadata(start).ok()?;
    // A link among the directories above `start` could lead anywhere.
    if let Some(parent) = start.parent()
        && let Ok(real) = parent.canonicalize()
        && !inside(&real)
    {
        walk.skipped.push(format!(
            "{}: behind a link to outside the job's directory, not followed",
            start.display()
        ));
        return Some(walk);
    }
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(start.to_path_buf(), Vec::new())];
    while let Some((path, rel)) = stack.pop() {
        let shown = || {
            if rel.is_empty() {
                path.display().to_string()
            } else {
                rel.join("/")
            }
        };
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            walk.skipped.push(format!("{}: cannot be read", shown()));
            continue;
        };
        if meta.file_type().is_symlink() {
            match path.canonicalize() {
                Ok(target) if inside(&target) && target.is_file() => {
                    walk.files.push(Found { path, rel });
                }
                Ok(target) if inside(&target) => walk
                    .skipped
                    .push(format!("{}: a link to a directory, not followed", shown())),
                Ok(_) => walk.skipped.push(format!(
                    "{}: a link to outside the job's directory, not followed",
                    shown()
                )),
                Err(_) => walk
                    .skipped
                    .push(format!("{}: a broken link, skipped", shown())),
            }
        } else if meta.is_file() {
            walk.files.push(Found { path, rel });
        } else if meta.is_dir() {
            let Ok(entries) = std::fs::read_dir(&path) else {
                walk.skipped
                    .push(format!("{}: directory cannot be read", shown()));
                continue;
            };
            let mut names: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect();
            names.sort();
            // Reversed onto the stack so that they come off it in name order.
            for name in names.into_iter().rev() {
                let mut child_rel = rel.clone();
                child_rel.push(name.to_string_lossy().into_owned());
                stack.push((path.join(&name), child_rel));
            }
        }
        // Sockets, fifos and devices are not files to upload.
    }
    Some(walk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn files_are_found_in_order_and_links_out_of_the_job_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "PRIVATE").unwrap();
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("project/out");
        std::fs::create_dir_all(out.join("b/c")).unwrap();
        std::fs::write(out.join("a.txt"), "a").unwrap();
        std::fs::write(out.join("b/c/d.txt"), "d").unwrap();
        std::fs::write(root.path().join("inside.txt"), "i").unwrap();
        symlink(outside.path().join("id_rsa"), out.join("key")).unwrap();
        symlink(root.path().join("inside.txt"), out.join("ok-link")).unwrap();
        symlink(&out, out.join("loop")).unwrap();
        symlink(out.join("nowhere"), out.join("broken")).unwrap();

        let walk = files_under(&out, &[root.path().to_path_buf()]).unwrap();
        let rels: Vec<String> = walk.files.iter().map(|f| f.rel.join("/")).collect();
        assert_eq!(rels, ["a.txt", "b/c/d.txt", "ok-link"]);
        let notes = walk.skipped.join("\n");
        assert!(notes.contains("key: a link to outside"), "{notes}");
        assert!(notes.contains("loop: a link to a directory"), "{notes}");
        assert!(notes.contains("broken: a broken link"), "{notes}");

        let single = files_under(&out.join("a.txt"), &[root.path().to_path_buf()]).unwrap();
        assert_eq!(single.files.len(), 1);
        assert!(single.files[0].rel.is_empty());
        assert!(files_under(&out.join("missing"), &[root.path().to_path_buf()]).is_none());
    }

    #[test]
    fn a_link_among_the_directories_above_the_start_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("env.key"), "KEY").unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("data")).unwrap();
        let bounds = [root.path().to_path_buf()];
        let walk = files_under(&root.path().join("data/env.key"), &bounds).unwrap();
        assert!(walk.files.is_empty(), "{:?}", walk.files);
        assert!(
            walk.skipped[0].contains("outside the job's directory"),
            "{:?}",
            walk.skipped
        );
        // A second bound (the job's /tmp) counts as inside.
        let both = [root.path().to_path_buf(), outside.path().to_path_buf()];
        let walk = files_under(&root.path().join("data/env.key"), &both).unwrap();
        assert_eq!(walk.files.len(), 1);
    }
}
