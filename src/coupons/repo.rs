//! SQL of coupon templates, holders and coupons (this feature's tables).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{
    Coupon, CouponStatus, CouponTemplate, Discount, Eligibility, Issue, IssueStatus, LineDiscount, Skipped,
    TemplateStatus, UpdateTemplate, Validity,
};
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};

#[derive(FromRow)]
struct TemplateRow {
    id: Uuid,
    campaign_id: Option<Uuid>,
    name: String,
    discount: Json<Discount>,
    min_spend: i64,
    currency: String,
    products: Option<Vec<String>>,
    validity: Json<Validity>,
    total: Option<i64>,
    issued: i64,
    per_member_limit: i32,
    eligible: Option<Json<Eligibility>>,
    stackable: bool,
    restore_on_refund: bool,
    claim_url: Option<String>,
    status: TemplateStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<TemplateRow> for CouponTemplate {
    fn from(r: TemplateRow) -> Self {
        CouponTemplate {
            id: r.id,
            campaign_id: r.campaign_id.map(CampaignId),
            name: r.name,
            discount: r.discount.0,
            min_spend: r.min_spend,
            currency: r.currency,
            products: r.products,
            validity: r.validity.0,
            remaining: r.total.map(|t| t - r.issued),
            total: r.total,
            issued: r.issued,
            per_member_limit: r.per_member_limit,
            eligible: r.eligible.map(|e| e.0),
            stackable: r.stackable,
            restore_on_refund: r.restore_on_refund,
            claim_url: r.claim_url,
            status: r.status,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const TEMPLATE_COLUMNS: &str = "id, campaign_id, name, discount, min_spend, currency, products, validity, total, \
    issued, per_member_limit, eligible, stackable, restore_on_refund, claim_url, status, created_at, updated_at";

/// Stores a new template.
pub async fn insert_template(conn: &mut PgConnection, ws: WorkspaceId, t: &CouponTemplate) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO coupon_templates (workspace_id, id, campaign_id, name, discount, min_spend, currency, products,
             validity, total, issued, per_member_limit, eligible, stackable, restore_on_refund, status, created_at, updated_at,
             claim_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14, $15, $16, $16, $17)",
    )
    .bind(ws)
    .bind(t.id)
    .bind(t.campaign_id)
    .bind(&t.name)
    .bind(Json(t.discount))
    .bind(t.min_spend)
    .bind(&t.currency)
    .bind(&t.products)
    .bind(Json(t.validity))
    .bind(t.total)
    .bind(t.per_member_limit)
    .bind(t.eligible.as_ref().map(Json))
    .bind(t.stackable)
    .bind(t.restore_on_refund)
    .bind(t.status)
    .bind(t.created_at)
    .bind(&t.claim_url)
    .execute(conn)
    .await?;
    Ok(())
}

/// One template (`lock`: `FOR UPDATE`).
pub async fn get_template(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    lock: bool,
) -> Result<Option<CouponTemplate>, sqlx::Error> {
    let sql = format!(
        "SELECT {TEMPLATE_COLUMNS} FROM coupon_templates WHERE workspace_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row: Option<TemplateRow> = sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}

/// Templates, newest first.
pub async fn list_templates(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    status: Option<TemplateStatus>,
    campaign: Option<CampaignId>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CouponTemplate>, sqlx::Error> {
    let sql = format!(
        "SELECT {TEMPLATE_COLUMNS} FROM coupon_templates WHERE workspace_id = $1
           AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR campaign_id = $3)
           AND ($4::uuid IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    );
    let rows: Vec<TemplateRow> =
        sqlx::query_as(&sql).bind(ws).bind(status).bind(campaign).bind(after).bind(limit).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Applies a change to a template. `None` when the new total would be
/// below the coupons already given (the row is left as it was).
pub async fn update_template(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    u: &UpdateTemplate,
    now: DateTime<Utc>,
) -> Result<Option<CouponTemplate>, sqlx::Error> {
    let sql = format!(
        "UPDATE coupon_templates SET name = COALESCE($3, name),
             total = CASE WHEN $4 THEN $5 ELSE total END,
             per_member_limit = COALESCE($6, per_member_limit), status = COALESCE($7, status),
             restore_on_refund = COALESCE($8, restore_on_refund), updated_at = $9,
             claim_url = CASE WHEN $10 THEN $11 ELSE claim_url END
         WHERE workspace_id = $1 AND id = $2 AND (NOT $4 OR $5::bigint IS NULL OR issued <= $5)
         RETURNING {TEMPLATE_COLUMNS}"
    );
    let row: Option<TemplateRow> = sqlx::query_as(&sql)
        .bind(ws)
        .bind(id)
        .bind(&u.name)
        .bind(u.total.is_some())
        .bind(u.total.flatten())
        .bind(u.per_member_limit.map(|l| l as i32))
        .bind(u.status)
        .bind(u.restore_on_refund)
        .bind(now)
        .bind(u.claim_url.is_some())
        .bind(u.claim_url.clone().flatten())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Into::into))
}

/// Gives up to `n` coupons of an active template: raises `issued` by as
/// many as the total leaves (the row lock queues concurrent givers, and the
/// locked read sees what the one before left; `coupon_templates_within_total`
/// backs the arithmetic). The lock is `NO KEY UPDATE`, as the `UPDATE`'s own:
/// a giver's coupon insert already holds `KEY SHARE` on the row (its foreign
/// key), which `FOR UPDATE` would wait on — two givers, a deadlock. Returns
/// how many were granted (0: none left, or not active).
pub async fn take(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    n: i64,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let granted: Option<i64> = sqlx::query_scalar(
        "WITH t AS (SELECT issued, total FROM coupon_templates
                    WHERE workspace_id = $1 AND id = $2 AND status = 'active' FOR NO KEY UPDATE),
              g AS (SELECT LEAST($3, COALESCE(total - issued, $3)) AS n FROM t)
         UPDATE coupon_templates c SET issued = c.issued + g.n, updated_at = $4 FROM g
         WHERE c.workspace_id = $1 AND c.id = $2 AND g.n > 0
         RETURNING g.n",
    )
    .bind(ws)
    .bind(id)
    .bind(n)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(granted.unwrap_or(0))
}

/// Counts a coupon toward a member's limit: `true` when under `limit`
/// (the upsert locks the member's row, so their concurrent claims queue and
/// each sees the count the one before left).
pub async fn hold(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    template: Uuid,
    member: MemberId,
    limit: i32,
) -> Result<bool, sqlx::Error> {
    let held: Option<i32> = sqlx::query_scalar(
        "INSERT INTO coupon_holders (workspace_id, template_id, member_id, held) VALUES ($1, $2, $3, 1)
         ON CONFLICT (workspace_id, template_id, member_id)
         DO UPDATE SET held = coupon_holders.held + 1 WHERE coupon_holders.held < $4
         RETURNING held",
    )
    .bind(ws)
    .bind(template)
    .bind(member)
    .bind(limit)
    .fetch_optional(conn)
    .await?;
    Ok(held.is_some())
}

/// Counts one coupon toward each of `members`' limit where it stays within
/// `limit`; returns the members it counted for.
pub async fn hold_many(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    template: Uuid,
    members: &[Uuid],
    limit: i32,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO coupon_holders (workspace_id, template_id, member_id, held)
         SELECT $1, $2, m, 1 FROM unnest($3::uuid[]) AS m ORDER BY m
         ON CONFLICT (workspace_id, template_id, member_id)
         DO UPDATE SET held = coupon_holders.held + 1 WHERE coupon_holders.held < $4
         RETURNING member_id",
    )
    .bind(ws)
    .bind(template)
    .bind(members)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Takes back one count from each of `members` (coupons that were not given after all).
pub async fn unhold(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    template: Uuid,
    members: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE coupon_holders SET held = held - 1
         WHERE workspace_id = $1 AND template_id = $2 AND member_id = ANY($3)",
    )
    .bind(ws)
    .bind(template)
    .bind(members)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(FromRow)]
struct CouponRow {
    id: Uuid,
    code: String,
    template_id: Uuid,
    member_id: Uuid,
    status: CouponStatus,
    group_id: Option<Uuid>,
    claimed_at: DateTime<Utc>,
    valid_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    order_id: Option<String>,
    discount_applied: Option<i64>,
    lines: Option<Json<Vec<LineDiscount>>>,
    redeemed_at: Option<DateTime<Utc>>,
}

impl From<CouponRow> for Coupon {
    fn from(r: CouponRow) -> Self {
        Coupon {
            id: r.id,
            code: r.code,
            template_id: r.template_id,
            member_id: MemberId(r.member_id),
            status: r.status,
            group_id: r.group_id.map(GroupId),
            claimed_at: r.claimed_at,
            valid_from: r.valid_from,
            valid_until: r.valid_until,
            order_id: r.order_id,
            discount_applied: r.discount_applied,
            lines: r.lines.map(|l| l.0),
            redeemed_at: r.redeemed_at,
        }
    }
}

/// The columns of a coupon as read at `$now`: a claimed coupon past its
/// validity reads `expired` before the expiry job writes it.
fn coupon_columns(now: &str) -> String {
    format!(
        "id, code, template_id, member_id,
         CASE WHEN status = 'claimed' AND valid_until <= {now} THEN 'expired' ELSE status END AS status,
         group_id, claimed_at, valid_from, valid_until, order_id, discount_applied, lines, redeemed_at"
    )
}

/// A coupon about to be stored.
pub struct NewCoupon {
    pub id: Uuid,
    pub code: String,
    pub template_id: Uuid,
    pub member_id: Uuid,
    pub stackable: bool,
    pub group_id: Option<Uuid>,
    pub issue_id: Option<Uuid>,
    pub claimed_at: DateTime<Utc>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

/// Stores claimed coupons.
pub async fn insert_coupons(conn: &mut PgConnection, ws: WorkspaceId, cs: &[NewCoupon]) -> Result<(), sqlx::Error> {
    let col = |f: fn(&NewCoupon) -> Uuid| cs.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO coupons (workspace_id, id, code, template_id, member_id, status, stackable, group_id, issue_id,
             claimed_at, valid_from, valid_until, updated_at)
         SELECT $1, id, code, t, m, 'claimed', s, g, i, c, f, u, c
         FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::bool[], $7::uuid[], $8::uuid[],
                     $9::timestamptz[], $10::timestamptz[], $11::timestamptz[]) AS x(id, code, t, m, s, g, i, c, f, u)",
    )
    .bind(ws)
    .bind(col(|c| c.id))
    .bind(cs.iter().map(|c| c.code.clone()).collect::<Vec<_>>())
    .bind(col(|c| c.template_id))
    .bind(col(|c| c.member_id))
    .bind(cs.iter().map(|c| c.stackable).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.group_id).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.issue_id).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.claimed_at).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.valid_from).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.valid_until).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Which coupon to read.
