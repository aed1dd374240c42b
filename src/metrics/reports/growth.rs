//! Growth: joins, leaves, net, members at the end of each local day, churn,
//! and referral figures — all from membership stints `[joined_at, left_at)`
//! of counted members in the scope's groups (seats: one per member and
//! group, so `members_end(d) = members_end(d-1) + joins(d) - leaves(d)`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::period::local_day;
use crate::metrics::store::repo::Stint;

/// One day of the growth report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GrowthDay {
    #[schema(value_type = String)]
    pub date: NaiveDate,
    pub joins: Option<i64>,
    pub leaves: Option<i64>,
    pub net: Option<i64>,
    /// Seats (member × group) at the end of the day.
    pub members_end: Option<i64>,
    /// Distinct members holding those seats.
    pub distinct_members_end: Option<i64>,
    /// `leaves / members_end` of the previous day (null when that was 0).
    pub churn_rate: Option<f64>,
    pub incomplete: bool,
}

/// Growth of one group over the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupGrowth {
    pub group_id: Uuid,
    pub members_start: i64,
    pub joins: i64,
    pub leaves: i64,
    pub net: i64,
    pub members_end: i64,
    /// `leaves / members_start` (null when the group started empty).
    pub churn_rate: Option<f64>,
}

/// One inviter's figures.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Inviter {
    pub member_id: Uuid,
    pub invited: i64,
    pub stayed: i64,
}

/// Referral (fission) figures of the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Referrals {
    /// Joins in the period naming an inviter.
    pub invited_joins: i64,
    /// Distinct inviters of those joins.
    pub inviters: i64,
    /// `invited_joins / inviters`.
    pub invites_per_inviter: Option<f64>,
    /// The N of "stayed N days".
    pub stay_days: i64,
    /// Invited joins whose stint lasted at least `stay_days` days.
    pub stayed: i64,
    /// Invited joins too recent to know (still in, younger than `stay_days`).
    pub stay_pending: i64,
    /// `stayed / (invited_joins - stay_pending)`.
    pub stayed_rate: Option<f64>,
    /// Viral coefficient: joins in the period invited by members who themselves
    /// joined in the period, per join in the period.
    pub k_factor: Option<f64>,
    /// Top inviters (at most 20), most invites first.
    pub top_inviters: Vec<Inviter>,
}

/// What [`compute`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub days: Vec<GrowthDay>,
    pub groups: Vec<GroupGrowth>,
    pub referrals: Referrals,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Inputs of [`compute`].
pub struct Input<'a> {
    pub tz: Tz,
    pub from: NaiveDate,
    pub days: usize,
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
    pub stay_days: i64,
    /// Stints overlapping the period (and the instant it starts).
    pub stints: &'a [Stint],
}

