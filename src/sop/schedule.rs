//! Schedule state: one `sop_schedules` row per (step, group[, member]) with
//! its next slot. [`sync_plan`] brings the rows in line with the plan's
//! targets and new joins; the scheduler claims due rows, creates their
//! deliveries and advances them (see [`super::scheduler`]).
//!
//! New rows get the first slot at or after both the plan's
//! `effective_from` and the sync time (editing and resuming affect future
//! slots only); relative steps count from joins and group creations at or
//! after `anchor_from`.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{Plan, PlanTarget};
use super::repo::{self, NewSchedule};
use super::timing::{self, Anchor, Offset, Quiet, Timing};
use crate::clock::zone;
use crate::groups::repo::{GroupFilter, ScheduleTarget};
use crate::ids::{GroupId, WorkspaceId};

/// A plan with its timings compiled, ready to compute slots.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub plan: Plan,
    pub timings: Vec<Timing>,
    pub quiet: Option<Quiet>,
}

impl Compiled {
    /// Compiles a stored plan (its timings were validated when saved).
    pub fn new(plan: Plan) -> anyhow::Result<Self> {
        let timings = plan
            .steps
            .iter()
            .map(|s| s.timing.compile("timing").map_err(|e| anyhow::anyhow!("stored timing: {}", e.message)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let quiet = plan.quiet_hours.as_ref().and_then(|q| q.window());
        Ok(Self { plan, timings, quiet })
    }

    /// Whether a slot's local date lies within the plan's dates.
    pub fn in_window(&self, tz: Tz, slot: DateTime<Utc>) -> bool {
        let d = slot.with_timezone(&tz).date_naive();
        self.plan.starts_on.is_none_or(|s| d >= s) && self.plan.ends_on.is_none_or(|e| d <= e)
    }

    /// The first slot of a recurring or one-off step strictly after `after`, within the dates.
    pub fn next_slot(&self, step: usize, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = self.timings.get(step)?;
        let mut after = after;
        if let Some(start) = self.plan.starts_on.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            after = after.max(timing::resolve(tz, start) - Duration::seconds(1));
        }
        t.next_after(tz, after).filter(|s| self.in_window(tz, *s))
    }

    /// When a slot is sent: quiet hours, then jitter.
    pub fn fire_at(&self, step: usize, tz: Tz, group: Uuid, member: Uuid, slot: DateTime<Utc>) -> DateTime<Utc> {
        let step_id = self.plan.steps.get(step).map(|s| s.id.0).unwrap_or_default();
        let quieted = self.quiet.map(|q| q.apply(tz, slot)).unwrap_or(slot);
        quieted + timing::jitter(self.plan.jitter_seconds.max(0) as u32, step_id, group, member, slot)
    }
}

/// The groups a plan targets right now (active groups only).
pub async fn targets(conn: &mut PgConnection, ws: WorkspaceId, t: &PlanTarget) -> anyhow::Result<Vec<ScheduleTarget>> {
    let active = vec![crate::groups::model::GroupStatus::Active];
    let filter = if let Some(layer) = t.layer_id {
        match crate::layers::repo::get(conn, ws, layer).await? {
            Some(l) => {
                let mut f = l.selector.to_filter();
                f.statuses = active;
                f
            }
            None => return Ok(vec![]),
        }
    } else if let Some(ids) = &t.group_ids {
        GroupFilter { statuses: active, include_ids: ids.iter().map(|g| g.0).collect(), ..Default::default() }
    } else if let Some(tier) = &t.tier {
        GroupFilter { statuses: active, tiers: vec![tier.clone()], ..Default::default() }
    } else {
        return Ok(vec![]);
    };
    Ok(crate::groups::repo::schedule_targets(conn, ws, &filter).await?)
}

/// The schedule rows a sync adds.
#[derive(Default)]
struct NewRows(Vec<NewSchedule>);

impl NewRows {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        c: &Compiled,
        step: usize,
        tz: Tz,
        group: Uuid,
        member: Uuid,
        anchor: Option<DateTime<Utc>>,
        slot: Option<DateTime<Utc>>,
    ) {
        self.0.push(NewSchedule {
            step_id: c.plan.steps[step].id.0,
            group_id: group,
            member_id: member,
            anchor_at: anchor,
            next_slot_at: slot,
            next_fire_at: slot.map(|s| c.fire_at(step, tz, group, member, s)),
        });
    }
}

fn lookback(t: &Timing) -> Duration {
    let offset = match t {
        Timing::After(_, Offset::Exact(d)) => *d,
        Timing::After(_, Offset::Days(n, _)) => Duration::days(i64::from(*n) + 1),
        _ => Duration::zero(),
    };
    offset + Duration::days(1)
}

/// Brings a plan's schedule rows in line with its targets and new joins;
/// returns how many rows it added. Runs inside the caller's transaction.
pub async fn sync_plan(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &Compiled,
    effective_from: DateTime<Utc>,
    anchor_from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let plan_id = c.plan.id;
    let targets = targets(conn, ws, &c.plan.target).await?;
    let ids: Vec<GroupId> = targets.iter().map(|t| t.id).collect();
    repo::drop_untargeted(conn, ws, plan_id, &ids).await?;
    let existing: HashSet<(Uuid, Uuid)> = repo::group_rows(conn, ws, plan_id).await?.into_iter().collect();
    let from = effective_from.max(now) - Duration::seconds(1);
    let mut rows = NewRows::default();
    for (i, (step, t)) in c.plan.steps.iter().zip(&c.timings).enumerate() {
        match t.anchor() {
            Some(Anchor::MemberJoined) => {
                let since = anchor_from.max(now - lookback(t));
                add_joins(conn, ws, c, i, &targets, since, effective_from, &mut rows).await?;
            }
            anchor => {
                for g in targets.iter().filter(|g| !existing.contains(&(step.id.0, g.id.0))) {
                    let tz = zone(&g.timezone);
                    let slot = match anchor {
                        Some(_) if g.created_at < anchor_from => None,
                        Some(_) => t.slot_for(tz, g.created_at).filter(|s| *s >= effective_from && c.in_window(tz, *s)),
                        None => c.next_slot(i, tz, from),
                    };
                    rows.push(c, i, tz, g.id.0, Uuid::nil(), anchor.map(|_| g.created_at), slot);
                }
            }
        }
    }
    let added = rows.0.len();
    repo::insert_rows(conn, ws, plan_id, &rows.0).await?;
    repo::mark_synced(conn, ws, plan_id, now).await?;
    Ok(added)
}

/// Adds rows for members who joined a targeted group since `since` and have none yet.
#[allow(clippy::too_many_arguments)]
async fn add_joins(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &Compiled,
    step: usize,
    targets: &[ScheduleTarget],
    since: DateTime<Utc>,
    effective_from: DateTime<Utc>,
    rows: &mut NewRows,
) -> anyhow::Result<()> {
    let ids: Vec<GroupId> = targets.iter().map(|t| t.id).collect();
    let joins = repo::joins_without_row(conn, ws, &ids, since, c.plan.steps[step].id).await?;
    let tz_of: std::collections::HashMap<Uuid, Tz> = targets.iter().map(|t| (t.id.0, zone(&t.timezone))).collect();
    for (group, member, joined) in joins {
        let tz = tz_of.get(&group).copied().unwrap_or(Tz::UTC);
        let slot = c.timings[step].slot_for(tz, joined).filter(|s| *s >= effective_from && c.in_window(tz, *s));
        rows.push(c, step, tz, group, member, Some(joined), slot);
    }
    Ok(())
}
