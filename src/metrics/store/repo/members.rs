//! Per-member totals over a window, for rules that judge members (the tier
//! rules): paid orders and their amount, and days with activity.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use crate::ids::{MemberId, WorkspaceId};

/// A per-member total the rollups hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberTotal {
    /// Amount of orders paid in `lo..hi`, in the workspace's currency.
    Gmv,
    /// Orders paid in `lo..hi`.
    Orders,
    /// Local days `from..=to` with an activity event.
    ActiveDays,
}

/// `total` for every member who has one.
pub async fn member_totals(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    total: MemberTotal,
    (from, to): (NaiveDate, NaiveDate),
    (lo, hi): (DateTime<Utc>, DateTime<Utc>),
) -> Result<HashMap<MemberId, i64>, sqlx::Error> {
    let rows: Vec<(MemberId, i64)> = match total {
        MemberTotal::Gmv => {
            sqlx::query_as(
                "SELECT o.member_id, COALESCE(sum(o.amount), 0)::int8 FROM metric_orders o
                 JOIN workspaces w ON w.id = o.workspace_id
                 WHERE o.workspace_id = $1 AND o.paid_at >= $2 AND o.paid_at < $3 AND o.member_id IS NOT NULL
                   AND o.currency = w.currency
                 GROUP BY o.member_id",
            )
            .bind(ws)
            .bind(lo)
            .bind(hi)
            .fetch_all(conn)
            .await?
        }
        MemberTotal::Orders => {
            sqlx::query_as(
                "SELECT member_id, count(*)::int8 FROM metric_orders
                 WHERE workspace_id = $1 AND paid_at >= $2 AND paid_at < $3 AND member_id IS NOT NULL
                 GROUP BY member_id",
            )
            .bind(ws)
            .bind(lo)
            .bind(hi)
            .fetch_all(conn)
            .await?
        }
        MemberTotal::ActiveDays => {
            sqlx::query_as(
                "SELECT member_id, count(DISTINCT day)::int8 FROM metric_member_days
                 WHERE workspace_id = $1 AND day BETWEEN $2 AND $3 AND active_events > 0
                 GROUP BY member_id",
            )
            .bind(ws)
            .bind(from)
            .bind(to)
            .fetch_all(conn)
            .await?
        }
    };
    Ok(rows.into_iter().collect())
}
