//! User settings → Personal API Tokens: list, create (shown once), detail, remove, replace.

use super::*;
use crate::ui::UiForm;
use axum::extract::RawQuery;
use axum::http::HeaderMap;
use circlet_app::tokens::AskedLimits;
use circlet_core::Invalid;
use circlet_core::slug::parse_organization;
use circlet_core::{ProjectSlug, Role};

#[derive(Template)]
#[template(path = "tokens_personal.html")]
struct PersonalListPage {
    chrome: Chrome,
    tokens: Vec<TokenView>,
    leaks: Vec<String>,
    /// Why the Create button is not shown, when it is not.
    closed: Option<String>,
}

/// `GET /account/tokens`: the user's personal API tokens.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
) -> Result<Html<String>, PageError> {
    let tokens = state.app.store.tokens().list_personal(user.id).await?;
    let leaks = crate::ui::leaks::for_user(&state, &user).await?;
    let cap = state.app.config.token_policy().personal_cap;
    let closed = match creation_closed(&state).await? {
        Some(why) => Some(why),
        None if i64::try_from(tokens.len()).unwrap_or(i64::MAX) >= cap => Some(format!(
            "You hold {cap} personal API tokens, the most one account may hold: remove one to create another."
        )),
        None => None,
    };
    render(&PersonalListPage {
        chrome: Chrome::new(Some(user), csrf),
        tokens: TokenView::all(&tokens),
        leaks,
        closed,
    })
}

/// The "Create New Token" form's fields. `project` repeats (one checkbox each), which a plain
/// form extractor cannot read, so the body is read pair by pair.
#[derive(Default)]
pub struct PersonalForm {
    name: String,
    expiry: String,
    expires_on: String,
    projects: Vec<String>,
    org: String,
    ceiling: String,
}

impl PersonalForm {
    /// The fields in `encoded` (a form body, or a query string prefilling the form).
    fn parse(encoded: &[u8]) -> Self {
        let mut form = PersonalForm::default();
        for (k, v) in form_urlencoded::parse(encoded) {
            let v = v.into_owned();
            match k.as_ref() {
                "name" => form.name = v,
                "expiry" => form.expiry = v,
                "expires_on" => form.expires_on = v,
                "project" => form.projects.push(v),
                "org" => form.org = v,
                "ceiling" => form.ceiling = v,
                _ => {}
            }
        }
        form
    }

    /// The limits asked for, or why they cannot be read.
    fn limits(&self) -> Result<AskedLimits, Invalid> {
        Ok(AskedLimits {
            projects: self
                .projects
                .iter()
                .map(|p| ProjectSlug::parse(p))
                .collect::<Result<_, _>>()?,
            organization: match self.org.trim() {
                "" => None,
                org => Some(parse_organization(org)?),
            },
            ceiling: match self.ceiling.trim() {
                "" => None,
                c => Some(Role::parse(c)?),
            },
        })
    }
}

/// A project the limits offer.
pub struct LimitProjectChoice {
    /// `gh/acme/api`.
    pub slug: String,
    /// The user's role there.
    pub role: &'static str,
    /// Whether it is checked.
    pub chosen: bool,
}

/// An organization the limits offer.
pub struct LimitOrgChoice {
    /// `gh/acme`.
    pub slug: String,
    /// Whether it is selected.
    pub chosen: bool,
}

/// The limits fields of the New Token form, ready to render.
pub struct LimitChoices {
    /// The user's projects.
    pub projects: Vec<LimitProjectChoice>,
    /// The user's organizations.
    pub organizations: Vec<LimitOrgChoice>,
    /// The ceiling select's options (value, label, selected).
    pub ceilings: Vec<ExpiryOption>,
}

