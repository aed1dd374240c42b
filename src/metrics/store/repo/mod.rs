//! The SQL of the metrics over rows: member-day rollups (or, for a timezone
//! other than the workspace's, the raw events bucketed into local days by
//! the application's day bounds, as the rollup does), membership stints,
//! orders and funnel events; per-group reads in `groups`. The day sets have
//! their reads in `sets`. Every query is scoped by workspace, by the
//! request's groups, staff rule and join-source rule.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::metrics::params::Ctx;

mod groups;
mod invites;
mod members;
pub use groups::*;
pub use invites::{invites, InviteRow};
pub use members::{member_totals, MemberTotal};

/// The member filter every query shares: `$1` workspace, `$4` groups (NULL:
/// all), `$5` include staff, `$6` join source (NULL: any). `{m}` is the
/// member id column.
pub(crate) fn member_filter(m: &str) -> String {
    format!(
        "($5 OR NOT EXISTS (SELECT 1 FROM members x WHERE x.workspace_id = $1 AND x.id = {m} AND (x.is_staff OR x.is_bot)))
         AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM memberships js WHERE js.workspace_id = $1 AND js.member_id = {m}
              AND js.source = $6 AND ($4::uuid[] IS NULL OR js.group_id = ANY($4))))"
    )
}

/// The SQL as the planner should see it: the generic `$4 IS NULL OR …`,
/// `$5 OR …` and `$6 IS NULL OR …` of the shared filters become constants
/// for this request (`TRUE OR …` folds away), so PostgreSQL plans with the
/// real selectivity instead of a plan for every case.
pub(crate) fn planned(sql: &str, c: &Ctx, groups: bool) -> String {
    let staff = if c.include_staff { "(TRUE OR NOT EXISTS" } else { "(NOT EXISTS" };
    let source = if c.scope.source.is_none() { "(TRUE OR EXISTS" } else { "(EXISTS" };
    let scope = if groups { "(" } else { "(TRUE OR " };
    sql.replace("($5 OR NOT EXISTS", staff)
        .replace("($6::text IS NULL OR EXISTS", source)
        .replace("($4::uuid[] IS NULL OR ", scope)
}

/// Each counted member's active days in `[lo, hi]`, as offsets from `lo`
/// (`only`: just these members).
pub async fn active_days(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
    only: Option<&[Uuid]>,
) -> Result<Vec<(Uuid, Vec<i32>)>, sqlx::Error> {
    let m = if c.rollup_days { "d.member_id" } else { "e.member_id" };
    let only_sql = if only.is_some() { format!("AND {m} = ANY($11)") } else { String::new() };
    let sql = if c.rollup_days {
        format!(
            "SELECT d.member_id, array_agg(DISTINCT d.day - $2) FROM metric_member_days d
             WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3 AND d.active_events > 0
               AND ($4::uuid[] IS NULL OR d.group_id = ANY($4)) AND {} {only_sql}
             GROUP BY d.member_id",
            member_filter(m)
        )
    } else {
        format!(
            "SELECT e.member_id, array_agg(DISTINCT width_bucket(e.occurred_at, $7::timestamptz[]) - 1) FROM events e
             WHERE e.workspace_id = $1 AND e.occurred_at >= $8 AND e.occurred_at < $9 AND e.member_id IS NOT NULL
               AND e.type = ANY($10)
               AND ($4::uuid[] IS NULL OR COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4)) AND {}
               {only_sql}
             GROUP BY e.member_id",
            member_filter(m)
        )
    };
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_range(sqlx::query_as(&sql), c, lo, hi).bind(only).fetch_all(conn).await
}