pub enum Key<'a> {
    Id(Uuid),
    Code(&'a str),
}

/// One coupon as read at `now` (`lock`: `FOR UPDATE`).
pub async fn get_coupon(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    key: Key<'_>,
    now: DateTime<Utc>,
    lock: bool,
) -> Result<Option<Coupon>, sqlx::Error> {
    let (field, lock) = (
        match key {
            Key::Id(_) => "id = $2::uuid",
            Key::Code(_) => "code = $2",
        },
        if lock { " FOR UPDATE" } else { "" },
    );
    let sql = format!("SELECT {} FROM coupons WHERE workspace_id = $1 AND {field}{lock}", coupon_columns("$3"));
    let q = sqlx::query_as::<_, CouponRow>(&sql).bind(ws);
    let q = match key {
        Key::Id(id) => q.bind(id.to_string()),
        Key::Code(c) => q.bind(c.to_owned()),
    };
    Ok(q.bind(now).fetch_optional(conn).await?.map(Into::into))
}

/// The coupons locked to or redeemed on an order, locked.
pub async fn of_order(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    order: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Coupon>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM coupons WHERE workspace_id = $1 AND order_id = $2 ORDER BY id FOR UPDATE",
        coupon_columns("$3")
    );
    let rows: Vec<CouponRow> = sqlx::query_as(&sql).bind(ws).bind(order).bind(now).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Coupon filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub template: Option<Uuid>,
    pub member: Option<MemberId>,
    pub status: Option<CouponStatus>,
}