impl LimitChoices {
    /// What `user` may limit a token to, with `form`'s choices kept.
    async fn new(state: &AppState, user: &User, form: &PersonalForm) -> Result<Self, PageError> {
        let caller = circlet_app::Caller::Session(user.clone());
        let projects = state
            .app
            .projects_of(&caller)
            .await?
            .into_iter()
            .map(|(p, role)| {
                let slug = p.slug.to_string();
                LimitProjectChoice {
                    chosen: form
                        .projects
                        .iter()
                        .any(|c| ProjectSlug::parse(c).is_ok_and(|c| c == p.slug)),
                    slug,
                    role: role.as_str(),
                }
            })
            .collect();
        let organizations = state
            .app
            .store
            .organizations()
            .of_member(user.id)
            .await?
            .into_iter()
            .map(|o| {
                let slug = format!("{}/{}", o.vcs.short(), o.name);
                LimitOrgChoice {
                    chosen: parse_organization(&form.org).is_ok_and(|(vcs, name)| {
                        vcs == o.vcs && name.eq_ignore_ascii_case(&o.name)
                    }),
                    slug,
                }
            })
            .collect();
        let chosen = form.ceiling.trim().to_ascii_lowercase();
        let mut ceilings = vec![ExpiryOption {
            value: String::new(),
            label: "No ceiling: your own role in each project".into(),
            selected: true,
        }];
        for r in Role::ALL {
            ceilings.push(ExpiryOption {
                value: r.as_str().into(),
                label: match r {
                    Role::Read => "read: see builds, artifacts and statuses".into(),
                    Role::Write => "write: also trigger, retry and cancel builds".into(),
                    Role::Admin => "admin: also settings, env vars and project tokens".into(),
                },
                selected: chosen == r.as_str(),
            });
        }
        if ceilings.iter().skip(1).any(|c| c.selected) {
            ceilings[0].selected = false;
        }
        Ok(LimitChoices {
            projects,
            organizations,
            ceilings,
        })
    }
}

#[derive(Template)]
#[template(path = "token_personal_new.html")]
struct PersonalNewPage {
    chrome: Chrome,
    name: String,
    expiry: ExpiryChoices,
    limits: LimitChoices,
    error: Option<String>,
}

/// `GET /account/tokens/new`: the "Create New Token" form; a query (`?project=…&ceiling=…`, as
/// the narrower-scope hint links) fills in its limits.
pub async fn new_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, PageError> {
    ensure_creation_open(&state).await?;
    let form = PersonalForm::parse(query.unwrap_or_default().as_bytes());
    render(&PersonalNewPage {
        limits: LimitChoices::new(&state, &user, &form).await?,
        chrome: Chrome::new(Some(user), csrf),
        name: form.name,
        expiry: ExpiryChoices::new(&state.app.config.token_policy(), "", ""),
        error: None,
    })
}

/// `POST /account/tokens`: creates a personal token, limited as the form asks, and shows its
/// value once. Bad limits (a project or organization not the user's, both at once) re-show the
/// form with a 400 and create nothing.
pub async fn create(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let form = PersonalForm::parse(&body);
    let policy = state.app.config.token_policy();
    let outcome = async {
        let now = OffsetDateTime::now_utc();
        let name = TokenName::parse(&form.name, "Token name")?;
        let lifetime = parse_lifetime(&form.expiry, &form.expires_on, now.date())?;
        let expires_at = policy.expiry(lifetime, now)?;
        let limits = form.limits()?;
        let actor = actor(&user, client);
        Ok::<_, PageError>(
            tokens::issue_personal(
                &state.app.store,
                &policy,
                &user,
                &name,
                expires_at,
                &limits,
                &actor,
            )
            .await?,
        )
    }
    .await;
    match outcome {
        Ok((value, record)) => Ok(reveal::redirect(
            &state,
            &user,
            PERSONAL_BASE,
            &record,
            &value,
            false,
        )),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let page = PersonalNewPage {
                limits: LimitChoices::new(&state, &user, &form).await?,
                chrome: Chrome::new(Some(user), csrf),
                expiry: ExpiryChoices::new(&policy, &form.expiry, &form.expires_on),
                name: form.name,
                error: Some(message),
            };
            Ok(render_with(status, &page)?.into_response())
        }
    }
}

/// The user's own personal token `uuid`; anyone else's (or none) is a 404.
async fn own_token(state: &AppState, user: &User, uuid: Uuid) -> Result<TokenRecord, PageError> {
    state
        .app
        .store
        .tokens()
        .by_uuid(uuid)
        .await?
        .filter(|t| t.kind == TokenKind::Personal && t.user_id == Some(user.id))
        .ok_or_else(token_not_found)
}

/// `GET /account/tokens/{uuid}`: one personal token's detail view.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    TokenId(uuid): TokenId,
) -> Result<Html<String>, PageError> {
    let token = own_token(&state, &user, uuid).await?;
    let chrome = Chrome::new(Some(user), csrf);
    detail_page(&state, chrome, Place::personal(), &token).await
}

/// `GET /account/tokens/{uuid}/remove`: the removal confirmation.
pub async fn remove_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    TokenId(uuid): TokenId,
) -> Result<Html<String>, PageError> {
    let token = own_token(&state, &user, uuid).await?;
    let chrome = Chrome::new(Some(user), csrf);
    remove_page(&state, chrome, Place::personal(), &token).await
}

/// `POST /account/tokens/{uuid}/remove`: deletes the token; it stops working at once.
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    TokenId(uuid): TokenId,
) -> Result<Response, PageError> {
    let token = own_token(&state, &user, uuid).await?;
    tokens::delete(
        &state.app.store,
        &token,
        "token.deleted",
        &actor(&user, client),
    )
    .await?;
    Ok(Redirect::to(PERSONAL_BASE).into_response())
}

