//! Bearer-key authentication for `/v1`, and the [`Auth`] extractor.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Duration;

use super::model::{hash_key, looks_like_key, Role};
use super::repo;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ApiKeyId, WorkspaceId};
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Auth {
    pub workspace_id: WorkspaceId,
    pub key_id: ApiKeyId,
    pub role: Role,
}

impl Auth {
    /// 403 unless the caller's role is at least `min`.
    pub fn require(&self, min: Role) -> ApiResult<()> {
        if self.role >= min {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Auth>().copied().ok_or(ApiError::Unauthorized)
    }
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware: resolves the bearer key or answers 401.
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer(&req).filter(|t| looks_like_key(t)) else {
        return ApiError::Unauthorized.into_response();
    };
    let record = match repo::find_live_by_hash(&state.pool, &hash_key(token)).await {
        Ok(Some(r)) => r,
        Ok(None) => return ApiError::Unauthorized.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = state.clock.now();
    // Throttled so a busy key does not write on every request.
    if record.last_used_at.is_none_or(|t| now - t > Duration::seconds(60)) {
        if let Err(e) = repo::touch(&state.pool, record.workspace_id, record.id, now).await {
            tracing::warn!(error = %e, "could not record key use");
        }
    }
    tracing::Span::current().record("workspace_id", tracing::field::display(record.workspace_id));
    // Viewers are read-only everywhere: refuse before any body is parsed.
    if record.role == Role::Viewer && !matches!(*req.method(), Method::GET | Method::HEAD) {
        return ApiError::Forbidden.into_response();
    }
    req.extensions_mut().insert(Auth { workspace_id: record.workspace_id, key_id: record.id, role: record.role });
    next.run(req).await
}
