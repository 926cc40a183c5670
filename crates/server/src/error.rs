//! The one place failures become HTTP responses: [`ApiError`] as JSON `{"message": …}` for the
//! APIs, [`PageError`] as a readable HTML page for the web UI. A use case's
//! [`circlet_app::AppError`] becomes each of them here, once.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use circlet_app::AppError;
use circlet_app::error::STORE_FULL;
use circlet_store::StoreError;
use serde::Serialize;

/// `{"message": …}`: the body of every API error, and of the few successful replies that only
/// say what happened (a deletion, an accepted cancel).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageBody {
    /// What happened, for a person to read.
    pub message: String,
}

impl MessageBody {
    /// A body saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        MessageBody {
            message: message.into(),
        }
    }
}

/// An API outcome other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or bad credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Visible but not allowed (403).
    #[error("{}", circlet_app::error::PERMISSION_DENIED)]
    Forbidden,
    /// Absent, or not visible to the caller (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or a value is out of bounds (400).
    #[error("{0}")]
    Invalid(String),
    /// The thing exists already (409).
    #[error("{0}")]
    Conflict(String),
    /// The route exists but not with this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Too many failed attempts from this address (429).
    #[error("{message}")]
    TooManyRequests {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
        /// What to tell the caller.
        message: String,
    },
    /// A rejection from an extractor, with the status it chose (413, 415, 400, …).
    #[error("{1}")]
    Rejected(StatusCode, String),
    /// The database is unreachable (503).
    #[error("The service is temporarily unavailable; try again shortly.")]
    Unavailable,
    /// Where the bytes were to go is full (507): the operator must make room.
    #[error("{0}")]
    StorageFull(String),
    /// The database's disk is full (507): nothing was saved. Readiness answers 503 from then
    /// until a write succeeds again (see [`crate::store_full`]).
    #[error("{STORE_FULL}")]
    StoreFull,
    /// A bug or a broken dependency (500); the cause is logged, never shown.
    #[error("Internal server error")]
    Internal(anyhow::Error),
}

impl ApiError {
    /// The HTTP status of this outcome.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Rejected(status, _) => *status,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StorageFull(_) | ApiError::StoreFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(m) => ApiError::NotFound(m),
            AppError::Forbidden { .. } => ApiError::Forbidden,
            AppError::Refused(m) => ApiError::Rejected(StatusCode::FORBIDDEN, m),
            AppError::LoginRequired => ApiError::Unauthorized(e.to_string()),
            AppError::Unauthenticated(m) => ApiError::Unauthorized(m),
            AppError::Invalid(m) => ApiError::Invalid(m),
            AppError::Conflict(m) => ApiError::Conflict(m),
            AppError::Unavailable => ApiError::Unavailable,
            AppError::StoreFull => ApiError::StoreFull,
            AppError::StorageFull(m) => ApiError::StorageFull(m),
            AppError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<circlet_core::Invalid> for ApiError {
    fn from(e: circlet_core::Invalid) -> Self {
        ApiError::Invalid(e.0)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!("internal error: {cause:#}");
        }
        let status = self.status();
        let body = MessageBody::new(self.to_string());
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::StoreFull = &self {
            response.extensions_mut().insert(crate::store_full::Noticed);
        }
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

/// A web-UI outcome other than success: an HTML error page, or a trip to the login page.
#[derive(Debug)]
pub enum PageError {
    /// Not logged in: go to the login page and come back to `next` afterwards.
    LoginRequired {
        /// The path to return to.
        next: String,
    },
    /// An error page with this status and message.
    Page {
        /// HTTP status.
        status: StatusCode,
        /// What to tell the user.
        message: String,
        /// Seconds to wait, for 429.
        retry_after_secs: Option<u64>,
    },
    /// The database's disk is full (507): nothing was saved.
    StoreFull,
    /// A bug or a broken dependency; logged, shown as a generic page.
    Internal(anyhow::Error),
}

impl PageError {
    /// An error page with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PageError::Page {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 400 with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403 with the standard message.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "You do not have permission to do that.",
        )
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Internal(cause) => PageError::Internal(cause),
            ApiError::StoreFull => PageError::StoreFull,
            ApiError::TooManyRequests {
                retry_after_secs,
                message,
            } => PageError::Page {
                status: StatusCode::TOO_MANY_REQUESTS,
                message,
                retry_after_secs: Some(retry_after_secs),
            },
            ApiError::Forbidden => PageError::forbidden(),
            other => PageError::new(other.status(), other.to_string()),
        }
    }
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Forbidden { needed: Some(role) } => PageError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "You do not have permission to do that: it needs the {} role in this project.",
                    role.as_str()
                ),
            ),
            other => ApiError::from(other).into(),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<circlet_core::Invalid> for PageError {
    fn from(e: circlet_core::Invalid) -> Self {
        PageError::invalid(e.0)
    }
}

/// The error page. `nav` is the top navigation: `None` where the visitor is not known (the page
/// is drawn before [`crate::ui::error_page`] draws it again with the visitor's links).
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub(crate) status: u16,
    pub(crate) reason: &'a str,
    pub(crate) message: &'a str,
    pub(crate) nav: Option<Option<&'a circlet_store::User>>,
}

/// What an error page said, kept on its response so that the web UI can draw it again inside
/// its top navigation.
#[derive(Debug, Clone)]
pub(crate) struct ErrorPageShown {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let store_full = matches!(self, PageError::StoreFull);
        let (status, message, retry) = match self {
            PageError::LoginRequired { next } => {
                let target = format!("/login?next={}", crate::ui::encode_query_value(&next));
                return Redirect::to(&target).into_response();
            }
            PageError::Page {
                status,
                message,
                retry_after_secs,
            } => (status, message, retry_after_secs),
            PageError::StoreFull => (
                StatusCode::INSUFFICIENT_STORAGE,
                STORE_FULL.to_owned(),
                None,
            ),
            PageError::Internal(cause) => {
                tracing::error!("internal error: {cause:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side. It has been logged.".to_owned(),
                    None,
                )
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: &message,
            nav: None,
        };
        let html = page.render().unwrap_or_else(|_| message.clone());
        let mut response = (status, Html(html)).into_response();
        response
            .extensions_mut()
            .insert(ErrorPageShown { status, message });
        if store_full {
            response.extensions_mut().insert(crate::store_full::Noticed);
        }
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
