//! All SQL of check-ins.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{CheckIn, CheckInChannel};
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};

const COLUMNS: &str = "id, campaign_id, member_id, group_id, day, at, makeup, streak, points_awarded, channel";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    campaign_id: CampaignId,
    member_id: MemberId,
    group_id: Option<GroupId>,
    day: NaiveDate,
    at: DateTime<Utc>,
    makeup: bool,
    streak: i32,
    points_awarded: i64,
    channel: CheckInChannel,
}

impl From<Row> for CheckIn {
    fn from(r: Row) -> Self {
        CheckIn {
            id: r.id,
            campaign_id: r.campaign_id,
            member_id: r.member_id,
            group_id: r.group_id,
            day: r.day,
            at: r.at,
            makeup: r.makeup,
            streak: r.streak,
            points_awarded: r.points_awarded,
            channel: r.channel,
        }
    }
}

/// A member's row of a campaign, as locked.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Locked {
    pub member_id: MemberId,
    /// Days checked in so far.
    pub total_days: i32,
    /// The latest day checked in, and its streak.
    pub last_day: Option<NaiveDate>,
    pub last_streak: Option<i32>,
}

/// Creates the member's row of the campaign if needed and locks it: the
/// lock that serialises one member's check-ins to one campaign (streaks and
/// makeup counts are computed under it). Returns what the row holds.
pub async fn lock_member(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    member: MemberId,
) -> Result<Locked, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO check_in_members (workspace_id, campaign_id, member_id) VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id, campaign_id, member_id) DO UPDATE SET total_days = check_in_members.total_days
         RETURNING member_id, total_days, last_day, last_streak",
    )
    .bind(ws)
    .bind(campaign)
    .bind(member)
    .fetch_one(conn)
    .await
}

/// Inserts a check-in unless the member has one that day (`false`), and
/// counts the day on the member's row (with the last day and its streak):
/// the unique key `check_ins_day_key` is what allows one check-in per day,
/// however many requests race for it.
pub async fn insert(conn: &mut PgConnection, ws: WorkspaceId, c: &CheckIn) -> Result<bool, sqlx::Error> {
    Ok(!insert_many(conn, ws, std::slice::from_ref(c)).await?.is_empty())
}

/// The member's check-in of `day`.
pub async fn by_day(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    member: MemberId,
    day: NaiveDate,
) -> Result<Option<CheckIn>, sqlx::Error> {
    let r: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM check_ins WHERE workspace_id = $1 AND campaign_id = $2 AND member_id = $3 AND day = $4"
    ))
    .bind(ws)
    .bind(campaign)
    .bind(member)
    .bind(day)
    .fetch_optional(conn)
    .await?;
    Ok(r.map(CheckIn::from))
}

/// The member's check-ins from `from` on, by day (a run's neighbourhood).
pub async fn from_day(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    member: MemberId,
    from: NaiveDate,
    limit: i64,
) -> Result<Vec<(Uuid, NaiveDate, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, day, streak FROM check_ins
         WHERE workspace_id = $1 AND campaign_id = $2 AND member_id = $3 AND day >= $4 ORDER BY day LIMIT $5",
    )
    .bind(ws)
    .bind(campaign)
    .bind(member)
    .bind(from)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// New streaks (and points added) of existing check-ins.
pub async fn update_streaks(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[Uuid],
    streaks: &[i32],
    added_points: &[i64],
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH c AS (UPDATE check_ins c SET streak = u.streak, points_awarded = c.points_awarded + u.pts
                    FROM unnest($2::uuid[], $3::int4[], $4::int8[]) AS u(id, streak, pts)
                    WHERE c.workspace_id = $1 AND c.id = u.id
                    RETURNING c.campaign_id, c.member_id, c.day, c.streak)
         UPDATE check_in_members m SET last_streak = c.streak FROM c
         WHERE m.workspace_id = $1 AND m.campaign_id = c.campaign_id AND m.member_id = c.member_id
           AND m.last_day = c.day",
    )
    .bind(ws)
    .bind(ids)
    .bind(streaks)
    .bind(added_points)
    .execute(conn)
    .await?;
    Ok(())
}

