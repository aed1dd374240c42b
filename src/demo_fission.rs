//! The demo's growth scene, through the real engines: a channel entry link
//! per source over the first groups (recent QR-code joins attributed to
//! them, with their visits), an invite campaign whose referrals are the
//! demo's invite tree — each join through the inviter's own invite link,
//! checked and held like any other, so some are rejected (returning
//! members, staff) and some revoked (left within the hold) — and the
//! lottery campaign with prizes, entrants, its commitment made at its
//! start and, once its draw time has passed, its draw.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::campaigns::model::{Campaign, CampaignKind, CampaignStatus, Scene};
use crate::channels::model::{ChannelStatus, Strategy, Target};
use crate::channels::repo::Row as Channel;
use crate::events::model::JoinSource;
use crate::ids::{CampaignId, GroupId, WorkspaceId};
use crate::metrics::period::day_start;

/// What the growth scene made.
#[derive(Debug, Clone, Default)]
pub struct FissionOutcome {
    pub channels: usize,
    /// Stints attributed to a channel.
    pub attributed: i64,
    /// Referrals by status.
    pub referrals: Vec<(String, i64)>,
    pub lottery_drawn: bool,
}

fn channel_row(name: &str, source: JoinSource, groups: &[Uuid], now: DateTime<Utc>) -> anyhow::Result<Channel> {
    Ok(Channel {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        source,
        target: Json(Target { group_ids: Some(groups.iter().map(|g| GroupId(*g)).collect()), layer_id: None }),
        capacity_per_group: 500,
        strategy: Strategy::FillInOrder,
        code: crate::channels::model::new_code()?,
        status: ChannelStatus::Active,
        full_since: None,
        created_at: now,
        updated_at: now,
        campaign_id: None,
        inviter_id: None,
    })
}

/// Channels per source; the recent QR-code stints spread over them.
async fn channels(
    pool: &PgPool,
    ws: WorkspaceId,
    tz: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, i64)> {
    let mut conn = pool.acquire().await?;
    let groups: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM groups WHERE workspace_id = $1 ORDER BY external_id LIMIT 3")
            .bind(ws)
            .fetch_all(&mut *conn)
            .await?;
    sqlx::query("UPDATE groups SET invite_url = 'https://work.weixin.qq.com/gm/' || external_id WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(&groups)
        .execute(&mut *conn)
        .await?;
    let made = [
        ("门店海报 Store poster", JoinSource::Offline),
        ("公众号二维码 Official account QR", JoinSource::QrCode),
        ("搜索 Search", JoinSource::Search),
    ];
    for (name, source) in made {
        crate::channels::repo::insert(&mut conn, ws, &channel_row(name, source, &groups, now)?).await?;
    }
    // Three in four recent QR-code joins came through one of them.
    let attributed = sqlx::query(
        "WITH ch AS (SELECT id, code, row_number() OVER (ORDER BY name) - 1 AS k FROM channels
                     WHERE workspace_id = $1 AND inviter_id IS NULL),
              s AS (SELECT id, abs(hashtext(id::text)) % 4 AS k FROM memberships
                    WHERE workspace_id = $1 AND joined_at >= $2 AND source = 'qr_code')
         UPDATE memberships m SET channel_id = ch.id, invite_code = ch.code
         FROM s JOIN ch ON ch.k = s.k WHERE m.workspace_id = $1 AND m.id = s.id",
    )
    .bind(ws)
    .bind(since)
    .execute(&mut *conn)
    .await?
    .rows_affected() as i64;
    // About three visits a join, and some that found the page full.
    sqlx::query(
        "INSERT INTO channel_visits (workspace_id, channel_id, day, group_id, visits)
         SELECT $1, channel_id, (joined_at AT TIME ZONE $2)::date, group_id, count(*) * 3 + 1
         FROM memberships WHERE workspace_id = $1 AND channel_id IS NOT NULL GROUP BY 2, 3, 4
         ON CONFLICT ON CONSTRAINT channel_visits_key DO UPDATE SET visits = channel_visits.visits + EXCLUDED.visits",
    )
    .bind(ws)
    .bind(tz)
    .execute(&mut *conn)
    .await?;
    Ok((made.len(), attributed))
}