/// How many counted members were active on a day of `[lo, hi]`.
pub async fn active_members(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<i64, sqlx::Error> {
    let sql = if c.rollup_days {
        format!(
            "SELECT count(*) FROM (SELECT DISTINCT d.member_id FROM metric_member_days d
             WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3 AND d.active_events > 0
               AND ($4::uuid[] IS NULL OR d.group_id = ANY($4)) AND {}) m",
            member_filter("d.member_id")
        )
    } else {
        format!(
            "SELECT count(*) FROM (SELECT DISTINCT e.member_id FROM events e
             WHERE e.workspace_id = $1 AND e.occurred_at >= $8 AND e.occurred_at < $9 AND e.member_id IS NOT NULL
               AND e.type = ANY($10)
               AND ($4::uuid[] IS NULL OR COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4)) AND {}) m",
            member_filter("e.member_id")
        )
    };
    let sql = planned(&sql, c, c.scope.groups.is_some());
    let (n,): (i64,) = bind_range(sqlx::query_as(&sql), c, lo, hi).fetch_one(conn).await?;
    Ok(n)
}

/// `message_sent` events of counted members per day of `[lo, hi]` (offset from `lo`, count).
pub async fn messages(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<(i32, i64)>, sqlx::Error> {
    let sql = if c.rollup_days {
        format!(
            "SELECT d.day - $2, sum(d.messages)::int8 FROM metric_member_days d
             WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3 AND d.messages > 0
               AND ($4::uuid[] IS NULL OR d.group_id = ANY($4)) AND {}
             GROUP BY 1",
            member_filter("d.member_id")
        )
    } else {
        format!(
            "SELECT width_bucket(e.occurred_at, $7::timestamptz[]) - 1, count(*) FROM events e
             WHERE e.workspace_id = $1 AND e.occurred_at >= $8 AND e.occurred_at < $9 AND e.member_id IS NOT NULL
               AND e.type = 'message_sent'
               AND ($4::uuid[] IS NULL OR COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4)) AND {}
             GROUP BY 1",
            member_filter("e.member_id")
        )
    };
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_range(sqlx::query_as(&sql), c, lo, hi).fetch_all(conn).await
}

type Q<'q, T> = sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>;

/// Binds `$1`-`$10`: workspace, local days `lo..=hi`, the member filter's
/// parameters, the days' bounds and their first and last instants, the active types.
fn bind_range<'q, T>(q: Q<'q, T>, c: &'q Ctx, lo: NaiveDate, hi: NaiveDate) -> Q<'q, T> {
    let bounds = crate::metrics::period::day_bounds(c.tz, lo, hi);
    let (start, end) = (bounds.first().copied(), bounds.last().copied());
    q.bind(c.ws)
        .bind(lo)
        .bind(hi)
        .bind(c.scope.groups.as_deref())
        .bind(c.include_staff)
        .bind(c.scope.source)
        .bind(bounds)
        .bind(start)
        .bind(end)
        .bind(&c.active_types)
}

/// Each counted member active on a day of `[lo, hi]`, with the first
/// instant they were ever active in the scope — or None when that was
/// before `lo` (one index probe per member instead of reading their whole
/// history: callers only need to know it was earlier).
pub async fn first_active(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<(Uuid, Option<DateTime<Utc>>, Option<i32>)>, sqlx::Error> {
    let sql = if c.rollup_days {
        format!(
            "WITH a AS (SELECT d.member_id, min(d.first_active_at) AS first_in FROM metric_member_days d
                 WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3 AND d.active_events > 0
                   AND ($4::uuid[] IS NULL OR d.group_id = ANY($4)) AND {}
                 GROUP BY d.member_id)
             SELECT a.member_id, CASE WHEN EXISTS (SELECT 1 FROM metric_member_days p
                     WHERE p.workspace_id = $1 AND p.member_id = a.member_id AND p.day < $2 AND p.active_events > 0
                       AND ($4::uuid[] IS NULL OR p.group_id = ANY($4)))
                 THEN NULL ELSE a.first_in END,
                (SELECT i.idx FROM metric_member_index i WHERE i.workspace_id = $1 AND i.member_id = a.member_id)
             FROM a",
            member_filter("d.member_id")
        )
    } else {
        format!(
            "WITH a AS (SELECT e.member_id, min(e.occurred_at) AS first_in FROM events e
                 WHERE e.workspace_id = $1 AND e.occurred_at >= $8 AND e.occurred_at < $9 AND e.member_id IS NOT NULL
                   AND e.type = ANY($10)
                   AND ($4::uuid[] IS NULL OR COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4))
                   AND {}
                 GROUP BY e.member_id)
             SELECT a.member_id, CASE WHEN EXISTS (SELECT 1 FROM events p
                     WHERE p.workspace_id = $1 AND p.member_id = a.member_id AND p.occurred_at < $8
                       AND p.type = ANY($10)
                       AND ($4::uuid[] IS NULL OR COALESCE(p.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4)))
                 THEN NULL ELSE a.first_in END,
                (SELECT i.idx FROM metric_member_index i WHERE i.workspace_id = $1 AND i.member_id = a.member_id)
             FROM a",
            member_filter("e.member_id")
        )
    };
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_range(sqlx::query_as(&sql), c, lo, hi).fetch_all(conn).await
}

