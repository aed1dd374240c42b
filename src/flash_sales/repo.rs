//! SQL of flash sales, their items, runs' stock, takers and reservations.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Occurrence, Reservation, ReservationStatus, SaleItem, SaleStatus, Schedule};
use crate::coupons::model::Eligibility;
use crate::ids::{CampaignId, MemberId, WorkspaceId};

/// A sale as stored (items and stock read apart).
#[derive(Debug, Clone, FromRow)]
pub struct SaleRow {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub name: String,
    pub schedule: Json<Schedule>,
    pub eligible: Option<Json<Eligibility>>,
    pub reservation_minutes: i32,
    pub link: Option<String>,
    pub status: SaleStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SALE_COLUMNS: &str =
    "id, campaign_id, name, schedule, eligible, reservation_minutes, link, status, created_at, updated_at";

/// Stores a sale and its items.
pub async fn insert_sale(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    s: &SaleRow,
    items: &[SaleItem],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO flash_sales (workspace_id, id, campaign_id, name, schedule, eligible, reservation_minutes, status,
             created_at, updated_at, link)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
    )
    .bind(ws)
    .bind(s.id)
    .bind(s.campaign_id)
    .bind(&s.name)
    .bind(&s.schedule)
    .bind(&s.eligible)
    .bind(s.reservation_minutes)
    .bind(s.status)
    .bind(s.created_at)
    .bind(&s.link)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO flash_sale_items (workspace_id, sale_id, product_id, name, list_price, sale_price, stock,
             per_member_limit, position)
         SELECT $1, $2, p, n, l, s, st, lim, ord FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[],
             $7::int[], $8::int[]) WITH ORDINALITY AS x(p, n, l, s, st, lim, ord)",
    )
    .bind(ws)
    .bind(s.id)
    .bind(items.iter().map(|i| i.product_id.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.name.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.list_price).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.sale_price).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.stock).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.per_member_limit).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// One sale.
