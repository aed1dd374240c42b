//! All SQL of group-buys (`group_buys`, `group_buy_teams`,
//! `group_buy_members`, `group_buy_takers`).

use chrono::{DateTime, Utc};
use sqlx::types::Json as Stored;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{GroupBuy, Status, Team, TeamMember, TeamStatus};
use crate::coupons::model::Eligibility;
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};

/// A group-buy as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Row {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub product_id: String,
    pub name: String,
    pub list_price: i64,
    pub group_price: i64,
    pub team_size: i32,
    pub time_limit_hours: i32,
    pub max_teams: Option<i32>,
    pub per_member_limit: i32,
    pub eligible: Option<Stored<Eligibility>>,
    pub new_members_only_joiners: bool,
    pub link: Option<String>,
    pub status: Status,
    pub teams_opened: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Row> for GroupBuy {
    fn from(r: Row) -> Self {
        GroupBuy {
            id: r.id,
            campaign_id: CampaignId(r.campaign_id),
            product_id: r.product_id,
            name: r.name,
            list_price: r.list_price,
            group_price: r.group_price,
            team_size: r.team_size,
            time_limit_hours: r.time_limit_hours,
            max_teams: r.max_teams,
            per_member_limit: r.per_member_limit,
            eligible: r.eligible.map(|e| e.0),
            new_members_only_joiners: r.new_members_only_joiners,
            link: r.link,
            status: r.status,
            teams_opened: r.teams_opened,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

// `teams_opened` is counted for the API, not kept, unless `max_teams` caps
// it: the counter's row would otherwise be one every opening waits on.
const COLUMNS: &str = "g.id, g.campaign_id, g.product_id, g.name, g.list_price, g.group_price, g.team_size,
    g.time_limit_hours, g.max_teams, g.per_member_limit, g.eligible, g.new_members_only_joiners, g.link, g.status,
    g.teams_opened, g.created_at, g.updated_at";

const VIEW_COLUMNS: &str = "g.id, g.campaign_id, g.product_id, g.name, g.list_price, g.group_price, g.team_size,
    g.time_limit_hours, g.max_teams, g.per_member_limit, g.eligible, g.new_members_only_joiners, g.link, g.status,
    CASE WHEN g.max_teams IS NULL
         THEN (SELECT count(*)::int FROM group_buy_teams t WHERE t.workspace_id = g.workspace_id AND t.group_buy_id = g.id)
         ELSE g.teams_opened END AS teams_opened,
    g.created_at, g.updated_at";

/// Stores a new group-buy.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, r: &Row) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO group_buys (workspace_id, id, campaign_id, product_id, name, list_price, group_price, team_size,
            time_limit_hours, max_teams, per_member_limit, eligible, new_members_only_joiners, link, status,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
    )
    .bind(ws)
    .bind(r.id)
    .bind(r.campaign_id)
    .bind(&r.product_id)
    .bind(&r.name)
    .bind(r.list_price)
    .bind(r.group_price)
    .bind(r.team_size)
    .bind(r.time_limit_hours)
    .bind(r.max_teams)
    .bind(r.per_member_limit)
    .bind(&r.eligible)
    .bind(r.new_members_only_joiners)
    .bind(&r.link)
    .bind(r.status)
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One group-buy as the API shows it (`teams_opened` counted).
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SELECT {VIEW_COLUMNS} FROM group_buys g WHERE g.workspace_id = $1 AND g.id = $2");
    sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await
}

/// One group-buy for a write (`teams_opened` as kept), with whether its
/// campaign is running and whether it is cancelled.
pub async fn get_for_write(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
) -> Result<Option<(Row, bool, bool)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Got {
        #[sqlx(flatten)]
        row: Row,
        running: bool,
        cancelled: bool,
    }
    let sql = format!(
        "SELECT {COLUMNS}, c.status = 'running' AS running, c.status = 'cancelled' AS cancelled
         FROM group_buys g JOIN campaigns c ON c.workspace_id = g.workspace_id AND c.id = g.campaign_id
         WHERE g.workspace_id = $1 AND g.id = $2"
    );
    let got: Option<Got> = sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await?;
    Ok(got.map(|g| (g.row, g.running, g.cancelled)))
}