/// Binds `$1`-`$6`: workspace, the instants `lo` and `hi`, and the member
/// filter's groups, staff rule and join source.
fn bind_scope<'q, T>(
    q: Q<'q, T>,
    c: &'q Ctx,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    groups: Option<&'q [Uuid]>,
) -> Q<'q, T> {
    q.bind(c.ws).bind(lo).bind(hi).bind(groups).bind(c.include_staff).bind(c.scope.source)
}

/// The filter on `memberships s` every stint read shares: counted members'
/// stints in the scope's groups overlapping `[$2, $3)` (zero-length ones
/// never count). Binds as [`bind_scope`].
fn overlapping_stints() -> String {
    format!(
        "s.workspace_id = $1 AND s.joined_at < $3 AND (s.left_at IS NULL OR s.left_at > $2)
         AND s.left_at IS DISTINCT FROM s.joined_at
         AND ($4::uuid[] IS NULL OR s.group_id = ANY($4)) AND {}",
        member_filter("s.member_id")
    )
}

/// A membership stint as metrics see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stint {
    pub member_id: Uuid,
    pub group_id: Uuid,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub source: String,
    pub inviter_id: Option<Uuid>,
}

/// Stints of counted members in the scope's groups overlapping the period
/// (the half-open interval `[joined_at, left_at)` is when they belong).
pub async fn stints(conn: &mut PgConnection, c: &Ctx) -> Result<Vec<Stint>, sqlx::Error> {
    let (lo, hi) = c.bounds();
    stints_between(conn, c, lo, hi).await
}

