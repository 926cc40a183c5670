//! Issuing, replacing and deleting API tokens: the rules the API, the web UI and the admin CLI
//! share; verifying a presented token ([`verified`]) and recording its use ([`usage`]). Values
//! are generated in `circlet_core::token`, stored as digests by the store's `tokens` module, and
//! returned from here exactly once.

pub mod leak_reports;
pub mod leaked;
pub mod project;
pub mod scanner_keys;
pub mod usage;
pub mod verified;

pub use crate::caller::Actor;

use crate::AppError;

use circlet_core::scope::ProjectScope;
use circlet_core::token::{NewToken, TokenKind, TokenName};
use circlet_core::token_limits::{LimitOrganization, LimitProject, Reach, TokenLimits};
use circlet_core::{Invalid, ProjectSlug, Role, Vcs};
use circlet_store::settings::TOKEN_CREATION_DISABLED;
use circlet_store::{NewAuditEntry, NewTokenRecord, Project, Store, TokenRecord, User};
use time::{Duration, OffsetDateTime, UtcOffset};

/// Instance limits on tokens.
#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy {
    /// The longest lifetime a new token may have; `None` allows tokens that never expire.
    pub max_lifetime_days: Option<u32>,
    /// How many personal tokens one user may hold.
    pub personal_cap: i64,
}

/// The lifetime chosen at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Never expires (only when the instance allows it).
    Never,
    /// Expires this many days from now.
    Days(u32),
    /// Expires at this moment.
    Until(OffsetDateTime),
}

/// The presets the UI offers, in days.
pub const LIFETIME_PRESETS: [u32; 4] = [30, 60, 90, 365];

