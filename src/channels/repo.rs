//! SQL of channels.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Candidate, ChannelStatus, Strategy, Target, UpdateChannel};
use crate::events::model::JoinSource;
use crate::ids::{GroupId, WorkspaceId};
use crate::platform::Platform;

/// A channel as stored (its link is made from the public URL).
#[derive(Debug, Clone, FromRow)]
pub struct Row {
    pub id: Uuid,
    pub name: String,
    pub source: JoinSource,
    pub target: Json<Target>,
    pub capacity_per_group: i32,
    pub strategy: Strategy,
    pub code: String,
    pub status: ChannelStatus,
    pub full_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// An invite link: its campaign (whose groups it routes to) and inviter.
    pub campaign_id: Option<Uuid>,
    pub inviter_id: Option<Uuid>,
}

const COLUMNS: &str = "id, name, source, target, capacity_per_group, strategy, code, status, full_since, created_at,
    updated_at, campaign_id, inviter_id";

/// Stores a new channel.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, r: &Row) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO channels (workspace_id, id, name, source, target, capacity_per_group, strategy, code, status,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(ws)
    .bind(r.id)
    .bind(&r.name)
    .bind(r.source)
    .bind(&r.target)
    .bind(r.capacity_per_group)
    .bind(r.strategy)
    .bind(&r.code)
    .bind(r.status)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The invite link of `inviter` in `campaign`, made now unless it exists
/// (the partial unique key keeps one per member per campaign); `true` when
/// made by this call.
pub async fn upsert_invite(conn: &mut PgConnection, ws: WorkspaceId, r: &Row) -> Result<(Row, bool), sqlx::Error> {
    let sql = format!(
        "WITH ins AS (
             INSERT INTO channels (workspace_id, id, name, source, target, capacity_per_group, strategy, code, status,
                 created_at, updated_at, campaign_id, inviter_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12)
             ON CONFLICT (workspace_id, campaign_id, inviter_id) WHERE inviter_id IS NOT NULL DO NOTHING
             RETURNING {COLUMNS}, true AS made)
         SELECT * FROM ins
         UNION ALL
         SELECT {COLUMNS}, false FROM channels WHERE workspace_id = $1 AND campaign_id = $11 AND inviter_id = $12
         LIMIT 1"
    );
    #[derive(FromRow)]
    struct Made {
        #[sqlx(flatten)]
        row: Row,
        made: bool,
    }
    let m: Made = sqlx::query_as(&sql)
        .bind(ws)
        .bind(r.id)
        .bind(&r.name)
        .bind(r.source)
        .bind(&r.target)
        .bind(r.capacity_per_group)
        .bind(r.strategy)
        .bind(&r.code)
        .bind(r.status)
        .bind(r.created_at)
        .bind(r.campaign_id)
        .bind(r.inviter_id)
        .fetch_one(conn)
        .await?;
    Ok((m.row, m.made))
}

/// An invite link by its inviter and campaign.
pub async fn invite_of(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    inviter: Uuid,
) -> Result<Option<Row>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM channels WHERE workspace_id = $1 AND campaign_id = $2 AND inviter_id = $3");
    sqlx::query_as(&sql).bind(ws).bind(campaign).bind(inviter).fetch_optional(conn).await
}

/// The invite links among `codes` (the first word of a join's invite
/// code), in any workspace: (workspace, channel, campaign, inviter, code).
pub async fn invites_by_codes(
    conn: &mut PgConnection,
    codes: &[String],
) -> Result<Vec<(WorkspaceId, Uuid, Uuid, Uuid, String)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT workspace_id, id, campaign_id, inviter_id, code FROM channels
         WHERE code = ANY($1) AND inviter_id IS NOT NULL",
    )
    .bind(codes)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(w, i, c, m, code)| (WorkspaceId(w), i, c, m, code)).collect())
}

/// One channel.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE workspace_id = $1 AND id = $2 AND inviter_id IS NULL");
    sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await
}

/// Channels, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    status: Option<ChannelStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channels WHERE workspace_id = $1 AND inviter_id IS NULL AND ($2::text IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    sqlx::query_as(&sql).bind(ws).bind(status).bind(after).bind(limit).fetch_all(conn).await
}

