//! Accounts: a user changing their own password; a site admin (the web UI's Admin → Users, or
//! the operator's `circlet admin user …`) editing a user, disabling one, setting a new password
//! for one or emailing them a reset link; and the link's use. The rule that the instance keeps
//! an active site admin is the store's `Conflict::LastAdmin` (checked in the write itself),
//! worded once in [`crate::error::LAST_ADMIN`]. Every change is audited against the user it
//! concerns, so it also shows in their own audit log.
//!
//! Setting a password ends every session of the user (their current browser is logged in again
//! by the edge when they changed it themselves) and every reset link they had.

use crate::caller::Actor;
use crate::{App, AppError, password};
use circlet_core::{DisplayName, Email, Login, Password};
use circlet_store::{NewAuditEntry, Store, User};
use secrecy::ExposeSecret;
use std::time::Duration;
use time::OffsetDateTime;

/// How long an emailed reset link works, unless configured otherwise.
pub const RESET_LINK_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// What a reset link that cannot be used (unknown, used, expired, its user disabled) says.
pub const RESET_LINK_UNUSABLE: &str = "This password reset link cannot be used: it was used already, it has expired, or it was replaced by a newer one. Ask a site admin for a new link.";

/// A site admin's edit of a user.
#[derive(Debug, Clone)]
pub struct AccountEdit {
    /// The display name.
    pub name: DisplayName,
    /// The email address.
    pub email: Email,
    /// Whether the user is a site admin.
    pub site_admin: bool,
}

/// The user with `login`, or `NotFound` worded for a person.
async fn user(store: &Store, login: &Login) -> Result<User, AppError> {
    store
        .users()
        .by_login(login)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with login '{login}'")))
}

async fn audit(
    store: &Store,
    event: &str,
    about: &User,
    actor: &Actor,
    detail: String,
) -> Result<(), AppError> {
    let entry = NewAuditEntry {
        event: event.into(),
        actor_id: actor.user_id,
        actor_login: actor.login.clone(),
        owner_id: Some(about.id),
        address: actor.address.clone(),
        detail,
        ..Default::default()
    };
    store.audit().append(&entry).await?;
    Ok(())
}

/// Sets `login`'s name, email and site-admin flag; audited as `user.updated` with what changed.
/// The last active site admin keeps the flag (`Conflict`).
pub async fn edit(
    store: &Store,
    login: &Login,
    edit: &AccountEdit,
    actor: &Actor,
) -> Result<User, AppError> {
    let before = user(store, login).await?;
    let after = store
        .users()
        .edit(login, &edit.name, &edit.email, edit.site_admin)
        .await?;
    let mut changed = Vec::new();
    if before.name != after.name {
        changed.push(format!("name \"{}\" → \"{}\"", before.name, after.name));
    }
    if before.email != after.email {
        changed.push(format!("email {} → {}", before.email, after.email));
    }
    if before.site_admin != after.site_admin {
        changed.push(format!(
            "site admin {}",
            if after.site_admin {
                "granted"
            } else {
                "removed"
            }
        ));
    }
    if !changed.is_empty() {
        let detail = format!("{}: {}", after.login, changed.join(", "));
        audit(store, "user.updated", &after, actor, detail).await?;
    }
    Ok(after)
}

/// Disables `login` (ending their sessions; their tokens stop working) or enables them again;
/// audited as `user.disabled` / `user.enabled`. The last active site admin cannot be disabled
/// (`Conflict`), and nobody disables themselves (`Invalid`).
pub async fn set_disabled(
    store: &Store,
    login: &Login,
    disabled: bool,
    actor: &Actor,
) -> Result<User, AppError> {
    if disabled && actor.login == login.as_str() && actor.user_id.is_some() {
        return Err(AppError::Invalid(
            "You cannot disable your own account.".into(),
        ));
    }
    let after = store.users().set_disabled(login, disabled).await?;
    let event = if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    };
    audit(store, event, &after, actor, after.login.to_string()).await?;
    Ok(after)
}

/// A site admin (or the operator) sets a new password for `login`: their sessions and reset
/// links end. Audited as `user.password_set`; the password is never recorded.
pub async fn set_password(
    store: &Store,
    login: &Login,
    new: Password,
    actor: &Actor,
) -> Result<User, AppError> {
    let target = user(store, login).await?;
    let hash = password::hash(new).await.map_err(AppError::Internal)?;
    store.users().set_password(target.id, &hash).await?;
    let detail = format!(
        "{}: a new password was set; their sessions ended",
        target.login
    );
    audit(store, "user.password_set", &target, actor, detail).await?;
    Ok(target)
}

