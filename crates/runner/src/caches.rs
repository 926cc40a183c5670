//! `save_cache` and `restore_cache`, as CircleCI documents them: a key rendered from its
//! template (`circlet_core::cache_key`), paths with `~` and globs, keys tried in order as
//! prefixes, the newest match restored, a saved key never replaced. Archives are streamed
//! (see [`crate::transfer`]); the output says which key, how large and how long.

use crate::archive::Source;
use crate::areas::{self, Areas};
use crate::output::OutputSink;
use crate::report::{ReportError, Reporter, StopReason};
use crate::step::{JobContext, StepEnd};
use crate::transfer::{self, Failed};
use base64::Engine as _;
use circlet_core::cache_key::{self, KeyValues, MAX_KEY_LEN};
use circlet_core::runner_protocol::{CacheLookup, Outcome};
use sha2::{Digest, Sha256};

/// `save_cache`: archives `paths` as the cache `key` unless that key is saved already.
pub(crate) async fn save<R: Reporter>(
    ctx: &JobContext<'_, R>,
    template: &str,
    paths: &[String],
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let areas = ctx.areas();
    let key = match render(ctx, &areas, template).await {
        Ok(key) => key,
        Err(e) => return fail(sink, &e),
    };
    let lookup = CacheLookup {
        keys: vec![key.clone()],
        exact: true,
    };
    match ctx.reporter.cache_lookup(&lookup).await {
        Ok(Some(_)) => {
            sink.line(&format!(
                "Skipping cache generation, cache already exists for key: {key}"
            ));
            sink.line("A saved cache key is never overwritten: put a checksum or {{ epoch }} in the key for a new one.");
            return StepEnd::new(Outcome::Success, None);
        }
        Ok(None) => {}
        Err(e) => return reporting_failed(ctx, sink, e),
    }
    let mut sources = Vec::new();
    for given in paths {
        let placed = match areas.place(given, None) {
            Ok(p) => p,
            Err(e) => return fail(sink, &e),
        };
        let found = {
            let placed = placed.clone();
            let area = placed.area.clone();
            let rel = placed.rel.clone();
            blocking(move || {
                let placed = areas::Placed { area: &area, rel };
                areas::expand(&placed)
            })
            .await
        };
        let found = match found {
            Ok(found) => found,
            Err(e) => return fail(sink, &e),
        };
        if found.is_empty() {
            sink.line(&format!(
                "Warning: could not find {given}; it is not cached"
            ));
        }
        for host in found {
            let rel = host
                .strip_prefix(&placed.area.host)
                .unwrap_or(&host)
                .to_path_buf();
            let name = areas::Placed {
                area: placed.area,
                rel,
            }
            .archive_name();
            sources.push(Source { host, name });
        }
    }
    if sources.is_empty() {
        sink.line(&format!(
            "Nothing to cache under {key}: none of the paths exist; no cache was saved"
        ));
        return StepEnd::new(Outcome::Success, None);
    }
    sink.line(&format!("Creating cache archive for {key}..."));
    let reporter = ctx.reporter;
    let sent = transfer::send(sources, ctx.stop, |archive| async move {
        reporter.cache_upload(&key, archive).await
    })
    .await;
    let key = &lookup.keys[0];
    match sent {
        Ok(moved) => {
            if moved.reply {
                sink.line(&format!("Stored cache {key}"));
            } else {
                sink.line(&format!(
                    "Skipping cache generation for key: {key}: another job saved it meanwhile, or this job builds a forked pull request, whose caches are not kept"
                ));
            }
            sink.line(&format!(
                "  {} files, {} ({} compressed), in {}",
                moved.totals.files,
                transfer::size(moved.totals.bytes),
                transfer::size(moved.wire_bytes),
                transfer::took(moved.took)
            ));
            StepEnd::new(Outcome::Success, None)
        }
        Err(failed) => transfer_failed(ctx, sink, failed, "No cache was saved."),
    }
}

