//! All SQL of referrals (`referrals`, `referral_inviter_days`, `referral_rewards`).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{Referral, ReferralStatus};
use crate::ids::{MemberId, WorkspaceId};

const COLUMNS: &str = "id, campaign_id, inviter_id, invitee_id, group_id, code, joined_at, hold_until, status, reason,
    decided_at, created_at";

/// A referral to store.
#[derive(Debug, Clone)]
pub struct NewReferral {
    pub id: Uuid,
    pub campaign_id: Option<Uuid>,
    pub inviter_id: Option<Uuid>,
    pub invitee_id: Uuid,
    pub channel_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub code: String,
    pub joined_at: DateTime<Utc>,
    pub hold_until: DateTime<Utc>,
    pub status: ReferralStatus,
    pub reason: Option<&'static str>,
}

/// Stores a referral unless the invitee has one in the campaign (a second
/// join, a redelivered update); `true` when stored.
pub async fn insert(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &NewReferral,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let decided = (r.status != ReferralStatus::Pending).then_some(now);
    let done = sqlx::query(
        "INSERT INTO referrals (workspace_id, id, campaign_id, inviter_id, invitee_id, channel_id, group_id, code,
             joined_at, hold_until, status, reason, decided_at, created_at, updated_at)
         SELECT $1, $2, $3, $4, $5, $6, g.id, $8, $9, $10, $11, $12, $13, $14, $14
         FROM (SELECT 1) one
         LEFT JOIN groups g ON g.workspace_id = $1 AND g.id = $7
         ON CONFLICT (workspace_id, campaign_id, invitee_id) WHERE campaign_id IS NOT NULL DO NOTHING",
    )
    .bind(ws)
    .bind(r.id)
    .bind(r.campaign_id)
    .bind(r.inviter_id)
    .bind(r.invitee_id)
    .bind(r.channel_id)
    .bind(r.group_id)
    .bind(&r.code)
    .bind(r.joined_at)
    .bind(r.hold_until)
    .bind(r.status)
    .bind(r.reason)
    .bind(decided)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What the join checks read, in one statement: whether the invitee is the
/// inviter's other self (the same member, or a shared phone, email or
/// external id), staff or a bot, up the inviter's chain of invites (a
/// cycle), or had a stint in the workspace before `at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct JoinFacts {
    pub same_person: bool,
    pub staff_or_bot: bool,
    pub cycle: bool,
    pub had_stint: bool,
}

/// Reads the [`JoinFacts`] of `invitee` joining at `at` through `inviter`'s code.
pub async fn join_facts(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    invitee: Uuid,
    inviter: Uuid,
    at: DateTime<Utc>,
) -> Result<JoinFacts, sqlx::Error> {
    sqlx::query_as(
        "SELECT
           $2 = $3 OR EXISTS (
             SELECT 1 FROM members a JOIN members b ON b.workspace_id = $1 AND b.id = $2
             WHERE a.workspace_id = $1 AND a.id = $3 AND (
                   (a.phone IS NOT NULL AND regexp_replace(a.phone, '[^0-9]', '', 'g') <> ''
                    AND regexp_replace(a.phone, '[^0-9]', '', 'g') = regexp_replace(b.phone, '[^0-9]', '', 'g'))
                OR (a.email IS NOT NULL AND a.email <> '' AND lower(a.email) = lower(b.email))))
           OR EXISTS (
             SELECT 1 FROM member_identities x JOIN member_identities y
               ON y.workspace_id = $1 AND y.member_id = $2 AND y.external_id = x.external_id
             WHERE x.workspace_id = $1 AND x.member_id = $3) AS same_person,
           EXISTS (SELECT 1 FROM members m WHERE m.workspace_id = $1 AND m.id = $2 AND (m.is_staff OR m.is_bot))
           OR EXISTS (SELECT 1 FROM staff s WHERE s.workspace_id = $1 AND s.member_id = $2) AS staff_or_bot,
           EXISTS (
             WITH RECURSIVE up(member, depth) AS (
                 SELECT $3::uuid, 0
                 UNION
                 SELECT r.inviter_id, up.depth + 1 FROM up
                 JOIN referrals r ON r.workspace_id = $1 AND r.invitee_id = up.member
                  AND r.status IN ('pending', 'qualified', 'flagged') AND r.inviter_id IS NOT NULL
                 WHERE up.depth < 50)
             SELECT 1 FROM up WHERE member = $2) AS cycle,
           EXISTS (SELECT 1 FROM memberships s WHERE s.workspace_id = $1 AND s.member_id = $2 AND s.joined_at < $4)
             AS had_stint",
    )
    .bind(ws)
    .bind(invitee)
    .bind(inviter)
    .bind(at)
    .fetch_one(conn)
    .await
}

