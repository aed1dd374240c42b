//! Claiming, issuing, quoting, redeeming and releasing coupons, each in the
//! caller's transaction with the events it records.
//!
//! A claim counts toward the member's limit first (their holder row stays
//! locked to the commit), stores the coupon and its `coupon_claimed` event,
//! and takes one from the template's total last: the template row is the
//! one every claimer of the template waits on, so it is held only from
//! there to the commit. Any refusal rolls the whole transaction back.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{Cart, Coupon, CouponStatus, CouponTemplate, Eligibility, Quote, Skipped, TemplateStatus, Validity};
use super::pricing::{self, Terms};
use super::repo::{self, NewCoupon};
use crate::events::model::{EventKind, EventSource};
use crate::events::reactions::Reactions;
use crate::ids::{GroupId, MemberId, WorkspaceId};

/// Why a claim was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotActive,
    OutOfStock,
    LimitReached,
    NotEligible,
}

/// Whether the template gives coupons at `now` (active, and before a fixed validity's end).
pub fn is_open(t: &CouponTemplate, now: DateTime<Utc>) -> bool {
    t.status == TemplateStatus::Active && !matches!(t.validity, Validity::Fixed { ends_at, .. } if ends_at <= now)
}

/// When a coupon claimed at `at` is valid: a fixed window, or from the
/// claim to the local midnight ending its `days`-th day (the claim's day first).
pub fn validity_window(v: Validity, tz: chrono_tz::Tz, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    use crate::metrics::period;
    match v {
        Validity::Fixed { starts_at, ends_at } => (starts_at, ends_at),
        Validity::AfterClaim { days } => {
            let first = period::local_day(tz, at);
            let end = first + Duration::days(days as i64);
            (at, period::day_start(tz, end))
        }
    }
}

/// Whether `member` may hold a coupon of a template with `rule`.
pub async fn eligible(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rule: Option<&Eligibility>,
    member: MemberId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let Some(rule) = rule else { return Ok(true) };
    if let Some(ids) = &rule.group_ids {
        let ids: Vec<Uuid> = ids.iter().map(|g| g.0).collect();
        return crate::memberships::repo::is_in_any(conn, ws, member, &ids).await;
    }
    if let Some(layer) = rule.layer_id {
        let Some(l) = crate::layers::repo::get(conn, ws, layer).await? else { return Ok(false) };
        let groups = crate::groups::repo::schedule_targets(conn, ws, &l.selector.to_filter()).await?;
        let ids: Vec<Uuid> = groups.iter().map(|g| g.id.0).collect();
        return crate::memberships::repo::is_in_any(conn, ws, member, &ids).await;
    }
    if let Some(tier) = &rule.tier {
        let got = crate::members::repo::tiers_of(conn, ws, &[member]).await?;
        return Ok(got.into_iter().next().and_then(|t| t.1).as_deref() == Some(tier.as_str()));
    }
    if let Some(days) = rule.joined_within_days {
        let first = crate::memberships::repo::first_joined(conn, ws, member).await?;
        return Ok(first.is_some_and(|f| now - f <= Duration::days(days as i64)));
    }
    Ok(true)
}

/// The `coupon_claimed` or `coupon_redeemed` event of a coupon.
fn event_row(
    kind: EventKind,
    t: &CouponTemplate,
    campaign_code: Option<String>,
    c: &Coupon,
    at: DateTime<Utc>,
    order: Option<&str>,
) -> crate::events::repo::Row {
    crate::events::repo::Row {
        id: Uuid::now_v7(),
        kind: kind.as_str().to_owned(),
        occurred_at: at,
        group_id: c.group_id.map(|g| g.0),
        member_id: Some(c.member_id.0),
        campaign_id: t.campaign_id.map(|c| c.0),
        campaign_code,
        order_id: order.map(str::to_owned),
        // The order's money is the order's events'; the discount is a property.
        amount: None,
        currency: None,
        properties: serde_json::json!({"coupon_id": c.id, "template_id": t.id, "discount": c.discount_applied}),
        source: EventSource::Api,
        text: None,
    }
}

async fn campaign_code(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    t: &CouponTemplate,
) -> Result<Option<String>, sqlx::Error> {
    Ok(match t.campaign_id {
        Some(id) => crate::campaigns::repo::get(conn, ws, id, false).await?.map(|c| c.tracking_code),
        None => None,
    })
}

