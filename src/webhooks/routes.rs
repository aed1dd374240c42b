//! `/v1/webhook-endpoints` and `/v1/webhook-messages` (admin and owner).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Duration;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::catalogue::WebhookTest;
use super::model::{
    CreateWebhookEndpoint, CreatedWebhookEndpoint, DispatchStatus, MessageId, QueuedMessages, RecoverMessages,
    RetryMessage, RotatedWebhookSecret, TestMessageSent, UpdateWebhookEndpoint, WebhookEndpoint, WebhookMessage,
};
use super::outbox::{self, Outgoing};
use super::{guard, repo, sign};
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::auth::{Auth, Role};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::EndpointId;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_endpoint_secret))
        .routes(routes!(test_endpoint))
        .routes(routes!(recover_endpoint))
        .routes(routes!(list_messages))
        .routes(routes!(get_message))
        .routes(routes!(retry_message))
}

/// 422 naming `url` unless the destination passes the SSRF guard.
async fn check_url(state: &AppState, url: &str) -> ApiResult<String> {
    let allow = state.settings.webhooks.allow_private_destinations;
    match guard::check(url.trim(), allow).await {
        Ok(u) => Ok(u.to_string()),
        Err(r) => Err(ApiError::field("url", r.code, r.message)),
    }
}

/// Endpoints, newest first.
#[utoipa::path(get, path = "/webhook-endpoints", tag = "webhook-endpoints", params(PageQuery),
    responses((status = 200, body = Page<WebhookEndpoint>), (status = 403, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<WebhookEndpoint>>> {
    auth.require(Role::Admin)?;
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_endpoints(&mut conn, auth.workspace_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |e| e.id.0)))
}

/// Add an endpoint; its secret is in this answer only.
#[utoipa::path(post, path = "/webhook-endpoints", tag = "webhook-endpoints", request_body = CreateWebhookEndpoint,
    responses((status = 201, body = CreatedWebhookEndpoint), (status = 403, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateWebhookEndpoint>,
) -> ApiResult<(StatusCode, Json<CreatedWebhookEndpoint>)> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let url = check_url(&state, &body.url).await?;
    let now = state.clock.now();
    let secret = sign::new_secret()?;
    let e = WebhookEndpoint {
        id: EndpointId::new(),
        url,
        description: body.description.map(|d| d.trim().to_owned()).unwrap_or_default(),
        event_types: body.event_types,
        enabled: body.enabled.unwrap_or(true),
        include_pii: body.include_pii.unwrap_or(false),
        created_at: now,
        updated_at: now,
        last_success_at: None,
        last_failure_at: None,
        failing_since: None,
        disabled_reason: None,
        disabled_at: None,
        previous_secret_expires_at: None,
    };
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    repo::insert_endpoint(&mut tx, ws, &e, &secret).await?;
    let details = serde_json::json!({"url": e.url, "event_types": e.event_types});
    audit::record(&mut tx, ws, Actor::from(&auth), "webhook_endpoint.create", "webhook_endpoint", e.id, details)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhookEndpoint { endpoint: e, secret })))
}

/// One endpoint with its delivery figures.
#[utoipa::path(get, path = "/webhook-endpoints/{id}", tag = "webhook-endpoints", params(("id" = EndpointId, Path)),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<EndpointId>,
) -> ApiResult<Json<WebhookEndpoint>> {
    auth.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    let e = repo::get_endpoint(&mut conn, auth.workspace_id, id, false).await?;
    Ok(Json(e.ok_or(ApiError::NotFound("webhook endpoint"))?))
}

