//! Packed orders per local payment day (`metric_order_days`): what the
//! commerce report of the default attribution window reads instead of one
//! `metric_orders` row per order (~10,000 rows for 30 days of a
//! 100,000-member workspace, most of the report's time went to fetching and
//! decoding them).
//!
//! A day's row holds every order paid on that local day (workspace
//! timezone), in no particular order, each packed big-endian as
//!
//! | bytes | field |
//! |---|---|
//! | 4  | member number (`metric_member_index.idx`), -1 without a member |
//! | 8  | `paid_at`, µs since the Unix epoch |
//! | 8  | amount (minor units) |
//! | 8  | `refunded_at`, µs; `i64::MAX` while not refunded |
//! | 8  | refund, already capped at the amount |
//! | 16 | group id (nil: none) |
//! | 16 | campaign: the event's, else the last click within the default window (nil: organic) |
//! | 3  | currency code (spaces: none, read as the workspace's) |
//!
//! The rollup repacks a day whenever one of its orders can have changed:
//! its own events were rolled up, a refund of one of its orders was, or a
//! late campaign click re-attributed one of them (see `rollup::aggregate`).
//! Members and staff are masked per request, like the day sets.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::metrics::period::{day_start, local_day};
use crate::metrics::store::packed::{be_i32, be_i64, Mask};
use crate::metrics::store::rows::Order;
use crate::workspaces::model::Workspace;

/// Bytes of one packed order.
pub const RECORD: usize = 4 + 8 * 4 + 16 * 2 + 3;

/// Repacks the given local days of a workspace from `metric_orders` (a day
/// without paid orders loses its row).
pub async fn pack(conn: &mut PgConnection, w: &Workspace, days: &BTreeSet<NaiveDate>) -> Result<(), sqlx::Error> {
    if days.is_empty() {
        return Ok(());
    }
    let zone = crate::clock::zone(&w.timezone);
    let days: Vec<NaiveDate> = days.iter().copied().collect();
    let starts: Vec<DateTime<Utc>> = days.iter().map(|d| day_start(zone, *d)).collect();
    let ends: Vec<DateTime<Utc>> = days.iter().filter_map(|d| d.succ_opt()).map(|d| day_start(zone, d)).collect();
    sqlx::query("DELETE FROM metric_order_days WHERE workspace_id = $1 AND day = ANY($2)")
        .bind(w.id)
        .bind(&days)
        .execute(&mut *conn)
        .await?;
    sqlx::query(include_str!("sql/order_days.sql"))
        .bind(w.id)
        .bind(&days)
        .bind(&starts)
        .bind(&ends)
        .execute(conn)
        .await?;
    Ok(())
}

/// The local days of these instants.
pub fn days_of(w: &Workspace, times: &[DateTime<Utc>]) -> BTreeSet<NaiveDate> {
    let zone = crate::clock::zone(&w.timezone);
    times.iter().map(|t| local_day(zone, *t)).collect()
}

/// Filters of a read of packed orders.
pub struct Filter<'a> {
    /// Counted members (by number); orders without a member count unless only named members do.
    pub mask: &'a Mask,
    /// Only orders of these groups (None: any group, or none).
    pub groups: Option<&'a std::collections::HashSet<Uuid>>,
    /// The workspace currency (orders in another are flagged).
    pub currency: &'a str,
}

/// The orders of the packed days `[from, to]` (workspace timezone) that
/// pass the filter; tiers are not filled in.
pub async fn read(
    conn: &mut PgConnection,
    ws: crate::ids::WorkspaceId,
    from: NaiveDate,
    to: NaiveDate,
    filter: &Filter<'_>,
) -> Result<Vec<Order>, sqlx::Error> {
    let rows: Vec<(i32, Vec<u8>)> =
        sqlx::query_as("SELECT orders, data FROM metric_order_days WHERE workspace_id = $1 AND day BETWEEN $2 AND $3")
            .bind(ws)
            .bind(from)
            .bind(to)
            .fetch_all(conn)
            .await?;
    let mut out = Vec::with_capacity(rows.iter().map(|(n, _)| usize::try_from(*n).unwrap_or(0)).sum());
    for (_, data) in &rows {
        decode(data, filter, &mut out);
    }
    Ok(out)
}

