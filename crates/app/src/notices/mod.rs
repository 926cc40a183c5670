//! Notices to tokens' owners, on their dashboard and by email: a token expires in 7 days, in 1
//! day ([`App::sweep_notices`], every [`crate::AppConfig::notice_interval`] in [`sweep_every`]),
//! or was revoked because it leaked ([`App::notice_revocation`], from the leak guard and secret
//! scanners' reports alike, through `tokens::leaked`).
//!
//! Who is told: a personal token's owner; a project token's admins; never a disabled user, and
//! nobody about a runner token. When a notice is due is `circlet_core::notice`'s rule, over the
//! tokens' own expiry dates and the caller's clock, so a test turns the clock instead of waiting.
//!
//! Each notice is made once per (token, kind, recipient) by a unique key, before any email goes
//! out, however many replicas sweep. Its email is then taken for one attempt by one replica (a
//! compare-and-set, with a lease should that replica die) and settled: sent; pending again for
//! the next sweep after a failure, which is logged (never with a token, which the store does not
//! hold anyway); given up once it no longer matters (an expiry notice whose token has expired
//! or is gone, a revocation after [`RETRY_FOR`]), which is logged as an error. Without an SMTP
//! server configured, notices go to dashboards only.

pub mod mail;

use crate::{App, AppError};
use circlet_core::Role;
use circlet_core::notice::{FIRST_NOTICE, MailState, NoticeFacts, NoticeKind, expiry_notice};
use circlet_core::token::TokenKind;
use circlet_store::notices::NoticeRecord;
use circlet_store::{NewNotice, TokenRecord, User};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How many unread notices a dashboard shows.
pub const SHOWN: i64 = 50;
/// How long a notice is kept, dismissed or not.
pub const KEPT: Duration = Duration::days(30);
/// How long a revocation's email is tried; an expiry notice's, until its token expires.
pub const RETRY_FOR: Duration = Duration::days(7);
/// How long an email taken for an attempt is this replica's.
const LEASE: Duration = Duration::seconds(120);
/// Emails sent per round at most; the rest wait for the next.
const BATCH: i64 = 100;

/// Every [`crate::AppConfig::notice_interval`], the first time a minute after start at most:
/// makes the expiry notices that are due and sends what is pending.
pub async fn sweep_every(app: App) {
    let every = app.config.notice_interval;
    let first = tokio::time::Instant::now() + every.min(std::time::Duration::from_secs(60));
    let mut ticker = tokio::time::interval_at(first, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = app.sweep_notices(OffsetDateTime::now_utc()).await {
            tracing::warn!("could not sweep token notices: {e}");
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Notices made.
    pub made: usize,
    /// Emails the SMTP server took.
    pub sent: usize,
    /// Emails that failed this time (tried again at the next sweep).
    pub failed: usize,
}

/// A notice as its recipient's dashboard shows it.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Its public id, to dismiss it by.
    pub uuid: Uuid,
    /// What it is about.
    pub kind: NoticeKind,
    /// What it says, at the time it is shown.
    pub headline: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// Where the token's settings are (a path on this instance).
    pub settings_path: String,
}

/// What a stored notice says.
fn facts(n: &NoticeRecord) -> NoticeFacts<'_> {
    NoticeFacts {
        kind: n.kind,
        token_kind: n.token_kind,
        name: &n.token_name,
        last4: &n.token_last4,
        project_slug: &n.project_slug,
        expires_at: n.expires_at,
        detail: &n.detail,
    }
}

/// The path of the settings page listing a token of `kind` (of the project `slug`).
fn settings_path(kind: TokenKind, slug: &str) -> String {
    match kind {
        TokenKind::Project if !slug.is_empty() => format!("/projects/{slug}/settings/api"),
        _ => "/account/tokens".into(),
    }
}

impl App {
    /// The mailer, when emails are sent.
    pub fn mailer(&self) -> Option<&mail::Mailer> {
        self.config.mailer.as_deref()
    }

