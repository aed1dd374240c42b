//! All SQL of the metrics: reads of the rollups (or, for a timezone other
//! than the workspace's, of the raw events bucketed into local days by the
//! application's day bounds, as the rollup does) and of membership stints. Every query is scoped by workspace, by the
//! request's groups, staff rule and join-source rule.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::params::Ctx;

/// The member filter every query shares: `$1` workspace, `$4` groups (NULL:
/// all), `$5` include staff, `$6` join source (NULL: any). `{m}` is the
/// member id column.
fn member_filter(m: &str) -> String {
    format!(
        "($5 OR NOT EXISTS (SELECT 1 FROM members x WHERE x.workspace_id = $1 AND x.id = {m} AND (x.is_staff OR x.is_bot)))
         AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM memberships js WHERE js.workspace_id = $1 AND js.member_id = {m}
              AND js.source = $6 AND ($4::uuid[] IS NULL OR js.group_id = ANY($4))))"
    )
}

/// Each counted member's active days in `[lo, hi]`, as offsets from `lo`.
pub async fn active_days(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<(Uuid, Vec<i32>)>, sqlx::Error> {
    let sql = if c.rollup_days {
        format!(
            "SELECT d.member_id, array_agg(DISTINCT d.day - $2) FROM metric_member_days d
             WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3 AND d.active_events > 0
               AND ($4::uuid[] IS NULL OR d.group_id = ANY($4)) AND {}
             GROUP BY d.member_id",
            member_filter("d.member_id")
        )
    } else {
        format!(
            "SELECT e.member_id, array_agg(DISTINCT width_bucket(e.occurred_at, $7::timestamptz[]) - 1) FROM events e
             WHERE e.workspace_id = $1 AND e.occurred_at >= $8 AND e.occurred_at < $9 AND e.member_id IS NOT NULL
               AND e.type = ANY($10)
               AND ($4::uuid[] IS NULL OR COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4)) AND {}
             GROUP BY e.member_id",
            member_filter("e.member_id")
        )
    };
    bind_range(sqlx::query_as(&sql), c, lo, hi).fetch_all(conn).await
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
    bind_range(sqlx::query_as(&sql), c, lo, hi).fetch_all(conn).await
}

type Q<'q, T> = sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>;

/// Binds `$1`-`$10`: workspace, local days `lo..=hi`, the member filter's
/// parameters, the days' bounds and their first and last instants, the active types.
fn bind_range<'q, T>(q: Q<'q, T>, c: &'q Ctx, lo: NaiveDate, hi: NaiveDate) -> Q<'q, T> {
    let bounds = super::period::day_bounds(c.tz, lo, hi);
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
/// instant they were ever active in the scope.
pub async fn first_active(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    let sql = if c.rollup_days {
        format!(
            "SELECT d.member_id, min(d.first_active_at) FROM metric_member_days d
             WHERE d.workspace_id = $1 AND d.day <= $3 AND d.active_events > 0
               AND ($4::uuid[] IS NULL OR d.group_id = ANY($4))
               AND d.member_id IN (SELECT a.member_id FROM metric_member_days a
                   WHERE a.workspace_id = $1 AND a.day BETWEEN $2 AND $3 AND a.active_events > 0
                     AND ($4::uuid[] IS NULL OR a.group_id = ANY($4)))
               AND {}
             GROUP BY d.member_id",
            member_filter("d.member_id")
        )
    } else {
        format!(
            "SELECT e.member_id, min(e.occurred_at) FROM events e
             WHERE e.workspace_id = $1 AND e.occurred_at < $9 AND e.member_id IS NOT NULL AND e.type = ANY($10)
               AND ($4::uuid[] IS NULL OR COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4))
               AND e.member_id IN (SELECT a.member_id FROM events a
                   WHERE a.workspace_id = $1 AND a.occurred_at >= $8 AND a.occurred_at < $9 AND a.type = ANY($10)
                     AND ($4::uuid[] IS NULL OR COALESCE(a.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4)))
               AND {}
             GROUP BY e.member_id",
            member_filter("e.member_id")
        )
    };
    bind_range(sqlx::query_as(&sql), c, lo, hi).fetch_all(conn).await
}

