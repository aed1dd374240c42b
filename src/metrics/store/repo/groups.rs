//! Per-group reads of the metrics (group health's SQL over member-day rows
//! for another timezone, stints per group, activation, last messages, roles
//! and leaderboards), with the filters and binds of `repo`.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{bind_range, bind_scope, member_days_cte, member_filter, planned, Q};
use crate::metrics::params::Ctx;

/// Per group and counted member: active days and messages on local days `[lo, hi]`.
pub async fn group_member_activity(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<(Uuid, Uuid, i64, i64)>, sqlx::Error> {
    let sql = format!(
        "WITH {}
         SELECT group_id, member_id, count(*) FILTER (WHERE active), COALESCE(sum(messages), 0)::int8
         FROM md GROUP BY 1, 2",
        member_days_cte(c)
    );
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_range(sqlx::query_as(&sql), c, lo, hi).fetch_all(conn).await
}

/// Every group's tier, by group.
pub async fn group_tiers(
    conn: &mut PgConnection,
    c: &Ctx,
) -> Result<std::collections::HashMap<Uuid, Option<String>>, sqlx::Error> {
    Ok(crate::groups::repo::tiers(conn, c.ws).await?.into_iter().collect())
}

/// Activity figures of one group over a health window.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct GroupActivity {
    pub group_id: Uuid,
    /// Members active in the group in the window.
    pub active_members: i64,
    /// Σ over days of the window of the group's DAU.
    pub active_member_days: i64,
    /// Members active in the group in the window before.
    pub active_before: i64,
    pub messages: i64,
    /// Members with a message in the window.
    pub senders: i64,
    /// Messages of the top 10% of senders (at least one sender).
    pub top_messages: i64,
    /// Days of the window with a message.
    pub message_days: i64,
}