/// Applies a change; the row after it (None: not in the workspace).
pub async fn update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    u: &UpdateChannel,
    now: DateTime<Utc>,
) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!(
        "UPDATE channels SET name = COALESCE($3, name), source = COALESCE($4, source),
             target = COALESCE($5, target), capacity_per_group = COALESCE($6, capacity_per_group),
             strategy = COALESCE($7, strategy), status = COALESCE($8, status), updated_at = $9
         WHERE workspace_id = $1 AND id = $2 AND inviter_id IS NULL RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(ws)
        .bind(id)
        .bind(u.name.as_deref().map(str::trim))
        .bind(u.source)
        .bind(u.target.as_ref().map(Json))
        .bind(u.capacity_per_group.map(|c| c as i32))
        .bind(u.strategy)
        .bind(u.status)
        .bind(now)
        .fetch_optional(conn)
        .await
}

/// Deletes a channel; its code (None when missing).
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("DELETE FROM channels WHERE workspace_id = $1 AND id = $2 AND inviter_id IS NULL RETURNING code")
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The channel of a public code, in any workspace, with the workspace's
/// time zone (visits are counted per local day).
pub async fn by_code(conn: &mut PgConnection, code: &str) -> Result<Option<(WorkspaceId, String, Row)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Found {
        workspace_id: Uuid,
        timezone: String,
        #[sqlx(flatten)]
        row: Row,
    }
    let cols = COLUMNS.split(',').map(|c| format!("c.{}", c.trim())).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT c.workspace_id, w.timezone, {cols} FROM channels c
         JOIN workspaces w ON w.id = c.workspace_id WHERE c.code = $1"
    );
    let f: Option<Found> = sqlx::query_as(&sql).bind(code).fetch_optional(conn).await?;
    Ok(f.map(|f| (WorkspaceId(f.workspace_id), f.timezone, f.row)))
}

/// The groups of `ids` as a visit of `channel` sees them, in the order of `ids`.
pub async fn candidates(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    channel: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Candidate>, sqlx::Error> {
    type R = (Uuid, i64, bool, Option<String>, Option<String>, Platform, bool);
    let rows: Vec<R> = sqlx::query_as(
        "SELECT g.id,
                (SELECT count(*) FROM memberships m
                  WHERE m.workspace_id = g.workspace_id AND m.group_id = g.id AND m.left_at IS NULL),
                g.status = 'active', l.url, g.invite_url, g.platform,
                EXISTS (SELECT 1 FROM connections c
                         WHERE c.workspace_id = $1 AND c.platform = g.platform AND c.status = 'active')
         FROM unnest($3::uuid[]) WITH ORDINALITY AS x(id, ord)
         JOIN groups g ON g.workspace_id = $1 AND g.id = x.id
         LEFT JOIN channel_links l ON l.workspace_id = $1 AND l.channel_id = $2 AND l.group_id = g.id
         ORDER BY x.ord",
    )
    .bind(ws)
    .bind(channel)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, members, open, link, invite_url, platform, connected)| Candidate {
            id: GroupId(id),
            members,
            open,
            can_make_link: link.is_none() && connected && crate::platforms::makes_invite_links(platform),
            link,
            invite_url,
        })
        .collect())
}

/// The platform's chat id of a group.
pub async fn chat_of(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
) -> Result<Option<(Platform, String)>, sqlx::Error> {
    sqlx::query_as("SELECT platform, external_id FROM groups WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(group)
        .fetch_optional(conn)
        .await
}

/// Keeps the link made for a channel and group; the one kept (a link made
/// meanwhile by another visit wins, so every visitor gets the same).
pub async fn keep_link(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    channel: Uuid,
    group: GroupId,
    url: &str,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "WITH ins AS (INSERT INTO channel_links (workspace_id, channel_id, group_id, url, created_at)
                      VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING url)
         SELECT url FROM ins
         UNION ALL
         SELECT url FROM channel_links WHERE workspace_id = $1 AND channel_id = $2 AND group_id = $3
         LIMIT 1",
    )
    .bind(ws)
    .bind(channel)
    .bind(group)
    .bind(url)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Adds counted visits: (workspace, channel, local day, group or none, visits).