/// Change an endpoint. Disabling fails its waiting messages (recover them
/// later); enabling clears its failure record.
#[utoipa::path(patch, path = "/webhook-endpoints/{id}", tag = "webhook-endpoints", params(("id" = EndpointId, Path)),
    request_body = UpdateWebhookEndpoint,
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<EndpointId>,
    ApiJson(body): ApiJson<UpdateWebhookEndpoint>,
) -> ApiResult<Json<WebhookEndpoint>> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let url = match &body.url {
        Some(u) => Some(check_url(&state, u).await?),
        None => None,
    };
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    let mut e = repo::get_endpoint(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("webhook endpoint"))?;
    let was_enabled = e.enabled;
    e.url = url.unwrap_or(e.url);
    e.description = body.description.map(|d| d.trim().to_owned()).unwrap_or(e.description);
    e.event_types = body.event_types.unwrap_or(e.event_types);
    e.include_pii = body.include_pii.unwrap_or(e.include_pii);
    e.enabled = body.enabled.unwrap_or(e.enabled);
    e.updated_at = state.clock.now();
    if e.enabled && !was_enabled {
        (e.failing_since, e.disabled_reason, e.disabled_at) = (None, None, None);
    }
    repo::save_endpoint(&mut tx, ws, &e).await?;
    if was_enabled && !e.enabled {
        repo::fail_waiting(&mut tx, ws, id, "the endpoint was disabled").await?;
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "webhook_endpoint.update", "webhook_endpoint", id, &e).await?;
    tx.commit().await?;
    Ok(Json(e))
}

/// Delete an endpoint and its delivery history.
#[utoipa::path(delete, path = "/webhook-endpoints/{id}", tag = "webhook-endpoints", params(("id" = EndpointId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<EndpointId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::delete_endpoint(&mut tx, ws, id).await? {
        return Err(ApiError::NotFound("webhook endpoint"));
    }
    let details = serde_json::json!({});
    audit::record(&mut tx, ws, Actor::from(&auth), "webhook_endpoint.delete", "webhook_endpoint", id, details).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret; for `webhooks.rotation_overlap_secs` (24 h) requests carry
/// signatures with both, space-separated.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/rotate-secret", tag = "webhook-endpoints",
    params(("id" = EndpointId, Path)),
    responses((status = 200, body = RotatedWebhookSecret), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn rotate_endpoint_secret(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<EndpointId>,
) -> ApiResult<Json<RotatedWebhookSecret>> {
    auth.require(Role::Admin)?;
    let ws = auth.workspace_id;
    let secret = sign::new_secret()?;
    let until = state.clock.now() + Duration::seconds(state.settings.webhooks.rotation_overlap_secs as i64);
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::rotate_secret(&mut tx, ws, id, &secret, until).await? {
        return Err(ApiError::NotFound("webhook endpoint"));
    }
    let details = serde_json::json!({"previous_secret_expires_at": until});
    audit::record(&mut tx, ws, Actor::from(&auth), "webhook_endpoint.rotate_secret", "webhook_endpoint", id, details)
        .await?;
    tx.commit().await?;
    Ok(Json(RotatedWebhookSecret { secret, previous_secret_expires_at: until }))
}

/// Send a `webhook.test` message to this endpoint now.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/test", tag = "webhook-endpoints", params(("id" = EndpointId, Path)),
    responses((status = 202, body = TestMessageSent), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn test_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<EndpointId>,
) -> ApiResult<(StatusCode, Json<TestMessageSent>)> {
    auth.require(Role::Admin)?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let e = repo::get_endpoint(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("webhook endpoint"))?;
    if !e.enabled {
        return Err(ApiError::conflict("endpoint_disabled", "enable the endpoint first"));
    }
    let p = WebhookTest { endpoint_id: id.0, message: "A test message from Shequn.".into() };
    let m = Outgoing::new(now, &p)?;
    outbox::emit_to(&mut tx, ws, now, std::slice::from_ref(&m), Some(id)).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(TestMessageSent { message_id: MessageId(m.id) })))
}

