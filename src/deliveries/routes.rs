//! `/v1/deliveries` and `/v1/groups/{id}/robot`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{Delivery, DeliveryQuery, DeliveryState, RobotKind};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{self, Format, EXPORT_PAGE};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{DeliveryId, GroupId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;
use crate::validate::Checks;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(retry_delivery))
        .routes(routes!(confirm_delivery))
        .routes(routes!(get_group_robot, put_group_robot, delete_group_robot))
}

/// List deliveries, newest first.
#[utoipa::path(get, path = "/deliveries", tag = "deliveries", params(DeliveryQuery),
    responses((status = 200, body = Page<Delivery>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> ApiResult<Response> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let f = repo::Filter { plan: q.plan_id, group: q.group_id, state: q.state, from: q.from, to: q.to };
    if q.format == Some(Format::Csv) {
        let (pool, ws) = (state.pool.clone(), auth.workspace_id);
        let fetch = move |after| {
            let (pool, f) = (pool.clone(), f.clone());
            async move { Ok(repo::list(&mut *pool.acquire().await?, ws, &f, after, EXPORT_PAGE).await?) }
        };
        return csv::export("deliveries", CSV_COLUMNS, fetch, |d: &Delivery| d.id.0, csv_row).await;
    }
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, &f, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |d| d.id.0)).into_response())
}

/// One delivery with its attempts.
#[utoipa::path(get, path = "/deliveries/{id}", tag = "deliveries", params(("id" = DeliveryId, Path)),
    responses((status = 200, body = Delivery), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_delivery(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<DeliveryId>,
) -> ApiResult<Json<Delivery>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("delivery"))?))
}

async fn move_delivery(
    state: &AppState,
    auth: &Auth,
    id: DeliveryId,
    from: &[DeliveryState],
    to: DeliveryState,
    action: &str,
) -> ApiResult<Delivery> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    let d = repo::get(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("delivery"))?;
    if !repo::transition(&mut tx, ws, id, from, to, state.clock.now()).await? {
        let allowed: Vec<String> = from.iter().map(|s| format!("{s:?}").to_lowercase()).collect();
        return Err(ApiError::conflict(
            "invalid_state",
            format!("a {:?} delivery cannot do this (only {})", d.state, allowed.join(", ")).to_lowercase(),
        ));
    }
    audit::record(&mut tx, ws, Actor::from(auth), action, "delivery", id, serde_json::json!({"from": d.state})).await?;
    let saved = repo::get(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("delivery"))?;
    tx.commit().await?;
    Ok(saved)
}

/// Send a `dead` or `uncertain` delivery again, now, with a fresh attempt budget.
#[utoipa::path(post, path = "/deliveries/{id}/retry", tag = "deliveries", params(("id" = DeliveryId, Path)),
    responses((status = 200, body = Delivery), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<DeliveryId>,
) -> ApiResult<Json<Delivery>> {
    let from = [DeliveryState::Dead, DeliveryState::Uncertain];
    Ok(Json(move_delivery(&state, &auth, id, &from, DeliveryState::Pending, "delivery.retry").await?))
}

/// Record that the group owner confirmed a mass send awaiting confirmation.
#[utoipa::path(post, path = "/deliveries/{id}/confirm", tag = "deliveries", params(("id" = DeliveryId, Path)),
    responses((status = 200, body = Delivery), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn confirm_delivery(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<DeliveryId>,
) -> ApiResult<Json<Delivery>> {
    let from = [DeliveryState::AwaitingConfirmation];
    Ok(Json(move_delivery(&state, &auth, id, &from, DeliveryState::Confirmed, "delivery.confirm").await?))
}

/// `PUT /v1/groups/{id}/robot`: the URL and secret are write-only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRobot {
    pub kind: RobotKind,
    #[schema(schema_with = crate::validate::schema::url)]
    pub webhook_url: String,
    /// Feishu signing secret, when signature verification is on.
    #[schema(schema_with = crate::validate::schema::opt_text::<1, 256>)]
    pub secret: Option<String>,
}

/// A group's robot as the API shows it (no URL, no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Robot {
    pub group_id: GroupId,
    pub kind: RobotKind,
    pub signed: bool,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

async fn load_robot(conn: &mut sqlx::PgConnection, auth: &Auth, id: GroupId) -> ApiResult<Robot> {
    let row = repo::robot(conn, auth.workspace_id, id).await?;
    let (kind, signed, updated_at) = row.ok_or(ApiError::NotFound("robot"))?;
    Ok(Robot { group_id: id, kind, signed, updated_at })
}

/// The group's robot (404 when it has none).
#[utoipa::path(get, path = "/groups/{id}/robot", tag = "deliveries", params(("id" = GroupId, Path)),
    responses((status = 200, body = Robot), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_group_robot(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
) -> ApiResult<Json<Robot>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(load_robot(&mut conn, &auth, id).await?))
}

/// Set the group's robot, through which SOP messages reach WeCom and Feishu groups.
#[utoipa::path(put, path = "/groups/{id}/robot", tag = "deliveries", params(("id" = GroupId, Path)), request_body = PutRobot,
    responses((status = 200, body = Robot), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn put_group_robot(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
    ApiJson(body): ApiJson<PutRobot>,
) -> ApiResult<Json<Robot>> {
    auth.require(Role::Admin)?;
    let mut c = Checks::new();
    c.url("webhook_url", &body.webhook_url);
    if let Some(s) = &body.secret {
        c.text("secret", s, 1, 256);
    }
    c.finish()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !crate::groups::repo::exists(&mut tx, ws, id).await? {
        return Err(ApiError::NotFound("group"));
    }
    let mut creds = serde_json::json!({"webhook_url": body.webhook_url});
    if let Some(s) = &body.secret {
        creds["secret"] = serde_json::json!(s);
    }
    repo::put_robot(&mut tx, ws, id, body.kind, creds).await?;
    audit::record(
        &mut tx,
        ws,
        Actor::from(&auth),
        "group.robot.set",
        "group",
        id,
        serde_json::json!({"kind": body.kind}),
    )
    .await?;
    let robot = load_robot(&mut tx, &auth, id).await?;
    tx.commit().await?;
    Ok(Json(robot))
}

/// Remove the group's robot.
#[utoipa::path(delete, path = "/groups/{id}/robot", tag = "deliveries", params(("id" = GroupId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn delete_group_robot(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::delete_robot(&mut tx, ws, id).await? {
        return Err(ApiError::NotFound("robot"));
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "group.robot.delete", "group", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "plan_id",
    "group_id",
    "member_id",
    "content_id",
    "channel",
    "state",
    "slot_at",
    "fire_at",
    "local_time",
    "attempt_count",
    "sent_at",
    "lateness_ms",
    "platform_message_id",
    "last_error",
];

fn csv_row(d: &Delivery) -> Vec<String> {
    vec![
        d.id.to_string(),
        csv::cell(d.plan_id),
        d.group_id.to_string(),
        csv::cell(d.member_id),
        d.content_id.to_string(),
        csv::word(&d.channel),
        csv::word(&d.state),
        d.slot_at.to_rfc3339(),
        d.fire_at.to_rfc3339(),
        d.local_time.clone(),
        d.attempt_count.to_string(),
        csv::cell(d.sent_at.map(|t| t.to_rfc3339())),
        csv::cell(d.lateness_ms),
        csv::cell(d.platform_message_id.as_ref()),
        csv::cell(d.last_error.as_ref()),
    ]
}