/// `POST /account/tokens/{uuid}/replace`: a new value for the same token, with the lifetime the
/// form chose, shown once on the page it redirects to; the old value stops working.
pub async fn replace(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CurrentUser(user): CurrentUser,
    TokenId(uuid): TokenId,
    UiForm(form): UiForm<ReplaceForm>,
) -> Result<Response, PageError> {
    let old = own_token(&state, &user, uuid).await?;
    let (value, record) = tokens::replace(
        &state.app.store,
        &state.app.config.token_policy(),
        &old,
        form.replacement()?,
        &actor(&user, client),
    )
    .await?;
    Ok(reveal::redirect(
        &state,
        &user,
        PERSONAL_BASE,
        &record,
        &value,
        true,
    ))
}

/// `GET /account/tokens/{uuid}/created`: the new value, once.
pub async fn created(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    csrf: CsrfToken,
    TokenId(uuid): TokenId,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let token = own_token(&state, &user, uuid).await?;
    let chrome = Chrome::new(Some(user), csrf);
    reveal::page(&state, &headers, chrome, Place::personal(), &token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use circlet_app::tokens::{Lifetime, TokenPolicy};

    #[test]
    fn expiry_choices_follow_the_policy() {
        let open = TokenPolicy {
            max_lifetime_days: None,
            personal_cap: 500,
        };
        let c = ExpiryChoices::new(&open, "never", "");
        let values: Vec<&str> = c.options.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(values, ["30", "60", "90", "365", "custom", "never"]);
        assert!(c.options.last().unwrap().selected);
        let in_30 = OffsetDateTime::now_utc().date() + Duration::days(30);
        assert_eq!(
            c.options[0].label,
            format!("30 days · until {}", iso_date(in_30)),
            "each preset says the day it ends"
        );
        assert!(c.max_date.is_none());

        let capped = TokenPolicy {
            max_lifetime_days: Some(45),
            personal_cap: 500,
        };
        let c = ExpiryChoices::new(&capped, "never", "");
        let values: Vec<&str> = c.options.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(
            values,
            ["30", "45", "custom"],
            "no \"No expiry\" under a cap"
        );
        assert!(
            c.options[0].selected,
            "an unknown choice falls back to the first"
        );
        assert!(c.max_date.is_some());
    }

    #[test]
    fn lifetimes_parse_from_the_form() {
        let today = time::macros::date!(2030 - 06 - 15);
        assert_eq!(parse_lifetime("never", "", today), Ok(Lifetime::Never));
        assert_eq!(parse_lifetime("90", "", today), Ok(Lifetime::Days(90)));
        assert_eq!(
            parse_lifetime("custom", "2030-06-16", today),
            Ok(Lifetime::Until(
                time::macros::datetime!(2030-06-16 0:00 UTC)
            ))
        );
        for (expiry, date) in [
            ("custom", "2030-06-15"),
            ("custom", "2020-01-01"),
            ("custom", "tomorrow"),
            ("0", ""),
            ("", ""),
            ("-5", ""),
        ] {
            assert!(
                parse_lifetime(expiry, date, today).is_err(),
                "{expiry} {date}"
            );
        }
    }

    #[test]
    fn hints_name_the_narrower_scope() {
        let impact = |kinds: &[&str]| Impact {
            last_used: None,
            addresses: vec![],
            kinds: kinds
                .iter()
                .map(|k| KindUse {
                    kind: (*k).into(),
                    what: describe_kind(k),
                    count: 1,
                    last: String::new(),
                })
                .collect(),
        };
        let hint = |kinds: &[&str], scope| {
            impact(kinds)
                .hint(scope)
                .map(|h| (h.text, h.value, h.label))
        };
        assert_eq!(
            hint(&["status"], Some(ProjectScope::All)),
            Some((
                "This All token only read statuses in the last 30 days, yet it can do more: replace it with a Status token.".to_owned(),
                "status",
                "Status"
            ))
        );
        assert_eq!(
            hint(&["artifacts"], Some(ProjectScope::All)),
            Some((
                "This All token only read build artifacts in the last 30 days, yet it can do more: replace it with a Build Artifacts token.".to_owned(),
                "view-builds",
                "Build Artifacts"
            ))
        );
        assert_eq!(hint(&["status"], None), None);
        assert_eq!(hint(&["builds"], Some(ProjectScope::All)), None);
        assert_eq!(hint(&["status"], Some(ProjectScope::Status)), None);
    }
}