pub async fn get_sale(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<SaleRow>, sqlx::Error> {
    let sql = format!("SELECT {SALE_COLUMNS} FROM flash_sales WHERE workspace_id = $1 AND id = $2");
    sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await
}

/// Sales, newest first.
pub async fn list_sales(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Option<CampaignId>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SaleRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {SALE_COLUMNS} FROM flash_sales WHERE workspace_id = $1 AND ($2::uuid IS NULL OR campaign_id = $2)
           AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    sqlx::query_as(&sql).bind(ws).bind(campaign).bind(after).bind(limit).fetch_all(conn).await
}

/// Renames a sale, moves its status or changes its link (`Some(None)`: none).
pub async fn update_sale(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    name: Option<&str>,
    status: Option<SaleStatus>,
    link: Option<Option<&str>>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE flash_sales SET name = COALESCE($3, name), status = COALESCE($4, status), updated_at = $5,
             link = CASE WHEN $6 THEN $7 ELSE link END
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(name)
    .bind(status)
    .bind(now)
    .bind(link.is_some())
    .bind(link.flatten())
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// All a reservation reads before it writes, in one statement without a
/// transaction: the sale, the item, whether the member and the group are
/// in the workspace, the timezones that place the run, and the item's
/// runs on now as last committed.
#[derive(Debug, Clone)]
pub struct Context {
    pub sale: SaleRow,
    pub item: Option<SaleItem>,
    pub member_found: bool,
    /// `None`: no group asked; `Some(None)`: asked and not found.
    pub group_found: Option<Option<Option<String>>>,
    pub workspace_timezone: String,
    /// `(starts_at, available, a reservation is due)` of the runs on now.
    pub runs: Vec<(DateTime<Utc>, i64, bool)>,
}

#[derive(FromRow)]
struct ContextRow {
    #[sqlx(flatten)]
    sale: SaleRow,
    item_name: Option<String>,
    list_price: Option<i64>,
    sale_price: Option<i64>,
    stock: Option<i32>,
    per_member_limit: Option<i32>,
    member_found: bool,
    group_found: bool,
    group_timezone: Option<String>,
    workspace_timezone: String,
    run_starts: Vec<DateTime<Utc>>,
    run_available: Vec<i32>,
    run_due: Vec<bool>,
}

/// See [`Context`]; `None` when the sale is not in the workspace.
pub async fn context(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    sale: Uuid,
    product: &str,
    member: MemberId,
    group: Option<crate::ids::GroupId>,
    now: DateTime<Utc>,
) -> Result<Option<Context>, sqlx::Error> {
    let row: Option<ContextRow> = sqlx::query_as(
        "SELECT s.id, s.campaign_id, s.name, s.schedule, s.eligible, s.reservation_minutes, s.link, s.status,
                s.created_at, s.updated_at, i.name AS item_name, i.list_price, i.sale_price, i.stock, i.per_member_limit,
                EXISTS (SELECT 1 FROM members m WHERE m.workspace_id = $1 AND m.id = $4) AS member_found,
                EXISTS (SELECT 1 FROM groups g WHERE g.workspace_id = $1 AND g.id = $5) AS group_found,
                (SELECT g.timezone FROM groups g WHERE g.workspace_id = $1 AND g.id = $5) AS group_timezone,
                w.timezone AS workspace_timezone,
                COALESCE(r.starts, '{}') AS run_starts, COALESCE(r.available, '{}') AS run_available,
                COALESCE(r.due, '{}') AS run_due
         FROM flash_sales s
         JOIN workspaces w ON w.id = s.workspace_id
         LEFT JOIN flash_sale_items i ON i.workspace_id = s.workspace_id AND i.sale_id = s.id AND i.product_id = $3
         LEFT JOIN LATERAL (
             SELECT array_agg(st.starts_at) AS starts, array_agg(st.stock - st.reserved - st.sold) AS available,
                    array_agg(EXISTS (SELECT 1 FROM flash_sale_reservations x
                        WHERE x.workspace_id = st.workspace_id AND x.sale_id = st.sale_id
                          AND x.product_id = st.product_id AND x.starts_at = st.starts_at
                          AND x.status = 'reserved' AND x.expires_at <= $6)) AS due
             FROM flash_sale_stock st
             WHERE st.workspace_id = s.workspace_id AND st.sale_id = s.id AND st.product_id = $3
               AND st.starts_at <= $6 AND st.ends_at > $6
         ) r ON true
         WHERE s.workspace_id = $1 AND s.id = $2",
    )
    .bind(ws)
    .bind(sale)
    .bind(product)
    .bind(member)
    .bind(group)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        let item = match (r.item_name, r.list_price, r.sale_price, r.stock, r.per_member_limit) {
            (Some(name), Some(list_price), Some(sale_price), Some(stock), Some(per_member_limit)) => {
                Some(SaleItem { product_id: product.to_owned(), name, list_price, sale_price, stock, per_member_limit })
            }
            _ => None,
        };
        let runs = r
            .run_starts
            .into_iter()
            .zip(r.run_available)
            .zip(r.run_due)
            .map(|((at, available), due)| (at, available as i64, due))
            .collect();
        Context {
            sale: r.sale,
            item,
            member_found: r.member_found,
            group_found: group.map(|_| r.group_found.then_some(r.group_timezone)),
            workspace_timezone: r.workspace_timezone,
            runs,
        }
    }))
}

/// A sale's items in their order.
pub async fn items(conn: &mut PgConnection, ws: WorkspaceId, sale: Uuid) -> Result<Vec<SaleItem>, sqlx::Error> {
    let rows: Vec<(String, String, i64, i64, i32, i32)> = sqlx::query_as(
        "SELECT product_id, name, list_price, sale_price, stock, per_member_limit FROM flash_sale_items
         WHERE workspace_id = $1 AND sale_id = $2 ORDER BY position",
    )
    .bind(ws)
    .bind(sale)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, name, list_price, sale_price, stock, per_member_limit)| SaleItem {
            product_id,
            name,
            list_price,
            sale_price,
            stock,
            per_member_limit,
        })
        .collect())
}

/// The items of several sales, each with its sale, in their order.
pub async fn items_of(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    sales: &[Uuid],
) -> Result<Vec<(Uuid, SaleItem)>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, i64, i64, i32, i32)> = sqlx::query_as(
        "SELECT sale_id, product_id, name, list_price, sale_price, stock, per_member_limit FROM flash_sale_items
         WHERE workspace_id = $1 AND sale_id = ANY($2) ORDER BY sale_id, position",
    )
    .bind(ws)
    .bind(sales)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(sale, product_id, name, list_price, sale_price, stock, per_member_limit)| {
            (sale, SaleItem { product_id, name, list_price, sale_price, stock, per_member_limit })
        })
        .collect())
}

