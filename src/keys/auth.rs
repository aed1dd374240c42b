//! Bearer-key authentication for `/v1`: the middleware that resolves a
//! key into the [`Auth`] every handler extracts (the type lives in the
//! HTTP toolkit, below every feature).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Duration;

use super::model::{hash_key, looks_like_key, Role};
use super::repo;
use crate::error::ApiError;
use crate::state::AppState;

pub use crate::http::auth::Auth;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware: resolves the bearer key (else the console's session
/// cookie) or answers 401; then one check for both: viewers are read-only
/// (refused before any body is parsed), except for their own session (sign
/// out, switch workspace, change password).
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let (auth, session) = match resolve(&state, req.method(), req.headers()).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    tracing::Span::current().record("workspace_id", tracing::field::display(auth.workspace_id));
    let own_session = session.is_some() && req.uri().path().trim_start_matches("/v1").starts_with("/session");
    if auth.role == Role::Viewer && !own_session && !matches!(*req.method(), Method::GET | Method::HEAD) {
        return ApiError::Forbidden.into_response();
    }
    req.extensions_mut().insert(auth);
    if let Some(s) = session {
        req.extensions_mut().insert(crate::users::service::CurrentSession(s));
    }
    next.run(req).await
}

/// The caller: a bearer key, else a console session (with its id).
async fn resolve(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(Auth, Option<crate::ids::SessionId>), ApiError> {
    let Some(token) = bearer(headers) else {
        let cookie = crate::users::service::cookie(headers, crate::users::model::SESSION_COOKIE)
            .ok_or(ApiError::Unauthorized)?;
        let (auth, session) = crate::users::service::authenticate(state, cookie, method, headers).await?;
        return Ok((auth, Some(session)));
    };
    if !looks_like_key(token) {
        return Err(ApiError::Unauthorized);
    }
    let record = repo::find_live_by_hash(&state.pool, &hash_key(token)).await?.ok_or(ApiError::Unauthorized)?;
    let now = state.clock.now();
    // Throttled so a busy key does not write on every request.
    if record.last_used_at.is_none_or(|t| now - t > Duration::seconds(60)) {
        if let Err(e) = repo::touch(&state.pool, record.workspace_id, record.id, now).await {
            tracing::warn!(error = %e, "could not record key use");
        }
    }
    let auth = Auth {
        workspace_id: record.workspace_id,
        principal: crate::http::auth::Principal::Key(record.id),
        role: record.role,
    };
    Ok((auth, None))
}