/// Each counted member whose first stint in the scope's groups began in
/// `[lo, hi)`, with that instant.
pub async fn first_joins(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    let sql = format!(
        "SELECT s.member_id, min(s.joined_at) FROM memberships s
         WHERE s.workspace_id = $1 AND s.left_at IS DISTINCT FROM s.joined_at
           AND ($4::uuid[] IS NULL OR s.group_id = ANY($4)) AND {}
         GROUP BY s.member_id HAVING min(s.joined_at) >= $2 AND min(s.joined_at) < $3",
        member_filter("s.member_id")
    );
    sqlx::query_as(&sql)
        .bind(c.ws)
        .bind(lo)
        .bind(hi)
        .bind(c.scope.groups.as_deref())
        .bind(c.include_staff)
        .bind(c.scope.source)
        .fetch_all(conn)
        .await
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
         WHERE s.workspace_id = $1 AND s.joined_at < $3 AND (s.left_at IS NULL OR s.left_at > $2)
           AND s.left_at IS DISTINCT FROM s.joined_at
           AND ($4::uuid[] IS NULL OR s.group_id = ANY($4)) AND {}",
        member_filter("s.member_id")
    );
    sqlx::query_as(&sql)
        .bind(c.ws)
        .bind(lo)
        .bind(hi)
        .bind(c.scope.groups.as_deref())
        .bind(c.include_staff)
        .bind(c.scope.source)
        .fetch_all(conn)
        .await
}

/// Orders of counted members paid or refunded in `[lo, hi)` in the workspace
/// currency, attributed (the event's campaign, else the member's last
/// campaign click in `[paid_at - attribution, paid_at]`). `groups` filters
/// by the order's group (None: any).
pub async fn orders(
    conn: &mut PgConnection,
    c: &Ctx,
    groups: Option<&[Uuid]>,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    attribution: chrono::Duration,
) -> Result<Vec<super::commerce::Order>, sqlx::Error> {
    let sql = format!(
        "SELECT o.order_id, o.member_id, o.group_id, g.tier, o.paid_at, o.amount, o.refunded_at,
                LEAST(COALESCE(o.refund_amount, o.amount), o.amount) AS refund,
                COALESCE(o.campaign_id, (
                    SELECT k.campaign_id FROM metric_campaign_clicks k
                    WHERE k.workspace_id = $1 AND k.member_id = o.member_id
                      AND k.clicked_at <= o.paid_at AND k.clicked_at >= o.paid_at - make_interval(secs => $8)
                    ORDER BY k.clicked_at DESC, k.event_id DESC LIMIT 1)) AS campaign_id
         FROM metric_orders o
         LEFT JOIN groups g ON g.workspace_id = o.workspace_id AND g.id = o.group_id
         WHERE o.workspace_id = $1 AND o.paid_at IS NOT NULL
           AND ((o.paid_at >= $2 AND o.paid_at < $3) OR (o.refunded_at >= $2 AND o.refunded_at < $3))
           AND COALESCE(o.currency, $7) = $7
           AND ($4::uuid[] IS NULL OR o.group_id = ANY($4))
           AND {}
         ORDER BY o.paid_at, o.order_id",
        member_filter("o.member_id")
    );
    sqlx::query_as(&sql)
        .bind(c.ws)
        .bind(lo)
        .bind(hi)
        .bind(groups)
        .bind(c.include_staff)
        .bind(c.scope.source)
        .bind(&c.currency)
        .bind(attribution.num_seconds() as f64)
        .fetch_all(conn)
        .await
}

/// Orders in the period paid in another currency than the workspace's.
pub async fn other_currency_orders(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM metric_orders WHERE workspace_id = $1 AND paid_at >= $2 AND paid_at < $3
           AND currency IS NOT NULL AND currency <> $4",
    )
    .bind(c.ws)
    .bind(lo)
    .bind(hi)
    .bind(&c.currency)
    .fetch_one(conn)
    .await
}

/// Events of counted members of the given types in `[lo, hi)` (the scope's
/// groups), sorted by member, time and id; `properties` only when asked.
pub async fn funnel_events(
    conn: &mut PgConnection,
    c: &Ctx,
    types: &[String],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    properties: bool,
) -> Result<Vec<super::funnel::Event>, sqlx::Error> {
    let sql = format!(
        "SELECT e.member_id, e.type, e.occurred_at, e.id, e.group_id, e.campaign_id, e.campaign_code,
                CASE WHEN $8 THEN e.properties END AS properties
         FROM events e
         WHERE e.workspace_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 AND e.member_id IS NOT NULL
           AND e.type = ANY($7)
           AND ($4::uuid[] IS NULL OR COALESCE(e.group_id, '00000000-0000-0000-0000-000000000000') = ANY($4)) AND {}
         ORDER BY e.member_id, e.occurred_at, e.id",
        member_filter("e.member_id")
    );
    sqlx::query_as(&sql)
        .bind(c.ws)
        .bind(lo)
        .bind(hi)
        .bind(c.scope.groups.as_deref())
        .bind(c.include_staff)
        .bind(c.scope.source)
        .bind(types)
        .bind(properties)
        .fetch_all(conn)
        .await
}
