//! All SQL of bargains (`bargains`, `bargain_sessions`, `bargain_helps`).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Bargain, BuyAt, Help, Session, SessionStatus, Status};
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};

/// A bargain as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Row {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub product_id: String,
    pub name: String,
    pub list_price: i64,
    pub floor_price: i64,
    pub helpers_needed: i32,
    pub time_limit_hours: i32,
    pub helpers_new_members_only: bool,
    pub buy_at: BuyAt,
    pub link: Option<String>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Row> for Bargain {
    fn from(r: Row) -> Self {
        Bargain {
            id: r.id,
            campaign_id: CampaignId(r.campaign_id),
            product_id: r.product_id,
            name: r.name,
            list_price: r.list_price,
            floor_price: r.floor_price,
            helpers_needed: r.helpers_needed,
            time_limit_hours: r.time_limit_hours,
            helpers_new_members_only: r.helpers_new_members_only,
            buy_at: r.buy_at,
            link: r.link,
            status: r.status,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, campaign_id, product_id, name, list_price, floor_price, helpers_needed, time_limit_hours,
    helpers_new_members_only, buy_at, link, status, created_at, updated_at";

/// Stores a new bargain.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, r: &Row) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bargains (workspace_id, id, campaign_id, product_id, name, list_price, floor_price, helpers_needed,
            time_limit_hours, helpers_new_members_only, buy_at, link, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
    )
    .bind(ws)
    .bind(r.id)
    .bind(r.campaign_id)
    .bind(&r.product_id)
    .bind(&r.name)
    .bind(r.list_price)
    .bind(r.floor_price)
    .bind(r.helpers_needed)
    .bind(r.time_limit_hours)
    .bind(r.helpers_new_members_only)
    .bind(r.buy_at)
    .bind(&r.link)
    .bind(r.status)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One bargain.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM bargains WHERE workspace_id = $1 AND id = $2");
    sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await
}

/// Bargains, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Option<CampaignId>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bargains
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR campaign_id = $2) AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4"
    );
    sqlx::query_as(&sql).bind(ws).bind(campaign).bind(after).bind(limit).fetch_all(conn).await
}

/// Renames, pauses, resumes or archives a bargain, or sets its link.
pub async fn update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    name: Option<&str>,
    status: Option<Status>,
    link: Option<Option<&str>>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE bargains SET name = COALESCE($3, name), status = COALESCE($4, status),
            link = CASE WHEN $5 THEN $6 ELSE link END, updated_at = $7
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(name)
    .bind(status)
    .bind(link.is_some())
    .bind(link.flatten())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A session as stored.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub bargain_id: Uuid,
    pub member_id: Uuid,
    pub group_id: Option<Uuid>,
    pub seed: Vec<u8>,
    pub list_price: i64,
    pub floor_price: i64,
    pub helpers_needed: i32,
    pub price: i64,
    pub helps: i32,
    pub status: SessionStatus,
    pub order_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl SessionRow {
    /// The API's session (the seed stays inside).
    pub fn view(self, help_list: Vec<Help>) -> Session {
        Session {
            id: self.id,
            bargain_id: self.bargain_id,
            member_id: MemberId(self.member_id),
            group_id: self.group_id.map(GroupId),
            list_price: self.list_price,
            floor_price: self.floor_price,
            price: self.price,
            helps: self.helps,
            helpers_needed: self.helpers_needed,
            status: self.status,
            order_id: self.order_id,
            expires_at: self.expires_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            ended_at: self.ended_at,
            help_list,
        }
    }
}

const SESSION_COLUMNS: &str = "id, bargain_id, member_id, group_id, seed, list_price, floor_price, helpers_needed,
    price, helps, status, order_id, expires_at, started_at, completed_at, ended_at";

/// Stores a new session; false when the member has one open or completed
/// already (the partial unique index).
pub async fn insert_session(conn: &mut PgConnection, ws: WorkspaceId, s: &SessionRow) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO bargain_sessions (workspace_id, id, bargain_id, member_id, group_id, seed, list_price, floor_price,
            helpers_needed, price, helps, status, expires_at, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7, 0, 'open', $10, $11)
         ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(s.id)
    .bind(s.bargain_id)
    .bind(s.member_id)
    .bind(s.group_id)
    .bind(&s.seed)
    .bind(s.list_price)
    .bind(s.floor_price)
    .bind(s.helpers_needed)
    .bind(s.expires_at)
    .bind(s.started_at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The member's open or completed session of a bargain.
pub async fn live_session(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    bargain: Uuid,
    member: MemberId,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM bargain_sessions
         WHERE workspace_id = $1 AND bargain_id = $2 AND member_id = $3 AND status IN ('open', 'completed')"
    );
    sqlx::query_as(&sql).bind(ws).bind(bargain).bind(member).fetch_optional(conn).await
}

/// One session (locked with `lock`).
pub async fn get_session(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    lock: bool,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM bargain_sessions WHERE workspace_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await
}

/// Session filters.
#[derive(Debug, Default)]
pub struct SessionFilter {
    pub bargain: Option<Uuid>,
    pub member: Option<MemberId>,
    pub status: Option<SessionStatus>,
}

