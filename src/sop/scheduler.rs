//! The scheduler: claims due schedule rows (`FOR UPDATE SKIP LOCKED`),
//! creates their deliveries and advances them to the next slot — all in one
//! transaction, so a crash at any point either leaves the slot unclaimed or
//! fully recorded. The deliveries' unique key (step, group, member, slot) is
//! what makes several instances create exactly one delivery per slot.
//!
//! Misfires: a slot whose fire time is more than the grace behind the clock
//! becomes a `missed` delivery with the reason, never silently dropped.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::repo::{Advance, Due};
use super::schedule::{self, Compiled};
use crate::clock::zone;
use crate::contents::model::Message;
use crate::contents::repo as contents;
use crate::contents::template::Context;
use crate::contents::LiveVars;
use crate::deliveries::model::{Channel, DeliveryState};
use crate::deliveries::repo::{self as deliveries, NewDelivery};
use crate::deliveries::route;
use crate::ids::{CampaignId, MemberId, PlanId, WorkspaceId};

/// Runs one pass over at most `limit` due slots; returns how many it
/// claimed. `live` gives the campaign engines' values (`coupon.*`, `flash_sale.*`).
pub async fn run_due(
    pool: &PgPool,
    live: &LiveVars,
    now: DateTime<Utc>,
    grace: Duration,
    limit: i64,
) -> anyhow::Result<usize> {
    let mut tx = crate::db::begin(pool).await?;
    let due = super::repo::claim_due(&mut tx, now, limit).await?;
    let n = due.len();
    let mut by_ws: HashMap<WorkspaceId, Vec<Due>> = HashMap::new();
    for d in due {
        by_ws.entry(d.workspace_id).or_default().push(d);
    }
    for (ws, rows) in by_ws {
        claim_workspace(&mut tx, ws, rows, live, now, grace).await?;
    }
    if n > 0 {
        deliveries::announce(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// The next fire time after `now` of any schedule row, to sleep until it.
pub async fn next_due(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<Option<DateTime<Utc>>> {
    let mut conn = pool.acquire().await?;
    Ok(super::repo::next_fire_after(&mut conn, now).await?)
}

/// What one workspace's claimed slots need: plans, contents, groups, members, campaigns.
struct Lookups {
    plans: HashMap<PlanId, Compiled>,
    contents: HashMap<Uuid, crate::contents::model::Content>,
    groups: HashMap<Uuid, contents::GroupVars>,
    members: HashMap<Uuid, String>,
    campaigns: HashMap<Uuid, contents::CampaignVars>,
    /// The campaign engines' live values by (campaign, group timezone).
    live: HashMap<(Uuid, String), Vec<(&'static str, String)>>,
    routes: HashMap<(PlanId, Uuid), route::Route>,
    /// `settings.group_daily_cap` of the connections that have one.
    caps: HashMap<Uuid, i64>,
}

async fn lookups(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rows: &[Due],
    sources: &LiveVars,
    now: DateTime<Utc>,
) -> anyhow::Result<Lookups> {
    let mut plans = HashMap::new();
    let mut campaigns = HashMap::new();
    let mut live_keys: Vec<(CampaignId, Uuid)> = Vec::new();
    let mut routes = HashMap::new();
    let mut plan_ids: Vec<PlanId> = rows.iter().map(|r| r.plan_id).collect();
    plan_ids.sort();
    plan_ids.dedup();
    for id in plan_ids {
        let Some(plan) = super::repo::get(conn, ws, id, false).await? else { continue };
        let groups: Vec<Uuid> = rows.iter().filter(|r| r.plan_id == id).map(|r| r.group_id).collect();
        if let Some(c) = plan.campaign_id {
            if let Some(v) = contents::campaign_vars(conn, ws, c).await? {
                campaigns.insert(c.0, v);
            }
            live_keys.extend(groups.iter().map(|g| (c, *g)));
        }
        for (g, r) in route::resolve(conn, ws, plan.connection_id, &groups).await? {
            routes.insert((id, g), r);
        }
        plans.insert(id, Compiled::new(plan)?);
    }
    let content_ids: Vec<Uuid> = plans.values().flat_map(|p| p.plan.steps.iter().map(|s| s.content_id.0)).collect();
    let group_ids: Vec<Uuid> = rows.iter().map(|r| r.group_id).collect();
    let member_ids: Vec<MemberId> = rows.iter().map(|r| r.member_id).filter(|m| !m.is_nil()).map(MemberId).collect();
    let groups: HashMap<Uuid, contents::GroupVars> =
        contents::group_vars(conn, ws, &group_ids).await?.into_iter().map(|g| (g.id.0, g)).collect();
    let contents: HashMap<Uuid, crate::contents::model::Content> =
        contents::get_many(conn, ws, &content_ids).await?.into_iter().map(|c| (c.id.0, c)).collect();
    // Live values only where a step's content uses them: once per campaign
    // and timezone (a daily flash sale's run is placed in the group's).
    let mut live = HashMap::new();
    if contents.values().any(|c| c.variables.iter().any(|v| crate::contents::template::is_live(v))) {
        for (c, g) in live_keys {
            let Some(tz) = groups.get(&g).map(|g| g.timezone.clone()) else { continue };
            if let std::collections::hash_map::Entry::Vacant(e) = live.entry((c.0, tz.clone())) {
                e.insert(sources.values(conn, ws, c, zone(&tz), now).await?);
            }
        }
    }
    Ok(Lookups {
        caps: crate::connections::repo::daily_caps(conn, ws).await?.into_iter().collect(),
        contents,
        groups,
        members: crate::members::repo::display_names(conn, ws, &member_ids)
            .await?
            .into_iter()
            .map(|(id, n)| (id.0, n))
            .collect(),
        plans,
        campaigns,
        live,
        routes,
    })
}

/// Renders a step's content for a group (and member) at a slot.
fn render(l: &Lookups, c: &Compiled, step: usize, d: &Due, local: chrono::NaiveDateTime) -> Option<(Uuid, Message)> {
    let content = l.contents.get(&c.plan.steps.get(step)?.content_id.0)?;
    let g = l.groups.get(&d.group_id)?;
    let mut ctx = Context {
        member_display_name: l.members.get(&d.member_id).cloned().unwrap_or_default(),
        local: Some(local),
        ..Context::default()
    };
    g.fill(&mut ctx);
    if let Some(campaign) = c.plan.campaign_id.and_then(|id| l.campaigns.get(&id.0)) {
        campaign.fill(&mut ctx);
    }
    if let Some(live) = c.plan.campaign_id.and_then(|id| l.live.get(&(id.0, g.timezone.clone()))) {
        ctx.live = live.clone();
    }
    Some((content.id.0, Message { kind: content.kind, body: content.body.render(&ctx) }))
}

async fn claim_workspace(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rows: Vec<Due>,
    live: &LiveVars,
    now: DateTime<Utc>,
    grace: Duration,
) -> anyhow::Result<()> {
    let l = lookups(conn, ws, &rows, live, now).await?;
    let mut caps = DailyCaps::default();
    let mut new = Vec::with_capacity(rows.len());
    let mut advanced = Vec::with_capacity(rows.len());
    for d in &rows {
        // Every claimed row advances; one that cannot be resolved (it cannot
        // happen through the foreign keys) is finished rather than claimed forever.
        let key = (d.step_id, d.group_id, d.member_id);
        let resolved = l.plans.get(&d.plan_id).zip(l.groups.get(&d.group_id)).and_then(|(c, g)| {
            let step = c.plan.steps.iter().position(|s| s.id.0 == d.step_id)?;
            Some((c, step, zone(&g.timezone)))
        });
        let Some((c, step, tz)) = resolved else {
            advanced.push(Advance { key, next_slot: None, next_fire: None });
            continue;
        };
        let local = d.next_slot_at.with_timezone(&tz).naive_local();
        let next = c.timings[step].anchor().is_none().then(|| c.next_slot(step, tz, d.next_slot_at)).flatten();
        let next_fire = next.map(|s| c.fire_at(step, tz, d.group_id, d.member_id, s));
        advanced.push(Advance { key, next_slot: next, next_fire });
        let Some((content_id, message)) = render(&l, c, step, d, local) else { continue };
        let route = l.routes.get(&(d.plan_id, d.group_id));
        let late = now - d.next_fire_at;
        let (state, error) = if late > grace {
            let msg = format!(
                "reached {}s after its time; the misfire grace is {}s",
                late.num_seconds(),
                grace.num_seconds()
            );
            (DeliveryState::Missed, Some(msg))
        } else if let Some(e) = route.and_then(|r| r.error.clone()) {
            (DeliveryState::Dead, Some(e))
        } else if let Some(cap) = caps.reached(conn, ws, &l, route, d.group_id, tz, local.date()).await? {
            (DeliveryState::Dead, Some(format!("the group's daily cap of {cap} SOP messages is reached")))
        } else {
            (DeliveryState::Pending, None)
        };
        new.push(NewDelivery {
            plan: d.plan_id.0,
            step: d.step_id,
            group: d.group_id,
            member: d.member_id,
            content: content_id,
            connection: route.and_then(|r| r.connection_id),
            channel: route.map(|r| r.channel).unwrap_or(Channel::None),
            slot: d.next_slot_at,
            fire: d.next_fire_at,
            local_time: local.format("%Y-%m-%dT%H:%M").to_string(),
            state,
            message,
            error,
        });
    }
    deliveries::insert_many(conn, ws, new).await?;
    super::repo::advance_schedules(conn, ws, &advanced).await?;
    Ok(())
}

/// Counts of today's deliveries per (group, local date), for daily caps.
#[derive(Default)]
struct DailyCaps(HashMap<(Uuid, chrono::NaiveDate), i64>);

impl DailyCaps {
    /// `Some(cap)` when one more delivery would exceed the route's cap; else counts it.
    #[allow(clippy::too_many_arguments)]
    async fn reached(
        &mut self,
        conn: &mut PgConnection,
        ws: WorkspaceId,
        l: &Lookups,
        route: Option<&route::Route>,
        group: Uuid,
        tz: chrono_tz::Tz,
        day: chrono::NaiveDate,
    ) -> anyhow::Result<Option<i64>> {
        let Some(cap) = route.and_then(|r| r.connection_id).and_then(|c| l.caps.get(&c)).copied() else {
            return Ok(None);
        };
        let count = match self.0.get(&(group, day)) {
            Some(n) => *n,
            None => {
                let start = day.and_hms_opt(0, 0, 0).map(|d| super::timing::resolve(tz, d));
                let end = day.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| super::timing::resolve(tz, d));
                deliveries::count_capped(conn, ws, group, start, end).await?
            }
        };
        if count >= cap {
            return Ok(Some(cap));
        }
        self.0.insert((group, day), count + 1);
        Ok(None)
    }
}

/// Re-syncs active plans not synced for `every` (new groups in a layer, new
/// joins for relative steps); returns how many plans it synced.
pub async fn sync_stale(pool: &PgPool, now: DateTime<Utc>, every: Duration, limit: i64) -> anyhow::Result<usize> {
    let mut tx = crate::db::begin(pool).await?;
    let stale = super::repo::claim_stale(&mut tx, now - every, limit).await?;
    for (ws, id, effective_from, anchor_from) in &stale {
        if let Some(plan) = super::repo::get(&mut tx, *ws, *id, false).await? {
            schedule::sync_plan(&mut tx, *ws, &Compiled::new(plan)?, *effective_from, *anchor_from, now).await?;
        }
    }
    tx.commit().await?;
    Ok(stale.len())
}
