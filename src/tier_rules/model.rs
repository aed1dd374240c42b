//! Tier rule DTOs and the decision, as pure functions.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::ids::MemberId;
use crate::validate::{schema, Checks};

/// A member figure over the last `days` complete local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Amount of paid orders (minor units, the workspace's currency).
    Gmv,
    /// Paid orders.
    Orders,
    /// Points earned (`earn` entries).
    PointsEarned,
    /// Days with an activity event.
    ActiveDays,
}

/// `metric` over `days` days is at least `min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub metric: Metric,
    #[serde(deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 1, maximum = 366)]
    pub days: u32,
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 1000000000000i64)]
    pub min: i64,
}

/// Conditions that must all hold, or of which one must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum When {
    All(Vec<Condition>),
    Any(Vec<Condition>),
}

impl When {
    fn conditions(&self) -> &[Condition] {
        match self {
            When::All(c) | When::Any(c) => c,
        }
    }
}

/// One rule: members meeting `when` belong in `tier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    /// Kept when given (a change's reason is `rule:<id>`); a new rule gets one.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    #[schema(schema_with = schema::slug)]
    pub tier: String,
    #[schema(schema_with = when_schema)]
    pub when: When,
}

/// `{"all": [1-10 conditions]}` or `{"any": [1-10 conditions]}`.
fn when_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let list = || {
        ArrayBuilder::new()
            .items(<Condition as utoipa::PartialSchema>::schema())
            .min_items(Some(1))
            .max_items(Some(10))
            .build()
    };
    let variant = |key: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(key, list())
            .required(key)
            .additional_properties(Some(AdditionalProperties::<utoipa::openapi::schema::Schema>::FreeForm(false)))
            .build()
    };
    OneOfBuilder::new()
        .item(variant("all"))
        .item(variant("any"))
        .description(Some("Conditions that must all hold, or of which one must"))
        .build()
        .into()
}

/// `GET`/`PUT /v1/tier-rules`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRules {
    /// Highest tier first; a member gets the first rule's tier they meet.
    #[schema(max_items = 20)]
    pub rules: Vec<TierRule>,
    /// The tier of members meeting no rule (null: they keep no tier).
    #[schema(schema_with = schema::opt_slug)]
    pub default_tier: Option<String>,
    /// Days a member keeps a tier after falling below it (0: at once).
    #[serde(default, deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 0, maximum = 366)]
    pub downgrade_grace_days: u32,
    /// Days a tier set by hand holds against the rules.
    #[serde(default, deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 0, maximum = 3660)]
    pub manual_lock_days: u32,
    /// Whether the nightly evaluation runs (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl TierRules {
    /// Validates the shape (tiers are checked against the workspace later).
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if self.rules.len() > 20 {
            c.fail("rules", "invalid", "at most 20 rules");
        }
        for (i, r) in self.rules.iter().enumerate() {
            c.slug(&format!("rules[{i}].tier"), &r.tier);
            let n = r.when.conditions().len();
            if !(1..=10).contains(&n) {
                c.fail(format!("rules[{i}].when"), "invalid", "1 to 10 conditions");
            }
            for (j, cond) in r.when.conditions().iter().enumerate() {
                if !(1..=366).contains(&cond.days) {
                    c.fail(format!("rules[{i}].when.conditions[{j}].days"), "invalid", "must be 1 to 366");
                }
                if !(0..=1_000_000_000_000).contains(&cond.min) {
                    c.fail(format!("rules[{i}].when.conditions[{j}].min"), "invalid", "must be 0 to 10^12");
                }
            }
        }
        if let Some(t) = &self.default_tier {
            c.slug("default_tier", t);
        }
        if self.downgrade_grace_days > 366 {
            c.fail("downgrade_grace_days", "invalid", "must be 0 to 366");
        }
        if self.manual_lock_days > 3660 {
            c.fail("manual_lock_days", "invalid", "must be 0 to 3660");
        }
        c.finish()
    }

    /// The (metric, days) figures the rules read.
    pub fn needs(&self) -> Vec<(Metric, u32)> {
        let mut out: Vec<(Metric, u32)> =
            self.rules.iter().flat_map(|r| r.when.conditions().iter().map(|c| (c.metric, c.days))).collect();
        out.sort_by_key(|(m, d)| (*m as u8, *d));
        out.dedup();
        out
    }
}

/// A member's figures: `(metric, days) → value` (absent: 0).
pub type Figures = HashMap<(Metric, u32), i64>;

/// Why a member meets (or does not meet) a rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reading {
    pub metric: Metric,
    pub days: u32,
    pub min: i64,
    pub value: i64,
    pub met: bool,
}