/// Group-buys, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Option<CampaignId>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM group_buys g
         WHERE g.workspace_id = $1 AND ($2::uuid IS NULL OR g.campaign_id = $2) AND ($3::uuid IS NULL OR g.id < $3)
         ORDER BY g.id DESC LIMIT $4"
    );
    sqlx::query_as(&sql).bind(ws).bind(campaign).bind(after).bind(limit).fetch_all(conn).await
}

/// Renames, pauses, resumes or archives a group-buy, or sets its link.
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
        "UPDATE group_buys SET name = COALESCE($3, name), status = COALESCE($4, status),
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

/// Counts a new team against `max_teams`; false when the cap is reached.
pub async fn count_team(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE group_buys SET teams_opened = teams_opened + 1
         WHERE workspace_id = $1 AND id = $2 AND teams_opened < max_teams",
    )
    .bind(ws)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes one of the member's places in the group-buy; false at the limit
/// (the member's row stays locked to the commit, queueing their others).
pub async fn take_place(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    member: MemberId,
    limit: i32,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO group_buy_takers (workspace_id, group_buy_id, member_id, taken) VALUES ($1, $2, $3, 1)
         ON CONFLICT (workspace_id, group_buy_id, member_id)
         DO UPDATE SET taken = group_buy_takers.taken + 1 WHERE group_buy_takers.taken < $4",
    )
    .bind(ws)
    .bind(id)
    .bind(member)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives the places of a failed team's members back.
pub async fn give_places_back(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    members: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE group_buy_takers SET taken = taken - 1
         WHERE workspace_id = $1 AND group_buy_id = $2 AND member_id = ANY($3) AND taken > 0",
    )
    .bind(ws)
    .bind(id)
    .bind(members)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a join needs to know of a member: whether they exist, are staff or
/// a bot, and are new (first seen at most 7 days before `at`).
#[derive(Debug, Clone, Copy, FromRow)]
pub struct MemberFacts {
    pub found: bool,
    pub staff_or_bot: bool,
    pub new_member: bool,
}

/// [`MemberFacts`] of a member at `at`.
pub async fn member_facts(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
    at: DateTime<Utc>,
) -> Result<MemberFacts, sqlx::Error> {
    let got: Option<MemberFacts> = sqlx::query_as(&format!(
        "SELECT true AS found, {FACTS} FROM members m WHERE m.workspace_id = $1 AND m.id = $2"
    ))
    .bind(ws)
    .bind(member)
    .bind(at)
    .fetch_optional(conn)
    .await?;
    Ok(got.unwrap_or(MemberFacts { found: false, staff_or_bot: false, new_member: false }))
}

const FACTS: &str = "COALESCE(m.is_staff OR m.is_bot, false)
      OR EXISTS (SELECT 1 FROM staff s WHERE s.workspace_id = $1 AND s.member_id = m.id) AS staff_or_bot,
    COALESCE(LEAST(m.first_seen_at, (SELECT min(s.joined_at) FROM memberships s
                                     WHERE s.workspace_id = $1 AND s.member_id = m.id))
      >= $3 - interval '7 days', false) AS new_member";

/// Everything a join or an open reads before writing, in one statement:
/// the member's facts, where the order already holds a place in the
/// group-buy (team, member), and whether the member is in `team`.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct JoinFacts {
    #[sqlx(flatten)]
    pub member: MemberFacts,
    pub order_team: Option<Uuid>,
    pub order_member: Option<Uuid>,
    pub in_team: bool,
}

/// [`JoinFacts`] at `at`.
pub async fn join_facts(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group_buy: Uuid,
    team: Option<Uuid>,
    member: MemberId,
    order: &str,
    at: DateTime<Utc>,
) -> Result<JoinFacts, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT m.id IS NOT NULL AS found, {FACTS},
                o.team_id AS order_team, o.member_id AS order_member,
                EXISTS (SELECT 1 FROM group_buy_members x WHERE x.workspace_id = $1 AND x.team_id = $5 AND x.member_id = $2)
                  AS in_team
         FROM (SELECT 1) one
         LEFT JOIN members m ON m.workspace_id = $1 AND m.id = $2
         LEFT JOIN group_buy_members o ON o.workspace_id = $1 AND o.group_buy_id = $4 AND o.order_id = $6"
    ))
    .bind(ws)
    .bind(member)
    .bind(at)
    .bind(group_buy)
    .bind(team)
    .bind(order)
    .fetch_one(conn)
    .await
}