/// New coupons of `t` for `members` with their claim groups (codes drawn,
/// validity computed at `now`).
fn new_coupons(
    t: &CouponTemplate,
    members: &[(Uuid, Option<GroupId>)],
    issue: Option<Uuid>,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<NewCoupon>> {
    let (from, until) = validity_window(t.validity, tz, now);
    members
        .iter()
        .map(|(m, g)| {
            Ok(NewCoupon {
                id: Uuid::now_v7(),
                code: super::code::generate()?,
                template_id: t.id,
                member_id: *m,
                stackable: t.stackable,
                group_id: g.map(|g| g.0),
                issue_id: issue,
                claimed_at: now,
                valid_from: from,
                valid_until: until,
            })
        })
        .collect()
}

/// Stores a coupon of `t` for each of `members` (their counts and the total
/// already taken by the caller) with its `coupon_claimed` event.
pub async fn give(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    t: &CouponTemplate,
    members: &[(Uuid, Option<GroupId>)],
    issue: Option<Uuid>,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<Vec<Coupon>> {
    if members.is_empty() {
        return Ok(vec![]);
    }
    let tz = workspace_zone(conn, ws).await?;
    let new = new_coupons(t, members, issue, tz, now)?;
    repo::insert_coupons(conn, ws, &new).await?;
    let coupons: Vec<Coupon> = new.iter().map(as_coupon).collect();
    let code = campaign_code(conn, ws, t).await?;
    let rows: Vec<_> =
        coupons.iter().map(|c| event_row(EventKind::CouponClaimed, t, code.clone(), c, now, None)).collect();
    crate::events::reactions::store_new(conn, ws, &rows, now, reactions).await?;
    Ok(coupons)
}

fn as_coupon(n: &NewCoupon) -> Coupon {
    Coupon {
        id: n.id,
        code: n.code.clone(),
        template_id: n.template_id,
        member_id: MemberId(n.member_id),
        status: CouponStatus::Claimed,
        group_id: n.group_id.map(GroupId),
        claimed_at: n.claimed_at,
        valid_from: n.valid_from,
        valid_until: n.valid_until,
        order_id: None,
        discount_applied: None,
        lines: None,
        redeemed_at: None,
    }
}

/// The refusals a claim meets before any write: not open, nothing left,
/// not eligible. The total is read without a lock: once given it stays
/// given (only an operator raising it changes that), so a burst's late
/// claimers are answered without queueing on the template row.
pub async fn precheck(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    t: &CouponTemplate,
    member: MemberId,
    group: Option<GroupId>,
    now: DateTime<Utc>,
) -> Result<Option<Refusal>, sqlx::Error> {
    if !is_open(t, now) {
        return Ok(Some(Refusal::NotActive));
    }
    if t.remaining == Some(0) {
        return Ok(Some(Refusal::OutOfStock));
    }
    if let (Some(g), Some(ids)) = (group, t.eligible.as_ref().and_then(|e| e.group_ids.as_ref())) {
        if !ids.contains(&g) {
            return Ok(Some(Refusal::NotEligible));
        }
    }
    if !eligible(conn, ws, t.eligible.as_ref(), member, now).await? {
        return Ok(Some(Refusal::NotEligible));
    }
    Ok(None)
}

/// Claims one coupon of `t` for `member`; the caller commits on `Ok(Ok(_))`
/// and rolls back otherwise.
pub async fn claim(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    t: &CouponTemplate,
    member: MemberId,
    group: Option<GroupId>,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<Result<Coupon, Refusal>> {
    if let Some(r) = precheck(conn, ws, t, member, group, now).await? {
        return Ok(Err(r));
    }
    if !repo::hold(conn, ws, t.id, member, t.per_member_limit).await? {
        return Ok(Err(Refusal::LimitReached));
    }
    let coupon = give(conn, ws, t, &[(member.0, group)], None, now, reactions).await?.remove(0);
    // Last: the template row is the one every claimer waits on.
    if repo::take(conn, ws, t.id, 1, now).await? == 0 {
        return Ok(Err(Refusal::OutOfStock));
    }
    Ok(Ok(coupon))
}

/// Issues one coupon of `t` to each of `members` (an operator's batch):
/// never more than the total leaves, never past a member's limit, only to
/// eligible members. Returns the coupons issued and what was skipped.
pub async fn issue(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    t: &CouponTemplate,
    members: &[MemberId],
    issue_id: Uuid,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<(i64, Skipped)> {
    let mut skipped = Skipped::default();
    let mut ok = Vec::with_capacity(members.len());
    for m in members {
        if eligible(conn, ws, t.eligible.as_ref(), *m, now).await? {
            ok.push(m.0);
        } else {
            skipped.not_eligible += 1;
        }
    }
    ok.sort();
    ok.dedup();
    let mut held = repo::hold_many(conn, ws, t.id, &ok, t.per_member_limit).await?;
    skipped.limit_reached += (ok.len() - held.len()) as i64;
    held.sort();
    let granted = repo::take(conn, ws, t.id, held.len() as i64, now).await? as usize;
    if granted < held.len() {
        let left_out = held.split_off(granted);
        skipped.out_of_stock += left_out.len() as i64;
        repo::unhold(conn, ws, t.id, &left_out).await?;
    }
    let members: Vec<(Uuid, Option<GroupId>)> = held.iter().map(|m| (*m, None)).collect();
    let given = give(conn, ws, t, &members, Some(issue_id), now, reactions).await?;
    Ok((given.len() as i64, skipped))
}

async fn workspace_zone(conn: &mut PgConnection, ws: WorkspaceId) -> Result<chrono_tz::Tz, sqlx::Error> {
    let w = crate::workspaces::repo::get(conn, ws).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(crate::clock::zone(&w.timezone))
}

/// What coupon `c` of `t` does to `cart` for `member` at `now`.
pub fn quote(t: &CouponTemplate, c: &Coupon, member: MemberId, cart: &Cart, now: DateTime<Utc>) -> Quote {
    let total = pricing::total(cart);
    let mut reasons: Vec<String> = Vec::new();
    if c.member_id != member {
        reasons.push("not_yours".into());
    }
    match c.status {
        CouponStatus::Claimed if now < c.valid_from => reasons.push("not_started".into()),
        CouponStatus::Claimed => {}
        CouponStatus::Expired => reasons.push("expired".into()),
        CouponStatus::Locked | CouponStatus::Redeemed => reasons.push("used".into()),
        CouponStatus::Void => reasons.push("void".into()),
    }
    let terms =
        Terms { discount: t.discount, min_spend: t.min_spend, currency: &t.currency, products: t.products.as_deref() };
    match pricing::price(&terms, cart) {
        Ok(p) if reasons.is_empty() => {
            Quote { coupon_id: c.id, valid: true, reasons, discount: p.discount, payable: p.payable, lines: p.lines }
        }
        Ok(_) => Quote { coupon_id: c.id, valid: false, reasons, discount: 0, payable: total, lines: vec![] },
        Err(why) => {
            reasons.extend(why.into_iter().map(String::from));
            Quote { coupon_id: c.id, valid: false, reasons, discount: 0, payable: total, lines: vec![] }
        }
    }
}

/// Records the redemption of a locked coupon on its paid order: status
/// `redeemed` and one `coupon_redeemed` event (with the order and the discount).
pub async fn confirm(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &Coupon,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> Result<(), sqlx::Error> {
    let Some(t) = repo::get_template(conn, ws, c.template_id, false).await? else { return Ok(()) };
    repo::set_status(conn, ws, c.id, CouponStatus::Redeemed, now).await?;
    let code = campaign_code(conn, ws, &t).await?;
    let row = event_row(EventKind::CouponRedeemed, &t, code, c, now, c.order_id.as_deref());
    crate::events::reactions::store_new(conn, ws, &[row], now, reactions).await?;
    Ok(())
}

/// Where a coupon goes when its order no longer holds it: back to
/// `claimed` while valid, else `expired`.
pub fn returned_status(c: &Coupon, now: DateTime<Utc>) -> CouponStatus {
    if c.valid_until <= now {
        CouponStatus::Expired
    } else {
        CouponStatus::Claimed
    }
}

/// Writes `expired` on every claimed coupon past its validity, in batches
/// (reads show them expired already); how many.
pub async fn expire_due(pool: &sqlx::PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = crate::db::begin(pool).await?;
        let n = repo::expire_due(&mut tx, now, 1000).await?;
        tx.commit().await?;
        total += n;
        if n < 1000 {
            return Ok(total);
        }
    }
}
