//! The HTTP toolkit every feature's handlers use (extractors, pagination,
//! idempotency, OpenAPI completion, request ids, metrics) and [`serve`],
//! which wraps routes in the middleware stack. It names no feature: the
//! routes are assembled in `crate::api`.
//!
//! Layers, outermost first: request id → trace span (method, route, request
//! id, workspace) → metrics → error normaliser (every error body is the JSON
//! envelope, even from layers and unknown routes) → catch panic → timeout →
//! body limit → compression → CORS.

pub mod auth;
pub mod csv;
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
use utoipa_axum::router::OpenApiRouter;

use crate::error::envelope_response;
use crate::state::AppState;

/// What the caller changes in the document once every route is in it.
pub type Refine = fn(&mut utoipa::openapi::OpenApi);

/// The OpenAPI document of `doc` with these routes, refined and completed
/// (see [`openapi::complete_document`]).
pub fn document<S: Clone + Send + Sync + 'static>(
    doc: utoipa::openapi::OpenApi,
    ops: OpenApiRouter<S>,
    v1: OpenApiRouter<S>,
    refine: Refine,
) -> serde_json::Value {
    let mut spec = OpenApiRouter::with_openapi(doc).merge(ops).nest("/v1", v1).split_for_parts().1;
    refine(&mut spec);
    openapi::complete_document(&spec)
}

/// The whole application: `ops` at the root, `v1` under `/v1` (its own
/// layers applied by the caller), `/openapi.json` and `/docs`, a JSON 404
/// for anything else, inside the middleware stack; `app` is the routes'
/// state, `state` the shared infrastructure the stack reads.
pub fn serve<S: Clone + Send + Sync + 'static>(
    doc: utoipa::openapi::OpenApi,
    ops: OpenApiRouter<S>,
    v1: OpenApiRouter<S>,
    app: S,
    state: &AppState,
    refine: Refine,
) -> Router {
    let (router, mut spec) = OpenApiRouter::with_openapi(doc).merge(ops).nest("/v1", v1).split_for_parts();
    refine(&mut spec);
    let spec_json =
        serde_json::to_string_pretty(&openapi::complete_document(&spec)).unwrap_or_else(|_| "{}".to_owned());
    let settings = state.settings.clone();
    router
        .route("/openapi.json", get(move || async move { ([(header::CONTENT_TYPE, "application/json")], spec_json) }))
        .route("/docs", get(ops::docs))
        .fallback(not_found)
        .with_state(app)
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
