//! All SQL of the points mall.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{
    CreateMallItem, LimitPeriod, MallItem, MallItemKind, MallItemStatus, MemberLimit, Redemption, RedemptionStatus,
};
use crate::ids::{MemberId, WorkspaceId};

#[derive(FromRow)]
struct ItemRow {
    id: Uuid,
    name: String,
    description: String,
    kind: MallItemKind,
    points_cost: i64,
    stock: Option<i64>,
    limit_count: Option<i32>,
    limit_period: Option<LimitPeriod>,
    tiers: Option<Vec<String>>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    status: MallItemStatus,
    auto_fulfil: bool,
    image_url: Option<String>,
    redeemed: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ItemRow> for MallItem {
    fn from(r: ItemRow) -> Self {
        MallItem {
            id: r.id,
            name: r.name,
            description: r.description,
            kind: r.kind,
            points_cost: r.points_cost,
            stock: r.stock,
            per_member_limit: r.limit_count.zip(r.limit_period).map(|(count, period)| MemberLimit { count, period }),
            tiers: r.tiers,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            status: r.status,
            auto_fulfil: r.auto_fulfil,
            image_url: r.image_url,
            redeemed: r.redeemed,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const ITEM: &str =
    "id, name, description, kind, points_cost, stock, limit_count, limit_period, tiers, starts_at, ends_at,
    status, auto_fulfil, image_url, redeemed, created_at, updated_at";
const REDEMPTION: &str = "id, item_id, member_id, quantity, points_spent, status, entry_id, tracking, fulfilled_at,
    cancelled_at, created_at, updated_at";

/// Items, newest first.
pub async fn list_items(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    status: Option<MallItemStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<MallItem>, sqlx::Error> {
    let rows: Vec<ItemRow> = sqlx::query_as(&format!(
        "SELECT {ITEM} FROM mall_items WHERE workspace_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(ws)
    .bind(status)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(MallItem::from).collect())
}

/// One item (locked with `for_update`).
pub async fn get_item(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    for_update: bool,
) -> Result<Option<MallItem>, sqlx::Error> {
    let lock = if for_update { "FOR UPDATE" } else { "" };
    let r: Option<ItemRow> =
        sqlx::query_as(&format!("SELECT {ITEM} FROM mall_items WHERE workspace_id = $1 AND id = $2 {lock}"))
            .bind(ws)
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(r.map(MallItem::from))
}

/// Inserts an item.
pub async fn insert_item(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    i: &CreateMallItem,
) -> Result<MallItem, sqlx::Error> {
    let r: ItemRow = sqlx::query_as(&format!(
        "INSERT INTO mall_items (workspace_id, id, name, description, kind, points_cost, stock, limit_count,
             limit_period, tiers, starts_at, ends_at, status, auto_fulfil, image_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {ITEM}"
    ))
    .bind(ws)
    .bind(Uuid::now_v7())
    .bind(i.name.trim())
    .bind(i.description.trim())
    .bind(i.kind)
    .bind(i.points_cost)
    .bind(i.stock)
    .bind(i.per_member_limit.map(|l| l.count))
    .bind(i.per_member_limit.map(|l| l.period))
    .bind(&i.tiers)
    .bind(i.starts_at)
    .bind(i.ends_at)
    .bind(i.status.unwrap_or(MallItemStatus::Active))
    .bind(i.auto_fulfil)
    .bind(&i.image_url)
    .fetch_one(conn)
    .await?;
    Ok(r.into())
}

/// Writes an item's changeable columns.
pub async fn save_item(conn: &mut PgConnection, ws: WorkspaceId, i: &MallItem) -> Result<MallItem, sqlx::Error> {
    let r: ItemRow = sqlx::query_as(&format!(
        "UPDATE mall_items SET name = $3, description = $4, points_cost = $5, stock = $6, limit_count = $7,
             limit_period = $8, tiers = $9, starts_at = $10, ends_at = $11, status = $12, auto_fulfil = $13,
             image_url = $14, updated_at = now()
         WHERE workspace_id = $1 AND id = $2 RETURNING {ITEM}"
    ))
    .bind(ws)
    .bind(i.id)
    .bind(&i.name)
    .bind(&i.description)
    .bind(i.points_cost)
    .bind(i.stock)
    .bind(i.per_member_limit.map(|l| l.count))
    .bind(i.per_member_limit.map(|l| l.period))
    .bind(&i.tiers)
    .bind(i.starts_at)
    .bind(i.ends_at)
    .bind(i.status)
    .bind(i.auto_fulfil)
    .bind(&i.image_url)
    .fetch_one(conn)
    .await?;
    Ok(r.into())
}

/// Deletes an item that was never redeemed; `None` when missing, `Some(false)` when redeemed.
pub async fn delete_item(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<bool>, sqlx::Error> {
    let used: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM mall_redemptions WHERE workspace_id = $1 AND item_id = $2)")
            .bind(ws)
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    if used {
        return Ok(Some(false));
    }
    let r = sqlx::query("DELETE FROM mall_items WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok((r.rows_affected() == 1).then_some(true))
}

/// Takes `quantity` units of an active item in its window at `now`: the
/// guard against overselling (`stock >= quantity` in the same statement
/// that decrements; concurrent redeemers queue on the row and re-check).
/// Returns the cost per unit, or None when out of stock (or not on sale).
pub async fn take_stock(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    quantity: i32,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE mall_items SET stock = stock - $3, redeemed = redeemed + $3
         WHERE workspace_id = $1 AND id = $2 AND status = 'active' AND (stock IS NULL OR stock >= $3)
           AND (starts_at IS NULL OR starts_at <= $4) AND (ends_at IS NULL OR ends_at > $4)
         RETURNING points_cost",
    )
    .bind(ws)
    .bind(id)
    .bind(quantity as i64)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Gives back units of a cancelled redemption.
pub async fn restore_stock(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    quantity: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mall_items SET stock = stock + $3, redeemed = redeemed - $3 WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(quantity as i64)
    .execute(conn)
    .await?;
    Ok(())
}

/// Units of an item a member redeemed (not cancelled) since `since`.
pub async fn redeemed_since(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    item: Uuid,
    member: MemberId,
    since: Option<DateTime<Utc>>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(quantity), 0)::int8 FROM mall_redemptions
         WHERE workspace_id = $1 AND item_id = $2 AND member_id = $3 AND status <> 'cancelled'
           AND ($4::timestamptz IS NULL OR created_at >= $4)",
    )
    .bind(ws)
    .bind(item)
    .bind(member)
    .bind(since)
    .fetch_one(conn)
    .await
}

/// Inserts a redemption.
pub async fn insert_redemption(conn: &mut PgConnection, ws: WorkspaceId, r: &Redemption) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mall_redemptions (workspace_id, id, item_id, member_id, quantity, points_spent, status, entry_id,
             fulfilled_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(ws)
    .bind(r.id)
    .bind(r.item_id)
    .bind(r.member_id)
    .bind(r.quantity)
    .bind(r.points_spent)
    .bind(r.status)
    .bind(r.entry_id)
    .bind(r.fulfilled_at)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One redemption (locked with `for_update`).
pub async fn get_redemption(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    for_update: bool,
) -> Result<Option<Redemption>, sqlx::Error> {
    let lock = if for_update { "FOR UPDATE" } else { "" };
    sqlx::query_as(&format!("SELECT {REDEMPTION} FROM mall_redemptions WHERE workspace_id = $1 AND id = $2 {lock}"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Moves a redemption to `status` (with its tracking and times).
pub async fn set_status(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    status: RedemptionStatus,
    tracking: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Redemption, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE mall_redemptions SET status = $3, tracking = COALESCE($4, tracking),
             fulfilled_at = CASE WHEN $3 = 'fulfilled' THEN $5 ELSE fulfilled_at END,
             cancelled_at = CASE WHEN $3 = 'cancelled' THEN $5 ELSE cancelled_at END, updated_at = now()
         WHERE workspace_id = $1 AND id = $2 RETURNING {REDEMPTION}"
    ))
    .bind(ws)
    .bind(id)
    .bind(status)
    .bind(tracking)
    .bind(at)
    .fetch_one(conn)
    .await
}

/// Redemption filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub member: Option<MemberId>,
    pub item: Option<Uuid>,
    pub status: Option<RedemptionStatus>,
}

/// Redemptions, newest first.
pub async fn list_redemptions(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Redemption>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {REDEMPTION} FROM mall_redemptions WHERE workspace_id = $1 AND ($2::uuid IS NULL OR member_id = $2)
           AND ($3::uuid IS NULL OR item_id = $3) AND ($4::text IS NULL OR status = $4)
           AND ($5::uuid IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
    ))
    .bind(ws)
    .bind(f.member)
    .bind(f.item)
    .bind(f.status)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}