/// Sessions, newest first.
pub async fn list_sessions(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &SessionFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM bargain_sessions
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR bargain_id = $2) AND ($3::uuid IS NULL OR member_id = $3)
           AND ($4::text IS NULL OR status = $4) AND ($5::uuid IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6"
    );
    sqlx::query_as(&sql)
        .bind(ws)
        .bind(f.bargain)
        .bind(f.member)
        .bind(f.status)
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// A session's helps, in order.
pub async fn helps_of(conn: &mut PgConnection, ws: WorkspaceId, session: Uuid) -> Result<Vec<Help>, sqlx::Error> {
    sqlx::query_as(
        "SELECT helper_id, seq, cut, price_after, new_member, helped_at FROM bargain_helps
         WHERE workspace_id = $1 AND session_id = $2 ORDER BY seq",
    )
    .bind(ws)
    .bind(session)
    .fetch_all(conn)
    .await
}

/// The help a helper gave a session, if any.
pub async fn help_of(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    session: Uuid,
    helper: MemberId,
) -> Result<Option<Help>, sqlx::Error> {
    sqlx::query_as(
        "SELECT helper_id, seq, cut, price_after, new_member, helped_at FROM bargain_helps
         WHERE workspace_id = $1 AND session_id = $2 AND helper_id = $3",
    )
    .bind(ws)
    .bind(session)
    .bind(helper)
    .fetch_optional(conn)
    .await
}

/// Stores a help; false when the helper helped this session already.
pub async fn insert_help(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    session: Uuid,
    h: &Help,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO bargain_helps (workspace_id, session_id, helper_id, seq, cut, price_after, new_member, helped_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(session)
    .bind(h.helper_id)
    .bind(h.seq)
    .bind(h.cut)
    .bind(h.price_after)
    .bind(h.new_member)
    .bind(h.helped_at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Applies a help to a (locked) open session; the help that reaches the
/// floor completes it. The checks hold the floor and the count whatever
/// the caller computed.
pub async fn apply_help(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    session: Uuid,
    price: i64,
    helps: i32,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE bargain_sessions SET price = $3, helps = $4,
                status = CASE WHEN $4 = helpers_needed THEN 'completed' ELSE 'open' END,
                completed_at = CASE WHEN $4 = helpers_needed THEN $5 END
         WHERE workspace_id = $1 AND id = $2 AND status = 'open' AND helps = $4 - 1",
    )
    .bind(ws)
    .bind(session)
    .bind(price)
    .bind(helps)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Marks a (locked) session bought on an order; false when the order was
/// used for another session of the bargain.
pub async fn purchase(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    session: Uuid,
    order: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE bargain_sessions s SET status = 'purchased', order_id = $3, ended_at = $4
         WHERE s.workspace_id = $1 AND s.id = $2 AND s.status IN ('open', 'completed')
           AND NOT EXISTS (SELECT 1 FROM bargain_sessions o
                           WHERE o.workspace_id = $1 AND o.bargain_id = s.bargain_id AND o.order_id = $3)",
    )
    .bind(ws)
    .bind(session)
    .bind(order)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Expires open and completed sessions past `expires_at`, up to `limit`,
/// skipping rows another transaction holds; how many.
pub async fn expire(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    only: Option<(WorkspaceId, Uuid)>,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE bargain_sessions SET status = 'expired', ended_at = $1
         WHERE (workspace_id, id) IN (
             SELECT workspace_id, id FROM bargain_sessions
             WHERE status IN ('open', 'completed') AND expires_at <= $1
               AND ($2::uuid IS NULL OR (workspace_id = $2 AND id = $3))
             LIMIT $4 FOR UPDATE SKIP LOCKED)",
    )
    .bind(now)
    .bind(only.map(|o| o.0))
    .bind(only.map(|o| o.1))
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// One group's figures: (group, started, open, completed, purchased,
/// expired, helps, new helpers, purchased GMV).
pub type Figures = (Option<Uuid>, i64, i64, i64, i64, i64, i64, i64, i64);

/// A bargain's figures by the group each session was started from.
/// `completed` counts every session that reached the floor (bought or not).
pub async fn figures(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Vec<Figures>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.group_id, count(*), count(*) FILTER (WHERE s.status = 'open'),
                count(*) FILTER (WHERE s.completed_at IS NOT NULL),
                count(*) FILTER (WHERE s.status = 'purchased'), count(*) FILTER (WHERE s.status = 'expired'),
                COALESCE(sum(s.helps), 0)::bigint, COALESCE(sum(h.new_helpers), 0)::bigint,
                COALESCE(sum(s.price) FILTER (WHERE s.status = 'purchased'), 0)::bigint
         FROM bargain_sessions s
         LEFT JOIN LATERAL (
             SELECT count(*) FILTER (WHERE x.new_member) AS new_helpers
             FROM bargain_helps x WHERE x.workspace_id = s.workspace_id AND x.session_id = s.id) h ON true
         WHERE s.workspace_id = $1 AND s.bargain_id = $2
         GROUP BY s.group_id ORDER BY s.group_id NULLS FIRST",
    )
    .bind(ws)
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Distinct new helpers of a bargain (a helper of several sessions counts once).
pub async fn new_helpers(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(DISTINCT h.helper_id) FROM bargain_helps h
         JOIN bargain_sessions s ON s.workspace_id = h.workspace_id AND s.id = h.session_id
         WHERE h.workspace_id = $1 AND s.bargain_id = $2 AND h.new_member",
    )
    .bind(ws)
    .bind(id)
    .fetch_one(conn)
    .await
}
