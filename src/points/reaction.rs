//! Points that follow from stored events: the earning rules (paid orders,
//! events of a type) and clawbacks on refunds. Reactions see each event
//! once, and every credit is keyed by its source (the order, the rule and
//! event), so a redelivered order or event never credits twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::model::{EntryKind, LedgerEntry, Source, SourceType};
use super::rules::model::{PointsRule, Trigger};
use super::rules::repo as rules;
use super::service::{self, Credit, Policy};
use crate::events::model::EventKind;
use crate::events::reactions::Reaction;
use crate::events::repo::Row;
use crate::ids::{MemberId, WorkspaceId};

/// The earning-rules and refunds subscriber.
pub struct Earnings;

impl Reaction for Earnings {
    fn name(&self) -> &'static str {
        "points"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        stored_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let rewardable: Vec<&Row> =
                events.iter().filter(|r| r.member_id.is_some() && super::rules::model::rewardable(&r.kind)).collect();
            let (Some(lo), Some(hi)) =
                (rewardable.iter().map(|r| r.occurred_at).min(), rewardable.iter().map(|r| r.occurred_at).max())
            else {
                return Ok(());
            };
            let refunds = rewardable.iter().any(|r| EventKind::OrderRefunded.is(&r.kind));
            let in_force = rules::in_force(conn, ws, lo, hi).await?;
            if in_force.is_empty() && !refunds {
                return Ok(());
            }
            let Some(policy) = service::policy(conn, ws).await? else { return Ok(()) };
            let tiers = member_tiers(conn, ws, &in_force, &rewardable).await?;
            let mut entries = Vec::new();
            let mut expired = Vec::new();
            for r in rewardable {
                let Some(member) = r.member_id.map(MemberId) else { continue };
                if EventKind::OrderRefunded.is(&r.kind) {
                    if let Some(order) = &r.order_id {
                        let source = Source::new(SourceType::Refund, r.id);
                        if let Some(c) =
                            service::claw_back(conn, ws, &policy, order, r.amount, source, stored_at).await?
                        {
                            entries.push(c.entry);
                            expired.extend(c.expired);
                        }
                    }
                    continue;
                }
                let tier = tiers.get(&member).and_then(|t| t.as_deref());
                let applies = |rule: &&PointsRule| applies(rule, r, tier);
                if EventKind::OrderPaid.is(&r.kind) {
                    entries.extend(
                        order_points(conn, ws, &policy, r, member, in_force.iter().filter(applies), stored_at).await?,
                    );
                } else {
                    for rule in in_force.iter().filter(applies).filter(|x| x.trigger == Trigger::Event) {
                        entries.extend(event_points(conn, ws, &policy, rule, r, member, stored_at).await?);
                    }
                }
            }
            super::outbound::announce_expiries(conn, ws, stored_at, &expired).await?;
            let refs: Vec<&LedgerEntry> = entries.iter().collect();
            super::outbound::announce(conn, ws, stored_at, &refs).await
        })
    }
}

/// Whether `rule` rewards event `r` of a member of `tier`.
fn applies(rule: &PointsRule, r: &Row, tier: Option<&str>) -> bool {
    let kind_ok = match rule.trigger {
        Trigger::OrderPaid => EventKind::OrderPaid.is(&r.kind),
        Trigger::Event => rule.event_type.as_deref() == Some(r.kind.as_str()),
    };
    kind_ok
        && rule.starts_at.is_none_or(|s| s <= r.occurred_at)
        && rule.ends_at.is_none_or(|e| r.occurred_at < e)
        && rule.tiers.as_ref().is_none_or(|t| tier.is_some_and(|x| t.iter().any(|k| k == x)))
        && rule.group_ids.as_ref().is_none_or(|g| r.group_id.is_some_and(|x| g.contains(&x)))
}

/// The tiers of the batch's members, when some rule is scoped by tier.
async fn member_tiers(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rules: &[PointsRule],
    rows: &[&Row],
) -> Result<HashMap<MemberId, Option<String>>, sqlx::Error> {
    if !rules.iter().any(|r| r.tiers.is_some()) {
        return Ok(HashMap::new());
    }
    let ids: Vec<MemberId> = rows.iter().filter_map(|r| r.member_id.map(MemberId)).collect();
    Ok(crate::members::repo::tiers_of(conn, ws, &ids).await?.into_iter().collect())
}

/// A paid order's points: every matching rule's, as one credit keyed by the order.
async fn order_points<'r>(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &Policy,
    r: &Row,
    member: MemberId,
    matching: impl Iterator<Item = &'r PointsRule>,
    now: DateTime<Utc>,
) -> Result<Option<LedgerEntry>, sqlx::Error> {
    let (Some(order), Some(amount)) = (&r.order_id, r.amount.filter(|a| *a > 0)) else { return Ok(None) };
    let points: i64 = matching
        .filter_map(|rule| Some((amount / rule.unit?).saturating_mul(rule.points_per_unit?)))
        .fold(0i64, |a, b| a.saturating_add(b))
        .min(super::model::MAX_DELTA);
    if points <= 0 {
        return Ok(None);
    }
    let note = format!("order {order}");
    let c = Credit {
        member,
        points,
        kind: EntryKind::Earn,
        source: Source::new(SourceType::Order, order),
        note: &note,
        at: now,
    };
    let entry = service::credit(conn, ws, policy, c).await?;
    if let Some(e) = &entry {
        rules::record_order_grant(conn, ws, order, member, amount, points, e.id).await?;
    }
    Ok(entry)
}

/// An event rule's points, within its daily cap (local days of the workspace).
async fn event_points(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &Policy,
    rule: &PointsRule,
    r: &Row,
    member: MemberId,
    now: DateTime<Utc>,
) -> Result<Option<LedgerEntry>, sqlx::Error> {
    let Some(mut points) = rule.points else { return Ok(None) };
    if let Some(cap) = rule.daily_cap {
        // Under the account's lock, so concurrent batches share one cap.
        super::repo::lock_account(conn, ws, member).await?;
        let day = crate::metrics::period::local_day(policy.tz, r.occurred_at);
        points = rules::use_daily_cap(conn, ws, rule.id, member, day, points, cap).await?;
    }
    if points <= 0 {
        return Ok(None);
    }
    let c = Credit {
        member,
        points,
        kind: EntryKind::Earn,
        source: Source::new(SourceType::Rule, format!("{}:{}", rule.id, r.id)),
        note: &rule.name,
        at: now,
    };
    service::credit(conn, ws, policy, c).await
}
