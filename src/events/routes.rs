//! `/v1/events` and `/v1/members/{id}/timeline`.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{BatchResult, Event, EventIn, NewEvent, MAX_BATCH};
use super::repo::{self, TimeCursor};
use super::service;
use crate::error::{ApiError, ApiResult, ErrorEnvelope, FieldError};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::pagination::Page;
use crate::ids::{CampaignId, GroupId, MemberId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Largest batch body (1,000 events with properties).
pub const BATCH_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
    crate::events::Ingestion: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_events, ingest_events))
        .layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT))
        .routes(routes!(member_timeline))
        .merge(OpenApiRouter::new().routes(routes!(super::import::import_events)).layer(DefaultBodyLimit::disable()))
}

/// Parses one event from its JSON text; the error is the item's rejection reason.
fn parse_item(text: &str, now: DateTime<Utc>) -> Result<NewEvent, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let event: EventIn = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        match e.inner().classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("not valid JSON: {}", e.inner())
            }
            _ if path == "." => e.inner().to_string(),
            _ => format!("{path}: {}", e.inner()),
        }
    })?;
    de.end().map_err(|e| format!("not valid JSON: {e}"))?;
    event.into_new(now)
}

/// Reads a batch body — a JSON array, or NDJSON lines — into parsed items,
/// each item's JSON parsed once, straight into an event.
fn read_batch(headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> ApiResult<Vec<Result<NewEvent, String>>> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let items: Vec<Result<NewEvent, String>> = match mime.as_str() {
        "application/x-ndjson" | "application/ndjson" => std::str::from_utf8(body)
            .map_err(|_| ApiError::BadRequest {
                code: "malformed_body",
                message: "NDJSON must be UTF-8".into(),
                details: vec![],
            })?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| parse_item(l, now))
            .collect(),
        "application/json" => match serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(body) {
            Ok(raw) => raw.into_iter().map(|r| parse_item(r.get(), now)).collect(),
            // Valid JSON of the wrong shape is a 422; anything else a 400.
            Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => {
                return Err(ApiError::field("body", "invalid", "must be a JSON array of events"))
            }
            Err(e) => {
                return Err(ApiError::BadRequest {
                    code: "malformed_json",
                    message: format!("request body is not valid JSON: {e}"),
                    details: vec![],
                })
            }
        },
        _ => return Err(ApiError::UnsupportedMediaType),
    };
    if items.len() > MAX_BATCH {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "too_many",
            format!("at most {MAX_BATCH} events per request"),
        )]));
    }
    Ok(items)
}

/// Ingest up to 1,000 events (JSON array, or NDJSON with `Content-Type: application/x-ndjson`).
/// Each item is `accepted`, `duplicate` (already stored) or `rejected` with a reason; one bad item
/// never loses the good ones. A 200 means the accepted events are durably stored.
#[utoipa::path(post, path = "/events", tag = "events",
    request_body(content = Vec<EventIn>, description = "JSON array, or one event per line as application/x-ndjson"),
    responses((status = 200, body = BatchResult), (status = 400, body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
        (status = 415, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn ingest_events(
    State(state): State<AppState>,
    State(ingestion): State<crate::events::Ingestion>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<BatchResult>> {
    auth.require(Role::Operator)?;
    let now = state.clock.now();
    let items = read_batch(&headers, &body, now)?;
    let results = service::ingest_committed(&state.pool, auth.workspace_id, items, now, &ingestion).await?;
    Ok(Json(BatchResult::from_results(results)))
}

/// Event filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Event type(s), comma-separated.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    pub group_id: Option<GroupId>,
    pub member_id: Option<MemberId>,
    pub campaign_id: Option<CampaignId>,
    /// occurred_at ≥ from (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// occurred_at < to (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(pattern = "^-?[0-9]{1,16}\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub cursor: Option<String>,
}

fn paging(limit: Option<i64>, cursor: Option<&str>) -> ApiResult<(i64, Option<TimeCursor>)> {
    let limit = limit.unwrap_or(crate::http::pagination::DEFAULT_LIMIT);
    if !(1..=crate::http::pagination::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "must be between 1 and 200"));
    }
    let after = match cursor {
        None => None,
        Some(c) => Some(
            TimeCursor::decode(c)
                .ok_or_else(|| ApiError::field("cursor", "invalid", "not a cursor returned by this API"))?,
        ),
    };
    Ok((limit, after))
}

fn page(mut rows: Vec<Event>, limit: i64) -> Page<Event> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor =
        if more { rows.last().map(|e| TimeCursor { at: e.occurred_at, id: e.id }.encode()) } else { None };
    Page { items: rows, next_cursor }
}

/// List events, newest first (by occurred_at).
#[utoipa::path(get, path = "/events", tag = "events", params(EventQuery),
    responses((status = 200, body = Page<Event>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<Page<Event>>> {
    let (limit, after) = paging(q.limit, q.cursor.as_deref())?;
    let filter = repo::Filter {
        kinds: q.kind.map(|k| k.split(',').map(|s| s.trim().to_owned()).collect()).unwrap_or_default(),
        group_id: q.group_id.map(|g| g.0),
        member_id: q.member_id.map(|m| m.0),
        campaign_id: q.campaign_id.map(|c| c.0),
        from: q.from,
        to: q.to,
    };
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, &filter, after, limit + 1).await?;
    Ok(Json(page(rows, limit)))
}

/// The query of a member's timeline: paged by time, as the event list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// 1..=200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (`<microseconds>.<event id>`).
    #[param(pattern = "^-?[0-9]{1,16}\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub cursor: Option<String>,
}

/// A member's events, newest first.
#[utoipa::path(get, path = "/members/{id}/timeline", tag = "events", params(("id" = MemberId, Path), TimelineQuery),
    responses((status = 200, body = Page<Event>), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn member_timeline(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> ApiResult<Json<Page<Event>>> {
    let (limit, after) = paging(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    if crate::members::repo::existing(&mut conn, auth.workspace_id, &[id]).await?.is_empty() {
        return Err(ApiError::NotFound("member"));
    }
    let filter = repo::Filter { member_id: Some(id.0), ..Default::default() };
    let rows = repo::list(&mut conn, auth.workspace_id, &filter, after, limit + 1).await?;
    Ok(Json(page(rows, limit)))
}
