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

/// A welfare-hour visit of the last two weeks, made through the engines
/// after the bulk load ([`welfare`]): a coupon claimed, a flash-sale unit
/// reserved, the order placed, paid (or left to expire), perhaps refunded.
#[derive(Debug, Clone)]
pub struct Welfare {
    /// The click on the 10:00 post.
    pub at: DateTime<Utc>,
    pub group: Uuid,
    pub member: Uuid,
    pub claim: bool,
    pub order: Option<WelfareOrder>,
}

/// The order of a welfare visit.
#[derive(Debug, Clone)]
pub struct WelfareOrder {
    pub id: String,
    /// Which of the sale's items, and how many.
    pub item: usize,
    pub quantity: i32,
    pub paid: Option<DateTime<Utc>>,
    pub refunded: Option<DateTime<Utc>>,
}

/// What the welfare hour made.
#[derive(Debug, Clone, Copy, Default)]
pub struct WelfareOutcome {
    pub claimed: usize,
    pub reserved: usize,
    pub paid: usize,
    /// Events the engines stored (claims, redemptions, orders).
    pub events: usize,
}

/// The welfare campaign's coupon template ("VIP 满100减20") and daily 10:00
/// flash sale, both from `since`, then the visits in time order through the
/// engines, so every coupon, reservation and order agree: an order exists
/// only where a unit was reserved (a sold-out run turns buyers away), its
/// amount is the sale price less the coupon it carries, its payment
/// confirms the reservation and redeems the coupon, and unpaid
/// reservations expire.
pub async fn welfare(
    pool: &PgPool,
    ws: WorkspaceId,
    campaign: (Uuid, &str),
    since: DateTime<Utc>,
    mut list: Vec<Welfare>,
    now: DateTime<Utc>,
) -> anyhow::Result<WelfareOutcome> {
    use crate::coupons::model::{Cart, CartItem, CouponTemplate, Discount, TemplateStatus, Validity};
    use crate::flash_sales::model::{SaleItem, SaleStatus, Schedule};
    list.sort_by_key(|w| w.at);
    let reactions = crate::startup::subscribers();
    let template = CouponTemplate {
        id: Uuid::now_v7(),
        campaign_id: Some(CampaignId(campaign.0)),
        name: "VIP 满100减20".into(),
        discount: Discount::Threshold { min_spend: 10_000, amount: 2_000 },
        min_spend: 0,
        currency: "CNY".into(),
        products: None,
        validity: Validity::AfterClaim { days: 7 },
        total: Some(5_000),
        issued: 0,
        remaining: Some(5_000),
        per_member_limit: 1,
        eligible: None,
        stackable: false,
        restore_on_refund: true,
        claim_url: Some("https://shop.example.com/coupons/vip-100-20".into()),
        status: TemplateStatus::Active,
        created_at: since,
        updated_at: since,
    };
    let items = vec![
        SaleItem {
            product_id: "sku-diapers".into(),
            name: "纸尿裤 Diapers L".into(),
            list_price: 12_900,
            sale_price: 7_900,
            stock: 60,
            per_member_limit: 2,
        },
        SaleItem {
            product_id: "sku-wipes".into(),
            name: "宝宝湿巾 Baby wipes ×10".into(),
            list_price: 2_900,
            sale_price: 1_500,
            stock: 100,
            per_member_limit: 3,
        },
    ];
    let sale = crate::flash_sales::repo::SaleRow {
        id: Uuid::now_v7(),
        campaign_id: campaign.0,
        name: "10点福利 Welfare hour".into(),
        schedule: sqlx::types::Json(Schedule::Daily { at: "10:00".into(), duration_minutes: 30 }),
        eligible: None,
        reservation_minutes: 15,
        link: Some("https://shop.example.com/flash/welfare-hour".into()),
        status: SaleStatus::Active,
        created_at: since,
        updated_at: since,
    };
    {
        let mut tx = crate::db::begin(pool).await?;
        crate::coupons::repo::insert_template(&mut tx, ws, &template).await?;
        crate::flash_sales::repo::insert_sale(&mut tx, ws, &sale, &items).await?;
        tx.commit().await?;
    }
    let mut out = WelfareOutcome::default();
    let event =
        |kind: &str, at: DateTime<Utc>, w: &Welfare, o: &WelfareOrder, amount: i64, props: serde_json::Value| {
            crate::events::repo::Row {
                id: Uuid::now_v7(),
                kind: kind.to_owned(),
                occurred_at: at,
                group_id: Some(w.group),
                member_id: Some(w.member),
                campaign_id: Some(campaign.0),
                campaign_code: Some(campaign.1.to_owned()),
                order_id: Some(o.id.clone()),
                amount: Some(amount),
                currency: Some("CNY".into()),
                properties: props,
                source: EventSource::Import,
                text: None,
            }
        };
    for w in &list {
        let (member, group) = (MemberId(w.member), Some(GroupId(w.group)));
        let mut coupon = None;
        if w.claim {
            let at = w.at + chrono::Duration::seconds(20);
            let mut tx = crate::db::begin(pool).await?;
            let t = crate::coupons::repo::get_template(&mut tx, ws, template.id, false).await?;
            if let Some(t) = t {
                if let Ok(c) = crate::coupons::service::claim(&mut tx, ws, &t, member, group, at, &reactions).await? {
                    tx.commit().await?;
                    out.claimed += 1;
                    out.events += 1;
                    coupon = Some(c);
                }
            }
        }
        let Some(o) = &w.order else { continue };
        let item = &items[o.item % items.len()];
        let at = w.at + chrono::Duration::seconds(60);
        let mut conn = pool.acquire().await?;
        let Some(ctx) =
            crate::flash_sales::repo::context(&mut conn, ws, sale.id, &item.product_id, member, group, at).await?
        else {
            continue;
        };
        let Ok(plan) = crate::flash_sales::service::look(&mut conn, ws, &ctx, member, o.quantity, at).await? else {
            continue;
        };
        drop(conn);
        let mut tx = crate::db::begin(pool).await?;
        let r = crate::flash_sales::service::take(&mut tx, ws, &sale, item, member, o.quantity, plan, at).await?;
        let Ok(r) = r else { continue };
        out.reserved += 1;
        // The shop applies the coupon when the cart reaches its threshold.
        let cart = Cart {
            currency: "CNY".into(),
            items: vec![CartItem {
                product_id: item.product_id.clone(),
                unit_price: item.sale_price,
                quantity: o.quantity as i64,
            }],
        };
        let mut discount = 0;
        let mut code = None;
        if let Some(c) = &coupon {
            let q = crate::coupons::service::quote(&template, c, member, &cart, at);
            if q.valid {
                crate::coupons::repo::lock_to_order(&mut tx, ws, c.id, &o.id, q.discount, &q.lines, at).await?;
                discount = q.discount;
                code = Some(c.code.clone());
            }
        }
        let amount = item.sale_price * o.quantity as i64 - discount;
        let props = serde_json::json!({"reservation_id": r.id, "coupon_code": code});
        let placed = event("order_placed", at, w, o, amount, props.clone());
        crate::events::reactions::store_new(&mut tx, ws, &[placed], at, &reactions).await?;
        tx.commit().await?;
        out.events += 1;
        let Some(paid) = o.paid else { continue };
        let mut tx = crate::db::begin(pool).await?;
        let row = event("order_paid", paid, w, o, amount, props);
        crate::events::reactions::store_new(&mut tx, ws, &[row], paid, &reactions).await?;
        tx.commit().await?;
        out.paid += 1;
        out.events += 1 + usize::from(code.is_some());
        if let Some(at) = o.refunded {
            let mut tx = crate::db::begin(pool).await?;
            let row = event("order_refunded", at, w, o, amount, serde_json::json!({}));
            crate::events::reactions::store_new(&mut tx, ws, &[row], at, &reactions).await?;
            tx.commit().await?;
            out.events += 1;
        }
    }
    // Reservations never paid give their units back; coupons past their days expire.
    crate::flash_sales::service::expire_due(pool, now).await?;
    crate::coupons::service::expire_due(pool, now).await?;
    Ok(out)
}