/// Coupons as read at `now`, newest first.
pub async fn list_coupons(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &Filter,
    now: DateTime<Utc>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Coupon>, sqlx::Error> {
    let sql = format!(
        "SELECT * FROM (SELECT {} FROM coupons WHERE workspace_id = $1 AND ($2::uuid IS NULL OR template_id = $2)
           AND ($3::uuid IS NULL OR member_id = $3) AND ($5::uuid IS NULL OR id < $5)) c
         WHERE ($4::text IS NULL OR status = $4) ORDER BY id DESC LIMIT $6",
        coupon_columns("$7")
    );
    let rows: Vec<CouponRow> = sqlx::query_as(&sql)
        .bind(ws)
        .bind(f.template)
        .bind(f.member)
        .bind(f.status)
        .bind(after)
        .bind(limit)
        .bind(now)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Locks a claimed coupon to an order with its discount.
pub async fn lock_to_order(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    order: &str,
    discount: i64,
    lines: &[LineDiscount],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE coupons SET status = 'locked', order_id = $3, discount_applied = $4, lines = $5, locked_at = $6,
             updated_at = $6
         WHERE workspace_id = $1 AND id = $2 AND status = 'claimed'",
    )
    .bind(ws)
    .bind(id)
    .bind(order)
    .bind(discount)
    .bind(Json(lines))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the paid amount of the order a coupon was redeemed on.
pub async fn set_order_amount(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    amount: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE coupons SET order_amount = $3 WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(amount)
        .execute(conn)
        .await?;
    Ok(())
}

/// The paid amount of the order coupon `id` was redeemed on.
pub async fn order_amount(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT order_amount FROM coupons WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Moves a coupon to `status`: back to `claimed` or `expired` clears its
/// order; `redeemed` stamps the time.
pub async fn set_status(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    status: CouponStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE coupons SET status = $3,
             order_id = CASE WHEN $3 IN ('claimed', 'expired', 'void') THEN NULL ELSE order_id END,
             discount_applied = CASE WHEN $3 IN ('claimed', 'expired', 'void') THEN NULL ELSE discount_applied END,
             lines = CASE WHEN $3 IN ('claimed', 'expired', 'void') THEN NULL ELSE lines END,
             order_amount = CASE WHEN $3 IN ('claimed', 'expired', 'void') THEN NULL ELSE order_amount END,
             redeemed_at = CASE WHEN $3 = 'redeemed' THEN $4 WHEN $3 = 'claimed' THEN NULL ELSE redeemed_at END,
             updated_at = $4
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(status)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes `expired` on up to `limit` claimed coupons past their validity,
/// in every workspace (the reads already show them expired); how many.
pub async fn expire_due(conn: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE coupons SET status = 'expired', updated_at = $1
         WHERE (workspace_id, id) IN (SELECT workspace_id, id FROM coupons
                WHERE status = 'claimed' AND valid_until <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(now)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// A template's coupons counted as read at `now`, per claim group (null:
/// no group): `(group, from_issues, from_claims, locked, redeemed, expired,
/// void, discount given, paid amount of the orders)`.
pub type GroupFigures = (Option<Uuid>, i64, i64, i64, i64, i64, i64, i64, i64);

/// The figures of a template's coupons, one row per claim group.
pub async fn figures(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    template: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<GroupFigures>, sqlx::Error> {
    sqlx::query_as(
        "SELECT group_id,
                count(*) FILTER (WHERE issue_id IS NOT NULL),
                count(*) FILTER (WHERE issue_id IS NULL),
                count(*) FILTER (WHERE status = 'locked'),
                count(*) FILTER (WHERE status = 'redeemed'),
                count(*) FILTER (WHERE status = 'expired' OR (status = 'claimed' AND valid_until <= $3)),
                count(*) FILTER (WHERE status = 'void'),
                COALESCE(sum(discount_applied) FILTER (WHERE status = 'redeemed'), 0)::bigint,
                COALESCE(sum(order_amount) FILTER (WHERE status = 'redeemed'), 0)::bigint
         FROM coupons WHERE workspace_id = $1 AND template_id = $2
         GROUP BY group_id ORDER BY count(*) DESC, group_id NULLS LAST",
    )
    .bind(ws)
    .bind(template)
    .bind(now)
    .fetch_all(conn)
    .await
}

#[derive(FromRow)]
struct IssueRow {
    id: Uuid,
    template_id: Uuid,
    target: serde_json::Value,
    status: IssueStatus,
    total: i32,
    processed: i32,
    issued: i32,
    limit_reached: i32,
    not_eligible: i32,
    out_of_stock: i32,
    cursor: Option<Uuid>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<IssueRow> for (Issue, Option<Uuid>) {
    fn from(r: IssueRow) -> Self {
        let issue = Issue {
            id: r.id,
            template_id: r.template_id,
            target: r.target,
            status: r.status,
            total: r.total as i64,
            processed: r.processed as i64,
            issued: r.issued as i64,
            skipped: Skipped {
                limit_reached: r.limit_reached as i64,
                not_eligible: r.not_eligible as i64,
                out_of_stock: r.out_of_stock as i64,
            },
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        };
        (issue, r.cursor)
    }
}

const ISSUE_COLUMNS: &str = "id, template_id, target, status, total, processed, issued, limit_reached, not_eligible, \
                             out_of_stock, cursor, error, created_at, updated_at, finished_at";

/// Stores an issue (done, or queued with its members).
pub async fn insert_issue(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    i: &Issue,
    members: Option<&[MemberId]>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO coupon_issues (workspace_id, id, template_id, target, status, total, processed, issued,
             limit_reached, not_eligible, out_of_stock, created_at, updated_at, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)",
    )
    .bind(ws)
    .bind(i.id)
    .bind(i.template_id)
    .bind(&i.target)
    .bind(i.status)
    .bind(i.total as i32)
    .bind(i.processed as i32)
    .bind(i.issued as i32)
    .bind(i.skipped.limit_reached as i32)
    .bind(i.skipped.not_eligible as i32)
    .bind(i.skipped.out_of_stock as i32)
    .bind(i.created_at)
    .bind(i.finished_at)
    .execute(&mut *conn)
    .await?;
    if let Some(members) = members {
        sqlx::query(
            "INSERT INTO coupon_issue_members (workspace_id, issue_id, member_id)
             SELECT $1, $2, m FROM unnest($3::uuid[]) m ON CONFLICT DO NOTHING",
        )
        .bind(ws)
        .bind(i.id)
        .bind(members)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// One issue.
pub async fn get_issue(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<Issue>, sqlx::Error> {
    let sql = format!("SELECT {ISSUE_COLUMNS} FROM coupon_issues WHERE workspace_id = $1 AND id = $2");
    let row: Option<IssueRow> = sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await?;
    Ok(row.map(|r| <(Issue, Option<Uuid>)>::from(r).0))
}

/// Issues, newest first.
pub async fn list_issues(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    template: Option<Uuid>,
    status: Option<IssueStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Issue>, sqlx::Error> {
    let sql = format!(
        "SELECT {ISSUE_COLUMNS} FROM coupon_issues
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR template_id = $2) AND ($3::text IS NULL OR status = $3)
           AND ($4::uuid IS NULL OR id < $4)
         ORDER BY id DESC LIMIT $5"
    );
    let rows: Vec<IssueRow> =
        sqlx::query_as(&sql).bind(ws).bind(template).bind(status).bind(after).bind(limit).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| <(Issue, Option<Uuid>)>::from(r).0).collect())
}

/// The oldest unfinished issue no other instance holds, locked to the end
/// of the caller's transaction; with its cursor and workspace.
pub async fn take_pending_issue(
    conn: &mut PgConnection,
) -> Result<Option<(WorkspaceId, Issue, Option<Uuid>)>, sqlx::Error> {
    let sql = format!(
        "SELECT workspace_id, {ISSUE_COLUMNS} FROM coupon_issues WHERE status IN ('queued', 'running')
         ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED"
    );
    #[derive(FromRow)]
    struct Pending {
        workspace_id: Uuid,
        #[sqlx(flatten)]
        issue: IssueRow,
    }
    let row: Option<Pending> = sqlx::query_as(&sql).fetch_optional(conn).await?;
    Ok(row.map(|p| {
        let (issue, cursor) = p.issue.into();
        (WorkspaceId(p.workspace_id), issue, cursor)
    }))
}

/// The next `limit` members of an issue's target after `cursor`, in id
/// order, each with whether it is still a member to give to (one erased
/// since the issue was asked is skipped).
pub async fn issue_chunk(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    issue: Uuid,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<(MemberId, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.member_id, m.id IS NOT NULL AND m.erased_at IS NULL FROM coupon_issue_members t
         LEFT JOIN members m ON m.workspace_id = t.workspace_id AND m.id = t.member_id
         WHERE t.workspace_id = $1 AND t.issue_id = $2 AND ($3::uuid IS NULL OR t.member_id > $3)
         ORDER BY t.member_id LIMIT $4",
    )
    .bind(ws)
    .bind(issue)
    .bind(cursor)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Records a chunk: counts added, the cursor moved, and the status.
#[allow(clippy::too_many_arguments)]
pub async fn advance_issue(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    processed: i64,
    issued: i64,
    skipped: Skipped,
    cursor: Option<Uuid>,
    status: IssueStatus,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE coupon_issues SET processed = processed + $3, issued = issued + $4, limit_reached = limit_reached + $5,
             not_eligible = not_eligible + $6, out_of_stock = out_of_stock + $7, cursor = COALESCE($8, cursor),
             status = $9, error = $10, updated_at = $11,
             finished_at = CASE WHEN $9 IN ('done', 'failed') THEN $11 ELSE NULL END
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(processed as i32)
    .bind(issued as i32)
    .bind(skipped.limit_reached as i32)
    .bind(skipped.not_eligible as i32)
    .bind(skipped.out_of_stock as i32)
    .bind(cursor)
    .bind(status)
    .bind(error)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if matches!(status, IssueStatus::Done | IssueStatus::Failed) {
        // The target's snapshot has served its purpose.
        sqlx::query("DELETE FROM coupon_issue_members WHERE workspace_id = $1 AND issue_id = $2")
            .bind(ws)
            .bind(id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The template a campaign's posts show (`{{coupon.*}}`): its newest active one.
pub async fn campaign_template(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
) -> Result<Option<CouponTemplate>, sqlx::Error> {
    let sql = format!(
        "SELECT {TEMPLATE_COLUMNS} FROM coupon_templates
         WHERE workspace_id = $1 AND campaign_id = $2 AND status = 'active' ORDER BY id DESC LIMIT 1"
    );
    let row: Option<TemplateRow> = sqlx::query_as(&sql).bind(ws).bind(campaign).fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}