/// Corrects the points a check-in earned.
pub async fn set_points_awarded(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    points: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE check_ins SET points_awarded = $3 WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(points)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims a streak bonus: `false` when this run already had it.
#[allow(clippy::too_many_arguments)]
pub async fn claim_reward(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    campaign: CampaignId,
    member: MemberId,
    run_start: NaiveDate,
    streak: i32,
    check_in: Uuid,
    points: i64,
) -> Result<bool, sqlx::Error> {
    let r: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO check_in_streak_rewards (workspace_id, id, campaign_id, member_id, run_start, streak, check_in_id, points)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT ON CONSTRAINT check_in_streak_rewards_key DO NOTHING RETURNING id",
    )
    .bind(ws)
    .bind(id)
    .bind(campaign)
    .bind(member)
    .bind(run_start)
    .bind(streak)
    .bind(check_in)
    .bind(points)
    .fetch_optional(conn)
    .await?;
    Ok(r.is_some())
}

/// [`lock_member`] for many members of one campaign (distinct, locked in
/// member order).
/// Members not in the workspace are left out.
pub async fn lock_members(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    members: &[MemberId],
) -> Result<Vec<Locked>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO check_in_members (workspace_id, campaign_id, member_id)
         SELECT $1, $2, m FROM unnest($3::uuid[]) AS m
         WHERE EXISTS (SELECT 1 FROM members WHERE workspace_id = $1 AND id = m) ORDER BY m
         ON CONFLICT (workspace_id, campaign_id, member_id) DO UPDATE SET total_days = check_in_members.total_days
         RETURNING member_id, total_days, last_day, last_streak",
    )
    .bind(ws)
    .bind(campaign)
    .bind(members)
    .fetch_all(conn)
    .await
}

/// [`insert`] for many check-ins of distinct members: the ids inserted.
pub async fn insert_many(conn: &mut PgConnection, ws: WorkspaceId, cs: &[CheckIn]) -> Result<Vec<Uuid>, sqlx::Error> {
    use crate::webhooks::catalogue::spelled;
    sqlx::query_scalar(
        "WITH ins AS (INSERT INTO check_ins (workspace_id, id, campaign_id, member_id, group_id, day, at, makeup,
                          streak, points_awarded, channel)
                      SELECT $1, u.* FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::date[],
                          $7::timestamptz[], $8::bool[], $9::int4[], $10::int8[], $11::text[]) AS u
                      ON CONFLICT ON CONSTRAINT check_ins_day_key DO NOTHING
                      RETURNING id, campaign_id, member_id, day, streak)
         UPDATE check_in_members m SET total_days = m.total_days + 1, last_day = GREATEST(m.last_day, ins.day),
             last_streak = CASE WHEN m.last_day IS NULL OR ins.day > m.last_day THEN ins.streak ELSE m.last_streak END
         FROM ins WHERE m.workspace_id = $1 AND m.campaign_id = ins.campaign_id AND m.member_id = ins.member_id
         RETURNING ins.id",
    )
    .bind(ws)
    .bind(cs.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.campaign_id).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.member_id).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.group_id).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.day).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.at).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.makeup).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.streak).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.points_awarded).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| spelled(c.channel)).collect::<Vec<_>>())
    .fetch_all(conn)
    .await
}

/// A streak bonus to claim (see [`claim_reward`]).
#[derive(Debug, Clone)]
pub struct Claim {
    pub id: Uuid,
    pub campaign: CampaignId,
    pub member: MemberId,
    pub run_start: NaiveDate,
    pub streak: i32,
    pub check_in: Uuid,
    pub points: i64,
}

/// [`claim_reward`] for many bonuses: the ids claimed (those a run did not
/// have yet).
pub async fn claim_rewards(conn: &mut PgConnection, ws: WorkspaceId, cs: &[Claim]) -> Result<Vec<Uuid>, sqlx::Error> {
    if cs.is_empty() {
        return Ok(vec![]);
    }
    sqlx::query_scalar(
        "INSERT INTO check_in_streak_rewards (workspace_id, id, campaign_id, member_id, run_start, streak, check_in_id, points)
         SELECT $1, u.* FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::date[], $6::int4[], $7::uuid[], $8::int8[]) AS u
         ON CONFLICT ON CONSTRAINT check_in_streak_rewards_key DO NOTHING RETURNING id",
    )
    .bind(ws)
    .bind(cs.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.campaign).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.member).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.run_start).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.streak).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.check_in).collect::<Vec<_>>())
    .bind(cs.iter().map(|c| c.points).collect::<Vec<_>>())
    .fetch_all(conn)
    .await
}

