//! Cache and workspace archives: tar inside zstd, written and read as streams, so a 500 MB
//! cache never sits in memory. Blocking code: callers run it on tokio's blocking pool.
//!
//! Writing never follows a symbolic link (it is archived as the link it is) and skips sockets,
//! pipes and devices. Reading trusts nothing in the archive: every name must be relative and
//! plain (no `..`, no root), hard links are refused, and no entry is written through a
//! symbolic link that leads out of the directory it is unpacked into — the runner unpacks
//! outside the job's sandbox, so an archive must not be able to reach anything the job could
//! not. zstd checksums each frame and the reader insists on the frame's end: a truncated or
//! corrupted archive is an error.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// zstd's level: its default, a good trade of speed for size on both ends.
const LEVEL: i32 = 3;

/// One path to archive: where it is on the host, and its name in the archive.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// The file, directory or link on the host.
    pub host: PathBuf,
    /// Its relative name in the archive; a directory's contents go below it.
    pub name: PathBuf,
}

/// What an archive held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Files and links.
    pub files: u64,
    /// Their bytes, before compression.
    pub bytes: u64,
}

/// How to stop a transfer: set it and the next entry fails with "stopped".
pub(crate) type Cancel = AtomicBool;

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "stopped")
}

/// Writes `sources` (directories with everything below them) as tar + zstd into `out`.
pub(crate) fn write(sources: &[Source], out: impl Write, cancel: &Cancel) -> io::Result<Totals> {
    let mut encoder = zstd::stream::write::Encoder::new(out, LEVEL)?;
    encoder.include_checksum(true)?;
    let mut tar = tar::Builder::new(encoder);
    tar.follow_symlinks(false);
    let mut totals = Totals::default();
    for source in sources {
        add(&mut tar, &source.host, &source.name, &mut totals, cancel)?;
    }
    let encoder = tar.into_inner()?;
    let mut out = encoder.finish()?;
    out.flush()?;
    Ok(totals)
}

fn add<W: Write>(
    tar: &mut tar::Builder<W>,
    host: &Path,
    name: &Path,
    totals: &mut Totals,
    cancel: &Cancel,
) -> io::Result<()> {
    if cancel.load(Ordering::Relaxed) {
        return Err(stopped());
    }
    let meta = fs::symlink_metadata(host)?;
    let kind = meta.file_type();
    if kind.is_dir() {
        if !name.as_os_str().is_empty() {
            tar.append_path_with_name(host, name)?;
        }
        let mut children: Vec<_> = fs::read_dir(host)?.collect::<io::Result<_>>()?;
        children.sort_by_key(fs::DirEntry::file_name);
        for child in children {
            add(
                tar,
                &child.path(),
                &name.join(child.file_name()),
                totals,
                cancel,
            )?;
        }
    } else if kind.is_file() || kind.is_symlink() {
        tar.append_path_with_name(host, name)?;
        totals.files += 1;
        if kind.is_file() {
            totals.bytes += meta.len();
        }
    }
    // Sockets, pipes and devices mean nothing in another job.
    Ok(())
}

/// Where an archive's entries go: for a name, the directory it is unpacked into (which must
/// exist) and its name below it; `None` refuses the entry.
pub(crate) type Place<'a> = &'a dyn Fn(&Path) -> Option<(PathBuf, PathBuf)>;