/// Per group: activity of `[from, $3]` and active members of `[$2, from)`
/// (`lo`..`hi` span both windows).
pub async fn group_activity(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    from: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<GroupActivity>, sqlx::Error> {
    let sql = format!(
        "WITH {},
         pm AS (SELECT group_id, member_id,
                       count(*) FILTER (WHERE active AND day >= $11) AS ad,
                       COALESCE(sum(messages) FILTER (WHERE day >= $11), 0)::int8 AS msgs,
                       COALESCE(bool_or(active AND day < $11), false) AS before
                FROM md GROUP BY 1, 2),
         rk AS (SELECT pm.*, row_number() OVER (PARTITION BY group_id ORDER BY msgs DESC, member_id) AS rn,
                       count(*) FILTER (WHERE msgs > 0) OVER (PARTITION BY group_id) AS n_senders
                FROM pm),
         dd AS (SELECT group_id, count(*) AS message_days
                FROM (SELECT group_id, day FROM md WHERE messages > 0 AND day >= $11 GROUP BY 1, 2) x GROUP BY 1)
         SELECT rk.group_id,
                count(*) FILTER (WHERE ad > 0) AS active_members,
                COALESCE(sum(ad), 0)::int8 AS active_member_days,
                count(*) FILTER (WHERE before) AS active_before,
                COALESCE(sum(msgs), 0)::int8 AS messages,
                max(n_senders) AS senders,
                COALESCE(sum(msgs) FILTER (WHERE msgs > 0 AND rn <= (n_senders + 9) / 10), 0)::int8
                    AS top_messages,
                COALESCE(max(dd.message_days), 0) AS message_days
         FROM rk LEFT JOIN dd USING (group_id)
         GROUP BY rk.group_id",
        member_days_cte(c)
    );
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_range(sqlx::query_as(&sql), c, lo, hi).bind(from).fetch_all(conn).await
}

/// Membership figures of one group over a health window (counted by `stints::membership`).
#[derive(Debug, Clone, Default)]
pub struct GroupMembership {
    pub group_id: Uuid,
    /// Distinct members who belonged at some time in the window.
    pub members: i64,
    /// Seats when the window started / ended.
    pub members_start: i64,
    pub members_end: i64,
    pub joins: i64,
    pub leaves: i64,
    /// Stints begun in the window at least `days` before its end …
    pub joiners_settled: i64,
    /// … of which still open `days` after they began.
    pub joiners_stayed: i64,
}

/// Per group: stints begun on local days `[lo, last_join]` (binds as
/// [`bind_range`] over `[lo, hi]`), and how many of them were active in
/// the group within `days` local days from their join day.
pub async fn group_activation(
    conn: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    last_join: NaiveDate,
    hi: NaiveDate,
    days: i32,
) -> Result<Vec<(Uuid, i64, i64)>, sqlx::Error> {
    let sql = format!(
        "WITH {},
         j AS (SELECT s.group_id, s.member_id, s.joined_at,
                      $2::date + (width_bucket(s.joined_at, $7::timestamptz[]) - 1) AS jd
               FROM memberships s
               WHERE s.workspace_id = $1 AND s.joined_at >= $8 AND s.joined_at < $11
                 AND s.left_at IS DISTINCT FROM s.joined_at
                 AND ($4::uuid[] IS NULL OR s.group_id = ANY($4)) AND {}),
         a AS (SELECT j.group_id, j.member_id, j.joined_at,
                      COALESCE(bool_or(md.active AND md.day BETWEEN j.jd AND j.jd + $12 - 1), false) AS activated
               FROM j LEFT JOIN md ON md.group_id = j.group_id AND md.member_id = j.member_id
               GROUP BY 1, 2, 3)
         SELECT group_id, count(*), count(*) FILTER (WHERE activated) FROM a GROUP BY 1",
        member_days_cte(c),
        member_filter("s.member_id")
    );
    let until = crate::metrics::period::day_start(c.tz, last_join + chrono::Duration::days(1));
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_range(sqlx::query_as(&sql), c, lo, hi).bind(until).bind(days).fetch_all(conn).await
}

/// Per active group of the scope: name and the last local day up to `hi`
/// with a message of a counted member (a backward index scan per group that
/// stops at the first such row — `max()` would read every row of the group).
/// Groups in `known` are not searched (None: the caller knows their day).
pub async fn group_last_messages(
    conn: &mut PgConnection,
    c: &Ctx,
    hi: NaiveDate,
    known: &[Uuid],
) -> Result<Vec<(Uuid, String, Option<NaiveDate>)>, sqlx::Error> {
    let groups =
        "FROM groups g WHERE g.workspace_id = $1 AND g.status = 'active' AND ($2::uuid[] IS NULL OR g.id = ANY($2))
                  ORDER BY g.id";
    let end = crate::metrics::period::day_start(c.tz, hi + chrono::Duration::days(1));
    fn bind<'q, T>(q: Q<'q, T>, c: &'q Ctx, hi: NaiveDate, end: DateTime<Utc>, known: &'q [Uuid]) -> Q<'q, T> {
        q.bind(c.ws)
            .bind(c.scope.groups.as_deref())
            .bind(c.include_staff)
            .bind(c.scope.source)
            .bind(hi)
            .bind(end)
            .bind(known)
    }
    // The member filter's parameters are $5 (staff) and $6 (source); $4 is its groups.
    let filter = |m: &str| {
        planned(&member_filter(m), c, c.scope.groups.is_some())
            .replace("$4", "$2")
            .replace("$5", "$3")
            .replace("$6", "$4")
    };
    if c.rollup_days {
        let sql = format!(
            "SELECT g.id, g.name, CASE WHEN g.id = ANY($7) THEN NULL ELSE (SELECT d.day FROM metric_member_days d
                 WHERE d.workspace_id = $1 AND d.group_id = g.id AND d.day <= $5 AND d.messages > 0 AND {}
                 ORDER BY d.day DESC LIMIT 1) END {groups}",
            filter("d.member_id")
        );
        bind(sqlx::query_as(&sql), c, hi, end, known).fetch_all(conn).await
    } else {
        let sql = format!(
            "SELECT g.id, g.name, CASE WHEN g.id = ANY($7) THEN NULL ELSE (SELECT e.occurred_at FROM events e
                 WHERE e.workspace_id = $1 AND e.group_id = g.id AND e.type = 'message_sent'
                   AND e.occurred_at < $6 AND e.member_id IS NOT NULL AND {}
                 ORDER BY e.occurred_at DESC LIMIT 1) END {groups}",
            filter("e.member_id")
        );
        let rows: Vec<(Uuid, String, Option<DateTime<Utc>>)> =
            bind(sqlx::query_as(&sql), c, hi, end, known).fetch_all(conn).await?;
        Ok(rows.into_iter().map(|(g, n, t)| (g, n, t.map(|t| crate::metrics::period::local_day(c.tz, t)))).collect())
    }
}

