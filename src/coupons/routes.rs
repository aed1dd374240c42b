//! `/v1/coupon-templates` and `/v1/coupons`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{
    Claim, Coupon, CouponQuery, CouponStatus, CouponTemplate, CreateTemplate, Issue, IssueQuery, IssueStatus, Quote,
    QuoteRequest, Redeem, Release, Skipped, TemplateStatus, UpdateTemplate,
};
use super::repo::{self, Key};
use super::service::{self, Refusal};
use super::writer::{Ask, ClaimWriter};
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::events::Ingestion;
use crate::http::csv::{self, Format, EXPORT_PAGE};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{CampaignId, GroupId, LayerId, MemberId, WorkspaceId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
    Ingestion: axum::extract::FromRef<S>,
    ClaimWriter: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_coupon_templates, create_coupon_template))
        .routes(routes!(get_coupon_template, update_coupon_template))
        .routes(routes!(claim_coupon))
        .routes(routes!(issue_coupons))
        .routes(routes!(list_coupon_issues))
        .routes(routes!(get_coupon_issue))
        .routes(routes!(super::stats::get_coupon_stats))
        .routes(routes!(list_coupons))
        .routes(routes!(get_coupon))
        .routes(routes!(quote_coupon))
        .routes(routes!(redeem_coupon))
        .routes(routes!(release_coupon))
        .routes(routes!(void_coupon))
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NotActive => ApiError::conflict("not_active", "the template gives no coupons now"),
        Refusal::OutOfStock => ApiError::conflict("out_of_stock", "every coupon of the template was given"),
        Refusal::LimitReached => ApiError::conflict("limit_reached", "the member holds as many as a member may"),
        Refusal::NotEligible => ApiError::conflict("not_eligible", "the member may not have this coupon"),
    }
}

async fn member_exists(conn: &mut PgConnection, ws: WorkspaceId, m: MemberId) -> ApiResult<()> {
    if crate::members::repo::existing(conn, ws, &[m]).await?.is_empty() {
        return Err(ApiError::unknown("member_id", "no such member in this workspace"));
    }
    Ok(())
}

/// 404 naming the field unless what the template names is in the workspace.
async fn check_refs(conn: &mut PgConnection, ws: WorkspaceId, t: &CreateTemplate) -> ApiResult<()> {
    if let Some(c) = t.campaign_id {
        if crate::campaigns::repo::get(conn, ws, c, false).await?.is_none() {
            return Err(ApiError::unknown("campaign_id", "no such campaign in this workspace"));
        }
    }
    let Some(e) = &t.eligible else { return Ok(()) };
    if let Some(ids) = &e.group_ids {
        let missing = crate::groups::unknown_ids(conn, ws, ids, "eligible.group_ids").await?;
        if !missing.is_empty() {
            return Err(ApiError::Unknown(missing));
        }
    }
    if let Some(l) = e.layer_id {
        if crate::layers::repo::get(conn, ws, l).await?.is_none() {
            return Err(ApiError::unknown("eligible.layer_id", "no such layer in this workspace"));
        }
    }
    if let Some(tier) = &e.tier {
        if !crate::tiers::repo::key_exists(conn, ws, tier).await? {
            return Err(ApiError::unknown("eligible.tier", "no such tier in this workspace"));
        }
    }
    Ok(())
}

/// Template filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    pub status: Option<TemplateStatus>,
    pub campaign_id: Option<CampaignId>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Coupon templates, newest first.