/// Unpacks the tar + zstd archive `input` as `place` says. `on_entry` sees each file or link's
/// name before it is written and may refuse it (a workspace's clash).
pub(crate) fn read(
    input: impl Read,
    place: Place<'_>,
    on_entry: &mut dyn FnMut(&Path) -> Result<(), String>,
    cancel: &Cancel,
) -> io::Result<Totals> {
    let decoder = zstd::stream::read::Decoder::new(input)?;
    let mut archive = tar::Archive::new(decoder);
    let mut totals = Totals::default();
    for entry in archive.entries()? {
        if cancel.load(Ordering::Relaxed) {
            return Err(stopped());
        }
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        if name.as_os_str().is_empty()
            || !name.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(corrupt(format!(
                "the entry '{}' is not a plain relative path",
                name.display()
            )));
        }
        let (base, rel) = place(&name)
            .ok_or_else(|| corrupt(format!("the entry '{}' has no place here", name.display())))?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {
                safe_dir(&base, &rel)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Symlink => {
                on_entry(&rel).map_err(io::Error::other)?;
                let parent = safe_dir(&base, rel.parent().unwrap_or(Path::new("")))?;
                let file_name = rel
                    .file_name()
                    .ok_or_else(|| corrupt(format!("'{}' names no file", name.display())))?;
                let target = parent.join(file_name);
                if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                    return Err(io::Error::other(format!(
                        "{} is a directory here; the archive has a file there",
                        target.display()
                    )));
                }
                entry.unpack(&target).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot write {}: {e}", target.display()))
                })?;
                totals.files += 1;
                if kind != tar::EntryType::Symlink {
                    totals.bytes += entry.header().size().unwrap_or(0);
                }
            }
            tar::EntryType::Link => {
                return Err(corrupt(format!(
                    "the entry '{}' is a hard link, which archives made here never hold",
                    name.display()
                )));
            }
            // Devices, pipes and the like: nothing a job needs back.
            _ => {}
        }
    }
    // To the frame's end, so that zstd checks the checksum of all of it.
    io::copy(&mut archive.into_inner(), &mut io::sink())?;
    Ok(totals)
}

fn corrupt(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the archive is not one this runner made: {what}"),
    )
}

/// The directory `base/rel` on the host, made where missing, reached without leaving `base`:
/// a symbolic link on the way must lead to a directory inside `base` itself.
pub(crate) fn safe_dir(base: &Path, rel: &Path) -> io::Result<PathBuf> {
    let root = base.canonicalize()?;
    let mut at = root.clone();
    for part in rel.components() {
        let Component::Normal(part) = part else {
            return Err(corrupt(format!("'{}' is not plain", rel.display())));
        };
        let next = at.join(part);
        match fs::symlink_metadata(&next) {
            Ok(m) if m.is_dir() => at = next,
            Ok(m) if m.file_type().is_symlink() => {
                let target = next.canonicalize().ok().filter(|t| t.is_dir());
                match target {
                    Some(t) if t.starts_with(&root) => at = t,
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            format!(
                                "{} is a symbolic link that leads out of {}; nothing is written through it",
                                next.display(),
                                base.display()
                            ),
                        ));
                    }
                }
            }
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is a file here; the archive has a directory there",
                    next.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&next)?;
                at = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// A [`Write`] whose bytes go, in chunks of [`CHUNK`], into a bounded channel that an upload
/// reads: the archive is made only as fast as it is sent.
pub(crate) struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

/// Bytes per chunk sent.
pub(crate) const CHUNK: usize = 1 << 20;

/// Chunks waiting in the channel at most: with [`CHUNK`], the most of an archive in memory.
pub(crate) const CHUNKS_IN_FLIGHT: usize = 4;