/// Stints of counted members in the scope's groups overlapping `[lo, hi)`.
pub async fn stints_between(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> Result<Vec<Stint>, sqlx::Error> {
    let sql = format!(
        "SELECT s.member_id, s.group_id, s.joined_at, s.left_at, s.source, s.inviter_id FROM memberships s
         WHERE {}",
        overlapping_stints()
    );
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_scope(sqlx::query_as(&sql), c, lo, hi, c.scope.groups.as_deref()).fetch_all(conn).await
}

/// Orders of counted members paid or refunded in `[lo, hi)` (flagged when
/// in another currency than the workspace's), attributed (the event's campaign, else the member's last
/// campaign click in `[paid_at - attribution, paid_at]`: kept by the rollup
/// for the default window, searched per order for another). `groups` filters
/// by the order's group (None: any). Only the columns `want` names are read
/// (the others are NULL).
#[allow(clippy::too_many_arguments)]
pub async fn orders(
    conn: &mut PgConnection,
    c: &Ctx,
    groups: Option<&[Uuid]>,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    attribution: chrono::Duration,
    want: OrderColumns,
    part: OrdersPart,
) -> Result<Vec<crate::metrics::store::rows::Order>, sqlx::Error> {
    let paid_or_refunded = "((o.paid_at >= $2 AND o.paid_at < $3) OR (o.refunded_at >= $2 AND o.refunded_at < $3))";
    let (part_sql, split) = match part {
        OrdersPart::PaidBefore(t) => (format!("{paid_or_refunded} AND o.paid_at < $9"), t),
        OrdersPart::PaidFrom(t) => (format!("{paid_or_refunded} AND o.paid_at >= $9"), t),
        OrdersPart::RefundedPaidBefore(t) => {
            ("o.refunded_at >= $2 AND o.refunded_at < $3 AND o.paid_at < $9".into(), t)
        }
    };
    // The groups' tiers only when the report is by tier; no order (the
    // report sums, and sorting order ids by collation costs more than the sums).
    let (tier, join) = if want.tier {
        ("g.tier", "LEFT JOIN groups g ON g.workspace_id = o.workspace_id AND g.id = o.group_id")
    } else {
        ("NULL::text", "")
    };
    let group = if want.group { "o.group_id" } else { "NULL::uuid" };
    let campaign = if !want.campaign {
        "NULL::uuid"
    } else if attribution == chrono::Duration::days(crate::metrics::store::rows::DEFAULT_ATTRIBUTION_DAYS) {
        "COALESCE(o.campaign_id, o.click_campaign_id)"
    } else {
        "COALESCE(o.campaign_id, (
             SELECT k.campaign_id FROM metric_campaign_clicks k
             WHERE k.workspace_id = $1 AND k.member_id = o.member_id
               AND k.clicked_at <= o.paid_at AND k.clicked_at >= o.paid_at - make_interval(secs => $8)
             ORDER BY k.clicked_at DESC, k.event_id DESC LIMIT 1))"
    };
    let sql = format!(
        "SELECT o.member_id, {group} AS group_id, {tier} AS tier, o.paid_at, o.amount, o.refunded_at,
                COALESCE(o.currency, $7) <> $7 AS other_currency,
                LEAST(COALESCE(o.refund_amount, o.amount), o.amount) AS refund,
                {campaign} AS campaign_id
         FROM metric_orders o {join}
         WHERE o.workspace_id = $1 AND o.paid_at IS NOT NULL AND {part_sql}
           AND ($4::uuid[] IS NULL OR o.group_id = ANY($4))
           AND {}",
        member_filter("o.member_id")
    );
    let sql = planned(&sql, c, groups.is_some());
    bind_scope(sqlx::query_as(&sql), c, lo, hi, groups)
        .bind(&c.currency)
        .bind(attribution.num_seconds() as f64)
        .bind(split)
        .fetch_all(conn)
        .await
}

/// Which attributes of the orders a report reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderColumns {
    pub group: bool,
    pub tier: bool,
    pub campaign: bool,
}

/// Which orders of a read (split on the payment instant, to read the halves
/// on two connections; orders are paid, so every one is in exactly one
/// half), or only the refunds of earlier payments (the packed payment days
/// hold the rest).
#[derive(Debug, Clone, Copy)]
pub enum OrdersPart {
    PaidBefore(DateTime<Utc>),
    PaidFrom(DateTime<Utc>),
    /// Only the orders refunded in the period and paid before this instant.
    RefundedPaidBefore(DateTime<Utc>),
}

/// Events of counted members of the given types in `[lo, end)` (the
/// scope's groups), sorted by member, time and id — only of members with an
/// event of type `first` in `[lo, hi)` (who can start an attempt);
/// `properties` only when asked.
#[allow(clippy::too_many_arguments)]
pub async fn funnel_events(
    conn: &mut PgConnection,
    c: &Ctx,
    first: &str,
    types: &[String],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    end: DateTime<Utc>,
    properties: bool,
) -> Result<Vec<crate::metrics::store::rows::Event>, sqlx::Error> {
    let in_scope = |e: &str| {
        format!("($4::uuid[] IS NULL OR COALESCE({e}.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4))")
    };
    let sql = format!(
        "WITH starters AS MATERIALIZED (
             SELECT DISTINCT s.member_id FROM events s
             WHERE s.workspace_id = $1 AND s.type = $9 AND s.occurred_at >= $2 AND s.occurred_at < $3
               AND s.member_id IS NOT NULL AND {})
         SELECT e.member_id, e.type, e.occurred_at, e.id, e.group_id, e.campaign_id, e.campaign_code,
                CASE WHEN $8 THEN e.properties END AS properties
         FROM starters st JOIN events e ON e.workspace_id = $1 AND e.member_id = st.member_id
         WHERE e.occurred_at >= $2 AND e.occurred_at < $10 AND e.type = ANY($7) AND {} AND {}
         ORDER BY e.member_id, e.occurred_at, e.id",
        in_scope("s"),
        in_scope("e"),
        member_filter("e.member_id")
    );
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_scope(sqlx::query_as(&sql), c, lo, hi, c.scope.groups.as_deref())
        .bind(types)
        .bind(properties)
        .bind(first)
        .bind(end)
        .fetch_all(conn)
        .await
}