#[utoipa::path(get, path = "/coupon-templates", tag = "coupons", params(TemplateQuery),
    responses((status = 200, body = Page<CouponTemplate>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_coupon_templates(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<TemplateQuery>,
) -> ApiResult<Json<Page<CouponTemplate>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows =
        repo::list_templates(&mut conn, auth.workspace_id, q.status, q.campaign_id, page.after, page.fetch_limit())
            .await?;
    Ok(Json(Page::from_rows(rows, page, |t| t.id)))
}

/// One coupon template.
#[utoipa::path(get, path = "/coupon-templates/{id}", tag = "coupons", params(("id" = Uuid, Path)),
    responses((status = 200, body = CouponTemplate), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_coupon_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<CouponTemplate>> {
    let mut conn = state.pool.acquire().await?;
    let t = repo::get_template(&mut conn, auth.workspace_id, id, false).await?;
    Ok(Json(t.ok_or(ApiError::NotFound("coupon template"))?))
}

/// Create a coupon template (operator).
#[utoipa::path(post, path = "/coupon-templates", tag = "coupons", request_body = CreateTemplate,
    responses((status = 201, body = CouponTemplate), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_coupon_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateTemplate>,
) -> ApiResult<(StatusCode, Json<CouponTemplate>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    check_refs(&mut tx, ws, &body).await?;
    let currency = match body.currency {
        Some(c) => c,
        None => crate::workspaces::repo::get(&mut tx, ws).await?.map(|w| w.currency).unwrap_or_else(|| "CNY".into()),
    };
    let t = CouponTemplate {
        id: Uuid::now_v7(),
        campaign_id: body.campaign_id,
        name: body.name.trim().to_owned(),
        discount: body.discount,
        min_spend: body.min_spend.unwrap_or(0),
        currency,
        products: body.products,
        validity: body.validity,
        total: body.total,
        issued: 0,
        remaining: body.total,
        per_member_limit: body.per_member_limit.unwrap_or(1) as i32,
        eligible: body.eligible,
        stackable: body.stackable,
        restore_on_refund: body.restore_on_refund,
        claim_url: body.claim_url,
        status: body.status.unwrap_or(TemplateStatus::Active),
        created_at: now,
        updated_at: now,
    };
    repo::insert_template(&mut tx, ws, &t).await?;
    audit::record(
        &mut tx,
        ws,
        Actor::from(&auth),
        "coupon_template.create",
        "coupon_template",
        t.id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Change a template (operator): name, total (not below the coupons given:
/// 409 `below_issued`), per-member limit, status, restore on refund.
#[utoipa::path(patch, path = "/coupon-templates/{id}", tag = "coupons", params(("id" = Uuid, Path)),
    request_body = UpdateTemplate,
    responses((status = 200, body = CouponTemplate), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_coupon_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateTemplate>,
) -> ApiResult<Json<CouponTemplate>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    repo::get_template(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("coupon template"))?;
    let saved = repo::update_template(&mut tx, ws, id, &body, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::conflict("below_issued", "the total would be below the coupons already given"))?;
    audit::record(
        &mut tx,
        ws,
        Actor::from(&auth),
        "coupon_template.update",
        "coupon_template",
        id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(saved))
}

/// A member claims a coupon (operator key: the shop or the claim page calls
/// it). 409 `out_of_stock`, `limit_reached`, `not_eligible`, `not_active`;
/// the total and the member's limit hold under any concurrency.
#[utoipa::path(post, path = "/coupon-templates/{id}/claims", tag = "coupons", params(("id" = Uuid, Path)), request_body = Claim,
    responses((status = 201, body = Coupon), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "`out_of_stock`, `limit_reached`, `not_eligible`, `not_active`"),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn claim_coupon(
    State(state): State<AppState>,
    State(writer): State<ClaimWriter>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Claim>,
) -> ApiResult<(StatusCode, Json<Coupon>)> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    {
        let mut conn = state.pool.acquire().await?;
        repo::get_template(&mut conn, ws, id, false).await?.ok_or(ApiError::NotFound("coupon template"))?;
        member_exists(&mut conn, ws, body.member_id).await?;
        if let Some(g) = body.group_id {
            crate::groups::repo::get(&mut conn, ws, g)
                .await?
                .ok_or_else(|| ApiError::unknown("group_id", "no such group"))?;
        }
    }
    let ask = Ask { ws, template: id, member: body.member_id, group: body.group_id, now };
    match writer.claim(ask).await? {
        Ok(c) => Ok((StatusCode::CREATED, Json(c))),
        Err(r) => Err(refusal(r)),
    }
}

/// Who an operator issues coupons to: exactly one of these.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssueTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_ids: Option<Vec<MemberId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<GroupId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_id: Option<LayerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

impl utoipa::PartialSchema for IssueTarget {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use crate::validate::schema;
        schema::exactly_one(
            "Who gets a coupon: exactly one of 1-10000 members, a group's current members, the current members \
             of a layer's groups, or a tier's members",
            [
                ("member_ids", schema::array(schema::reference::<MemberId>(), 1, 10000)),
                ("group_id", schema::reference::<GroupId>()),
                ("layer_id", schema::reference::<LayerId>()),
                ("tier", schema::slug().into()),
            ],
        )
    }
}

impl ToSchema for IssueTarget {
    fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        out.push((MemberId::name().into_owned(), <MemberId as utoipa::PartialSchema>::schema()));
        out.push((GroupId::name().into_owned(), <GroupId as utoipa::PartialSchema>::schema()));
        out.push((LayerId::name().into_owned(), <LayerId as utoipa::PartialSchema>::schema()));
    }
}

/// `POST /v1/coupon-templates/{id}/issues`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    pub target: IssueTarget,
}

