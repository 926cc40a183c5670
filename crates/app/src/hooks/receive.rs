//! A delivery from a forge, from its bytes to the pipelines it starts: the project and its
//! secret are found, the signature is checked on the raw body (a bad one stores nothing), the
//! delivery is recorded once per delivery id, the payload is read and the project's settings
//! decide what it builds ([`circlet_core::forge::decide`]).

use crate::builds::git::Target;
use crate::builds::trigger::{Attribution, Started, TriggerRequest, trigger};
use crate::{App, AppError};
use circlet_core::ProjectSlug;
use circlet_core::forge::decide::{self, Build, Decision};
use circlet_core::forge::{self, Forge, GitTarget, HookEvent, PrAction, PullRequest};
use circlet_store::hooks::{DeliveryRecord, NewDelivery, PrUpdate, Recorded};
use circlet_store::{PipelineOrigin, PipelineRecord, Project};
use secrecy::ExposeSecret;

/// What a delivery's headers say, as the edge read them.
#[derive(Debug, Clone, Default)]
pub struct HookHeaders {
    /// The forge's event header.
    pub event: Option<String>,
    /// The forge's delivery id header.
    pub delivery: Option<String>,
    /// The forge's signature (GitLab: token) header.
    pub signature: Option<String>,
}

/// What became of a delivery.
#[derive(Debug, Clone)]
pub struct Received {
    /// The delivery as recorded (its outcome and detail settled).
    pub delivery: DeliveryRecord,
    /// The pipelines it started.
    pub pipelines: Vec<PipelineRecord>,
}

/// The answer to a forge.
#[derive(Debug, Clone)]
pub enum HookReply {
    /// Handled now: built, skipped or failed (see the delivery's outcome).
    Handled(Received),
    /// This delivery id was handled before; nothing was done again.
    AlreadyReceived(DeliveryRecord),
}

/// At most this many refs of one delivery are handled (as a poll builds at most
/// [`crate::polls::MAX_BUILDS_PER_POLL`]).
pub const MAX_PUSHES: usize = crate::polls::MAX_BUILDS_PER_POLL;

/// What a project that does not take webhooks (or does not exist) answers, alike so that
/// private slugs cannot be probed.
pub const NO_HOOK: &str = "No project takes webhooks at this address";

/// What a delivery whose signature does not hold is told.
pub const BAD_SIGNATURE: &str = "The webhook's signature does not match this project's secret";

impl App {
    /// Receives a delivery from `forge` for the project at `slug`: nothing is read from
    /// `body` before its signature holds.
    pub async fn receive_hook(
        &self,
        forge: Forge,
        slug: &ProjectSlug,
        headers: &HookHeaders,
        body: &[u8],
    ) -> Result<HookReply, AppError> {
        let not_found = || AppError::NotFound(NO_HOOK.into());
        let project = crate::access::project_by_slug(self, slug)
            .await?
            .ok_or_else(not_found)?;
        let secret = self.hook_secret(&project).await?.ok_or_else(not_found)?;
        if !forge::signature::verify(
            forge,
            secret.expose_secret().as_bytes(),
            headers.signature.as_deref(),
            body,
        ) {
            tracing::warn!(project = %project.slug, forge = forge.as_str(), "webhook refused: bad signature");
            return Err(AppError::Unauthenticated(BAD_SIGNATURE.into()));
        }
        let event = headers.event.as_deref().unwrap_or_default();
        if event.is_empty() || event.len() > 100 {
            return Err(AppError::Invalid(format!(
                "The {} header must name the event",
                forge.event_header()
            )));
        }
        let delivery = match headers.delivery.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() && id.len() <= 200 => id.to_owned(),
            // Without an id, a delivery is known by its body: the same body is the same event.
            _ => {
                use sha2::Digest;
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)))
            }
        };
        let recorded = self
            .store
            .hooks()
            .record(&NewDelivery {
                project_id: project.id,
                forge: forge.as_str(),
                delivery: &delivery,
                event,
                body,
                redelivery_of: None,
            })
            .await?;
        match recorded {
            Recorded::Seen(earlier) => Ok(HookReply::AlreadyReceived(earlier)),
            // Handled in a task of its own: a forge that stops waiting (GitHub waits 10 s) does
            // not cancel it half way, leaving a delivery its redelivery would not build.
            Recorded::New(record) => {
                let app = self.clone();
                let handled =
                    tokio::spawn(async move { handle(&app, &project, forge, record, false).await })
                        .await
                        .map_err(|e| {
                            AppError::Internal(anyhow::anyhow!("handling a delivery: {e}"))
                        })??;
                Ok(HookReply::Handled(handled))
            }
        }
    }
}