/// The invite campaign: the demo's invite tree through the referral engine.
async fn invites(
    pool: &PgPool,
    ws: WorkspaceId,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, i64)>> {
    let settings = crate::campaigns::settings::normalize(
        CampaignKind::Referral,
        Some(serde_json::json!({"hold_hours": 24, "max_qualified_per_day": 3,
            "rewards": [{"at": 1, "points": 20}, {"at": 3, "points": 100}]})),
    )
    .map_err(|e| anyhow::anyhow!("demo referral settings: {e}"))?;
    let c = Campaign {
        id: CampaignId::new(),
        name: "邀请有礼 Invite friends".into(),
        description: "3 friends who stay a day: 100 points".into(),
        scene: Scene::Fission,
        kind: CampaignKind::Referral,
        // Running while its joins are judged; ended after, once its window is over.
        status: CampaignStatus::Running,
        starts_at: Some(window.0),
        ends_at: Some(window.1),
        target: None,
        tracking_code: "invite-friends".into(),
        link: None,
        settings,
        created_at: now,
        updated_at: now,
    };
    let mut conn = pool.acquire().await?;
    crate::campaigns::repo::insert(&mut conn, ws, &c).await?;
    let joins: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT member_id, inviter_id, group_id, joined_at FROM memberships
         WHERE workspace_id = $1 AND inviter_id IS NOT NULL ORDER BY joined_at, id",
    )
    .bind(ws)
    .fetch_all(&mut *conn)
    .await?;
    for (invitee, inviter, group, at) in joins {
        let code = invite_code(&mut conn, ws, &c, inviter, at).await?;
        let join = crate::referrals::service::InviteJoin { invitee, group, at, code };
        crate::referrals::service::on_joins(&mut conn, ws, &[join], at).await?;
    }
    drop(conn);
    crate::referrals::service::run_due(pool, now, &Default::default()).await?;
    let mut conn = pool.acquire().await?;
    if window.1 <= now {
        sqlx::query("UPDATE campaigns SET status = 'ended' WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(c.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(sqlx::query_as("SELECT status, count(*) FROM referrals WHERE workspace_id = $1 GROUP BY 1 ORDER BY 1")
        .bind(ws)
        .fetch_all(&mut *conn)
        .await?)
}

async fn invite_code(
    conn: &mut sqlx::PgConnection,
    ws: WorkspaceId,
    c: &Campaign,
    inviter: Uuid,
    at: DateTime<Utc>,
) -> anyhow::Result<String> {
    let row = Channel {
        campaign_id: Some(c.id.0),
        inviter_id: Some(inviter),
        target: Json(Target { group_ids: None, layer_id: None }),
        source: JoinSource::InviteLink,
        created_at: at,
        updated_at: at,
        ..channel_row(&format!("invite · {}", c.name), JoinSource::InviteLink, &[], at)?
    };
    Ok(crate::channels::repo::upsert_invite(conn, ws, &row).await?.0.code)
}

/// The lottery: prizes, its commitment at its start, entrants, and the draw
/// when its time has passed (drawn as of that time).
async fn lottery(
    pool: &PgPool,
    ws: WorkspaceId,
    id: Uuid,
    tz: Tz,
    last_day: NaiveDate,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let draw_local = last_day.and_hms_opt(20, 0, 0).unwrap_or_default();
    let settings = crate::campaigns::settings::normalize(
        CampaignKind::Lottery,
        Some(serde_json::json!({"draw_at": draw_local.format("%Y-%m-%dT%H:%M").to_string(),
            "prizes": [{"name": "一等奖 空气炸锅", "quantity": 1, "reward": {"goods": "air fryer"}},
                       {"name": "二等奖 200积分", "quantity": 5, "reward": {"points": 200}},
                       {"name": "三等奖 50积分", "quantity": 30, "reward": {"points": 50}}],
            "entries": {"per_member": 1, "per_qualified_invite": 1, "max_per_member": 10}})),
    )
    .map_err(|e| anyhow::anyhow!("demo lottery settings: {e}"))?;
    let mut conn = pool.acquire().await?;
    sqlx::query("UPDATE campaigns SET settings = $3 WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .bind(&settings)
        .execute(&mut *conn)
        .await?;
    crate::lotteries::service::ensure(&mut conn, ws, id, start).await?;
    // Members who joined during the window, and one in three of the rest.
    sqlx::query(
        "INSERT INTO lottery_entrants (workspace_id, campaign_id, member_id, entered_at)
         SELECT DISTINCT ON (m.id) $1, $2, m.id, GREATEST(s.joined_at, $3)
         FROM members m JOIN memberships s ON s.workspace_id = m.workspace_id AND s.member_id = m.id
         WHERE m.workspace_id = $1 AND NOT m.is_staff AND (s.joined_at >= $3 OR abs(hashtext(m.id::text)) % 3 = 0)
         ORDER BY m.id, s.joined_at",
    )
    .bind(ws)
    .bind(id)
    .bind(start)
    .execute(&mut *conn)
    .await?;
    drop(conn);
    let Some(at) = draw_local.and_local_timezone(tz).earliest().map(|t| t.with_timezone(&Utc)) else {
        return Ok(false);
    };
    if at > now {
        return Ok(false);
    }
    let drawn =
        crate::lotteries::service::run_due_in(pool, Some(ws), at + Duration::seconds(1), &Default::default()).await?;
    Ok(drawn == 1)
}

/// Makes the growth scene. `lottery_window` is the lottery campaign's first
/// and last local day.
pub async fn run(
    pool: &PgPool,
    ws: WorkspaceId,
    tz: Tz,
    lottery: (Uuid, NaiveDate, NaiveDate),
    now: DateTime<Utc>,
) -> anyhow::Result<FissionOutcome> {
    let since = now - Duration::days(30);
    let (channels, attributed) = channels(pool, ws, tz.name(), since, now).await?;
    let window = (day_start(tz, lottery.1), day_start(tz, lottery.2 + Duration::days(1)));
    let referrals = invites(pool, ws, window, now).await?;
    let lottery_drawn = self::lottery(pool, ws, lottery.0, tz, lottery.2, window.0, now).await?;
    Ok(FissionOutcome { channels, attributed, referrals, lottery_drawn })
}
