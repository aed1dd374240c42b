//! The demo's activity scene, made through the engines themselves: the last
//! two weeks of some members' check-ins are real check-ins (streaks,
//! bonuses, points, `checked_in` events), a few mall items are redeemed,
//! and tier rules decide the VIPs.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::campaigns::model::Campaign;
use crate::checkin::model::CheckInChannel;
use crate::checkin::service::{check_in, Request};
use crate::events::model::EventSource;
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};
use crate::mall::model::{CreateMallItem, LimitPeriod, MallItemKind, MemberLimit};

/// The settings of the demo's check-in campaign.
pub fn check_in_settings() -> serde_json::Value {
    serde_json::json!({
        "points": 10,
        "streak_rewards": [{"day": 3, "points": 5}, {"day": 7, "points": 30}],
        "cycle_days": 7,
        "makeup": {"max_per_month": 2, "within_days": 7, "cost_points": 20},
        "keywords": ["签到", "打卡", "/checkin"]
    })
}

/// Makes the check-ins `(at, group, member)`, oldest first, each in its own
/// transaction as the API would.
pub async fn check_ins(
    pool: &PgPool,
    ws: WorkspaceId,
    campaign: CampaignId,
    mut list: Vec<(DateTime<Utc>, Uuid, Uuid)>,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    list.sort();
    let reactions = crate::startup::subscribers();
    let c: Campaign = {
        let mut conn = pool.acquire().await?;
        crate::campaigns::repo::get(&mut conn, ws, campaign, false)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no campaign"))?
    };
    let mut made = 0;
    for (at, group, member) in list {
        let req = Request {
            member: MemberId(member),
            group: Some(GroupId(group)),
            at,
            makeup_day: None,
            channel: if member.as_u128() % 3 == 0 { CheckInChannel::Chat } else { CheckInChannel::Api },
            source: EventSource::Import,
        };
        let mut tx = crate::db::begin(pool).await?;
        if check_in(&mut tx, ws, &c, &req, now, &reactions).await?.is_ok() {
            tx.commit().await?;
            made += 1;
        }
    }
    Ok(made)
}

/// A few mall items, redeemed by the members with the most points.
pub async fn mall(pool: &PgPool, ws: WorkspaceId, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let item = |name: &str, kind, cost, stock, limit: Option<MemberLimit>| CreateMallItem {
        name: name.to_owned(),
        description: String::new(),
        kind,
        points_cost: cost,
        stock,
        per_member_limit: limit,
        tiers: None,
        starts_at: None,
        ends_at: None,
        status: None,
        auto_fulfil: kind == MallItemKind::Custom,
        image_url: None,
    };
    let monthly = Some(MemberLimit { count: 1, period: LimitPeriod::Month });
    let mut conn = pool.acquire().await?;
    let items = [
        crate::mall::repo::insert_item(
            &mut conn,
            ws,
            &item("保温杯 Thermos cup", MallItemKind::Goods, 120, Some(30), monthly),
        )
        .await?,
        crate::mall::repo::insert_item(
            &mut conn,
            ws,
            &item("宝宝湿巾 Baby wipes", MallItemKind::Goods, 60, Some(200), None),
        )
        .await?,
        crate::mall::repo::insert_item(
            &mut conn,
            ws,
            &item("专属客服 Priority service", MallItemKind::Custom, 40, None, monthly),
        )
        .await?,
    ];
    let rich = crate::points::repo::richest(&mut conn, ws, 24).await?;
    drop(conn);
    let mut made = 0;
    for (i, (member, balance)) in rich.into_iter().enumerate() {
        let it = &items[i % items.len()];
        if balance < it.points_cost {
            continue;
        }
        let mut tx = crate::db::begin(pool).await?;
        let Ok(r) = crate::mall::service::redeem(&mut tx, ws, it, member, 1, now).await? else { continue };
        if i % 5 == 1 {
            crate::mall::service::cancel(&mut tx, ws, &r.redemption, now).await?;
        } else if i % 3 == 0 && r.redemption.status == crate::mall::model::RedemptionStatus::PendingFulfilment {
            let done = crate::mall::model::RedemptionStatus::Fulfilled;
            crate::mall::repo::set_status(&mut tx, ws, r.redemption.id, done, Some("SF1400 000 1234"), now).await?;
        }
        tx.commit().await?;
        made += 1;
    }
    Ok(made)
}

/// Tier rules that make the best buyers and the most active members VIPs,
/// applied once; returns the VIPs.
pub async fn tiers(pool: &PgPool, ws: WorkspaceId, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let cfg: crate::tier_rules::model::TierRules = serde_json::from_value(serde_json::json!({
        "rules": [{"id": Uuid::now_v7(), "tier": "vip", "when": {"any": [
            {"metric": "gmv", "days": 30, "min": 20000},
            {"metric": "active_days", "days": 30, "min": 20},
            {"metric": "points_earned", "days": 30, "min": 150}]}}],
        "default_tier": "basic", "downgrade_grace_days": 7, "manual_lock_days": 30
    }))?;
    let mut tx = crate::db::begin(pool).await?;
    crate::tier_rules::repo::put(&mut tx, ws, &cfg).await?;
    crate::tier_rules::service::evaluate(&mut tx, ws, &cfg, now, false).await?;
    tx.commit().await?;
    let mut conn = pool.acquire().await?;
    Ok(crate::members::repo::count_in_tier(&mut conn, ws, "vip").await?)
}
