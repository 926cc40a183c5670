//! Moving archives between a job's directories and the server: [`send`] makes an archive on the
//! blocking pool while it is uploaded, [`receive`] unpacks one while it downloads. Each holds at
//! most a few MiB of it in memory whatever its size, and stops when the job is stopped.

use crate::archive::{self, Cancel, ChannelWriter, Counting, Source, Totals};
use crate::report::{Download, ReportError, Stop, Upload};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a transfer ended badly.
#[derive(Debug)]
pub(crate) enum Failed {
    /// The job was stopped meanwhile.
    Stopped,
    /// The server said the job is no longer this runner's.
    Lost,
    /// Anything else, said in a sentence.
    Error(String),
}

/// A finished transfer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moved<T> {
    /// What the upload or download said.
    pub reply: T,
    /// What the archive held.
    pub totals: Totals,
    /// Bytes sent or received (compressed).
    pub wire_bytes: u64,
    /// How long it took.
    pub took: Duration,
}

/// Archives `sources` and hands the archive, as it is made, to `upload`.
pub(crate) async fn send<T, F>(
    sources: Vec<Source>,
    stop: &Stop,
    upload: impl FnOnce(Upload) -> F,
) -> Result<Moved<T>, Failed>
where
    F: Future<Output = Result<T, ReportError>>,
{
    let started = Instant::now();
    let cancel = Arc::new(AtomicBool::new(false));
    let (writer, rx) = ChannelWriter::new();
    let wire = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let making = {
        let cancel = cancel.clone();
        let wire = wire.clone();
        tokio::task::spawn_blocking(move || {
            let mut counted = CountingWriter {
                inner: writer,
                wire,
            };
            match archive::write(&sources, &mut counted, &cancel) {
                Ok(totals) => Ok(totals),
                Err(e) => {
                    counted.inner.fail(&e);
                    Err(e)
                }
            }
        })
    };
    let sent = tokio::select! {
        sent = upload(rx) => sent,
        reason = stop.wait() => {
            let _ = reason;
            cancel.store(true, Ordering::Relaxed);
            let _ = making.await;
            return Err(Failed::Stopped);
        }
    };
    // The archive's own error explains a broken-off upload best.
    let made = making
        .await
        .map_err(|e| Failed::Error(format!("making the archive failed: {e}")))?;
    let totals = made.map_err(|e| Failed::Error(format!("could not make the archive: {e}")))?;
    let reply = sent.map_err(|e| match e {
        ReportError::Lost => Failed::Lost,
        other => Failed::Error(format!("could not upload the archive: {other}")),
    })?;
    Ok(Moved {
        reply,
        totals,
        wire_bytes: wire.load(Ordering::Relaxed),
        took: started.elapsed(),
    })
}

/// A writer counting the compressed bytes on their way to the channel.
struct CountingWriter {
    inner: ChannelWriter,
    wire: Arc<std::sync::atomic::AtomicU64>,
}

impl std::io::Write for CountingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.wire.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where an archive's entries go (see [`archive::Place`]), owned for the blocking pool.
pub(crate) type PlaceFn = Box<dyn Fn(&Path) -> Option<(PathBuf, PathBuf)> + Send>;

/// A check of each entry before it is written (see [`archive::read`]).
pub(crate) type EntryCheck = Box<dyn FnMut(&Path) -> Result<(), String> + Send>;

/// Downloads an archive of `expected` bytes with `download` and unpacks it where `place` says;
/// `on_entry` may refuse an entry (see [`archive::read`]).
pub(crate) async fn receive<F>(
    download: F,
    expected: u64,
    place: PlaceFn,
    mut on_entry: EntryCheck,
    stop: &Stop,
) -> Result<Moved<()>, Failed>
where
    F: Future<Output = Result<Download, ReportError>>,
{
    let started = Instant::now();
    let reader = tokio::select! {
        r = download => r.map_err(|e| match e {
            ReportError::Lost => Failed::Lost,
            other => Failed::Error(format!("could not download the archive: {other}")),
        })?,
        _ = stop.wait() => return Err(Failed::Stopped),
    };
    let cancel: Arc<Cancel> = Arc::new(AtomicBool::new(false));
    let unpacking = {
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || {
            let mut input = Counting::new(tokio_util::io::SyncIoBridge::new(reader));
            let totals = archive::read(&mut input, &*place, &mut *on_entry, &cancel)?;
            // Read to the end: what follows the archive's last entry must be nothing.
            std::io::copy(&mut input, &mut std::io::sink())?;
            Ok::<_, std::io::Error>((totals, input.read))
        })
    };
    tokio::pin!(unpacking);
    let unpacked = tokio::select! {
        u = &mut unpacking => u,
        _ = stop.wait() => {
            cancel.store(true, Ordering::Relaxed);
            let _ = unpacking.await;
            return Err(Failed::Stopped);
        }
    };
    let (totals, read) = unpacked
        .map_err(|e| Failed::Error(format!("unpacking failed: {e}")))?
        .map_err(|e| Failed::Error(format!("could not unpack the archive: {e}")))?;
    if read != expected {
        return Err(Failed::Error(format!(
            "the archive is {expected} bytes but {read} arrived: it was cut short"
        )));
    }
    Ok(Moved {
        reply: (),
        totals,
        wire_bytes: read,
        took: started.elapsed(),
    })
}

/// Bytes as people read them: `512 B`, `1.5 KiB`, `12.3 MiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration as `0.42s`.
pub(crate) fn took(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(500 * 1024 * 1024), "500.0 MiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