pub async fn add_visits(
    conn: &mut PgConnection,
    rows: &[(WorkspaceId, Uuid, NaiveDate, Option<Uuid>, i64)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO channel_visits (workspace_id, channel_id, day, group_id, visits)
         SELECT v.ws, v.ch, v.day, v.g, v.n
         FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::uuid[], $5::bigint[]) AS v(ws, ch, day, g, n)
         JOIN channels c ON c.workspace_id = v.ws AND c.id = v.ch
         ON CONFLICT ON CONSTRAINT channel_visits_key DO UPDATE SET visits = channel_visits.visits + EXCLUDED.visits",
    )
    .bind(rows.iter().map(|r| r.0 .0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.3).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.4).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a channel full now; `true` when it was routing until now (the
/// first visit of a spell, which announces it).
pub async fn mark_full(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("UPDATE channels SET full_since = $3 WHERE workspace_id = $1 AND id = $2 AND full_since IS NULL")
            .bind(ws)
            .bind(id)
            .bind(now)
            .execute(conn)
            .await?;
    Ok(r.rows_affected() == 1)
}

/// Clears a channel's full spell (a group has room again).
pub async fn clear_full(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE channels SET full_since = NULL WHERE workspace_id = $1 AND id = $2 AND full_since IS NOT NULL")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Which of `ids` are groups of the workspace.
pub async fn existing_groups(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[GroupId],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM groups WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// A day's (or the period's) figures of one group: (day, group, n…).
pub type DayGroup<T> = (NaiveDate, Option<Uuid>, T);

/// Visits per local day and group sent to (none: every group was full).
pub async fn visits(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    channel: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayGroup<i64>>, sqlx::Error> {
    sqlx::query_as(
        "SELECT day, group_id, visits FROM channel_visits
         WHERE workspace_id = $1 AND channel_id = $2 AND day BETWEEN $3 AND $4",
    )
    .bind(ws)
    .bind(channel)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Stints through the channel that began in `[from, to)`, per local day of
/// the join and group: (joins, still in 7 days later, younger than 7 days
/// and still in — not decided yet).
pub async fn joins(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    channel: Uuid,
    tz: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<Vec<DayGroup<(i64, i64, i64)>>, sqlx::Error> {
    let rows: Vec<(NaiveDate, Uuid, i64, i64, i64)> = sqlx::query_as(
        "SELECT (joined_at AT TIME ZONE $3)::date, group_id, count(*),
                count(*) FILTER (WHERE joined_at + interval '7 days' <= $6
                                   AND (left_at IS NULL OR left_at >= joined_at + interval '7 days')),
                count(*) FILTER (WHERE joined_at + interval '7 days' > $6 AND left_at IS NULL)
         FROM memberships
         WHERE workspace_id = $1 AND channel_id = $2 AND joined_at >= $4 AND joined_at < $5
         GROUP BY 1, 2",
    )
    .bind(ws)
    .bind(channel)
    .bind(tz)
    .bind(from)
    .bind(to)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(d, g, a, b, c)| (d, Some(g), (a, b, c))).collect())
}

/// Orders of members who came through the channel, paid after their first
/// join through it, per local day and that join's group: (orders paid in
/// `[from, to)`, their amounts less the refunds made in the period — the
/// commerce metrics' rules: one payment per order, its earliest refund,
/// capped at the paid amount, other currencies left out).
pub async fn orders(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    channel: Uuid,
    (tz, currency): (&str, &str),
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<DayGroup<(i64, i64)>>, sqlx::Error> {
    let rows: Vec<(NaiveDate, Uuid, i64, i64)> = sqlx::query_as(
        "WITH j AS (SELECT DISTINCT ON (member_id) member_id, group_id, joined_at FROM memberships
                    WHERE workspace_id = $1 AND channel_id = $2 ORDER BY member_id, joined_at),
         ev AS (SELECT e.id, e.type, e.occurred_at, e.order_id, e.amount, j.group_id
                FROM j JOIN events e ON e.workspace_id = $1 AND e.member_id = j.member_id
                 AND e.occurred_at >= j.joined_at AND e.occurred_at < $6
                 AND e.type IN ('order_paid', 'order_refunded') AND e.order_id IS NOT NULL
                 AND (e.currency IS NULL OR e.currency = $4)),
         paid AS (SELECT DISTINCT ON (order_id) * FROM ev WHERE type = 'order_paid' ORDER BY order_id, occurred_at, id),
         refund AS (SELECT DISTINCT ON (r.order_id) r.occurred_at, p.group_id,
                           LEAST(COALESCE(r.amount, p.amount, 0), COALESCE(p.amount, 0)) AS amount
                    FROM ev r JOIN paid p ON p.order_id = r.order_id
                    WHERE r.type = 'order_refunded' AND r.occurred_at >= p.occurred_at
                    ORDER BY r.order_id, r.occurred_at, r.id)
         SELECT (at AT TIME ZONE $3)::date, group_id, sum(n)::bigint, sum(amount)::bigint FROM (
             SELECT occurred_at AS at, group_id, 1 AS n, COALESCE(amount, 0) AS amount FROM paid
             UNION ALL
             SELECT occurred_at, group_id, 0, -amount FROM refund) x
         WHERE at >= $5 AND at < $6
         GROUP BY 1, 2",
    )
    .bind(ws)
    .bind(channel)
    .bind(tz)
    .bind(currency)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(d, g, a, b)| (d, Some(g), (a, b))).collect())
}
