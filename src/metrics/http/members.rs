//! `GET /v1/members/{id}`: the member resource with their engagement score.
//! Served here, above both features, so members does not import metrics.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::groups::engagement_of;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::ApiPath;
use crate::ids::MemberId;
use crate::keys::auth::Auth;
use crate::members::model::Member;
use crate::metrics::params;
use crate::metrics::reports::engagement::Engagement;
use crate::state::AppState;

/// One member.
#[utoipa::path(get, path = "/members/{id}", tag = "members", params(("id" = MemberId, Path)),
    responses((status = 200, body = MemberDetail), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_member(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
) -> ApiResult<Json<MemberDetail>> {
    let mut conn = state.pool.acquire().await?;
    let ws = auth.workspace_id;
    let m = crate::members::repo::get(&mut conn, ws, id).await?.ok_or(ApiError::NotFound("member"))?;
    let w = crate::workspaces::repo::get(&mut conn, ws).await?.ok_or(ApiError::NotFound("workspace"))?;
    let engagement = engagement_of(&mut conn, &params::workspace_ctx(w, state.clock.now()), id).await?;
    Ok(Json(MemberDetail { member: m.as_seen_by(auth.role), engagement }))
}

/// A member with their engagement score (see `GET /v1/metrics/members/{id}/engagement`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDetail {
    #[serde(flatten)]
    pub member: Member,
    pub engagement: Engagement,
}