/// `user` changes their own password, proving they know the `current` one (`Invalid` when
/// they do not). Every session of theirs ends; audited as `user.password_changed`.
pub async fn change_own_password(
    store: &Store,
    user: &User,
    current: String,
    new: Password,
    address: &str,
) -> Result<(), AppError> {
    let phc = store
        .users()
        .credentials(&user.login)
        .await?
        .map(|(_, phc)| phc);
    if !password::verify(current, phc).await {
        return Err(AppError::Invalid(
            "The current password is not right; the password was not changed.".into(),
        ));
    }
    let hash = password::hash(new).await.map_err(AppError::Internal)?;
    store.users().set_password(user.id, &hash).await?;
    let actor = Actor::user(user, address);
    let detail = format!(
        "{}: changed their password; their other sessions ended",
        user.login
    );
    audit(store, "user.password_changed", user, &actor, detail).await
}

/// How a reset link's secret is kept: its SHA-256, hex.
fn link_digest(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl App {
    /// Whether reset links can be emailed (an SMTP server is configured).
    pub fn can_email_reset_links(&self) -> bool {
        self.config.mailer.is_some()
    }

    /// Emails `login` a link to choose a new password, valid once for
    /// `AppConfig::reset_link_lifetime`. Only the link's digest is stored; the link itself goes
    /// into the email and nowhere else (not the audit log, not the answer). `Refused` without an
    /// SMTP server or an email address.
    pub async fn email_reset_link(&self, login: &Login, actor: &Actor) -> Result<User, AppError> {
        let Some(mailer) = self.config.mailer.as_deref() else {
            return Err(AppError::Refused(
                "No SMTP server is configured (--smtp-url), so no reset link can be emailed: set a new password instead.".into(),
            ));
        };
        let target = user(&self.store, login).await?;
        if target.disabled {
            return Err(AppError::Refused(format!(
                "{} is disabled: enable the account first.",
                target.login
            )));
        }
        let secret = circlet_core::secret::random_hex_secret();
        let secret = secret.expose_secret();
        let lifetime = self.config.reset_link_lifetime;
        let expires = OffsetDateTime::now_utc() + lifetime;
        self.store
            .password_resets()
            .create(&link_digest(secret), target.id, &actor.login, expires)
            .await?;
        let link = format!("{}/password-reset?token={secret}", self.config.public_url);
        let minutes = (lifetime.as_secs() / 60).max(1);
        let body = format!(
            "Hello {name},\n\n{by} asked circlet to let you choose a new password for your \
             account {login}. Open this link within {minutes} minutes; it works once:\n\n\
             {link}\n\nIf you did not expect this, ignore this email: your password stays as it is.\n",
            name = target.name,
            by = actor.login,
            login = target.login,
        );
        if let Err(e) = mailer
            .send(&target.email, "Choose a new circlet password", body)
            .await
        {
            tracing::warn!(user = %target.login, "a password reset email was not sent: {e}");
            return Err(AppError::Unavailable);
        }
        let detail = format!(
            "{}: a password reset link was emailed to {} (valid {minutes} minutes)",
            target.login, target.email
        );
        audit(
            &self.store,
            "user.password_reset_sent",
            &target,
            actor,
            detail,
        )
        .await?;
        Ok(target)
    }

    /// The user whose password the reset link `secret` would set, or `None` when it cannot be
    /// used ([`RESET_LINK_UNUSABLE`]).
    pub async fn reset_link_user(&self, secret: &str) -> Result<Option<User>, AppError> {
        Ok(self
            .store
            .password_resets()
            .user_for(&link_digest(secret), OffsetDateTime::now_utc())
            .await?)
    }

    /// Uses the reset link `secret` to set `new` as its user's password: once, before it
    /// expires. Their sessions end. Audited as `user.password_reset`.
    pub async fn reset_password(
        &self,
        secret: &str,
        new: Password,
        address: &str,
    ) -> Result<User, AppError> {
        // Refused before hashing, so a dead link costs no argon2 time.
        if self.reset_link_user(secret).await?.is_none() {
            return Err(AppError::Invalid(RESET_LINK_UNUSABLE.into()));
        }
        let hash = password::hash(new).await.map_err(AppError::Internal)?;
        let user = self
            .store
            .password_resets()
            .reset(&link_digest(secret), &hash, OffsetDateTime::now_utc())
            .await?
            .ok_or_else(|| AppError::Invalid(RESET_LINK_UNUSABLE.into()))?;
        let actor = Actor::user(&user, address);
        let detail = format!("{}: chose a new password with a reset link", user.login);
        audit(&self.store, "user.password_reset", &user, &actor, detail).await?;
        Ok(user)
    }
}