impl TokenPolicy {
    /// When a token created now with `lifetime` expires, or why it may not. The moment is in UTC
    /// and within the range the store keeps; a lifetime beyond it is refused, not a panic.
    pub fn expiry(
        &self,
        lifetime: Lifetime,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, Invalid> {
        let too_far = |what: &str| Invalid::new(format!("{what} is too far in the future"));
        let at = match lifetime {
            Lifetime::Never => None,
            Lifetime::Days(0) => return Err(Invalid::new("expiry must be at least one day")),
            Lifetime::Days(d) => Some(
                now.checked_add(Duration::days(i64::from(d)))
                    .ok_or_else(|| too_far("expiry"))?,
            ),
            Lifetime::Until(t) if t <= now => {
                return Err(Invalid::new("expires_at must be in the future"));
            }
            Lifetime::Until(t) => Some(
                t.checked_to_offset(UtcOffset::UTC)
                    .ok_or_else(|| too_far("expires_at"))?,
            ),
        };
        if let Some(max) = self.max_lifetime_days {
            match at {
                None => {
                    return Err(Invalid::new(format!(
                        "tokens on this instance must expire within {max} days; choose an expiry"
                    )));
                }
                Some(t) if t - now > Duration::days(i64::from(max)) + Duration::minutes(1) => {
                    return Err(Invalid::new(format!(
                        "tokens on this instance must expire within {max} days"
                    )));
                }
                _ => {}
            }
        }
        Ok(at)
    }
}

/// The limits asked for a new personal token, by name, before they are checked against what
/// exists and what its owner may see ([`check_limits`]). The default asks for none.
#[derive(Debug, Clone, Default)]
pub struct AskedLimits {
    /// Projects the token may act on (empty: no project list).
    pub projects: Vec<ProjectSlug>,
    /// The one organization (`vcs`, name) whose projects it may act on.
    pub organization: Option<(Vcs, String)>,
    /// The most it may do in any project.
    pub ceiling: Option<Role>,
}

/// `asked` as limits `owner`'s token may carry: each listed project exists and `owner` holds a
/// role in it (a member, or a site admin); the organization exists and `owner` is a member of one
/// of its projects (or a site admin). Otherwise 400, the same whether a project is absent or
/// hidden, so private slugs cannot be probed; a list and an organization together are 400 too.
pub async fn check_limits(
    store: &Store,
    owner: &User,
    asked: &AskedLimits,
) -> Result<TokenLimits, AppError> {
    let reach = match (&asked.projects[..], &asked.organization) {
        ([], None) => Reach::Everywhere,
        ([_, ..], Some(_)) => {
            return Err(AppError::Invalid(
                "Limit a token to listed projects or to one organization, not both.".into(),
            ));
        }
        (listed, None) => {
            let mut projects: Vec<LimitProject> = Vec::with_capacity(listed.len());
            for slug in listed {
                let unknown = || {
                    AppError::Invalid(format!(
                        "There is no project {slug} among your projects: a token can be limited \
                         only to projects you belong to."
                    ))
                };
                let project = store.projects().by_slug(slug).await?.ok_or_else(unknown)?;
                let holds = owner.site_admin
                    || store
                        .projects()
                        .role_of(project.id, owner.id)
                        .await?
                        .is_some();
                if !holds {
                    return Err(unknown());
                }
                if !projects.iter().any(|p| p.id == project.id) {
                    projects.push(LimitProject {
                        id: project.id,
                        slug: project.slug,
                    });
                }
            }
            // In the order the store reads them back, so every page lists them alike.
            projects.sort_by_key(|p| p.slug.key());
            Reach::Projects(projects)
        }
        ([], Some((vcs, name))) => {
            let unknown = || {
                AppError::Invalid(format!(
                    "There is no organization {}/{name} among your organizations.",
                    vcs.short()
                ))
            };
            let org = store
                .organizations()
                .by_name(*vcs, name)
                .await?
                .ok_or_else(unknown)?;
            let member = owner.site_admin
                || store
                    .organizations()
                    .of_member(owner.id)
                    .await?
                    .iter()
                    .any(|o| o.id == org.id);
            if !member {
                return Err(unknown());
            }
            Reach::Organization(LimitOrganization {
                id: org.id,
                vcs: org.vcs,
                name: org.name,
            })
        }
    };
    Ok(TokenLimits {
        reach,
        ceiling: asked.ceiling,
    })
}

/// Whether a site admin has disabled creating API tokens instance-wide.
pub async fn creation_disabled(store: &Store) -> Result<bool, AppError> {
    Ok(store
        .settings()
        .get(TOKEN_CREATION_DISABLED)
        .await?
        .as_deref()
        == Some("true"))
}

/// Disables (or re-enables) creating API tokens instance-wide, and records who did it.
pub async fn set_creation_disabled(
    store: &Store,
    disabled: bool,
    actor: &Actor,
) -> Result<(), AppError> {
    store
        .settings()
        .set(
            TOKEN_CREATION_DISABLED,
            if disabled { "true" } else { "false" },
        )
        .await?;
    let entry = NewAuditEntry {
        event: "settings.changed".into(),
        actor_id: actor.user_id,
        actor_login: actor.login.clone(),
        address: actor.address.clone(),
        detail: format!(
            "API token creation {}",
            if disabled { "disabled" } else { "enabled" }
        ),
        ..Default::default()
    };
    store.audit().append(&entry).await?;
    Ok(())
}

async fn ensure_creation_enabled(store: &Store) -> Result<(), AppError> {
    if creation_disabled(store).await? {
        return Err(AppError::Refused(
            "A site admin has disabled API token creation on this instance.".into(),
        ));
    }
    Ok(())
}

async fn audit(
    store: &Store,
    event: &str,
    token: &TokenRecord,
    actor: &Actor,
    more: &str,
) -> Result<(), AppError> {
    let entry = NewAuditEntry {
        event: event.into(),
        actor_id: actor.user_id,
        actor_login: actor.login.clone(),
        owner_id: token.user_id,
        project_id: token.project_id,
        token_uuid: Some(token.uuid),
        address: actor.address.clone(),
        detail: format!(
            "{} token \"{}\" …{}{}{}{more}",
            token.kind.as_str(),
            token.name,
            token.last4,
            token
                .scope
                .map(|s| format!(" ({})", s.as_str()))
                .unwrap_or_default(),
            if token.limits.is_limited() {
                format!(", limited to {}", token.limits.describe())
            } else {
                String::new()
            }
        ),
    };
    store.audit().append(&entry).await?;
    Ok(())
}

/// Creates a personal token for `owner`, limited as `limits` asks ([`check_limits`]; nothing is
/// written when they do not hold). The value is in the returned [`NewToken`], once.
pub async fn issue_personal(
    store: &Store,
    policy: &TokenPolicy,
    owner: &User,
    name: &TokenName,
    expires_at: Option<OffsetDateTime>,
    limits: &AskedLimits,
    actor: &Actor,
) -> Result<(NewToken, TokenRecord), AppError> {
    ensure_creation_enabled(store).await?;
    let limits = check_limits(store, owner, limits).await?;
    let token = NewToken::generate(TokenKind::Personal);
    let new = NewTokenRecord {
        kind: TokenKind::Personal,
        digest: token.digest(),
        last4: token.last4(),
        name: name.as_str().to_owned(),
        user_id: Some(owner.id),
        project_id: None,
        scope: None,
        created_by: actor.user_id,
        expires_at,
        limits,
    };
    let record = store
        .tokens()
        .create(&new, Some(policy.personal_cap))
        .await?;
    audit(store, "token.created", &record, actor, "").await?;
    Ok((token, record))
}

/// Creates a project token. The value is in the returned [`NewToken`], once.
pub async fn issue_project(
    store: &Store,
    project: &Project,
    scope: ProjectScope,
    label: &TokenName,
    expires_at: Option<OffsetDateTime>,
    actor: &Actor,
) -> Result<(NewToken, TokenRecord), AppError> {
    ensure_creation_enabled(store).await?;
    let token = NewToken::generate(TokenKind::Project);
    let new = NewTokenRecord {
        kind: TokenKind::Project,
        digest: token.digest(),
        last4: token.last4(),
        name: label.as_str().to_owned(),
        user_id: None,
        project_id: Some(project.id),
        scope: Some(scope),
        created_by: actor.user_id,
        expires_at,
        limits: TokenLimits::NONE,
    };
    let record = store.tokens().create(&new, None).await?;
    audit(store, "token.created", &record, actor, "").await?;
    Ok((token, record))
}

/// Creates a runner token (site admins only; the caller checks), serving the resource class
/// `class` (which must exist) or, without one, the default pool. Runner tokens are not subject
/// to the switch that disables API token creation: that switch is about user tokens, and an
/// instance without runners runs nothing.
pub async fn issue_runner(
    store: &Store,
    name: &TokenName,
    class: Option<&circlet_core::runner_class::RunnerClass>,
    actor: &Actor,
) -> Result<(NewToken, TokenRecord), AppError> {
    let class_id = match class {
        None => None,
        Some(c) => Some(
            store
                .runners()
                .class_by_name(c.as_str())
                .await?
                .ok_or_else(|| {
                    AppError::Invalid(format!(
                        "There is no resource class {c}: create it first (Admin → Runners, or `circlet admin resource-class create {c}`)"
                    ))
                })?
                .id,
        ),
    };
    let token = NewToken::generate(TokenKind::Runner);
    let new = NewTokenRecord {
        kind: TokenKind::Runner,
        digest: token.digest(),
        last4: token.last4(),
        name: name.as_str().to_owned(),
        user_id: None,
        project_id: None,
        scope: None,
        created_by: actor.user_id,
        expires_at: None,
        limits: TokenLimits::NONE,
    };
    let record = store.tokens().create(&new, None).await?;
    if let Some(class_id) = class_id
        && let Err(e) = store.runners().bind(record.id, class_id).await
    {
        // A token left unbound would serve the default pool: it must not outlive the failure.
        let _ = store.tokens().delete(record.uuid).await;
        return Err(e.into());
    }
    let detail = class.map_or(String::new(), |c| format!("resource class {c}"));
    audit(store, "token.created", &record, actor, &detail).await?;
    Ok((token, record))
}

/// What a replacement changes: a project token's scope (the narrower-scope hint's one step),
/// and the lifetime. `None` keeps each as it was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replacement {
    /// The new scope of a project token.
    pub scope: Option<ProjectScope>,
    /// The new lifetime, counted from now, within the instance's policy.
    pub lifetime: Option<Lifetime>,
}

