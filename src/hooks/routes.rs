//! `/hooks/{platform}/{connection_id}` (no API key: the platform signs) and
//! `/v1/inbox` (stored requests, replay).

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::inbox::{self, InboxEntry, InboxStatus};
use super::service::{self, Webhooks};
use std::sync::Arc;

use crate::config::WebhookMode;
use crate::connections::cache::ConnectionCache;
use crate::error::{envelope_response, ApiError, ApiResult, ErrorEnvelope};
use crate::events::Ingestion;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{ConnectionId, InboxId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::platform::Platform;
use crate::platforms::inbound::{self, Incoming, Refusal, Verdict};
use crate::state::AppState;

/// The webhook receiver (outside `/v1`).
pub fn hooks_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
    super::Inbox: axum::extract::FromRef<S>,
    Arc<ConnectionCache>: axum::extract::FromRef<S>,
    Ingestion: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(receive_webhook_post, receive_webhook_get))
}

/// The inbox API (inside `/v1`).
pub fn inbox_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
    super::Inbox: axum::extract::FromRef<S>,
    Arc<ConnectionCache>: axum::extract::FromRef<S>,
    Ingestion: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_inbox))
        .routes(routes!(get_inbox_entry))
        .routes(routes!(replay_inbox_entry))
}

/// The parts of the application's state the webhook handlers need, taken
/// at once (each is `FromRef` of the router's state).
pub struct WebhookParts {
    state: AppState,
    inbox: super::Inbox,
    connections: Arc<ConnectionCache>,
    ingestion: Ingestion,
}

impl WebhookParts {
    fn webhooks(&self) -> Webhooks<'_> {
        Webhooks { state: &self.state, inbox: &self.inbox, connections: &self.connections, ingestion: &self.ingestion }
    }
}

impl<S> FromRequestParts<S> for WebhookParts
where
    S: Send + Sync,
    AppState: FromRef<S>,
    super::Inbox: FromRef<S>,
    Arc<ConnectionCache>: FromRef<S>,
    Ingestion: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            state: AppState::from_ref(s),
            inbox: super::Inbox::from_ref(s),
            connections: Arc::<ConnectionCache>::from_ref(s),
            ingestion: Ingestion::from_ref(s),
        })
    }
}

fn refuse(state: &AppState, platform: &str, status: StatusCode, code: &str, reason: &str) -> Response {
    state.metrics.count_rejection(platform, reason);
    tracing::warn!(platform, reason, "webhook refused");
    envelope_response(status, code, format!("webhook refused: {reason}"), vec![])
}

async fn receive(
    w: Webhooks<'_>,
    platform: String,
    id: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (Some(p), Ok(id)) = (Platform::parse(&platform), id.parse::<uuid::Uuid>()) else {
        return refuse(w.state, "unknown", StatusCode::NOT_FOUND, "not_found", "unknown connection");
    };
    let found = w.connections.get(&w.state.pool, id).await;
    let record = match found {
        Ok(Some(r)) if r.platform == p && r.status == crate::connections::model::ConnectionStatus::Active => r,
        Ok(_) => return refuse(w.state, p.as_str(), StatusCode::NOT_FOUND, "not_found", "unknown connection"),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(connector) = crate::platforms::inbound_of(p) else {
        return refuse(w.state, p.as_str(), StatusCode::NOT_FOUND, "not_found", "platform has no webhook connector");
    };
    let now = w.state.clock.now();
    let query = uri.query().unwrap_or("");
    let req = Incoming { method: &method, query, headers: &headers, body: &body, now };
    let mut verdict = Err(Refusal::Unauthorized("no credentials"));
    for creds in record.credential_sets(now) {
        verdict = connector.verify(creds, &req);
        if verdict.is_ok() {
            break;
        }
    }
    match verdict {
        Err(Refusal::Unauthorized(reason)) => {
            refuse(w.state, p.as_str(), StatusCode::UNAUTHORIZED, "unauthorized", reason)
        }
        Err(Refusal::Malformed(reason)) => {
            refuse(w.state, p.as_str(), StatusCode::BAD_REQUEST, "malformed_webhook", reason)
        }
        Ok(Verdict::Reply(resp)) => resp,
        Ok(Verdict::Store) => {
            let kept = inbound::kept_headers(&headers);
            let stored = match w.state.settings.ingest.webhook_mode {
                WebhookMode::Queued => service::store(&w, &record, query, &kept, &body).await,
                WebhookMode::Inline => {
                    service::store_and_process(&w, &record, query, &kept, &body).await.map_err(anyhow::Error::from)
                }
            };
            match stored {
                // Stored: the platform gets its expected answer.
                Ok(outcome) => connector.ack(&serde_json::to_value(&outcome).unwrap_or_default()),
                // Not stored: no 2xx, so the platform retries.
                Err(e) => ApiError::Internal(e).into_response(),
            }
        }
    }
}

/// Receive a platform callback: verified over the exact bytes, stored in the inbox, then normalised into events.
#[utoipa::path(post, path = "/hooks/{platform}/{connection_id}", tag = "webhooks",
    params(("platform" = Platform, Path), ("connection_id" = ConnectionId, Path)),
    request_body(content = String, description = "The platform's raw callback body"),
    responses((status = 200, description = "Stored (the platform's expected answer)"),
        (status = 400, body = ErrorEnvelope, description = "Verified, but not a callback of this platform (`malformed_webhook`)"),
        (status = 401, body = ErrorEnvelope, description = "Not verified (`unauthorized`): the signature, token or \
            timestamp is wrong or missing, or the request is too broken to find them in; nothing unverified is read further"),
        (status = 404, body = ErrorEnvelope, description = "No active connection of that platform with that id"),
        (status = 413, body = ErrorEnvelope)))]
