//! Receiving an artifact from a runner (`PUT /api/runner/v1/jobs/{id}/artifacts/{*path}`): the
//! request body goes straight into a multipart write of the object store, a few MiB at a time,
//! so the server's memory stays bounded whatever the file's size. The per-file and per-build
//! limits are enforced while the bytes flow: past either, the upload is aborted (nothing is
//! kept: a multipart upload only becomes visible when completed) and the runner gets a 413. A
//! full disk (or an exhausted quota) aborts the upload the same way, with a 507 that says so.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::http::StatusCode;
use circlet_app::artifacts::{ArtifactStorage, content_type_of, object_key};
use circlet_core::artifact_path::ArtifactPath;
use circlet_store::{ArtifactRecord, JobRecord, NewArtifact, Project};
use futures_util::StreamExt;
use object_store::{ObjectStoreExt as _, WriteMultipart};
use sha2::{Digest, Sha256};

/// The size of each part written to the object store. S3 needs at least 5 MiB for every part
/// but the last; bigger parts only cost memory.
const PART_BYTES: usize = 5 * 1024 * 1024;

/// Parts being written at once per upload: with [`PART_BYTES`], at most about
/// `(PARTS_IN_FLIGHT + 1) × 5 MiB` of one upload is in memory at any time.
const PARTS_IN_FLIGHT: usize = 2;

/// Receives `body` as the artifact `path` of node `node` of `job` and records it. `declared` is the
/// request's `Content-Length`, when it sent one: an upload that announces itself too large is
/// refused before a byte is read.
pub async fn receive(
    state: &AppState,
    project: &Project,
    (job, node): (&JobRecord, i64),
    path: ArtifactPath,
    declared: Option<u64>,
    body: Body,
) -> Result<ArtifactRecord, ApiError> {
    let storage = &state.app.config.artifacts;
    let artifacts = state.app.store.artifacts();
    let existing = artifacts.of_job(job.id).await?;
    // Each node has its own artifacts (`node_index`); the build's limit counts them all.
    let same_node = |a: &&ArtifactRecord| a.node_index == node;
    if let Some(clash) = existing
        .iter()
        .filter(same_node)
        .find(|a| nested(&a.path, &path))
    {
        return Err(ApiError::Conflict(format!(
            "Artifact {path} cannot be stored: {} is already an artifact of this build, and a \
             file cannot also be a directory",
            clash.path
        )));
    }
    let used: u64 = existing
        .iter()
        .filter(|a| !(a.node_index == node && a.path == path))
        .map(|a| u64::try_from(a.size).unwrap_or(0))
        .sum();
    let room = storage.max_build_bytes.saturating_sub(used);
    let allowed = storage.max_file_bytes.min(room);
    if let Some(len) = declared
        && len > allowed
    {
        return Err(too_large(storage, &path, room));
    }

    let key = object_key(project, job.build_num, node, &path);
    let written = match stream_into(storage, &key, body, allowed, declared).await {
        Ok(w) => w,
        Err(Streamed::TooLarge) => return Err(too_large(storage, &path, room)),
        Err(Streamed::BrokeOff(e)) => {
            return Err(ApiError::Invalid(format!(
                "The upload of {path} broke off: {e}"
            )));
        }
        Err(Streamed::Short(size)) => {
            return Err(ApiError::Invalid(format!(
                "The upload of {path} ended after {size} bytes, not the announced length"
            )));
        }
        Err(Streamed::Store(what, e)) => {
            return Err(write_failed(what, &format!("Artifact {path}"), e));
        }
    };
    let (size, hasher, put) = (written.size, written.sha256, written.put);
    let record = artifacts
        .record(&NewArtifact {
            job_id: job.id,
            node_index: node,
            content_type: content_type_of(&path),
            path,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256: hasher,
            store_etag: put.e_tag,
        })
        .await?;
    Ok(record)
}

/// What a body written into the object store came to.
pub(crate) struct Written {
    /// Bytes written.
    pub size: u64,
    /// Their SHA-256, lowercase hex.
    pub sha256: String,
    /// The store's reply.
    pub put: object_store::PutResult,
}