/// Handles `original`'s payload again as a new delivery.
pub(super) async fn redeliver(
    app: &App,
    project: &Project,
    original: &DeliveryRecord,
) -> Result<Received, AppError> {
    let forge = Forge::parse(&original.forge)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored delivery: {e}")))?;
    let delivery = format!("redelivery:{}", uuid::Uuid::new_v4());
    let recorded = app
        .store
        .hooks()
        .record(&NewDelivery {
            project_id: project.id,
            forge: forge.as_str(),
            delivery: &delivery,
            event: &original.event,
            body: &original.body,
            redelivery_of: Some(original.id),
        })
        .await?;
    let (Recorded::New(record) | Recorded::Seen(record)) = recorded;
    handle(app, project, forge, record, true).await
}

/// Reads, decides and builds; settles the delivery's outcome whatever happens. A `redelivery`
/// builds a pull request's head even if it was built already.
async fn handle(
    app: &App,
    project: &Project,
    forge: Forge,
    record: DeliveryRecord,
    redelivery: bool,
) -> Result<Received, AppError> {
    let done = act(app, project, forge, &record, redelivery).await;
    let (outcome, detail, pipelines, error) = match done {
        Ok(Acted { pipelines, notes }) => {
            let outcome = if pipelines.is_empty() {
                "skipped"
            } else {
                "built"
            };
            (outcome, notes.join("; "), pipelines, None)
        }
        Err(e) => ("failed", e.to_string(), Vec::new(), Some(e)),
    };
    app.store
        .hooks()
        .settle(record.id, outcome, &detail)
        .await?;
    if let Some(e) = error {
        return Err(e);
    }
    Ok(Received {
        delivery: DeliveryRecord {
            outcome: outcome.to_owned(),
            detail,
            ..record
        },
        pipelines,
    })
}

/// What a delivery did: the pipelines it started and a note per thing decided.
struct Acted {
    pipelines: Vec<PipelineRecord>,
    notes: Vec<String>,
}

async fn act(
    app: &App,
    project: &Project,
    forge: Forge,
    record: &DeliveryRecord,
    redelivery: bool,
) -> Result<Acted, AppError> {
    let event = forge::parse(forge, &record.event, &record.body)
        .map_err(|e| AppError::Invalid(format!("Unreadable {} delivery: {e}", forge.title())))?;
    let settings = project.builds;
    let default = project.default_branch.as_str();
    let mut acted = Acted {
        pipelines: Vec::new(),
        notes: Vec::new(),
    };
    match event {
        HookEvent::Other(name) => acted.notes.push(format!("'{name}' events start nothing")),
        HookEvent::Push(pushes) => {
            if pushes.is_empty() {
                acted.notes.push("the push moved no branch or tag".into());
            }
            // Bitbucket sends every ref of a push in one delivery: a bounded number build.
            if pushes.len() > MAX_PUSHES {
                acted.notes.push(format!(
                    "{} refs moved; the first {MAX_PUSHES} are handled, the rest are not built",
                    pushes.len()
                ));
            }
            for push in pushes.into_iter().take(MAX_PUSHES) {
                // A deleted branch runs none of its config's schedules any more.
                if let (None, GitTarget::Branch(b)) = (&push.after, &push.target) {
                    app.store
                        .schedules()
                        .set_config_schedules(project.id, b, &[], crate::schedules::SYSTEM_ACTOR)
                        .await?;
                }
                let open_pr = match &push.target {
                    GitTarget::Branch(b) => {
                        app.store
                            .hooks()
                            .open_pull_request_of(project.id, b)
                            .await?
                    }
                    GitTarget::Tag(_) => None,
                };
                let decision = decide::push(settings, default, &push, open_pr.as_ref());
                build(
                    app,
                    project,
                    forge,
                    record,
                    &push.pusher,
                    decision,
                    &mut acted,
                )
                .await?;
            }
        }
        HookEvent::PullRequest(pr) => {
            let known = app
                .store
                .hooks()
                .pull_request(project.id, pr.number)
                .await?;
            let known = known.filter(|_| !redelivery);
            let decision = decide::pull_request(settings, default, &pr, known.as_ref());
            build(
                app, project, forge, record, &pr.sender, decision, &mut acted,
            )
            .await?;
            note(app, project, &pr).await?;
        }
    }
    Ok(acted)
}