/// Replaces `old` in one transaction with a new token of the same kind, name, limits, and
/// unless `with` says otherwise, scope and lifetime (the same length of life, counted from
/// now). A kept lifetime the instance no longer allows (`--max-token-lifetime-days` set or
/// lowered since) shrinks to the instance maximum, so a leaked token can always be replaced at
/// once; a new lifetime is held to the policy like a new token's.
pub async fn replace(
    store: &Store,
    policy: &TokenPolicy,
    old: &TokenRecord,
    with: Replacement,
    actor: &Actor,
) -> Result<(NewToken, TokenRecord), AppError> {
    ensure_creation_enabled(store).await?;
    let now = OffsetDateTime::now_utc();
    let expires_at = match (with.lifetime, policy.max_lifetime_days) {
        (Some(lifetime), _) => policy.expiry(lifetime, now)?,
        (None, max) => match (policy.expiry(same_lifetime(old, now), now), max) {
            (Ok(at), _) => at,
            (Err(_), Some(max)) => policy.expiry(Lifetime::Days(max), now)?,
            (Err(e), None) => return Err(e.into()),
        },
    };
    let scope = match (with.scope, old.kind) {
        (None, _) => old.scope,
        (Some(scope), TokenKind::Project) => Some(scope),
        (Some(_), _) => {
            return Err(AppError::Invalid(
                "Only a project token has a scope to change.".into(),
            ));
        }
    };
    let token = NewToken::generate(old.kind);
    let new = NewTokenRecord {
        kind: old.kind,
        digest: token.digest(),
        last4: token.last4(),
        name: old.name.clone(),
        user_id: old.user_id,
        project_id: old.project_id,
        scope,
        created_by: actor.user_id,
        expires_at,
        // A personal token's limits go with it: a replacement is never wider.
        limits: old.limits.clone(),
    };
    // A runner token keeps its resource class: unbound, it would serve the default pool.
    let class = match old.kind {
        TokenKind::Runner => store.runners().class_of(old.id).await?,
        _ => None,
    };
    let record = store.tokens().replace(old.uuid, &new).await?;
    if let Some(class) = class
        && let Some(c) = store.runners().class_by_name(&class).await?
        && let Err(e) = store.runners().bind(record.id, c.id).await
    {
        let _ = store.tokens().delete(record.uuid).await;
        return Err(e.into());
    }
    // The old token leaves no entry of its own: this one names it.
    let mut replaced = format!(", replacing …{} (id {})", old.last4, old.uuid);
    if let (Some(was), Some(now)) = (old.scope, scope)
        && was != now
    {
        replaced.push_str(&format!(", scope {} → {}", was.as_str(), now.as_str()));
    }
    audit(store, "token.replaced", &record, actor, &replaced).await?;
    Ok((token, record))
}