/// A join's reads in one statement: the team, its group-buy (and whether
/// its campaign runs or was cancelled) and the joining member's facts.
#[derive(Debug, Clone)]
pub struct JoinRead {
    pub team: TeamRow,
    pub buy: Row,
    pub cancelled: bool,
    pub facts: JoinFacts,
}

/// [`JoinRead`] of `member` joining `team` on `order` at `at` (None: no
/// such team in the workspace).
pub async fn join_read(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    team: Uuid,
    member: MemberId,
    order: &str,
    at: DateTime<Utc>,
) -> Result<Option<JoinRead>, sqlx::Error> {
    #[derive(FromRow)]
    struct Got {
        t_id: Uuid,
        t_group_buy_id: Uuid,
        t_leader_id: Uuid,
        t_group_id: Option<Uuid>,
        t_team_size: i32,
        t_joined: i32,
        t_status: TeamStatus,
        t_reason: Option<String>,
        t_expires_at: DateTime<Utc>,
        t_opened_at: DateTime<Utc>,
        t_closed_at: Option<DateTime<Utc>>,
        #[sqlx(flatten)]
        buy: Row,
        cancelled: bool,
        #[sqlx(flatten)]
        facts: JoinFacts,
    }
    let got: Option<Got> = sqlx::query_as(&format!(
        "SELECT t.id AS t_id, t.group_buy_id AS t_group_buy_id, t.leader_id AS t_leader_id, t.group_id AS t_group_id,
                t.team_size AS t_team_size, t.joined AS t_joined, t.status AS t_status, t.reason AS t_reason,
                t.expires_at AS t_expires_at, t.opened_at AS t_opened_at, t.closed_at AS t_closed_at,
                {COLUMNS}, c.status = 'cancelled' AS cancelled,
                m.id IS NOT NULL AS found, {FACTS},
                o.team_id AS order_team, o.member_id AS order_member,
                EXISTS (SELECT 1 FROM group_buy_members x WHERE x.workspace_id = $1 AND x.team_id = t.id AND x.member_id = $2)
                  AS in_team
         FROM group_buy_teams t
         JOIN group_buys g ON g.workspace_id = $1 AND g.id = t.group_buy_id
         JOIN campaigns c ON c.workspace_id = $1 AND c.id = g.campaign_id
         LEFT JOIN members m ON m.workspace_id = $1 AND m.id = $2
         -- Lateral, so the order's lookup uses the whole unique key (a join
         -- condition on it was left to a filter over the workspace's orders).
         LEFT JOIN LATERAL (SELECT x.team_id, x.member_id FROM group_buy_members x
                            WHERE x.workspace_id = $1 AND x.group_buy_id = t.group_buy_id AND x.order_id = $5) o ON true
         WHERE t.workspace_id = $1 AND t.id = $4"
    ))
    .bind(ws)
    .bind(member)
    .bind(at)
    .bind(team)
    .bind(order)
    .fetch_optional(conn)
    .await?;
    Ok(got.map(|g| JoinRead {
        team: TeamRow {
            id: g.t_id,
            group_buy_id: g.t_group_buy_id,
            leader_id: g.t_leader_id,
            group_id: g.t_group_id,
            team_size: g.t_team_size,
            joined: g.t_joined,
            status: g.t_status,
            reason: g.t_reason,
            expires_at: g.t_expires_at,
            opened_at: g.t_opened_at,
            closed_at: g.t_closed_at,
        },
        buy: g.buy,
        cancelled: g.cancelled,
        facts: g.facts,
    }))
}

/// A team as stored.
#[derive(Debug, Clone, FromRow)]
pub struct TeamRow {
    pub id: Uuid,
    pub group_buy_id: Uuid,
    pub leader_id: Uuid,
    pub group_id: Option<Uuid>,
    pub team_size: i32,
    pub joined: i32,
    pub status: TeamStatus,
    pub reason: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

const TEAM_COLUMNS: &str =
    "id, group_buy_id, leader_id, group_id, team_size, joined, status, reason, expires_at, opened_at, closed_at";

impl TeamRow {
    /// The API's team with its members.
    pub fn view(self, members: Vec<TeamMember>) -> Team {
        Team {
            id: self.id,
            group_buy_id: self.group_buy_id,
            leader_id: MemberId(self.leader_id),
            group_id: self.group_id.map(GroupId),
            team_size: self.team_size,
            needed: self.team_size - self.joined,
            members,
            status: self.status,
            reason: self.reason,
            expires_at: self.expires_at,
            opened_at: self.opened_at,
            closed_at: self.closed_at,
        }
    }
}

/// One team (locked with `lock`).
pub async fn get_team(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    lock: bool,
) -> Result<Option<TeamRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {TEAM_COLUMNS} FROM group_buy_teams WHERE workspace_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await
}

