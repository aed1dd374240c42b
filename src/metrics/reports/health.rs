//! Group health (a 0-100 score from named components, and a status). Pure
//! arithmetic over the per-group figures `repo` aggregates; definitions in
//! `docs/metrics.md`.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::store::repo::{GroupActivity, GroupMembership};

/// Days after joining within which a new member should be active (activation)
/// and should still belong (new-member retention).
pub const SETTLE_DAYS: i64 = 7;

/// A group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Dead,
    Declining,
    Healthy,
}

/// One component of the score.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Component {
    /// The measured value (null when it has no denominator).
    pub value: Option<f64>,
    /// The value mapped to 0-1 (null: left out of the score).
    pub score: Option<f64>,
    /// Points out of 100 it weighs.
    pub weight: i64,
}

/// The score's components.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Components {
    /// Members active in the group in the window / members who belonged; full marks at 0.5.
    pub active_rate: Component,
    /// Mean daily active members / active members of the window; full marks at 0.3.
    pub stickiness: Component,
    /// New members active within 7 days of joining / new members; full marks at 0.6.
    pub activation: Component,
    /// New members still in 7 days after joining / new members; full marks at 0.9.
    pub new_member_retention: Component,
    /// (joins − leaves) / members at the start; 0.5 + 5 × value, within 0-1.
    pub net_growth: Component,
    /// Share of messages sent by the top 10% of senders; 1 − (value − 0.1) / 0.9, within 0-1.
    pub concentration: Component,
    /// Days without a message / days of the window; 1 − value.
    pub silence: Component,
}

impl Components {
    fn all(&self) -> [&Component; 7] {
        [
            &self.active_rate,
            &self.stickiness,
            &self.activation,
            &self.new_member_retention,
            &self.net_growth,
            &self.concentration,
            &self.silence,
        ]
    }
}

/// The integers every component is computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[schema(as = HealthFigures)]
pub struct Figures {
    pub members: i64,
    pub members_start: i64,
    pub members_end: i64,
    pub joins: i64,
    pub leaves: i64,
    pub active_members: i64,
    pub active_members_before: i64,
    pub active_member_days: i64,
    pub messages: i64,
    pub senders: i64,
    pub top_sender_messages: i64,
    pub silent_days: i64,
    pub new_members_activation: i64,
    pub new_members_activated: i64,
    pub new_members_settled: i64,
    pub new_members_stayed: i64,
}

/// One group's health.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupHealth {
    pub group_id: Uuid,
    pub name: String,
    /// 0-100: the weighted mean of the components' scores that have a value.
    pub score: i64,
    pub status: Status,
    /// Why it is not healthy: `no_recent_messages`, `low_active_rate`, `active_members_falling`.
    pub reasons: Vec<String>,
    /// Last local day with a message (null: none up to the window's end).
    #[schema(value_type = Option<String>)]
    pub last_message_day: Option<NaiveDate>,
    pub components: Components,
    pub figures: Figures,
}

/// Thresholds of the status.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Dead: no message on any of the last N days of the window.
    pub dead_after_days: i64,
    /// Declining: active rate under this.
    pub min_active_rate: f64,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn component(value: Option<f64>, weight: i64, map: impl Fn(f64) -> f64) -> Component {
    Component { value, score: value.map(|v| map(v).clamp(0.0, 1.0)), weight }
}

/// Inputs of one group's [`group_health`].
pub struct Input<'a> {
    pub group_id: Uuid,
    pub name: String,
    pub last_message_day: Option<NaiveDate>,
    pub to: NaiveDate,
    pub days: i64,
    pub activity: Option<&'a GroupActivity>,
    pub membership: Option<&'a GroupMembership>,
    /// New members judged for activation, and how many were active.
    pub activation: (i64, i64),
    pub rules: Rules,
}

