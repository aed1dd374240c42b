//! `/v1/members` (`GET /v1/members/{id}`, which adds the member's
//! engagement, is served by `metrics::http::members`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{CreateMember, Member, SetTier, TierChange, UpdateMember};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{self, Format, EXPORT_PAGE};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::MemberId;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::platform::Platform;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_members, create_member))
        .routes(routes!(update_member, erase_member))
        .routes(routes!(set_member_tier))
        .routes(routes!(list_member_tier_history))
}

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| match c {
        "member_identities_pkey" => {
            Some(ApiError::conflict("identity_taken", "one of these identities already belongs to another member"))
        }
        "members_tier_fkey" => Some(ApiError::unknown("tier", "no such tier in this workspace")),
        _ => None,
    })
}

/// What the caller may see of personal data.
fn shown(auth: &Auth, m: Member) -> Member {
    m.as_seen_by(auth.role)
}

/// Member filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Substring of the display name.
    pub q: Option<String>,
    pub tier: Option<String>,
    pub tag: Option<String>,
    /// Members with an identity on this platform (with `external_id`: that identity).
    pub platform: Option<Platform>,
    /// Members with an identity of this id (on `platform` when given, else on any platform).
    pub external_id: Option<String>,
    pub is_staff: Option<bool>,
    pub is_bot: Option<bool>,
    /// Include erased members (default false).
    pub include_erased: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// `csv`: every matching member as one CSV download, masked as in JSON
    /// (`limit` and `cursor` do not apply).
    #[param(inline)]
    pub format: Option<Format>,
}

/// List members.
#[utoipa::path(get, path = "/members", tag = "members", params(MemberQuery),
    responses((status = 200, body = Page<Member>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<MemberQuery>,
) -> ApiResult<Response> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let filter = repo::Filter {
        q: q.q,
        tier: q.tier,
        tag: q.tag,
        platform: q.platform,
        external_id: q.external_id,
        is_staff: q.is_staff,
        is_bot: q.is_bot,
        include_erased: q.include_erased.unwrap_or(false),
    };
    if q.format == Some(Format::Csv) {
        let (pool, ws, role) = (state.pool.clone(), auth.workspace_id, auth.role);
        let fetch = move |after| {
            let (pool, filter) = (pool.clone(), filter.clone());
            async move {
                let rows = repo::list(&mut *pool.acquire().await?, ws, &filter, after, EXPORT_PAGE).await?;
                Ok(rows.into_iter().map(|m| m.as_seen_by(role)).collect::<Vec<_>>())
            }
        };
        return csv::export("members", CSV_COLUMNS, fetch, |m: &Member| m.id.0, csv_row).await;
    }
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, &filter, page.after, page.fetch_limit()).await?;
    let page = Page::from_rows(rows, page, |m| m.id.0);
    let items = page.items.into_iter().map(|m| shown(&auth, m)).collect();
    Ok(Json(Page { items, next_cursor: page.next_cursor }).into_response())
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "display_name",
    "phone",
    "email",
    "identities",
    "tier",
    "tags",
    "is_staff",
    "is_bot",
    "first_seen_at",
    "last_active_at",
    "erased_at",
];

fn csv_row(m: &Member) -> Vec<String> {
    let identities: Vec<String> =
        m.identities.iter().map(|i| format!("{}:{}", i.platform.as_str(), i.external_id)).collect();
    vec![
        m.id.to_string(),
        m.display_name.clone(),
        csv::cell(m.phone.as_ref()),
        csv::cell(m.email.as_ref()),
        identities.join(";"),
        csv::cell(m.tier.as_ref()),
        m.tags.join(";"),
        m.is_staff.to_string(),
        m.is_bot.to_string(),
        m.first_seen_at.to_rfc3339(),
        csv::cell(m.last_active_at.map(|t| t.to_rfc3339())),
        csv::cell(m.erased_at.map(|t| t.to_rfc3339())),
    ]
}

/// Add a member.
#[utoipa::path(post, path = "/members", tag = "members", request_body = CreateMember,
    responses((status = 201, body = Member), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_member(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateMember>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let id = repo::insert(&mut tx, auth.workspace_id, &body, now).await.map_err(map_err)?;
    let change = body.tier.as_deref().map(|t| repo::NewTierChange {
        from: None,
        to: Some(t),
        reason: "initial tier",
        actor: Actor::from(&auth),
        at: now,
    });
    if let Some(c) = change {
        repo::set_tier(&mut tx, auth.workspace_id, id, c).await?;
    }
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "member.create", "member", id, serde_json::json!({}))
        .await?;
    let m = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("member"))?;
    if let Some(c) = &change {
        super::outbound::tier_changed(&mut tx, auth.workspace_id, &m, c).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(m)))
}