/// Why a body was not written (and nothing was kept).
pub(crate) enum Streamed {
    /// It went past the bytes allowed.
    TooLarge,
    /// The client stopped sending mid-way.
    BrokeOff(String),
    /// It ended after this many bytes, fewer or more than its `Content-Length`.
    Short(u64),
    /// The store refused a write: what was being done, and its error.
    Store(&'static str, object_store::Error),
}

/// Streams `body` into a multipart write of `key`, at most `allowed` bytes, a few MiB in
/// memory at a time. The object exists only if this returns `Ok`: on any failure the upload is
/// aborted, and an aborted multipart upload leaves nothing behind.
pub(crate) async fn stream_into(
    storage: &ArtifactStorage,
    key: &object_store::path::Path,
    body: Body,
    allowed: u64,
    declared: Option<u64>,
) -> Result<Written, Streamed> {
    let upload = storage
        .store
        .put_multipart(key)
        .await
        .map_err(|e| Streamed::Store("start an upload", e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                abort(writer).await;
                return Err(Streamed::BrokeOff(e.to_string()));
            }
        };
        size += chunk.len() as u64;
        if size > allowed {
            abort(writer).await;
            return Err(Streamed::TooLarge);
        }
        hasher.update(&chunk);
        // Back-pressure: wait for a part to finish before buffering more than the next one.
        if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
            abort(writer).await;
            return Err(Streamed::Store("write an upload", e));
        }
        writer.put(chunk);
    }
    if declared.is_some_and(|len| len != size) {
        abort(writer).await;
        return Err(Streamed::Short(size));
    }
    let put = writer
        .finish()
        .await
        .map_err(|e| Streamed::Store("complete an upload", e))?;
    Ok(Written {
        size,
        sha256: hex::encode(hasher.finalize()),
        put,
    })
}

/// Whether one path is a directory of the other (`a` and `a/b`): on a filesystem they cannot
/// both be files, so neither backend accepts it.
fn nested(a: &ArtifactPath, b: &ArtifactPath) -> bool {
    let (a, b) = (a.as_str(), b.as_str());
    let under = |long: &str, short: &str| {
        long.len() > short.len() && long.starts_with(short) && long.as_bytes()[short.len()] == b'/'
    };
    under(a, b) || under(b, a)
}

fn too_large(storage: &ArtifactStorage, path: &ArtifactPath, room: u64) -> ApiError {
    let message = if room < storage.max_file_bytes {
        format!(
            "Artifact {path} does not fit: this build's artifacts may take {} bytes in all and \
             {room} bytes are left",
            storage.max_build_bytes
        )
    } else {
        format!(
            "Artifact {path} is larger than the {} bytes allowed per file",
            storage.max_file_bytes
        )
    };
    ApiError::Rejected(StatusCode::PAYLOAD_TOO_LARGE, message)
}

/// Abandons an upload: a multipart upload that is never completed leaves no object behind.
async fn abort(writer: WriteMultipart) {
    if let Err(e) = writer.abort().await {
        tracing::warn!("could not abort an artifact upload: {e}");
    }
}

/// A failed write to the artifact store: a full disk or quota is a 507 the runner can show
/// (and an error the operator sees in the log), anything else an internal error.
pub(crate) fn write_failed(
    what: &str,
    subject: &dyn std::fmt::Display,
    e: object_store::Error,
) -> ApiError {
    if out_of_space(&e) {
        tracing::error!("artifact storage is full: could not {what} ({subject}): {e}");
        return ApiError::StorageFull(format!(
            "{subject} could not be stored: the server's artifact storage is full"
        ));
    }
    ApiError::Internal(anyhow::Error::new(e).context(format!("could not {what}")))
}

/// Whether an I/O error that says "no space left" (`ENOSPC`) or "quota exceeded" (`EDQUOT`)
/// lies anywhere in `e`'s chain of causes.
fn out_of_space(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        cause = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_apart_from_other_write_failures() {
        let io = |kind| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(kind)),
        };
        assert!(out_of_space(&io(std::io::ErrorKind::StorageFull)));
        assert!(out_of_space(&io(std::io::ErrorKind::QuotaExceeded)));
        assert!(!out_of_space(&io(std::io::ErrorKind::PermissionDenied)));
        let path = ArtifactPath::parse("out/big.bin").unwrap();
        let subject = format!("Artifact {path}");
        let full = write_failed("write", &subject, io(std::io::ErrorKind::StorageFull));
        assert_eq!(full.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(full.to_string().contains("out/big.bin"), "{full}");
        let other = write_failed("write", &subject, io(std::io::ErrorKind::PermissionDenied));
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_file_and_a_directory_of_the_same_name_clash() {
        let p = |s: &str| ArtifactPath::parse(s).unwrap();
        assert!(nested(&p("a"), &p("a/b")));
        assert!(nested(&p("a/b/c"), &p("a")));
        assert!(!nested(&p("a"), &p("a")));
        assert!(!nested(&p("ab"), &p("a/b")));
        assert!(!nested(&p("a.txt"), &p("a/b")));
    }
}
