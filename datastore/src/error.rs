//! The one user-facing error type. Error policy:
//! - libraries (`checks`, the blob store) return their own `thiserror` enums;
//! - the domain layer and handlers return [`AppError`], which carries the HTTP status, a stable
//!   `snake_case` code that clients switch on, and a sentence for people;
//! - it renders as the JSON envelope `{"error","message"}` for the API and as an HTML page for
//!   browsers; unexpected failures are logged in full and shown only as `internal_error`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use shared_models::{ErrorBody, NameError};

use crate::db::DbError;

#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
    /// Whether the client asked for HTML (a browser on the download tree).
    pub html: bool,
    /// The methods a URL does answer, for a 405 (its `Allow` header).
    pub allow: Option<String>,
    /// When to come back, in seconds, for a 429 or 503 (its `Retry-After` header).
    pub retry_after: Option<u64>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, html: false, allow: None, retry_after: None }
    }

    /// 405: the URL exists, under the methods in `allow` (sent as the `Allow` header).
    pub fn method_not_allowed(allow: String, message: impl Into<String>) -> Self {
        Self { allow: Some(allow), ..Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message) }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn as_html(mut self) -> Self {
        self.html = true;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "gone", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// An unexpected failure: logged with its cause, shown without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The server failed to handle the request; the cause is in its log.",
        )
    }

    /// Where the thing asked for can be found instead (e.g. a revoked release), if anywhere.
    pub fn location(&self) -> Option<&str> {
        self.details.as_ref()?.get("location")?.as_str()
    }

    fn body(&self) -> ErrorBody {
        ErrorBody { error: self.code.to_owned(), message: self.message.clone(), details: self.details.clone() }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for AppError {}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Some(allow) = self.allow.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            response.insert_header((header::ALLOW, allow));
        }
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if self.html {
            return response.content_type("text/html; charset=utf-8").body(crate::web::error_page(
                self.status,
                self.code,
                &self.message,
                self.location(),
            ));
        }
        response.json(self.body())
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Pool(_) => {
                tracing::warn!(error = %e, "database pool exhausted");
                Self::unavailable("The database is busy; try again in a moment.")
            }
            other => Self::internal(other),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        Self::internal(DbError::Query(e))
    }
}

/// A stored enumeration this version does not know: the database is ahead of the code, or
/// damaged. Never read as a default.
impl From<shared_models::UnknownValue> for AppError {
    fn from(e: shared_models::UnknownValue) -> Self {
        Self::internal(format!("the database holds an {e}"))
    }
}

impl From<NameError> for AppError {
    fn from(e: NameError) -> Self {
        let code = match e.kind {
            "path" => "invalid_path",
            "version" => "invalid_version",
            "user id" => "invalid_uid",
            _ => "invalid_name",
        };
        Self::unprocessable(code, e.to_string())
    }
}
