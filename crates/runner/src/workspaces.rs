//! `persist_to_workspace` and `attach_workspace`: each persist adds a layer to the workflow's
//! workspace; an attach applies, in the workflow graph's order, the layers of every job the
//! attaching job depends on (the server says which, `circlet_app::caches`). As on CircleCI, a
//! file persisted by two jobs that ran concurrently (neither upstream of the other) makes the
//! attach fail: which copy wins would be chance.

use crate::archive::{self, Source};
use crate::areas;
use crate::caches::{fail, reporting_failed, transfer_failed};
use crate::output::OutputSink;
use crate::report::Reporter;
use crate::step::{JobContext, StepEnd};
use crate::transfer;
use circlet_core::runner_protocol::Outcome;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `persist_to_workspace`: `paths` (relative to `root`, globs allowed) become this job's layer.
pub(crate) async fn persist<R: Reporter>(
    ctx: &JobContext<'_, R>,
    root: &str,
    paths: &[String],
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let areas = ctx.areas();
    let root_placed = match areas.place(root, None) {
        Ok(p) => p,
        Err(e) => return fail(sink, &e),
    };
    let root_host = root_placed.host();
    if !root_host.is_dir() {
        return fail(
            sink,
            &format!("the workspace root {root} is not a directory of the job"),
        );
    }
    let mut sources = Vec::new();
    for given in paths {
        if Path::new(given).is_absolute() || given.starts_with('~') {
            return fail(
                sink,
                &format!("'{given}': persist_to_workspace paths are relative to the root ({root})"),
            );
        }
        if Path::new(given)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return fail(
                sink,
                &format!("'{given}' leaves the workspace root ({root}); paths must stay below it"),
            );
        }
        let placed = areas::Placed {
            area: root_placed.area,
            rel: root_placed.rel.join(given),
        };
        let found = {
            let area = placed.area.clone();
            let rel = placed.rel.clone();
            tokio::task::spawn_blocking(move || areas::expand(&areas::Placed { area: &area, rel }))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        };
        let found = match found {
            Ok(found) => found,
            Err(e) => return fail(sink, &e),
        };
        if found.is_empty() {
            return fail(
                sink,
                &format!("'{given}' matches no files under the workspace root {root}"),
            );
        }
        for host in found {
            let name = host.strip_prefix(&root_host).unwrap_or(&host).to_path_buf();
            sources.push(Source { host, name });
        }
    }
    let reporter = ctx.reporter;
    let sent = transfer::send(sources, ctx.stop, |archive| async move {
        reporter.layer_upload(archive).await
    })
    .await;
    match sent {
        Ok(moved) => {
            sink.line(&format!(
                "Persisted {} files ({}, {} compressed) from {root} to the workspace in {}",
                moved.totals.files,
                transfer::size(moved.totals.bytes),
                transfer::size(moved.wire_bytes),
                transfer::took(moved.took)
            ));
            StepEnd::new(Outcome::Success, None)
        }
        Err(failed) => transfer_failed(ctx, sink, failed, "Nothing was added to the workspace."),
    }
}

/// `attach_workspace`: the upstream jobs' layers unpacked into `at`, in order.
pub(crate) async fn attach<R: Reporter>(
    ctx: &JobContext<'_, R>,
    at: &str,
    sink: &mut OutputSink<'_, R>,
) -> StepEnd {
    let areas = ctx.areas();
    let placed = match areas.place(at, None) {
        Ok(p) => p,
        Err(e) => return fail(sink, &e),
    };
    let workspace = match ctx.reporter.workspace().await {
        Ok(w) => w,
        Err(e) => return reporting_failed(ctx, sink, e),
    };
    if workspace.layers.is_empty() {
        sink.line(
            "No job this one requires persisted anything to the workspace: nothing to attach.",
        );
        return StepEnd::new(Outcome::Success, None);
    }
    // Made (and later written) by the runner outside the sandbox: a symbolic link the job put
    // on the way must not lead it out of the job's directories.
    let (area, rel) = (placed.area.host.clone(), placed.rel.clone());
    let target = match tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&area)?;
        archive::safe_dir(&area, &rel)
    })
    .await
    {
        Ok(Ok(dir)) => dir,
        Ok(Err(e)) => return fail(sink, &format!("cannot use {at}: {e}")),
        Err(e) => return fail(sink, &format!("cannot use {at}: {e}")),
    };
    let names: HashMap<i64, String> = workspace
        .layers
        .iter()
        .map(|l| (l.id, format!("{} (build {})", l.job_name, l.build_num)))
        .collect();
    // Which layer wrote each file so far, to tell a clash from an update.
    let owners: Arc<Mutex<HashMap<PathBuf, i64>>> = Arc::default();
    let mut files = 0;
    let mut bytes = 0;
    let started = std::time::Instant::now();
    for layer in &workspace.layers {
        sink.line(&format!(
            "Applying the layer of {}: {}",
            names[&layer.id],
            transfer::size(layer.size_bytes)
        ));
        let dir = target.clone();
        let owners = owners.clone();
        let (id, upstream) = (layer.id, layer.upstream.clone());
        let names = names.clone();
        let received = transfer::receive(
            ctx.reporter.layer_download(layer.id),
            layer.size_bytes,
            Box::new(move |name| Some((dir.clone(), name.to_path_buf()))),
            Box::new(move |name| {
                let mut owners = owners.lock().unwrap_or_else(|p| p.into_inner());
                match owners.insert(name.to_path_buf(), id) {
                    Some(before) if before != id && !upstream.contains(&before) => Err(format!(
                        "{} was persisted by both {} and {}, which ran concurrently: which copy to keep cannot be known",
                        name.display(),
                        names[&before],
                        names[&id]
                    )),
                    _ => Ok(()),
                }
            }),
            ctx.stop,
        )
        .await;
        match received {
            Ok(moved) => {
                files += moved.totals.files;
                bytes += moved.totals.bytes;
            }
            Err(failed) => {
                return transfer_failed(ctx, sink, failed, "The workspace was not fully attached.");
            }
        }
    }
    sink.line(&format!(
        "Attached {} layers: {files} files ({}) into {} in {}",
        workspace.layers.len(),
        transfer::size(bytes),
        target.display(),
        transfer::took(started.elapsed())
    ));
    StepEnd::new(Outcome::Success, None)
}