/// One member's figures in a group over a window (roles).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberInGroup {
    pub member_id: Uuid,
    pub active_days: i64,
    pub message_days: i64,
    pub messages: i64,
    pub invite_events: i64,
}

/// Each counted member's activity in group `g` on local days `[lo, hi]`.
pub async fn members_in_group(
    conn: &mut PgConnection,
    c: &Ctx,
    g: Uuid,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<Vec<MemberInGroup>, sqlx::Error> {
    let sql = format!(
        "WITH {}
         SELECT member_id, count(*) FILTER (WHERE active) AS active_days,
                count(*) FILTER (WHERE messages > 0) AS message_days,
                COALESCE(sum(messages), 0)::int8 AS messages, COALESCE(sum(invites), 0)::int8 AS invite_events
         FROM md WHERE group_id = $11 GROUP BY member_id",
        member_days_cte(c)
    );
    let sql = planned(&sql, c, c.scope.groups.is_some());
    bind_range(sqlx::query_as(&sql), c, lo, hi).bind(g).fetch_all(conn).await
}

/// Per counted inviter: members who joined group `g` in `[lo, hi)` naming them.
pub async fn inviters_in_group(
    conn: &mut PgConnection,
    c: &Ctx,
    g: Uuid,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT s.inviter_id, count(*) FROM memberships s
         WHERE s.workspace_id = $1 AND s.group_id = $7 AND s.joined_at >= $2 AND s.joined_at < $3
           AND s.inviter_id IS NOT NULL AND s.left_at IS DISTINCT FROM s.joined_at AND {}
         GROUP BY 1",
        member_filter("s.inviter_id")
    );
    let sql = planned(&sql, c, false);
    bind_scope(sqlx::query_as(&sql), c, lo, hi, None).bind(g).fetch_all(conn).await
}

/// Engagement of counted members in group `g` over local days `[lo, hi]`
/// (each member-day's points capped, halving every 30 days before `hi`),
/// best first, at most `limit`; and how many members have a score.
pub async fn leaderboard(
    conn: &mut PgConnection,
    c: &Ctx,
    g: Uuid,
    lo: NaiveDate,
    hi: NaiveDate,
    limit: i64,
) -> Result<(Vec<(Uuid, f64, i64)>, i64), sqlx::Error> {
    let sql = format!(
        "WITH {},
         s AS (SELECT member_id,
                      sum(({points})::float8 * power(0.5::float8, (($3 - day) / 30)::float8)) AS score,
                      count(*) FILTER (WHERE active) AS active_days
               FROM md WHERE group_id = $11 GROUP BY member_id)
         SELECT member_id, score, active_days, count(*) OVER () FROM s WHERE score > 0
         ORDER BY score DESC, member_id LIMIT $12",
        member_days_cte(c),
        points = crate::metrics::store::points::day_points_sql()
    );
    let sql = planned(&sql, c, c.scope.groups.is_some());
    let rows: Vec<(Uuid, f64, i64, i64)> =
        bind_range(sqlx::query_as(&sql), c, lo, hi).bind(g).bind(limit).fetch_all(conn).await?;
    let total = rows.first().map_or(0, |r| r.3);
    Ok((rows.into_iter().map(|(m, s, d, _)| (m, s, d)).collect(), total))
}
