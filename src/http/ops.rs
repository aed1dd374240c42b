//! Operational endpoints: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{envelope_response, ErrorEnvelope};
use crate::state::AppState;

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// The database is reachable.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = ErrorEnvelope)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool).await {
        Ok(_) => Json(Health { status: "ok".into() }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            envelope_response(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "database unreachable".into(), vec![])
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(state.pool.size(), state.pool.num_idle(), state.settings.database.max_connections);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Human-readable API docs (a self-contained page rendering `/openapi.json`).
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