/// The lifetime of a replacement of `old` made at `now`: as long as `old`'s. Past the last
/// moment the calendar holds, `old`'s own expiry is as far as it goes.
fn same_lifetime(old: &TokenRecord, now: OffsetDateTime) -> Lifetime {
    match old.expires_at {
        None => Lifetime::Never,
        Some(e) => Lifetime::Until(now.checked_add(e - old.created_at).unwrap_or(e)),
    }
}

/// Deletes `token`; `event` is `token.deleted` (by its owner or project admin) or
/// `token.revoked` (by a site admin or the CLI).
pub async fn delete(
    store: &Store,
    token: &TokenRecord,
    event: &str,
    actor: &Actor,
) -> Result<(), AppError> {
    store
        .tokens()
        .delete(token.uuid)
        .await?
        .ok_or_else(|| AppError::NotFound(crate::error::TOKEN_NOT_FOUND.into()))?;
    // `token` as read before, with its limits whole: the store's reply lacks their projects.
    audit(store, event, token, actor, "").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_follows_the_instance_limit() {
        let now = OffsetDateTime::now_utc();
        let open = TokenPolicy {
            max_lifetime_days: None,
            personal_cap: 500,
        };
        assert_eq!(open.expiry(Lifetime::Never, now).unwrap(), None);
        assert_eq!(
            open.expiry(Lifetime::Days(30), now).unwrap(),
            Some(now + Duration::days(30))
        );
        assert!(
            open.expiry(Lifetime::Until(now - Duration::seconds(1)), now)
                .is_err()
        );
        assert!(open.expiry(Lifetime::Days(0), now).is_err());
        let capped = TokenPolicy {
            max_lifetime_days: Some(90),
            personal_cap: 500,
        };
        assert!(
            capped
                .expiry(Lifetime::Never, now)
                .unwrap_err()
                .0
                .contains("90 days")
        );
        assert!(capped.expiry(Lifetime::Days(365), now).is_err());
        assert!(capped.expiry(Lifetime::Days(90), now).is_ok());
        assert!(
            capped
                .expiry(Lifetime::Until(now + Duration::days(10)), now)
                .is_ok()
        );
    }

    #[test]
    fn a_replacement_lives_as_long_as_the_old_token_within_the_calendar() {
        let created = time::macros::datetime!(2030-01-01 0:00 UTC);
        let old = |expires_at| TokenRecord {
            limits: Default::default(),
            id: 1,
            uuid: uuid::Uuid::nil(),
            kind: TokenKind::Project,
            last4: "abcd".into(),
            name: "n".into(),
            user_id: None,
            project_id: Some(1),
            scope: Some(ProjectScope::Status),
            created_by: None,
            created_at: created,
            expires_at,
            last_used_at: None,
            last_used_from: vec![],
        };
        let now = created + Duration::days(10);
        assert_eq!(same_lifetime(&old(None), now), Lifetime::Never);
        assert_eq!(
            same_lifetime(&old(Some(created + Duration::days(30))), now),
            Lifetime::Until(now + Duration::days(30))
        );
        let last = time::macros::datetime!(9999-12-31 23:59:59 UTC);
        assert_eq!(same_lifetime(&old(Some(last)), now), Lifetime::Until(last));
    }

    #[test]
    fn expiries_beyond_the_calendar_are_refused_not_a_panic() {
        let now = OffsetDateTime::now_utc();
        let open = TokenPolicy {
            max_lifetime_days: None,
            personal_cap: 500,
        };
        assert!(open.expiry(Lifetime::Days(u32::MAX), now).is_err());
        // The last second of 9999 west of UTC is in the year 10000 in UTC.
        let west = time::macros::datetime!(9999-12-31 23:59:59 -10:00);
        assert!(open.expiry(Lifetime::Until(west), now).is_err());
        let east = time::macros::datetime!(2100-01-01 01:00 +02:00);
        assert_eq!(
            open.expiry(Lifetime::Until(east), now).unwrap(),
            Some(time::macros::datetime!(2099-12-31 23:00 UTC)),
            "stored in UTC"
        );
        let capped = TokenPolicy {
            max_lifetime_days: Some(90),
            personal_cap: 500,
        };
        assert!(capped.expiry(Lifetime::Days(u32::MAX), now).is_err());
        assert!(capped.expiry(Lifetime::Until(west), now).is_err());
    }
}