/// `(sale, starts_at, product, stock, reserved, sold)` of the touched items
/// of several runs.
#[allow(clippy::type_complexity)]
pub async fn runs_stock(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    runs: &[(Uuid, DateTime<Utc>)],
) -> Result<Vec<(Uuid, DateTime<Utc>, String, i32, i32, i32)>, sqlx::Error> {
    if runs.is_empty() {
        return Ok(vec![]);
    }
    sqlx::query_as(
        "SELECT s.sale_id, s.starts_at, s.product_id, s.stock, s.reserved, s.sold
         FROM unnest($2::uuid[], $3::timestamptz[]) AS k(sale_id, starts_at)
         JOIN flash_sale_stock s ON s.workspace_id = $1 AND s.sale_id = k.sale_id AND s.starts_at = k.starts_at",
    )
    .bind(ws)
    .bind(runs.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| r.1).collect::<Vec<_>>())
    .fetch_all(conn)
    .await
}

/// `(product, stock, reserved, sold)` of a run's items that were touched.
pub async fn run_stock(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    sale: Uuid,
    starts_at: DateTime<Utc>,
) -> Result<Vec<(String, i32, i32, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT product_id, stock, reserved, sold FROM flash_sale_stock
         WHERE workspace_id = $1 AND sale_id = $2 AND starts_at = $3",
    )
    .bind(ws)
    .bind(sale)
    .bind(starts_at)
    .fetch_all(conn)
    .await
}

/// Makes the stock row of an item's run (with the item's stock), if new.
pub async fn open_run(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    sale: Uuid,
    product: &str,
    run: Occurrence,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO flash_sale_stock (workspace_id, sale_id, product_id, starts_at, ends_at, stock)
         SELECT $1, $2, $3, $4, $5, stock FROM flash_sale_items
         WHERE workspace_id = $1 AND sale_id = $2 AND product_id = $3
         ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(sale)
    .bind(product)
    .bind(run.starts_at)
    .bind(run.ends_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One item's run: the key of its stock row.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub sale: Uuid,
    pub product: &'a str,
    pub starts_at: DateTime<Utc>,
}

/// Counts `quantity` toward a member's limit in a run: `true` when it stays
/// within `limit` (the upsert's row lock queues the member's concurrent tries).
pub async fn take_limit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    run: Run<'_>,
    member: MemberId,
    quantity: i32,
    limit: i32,
) -> Result<bool, sqlx::Error> {
    let Run { sale, product, starts_at } = run;
    let taken: Option<i32> = sqlx::query_scalar(
        "INSERT INTO flash_sale_takers (workspace_id, sale_id, product_id, starts_at, member_id, taken)
         SELECT $1, $2, $3, $4, $5, $6 WHERE $6 <= $7
         ON CONFLICT (workspace_id, sale_id, product_id, starts_at, member_id)
         DO UPDATE SET taken = flash_sale_takers.taken + $6 WHERE flash_sale_takers.taken + $6 <= $7
         RETURNING taken",
    )
    .bind(ws)
    .bind(sale)
    .bind(product)
    .bind(starts_at)
    .bind(member)
    .bind(quantity)
    .bind(limit)
    .fetch_optional(conn)
    .await?;
    Ok(taken.is_some())
}

/// What a guarded reservation found: the units left after it, or (when
/// refused) the units that were available.
pub enum Taken {
    Reserved { left: i64 },
    Short { available: i64 },
}

/// Holds `quantity` units of a run: raises `reserved` only while
/// `reserved + sold + quantity <= stock` (the row lock queues concurrent
/// reservations, and each sees what the one before left).
pub async fn reserve(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    sale: Uuid,
    product: &str,
    starts_at: DateTime<Utc>,
    quantity: i32,
    now: DateTime<Utc>,
) -> Result<Taken, sqlx::Error> {
    let left: Option<i32> = sqlx::query_scalar(
        "UPDATE flash_sale_stock SET reserved = reserved + $5,
             sold_out_at = CASE WHEN reserved + sold + $5 = stock THEN $6 ELSE sold_out_at END
         WHERE workspace_id = $1 AND sale_id = $2 AND product_id = $3 AND starts_at = $4
           AND reserved + sold + $5 <= stock
         RETURNING stock - reserved - sold",
    )
    .bind(ws)
    .bind(sale)
    .bind(product)
    .bind(starts_at)
    .bind(quantity)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(left) = left {
        return Ok(Taken::Reserved { left: left as i64 });
    }
    let available: i32 = sqlx::query_scalar(
        "SELECT stock - reserved - sold FROM flash_sale_stock
         WHERE workspace_id = $1 AND sale_id = $2 AND product_id = $3 AND starts_at = $4",
    )
    .bind(ws)
    .bind(sale)
    .bind(product)
    .bind(starts_at)
    .fetch_optional(conn)
    .await?
    .unwrap_or(0);
    Ok(Taken::Short { available: available as i64 })
}