/// Change a member (attributes merge; null removes a key).
#[utoipa::path(patch, path = "/members/{id}", tag = "members", params(("id" = MemberId, Path)), request_body = UpdateMember,
    responses((status = 200, body = Member), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_member(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> ApiResult<Json<Member>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    let mut m = repo::get_for_update(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("member"))?;
    if m.erased_at.is_some() {
        return Err(ApiError::conflict("member_erased", "this member's personal data was erased"));
    }
    let mut fields = body.apply_to(&mut m);
    repo::save(&mut tx, ws, &m).await?;
    if let Some(ids) = &body.identities {
        repo::replace_identities(&mut tx, ws, id, ids).await.map_err(map_err)?;
        fields.push("identities");
    }
    if let Some(t) = &body.tags {
        crate::tags::repo::replace(
            &mut tx,
            ws,
            crate::tags::repo::Owner::Member(id.0),
            &crate::tags::model::normalize(t),
        )
        .await?;
        fields.push("tags");
    }
    audit::record(
        &mut tx,
        ws,
        Actor::from(&auth),
        "member.update",
        "member",
        id,
        serde_json::json!({"fields": fields}),
    )
    .await?;
    let m = repo::get(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("member"))?;
    tx.commit().await?;
    Ok(Json(m))
}

/// Erase a member's personal data; anonymous history stays for metrics.
///
/// The member is not removed: its id still answers (`GET` shows it with its
/// name, phone, email, identities, tags and attributes gone and `erased_at` set;
/// `PATCH` and `PUT .../tier` answer 409 `member_erased`), so groups'
/// histories, funnels and GMV stay whole. Lists leave it out unless
/// `include_erased=true`.
#[utoipa::path(delete, path = "/members/{id}", tag = "members", params(("id" = MemberId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn erase_member(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let m = repo::get_for_update(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("member"))?;
    if m.erased_at.is_none() {
        repo::erase(&mut tx, auth.workspace_id, id, state.clock.now()).await?;
        audit::record(
            &mut tx,
            auth.workspace_id,
            Actor::from(&auth),
            "member.erase",
            "member",
            id,
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a member's tier by hand; the change is kept in the tier history.
#[utoipa::path(put, path = "/members/{id}/tier", tag = "members", params(("id" = MemberId, Path)), request_body = SetTier,
    responses((status = 200, body = Member), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "The member's personal data was erased (`member_erased`)"),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn set_member_tier(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiJson(body): ApiJson<SetTier>,
) -> ApiResult<Json<Member>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    let m = repo::get_for_update(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("member"))?;
    if m.erased_at.is_some() {
        return Err(ApiError::conflict("member_erased", "this member's personal data was erased"));
    }
    if m.tier != body.tier {
        if let Some(t) = &body.tier {
            if !crate::tiers::repo::key_exists(&mut tx, ws, t).await? {
                return Err(ApiError::unknown("tier", "no such tier in this workspace"));
            }
        }
        let reason = body.reason.trim();
        let change = repo::NewTierChange {
            from: m.tier.as_deref(),
            to: body.tier.as_deref(),
            reason,
            actor: Actor::from(&auth),
            at: state.clock.now(),
        };
        repo::set_tier(&mut tx, ws, id, change).await.map_err(map_err)?;
        super::outbound::tier_changed(&mut tx, ws, &m, &change).await?;
        audit::record(
            &mut tx,
            ws,
            Actor::from(&auth),
            "member.set_tier",
            "member",
            id,
            serde_json::json!({"from": m.tier, "to": body.tier}),
        )
        .await?;
    }
    let m = repo::get(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("member"))?;
    tx.commit().await?;
    Ok(Json(shown(&auth, m)))
}

/// A member's tier changes, newest first.
#[utoipa::path(get, path = "/members/{id}/tier-history", tag = "members", params(("id" = MemberId, Path), PageQuery),
    responses((status = 200, body = Page<TierChange>), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_member_tier_history(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<TierChange>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    if repo::get(&mut conn, auth.workspace_id, id).await?.is_none() {
        return Err(ApiError::NotFound("member"));
    }
    let rows = repo::tier_history(&mut conn, auth.workspace_id, id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |c| c.id)))
}
