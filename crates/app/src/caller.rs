//! Who is acting: [`Caller`] for requests (found by the server's one authentication extractor),
//! [`Actor`] for the audit log (a caller with an address, or the operator's CLI).

use crate::{App, AppError};
use circlet_core::scope::Action;
use circlet_core::token_limits::TokenLimits;
use circlet_store::{TokenRecord, User};

/// The caller of a use case.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No credential.
    Anonymous,
    /// A user through their browser session.
    Session(User),
    /// A user through one of their personal API tokens.
    Personal {
        /// The user, as they are now (rights are computed per request).
        user: User,
        /// The token used.
        token: TokenRecord,
    },
    /// A project API token.
    Project {
        /// The token used.
        token: TokenRecord,
    },
}

impl Caller {
    /// A browser visitor: logged in as `user`, or anonymous.
    pub fn visitor(user: Option<&User>) -> Caller {
        user.map_or(Caller::Anonymous, |u| Caller::Session(u.clone()))
    }

    /// The user behind the call, if it is a user.
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::Session(u) | Caller::Personal { user: u, .. } => Some(u),
            Caller::Anonymous | Caller::Project { .. } => None,
        }
    }

    /// The token used, if any.
    pub fn token(&self) -> Option<&TokenRecord> {
        match self {
            Caller::Personal { token, .. } | Caller::Project { token } => Some(token),
            Caller::Anonymous | Caller::Session(_) => None,
        }
    }

    /// For user-level use cases (`/me`, all of API v2): the user, or [`AppError::LoginRequired`].
    pub fn require_user(&self) -> Result<&User, AppError> {
        self.user().ok_or(AppError::LoginRequired)
    }

    /// API v2's door (CircleCI's v2 takes personal tokens only): an action anyone may take on a
    /// public project (a read) is left to [`App::authorize`] as on v1.1, so a public project's
    /// reads need no token and project tokens read within their scope (circlet's extension);
    /// anything else needs a user, or [`AppError::LoginRequired`].
    pub fn require_user_unless_read(&self, action: Action) -> Result<(), AppError> {
        if action.is_public_read() {
            Ok(())
        } else {
            self.require_user().map(|_| ())
        }
    }

    /// What the caller's personal token is limited to, when it is a limited one. Browser
    /// sessions and unlimited tokens act with their user's full rights: `None`.
    pub fn limits(&self) -> Option<&TokenLimits> {
        match self {
            Caller::Personal { token, .. } if token.limits.is_limited() => Some(&token.limits),
            _ => None,
        }
    }

    /// For account-level actions a limited token could widen itself with (adding a project,
    /// anything a site admin does): [`AppError::Refused`] through a limited personal token,
    /// naming `what` ("add projects").
    pub fn require_unlimited(&self, what: &str) -> Result<(), AppError> {
        match self.limits() {
            None => Ok(()),
            Some(limits) => Err(AppError::Refused(format!(
                "This API token is limited ({}), so it cannot {what}. Use a token without \
                 limits, or the web UI.",
                limits.describe()
            ))),
        }
    }

    /// Records what kind of request the token made, for its owner's usage view.
    pub fn note_kind(&self, app: &App, kind: &str) {
        if let Some(t) = self.token() {
            app.usage.note_kind(t.id, kind);
        }
    }

    /// Records what kind of request the token made on project `project_id`; for a personal
    /// token, the project too (what the narrower-scope hint suggests limiting it to).
    pub fn note_kind_on(&self, app: &App, kind: &str, project_id: i64) {
        match self {
            Caller::Personal { token, .. } => app.usage.note_kind_on(token.id, kind, project_id),
            Caller::Project { token } => app.usage.note_kind(token.id, kind),
            Caller::Anonymous | Caller::Session(_) => {}
        }
    }
}

/// Who is acting, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The acting user, if a user.
    pub user_id: Option<i64>,
    /// Their login, or a description (`admin-cli`).
    pub login: String,
    /// Their address.
    pub address: String,
}

impl Actor {
    /// `user` acting from `address`.
    pub fn user(user: &User, address: impl Into<String>) -> Self {
        Actor {
            user_id: Some(user.id),
            login: user.login.to_string(),
            address: address.into(),
        }
    }
}
