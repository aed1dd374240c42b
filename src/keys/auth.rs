//! Bearer-key authentication for `/v1`: the middleware that resolves a
//! key into the [`Auth`] every handler extracts (the type lives in the
//! HTTP toolkit, below every feature).

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Duration;

use super::model::{hash_key, looks_like_key, Role};
use super::repo;
use crate::error::ApiError;
use crate::state::AppState;

pub use crate::http::auth::Auth;

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware: resolves the bearer key (else the console's session
/// cookie) or answers 401.
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer(&req) else {
        // No key: a console session's cookie, or nothing.
        let Some(cookie) = crate::users::service::cookie(req.headers(), crate::users::model::SESSION_COOKIE) else {
            return ApiError::Unauthorized.into_response();
        };
        let cookie = cookie.to_owned();
        match crate::users::service::authenticate(&state, &cookie, req.method(), req.headers()).await {
            Ok((auth, session)) => {
                tracing::Span::current().record("workspace_id", tracing::field::display(auth.workspace_id));
                // A viewer writes nothing but their own session (sign out,
                // switch workspace, change password).
                let path = req.uri().path();
                let own = path.trim_start_matches("/v1").starts_with("/session");
                if auth.role == Role::Viewer && !own && !matches!(*req.method(), Method::GET | Method::HEAD) {
                    return ApiError::Forbidden.into_response();
                }
                req.extensions_mut().insert(auth);
                req.extensions_mut().insert(crate::users::service::CurrentSession(session));
                return next.run(req).await;
            }
            Err(e) => return e.into_response(),
        }
    };
    if !looks_like_key(token) {
        return ApiError::Unauthorized.into_response();
    }
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
    req.extensions_mut().insert(Auth {
        workspace_id: record.workspace_id,
        principal: crate::http::auth::Principal::Key(record.id),
        role: record.role,
    });
    next.run(req).await
}