/// Send again every message that failed for this endpoint since a time
/// (for a receiver that was down); the retry schedule restarts.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/recover", tag = "webhook-endpoints", params(("id" = EndpointId, Path)),
    request_body = RecoverMessages,
    responses((status = 202, body = QueuedMessages), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn recover_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<EndpointId>,
    ApiJson(body): ApiJson<RecoverMessages>,
) -> ApiResult<(StatusCode, Json<QueuedMessages>)> {
    auth.require(Role::Admin)?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    if body.since > now {
        return Err(ApiError::field("since", "in_future", "must not be in the future"));
    }
    let mut tx = crate::db::begin(&state.pool).await?;
    let e = repo::get_endpoint(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("webhook endpoint"))?;
    if !e.enabled {
        return Err(ApiError::conflict("endpoint_disabled", "enable the endpoint first"));
    }
    let queued = repo::recover(&mut tx, ws, id, body.since, now).await?;
    if queued > 0 {
        outbox::wake(&mut tx).await?;
    }
    let details = serde_json::json!({"since": body.since, "queued": queued});
    audit::record(&mut tx, ws, Actor::from(&auth), "webhook_endpoint.recover", "webhook_endpoint", id, details).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(QueuedMessages { queued })))
}

/// Message filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// A catalogue type.
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = super::model::type_names)]
    pub kind: Option<String>,
    /// Only messages for this endpoint.
    pub endpoint_id: Option<EndpointId>,
    /// Only messages with a dispatch in this state (for `endpoint_id` when given).
    pub status: Option<DispatchStatus>,
    /// Created at or after.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Messages, newest first, with their state per endpoint.
#[utoipa::path(get, path = "/webhook-messages", tag = "webhook-endpoints", params(MessageQuery),
    responses((status = 200, body = Page<WebhookMessage>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<MessageQuery>,
) -> ApiResult<Json<Page<WebhookMessage>>> {
    auth.require(Role::Admin)?;
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    if let Some(t) = q.kind.as_deref().filter(|t| super::catalogue::find(t).is_none()) {
        return Err(ApiError::field("type", "unknown_type", format!("{t:?} is not in the catalogue")));
    }
    let f = repo::MessageFilter { kind: q.kind, endpoint_id: q.endpoint_id, status: q.status, since: q.since };
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_messages(&mut conn, auth.workspace_id, &f, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |m| m.id.0)))
}

/// One message with every attempt.
#[utoipa::path(get, path = "/webhook-messages/{id}", tag = "webhook-endpoints",
    params(("id" = MessageId, Path, description = "msg_… (or the UUID)")),
    responses((status = 200, body = WebhookMessage), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_message(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MessageId>,
) -> ApiResult<Json<WebhookMessage>> {
    auth.require(Role::Admin)?;
    let mut conn = state.pool.acquire().await?;
    let m = repo::get_message(&mut conn, auth.workspace_id, id).await?;
    Ok(Json(m.ok_or(ApiError::NotFound("webhook message"))?))
}

/// Send a message again now, to one endpoint or to every endpoint that had it.
#[utoipa::path(post, path = "/webhook-messages/{id}/retry", tag = "webhook-endpoints",
    params(("id" = MessageId, Path, description = "msg_… (or the UUID)")), request_body = RetryMessage,
    responses((status = 202, body = QueuedMessages), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn retry_message(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MessageId>,
    ApiJson(body): ApiJson<RetryMessage>,
) -> ApiResult<(StatusCode, Json<QueuedMessages>)> {
    auth.require(Role::Admin)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::message_exists(&mut tx, ws, id).await? {
        return Err(ApiError::NotFound("webhook message"));
    }
    if let Some(e) = body.endpoint_id {
        let ep = repo::get_endpoint(&mut tx, ws, e, false).await?;
        let ep = ep.ok_or_else(|| ApiError::unknown("endpoint_id", "no such endpoint in this workspace"))?;
        if !ep.enabled {
            return Err(ApiError::conflict("endpoint_disabled", "enable the endpoint first"));
        }
    }
    let queued = repo::retry(&mut tx, ws, id, body.endpoint_id, state.clock.now()).await?;
    if queued > 0 {
        outbox::wake(&mut tx).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(QueuedMessages { queued })))
}