fn instant(us: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_micros(us).single()
}

/// Appends the orders of one packed value that pass the filter (a
/// truncated trailing record is ignored).
pub fn decode(data: &[u8], filter: &Filter<'_>, out: &mut Vec<Order>) {
    let uuid_at = |b: &[u8], at: usize| {
        let mut x = [0u8; 16];
        x.copy_from_slice(&b[at..at + 16]);
        Some(Uuid::from_bytes(x)).filter(|u| !u.is_nil())
    };
    for r in data.chunks_exact(RECORD) {
        let idx = u32::try_from(be_i32(r, 0)).ok();
        let kept = match idx {
            Some(i) => filter.mask.keeps(i),
            None => filter.mask.keeps_no_member(),
        };
        if !kept {
            continue;
        }
        let group_id = uuid_at(r, 36);
        if let Some(groups) = filter.groups {
            if !group_id.is_some_and(|g| groups.contains(&g)) {
                continue;
            }
        }
        let Some(paid_at) = instant(be_i64(r, 4)) else { continue };
        let refunded = be_i64(r, 20);
        let currency = &r[68..71];
        out.push(Order {
            member_id: None,
            idx,
            group_id,
            tier: None,
            paid_at,
            amount: be_i64(r, 12),
            refunded_at: (refunded != i64::MAX).then(|| instant(refunded)).flatten(),
            other_currency: currency != b"   " && currency != filter.currency.as_bytes(),
            refund: be_i64(r, 28),
            campaign_id: uuid_at(r, 52),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(idx: i32, paid: i64, refunded: i64, group: Option<Uuid>, currency: &[u8; 3]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(idx.to_be_bytes());
        r.extend(paid.to_be_bytes());
        r.extend(500i64.to_be_bytes());
        r.extend(refunded.to_be_bytes());
        r.extend(200i64.to_be_bytes());
        r.extend(group.unwrap_or_default().as_bytes());
        r.extend(Uuid::from_u128(9).as_bytes());
        r.extend(currency);
        assert_eq!(r.len(), RECORD);
        r
    }

    #[test]
    fn decodes_records_and_applies_the_filter() {
        let g = Uuid::from_u128(7);
        let mut data = record(3, 1_000_000, i64::MAX, Some(g), b"CNY");
        data.extend(record(-1, 2_000_000, 3_000_000, None, b"   "));
        data.extend(record(5, 4_000_000, i64::MAX, Some(Uuid::from_u128(8)), b"USD"));
        data.extend([1, 2, 3]); // truncated
        let mask = Mask::default();
        let mut out = Vec::new();
        decode(&data, &Filter { mask: &mask, groups: None, currency: "CNY" }, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].idx, out[0].group_id, out[0].refunded_at), (Some(3), Some(g), None));
        assert_eq!(out[0].paid_at.timestamp(), 1);
        assert_eq!((out[0].amount, out[0].refund, out[0].other_currency), (500, 200, false));
        assert_eq!(out[0].campaign_id, Some(Uuid::from_u128(9)));
        assert_eq!(
            (out[1].idx, out[1].group_id, out[1].other_currency),
            (None, None, false),
            "no currency: the workspace's"
        );
        assert!(out[2].other_currency);
        assert_eq!(out[1].refunded_at.map(|t| t.timestamp()), Some(3));
        let only: std::collections::HashSet<Uuid> = [g].into();
        let mut scoped = Vec::new();
        decode(&data, &Filter { mask: &mask, groups: Some(&only), currency: "CNY" }, &mut scoped);
        assert_eq!(scoped.len(), 1, "orders without a group are outside every group scope");
        assert_eq!(scoped[0].idx, Some(3));
        // A join-source scope keeps the members it names, never orders without a member.
        let named = Mask::only([5]);
        let mut sourced = Vec::new();
        decode(&data, &Filter { mask: &named, groups: None, currency: "CNY" }, &mut sourced);
        assert_eq!(sourced.iter().map(|o| o.idx).collect::<Vec<_>>(), vec![Some(5)]);
    }
}
