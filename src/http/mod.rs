//! The HTTP surface: [`router`] assembles every feature's routes, the
//! OpenAPI document and the middleware stack in one place; tests build the
//! same router.
//!
//! Layers, outermost first: request id → trace span (method, route, request
//! id, workspace) → metrics → error normaliser (every error body is the JSON
//! envelope, even from layers and unknown routes) → catch panic → timeout →
//! body limit → compression → CORS. `/v1` additionally requires an API key
//! and honours `Idempotency-Key` on POSTs.

pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pagination;
pub mod patch;
pub mod request_id;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::envelope_response;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shequn API", description = "Community-operations SCRM: groups, members, tiers, campaigns.", license(name = "Apache-2.0")),
    modifiers(&BearerAuth),
    tags(
        (name = "ops", description = "Health, readiness, metrics"),
        (name = "workspace", description = "The caller's workspace settings"),
        (name = "api-keys", description = "API keys and roles"),
        (name = "staff", description = "The operator's people and bots"),
        (name = "groups", description = "Chat groups"),
        (name = "members", description = "People across platforms"),
        (name = "memberships", description = "Joins and leaves: stints of members in groups"),
        (name = "tiers", description = "Value tiers (VIP, basic)"),
        (name = "tags", description = "Tags on groups and members"),
        (name = "layers", description = "Saved group selectors"),
        (name = "campaigns", description = "Campaigns and their lifecycle"),
        (name = "events", description = "Funnel events: batch ingestion and queries"),
        (name = "connections", description = "Chat-platform accounts and their webhook URLs"),
        (name = "webhooks", description = "Inbound platform callbacks and their inbox"),
        (name = "contents", description = "The content library: message templates"),
        (name = "sop", description = "SOP plans: timed content per group, layer or tier"),
        (name = "deliveries", description = "Every scheduled send and its attempts"),
        (name = "audit", description = "Who changed what"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("shq_…").build()),
        );
    }
}

/// Every `/v1` route, with its documentation.
fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(crate::workspaces::router())
        .merge(crate::keys::router())
        .merge(crate::tiers::router())
        .merge(crate::tags::router())
        .merge(crate::staff::router())
        .merge(crate::groups::router())
        .merge(crate::members::router())
        .merge(crate::memberships::router())
        .merge(crate::layers::router())
        .merge(crate::campaigns::router())
        .merge(crate::events::router())
        .merge(crate::connections::router())
        .merge(crate::hooks::inbox_router())
        .merge(crate::contents::router())
        .merge(crate::sop::router())
        .merge(crate::deliveries::router())
        .merge(crate::metrics::router())
        .merge(crate::audit::router())
}

fn api_routes() -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    let ops = OpenApiRouter::new()
        .merge(crate::hooks::hooks_router())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics));
    (ops, v1_routes())
}

/// The OpenAPI document generated from the code.
pub fn openapi() -> serde_json::Value {
    let (ops, v1) = api_routes();
    openapi::complete_document(
        &OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(ops).nest("/v1", v1).split_for_parts().1,
    )
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let (ops, v1) = api_routes();
    let v1 = v1
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(middleware::from_fn_with_state(state.clone(), crate::keys::auth::require_key));
    let (router, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(ops).nest("/v1", v1).split_for_parts();
    let spec_json =
        serde_json::to_string_pretty(&openapi::complete_document(&spec)).unwrap_or_else(|_| "{}".to_owned());
    let settings = state.settings.clone();
    router
        .route("/openapi.json", get(move || async move { ([(header::CONTENT_TYPE, "application/json")], spec_json) }))
        .route("/docs", get(ops::docs))
        .fallback(not_found)
        .with_state(state.clone())
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(request_id::layer))
                .layer(TraceLayer::new_for_http().make_span_with(make_span).on_response(on_response))
                .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::layer))
                .layer(middleware::from_fn(normalize_errors))
                .layer(CatchPanicLayer::custom(on_panic))
                .layer(middleware::from_fn_with_state(settings.clone(), timeout))
                .layer(DefaultBodyLimit::max(settings.server.body_limit_bytes))
                .layer(CompressionLayer::new())
                .layer(cors(&settings.server.cors_allowed_origins)),
        )
}

/// Answers 408 when a request runs past its limit (imports get a longer one).
async fn timeout(
    State(settings): State<std::sync::Arc<crate::config::Settings>>,
    req: Request,
    next: Next,
) -> Response {
    let secs = if req.uri().path().starts_with("/v1/imports/") {
        settings.server.import_timeout_secs
    } else {
        settings.server.request_timeout_secs
    };
    match tokio::time::timeout(Duration::from_secs(secs), next.run(req)).await {
        Ok(res) => res,
        Err(_) => envelope_response(StatusCode::REQUEST_TIMEOUT, "timeout", "the request took too long".into(), vec![]),
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static(idempotency::HEADER)])
        .expose_headers([request_id::HEADER.clone()])
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        base.allow_origin(Any)
    } else {
        let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        base.allow_origin(AllowOrigin::list(list))
    }
}

fn make_span(req: &Request<Body>) -> tracing::Span {
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let rid = req.extensions().get::<request_id::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    tracing::info_span!("request", method = %req.method(), route = %route, request_id = %rid, workspace_id = tracing::field::Empty)
}

fn on_response(res: &Response, latency: Duration, _span: &tracing::Span) {
    tracing::info!(status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "request finished");
}

fn on_panic(_err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    envelope_response(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal server error".into(), vec![])
}

async fn not_found() -> Response {
    envelope_response(StatusCode::NOT_FOUND, "not_found", "no such route".into(), vec![])
}

/// Turns any non-JSON error response (timeouts, 405, 413 from layers) into the envelope.
async fn normalize_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed on this route"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported content type"),
        s if s.is_server_error() => ("internal_error", "internal server error"),
        _ => ("bad_request", "bad request"),
    };
    let mut out = envelope_response(status, code, message.into(), vec![]);
    if let Some(allow) = res.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}