pub async fn receive_webhook_post(
    parts: WebhookParts,
    Path((platform, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(parts.webhooks(), platform, id, Method::POST, uri, headers, body).await
}

/// Platform URL verification (WeCom `echostr`).
#[utoipa::path(get, path = "/hooks/{platform}/{connection_id}", tag = "webhooks",
    params(("platform" = Platform, Path), ("connection_id" = ConnectionId, Path)),
    responses((status = 200, description = "The decrypted echo"),
        (status = 401, body = ErrorEnvelope, description = "Not verified (`unauthorized`): WeCom's `msg_signature`, \
            `timestamp`, `nonce` and `echostr` are missing or do not verify; other platforms verify by POST only"),
        (status = 404, body = ErrorEnvelope, description = "No active connection of that platform with that id")))]
pub async fn receive_webhook_get(
    parts: WebhookParts,
    Path((platform, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    receive(parts.webhooks(), platform, id, Method::GET, uri, headers, Bytes::new()).await
}

/// Inbox filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    pub status: Option<InboxStatus>,
    pub connection_id: Option<ConnectionId>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Stored webhook requests, newest first (`?status=failed` for the ones to look at).
#[utoipa::path(get, path = "/inbox", tag = "webhooks", params(InboxQuery),
    responses((status = 200, body = Page<InboxEntry>), (status = 403, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_inbox(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> ApiResult<Json<Page<InboxEntry>>> {
    auth.require(Role::Operator)?;
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows =
        inbox::list(&mut conn, auth.workspace_id, q.status, q.connection_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |e| e.id.0)))
}

/// One stored request.
#[utoipa::path(get, path = "/inbox/{id}", tag = "webhooks", params(("id" = InboxId, Path)),
    responses((status = 200, body = InboxEntry), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_inbox_entry(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<InboxId>,
) -> ApiResult<Json<InboxEntry>> {
    auth.require(Role::Operator)?;
    let mut conn = state.pool.acquire().await?;
    Ok(Json(inbox::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("inbox entry"))?))
}

/// The answer of a replay.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResult {
    pub entry: InboxEntry,
    pub accepted: usize,
    pub duplicates: usize,
}

/// Process a stored request again (events already stored count as duplicates).
#[utoipa::path(post, path = "/inbox/{id}/replay", tag = "webhooks", params(("id" = InboxId, Path)),
    responses((status = 200, body = ReplayResult), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn replay_inbox_entry(
    parts: WebhookParts,
    auth: Auth,
    ApiPath(id): ApiPath<InboxId>,
) -> ApiResult<Json<ReplayResult>> {
    auth.require(Role::Operator)?;
    let (w, state) = (parts.webhooks(), &parts.state);
    {
        let mut conn = state.pool.acquire().await?;
        inbox::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("inbox entry"))?;
    }
    let outcome = service::process(&w, auth.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::conflict("in_progress", "this request is being processed right now"))?;
    let mut conn = state.pool.acquire().await?;
    let entry = inbox::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("inbox entry"))?;
    Ok(Json(ReplayResult { entry, accepted: outcome.accepted, duplicates: outcome.duplicates }))
}
