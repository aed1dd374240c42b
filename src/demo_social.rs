//! The demo's social-buying scene, through the real engines: a group-buy
//! (teams of three within 24 hours) whose teams over the last ten days
//! succeeded, failed with every order listed, or are still open, and a
//! bargain (five helpers from 99.00 to 9.90) whose sessions were bought at
//! the floor, completed and not yet bought, expired, or are still open.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::campaigns::model::{Campaign, CampaignKind, CampaignStatus, Scene};
use crate::group_buys::service::{Ask, Outcome};
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};

/// What the scene made.
#[derive(Debug, Clone, Default)]
pub struct SocialOutcome {
    /// Teams by status.
    pub teams: Vec<(String, i64)>,
    /// Sessions by status.
    pub sessions: Vec<(String, i64)>,
}

async fn campaign(
    pool: &PgPool,
    ws: WorkspaceId,
    name: &str,
    kind: CampaignKind,
    code: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Uuid> {
    let c = Campaign {
        id: CampaignId::new(),
        name: name.to_owned(),
        description: String::new(),
        scene: Scene::Fission,
        kind,
        status: CampaignStatus::Running,
        starts_at: Some(now - Duration::days(11)),
        ends_at: None,
        target: None,
        tracking_code: code.to_owned(),
        link: None,
        settings: serde_json::json!({}),
        created_at: now,
        updated_at: now,
    };
    let mut conn = pool.acquire().await?;
    crate::campaigns::repo::insert(&mut conn, ws, &c).await?;
    Ok(c.id.0)
}

/// Makes the scene at `now` from the workspace's ordinary members.
pub async fn run(pool: &PgPool, ws: WorkspaceId, now: DateTime<Utc>) -> anyhow::Result<SocialOutcome> {
    let people: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT DISTINCT ON (m.id) m.id, s.group_id FROM members m
         JOIN memberships s ON s.workspace_id = m.workspace_id AND s.member_id = m.id
         WHERE m.workspace_id = $1 AND NOT m.is_staff AND NOT m.is_bot
           AND NOT EXISTS (SELECT 1 FROM staff x WHERE x.workspace_id = $1 AND x.member_id = m.id)
         ORDER BY m.id, s.joined_at LIMIT 600",
    )
    .bind(ws)
    .fetch_all(pool)
    .await?;
    if people.len() < 60 {
        return Ok(SocialOutcome::default());
    }
    let who = |i: usize| (MemberId(people[i % people.len()].0), GroupId(people[i % people.len()].1));

    // The group-buy: ten teams a day for ten days.
    let c = campaign(pool, ws, "3人拼团 有机米", CampaignKind::GroupBuy, "group-buy-rice", now).await?;
    let g = crate::group_buys::repo::Row {
        id: Uuid::now_v7(),
        campaign_id: c,
        product_id: "sku-rice-5kg".into(),
        name: "有机米 5kg 3人团".into(),
        list_price: 19900,
        group_price: 12900,
        team_size: 3,
        time_limit_hours: 24,
        max_teams: None,
        per_member_limit: 3,
        eligible: None,
        new_members_only_joiners: false,
        link: None,
        status: crate::group_buys::model::Status::Active,
        teams_opened: 0,
        created_at: now - Duration::days(11),
        updated_at: now - Duration::days(11),
    };
    let mut conn = pool.acquire().await?;
    crate::group_buys::repo::insert(&mut conn, ws, &g).await?;
    drop(conn);
    let mut n = 0usize;
    for day in 0..10i64 {
        for t in 0..10i64 {
            let opened = now - Duration::days(10 - day) + Duration::hours(2 + t) + Duration::minutes(7 * t);
            let (leader, group) = who(n);
            n += 1;
            let order = format!("gb-{n}");
            let ask = Ask { member: leader, order: &order, group: Some(group), now: opened };
            let Outcome::Done(team) = crate::group_buys::service::open(pool, ws, g.id, ask).await? else { continue };
            // Six in ten fill, two get one friend, two none.
            let joiners = match t % 5 {
                0..=2 => 2,
                3 => 1,
                _ => 0,
            };
            for j in 0..joiners {
                let (m, _) = who(n + 300);
                n += 1;
                let at = opened + Duration::minutes(20 + 90 * j);
                let order = format!("gb-{n}");
                let ask = Ask { member: m, order: &order, group: None, now: at };
                crate::group_buys::service::join(pool, ws, team.id, ask).await?;
            }
        }
    }
    crate::group_buys::service::fail_due(pool, now).await?;

    // The bargain: six sessions a day, helped by friends.
    let c = campaign(pool, ws, "砍价免费拿 保温杯", CampaignKind::Bargain, "bargain-cup", now).await?;
    let b = crate::bargains::repo::Row {
        id: Uuid::now_v7(),
        campaign_id: c,
        product_id: "sku-cup".into(),
        name: "保温杯 砍到 9.9".into(),
        list_price: 9900,
        floor_price: 990,
        helpers_needed: 5,
        time_limit_hours: 24,
        helpers_new_members_only: false,
        buy_at: crate::bargains::model::BuyAt::Floor,
        link: None,
        status: crate::bargains::model::Status::Active,
        created_at: now - Duration::days(11),
        updated_at: now - Duration::days(11),
    };
    let mut conn = pool.acquire().await?;
    crate::bargains::repo::insert(&mut conn, ws, &b).await?;
    drop(conn);
    let mut k = 0usize;
    for day in 0..10i64 {
        for s in 0..6i64 {
            let started = now - Duration::days(10 - day) + Duration::hours(3 + 2 * s);
            let (member, group) = who(k + 150);
            k += 1;
            let Some(Ok((_, session))) =
                crate::bargains::service::start(pool, ws, &b, member, Some(group), started).await?
            else {
                continue;
            };
            // Half reach the floor (two of three then buy), the rest stop
            // short. Helpers are taken in turn, skipping any the engine
            // refuses (the member themself, a second help), so a small
            // demo still completes the sessions meant to complete.
            let wanted = if s % 2 == 0 { 5 } else { (s % 4) as usize };
            let (mut helped, mut tries, mut done) = (0, 0, false);
            while helped < wanted && tries < 20 {
                let (helper, _) = who(k + 400 + tries);
                tries += 1;
                let at = started + Duration::minutes(15 * (helped as i64 + 1));
                if let Some(Ok(h)) = crate::bargains::service::help(pool, ws, session.id, helper, at).await? {
                    helped += 1;
                    done = h.status == crate::bargains::model::SessionStatus::Completed;
                }
            }
            k += tries;
            if done && s != 4 {
                let at = started + Duration::hours(2);
                crate::bargains::service::purchase(pool, ws, session.id, &format!("bg-{k}"), at)
                    .await?
                    .map_err(|r| anyhow::anyhow!("demo purchase refused: {r:?}"))?;
            }
        }
    }
    crate::bargains::service::expire_due(pool, now).await?;

    let teams = sqlx::query_as(
        "SELECT status, count(*) FROM group_buy_teams WHERE workspace_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(ws)
    .fetch_all(pool)
    .await?;
    let sessions = sqlx::query_as(
        "SELECT status, count(*) FROM bargain_sessions WHERE workspace_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(ws)
    .fetch_all(pool)
    .await?;
    Ok(SocialOutcome { teams, sessions })
}