/// One group's score, components and status.
pub fn group_health(inp: Input) -> GroupHealth {
    let a = inp.activity.cloned().unwrap_or_default();
    let m = inp.membership.cloned().unwrap_or_default();
    let f = Figures {
        members: m.members,
        members_start: m.members_start,
        members_end: m.members_end,
        joins: m.joins,
        leaves: m.leaves,
        active_members: a.active_members,
        active_members_before: a.active_before,
        active_member_days: a.active_member_days,
        messages: a.messages,
        senders: a.senders,
        top_sender_messages: a.top_messages,
        silent_days: inp.days - a.message_days,
        new_members_activation: inp.activation.0,
        new_members_activated: inp.activation.1,
        new_members_settled: m.joiners_settled,
        new_members_stayed: m.joiners_stayed,
    };
    let active_rate = ratio(f.active_members, f.members);
    let components = Components {
        active_rate: component(active_rate, 25, |v| v / 0.5),
        stickiness: component(ratio(f.active_member_days, f.active_members).map(|v| v / inp.days as f64), 15, |v| {
            v / 0.3
        }),
        activation: component(ratio(f.new_members_activated, f.new_members_activation), 15, |v| v / 0.6),
        new_member_retention: component(ratio(f.new_members_stayed, f.new_members_settled), 15, |v| v / 0.9),
        net_growth: component(ratio(f.joins - f.leaves, f.members_start.max(1)), 10, |v| 0.5 + 5.0 * v),
        concentration: component(ratio(f.top_sender_messages, f.messages), 10, |v| 1.0 - (v - 0.1) / 0.9),
        silence: component(ratio(f.silent_days, inp.days), 10, |v| 1.0 - v),
    };
    let (mut points, mut weights) = (0.0, 0);
    for c in components.all() {
        if let Some(s) = c.score {
            points += s * c.weight as f64;
            weights += c.weight;
        }
    }
    let score = if weights > 0 { (points * 100.0 / weights as f64).round() as i64 } else { 0 };
    let mut reasons = Vec::new();
    let silent = inp.last_message_day.is_none_or(|d| d <= inp.to - chrono::Duration::days(inp.rules.dead_after_days));
    if silent {
        reasons.push("no_recent_messages".to_owned());
    }
    if f.members > 0 && active_rate.unwrap_or(0.0) < inp.rules.min_active_rate {
        reasons.push("low_active_rate".to_owned());
    }
    if f.active_members_before >= 5 && f.active_members * 10 < f.active_members_before * 7 {
        reasons.push("active_members_falling".to_owned());
    }
    let status = if silent {
        Status::Dead
    } else if reasons.is_empty() {
        Status::Healthy
    } else {
        Status::Declining
    };
    GroupHealth {
        group_id: inp.group_id,
        name: inp.name,
        score,
        status,
        reasons,
        last_message_day: inp.last_message_day,
        components,
        figures: f,
    }
}

/// Groups by state.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StatusCounts {
    pub healthy: i64,
    pub declining: i64,
    pub dead: i64,
}

/// What the scores are computed from, per group of the scope.
pub struct ScopeReads {
    pub activity: Vec<GroupActivity>,
    /// Joins of the window and how many of them became active.
    pub activation: HashMap<Uuid, (i64, i64)>,
    pub membership: Vec<GroupMembership>,
    /// Active groups: id, name, last local day with a message.
    pub groups: Vec<(Uuid, String, Option<NaiveDate>)>,
}

/// Every group's health: the counts per status over all of them, and those
/// of status `only` (all when None), worst first (status, then score).
pub fn all_groups(
    f: ScopeReads,
    to: NaiveDate,
    days: i64,
    rules: Rules,
    only: Option<Status>,
) -> (StatusCounts, Vec<GroupHealth>) {
    let activity: HashMap<Uuid, GroupActivity> = f.activity.into_iter().map(|a| (a.group_id, a)).collect();
    let membership: HashMap<Uuid, GroupMembership> = f.membership.into_iter().map(|m| (m.group_id, m)).collect();
    let mut counts = StatusCounts::default();
    let mut items = Vec::new();
    for (g, name, last) in f.groups {
        let h = group_health(Input {
            group_id: g,
            name,
            last_message_day: last,
            to,
            days,
            activity: activity.get(&g),
            membership: membership.get(&g),
            activation: f.activation.get(&g).copied().unwrap_or((0, 0)),
            rules,
        });
        *match h.status {
            Status::Healthy => &mut counts.healthy,
            Status::Declining => &mut counts.declining,
            Status::Dead => &mut counts.dead,
        } += 1;
        if only.is_none_or(|s| s == h.status) {
            items.push(h);
        }
    }
    items.sort_by_key(|h| (h.status, h.score, h.group_id));
    (counts, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_group_is_dead_and_a_shrinking_one_declining() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let rules = Rules { dead_after_days: 14, min_active_rate: 0.1 };
        let activity = GroupActivity { active_members: 3, active_before: 10, message_days: 20, ..Default::default() };
        let membership = GroupMembership { members: 20, members_start: 20, ..Default::default() };
        let h = |last: Option<&str>| {
            group_health(Input {
                group_id: Uuid::nil(),
                name: "g".into(),
                last_message_day: last.map(d),
                to: d("2026-10-30"),
                days: 30,
                activity: Some(&activity),
                membership: Some(&membership),
                activation: (0, 0),
                rules,
            })
        };
        let g = h(Some("2026-10-17"));
        assert_eq!(g.status, Status::Declining);
        assert_eq!(g.reasons, vec!["active_members_falling"]);
        assert_eq!(g.components.active_rate.value, Some(0.15));
        assert_eq!(g.components.activation.score, None, "no new members: left out");
        let dead = h(Some("2026-10-16"));
        assert_eq!(dead.status, Status::Dead);
        assert_eq!(h(None).status, Status::Dead);
        // active_rate 0.15/0.5 = 0.3 (25), stickiness 0 (15), net growth 0.5 (10),
        // concentration none, silence 20/30 (10): (7.5 + 0 + 5 + 6.667) / 60.
        assert_eq!(dead.score, ((7.5 + 5.0 + 10.0 * 20.0 / 30.0) * 100.0 / 60.0_f64).round() as i64);
    }
}
