//! `Idempotency-Key` on POSTs: a retried create returns the first result
//! instead of making a duplicate.
//!
//! The key (1–255 visible ASCII characters) is scoped to the workspace and
//! kept 24 h. The first request inserts a placeholder row, runs, and stores
//! its status and body when below 500 (a 5xx removes the row so the client
//! may retry). A retry with the same method, path and body gets the stored
//! answer with `Idempotent-Replayed: true`; with a different request it gets
//! 422 `idempotency_key_reused`; while the first is still running, 409
//! `idempotency_in_progress`, unless that placeholder is older than the
//! request timeout (abandoned by a client that went away): then the retry
//! takes it over.

use axum::body::{to_bytes, Body};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::{ApiError, FieldError};
use crate::http::auth::Auth;
use crate::ids::WorkspaceId;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Middleware (inside authentication).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(HEADER) else { return next.run(req).await };
    let Some(key) = raw.to_str().ok().filter(|k| valid_key(k)).map(str::to_owned) else {
        return ApiError::Validation(vec![FieldError::new(
            "Idempotency-Key",
            "invalid",
            "must be 1-255 visible ASCII characters",
        )])
        .into_response();
    };
    let Some(auth) = req.extensions().get::<Auth>().copied() else { return ApiError::Unauthorized.into_response() };
    match run(&state, auth, key, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(state: &AppState, auth: Auth, key: String, req: Request, next: Next) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, state.settings.server.body_limit_bytes).await.map_err(|_| ApiError::PayloadTooLarge)?;
    // Inside the nested /v1 router the URI is stripped; keep the real path.
    let path = parts.extensions.get::<OriginalUri>().map(|u| u.path()).unwrap_or(parts.uri.path()).to_owned();
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update([0]);
    h.update(&path);
    h.update([0]);
    h.update(&bytes);
    let hash = h.finalize().to_vec();
    let ws = auth.workspace_id;

    sqlx::query("DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND created_at < now() - interval '24 hours'")
        .bind(ws)
        .bind(&key)
        .execute(&state.pool)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (workspace_id, key, method, path, request_hash) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id, key) DO NOTHING",
    )
    .bind(ws)
    .bind(&key)
    .bind(parts.method.as_str())
    .bind(&path)
    .bind(&hash)
    .execute(&state.pool)
    .await?
    .rows_affected()
        == 1;

    if !inserted {
        let row = sqlx::query("SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE workspace_id = $1 AND key = $2")
            .bind(ws)
            .bind(&key)
            .fetch_optional(&state.pool)
            .await?;
        let Some(row) = row else {
            return Err(ApiError::conflict(
                "idempotency_in_progress",
                "a request with this Idempotency-Key just finished; retry",
            ));
        };
        let stored_hash: Vec<u8> = row.try_get("request_hash")?;
        if stored_hash != hash {
            return Err(ApiError::Validation(vec![FieldError::new(
                "Idempotency-Key",
                "idempotency_key_reused",
                "this key was used with a different request",
            )]));
        }
        let status: Option<i32> = row.try_get("status_code")?;
        let Some(status) = status else {
            // A placeholder older than the request timeout was abandoned (the
            // client went away or the process died): the retry takes it over.
            let stale = format!("{} seconds", state.settings.server.request_timeout_secs + 5);
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET created_at = now()
                 WHERE workspace_id = $1 AND key = $2 AND status_code IS NULL AND created_at < now() - $3::interval",
            )
            .bind(ws)
            .bind(&key)
            .bind(stale)
            .execute(&state.pool)
            .await?
            .rows_affected()
                == 1;
            if !taken {
                return Err(ApiError::conflict(
                    "idempotency_in_progress",
                    "a request with this Idempotency-Key is still running",
                ));
            }
            return finish(state, ws, &key, Request::from_parts(parts, Body::from(bytes)), next).await;
        };
        let body: Vec<u8> = row.try_get::<Option<Vec<u8>>, _>("response_body")?.unwrap_or_default();
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(res);
    }

    finish(state, ws, &key, Request::from_parts(parts, Body::from(bytes)), next).await
}

/// Runs the request and stores its answer under the key (or frees the key on a 5xx).
async fn finish(state: &AppState, ws: WorkspaceId, key: &str, req: Request, next: Next) -> Result<Response, ApiError> {
    let res = next.run(req).await;
    let status = res.status();
    if status.is_server_error() {
        let _ = sqlx::query("DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2")
            .bind(ws)
            .bind(key)
            .execute(&state.pool)
            .await;
        return Ok(res);
    }
    let (rparts, rbody) = res.into_parts();
    let rbytes = to_bytes(rbody, 64 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("buffering response: {e}")))?;
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response_body = $4 WHERE workspace_id = $1 AND key = $2",
    )
    .bind(ws)
    .bind(key)
    .bind(status.as_u16() as i32)
    .bind(rbytes.as_ref())
    .execute(&state.pool)
    .await?;
    Ok(Response::from_parts(rparts, Body::from(rbytes)))
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn idempotency_keys_are_visible_ascii_of_bounded_length() {
        assert!(valid_key("order-2026-11-20-0001"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"k".repeat(256)));
    }
}