/// Makeups the member made since `since`.
pub async fn makeups_since(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    member: MemberId,
    since: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM check_ins
         WHERE workspace_id = $1 AND campaign_id = $2 AND member_id = $3 AND makeup AND at >= $4",
    )
    .bind(ws)
    .bind(campaign)
    .bind(member)
    .bind(since)
    .fetch_one(conn)
    .await
}

/// Check-in filters.
#[derive(Debug, Default)]
pub struct Filter {
    pub member: Option<MemberId>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A campaign's check-ins, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CheckIn>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM check_ins WHERE workspace_id = $1 AND campaign_id = $2
           AND ($3::uuid IS NULL OR member_id = $3) AND ($4::date IS NULL OR day >= $4)
           AND ($5::date IS NULL OR day <= $5) AND ($6::uuid IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7"
    ))
    .bind(ws)
    .bind(campaign)
    .bind(f.member)
    .bind(f.from)
    .bind(f.to)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(CheckIn::from).collect())
}

/// A member's check-ins of one campaign between two days, by day.
pub async fn between(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    member: MemberId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CheckIn>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM check_ins
         WHERE workspace_id = $1 AND campaign_id = $2 AND member_id = $3 AND day BETWEEN $4 AND $5 ORDER BY day"
    ))
    .bind(ws)
    .bind(campaign)
    .bind(member)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(CheckIn::from).collect())
}

/// The member's totals in a campaign: days and the latest check-in (day, streak).
pub async fn totals(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    member: MemberId,
) -> Result<Option<(i32, Option<NaiveDate>, Option<i32>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.total_days, m.last_day,
                (SELECT c.streak FROM check_ins c WHERE c.workspace_id = m.workspace_id AND c.campaign_id = m.campaign_id
                   AND c.member_id = m.member_id AND c.day = m.last_day)
         FROM check_in_members m WHERE m.workspace_id = $1 AND m.campaign_id = $2 AND m.member_id = $3",
    )
    .bind(ws)
    .bind(campaign)
    .bind(member)
    .fetch_optional(conn)
    .await
}

/// The check-in campaign the member checked in to last.
pub async fn latest_campaign(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
) -> Result<Option<CampaignId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT campaign_id FROM check_in_members WHERE workspace_id = $1 AND member_id = $2
         ORDER BY last_day DESC NULLS LAST LIMIT 1",
    )
    .bind(ws)
    .bind(member)
    .fetch_optional(conn)
    .await
}

/// One day of a campaign's stats: `(day, participants, makeups, points, first_time)`.
pub type DayFigures = (NaiveDate, i64, i64, i64, i64);

/// A campaign's check-ins per day between two days.
pub async fn day_figures(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayFigures>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.day, count(*)::int8, (count(*) FILTER (WHERE c.makeup))::int8,
                COALESCE(sum(c.points_awarded), 0)::int8, (count(*) FILTER (WHERE f.first = c.day))::int8
         FROM check_ins c
         JOIN (SELECT member_id, min(day) AS first FROM check_ins WHERE workspace_id = $1 AND campaign_id = $2
               GROUP BY member_id) f ON f.member_id = c.member_id
         WHERE c.workspace_id = $1 AND c.campaign_id = $2 AND c.day BETWEEN $3 AND $4
         GROUP BY c.day ORDER BY c.day",
    )
    .bind(ws)
    .bind(campaign)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Each member who checked in between two days: their last day then and its streak.
pub async fn last_streaks(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(MemberId, NaiveDate, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (member_id) member_id, day, streak FROM check_ins
         WHERE workspace_id = $1 AND campaign_id = $2 AND day BETWEEN $3 AND $4 ORDER BY member_id, day DESC",
    )
    .bind(ws)
    .bind(campaign)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// How many of `members` checked in to the campaign between two days.
pub async fn checked_in_among(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: CampaignId,
    members: &[MemberId],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(DISTINCT member_id) FROM check_ins
         WHERE workspace_id = $1 AND campaign_id = $2 AND member_id = ANY($3) AND day BETWEEN $4 AND $5",
    )
    .bind(ws)
    .bind(campaign)
    .bind(members)
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await
}