/// Members of an issue target (each once).
async fn target_members(conn: &mut PgConnection, ws: WorkspaceId, t: &IssueTarget) -> ApiResult<Vec<MemberId>> {
    let given = [t.member_ids.is_some(), t.group_id.is_some(), t.layer_id.is_some(), t.tier.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::field("target", "invalid", "give exactly one of member_ids, group_id, layer_id or tier"));
    }
    if let Some(ids) = &t.member_ids {
        if ids.is_empty() || ids.len() > 10_000 {
            return Err(ApiError::field("target.member_ids", "invalid", "1 to 10000 members"));
        }
        let found = crate::members::repo::existing(conn, ws, ids).await?;
        if found.len() < ids.iter().collect::<std::collections::HashSet<_>>().len() {
            return Err(ApiError::unknown("target.member_ids", "a member is not in this workspace"));
        }
        return Ok(found);
    }
    let groups: Vec<Uuid> = if let Some(g) = t.group_id {
        crate::groups::repo::get(conn, ws, g)
            .await?
            .ok_or_else(|| ApiError::unknown("target.group_id", "no such group"))?;
        vec![g.0]
    } else if let Some(l) = t.layer_id {
        let layer = crate::layers::repo::get(conn, ws, l)
            .await?
            .ok_or_else(|| ApiError::unknown("target.layer_id", "no such layer"))?;
        crate::groups::repo::schedule_targets(conn, ws, &layer.selector.to_filter())
            .await?
            .iter()
            .map(|g| g.id.0)
            .collect()
    } else {
        let tier = t.tier.as_deref().unwrap_or_default();
        if !crate::validate::is_slug(tier) {
            return Err(ApiError::field("target.tier", "invalid", "a tier key"));
        }
        if !crate::tiers::repo::key_exists(conn, ws, tier).await? {
            return Err(ApiError::unknown("target.tier", "no such tier in this workspace"));
        }
        return Ok(crate::members::repo::in_tier(conn, ws, tier).await?);
    };
    Ok(crate::memberships::repo::current_members(conn, ws, &groups).await?)
}

/// The target as an issue keeps it: a list of members by its size (the
/// members themselves are the coupons it gave).
fn target_record(t: &IssueTarget) -> serde_json::Value {
    match &t.member_ids {
        Some(ids) => serde_json::json!({"member_count": ids.len()}),
        None => serde_json::to_value(t).unwrap_or_default(),
    }
}

