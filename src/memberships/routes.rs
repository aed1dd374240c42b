//! `/v1/groups/{id}/members` and `/v1/members/{id}/memberships`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{GroupMembersQuery, Include, JoinGroup, LeaveGroup, Membership};
use super::{repo, service};
use crate::audit::Actor;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::{GroupId, MemberId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
    crate::events::Ingestion: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_group_members, join_group))
        .routes(routes!(leave_group))
        .routes(routes!(list_member_memberships))
}

/// Current members of a group, or every stint with `?include=history`.
#[utoipa::path(get, path = "/groups/{id}/members", tag = "memberships", params(("id" = GroupId, Path), GroupMembersQuery),
    responses((status = 200, body = Page<Membership>), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_group_members(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
    ApiQuery(q): ApiQuery<GroupMembersQuery>,
) -> ApiResult<Json<Page<Membership>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    if !crate::groups::repo::exists(&mut conn, auth.workspace_id, id).await? {
        return Err(ApiError::NotFound("group"));
    }
    let history = q.include == Some(Include::History);
    let rows = repo::list_for_group(&mut conn, auth.workspace_id, id, history, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |m| m.id.0)))
}

/// A member joins a group: opens a stint.
#[utoipa::path(post, path = "/groups/{id}/members", tag = "memberships", params(("id" = GroupId, Path)), request_body = JoinGroup,
    responses((status = 201, body = Membership), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn join_group(
    State(state): State<AppState>,
    State(ingestion): State<crate::events::Ingestion>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
    ApiJson(body): ApiJson<JoinGroup>,
) -> ApiResult<(StatusCode, Json<Membership>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let by = service::Writer { actor: Actor::from(&auth), now: state.clock.now(), subscribers: &ingestion.reactions };
    let m = service::join(&mut tx, auth.workspace_id, id, &body, &by).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(m)))
}

/// A member leaves a group: closes the open stint.
#[utoipa::path(delete, path = "/groups/{id}/members/{member_id}", tag = "memberships",
    params(("id" = GroupId, Path), ("member_id" = MemberId, Path), LeaveGroup),
    responses((status = 200, body = Membership), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn leave_group(
    State(state): State<AppState>,
    State(ingestion): State<crate::events::Ingestion>,
    auth: Auth,
    ApiPath((id, member)): ApiPath<(GroupId, MemberId)>,
    ApiQuery(q): ApiQuery<LeaveGroup>,
) -> ApiResult<Json<Membership>> {
    auth.require(Role::Operator)?;
    q.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let by = service::Writer { actor: Actor::from(&auth), now: state.clock.now(), subscribers: &ingestion.reactions };
    let m = service::leave(&mut tx, auth.workspace_id, id, member, &q, &by).await?;
    tx.commit().await?;
    Ok(Json(m))
}

/// Every stint of a member across groups, newest first.
#[utoipa::path(get, path = "/members/{id}/memberships", tag = "memberships", params(("id" = MemberId, Path), PageQuery),
    responses((status = 200, body = Page<Membership>), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_member_memberships(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Membership>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    if crate::members::repo::get(&mut conn, auth.workspace_id, id).await?.is_none() {
        return Err(ApiError::NotFound("member"));
    }
    let rows = repo::list_for_member(&mut conn, auth.workspace_id, id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |m| m.id.0)))
}

impl From<service::MembershipError> for ApiError {
    fn from(e: service::MembershipError) -> Self {
        use service::MembershipError as E;
        let message = e.to_string();
        match e {
            E::GroupNotFound => ApiError::NotFound("group"),
            E::MemberNotFound => ApiError::NotFound("member"),
            E::MembershipNotFound => ApiError::NotFound("membership"),
            E::UnknownMember { field } => ApiError::unknown(field, message),
            E::GroupDismissed => ApiError::conflict("group_dismissed", message),
            E::MemberErased => ApiError::conflict("member_erased", message),
            E::AlreadyMember => ApiError::conflict("already_member", message),
            E::OverlappingStint => ApiError::conflict("overlapping_stint", message),
            E::NotAMember => ApiError::conflict("not_a_member", message),
            E::BeforeJoin => ApiError::conflict("before_join", message),
            E::InFuture { field } => ApiError::field(field, "in_future", message),
            E::Database(e) => ApiError::from(e),
            E::Internal(e) => ApiError::Internal(e),
        }
    }
}