/// The tier the rules give a member, the reason (`rule:<id>` or
/// `rule:default`) and the readings behind it.
pub fn target(cfg: &TierRules, f: &Figures) -> (Option<String>, String, Vec<Reading>) {
    for r in &cfg.rules {
        let readings: Vec<Reading> = r
            .when
            .conditions()
            .iter()
            .map(|c| {
                let value = f.get(&(c.metric, c.days)).copied().unwrap_or(0);
                Reading { metric: c.metric, days: c.days, min: c.min, value, met: value >= c.min }
            })
            .collect();
        let met = match r.when {
            When::All(_) => readings.iter().all(|x| x.met),
            When::Any(_) => readings.iter().any(|x| x.met),
        };
        if met {
            let id = r.id.map(|i| i.to_string()).unwrap_or_default();
            return (Some(r.tier.clone()), format!("rule:{id}"), readings);
        }
    }
    (cfg.default_tier.clone(), "rule:default".into(), vec![])
}

/// What to do with one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Move to the target now.
    Change,
    /// Below the current tier: start (or keep) counting the grace days.
    Grace,
    /// Meets the current tier again: forget any grace.
    Stay,
    /// A tier set by hand holds.
    Locked,
}

/// The member's situation.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    pub current_rank: Option<i32>,
    pub target_rank: Option<i32>,
    pub same: bool,
    pub locked: bool,
    pub below_since: Option<NaiveDate>,
}

/// Decides: upgrades at once; downgrades after `grace` days below.
pub fn decide(s: Situation, today: NaiveDate, grace: u32) -> Decision {
    if s.locked {
        return Decision::Locked;
    }
    if s.same {
        return Decision::Stay;
    }
    let down = match (s.current_rank, s.target_rank) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(c), Some(t)) => t < c,
    };
    if !down || grace == 0 {
        return Decision::Change;
    }
    match s.below_since {
        Some(since) if (today - since).num_days() >= grace as i64 => Decision::Change,
        _ => Decision::Grace,
    }
}

/// A change the evaluation makes (or, in a dry run, would make).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TierMove {
    pub member_id: MemberId,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `rule:<id>` or `rule:default`.
    pub reason: String,
    /// The figures of the rule that decided (empty for the default).
    pub why: Vec<Reading>,
}

/// `POST /v1/tier-rules/evaluate`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evaluate {
    /// Only report what would change.
    #[serde(default)]
    pub dry_run: bool,
}

/// What an evaluation did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Evaluation {
    /// The local day evaluated (windows end the day before).
    pub day: NaiveDate,
    pub dry_run: bool,
    pub members: i64,
    /// The changes (at most 1000 listed; `changed` counts them all).
    pub changes: Vec<TierMove>,
    pub changed: i64,
    /// Members below their tier, kept by the grace period.
    pub in_grace: i64,
    /// Members whose tier set by hand holds.
    pub locked: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    fn sit(c: Option<i32>, t: Option<i32>, since: Option<NaiveDate>) -> Situation {
        Situation { current_rank: c, target_rank: t, same: c == t, locked: false, below_since: since }
    }

    #[test]
    fn upgrades_are_immediate_and_downgrades_wait_for_the_grace() {
        assert_eq!(decide(sit(Some(1), Some(2), None), day(10), 7), Decision::Change);
        assert_eq!(decide(sit(None, Some(1), None), day(10), 7), Decision::Change);
        assert_eq!(decide(sit(Some(2), Some(1), None), day(10), 7), Decision::Grace);
        assert_eq!(decide(sit(Some(2), Some(1), Some(day(4))), day(10), 7), Decision::Grace);
        assert_eq!(decide(sit(Some(2), Some(1), Some(day(3))), day(10), 7), Decision::Change);
        assert_eq!(decide(sit(Some(2), Some(1), None), day(10), 0), Decision::Change);
        assert_eq!(decide(sit(Some(2), Some(2), Some(day(3))), day(10), 7), Decision::Stay);
        let locked = Situation { locked: true, ..sit(Some(2), Some(1), Some(day(1))) };
        assert_eq!(decide(locked, day(10), 0), Decision::Locked);
    }

    #[test]
    fn the_first_rule_met_decides() {
        let cfg: TierRules = serde_json::from_value(serde_json::json!({
            "rules": [
                {"tier": "vip", "when": {"all": [{"metric": "gmv", "days": 90, "min": 100000}, {"metric": "orders", "days": 90, "min": 3}]}},
                {"tier": "active", "when": {"any": [{"metric": "active_days", "days": 30, "min": 15}]}}
            ],
            "default_tier": "basic"
        }))
        .unwrap();
        let f = |g: i64, o: i64, a: i64| -> Figures {
            [((Metric::Gmv, 90), g), ((Metric::Orders, 90), o), ((Metric::ActiveDays, 30), a)].into_iter().collect()
        };
        assert_eq!(target(&cfg, &f(100_000, 3, 0)).0.as_deref(), Some("vip"));
        assert_eq!(target(&cfg, &f(100_000, 2, 20)).0.as_deref(), Some("active"));
        let (t, reason, why) = target(&cfg, &f(0, 0, 1));
        assert_eq!((t.as_deref(), reason.as_str(), why.len()), (Some("basic"), "rule:default", 0));
        assert_eq!(cfg.needs().len(), 3);
    }
}