/// Claims one pending referral whose hold has ended, locked (another
/// instance skips it): (workspace, referral, channel).
pub async fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Option<(WorkspaceId, Referral)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Due {
        workspace_id: Uuid,
        #[sqlx(flatten)]
        r: Referral,
    }
    let sql = format!(
        "SELECT workspace_id, {COLUMNS} FROM referrals WHERE status = 'pending' AND hold_until <= $1
         ORDER BY hold_until LIMIT 1 FOR UPDATE SKIP LOCKED"
    );
    let d: Option<Due> = sqlx::query_as(&sql).bind(now).fetch_optional(conn).await?;
    Ok(d.map(|d| (WorkspaceId(d.workspace_id), d.r)))
}

/// Whether the invitee's stint in the group that began at the join lasted
/// through the hold (a leave and rejoin within it does not count).
pub async fn stayed(conn: &mut PgConnection, ws: WorkspaceId, r: &Referral) -> Result<bool, sqlx::Error> {
    let Some(group) = r.group_id else { return Ok(false) };
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE workspace_id = $1 AND member_id = $2 AND group_id = $3
                          AND joined_at <= $4 AND (left_at IS NULL OR left_at >= $5))",
    )
    .bind(ws)
    .bind(r.invitee_id)
    .bind(group)
    .bind(r.joined_at)
    .bind(r.hold_until)
    .fetch_one(conn)
    .await
}

/// Counts one qualified invite of the inviter on `day` unless the day has
/// `max` already (a guarded upsert: concurrent qualifications never pass
/// the cap); `false` when over it.
pub async fn count_day(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    (campaign, inviter): (Uuid, Uuid),
    day: NaiveDate,
    max: u32,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO referral_inviter_days AS d (workspace_id, campaign_id, inviter_id, day, qualified)
         VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (workspace_id, campaign_id, inviter_id, day)
         DO UPDATE SET qualified = d.qualified + 1 WHERE d.qualified < $5",
    )
    .bind(ws)
    .bind(campaign)
    .bind(inviter)
    .bind(day)
    .bind(max as i32)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Moves a referral from one of `from` to `to`; the referral after it
/// (None: it was not in one of `from` — decided meanwhile).
pub async fn decide(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    from: &[ReferralStatus],
    (to, reason): (ReferralStatus, Option<&str>),
    qualified_day: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Option<Referral>, sqlx::Error> {
    let sql = format!(
        "UPDATE referrals SET status = $4, reason = $5, qualified_day = COALESCE($6, qualified_day),
             decided_at = $7, updated_at = $7
         WHERE workspace_id = $1 AND id = $2 AND status = ANY($3) RETURNING {COLUMNS}"
    );
    let from: Vec<&str> = from.iter().map(|s| status_str(*s)).collect();
    sqlx::query_as(&sql)
        .bind(ws)
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(reason)
        .bind(qualified_day)
        .bind(now)
        .fetch_optional(conn)
        .await
}

fn status_str(s: ReferralStatus) -> &'static str {
    match s {
        ReferralStatus::Pending => "pending",
        ReferralStatus::Qualified => "qualified",
        ReferralStatus::Revoked => "revoked",
        ReferralStatus::Rejected => "rejected",
        ReferralStatus::Flagged => "flagged",
    }
}