    /// One sweep at `now` (the caller's clock): the expiry notices due are made, pending emails
    /// sent, notices older than [`KEPT`] forgotten.
    pub async fn sweep_notices(&self, now: OffsetDateTime) -> Result<Swept, AppError> {
        let mut swept = Swept::default();
        for entry in self
            .store
            .tokens()
            .expiring(now, now + FIRST_NOTICE)
            .await?
        {
            let Some(kind) = entry.token.expires_at.and_then(|e| expiry_notice(e, now)) else {
                continue;
            };
            let slug = entry.project_slug.as_deref().unwrap_or_default();
            swept.made += self.notice(&entry.token, slug, kind, "").await?;
        }
        let (sent, failed) = self.send_notices(now).await?;
        swept.sent = sent;
        swept.failed = failed;
        self.store.notices().prune(now - KEPT).await?;
        Ok(swept)
    }

    /// Tells `token`'s owners that it was revoked because it `whereabouts` ("was printed in
    /// the output of build #3 of …"), and sends the emails at once, in the background. A
    /// failure is logged, never the revocation's: the token is revoked whatever happens here.
    pub async fn notice_revocation(&self, token: &TokenRecord, whereabouts: &str) {
        let slug = match token.project_id {
            Some(id) => match self.store.projects().by_id(id).await {
                Ok(p) => p.map(|p| p.slug.to_string()).unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(token = %token.uuid, "could not read a revoked token's project: {e}");
                    String::new()
                }
            },
            None => String::new(),
        };
        match self
            .notice(token, &slug, NoticeKind::Revoked, whereabouts)
            .await
        {
            Ok(0) => {}
            Ok(_) if self.mailer().is_some() => {
                let app = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = app.send_notices(OffsetDateTime::now_utc()).await {
                        tracing::warn!("could not send token notices: {e}");
                    }
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(token = %token.uuid, "could not notify a revoked token's owners: {e}")
            }
        }
    }

    /// Makes notice `kind` about `token` for each who hears of it; how many were new.
    async fn notice(
        &self,
        token: &TokenRecord,
        project_slug: &str,
        kind: NoticeKind,
        detail: &str,
    ) -> Result<usize, AppError> {
        let mut made = 0;
        for user in self.told_about(token).await? {
            let new = NewNotice {
                user_id: user.id,
                token_uuid: token.uuid,
                kind,
                token_kind: token.kind,
                token_name: &token.name,
                token_last4: &token.last4,
                project_slug,
                expires_at: token.expires_at,
                detail,
                mail: self.mailer().is_some() && !user.email.trim().is_empty(),
            };
            if let Some(n) = self.store.notices().record(&new).await? {
                tracing::info!(notice = %n.uuid, token = %token.uuid, user = %user.login, kind = kind.as_str(), "made a token notice");
                made += 1;
            }
        }
        Ok(made)
    }

    /// Who hears about `token`: a personal token's owner, a project token's admins; never a
    /// disabled user.
    async fn told_about(&self, token: &TokenRecord) -> Result<Vec<User>, AppError> {
        let users = match (token.kind, token.user_id, token.project_id) {
            (TokenKind::Personal, Some(owner), _) => {
                self.store.users().by_id(owner).await?.into_iter().collect()
            }
            (TokenKind::Project, _, Some(project)) => self
                .store
                .projects()
                .members(project)
                .await?
                .into_iter()
                .filter(|m| m.role == Role::Admin)
                .map(|m| m.user)
                .collect(),
            _ => Vec::new(),
        };
        Ok(users.into_iter().filter(|u| !u.disabled).collect())
    }

    /// Sends the emails due at `now`: how many were taken and how many failed.
    pub async fn send_notices(&self, now: OffsetDateTime) -> Result<(usize, usize), AppError> {
        let Some(mailer) = self.mailer() else {
            return Ok((0, 0));
        };
        let (mut sent, mut failed) = (0, 0);
        // A notice made during this sweep is due at the store's clock, which may have ticked
        // past the caller's `now` meanwhile; it is due now all the same.
        let due_by = now.max(OffsetDateTime::now_utc());
        for n in self.store.notices().mail_due(due_by, BATCH).await? {
            if !self.store.notices().take_mail(&n, now + LEASE).await? {
                continue; // another replica sends it
            }
            let (state, error) = self.mail_one(mailer, &n, now).await?;
            match state {
                MailState::Sent => sent += 1,
                MailState::Pending => failed += 1,
                MailState::Off | MailState::Failed => {}
            }
            self.store
                .notices()
                .settle_mail(n.id, state, &error, now)
                .await?;
        }
        Ok((sent, failed))
    }

    /// One attempt at notice `n`'s email: what it came to, and why it failed.
    async fn mail_one(
        &self,
        mailer: &mail::Mailer,
        n: &NoticeRecord,
        now: OffsetDateTime,
    ) -> Result<(MailState, String), AppError> {
        let user = self.store.users().by_id(n.user_id).await?;
        let Some(user) = user.filter(|u| !u.disabled && !u.email.trim().is_empty()) else {
            return Ok((
                MailState::Off,
                "the recipient has no address or is disabled".into(),
            ));
        };
        if n.kind.is_expiry() {
            let token = self.store.tokens().by_uuid(n.token_uuid).await?;
            let Some(token) = token else {
                return Ok((MailState::Off, "the token is gone".into()));
            };
            if token.expired_at(now) {
                tracing::error!(notice = %n.uuid, user = %user.login, attempts = n.mail_attempts + 1, "gave up emailing a token expiry notice: the token expired first (last error: {})", n.mail_error);
                return Ok((
                    MailState::Failed,
                    "the token expired before the email went".into(),
                ));
            }
        } else if now - n.created_at > RETRY_FOR {
            tracing::error!(notice = %n.uuid, user = %user.login, attempts = n.mail_attempts + 1, "gave up emailing a token revocation notice after {} days (last error: {})", RETRY_FOR.whole_days(), n.mail_error);
            return Ok((MailState::Failed, "given up".into()));
        }
        let facts = facts(n);
        let settings_url = format!(
            "{}{}",
            self.config.public_url,
            settings_path(n.token_kind, &n.project_slug)
        );
        let body = facts.body(now, &settings_url);
        match mailer.send(&user.email, &facts.subject(now), body).await {
            Ok(()) => {
                tracing::info!(notice = %n.uuid, user = %user.login, kind = n.kind.as_str(), "emailed a token notice");
                Ok((MailState::Sent, String::new()))
            }
            Err(e) => {
                tracing::warn!(notice = %n.uuid, user = %user.login, attempts = n.mail_attempts + 1, "could not email a token notice, trying again at the next sweep: {e}");
                Ok((MailState::Pending, e))
            }
        }
    }

    /// `user`'s unread notices, newest first, as their dashboard shows them at `now`.
    pub async fn notices_of(
        &self,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<Vec<Notice>, AppError> {
        Ok(self
            .store
            .notices()
            .unread(user.id, SHOWN)
            .await?
            .iter()
            .map(|n| Notice {
                uuid: n.uuid,
                kind: n.kind,
                headline: facts(n).headline(now),
                created_at: n.created_at,
                settings_path: settings_path(n.token_kind, &n.project_slug),
            })
            .collect())
    }

    /// Dismisses `user`'s notice `uuid`: `NotFound` when they have no such unread notice.
    pub async fn dismiss_notice(&self, user: &User, uuid: Uuid) -> Result<(), AppError> {
        if self.store.notices().dismiss(user.id, uuid).await? {
            Ok(())
        } else {
            Err(AppError::NotFound(NOTICE_NOT_FOUND.into()))
        }
    }
}

/// What a missing notice is called.
pub const NOTICE_NOT_FOUND: &str = "There is no such notice.";
