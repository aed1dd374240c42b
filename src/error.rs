//! The one error type of the HTTP API and its JSON envelope.
//!
//! Every error leaves the server as
//! `{"error": {"code", "message", "details", "request_id"}}`. `code` is a
//! stable machine string; 5xx bodies never carry internal text (the cause is
//! logged once, in the request span, when the response is built).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::request_id;

/// One problem with one input field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field (`identities[0].platform`), or the query/path parameter name.
    pub field: String,
    /// Machine code of the problem (`required`, `invalid`, `too_long`, `unknown_field`, ...).
    pub code: String,
    /// Human explanation.
    pub message: String,
}

impl FieldError {
    /// A field error with the given code and message.
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.to_owned(), message: message.into() }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// Inside the envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `validation_failed`, `not_found`, `conflict`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Field-level problems (validation), else empty.
    pub details: Vec<FieldError>,
    /// The request id, also sent as the `x-request-id` header.
    pub request_id: Option<String>,
    /// What a conflict is with, where it helps the caller (e.g. `check_in`:
    /// the check-in already made that day).
    #[serde(flatten)]
    #[schema(ignore)]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: the input is well-formed but breaks a rule.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 400: the request cannot be parsed (malformed JSON, bad path parameter).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String, details: Vec<FieldError> },
    /// 401: no or invalid API key.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// 403: valid key, insufficient role.
    #[error("this API key's role may not do this")]
    Forbidden,
    /// 404: missing, or belonging to another workspace.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 404: the request names records (in its body or query) that are not in
    /// the caller's workspace; `details` names each field (`unknown`).
    #[error("a referenced record does not exist in this workspace")]
    Unknown(Vec<FieldError>),
    /// 409: conflicts with the current state (unique key, illegal transition, ...).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 409 naming what the request conflicts with: `name` holds `value` in
    /// the error body.
    #[error("{message}")]
    ConflictWith { code: &'static str, message: String, name: &'static str, value: Box<serde_json::Value> },
    /// 413: body over the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415: not JSON.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// Another refusal with its own status and code (401 `session_expired`,
    /// 403 `csrf_failed`, 429 `too_many_attempts`, …).
    #[error("{message}")]
    Refused { status: StatusCode, code: &'static str, message: String },
    /// 500: a bug or an unavailable dependency; the cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 for one field.
    pub fn field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    /// A 404 for one field naming a record that is not in the workspace.
    pub fn unknown(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Unknown(vec![FieldError::new(field, "unknown", message)])
    }

    /// A 409 with a specific code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    /// A refusal with its own status and code.
    pub fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused { status, code, message: message.into() }
    }

    /// A 409 carrying what it conflicts with under `name`.
    pub fn conflict_with(
        code: &'static str,
        message: impl Into<String>,
        name: &'static str,
        value: impl Serialize,
    ) -> Self {
        let value = serde_json::to_value(value).unwrap_or_default();
        Self::ConflictWith { code, message: message.into(), name, value: Box::new(value) }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::Unknown(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } | Self::ConflictWith { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Refused { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::BadRequest { code, .. } => code,
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) | Self::Unknown(_) => "not_found",
            Self::Conflict { code, .. } | Self::ConflictWith { code, .. } => code,
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Refused { code, .. } => code,
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}

/// Builds the envelope response for a status, code and message (also used
/// for errors produced outside handlers, e.g. timeouts and unknown routes).
pub fn envelope_response(status: StatusCode, code: &str, message: String, details: Vec<FieldError>) -> Response {
    // A field path or message may echo the caller's input, U+0000 included
    // (a key holding one): shown as the escape `\u0000`, as the document's
    // strings hold no U+0000.
    let shown = |s: String| if s.contains('\0') { s.replace('\0', "\\u0000") } else { s };
    let message = shown(message);
    let details = details
        .into_iter()
        .map(|d| FieldError { field: shown(d.field), code: d.code, message: shown(d.message) })
        .collect();
    let body = ErrorEnvelope {
        error: ErrorBody {
            code: code.to_owned(),
            message,
            details,
            request_id: request_id::current(),
            context: serde_json::Map::new(),
        },
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        match self {
            Self::Internal(err) => {
                // Logged once, here, inside the request span.
                tracing::error!(error = %format!("{err:#}"), "internal error");
                envelope_response(status, code, "internal server error".into(), vec![])
            }
            Self::Validation(details) => {
                let message = first_problem("invalid request: ", &details).unwrap_or_else(|| "invalid request".into());
                envelope_response(status, code, message, details)
            }
            Self::BadRequest { message, details, .. } => envelope_response(status, code, message, details),
            Self::ConflictWith { message, name, value, .. } => {
                let body = ErrorEnvelope {
                    error: ErrorBody {
                        code: code.to_owned(),
                        message,
                        details: vec![],
                        request_id: request_id::current(),
                        context: serde_json::Map::from_iter([(name.to_owned(), *value)]),
                    },
                };
                (status, axum::Json(body)).into_response()
            }
            Self::Unknown(details) => {
                let message = first_problem("", &details)
                    .unwrap_or_else(|| "a referenced record does not exist in this workspace".into());
                envelope_response(status, code, message, details)
            }
            other => {
                let message = other.to_string();
                envelope_response(status, code, message, vec![])
            }
        }
    }
}

/// `<prefix><field>: <message>` of the first problem, for the envelope's message.
fn first_problem(prefix: &str, details: &[FieldError]) -> Option<String> {
    details.first().map(|d| format!("{prefix}{}: {}", d.field, d.message))
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// Maps a unique/foreign-key/check violation named `constraint` to the given
/// error; any other database error stays internal. Used where a query is made.
pub fn on_constraint(e: sqlx::Error, map: impl FnOnce(&str) -> Option<ApiError>) -> ApiError {
    if let sqlx::Error::Database(db) = &e {
        if let Some(c) = db.constraint() {
            if let Some(mapped) = map(c) {
                return mapped;
            }
        }
    }
    ApiError::from(e)
}