/// `md(group_id, member_id, day, active, messages, check_ins, link_clicks,
/// coupons_claimed, coupons_redeemed, orders_paid, invites)`: counted
/// members' activity per group and local day of `[$2, $3]` in the scope —
/// from the rollups, or (another timezone) from the raw events bucketed the
/// same way. Binds as [`bind_range`].
fn member_days_cte(c: &Ctx) -> String {
    if c.rollup_days {
        format!(
            "md AS (SELECT d.group_id, d.member_id, d.day, d.active_events > 0 AS active, d.messages, d.check_ins,
                    d.link_clicks, d.coupons_claimed, d.coupons_redeemed, d.orders_paid, d.invites
                FROM metric_member_days d
                WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3
                  AND ($4::uuid[] IS NULL OR d.group_id = ANY($4)) AND {})",
            member_filter("d.member_id")
        )
    } else {
        format!(
            "md AS (SELECT COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') AS group_id, e.member_id,
                    $2::date + (width_bucket(e.occurred_at, $7::timestamptz[]) - 1) AS day,
                    bool_or(e.type = ANY($10)) AS active,
                    (count(*) FILTER (WHERE e.type = 'message_sent'))::int4 AS messages,
                    (count(*) FILTER (WHERE e.type = 'checked_in'))::int4 AS check_ins,
                    (count(*) FILTER (WHERE e.type = 'link_clicked'))::int4 AS link_clicks,
                    (count(*) FILTER (WHERE e.type = 'coupon_claimed'))::int4 AS coupons_claimed,
                    (count(*) FILTER (WHERE e.type = 'coupon_redeemed'))::int4 AS coupons_redeemed,
                    (count(*) FILTER (WHERE e.type = 'order_paid'))::int4 AS orders_paid,
                    (count(*) FILTER (WHERE e.type = 'member_invited'))::int4 AS invites
                FROM events e
                WHERE e.workspace_id = $1 AND e.occurred_at >= $8 AND e.occurred_at < $9 AND e.member_id IS NOT NULL
                  AND ($4::uuid[] IS NULL OR COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4))
                  AND {}
                GROUP BY 1, 2, 3)",
            member_filter("e.member_id")
        )
    }
}

/// One member's event counts per local day of `[lo, hi]` across every group
/// (the member's own engagement: staff included).
pub async fn member_day_counts(
    conn: &mut PgConnection,
    c: &Ctx,
    member: Uuid,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<(NaiveDate, crate::metrics::store::points::DayCounts)>, sqlx::Error> {
    let sql = format!(
        "WITH {}
         SELECT day, sum(messages)::int8, sum(check_ins)::int8, sum(link_clicks)::int8, sum(coupons_claimed)::int8,
                sum(coupons_redeemed)::int8, sum(orders_paid)::int8, sum(invites)::int8
         FROM md WHERE member_id = $11 GROUP BY day ORDER BY day",
        member_days_cte(c)
    );
    type Row = (NaiveDate, i64, i64, i64, i64, i64, i64, i64);
    let sql = planned(&sql, c, c.scope.groups.is_some());
    let rows: Vec<Row> = bind_range(sqlx::query_as(&sql), c, lo, hi).bind(member).fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(d, messages, check_ins, link_clicks, coupons_claimed, coupons_redeemed, orders_paid, invites)| {
            let counts = crate::metrics::store::points::DayCounts {
                messages,
                check_ins,
                link_clicks,
                coupons_claimed,
                coupons_redeemed,
                orders_paid,
                invites,
            };
            (d, counts)
        })
        .collect())
}