/// Team filters.
#[derive(Debug, Default)]
pub struct TeamFilter {
    pub group_buy: Option<Uuid>,
    pub status: Option<TeamStatus>,
    pub member: Option<MemberId>,
}

/// Teams, newest first.
pub async fn list_teams(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &TeamFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TeamRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {TEAM_COLUMNS} FROM group_buy_teams t
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR group_buy_id = $2) AND ($3::text IS NULL OR status = $3)
           AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM group_buy_members m
                WHERE m.workspace_id = $1 AND m.team_id = t.id AND m.member_id = $4))
           AND ($5::uuid IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6"
    );
    sqlx::query_as(&sql)
        .bind(ws)
        .bind(f.group_buy)
        .bind(f.status)
        .bind(f.member)
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The members of teams, in joining order: (team, member).
pub async fn members_of(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    teams: &[Uuid],
) -> Result<Vec<(Uuid, TeamMember)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Got {
        team_id: Uuid,
        #[sqlx(flatten)]
        m: TeamMember,
    }
    let rows: Vec<Got> = sqlx::query_as(
        "SELECT team_id, member_id, order_id, position, new_member, joined_at FROM group_buy_members
         WHERE workspace_id = $1 AND team_id = ANY($2) ORDER BY team_id, position",
    )
    .bind(ws)
    .bind(teams)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.team_id, r.m)).collect())
}

/// Teams with their members.
pub async fn views(conn: &mut PgConnection, ws: WorkspaceId, rows: Vec<TeamRow>) -> Result<Vec<Team>, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let mut members = members_of(conn, ws, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|t| {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut members).into_iter().partition(|m| m.0 == t.id);
            members = rest;
            t.view(mine.into_iter().map(|m| m.1).collect())
        })
        .collect())
}

/// What [`join`] did.
#[derive(Debug)]
pub enum Joined {
    /// The member holds the place: the team as it is now, and its members
    /// when the statement could read them all (else the caller reads them).
    Done(TeamRow, Option<Vec<TeamMember>>),
    /// The team took no one: full, failed, past its time, of a cancelled
    /// campaign — or, asked not to fill it, this join would have.
    Closed,
    LimitReached,
    /// The member is in the team already or the order holds a place.
    Conflict,
}

