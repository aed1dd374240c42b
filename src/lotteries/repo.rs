//! All SQL of lotteries (`lotteries`, `lottery_entrants`,
//! `lottery_draw_counts`, `lottery_winners`).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::ids::WorkspaceId;

/// A lottery as stored (the seed never leaves the engine before the draw).
#[derive(Clone, FromRow)]
pub struct Row {
    pub campaign_id: Uuid,
    pub seed: Vec<u8>,
    pub commitment: String,
    pub status: String,
    pub draw_at: Option<DateTime<Utc>>,
    pub drawn_at: Option<DateTime<Utc>>,
    pub late: bool,
    pub entries_digest: Option<String>,
    pub entry_count: Option<i64>,
    pub entrant_count: Option<i64>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "campaign_id, seed, commitment, status, draw_at, drawn_at, late, entries_digest, entry_count,
    entrant_count, created_at";

/// The lottery of a campaign, made now with `seed` unless it exists (the
/// first seed stored is the one committed to).
pub async fn ensure(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    seed: &[u8],
    commitment: &str,
    now: DateTime<Utc>,
) -> Result<Row, sqlx::Error> {
    sqlx::query(
        "INSERT INTO lotteries (workspace_id, campaign_id, seed, commitment, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(campaign)
    .bind(seed)
    .bind(commitment)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM lotteries WHERE workspace_id = $1 AND campaign_id = $2");
    sqlx::query_as(&sql).bind(ws).bind(campaign).fetch_one(conn).await
}

/// The lottery of a campaign (locked with `lock`).
pub async fn get(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    lock: bool,
) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM lotteries WHERE workspace_id = $1 AND campaign_id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as(&sql).bind(ws).bind(campaign).fetch_optional(conn).await
}

/// Records an entrant; `false` when they had entered.
pub async fn enter(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    member: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO lottery_entrants (workspace_id, campaign_id, member_id, entered_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(campaign)
    .bind(member)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The entry rule's numbers: (per entrant, per qualified invite, most per member).
pub type Rule = (i32, i32, i32);

const COUNTS: &str = "
    WITH ent AS (SELECT member_id AS m FROM lottery_entrants WHERE workspace_id = $1 AND campaign_id = $2
                   AND ($6::uuid IS NULL OR member_id = $6)),
         inv AS (SELECT inviter_id AS m, count(*) AS n FROM referrals
                 WHERE workspace_id = $1 AND campaign_id = $2 AND status = 'qualified'
                   AND ($6::uuid IS NULL OR inviter_id = $6) GROUP BY 1),
         c AS (SELECT COALESCE(e.m, i.m) AS m,
                      LEAST($5, CASE WHEN e.m IS NULL THEN 0 ELSE $3 END + $4 * COALESCE(i.n, 0))::int AS n
               FROM ent e FULL JOIN inv i ON i.m = e.m)
    SELECT c.m, c.n FROM c JOIN members mm ON mm.workspace_id = $1 AND mm.id = c.m AND mm.erased_at IS NULL
    WHERE c.n > 0";

/// Entries per member now (`only`: one member), by member id.
pub async fn counts(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    (per_member, per_invite, max): Rule,
    only: Option<Uuid>,
) -> Result<Vec<(Uuid, i32)>, sqlx::Error> {
    sqlx::query_as(&format!("{COUNTS} ORDER BY c.m"))
        .bind(ws)
        .bind(campaign)
        .bind(per_member)
        .bind(per_invite)
        .bind(max)
        .bind(only)
        .fetch_all(conn)
        .await
}

/// A member's qualified invites through the lottery's codes.
pub async fn qualified_invites(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    member: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM referrals WHERE workspace_id = $1 AND campaign_id = $2 AND inviter_id = $3
           AND status = 'qualified'",
    )
    .bind(ws)
    .bind(campaign)
    .bind(member)
    .fetch_one(conn)
    .await
}

/// Entries in all now (summed in the database, not member by member).
pub async fn total(conn: &mut PgConnection, ws: WorkspaceId, campaign: Uuid, rule: Rule) -> Result<i64, sqlx::Error> {
    let (per_member, per_invite, max) = rule;
    sqlx::query_scalar(&format!("SELECT COALESCE(sum(x.n), 0)::bigint FROM ({COUNTS}) x"))
        .bind(ws)
        .bind(campaign)
        .bind(per_member)
        .bind(per_invite)
        .bind(max)
        .bind(None::<Uuid>)
        .fetch_one(conn)
        .await
}

/// Freezes the entry list (one statement); the frozen counts by member id.
pub async fn freeze(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    rule: Rule,
) -> Result<Vec<(Uuid, i32)>, sqlx::Error> {
    let (per_member, per_invite, max) = rule;
    sqlx::query(&format!(
        "INSERT INTO lottery_draw_counts (workspace_id, campaign_id, member_id, entries)
         SELECT $1, $2, x.m, x.n FROM ({COUNTS}) x"
    ))
    .bind(ws)
    .bind(campaign)
    .bind(per_member)
    .bind(per_invite)
    .bind(max)
    .bind(None::<Uuid>)
    .execute(&mut *conn)
    .await?;
    frozen(conn, ws, campaign, None, i64::MAX).await
}

/// The frozen counts, by member id (after `after`, at most `limit`).
pub async fn frozen(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<(Uuid, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT member_id, entries FROM lottery_draw_counts
         WHERE workspace_id = $1 AND campaign_id = $2 AND ($3::uuid IS NULL OR member_id > $3)
         ORDER BY member_id LIMIT $4",
    )
    .bind(ws)
    .bind(campaign)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks the lottery drawn.
#[allow(clippy::too_many_arguments)]
pub async fn mark_drawn(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    draw_at: DateTime<Utc>,
    now: DateTime<Utc>,
    late: bool,
    digest: &str,
    (entries, entrants): (i64, i64),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE lotteries SET status = 'drawn', draw_at = $3, drawn_at = $4, late = $5, entries_digest = $6,
             entry_count = $7, entrant_count = $8
         WHERE workspace_id = $1 AND campaign_id = $2",
    )
    .bind(ws)
    .bind(campaign)
    .bind(draw_at)
    .bind(now)
    .bind(late)
    .bind(digest)
    .bind(entries)
    .bind(entrants)
    .execute(conn)
    .await?;
    Ok(())
}

/// One winner to store.
pub struct NewWinner<'a> {
    pub rank: i32,
    pub member: Uuid,
    pub prize_index: i32,
    pub prize_name: &'a str,
    pub entry_no: i32,
    pub outcome: serde_json::Value,
}

/// Stores a winner.
pub async fn insert_winner(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    w: &NewWinner<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO lottery_winners (workspace_id, campaign_id, rank, member_id, prize_index, prize_name, entry_no, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ws)
    .bind(campaign)
    .bind(w.rank)
    .bind(w.member)
    .bind(w.prize_index)
    .bind(w.prize_name)
    .bind(w.entry_no)
    .bind(&w.outcome)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored winner: (rank, member, display name, prize index, prize name, entry no, outcome).
pub type Winner = (i32, Uuid, String, i32, String, i32, serde_json::Value);

/// The winners, in the order drawn.
pub async fn winners(conn: &mut PgConnection, ws: WorkspaceId, campaign: Uuid) -> Result<Vec<Winner>, sqlx::Error> {
    sqlx::query_as(
        "SELECT w.rank, w.member_id, COALESCE(m.display_name, ''), w.prize_index, w.prize_name, w.entry_no, w.outcome
         FROM lottery_winners w LEFT JOIN members m ON m.workspace_id = w.workspace_id AND m.id = w.member_id
         WHERE w.workspace_id = $1 AND w.campaign_id = $2 ORDER BY w.rank",
    )
    .bind(ws)
    .bind(campaign)
    .fetch_all(conn)
    .await
}

/// Entrants of the lottery so far.
pub async fn entrant_count(conn: &mut PgConnection, ws: WorkspaceId, campaign: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM lottery_entrants WHERE workspace_id = $1 AND campaign_id = $2")
        .bind(ws)
        .bind(campaign)
        .fetch_one(conn)
        .await
}

/// Lottery campaigns not drawn yet that may be due: (workspace, campaign,
/// settings, workspace time zone), of running or ended campaigns.
pub async fn undrawn(
    conn: &mut PgConnection,
    only: Option<WorkspaceId>,
) -> Result<Vec<(WorkspaceId, Uuid, serde_json::Value, String)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, serde_json::Value, String)> = sqlx::query_as(
        "SELECT c.workspace_id, c.id, c.settings, w.timezone FROM campaigns c
         JOIN workspaces w ON w.id = c.workspace_id
         LEFT JOIN lotteries l ON l.workspace_id = c.workspace_id AND l.campaign_id = c.id
         WHERE c.kind = 'lottery' AND c.status IN ('running', 'ended') AND c.settings ? 'draw_at'
           AND jsonb_typeof(c.settings->'draw_at') = 'string' AND (l.status IS NULL OR l.status = 'open')
           AND ($1::uuid IS NULL OR c.workspace_id = $1)",
    )
    .bind(only)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(w, c, s, tz)| (WorkspaceId(w), c, s, tz)).collect())
}

/// Lottery campaigns of the workspace with their lottery (if made): newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM campaigns WHERE workspace_id = $1 AND kind = 'lottery' AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(ws)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}