impl ChannelWriter {
    /// A writer and the receiving end for the upload.
    pub(crate) fn new() -> (ChannelWriter, crate::report::Upload) {
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        (
            ChannelWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            },
            rx,
        )
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }

    /// Ends the upload with an error, so that it is abandoned rather than completed.
    pub(crate) fn fail(self, e: &io::Error) {
        let _ = self
            .tx
            .blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A [`Read`] counting what passed through it.
pub(crate) struct Counting<R> {
    inner: R,
    /// Bytes read so far.
    pub read: u64,
}

impl<R> Counting<R> {
    pub(crate) fn new(inner: R) -> Self {
        Counting { inner, read: 0 }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn pack(sources: &[Source]) -> Vec<u8> {
        let mut out = Vec::new();
        write(sources, &mut out, &AtomicBool::new(false)).unwrap();
        out
    }

    fn unpack_into(bytes: &[u8], dir: &Path) -> io::Result<Totals> {
        let dir = dir.to_path_buf();
        let place = move |name: &Path| Some((dir.clone(), name.to_path_buf()));
        read(bytes, &place, &mut |_| Ok(()), &AtomicBool::new(false))
    }

    #[test]
    fn files_dirs_modes_and_links_come_back() {
        use std::os::unix::fs::PermissionsExt;
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("deps/bin")).unwrap();
        fs::write(from.path().join("deps/bin/tool"), "#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(
            from.path().join("deps/bin/tool"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        fs::write(from.path().join("deps/data.txt"), "x".repeat(10_000)).unwrap();
        symlink("bin/tool", from.path().join("deps/link")).unwrap();
        let bytes = pack(&[Source {
            host: from.path().join("deps"),
            name: "home/deps".into(),
        }]);
        assert!(bytes.len() < 10_000, "compressed: {}", bytes.len());
        let to = tempfile::tempdir().unwrap();
        let totals = unpack_into(&bytes, to.path()).unwrap();
        assert_eq!(totals.files, 3);
        assert_eq!(totals.bytes, 10_000 + 18);
        let tool = to.path().join("home/deps/bin/tool");
        assert_eq!(fs::read_to_string(&tool).unwrap(), "#!/bin/sh\necho hi\n");
        assert_eq!(
            fs::metadata(&tool).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            fs::read_link(to.path().join("home/deps/link")).unwrap(),
            Path::new("bin/tool")
        );
    }

    #[test]
    fn a_truncated_or_corrupt_archive_is_an_error() {
        let from = tempfile::tempdir().unwrap();
        let noise: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        fs::write(from.path().join("big.bin"), &noise).unwrap();
        let bytes = pack(&[Source {
            host: from.path().join("big.bin"),
            name: "big.bin".into(),
        }]);
        let to = tempfile::tempdir().unwrap();
        let cut = unpack_into(&bytes[..bytes.len() / 2], to.path());
        assert!(cut.is_err(), "a truncated archive must fail");
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        assert!(
            unpack_into(&flipped, to.path()).is_err(),
            "a corrupt archive must fail"
        );
        assert!(unpack_into(b"not zstd at all", to.path()).is_err());
    }

    /// An archive by hand, the way a hostile one would be made.
    fn hostile(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, kind, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(if *kind == tar::EntryType::Regular {
                5
            } else {
                0
            });
            if !link.is_empty() {
                header.set_link_name(link).unwrap();
            }
            // `set_path` refuses `..`; write the raw name as an attacker would.
            let raw = &mut header.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            let data: &[u8] = if *kind == tar::EntryType::Regular {
                b"owned"
            } else {
                b""
            };
            tar.append(&header, data).unwrap();
        }
        let raw = tar.into_inner().unwrap();
        zstd::encode_all(&raw[..], 3).unwrap()
    }

    #[test]
    fn nothing_is_written_outside_the_directory() {
        let outside = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        let escape = hostile(&[("../escaped", tar::EntryType::Regular, "")]);
        assert!(unpack_into(&escape, to.path()).is_err());
        let absolute = hostile(&[("/tmp/absolute", tar::EntryType::Regular, "")]);
        assert!(unpack_into(&absolute, to.path()).is_err());
        // A link out, then a file through it.
        let outside_dir = outside.path().to_str().unwrap();
        let through = hostile(&[
            ("out", tar::EntryType::Symlink, outside_dir),
            ("out/owned.txt", tar::EntryType::Regular, ""),
        ]);
        let e = unpack_into(&through, to.path()).unwrap_err();
        assert!(e.to_string().contains("leads out of"), "{e}");
        assert!(!outside.path().join("owned.txt").exists());
        let hard = hostile(&[("h", tar::EntryType::Link, "/etc/passwd")]);
        assert!(
            unpack_into(&hard, to.path())
                .unwrap_err()
                .to_string()
                .contains("hard link")
        );
        // An existing link at a file's place is replaced, never written through.
        let victim = outside.path().join("victim");
        fs::write(&victim, "safe").unwrap();
        symlink(&victim, to.path().join("f")).unwrap();
        unpack_into(&hostile(&[("f", tar::EntryType::Regular, "")]), to.path()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "safe");
        assert_eq!(fs::read_to_string(to.path().join("f")).unwrap(), "owned");
    }

    #[test]
    fn a_stop_ends_the_work() {
        let from = tempfile::tempdir().unwrap();
        fs::write(from.path().join("a"), "a").unwrap();
        let e = write(
            &[Source {
                host: from.path().into(),
                name: "x".into(),
            }],
            Vec::new(),
            &AtomicBool::new(true),
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
    }
}