/// The report's arithmetic (see `docs/metrics.md`, "growth").
pub fn compute(inp: &Input) -> Computed {
    let n = inp.days as i64;
    let off = |t: DateTime<Utc>| (local_day(inp.tz, t) - inp.from).num_days();
    let (mut joins, mut leaves) = (vec![0i64; inp.days], vec![0i64; inp.days]);
    // Seats at the end of day -1 (the period's start) and of every day.
    let mut seats = vec![0i64; inp.days + 1];
    let mut held: HashMap<Uuid, Vec<(i32, i32)>> = HashMap::new();
    let mut per_group: HashMap<Uuid, GroupGrowth> = HashMap::new();
    for s in inp.stints {
        let j = off(s.joined_at);
        let l = s.left_at.map(off);
        let g = per_group.entry(s.group_id).or_insert(GroupGrowth {
            group_id: s.group_id,
            members_start: 0,
            joins: 0,
            leaves: 0,
            net: 0,
            members_end: 0,
            churn_rate: None,
        });
        if (0..n).contains(&j) {
            joins[j as usize] += 1;
            g.joins += 1;
        }
        if let Some(l) = l.filter(|l| (0..n).contains(l)) {
            leaves[l as usize] += 1;
            g.leaves += 1;
        }
        // Present at the end of day d for d in [j, l - 1].
        let last = l.map(|l| l - 1).unwrap_or(i64::MAX);
        if j <= -1 && last >= -1 {
            seats[0] += 1;
            g.members_start += 1;
        }
        if j < n && last >= n - 1 {
            g.members_end += 1;
        }
        let (a, b) = (j.max(0), last.min(n - 1));
        if a <= b {
            // Difference array: +1 from a, -1 after b (prefix-summed below).
            seats[a as usize + 1] += 1;
            if (b + 2) <= n {
                seats[b as usize + 2] -= 1;
            }
            held.entry(s.member_id).or_default().push((a as i32, b as i32));
        }
    }
    let mut present = 0;
    for slot in seats.iter_mut().skip(1) {
        present += *slot;
        *slot = present;
    }
    let mut holders = vec![0i64; inp.days + 1];
    for ranges in held.into_values() {
        for (a, b) in crate::metrics::reports::activity::merge(ranges) {
            holders[a as usize] += 1;
            holders[b as usize + 1] -= 1;
        }
    }
    let mut present = 0;
    for slot in holders.iter_mut() {
        present += *slot;
        *slot = present;
    }
    let days = (0..inp.days)
        .map(|i| {
            let date = inp.from + Duration::days(i as i64);
            let known = date <= inp.today;
            let v = |x: i64| known.then_some(x);
            GrowthDay {
                date,
                joins: v(joins[i]),
                leaves: v(leaves[i]),
                net: v(joins[i] - leaves[i]),
                members_end: v(seats[i + 1]),
                distinct_members_end: v(holders[i]),
                churn_rate: if known { ratio(leaves[i], seats[i]) } else { None },
                incomplete: date >= inp.today,
            }
        })
        .collect();
    let mut groups: Vec<GroupGrowth> = per_group
        .into_values()
        .map(|mut g| {
            g.net = g.joins - g.leaves;
            g.churn_rate = ratio(g.leaves, g.members_start);
            g
        })
        .collect();
    groups.sort_by_key(|g| g.group_id);
    Computed { days, groups, referrals: referrals(inp) }
}

fn referrals(inp: &Input) -> Referrals {
    let n = inp.days as i64;
    let in_period = |s: &&Stint| (0..n).contains(&(local_day(inp.tz, s.joined_at) - inp.from).num_days());
    let joined: Vec<&Stint> = inp.stints.iter().filter(in_period).collect();
    let joiners: HashSet<Uuid> = joined.iter().map(|s| s.member_id).collect();
    let stay = Duration::days(inp.stay_days);
    let mut per: HashMap<Uuid, Inviter> = HashMap::new();
    let (mut invited, mut stayed, mut pending, mut viral) = (0, 0, 0, 0);
    for s in &joined {
        let Some(inviter) = s.inviter_id else { continue };
        invited += 1;
        if joiners.contains(&inviter) {
            viral += 1;
        }
        // How long the stint has lasted so far (to now while still open).
        let lasted = s.left_at.unwrap_or(inp.now) - s.joined_at;
        let e = per.entry(inviter).or_insert(Inviter { member_id: inviter, invited: 0, stayed: 0 });
        e.invited += 1;
        if lasted >= stay {
            stayed += 1;
            e.stayed += 1;
        } else if s.left_at.is_none() {
            pending += 1;
        }
    }
    let inviters = per.len() as i64;
    let mut top: Vec<Inviter> = per.into_values().collect();
    top.sort_by(|a, b| b.invited.cmp(&a.invited).then(a.member_id.cmp(&b.member_id)));
    top.truncate(20);
    Referrals {
        invited_joins: invited,
        inviters,
        invites_per_inviter: ratio(invited, inviters),
        stay_days: inp.stay_days,
        stayed,
        stay_pending: pending,
        stayed_rate: ratio(stayed, invited - pending),
        k_factor: ratio(viral, joined.len() as i64),
        top_inviters: top,
    }
}