/// Moves a reservation's units: `to_sold` (confirmed) from reserved to
/// sold, else back to the stock and out of the member's count.
pub async fn settle(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Reservation,
    to_sold: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE flash_sale_stock SET reserved = reserved - $5, sold = sold + CASE WHEN $6 THEN $5 ELSE 0 END,
             sold_out_at = CASE WHEN $6 THEN sold_out_at ELSE NULL END
         WHERE workspace_id = $1 AND sale_id = $2 AND product_id = $3 AND starts_at = $4",
    )
    .bind(ws)
    .bind(r.sale_id)
    .bind(&r.product_id)
    .bind(r.starts_at)
    .bind(r.quantity)
    .bind(to_sold)
    .execute(&mut *conn)
    .await?;
    if !to_sold {
        sqlx::query(
            "UPDATE flash_sale_takers SET taken = taken - $6
             WHERE workspace_id = $1 AND sale_id = $2 AND product_id = $3 AND starts_at = $4 AND member_id = $5",
        )
        .bind(ws)
        .bind(r.sale_id)
        .bind(&r.product_id)
        .bind(r.starts_at)
        .bind(r.member_id)
        .bind(r.quantity)
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[derive(FromRow)]
struct ReservationRow {
    id: Uuid,
    sale_id: Uuid,
    product_id: String,
    member_id: Uuid,
    quantity: i32,
    price: i64,
    status: ReservationStatus,
    order_id: Option<String>,
    starts_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl From<ReservationRow> for Reservation {
    fn from(r: ReservationRow) -> Self {
        Reservation {
            id: r.id,
            sale_id: r.sale_id,
            product_id: r.product_id,
            member_id: MemberId(r.member_id),
            quantity: r.quantity,
            price: r.price,
            status: r.status,
            order_id: r.order_id,
            starts_at: r.starts_at,
            expires_at: r.expires_at,
            created_at: r.created_at,
        }
    }
}

const RESERVATION_COLUMNS: &str =
    "id, sale_id, product_id, member_id, quantity, price, status, order_id, starts_at, expires_at, created_at";

/// Stores new reservations of one run and item (a batch of the writer).
pub async fn insert_reservations(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rs: &[Reservation],
) -> Result<(), sqlx::Error> {
    let Some(first) = rs.first() else { return Ok(()) };
    sqlx::query(
        "INSERT INTO flash_sale_reservations (workspace_id, id, sale_id, product_id, starts_at, member_id, quantity,
             price, status, expires_at, created_at, updated_at)
         SELECT $1, id, $2, $3, $4, member_id, quantity, price, 'reserved', expires_at, created_at, created_at
         FROM unnest($5::uuid[], $6::uuid[], $7::int[], $8::bigint[], $9::timestamptz[], $10::timestamptz[])
             AS x(id, member_id, quantity, price, expires_at, created_at)",
    )
    .bind(ws)
    .bind(first.sale_id)
    .bind(&first.product_id)
    .bind(first.starts_at)
    .bind(rs.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rs.iter().map(|r| r.member_id.0).collect::<Vec<_>>())
    .bind(rs.iter().map(|r| r.quantity).collect::<Vec<_>>())
    .bind(rs.iter().map(|r| r.price).collect::<Vec<_>>())
    .bind(rs.iter().map(|r| r.expires_at).collect::<Vec<_>>())
    .bind(rs.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks a run's stock row (`FOR NO KEY UPDATE`, as the guarded update's
/// own lock) to the end of the transaction; the units available.
pub async fn lock_run(conn: &mut PgConnection, ws: WorkspaceId, run: Run<'_>) -> Result<i64, sqlx::Error> {
    let available: Option<i32> = sqlx::query_scalar(
        "SELECT stock - reserved - sold FROM flash_sale_stock
         WHERE workspace_id = $1 AND sale_id = $2 AND product_id = $3 AND starts_at = $4 FOR NO KEY UPDATE",
    )
    .bind(ws)
    .bind(run.sale)
    .bind(run.product)
    .bind(run.starts_at)
    .fetch_optional(conn)
    .await?;
    Ok(available.unwrap_or(0) as i64)
}

/// [`take_limit`] for several distinct members at once (a writer's batch),
/// in member order so concurrent batches never wait in a cycle: the members
/// whose count stayed within `limit`.
pub async fn take_limits(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    run: Run<'_>,
    asks: &[(MemberId, i32)],
    limit: i32,
) -> Result<Vec<MemberId>, sqlx::Error> {
    let Run { sale, product, starts_at } = run;
    sqlx::query_scalar(
        "INSERT INTO flash_sale_takers (workspace_id, sale_id, product_id, starts_at, member_id, taken)
         SELECT $1, $2, $3, $4, m, q FROM unnest($5::uuid[], $6::int[]) AS x(m, q) WHERE q <= $7 ORDER BY m
         ON CONFLICT (workspace_id, sale_id, product_id, starts_at, member_id)
         DO UPDATE SET taken = flash_sale_takers.taken + EXCLUDED.taken
             WHERE flash_sale_takers.taken + EXCLUDED.taken <= $7
         RETURNING member_id",
    )
    .bind(ws)
    .bind(sale)
    .bind(product)
    .bind(starts_at)
    .bind(asks.iter().map(|a| a.0 .0).collect::<Vec<_>>())
    .bind(asks.iter().map(|a| a.1).collect::<Vec<_>>())
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Takes back what [`take_limit`] counted for a reservation not made.
pub async fn untake_limit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    run: Run<'_>,
    member: MemberId,
    quantity: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE flash_sale_takers SET taken = taken - $6
         WHERE workspace_id = $1 AND sale_id = $2 AND product_id = $3 AND starts_at = $4 AND member_id = $5",
    )
    .bind(ws)
    .bind(run.sale)
    .bind(run.product)
    .bind(run.starts_at)
    .bind(member)
    .bind(quantity)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a new reservation.
pub async fn insert_reservation(conn: &mut PgConnection, ws: WorkspaceId, r: &Reservation) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO flash_sale_reservations (workspace_id, id, sale_id, product_id, starts_at, member_id, quantity,
             price, status, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'reserved', $9, $10, $10)",
    )
    .bind(ws)
    .bind(r.id)
    .bind(r.sale_id)
    .bind(&r.product_id)
    .bind(r.starts_at)
    .bind(r.member_id)
    .bind(r.quantity)
    .bind(r.price)
    .bind(r.expires_at)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One reservation (`lock`: `FOR UPDATE`).
pub async fn get_reservation(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    lock: bool,
) -> Result<Option<Reservation>, sqlx::Error> {
    let sql = format!(
        "SELECT {RESERVATION_COLUMNS} FROM flash_sale_reservations WHERE workspace_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row: Option<ReservationRow> = sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}

/// Reservation filters.
#[derive(Debug, Default)]
pub struct ReservationFilter {
    pub sale: Option<Uuid>,
    pub member: Option<MemberId>,
    pub status: Option<ReservationStatus>,
}

/// Reservations, newest first.
pub async fn list_reservations(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &ReservationFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Reservation>, sqlx::Error> {
    let sql = format!(
        "SELECT {RESERVATION_COLUMNS} FROM flash_sale_reservations WHERE workspace_id = $1
           AND ($2::uuid IS NULL OR sale_id = $2) AND ($3::uuid IS NULL OR member_id = $3)
           AND ($4::text IS NULL OR status = $4) AND ($5::uuid IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
    );
    let rows: Vec<ReservationRow> = sqlx::query_as(&sql)
        .bind(ws)
        .bind(f.sale)
        .bind(f.member)
        .bind(f.status)
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Sets a reservation's status (and its order when confirmed).
pub async fn set_status(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    status: ReservationStatus,
    order: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE flash_sale_reservations SET status = $3, order_id = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(status)
        .bind(order)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `limit` reservations due to expire (`SKIP LOCKED`: one
/// being confirmed is left to its confirmer), in every workspace, or only
/// those of one run's item when `only` is given.
pub async fn due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    only: Option<(WorkspaceId, Uuid, &str, DateTime<Utc>)>,
    limit: i64,
) -> Result<Vec<(WorkspaceId, Reservation)>, sqlx::Error> {
    let (ws, sale, product, starts) = match only {
        Some((w, s, p, t)) => (Some(w), Some(s), Some(p), Some(t)),
        None => (None, None, None, None),
    };
    let sql = format!(
        "SELECT workspace_id, {RESERVATION_COLUMNS} FROM flash_sale_reservations
         WHERE status = 'reserved' AND expires_at <= $1
           AND ($2::uuid IS NULL OR (workspace_id = $2 AND sale_id = $3 AND product_id = $4 AND starts_at = $5))
         ORDER BY expires_at LIMIT $6 FOR UPDATE SKIP LOCKED"
    );
    let rows: Vec<DueRow> = sqlx::query_as(&sql)
        .bind(now)
        .bind(ws)
        .bind(sale)
        .bind(product)
        .bind(starts)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.workspace_id, r.reservation.into())).collect())
}

#[derive(FromRow)]
struct DueRow {
    workspace_id: WorkspaceId,
    #[sqlx(flatten)]
    reservation: ReservationRow,
}
