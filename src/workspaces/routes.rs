//! `GET/PATCH /v1/workspace`: the caller's workspace.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{UpdateWorkspace, Workspace};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::ApiJson;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(get_workspace, update_workspace))
}

/// The caller's workspace.
#[utoipa::path(get, path = "/workspace", tag = "workspace",
    responses((status = 200, body = Workspace), (status = 401, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_workspace(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Workspace>> {
    let mut conn = state.pool.acquire().await?;
    let ws = repo::get(&mut conn, auth.workspace_id).await?.ok_or(ApiError::NotFound("workspace"))?;
    Ok(Json(ws))
}

/// Change workspace settings (admin or owner).
#[utoipa::path(patch, path = "/workspace", tag = "workspace", request_body = UpdateWorkspace,
    responses((status = 200, body = Workspace), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "Another workspace has this name (`already_exists`)"),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_workspace(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<UpdateWorkspace>,
) -> ApiResult<Json<Workspace>> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let ws = repo::update(&mut tx, auth.workspace_id, &body).await.map_err(|e| {
        crate::error::on_constraint(e, |c| {
            (c == "workspaces_name_key")
                .then(|| ApiError::conflict("already_exists", "a workspace with this name exists"))
        })
    })?;
    let ws = ws.ok_or(ApiError::NotFound("workspace"))?;
    // A new timezone or active set queues a full metrics rebuild (a trigger of the metrics store).
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "workspace.update",
        "workspace",
        ws.id,
        serde_json::json!({"fields": changed_fields(&body)}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ws))
}

fn changed_fields(b: &UpdateWorkspace) -> Vec<&'static str> {
    let mut f = Vec::new();
    if b.name.is_some() {
        f.push("name")
    }
    if b.timezone.is_some() {
        f.push("timezone")
    }
    if b.currency.is_some() {
        f.push("currency")
    }
    if b.week_start.is_some() {
        f.push("week_start")
    }
    if b.active_event_types.is_some() {
        f.push("active_event_types")
    }
    if b.points.is_some() {
        f.push("points")
    }
    f
}