/// `restore_cache`: the first of `keys` that finds a cache restores it.
pub(crate) async fn restore<R: Reporter>(
    ctx: &JobContext<'_, R>,
    templates: &[String],
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let areas = ctx.areas();
    let mut keys = Vec::with_capacity(templates.len());
    for template in templates {
        match render(ctx, &areas, template).await {
            Ok(key) => keys.push(key),
            Err(e) => return fail(sink, &e),
        }
    }
    let lookup = CacheLookup { keys, exact: false };
    let found = match ctx.reporter.cache_lookup(&lookup).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            sink.line(&format!(
                "No cache is found for key: {}",
                lookup.keys.join(", ")
            ));
            return StepEnd::new(Outcome::Success, None);
        }
        Err(e) => return reporting_failed(ctx, sink, e),
    };
    sink.line(&format!(
        "Found a cache from build {} at {}",
        found.build_num, found.key
    ));
    sink.line(&format!("Size: {}", transfer::size(found.size_bytes)));
    if let Err(e) = areas.ensure() {
        return fail(sink, &format!("cannot create the job's directories: {e}"));
    }
    let place_areas = areas.clone();
    let received = transfer::receive(
        ctx.reporter.cache_download(found.id),
        found.size_bytes,
        Box::new(move |name| place_areas.for_archive_name(name)),
        Box::new(|_| Ok(())),
        ctx.stop,
    )
    .await;
    match received {
        Ok(moved) => {
            sink.line(&format!(
                "Restored {} files ({}) in {}",
                moved.totals.files,
                transfer::size(moved.totals.bytes),
                transfer::took(moved.took)
            ));
            StepEnd::new(Outcome::Success, None)
        }
        Err(failed) => transfer_failed(
            ctx,
            sink,
            failed,
            "The cache was not fully restored; what was unpacked may be incomplete.",
        ),
    }
}

/// Renders a key template with what the job knows; `checksum` reads a file of the job's.
async fn render<R: Reporter>(
    ctx: &JobContext<'_, R>,
    areas: &Areas,
    template: &str,
) -> Result<String, String> {
    let template = template.to_owned();
    let env = ctx.env.to_vec();
    let job = ctx.job;
    let (branch, revision, build_num) = (
        job.branch.clone().unwrap_or_default(),
        job.revision.clone(),
        job.build_num,
    );
    let areas = areas.clone();
    let key = blocking(move || {
        let lookup = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut checksum = |file: &str| checksum(&areas, file);
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let arch = cache_key::host_arch();
        let mut values = KeyValues {
            branch: &branch,
            revision: &revision,
            build_num,
            epoch,
            arch: &arch,
            env: &lookup,
            checksum: &mut checksum,
        };
        cache_key::render(&template, &mut values)
    })
    .await?;
    if key.trim().is_empty() {
        return Err("the cache key is empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!(
            "the cache key is {} bytes long; at most {MAX_KEY_LEN} are allowed",
            key.len()
        ));
    }
    Ok(key)
}

/// CircleCI's `checksum`: the base64 of the SHA-256 of a file of the job's.
fn checksum(areas: &Areas, file: &str) -> Result<String, String> {
    let placed = areas.place(file, None)?;
    let host = placed.host();
    areas::inside(&placed.area.host, &host)?;
    // The file itself may be a link: it must lead to a file the job could read here too.
    let real = host.canonicalize().map_err(|e| e.to_string())?;
    let area = placed.area.host.canonicalize().map_err(|e| e.to_string())?;
    if !real.starts_with(&area) {
        return Err(format!("{file} leads out of the job's directories"));
    }
    let mut f = std::fs::File::open(&real).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

/// Runs `f` on the blocking pool; a panic there is an error, not a crash.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the runner failed: {e}"))?
}

/// A step failure the job's config or files caused.
pub(crate) fn fail<R: Reporter>(sink: &mut OutputSink<'_, R>, why: &str) -> StepEnd {
    sink.line(&format!("Error: {why}"));
    StepEnd::new(Outcome::Failed, None)
}

/// A request about storage that failed.
pub(crate) fn reporting_failed<R: Reporter>(
    ctx: &JobContext<'_, R>,
    sink: &mut OutputSink<'_, R>,
    e: ReportError,
) -> StepEnd {
    match e {
        ReportError::Lost => {
            ctx.stop.trigger(StopReason::Lost);
            StepEnd::new(Outcome::Canceled, None)
        }
        ReportError::NotFound => fail(
            sink,
            "the server does not keep caches or workspaces (it is older than this runner)",
        ),
        ReportError::Failed(e) => fail(sink, &format!("the server could not be asked: {e}")),
    }
}

/// How a step ends when its transfer failed; `after` says what that leaves behind.
pub(crate) fn transfer_failed<R: Reporter>(
    ctx: &JobContext<'_, R>,
    sink: &mut OutputSink<'_, R>,
    failed: Failed,
    after: &str,
) -> StepEnd {
    match failed {
        Failed::Stopped => {
            sink.line("Stopped.");
            StepEnd::new(Outcome::Canceled, None)
        }
        Failed::Lost => {
            ctx.stop.trigger(StopReason::Lost);
            StepEnd::new(Outcome::Canceled, None)
        }
        Failed::Error(e) => {
            sink.line(&format!("Error: {e}"));
            sink.line(after);
            StepEnd::new(Outcome::Failed, None)
        }
    }
}