/// Joins `member` to a team in one statement, atomic on its own: the
/// team's place by the guarded update that is the only way `joined` moves
/// (the join that fills the team makes it `succeeded`; with `may_fill`
/// false a join that would fill it takes nothing; a cancelled campaign's
/// team is refused by the caller, which read it), then the member's place
/// against the limit (a guarded upsert), then the member row. A refused
/// member place or a conflicting member row raises an error inside the
/// statement, so nothing of it stays: outside a transaction a join that
/// cannot fill the team (and so sends no message) commits by itself.
#[allow(clippy::too_many_arguments)]
pub async fn join(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    g: &Row,
    team: Uuid,
    member: MemberId,
    order: &str,
    new_member: bool,
    now: DateTime<Utc>,
    may_fill: bool,
) -> Result<Joined, sqlx::Error> {
    #[derive(FromRow)]
    struct Got {
        #[sqlx(flatten)]
        team: TeamRow,
        m_member: Vec<Uuid>,
        m_order: Vec<String>,
        m_position: Vec<i32>,
        m_new: Vec<bool>,
        m_at: Vec<DateTime<Utc>>,
    }
    let got = sqlx::query_as::<_, Got>(&format!(
        "WITH filled AS (
             UPDATE group_buy_teams SET joined = joined + 1,
                    status = CASE WHEN joined + 1 = team_size THEN 'succeeded' ELSE 'open' END,
                    closed_at = CASE WHEN joined + 1 = team_size THEN $3 END
             WHERE workspace_id = $1 AND id = $2 AND status = 'open' AND joined < team_size AND expires_at > $3
               AND ($9 OR joined + 1 < team_size)
             RETURNING {TEAM_COLUMNS}),
         place AS (
             INSERT INTO group_buy_takers (workspace_id, group_buy_id, member_id, taken)
             SELECT $1, $4, $5, 1 FROM filled
             ON CONFLICT (workspace_id, group_buy_id, member_id)
             DO UPDATE SET taken = group_buy_takers.taken + 1 WHERE group_buy_takers.taken < $6
             RETURNING 1),
         ins AS (
             -- No member place: division by zero aborts the statement, team place included.
             INSERT INTO group_buy_members (workspace_id, team_id, member_id, group_buy_id, order_id, position,
                 new_member, joined_at)
             SELECT $1, f.id, $5, $4, $7, f.joined + 0 * (f.joined / (SELECT count(*)::int FROM place)), $8, $3
             FROM filled f
             RETURNING member_id, order_id, position, new_member, joined_at),
         every AS (
             SELECT member_id, order_id, position, new_member, joined_at FROM group_buy_members
             WHERE workspace_id = $1 AND team_id = $2
             UNION ALL SELECT * FROM ins)
         SELECT f.*, e.* FROM filled f,
             (SELECT array_agg(member_id ORDER BY position) AS m_member, array_agg(order_id ORDER BY position) AS m_order,
                     array_agg(position ORDER BY position) AS m_position,
                     array_agg(new_member ORDER BY position) AS m_new, array_agg(joined_at ORDER BY position) AS m_at
              FROM every) e"
    ))
    .bind(ws)
    .bind(team)
    .bind(now)
    .bind(g.id)
    .bind(member)
    .bind(g.per_member_limit)
    .bind(order)
    .bind(new_member)
    .bind(may_fill)
    .fetch_optional(conn)
    .await;
    let got = match got {
        Ok(got) => got,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("22012") => return Ok(Joined::LimitReached),
        Err(sqlx::Error::Database(e))
            if matches!(e.constraint(), Some("group_buy_members_pkey" | "group_buy_members_order_key")) =>
        {
            return Ok(Joined::Conflict)
        }
        Err(e) => return Err(e),
    };
    let Some(g) = got else { return Ok(Joined::Closed) };
    // The statement's snapshot predates a join it waited for: then the
    // members it read are fewer than `joined`, and the caller reads them.
    let members = (g.m_member.len() == g.team.joined as usize).then(|| {
        g.m_member
            .iter()
            .zip(g.m_order)
            .zip(g.m_position)
            .zip(g.m_new)
            .zip(g.m_at)
            .map(|((((m, order_id), position), new_member), joined_at)| TeamMember {
                member_id: MemberId(*m),
                order_id,
                position,
                new_member,
                joined_at,
            })
            .collect()
    });
    Ok(Joined::Done(g.team, members))
}

/// Stores a new team with its leader in one statement.
pub async fn insert_team_with_leader(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    t: &TeamRow,
    order: &str,
    new_member: bool,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "WITH team AS (
             INSERT INTO group_buy_teams (workspace_id, id, group_buy_id, leader_id, group_id, team_size, joined,
                 status, expires_at, opened_at)
             VALUES ($1, $2, $3, $4, $5, $6, 1, 'open', $7, $8) RETURNING id)
         INSERT INTO group_buy_members (workspace_id, team_id, member_id, group_buy_id, order_id, position, new_member,
             joined_at)
         SELECT $1, id, $4, $3, $9, 1, $10, $8 FROM team
         ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(t.id)
    .bind(t.group_buy_id)
    .bind(t.leader_id)
    .bind(t.group_id)
    .bind(t.team_size)
    .bind(t.expires_at)
    .bind(t.opened_at)
    .bind(order)
    .bind(new_member)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Quick join's team: the open, unexpired team of the group-buy closest to