/// The inviter's qualified invites in the campaign.
pub async fn qualified_count(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    inviter: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM referrals
         WHERE workspace_id = $1 AND campaign_id = $2 AND inviter_id = $3 AND status = 'qualified'",
    )
    .bind(ws)
    .bind(campaign)
    .bind(inviter)
    .fetch_one(conn)
    .await
}

/// Takes reward `index` of the inviter (its key is the guard: `false` when
/// granted before).
pub async fn take_reward(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    (campaign, inviter): (Uuid, Uuid),
    (index, at): (i32, i32),
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO referral_rewards (workspace_id, campaign_id, inviter_id, reward_index, at, outcome, granted_at)
         VALUES ($1, $2, $3, $4, $5, '{}', $6) ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(campaign)
    .bind(inviter)
    .bind(index)
    .bind(at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records what a reward gave.
pub async fn reward_outcome(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    (campaign, inviter): (Uuid, Uuid),
    index: i32,
    outcome: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE referral_rewards SET outcome = $5
         WHERE workspace_id = $1 AND campaign_id = $2 AND inviter_id = $3 AND reward_index = $4",
    )
    .bind(ws)
    .bind(campaign)
    .bind(inviter)
    .bind(index)
    .bind(outcome)
    .execute(conn)
    .await?;
    Ok(())
}

/// One referral (locked with `lock`).
pub async fn get(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    lock: bool,
) -> Result<Option<Referral>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM referrals WHERE workspace_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as(&sql).bind(ws).bind(id).fetch_optional(conn).await
}

/// Filters of a list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub campaign: Option<Uuid>,
    pub inviter: Option<MemberId>,
    pub invitee: Option<MemberId>,
    pub status: Option<ReferralStatus>,
}

/// Referrals, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Referral>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM referrals WHERE workspace_id = $1
           AND ($2::uuid IS NULL OR campaign_id = $2) AND ($3::uuid IS NULL OR inviter_id = $3)
           AND ($4::uuid IS NULL OR invitee_id = $4) AND ($5::text IS NULL OR status = $5)
           AND ($6::uuid IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7"
    );
    sqlx::query_as(&sql)
        .bind(ws)
        .bind(f.campaign)
        .bind(f.inviter)
        .bind(f.invitee)
        .bind(f.status)
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The campaign's inviters by qualified invites, then by who reached the
/// count first: (member, display name, qualified, reached at).
pub async fn leaderboard(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: Uuid,
    limit: i64,
) -> Result<Vec<(Uuid, String, i64, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.inviter_id, m.display_name, count(*), max(r.decided_at)
         FROM referrals r JOIN members m ON m.workspace_id = r.workspace_id AND m.id = r.inviter_id
         WHERE r.workspace_id = $1 AND r.campaign_id = $2 AND r.status = 'qualified'
         GROUP BY r.inviter_id, m.display_name
         ORDER BY count(*) DESC, max(r.decided_at), r.inviter_id
         LIMIT $3",
    )
    .bind(ws)
    .bind(campaign)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A child in the referral tree: (inviter, invitee, invitee's name,
/// referral, campaign, status, joined at).
pub type Child = (Uuid, Uuid, String, Uuid, Uuid, ReferralStatus, DateTime<Utc>);

/// The members `parents` invited (pending, flagged or qualified), oldest first.
pub async fn children(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    parents: &[Uuid],
    campaign: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Child>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.inviter_id, r.invitee_id, m.display_name, r.id, r.campaign_id, r.status, r.joined_at
         FROM referrals r JOIN members m ON m.workspace_id = r.workspace_id AND m.id = r.invitee_id
         WHERE r.workspace_id = $1 AND r.inviter_id = ANY($2) AND r.status IN ('pending', 'qualified', 'flagged')
           AND ($3::uuid IS NULL OR r.campaign_id = $3)
         ORDER BY r.joined_at, r.id LIMIT $4",
    )
    .bind(ws)
    .bind(parents)
    .bind(campaign)
    .bind(limit)
    .fetch_all(conn)
    .await
}