/// Remembers what a pull request event told (after its build was made, so a failed build is
/// built again when redelivered).
async fn note(app: &App, project: &Project, pr: &PullRequest) -> Result<(), AppError> {
    if pr.action == PrAction::Other {
        return Ok(());
    }
    app.store
        .hooks()
        .note_pull_request(
            project.id,
            &PrUpdate {
                number: pr.number,
                head_branch: &pr.head_branch,
                head_sha: &pr.head_sha,
                fork: pr.fork,
                open: pr.action != PrAction::Closed,
            },
        )
        .await?;
    Ok(())
}

/// Starts the pipeline `decision` asks for, as `pusher` on the forge.
async fn build(
    app: &App,
    project: &Project,
    forge: Forge,
    record: &DeliveryRecord,
    pusher: &str,
    decision: Decision,
    acted: &mut Acted,
) -> Result<(), AppError> {
    let by = if pusher.is_empty() {
        forge.as_str()
    } else {
        pusher
    };
    let started = start(app, project, decision, by, forge.why(), Some(record.id)).await?;
    acted.notes.push(started.note);
    acted.pipelines.extend(started.pipeline);
    Ok(())
}

/// What starting a decided build came to.
pub(crate) struct Start {
    /// The pipeline, if one was made.
    pub pipeline: Option<PipelineRecord>,
    /// What was done or why not, for people.
    pub note: String,
}

/// Starts the pipeline a push or pull request `decision` asks for (a webhook's or a poll's),
/// attributed to `by` (a forge login), with v1.1 `why`.
pub(crate) async fn start(
    app: &App,
    project: &Project,
    decision: Decision,
    by: &str,
    why: &'static str,
    delivery_id: Option<i64>,
) -> Result<Start, AppError> {
    let b: Build = match decision {
        Decision::Skip(note) => {
            return Ok(Start {
                pipeline: None,
                note,
            });
        }
        Decision::Build(b) => b,
    };
    let (target, what) = match b.target {
        GitTarget::Branch(name) => (Target::Branch(name.clone()), format!("branch '{name}'")),
        GitTarget::Tag(name) => (Target::Tag(name.clone()), format!("tag '{name}'")),
    };
    let short = b.revision[..b.revision.len().min(12)].to_owned();
    let req = TriggerRequest {
        revision: Some(b.revision),
        trigger_type: "webhook",
        why,
        origin: PipelineOrigin {
            pull_request: b.pull_request,
            fetch_ref: b.fetch_ref,
            secrets_withheld: b.withhold_secrets,
            delivery_id,
        },
        honour_skip: b.honour_skip,
        auto_cancel: b.auto_cancel,
        ..TriggerRequest::new(target)
    };
    let by = Attribution {
        user_id: None,
        login: by.to_owned(),
        role_ceiling: None,
    };
    Ok(match trigger(app, project, &by, req).await? {
        Started::Skipped(note) => Start {
            pipeline: None,
            note,
        },
        Started::Pipeline(t) => {
            let state = if t.pipeline.state == "errored" {
                " (its config has errors)"
            } else {
                ""
            };
            Start {
                note: format!("pipeline {} of {what} at {short}{state}", t.pipeline.number),
                pipeline: Some(t.pipeline),
            }
        }
    })
}