/// filling that the member is not in and no other join holds right now
/// (`SKIP LOCKED`: concurrent quick joins spread over the open teams
/// instead of queueing on one), locked.
pub async fn closest_open(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group_buy: Uuid,
    member: MemberId,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT t.id FROM group_buy_teams t
         WHERE t.workspace_id = $1 AND t.group_buy_id = $2 AND t.status = 'open' AND t.expires_at > $4
           AND NOT EXISTS (SELECT 1 FROM group_buy_members m
                           WHERE m.workspace_id = $1 AND m.team_id = t.id AND m.member_id = $3)
         ORDER BY t.joined DESC, t.id
         LIMIT 1 FOR UPDATE SKIP LOCKED",
    )
    .bind(ws)
    .bind(group_buy)
    .bind(member)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Claims up to `limit` open teams that must fail, locked (another
/// instance skips them): past `expires_at`, or of a cancelled campaign.
/// (workspace, team, reason).
pub async fn claim_failing(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    only: Option<(WorkspaceId, Uuid)>,
    limit: i64,
) -> Result<Vec<(WorkspaceId, TeamRow, String)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Got {
        workspace_id: Uuid,
        why: String,
        #[sqlx(flatten)]
        t: TeamRow,
    }
    let rows: Vec<Got> = sqlx::query_as(
        "SELECT t.workspace_id, 'expired' AS why, t.id, t.group_buy_id, t.leader_id, t.group_id, t.team_size,
                t.joined, t.status, t.reason, t.expires_at, t.opened_at, t.closed_at
         FROM group_buy_teams t
         WHERE t.status = 'open' AND t.expires_at <= $1
           AND ($2::uuid IS NULL OR (t.workspace_id = $2 AND t.id = $3))
         ORDER BY t.expires_at LIMIT $4 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(only.map(|o| o.0))
    .bind(only.map(|o| o.1))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<(WorkspaceId, TeamRow, String)> =
        rows.into_iter().map(|r| (WorkspaceId(r.workspace_id), r.t, r.why)).collect();
    if only.is_none() && (out.len() as i64) < limit {
        let rows: Vec<Got> = sqlx::query_as(
            "SELECT t.workspace_id, 'campaign_cancelled' AS why, t.id, t.group_buy_id, t.leader_id, t.group_id,
                    t.team_size, t.joined, t.status, t.reason, t.expires_at, t.opened_at, t.closed_at
             FROM group_buy_teams t
             JOIN group_buys g ON g.workspace_id = t.workspace_id AND g.id = t.group_buy_id
             JOIN campaigns c ON c.workspace_id = g.workspace_id AND c.id = g.campaign_id
             WHERE t.status = 'open' AND c.status = 'cancelled'
             LIMIT $1 FOR UPDATE OF t SKIP LOCKED",
        )
        .bind(limit - out.len() as i64)
        .fetch_all(conn)
        .await?;
        out.extend(rows.into_iter().map(|r| (WorkspaceId(r.workspace_id), r.t, r.why)));
    }
    Ok(out)
}

/// Marks a (locked) open team failed.
pub async fn fail(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    team: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE group_buy_teams SET status = 'failed', reason = $3, closed_at = $4
         WHERE workspace_id = $1 AND id = $2 AND status = 'open'",
    )
    .bind(ws)
    .bind(team)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// One group's figures: (group, opened, succeeded, failed, open, mean
/// seconds to fill, joiners, new joiners, members of succeeded teams).
pub type Figures = (Option<Uuid>, i64, i64, i64, i64, Option<f64>, i64, i64, i64);

/// A group-buy's figures by the group its teams were opened from.
pub async fn figures(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Vec<Figures>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.group_id, count(*), count(*) FILTER (WHERE t.status = 'succeeded'),
                count(*) FILTER (WHERE t.status = 'failed'), count(*) FILTER (WHERE t.status = 'open'),
                (avg(extract(epoch FROM t.closed_at - t.opened_at)) FILTER (WHERE t.status = 'succeeded'))::float8,
                COALESCE(sum(m.joiners), 0)::bigint, COALESCE(sum(m.new_joiners), 0)::bigint,
                COALESCE(sum(t.joined) FILTER (WHERE t.status = 'succeeded'), 0)::bigint
         FROM group_buy_teams t
         LEFT JOIN LATERAL (
             SELECT count(*) FILTER (WHERE x.position > 1) AS joiners,
                    count(*) FILTER (WHERE x.position > 1 AND x.new_member) AS new_joiners
             FROM group_buy_members x WHERE x.workspace_id = t.workspace_id AND x.team_id = t.id) m ON true
         WHERE t.workspace_id = $1 AND t.group_buy_id = $2
         GROUP BY t.group_id ORDER BY t.group_id NULLS FIRST",
    )
    .bind(ws)
    .bind(id)
    .fetch_all(conn)
    .await
}