/// Issue one coupon to each member of a target (operator): never more than
/// the total leaves, skipping members at their limit or not eligible.
/// A target of up to 1,000 members is issued before the answer (201, `done`);
/// a larger one answers 202 `queued` and is issued in chunks of 500 by the
/// campaign jobs (started at once by an instance that runs them) — follow it at `GET /v1/coupon-issues/{id}`. The target is the members it
/// had when asked. `Idempotency-Key` makes a retried batch issue nothing new.
#[utoipa::path(post, path = "/coupon-templates/{id}/issues", tag = "coupons", params(("id" = Uuid, Path)),
    request_body = IssueRequest,
    responses((status = 201, body = Issue), (status = 202, body = Issue), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn issue_coupons(
    State(state): State<AppState>,
    State(ingestion): State<Ingestion>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<IssueRequest>,
) -> ApiResult<(StatusCode, Json<Issue>)> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let t = repo::get_template(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("coupon template"))?;
    let mut members = target_members(&mut tx, ws, &body.target).await?;
    members.sort();
    members.dedup();
    if !service::is_open(&t, now) {
        return Err(refusal(Refusal::NotActive));
    }
    let mut issue = Issue {
        id: Uuid::now_v7(),
        template_id: t.id,
        target: target_record(&body.target),
        status: IssueStatus::Queued,
        total: members.len() as i64,
        processed: 0,
        issued: 0,
        skipped: Skipped::default(),
        error: None,
        created_at: now,
        updated_at: now,
        finished_at: None,
    };
    let queued = members.len() > super::issues::IN_REQUEST;
    if queued {
        repo::insert_issue(&mut tx, ws, &issue, Some(&members)).await?;
    } else {
        let (issued, skipped) = service::issue(&mut tx, ws, &t, &members, issue.id, now, &ingestion.reactions).await?;
        issue = Issue {
            status: IssueStatus::Done,
            processed: issue.total,
            issued,
            skipped,
            finished_at: Some(now),
            ..issue
        };
        repo::insert_issue(&mut tx, ws, &issue, None).await?;
    }
    let details = serde_json::json!({"issue_id": issue.id, "total": issue.total, "issued": issue.issued,
        "skipped": issue.skipped, "status": issue.status});
    audit::record(&mut tx, ws, Actor::from(&auth), "coupon_template.issue", "coupon_template", id, details).await?;
    tx.commit().await?;
    if !queued {
        return Ok((StatusCode::CREATED, Json(issue)));
    }
    if !state.settings.workers.campaign_jobs {
        return Ok((StatusCode::ACCEPTED, Json(issue)));
    }
    // This instance runs campaign jobs: it starts at once, and the campaign
    // jobs of any instance go on with it if this one stops.
    let (pool, reactions, clock) = (state.pool.clone(), ingestion.reactions.clone(), state.clock.clone());
    tokio::spawn(async move {
        if let Err(e) = super::issues::run_pending(&pool, clock.now(), &reactions).await {
            tracing::warn!(error = %format!("{e:#}"), "coupon issue stopped; the campaign jobs will go on with it");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(issue)))
}

/// Operators' issues of coupons, newest first, with their progress.
#[utoipa::path(get, path = "/coupon-issues", tag = "coupons", params(IssueQuery),
    responses((status = 200, body = Page<Issue>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_coupon_issues(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<IssueQuery>,
) -> ApiResult<Json<Page<Issue>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_issues(&mut conn, auth.workspace_id, q.template_id, q.status, page.after, page.fetch_limit())
        .await?;
    Ok(Json(Page::from_rows(rows, page, |i| i.id)))
}

/// One issue and its progress: members processed of `total`, issued, and
/// skipped by reason.
#[utoipa::path(get, path = "/coupon-issues/{id}", tag = "coupons", params(("id" = Uuid, Path)),
    responses((status = 200, body = Issue), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_coupon_issue(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Issue>> {
    let mut conn = state.pool.acquire().await?;
    let i = repo::get_issue(&mut conn, auth.workspace_id, id).await?;
    Ok(Json(i.ok_or(ApiError::NotFound("coupon issue"))?))
}

/// Coupons, newest first (status as of now: unused past validity reads `expired`).
#[utoipa::path(get, path = "/coupons", tag = "coupons", params(CouponQuery),
    responses((status = 200, body = Page<Coupon>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_coupons(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<CouponQuery>,
) -> ApiResult<Response> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let f = repo::Filter { template: q.template_id, member: q.member_id, status: q.status };
    let (ws, now) = (auth.workspace_id, state.clock.now());
    if q.format == Some(Format::Csv) {
        let pool = state.pool.clone();
        let fetch = move |after| {
            let (pool, f) = (pool.clone(), f.clone());
            async move { Ok(repo::list_coupons(&mut *pool.acquire().await?, ws, &f, now, after, EXPORT_PAGE).await?) }
        };
        return csv::export("coupons", CSV_COLUMNS, fetch, |c: &Coupon| c.id, csv_row).await;
    }
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_coupons(&mut conn, ws, &f, now, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |c| c.id)).into_response())
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "code",
    "template_id",
    "member_id",
    "status",
    "group_id",
    "claimed_at",
    "valid_from",
    "valid_until",
    "order_id",
    "discount_applied",
    "redeemed_at",
];

fn csv_row(c: &Coupon) -> Vec<String> {
    vec![
        c.id.to_string(),
        c.code.clone(),
        c.template_id.to_string(),
        c.member_id.to_string(),
        csv::word(&c.status),
        csv::cell(c.group_id),
        c.claimed_at.to_rfc3339(),
        c.valid_from.to_rfc3339(),
        c.valid_until.to_rfc3339(),
        csv::cell(c.order_id.as_ref()),
        csv::cell(c.discount_applied),
        csv::cell(c.redeemed_at.map(|t| t.to_rfc3339())),
    ]
}

/// One coupon.
#[utoipa::path(get, path = "/coupons/{id}", tag = "coupons", params(("id" = Uuid, Path)),
    responses((status = 200, body = Coupon), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_coupon(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Coupon>> {
    let mut conn = state.pool.acquire().await?;
    let c = repo::get_coupon(&mut conn, auth.workspace_id, Key::Id(id), state.clock.now(), false).await?;
    Ok(Json(c.ok_or(ApiError::NotFound("coupon"))?))
}

/// The coupon a quote names (by code or id), 404 when none.
async fn named(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    code: Option<&str>,
    id: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Coupon> {
    let found = match (code, id) {
        (Some(code), None) => match super::code::normalize(code) {
            Some(c) => repo::get_coupon(conn, ws, Key::Code(&c), now, false).await?,
            None => None,
        },
        (None, Some(id)) => repo::get_coupon(conn, ws, Key::Id(id), now, false).await?,
        _ => return Err(ApiError::field("code", "invalid", "give exactly one of code or coupon_id")),
    };
    found.ok_or_else(|| ApiError::unknown(if code.is_some() { "code" } else { "coupon_id" }, "no such coupon"))
}

/// What a coupon takes off a cart, changing nothing.
#[utoipa::path(post, path = "/coupons/quote", tag = "coupons", request_body = QuoteRequest,
    responses((status = 200, body = Quote), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn quote_coupon(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<QuoteRequest>,
) -> ApiResult<Json<Quote>> {
    auth.require(Role::Operator)?;
    let mut c = crate::validate::Checks::new();
    body.cart.check(&mut c, "cart");
    c.finish()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut conn = state.pool.acquire().await?;
    let coupon = named(&mut conn, ws, body.code.as_deref(), body.coupon_id, now).await?;
    member_exists(&mut conn, ws, body.member_id).await?;
    let t = repo::get_template(&mut conn, ws, coupon.template_id, false).await?.ok_or(ApiError::NotFound("coupon"))?;
    Ok(Json(service::quote(&t, &coupon, body.member_id, &body.cart, now)))
}

/// Lock a coupon to an order awaiting payment, with its discount. The same
/// order again answers the same; another order gets 409 `already_redeemed`;
/// an order already holding a non-stackable coupon, 409 `order_has_coupon`;
/// a coupon that does not apply, 409 `not_applicable` with the quote's reasons.
#[utoipa::path(post, path = "/coupons/{id}/redeem", tag = "coupons", params(("id" = Uuid, Path)), request_body = Redeem,
    responses((status = 200, body = Quote), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn redeem_coupon(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Redeem>,
) -> ApiResult<Json<Quote>> {
    auth.require(Role::Operator)?;
    let mut checks = crate::validate::Checks::new();
    checks.text("order_id", &body.order_id, 1, 128);
    body.cart.check(&mut checks, "cart");
    checks.finish()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let c = repo::get_coupon(&mut tx, ws, Key::Id(id), now, true).await?.ok_or(ApiError::NotFound("coupon"))?;
    member_exists(&mut tx, ws, body.member_id).await?;
    if matches!(c.status, CouponStatus::Locked | CouponStatus::Redeemed) {
        if c.order_id.as_deref() == Some(body.order_id.as_str()) && c.member_id == body.member_id {
            let lines = c.lines.clone().unwrap_or_default();
            let discount = c.discount_applied.unwrap_or(0);
            let payable = (super::pricing::total(&body.cart) - discount).max(0);
            return Ok(Json(Quote { coupon_id: c.id, valid: true, reasons: vec![], discount, payable, lines }));
        }
        return Err(ApiError::conflict("already_redeemed", "the coupon is used on another order"));
    }
    let t = repo::get_template(&mut tx, ws, c.template_id, false).await?.ok_or(ApiError::NotFound("coupon"))?;
    let q = service::quote(&t, &c, body.member_id, &body.cart, now);
    if !q.valid {
        return Err(ApiError::conflict_with(
            "not_applicable",
            "the coupon does not apply to this cart",
            "reasons",
            &q.reasons,
        ));
    }
    repo::lock_to_order(&mut tx, ws, c.id, &body.order_id, q.discount, &q.lines, now).await.map_err(|e| {
        on_constraint(e, |name| {
            (name == "coupons_one_per_order").then(|| {
                ApiError::conflict("order_has_coupon", "the order already carries a coupon that does not stack")
            })
        })
    })?;
    tx.commit().await?;
    Ok(Json(q))
}

/// Put a coupon locked to an unpaid order back (order cancelled): `claimed`
/// again, or `expired` past its validity. 409 `not_locked` when the coupon
/// is not locked to that order (a paid one stays redeemed).
#[utoipa::path(post, path = "/coupons/{id}/release", tag = "coupons", params(("id" = Uuid, Path)), request_body = Release,
    responses((status = 200, body = Coupon), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn release_coupon(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Release>,
) -> ApiResult<Json<Coupon>> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let c = repo::get_coupon(&mut tx, ws, Key::Id(id), now, true).await?.ok_or(ApiError::NotFound("coupon"))?;
    if c.status != CouponStatus::Locked || c.order_id.as_deref() != Some(body.order_id.as_str()) {
        return Err(ApiError::conflict("not_locked", "the coupon is not locked to that order"));
    }
    repo::set_status(&mut tx, ws, id, service::returned_status(&c, now), now).await?;
    let saved = repo::get_coupon(&mut tx, ws, Key::Id(id), now, false).await?.ok_or(ApiError::NotFound("coupon"))?;
    tx.commit().await?;
    Ok(Json(saved))
}

/// Withdraw an unused coupon (operator): `void`. It still counts toward the
/// member's limit and the total. 409 `used` when locked or redeemed.
#[utoipa::path(post, path = "/coupons/{id}/void", tag = "coupons", params(("id" = Uuid, Path)),
    responses((status = 200, body = Coupon), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn void_coupon(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Coupon>> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let c = repo::get_coupon(&mut tx, ws, Key::Id(id), now, true).await?.ok_or(ApiError::NotFound("coupon"))?;
    if matches!(c.status, CouponStatus::Locked | CouponStatus::Redeemed) {
        return Err(ApiError::conflict("used", "the coupon is on an order"));
    }
    repo::set_status(&mut tx, ws, id, CouponStatus::Void, now).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "coupon.void", "coupon", id, serde_json::json!({})).await?;
    let saved = repo::get_coupon(&mut tx, ws, Key::Id(id), now, false).await?.ok_or(ApiError::NotFound("coupon"))?;
    tx.commit().await?;
    Ok(Json(saved))
}
