//! Typed settings per campaign kind. A kind with mechanics has a settings
//! type here, validated on create and update (422 naming the field, e.g.
//! `settings.streak_rewards[1].day`) and stored with its defaults filled
//! in; the other kinds keep a free JSON object until their engine exists.

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::invite_settings::ReferralSettings;
use super::lottery_settings::LotterySettings;
use super::model::CampaignKind;
use crate::error::{ApiError, ApiResult};
use crate::ids::ContentId;
use crate::validate::{schema, Checks};

/// Most points one check-in or bonus may award.
pub const MAX_POINTS: i64 = 100_000;

/// Settings of a `check_in` campaign (every field optional: defaults shown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInSettings {
    /// Points per check-in (0 to 100000; default 10).
    #[serde(default = "default_points", deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 100000, default = 10)]
    pub points: i64,
    /// Bonuses when a streak reaches a day (distinct days, at most 31).
    #[serde(default)]
    #[schema(max_items = 31)]
    pub streak_rewards: Vec<StreakReward>,
    /// Streak rewards repeat every `cycle_days` days of a streak (1 to 366,
    /// not before the last reward day); null: each is granted once a streak.
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 366)]
    pub cycle_days: Option<u32>,
    /// Local time (`HH:MM`) a check-in day starts: with `04:00`, 03:59 still
    /// belongs to the day before. Default `00:00`.
    #[serde(default = "default_day_start")]
    #[schema(schema_with = hhmm)]
    pub day_starts_at: String,
    /// Makeup check-ins (补签) for missed days; null: not allowed.
    #[serde(default, deserialize_with = "crate::validate::de::opt_object")]
    pub makeup: Option<MakeupRules>,
    /// Chat messages that check in (trimmed, case-insensitive; at most 20,
    /// each 1 to 32 characters). Default `["签到", "打卡"]`.
    #[serde(default = "default_keywords")]
    #[schema(schema_with = keywords)]
    pub keywords: Vec<String>,
    /// A content template the bot replies with in the group after a chat check-in.
    #[serde(default)]
    pub reply_content_id: Option<ContentId>,
}

/// A streak bonus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreakReward {
    /// The streak day it is granted on (1 to 366).
    #[serde(deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 1, maximum = 366)]
    pub day: u32,
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 1, maximum = 100000)]
    pub points: i64,
}

/// The rules of makeup check-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeupRules {
    /// Makeups a member may make per local month (counted by when they are made).
    #[serde(deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 1, maximum = 31)]
    pub max_per_month: u32,
    /// How many days back a missed day may be made up (1 to 31).
    #[serde(deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 1, maximum = 31)]
    pub within_days: u32,
    /// Points a makeup costs, paid in the same transaction (0 to 100000).
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 100000)]
    pub cost_points: i64,
}

fn default_points() -> i64 {
    10
}

fn default_day_start() -> String {
    "00:00".into()
}

fn default_keywords() -> Vec<String> {
    vec!["签到".into(), "打卡".into()]
}

fn hhmm() -> utoipa::openapi::schema::Object {
    schema::matching(schema::HHMM, false)
}

fn keywords() -> utoipa::openapi::schema::Array {
    schema::texts::<1, 32, 20>()
}

impl Default for CheckInSettings {
    fn default() -> Self {
        Self {
            points: default_points(),
            streak_rewards: Vec::new(),
            cycle_days: None,
            day_starts_at: default_day_start(),
            makeup: None,
            keywords: default_keywords(),
            reply_content_id: None,
        }
    }
}

impl CheckInSettings {
    /// Reads stored settings (defaults where a field is missing; a stored
    /// object this version cannot read gives the defaults).
    pub fn from_stored(v: &serde_json::Value) -> Self {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    /// The local time a check-in day starts.
    pub fn day_start(&self) -> NaiveTime {
        crate::clock::parse_hhmm(&self.day_starts_at).unwrap_or(NaiveTime::MIN)
    }

    /// A keyword a chat text matches (trimmed, case-insensitive).
    pub fn matches(&self, text: &str) -> bool {
        let t = text.trim().to_lowercase();
        !t.is_empty() && self.keywords.iter().any(|k| k.trim().to_lowercase() == t)
    }

    /// The bonuses a streak of `streak` days earns on its last day.
    pub fn rewards_at(&self, streak: u32) -> Vec<StreakReward> {
        let day = match self.cycle_days {
            Some(c) if c > 0 => (streak - 1) % c + 1,
            _ => streak,
        };
        self.streak_rewards.iter().filter(|r| r.day == day).copied().collect()
    }

    fn check(&self, c: &mut Checks) {
        if !(0..=MAX_POINTS).contains(&self.points) {
            c.fail("settings.points", "invalid", "must be 0 to 100000");
        }
        if self.streak_rewards.len() > 31 {
            c.fail("settings.streak_rewards", "invalid", "at most 31 rewards");
        }
        let mut days = std::collections::HashSet::new();
        for (i, r) in self.streak_rewards.iter().enumerate() {
            if !(1..=366).contains(&r.day) {
                c.fail(format!("settings.streak_rewards[{i}].day"), "invalid", "must be 1 to 366");
            } else if !days.insert(r.day) {
                c.fail(format!("settings.streak_rewards[{i}].day"), "duplicate", "each day at most once");
            }
            if !(1..=MAX_POINTS).contains(&r.points) {
                c.fail(format!("settings.streak_rewards[{i}].points"), "invalid", "must be 1 to 100000");
            }
        }
        if let Some(cycle) = self.cycle_days {
            if !(1..=366).contains(&cycle) {
                c.fail("settings.cycle_days", "invalid", "must be 1 to 366");
            } else if self.streak_rewards.iter().any(|r| r.day > cycle) {
                c.fail("settings.cycle_days", "invalid", "must not be shorter than the last streak reward day");
            }
        }
        if crate::clock::parse_hhmm(&self.day_starts_at).is_none() {
            c.fail("settings.day_starts_at", "invalid", "must be a local time HH:MM");
        }
        if let Some(m) = &self.makeup {
            if !(1..=31).contains(&m.max_per_month) {
                c.fail("settings.makeup.max_per_month", "invalid", "must be 1 to 31");
            }
            if !(1..=31).contains(&m.within_days) {
                c.fail("settings.makeup.within_days", "invalid", "must be 1 to 31");
            }
            if !(0..=MAX_POINTS).contains(&m.cost_points) {
                c.fail("settings.makeup.cost_points", "invalid", "must be 0 to 100000");
            }
        }
        if self.keywords.len() > 20 {
            c.fail("settings.keywords", "invalid", "at most 20 keywords");
        }
        for (i, k) in self.keywords.iter().enumerate() {
            c.text(&format!("settings.keywords[{i}]"), k, 1, 32);
        }
    }
}

/// Reads and validates `settings` for a campaign of `kind`; returns what to
/// store (defaults filled in for kinds with typed settings).
pub fn normalize(kind: CampaignKind, settings: Option<serde_json::Value>) -> ApiResult<serde_json::Value> {
    let raw = settings.unwrap_or_else(|| serde_json::json!({}));
    match kind {
        CampaignKind::CheckIn => {
            let s: CheckInSettings = typed(&raw)?;
            let mut c = Checks::new();
            s.check(&mut c);
            c.finish()?;
            Ok(serde_json::to_value(&s).map_err(anyhow::Error::new)?)
        }
        CampaignKind::Lottery => {
            let s: super::lottery_settings::LotterySettings = typed(&raw)?;
            let mut c = Checks::new();
            s.check(&mut c);
            c.finish()?;
            Ok(serde_json::to_value(&s).map_err(anyhow::Error::new)?)
        }
        CampaignKind::Referral => {
            let s: super::invite_settings::ReferralSettings = typed(&raw)?;
            let mut c = Checks::new();
            s.check(&mut c);
            c.finish()?;
            Ok(serde_json::to_value(&s).map_err(anyhow::Error::new)?)
        }
        _ => Ok(raw),
    }
}

/// Reads `raw` as `T`, naming the field that failed (`settings.…`).
fn typed<T: serde::de::DeserializeOwned>(raw: &serde_json::Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "settings".to_owned() } else { format!("settings.{path}") };
        ApiError::field(field, "invalid", e.into_inner().to_string())
    })
}

/// `Campaign.settings`: a kind's typed settings, or a free object for the
/// kinds without an engine yet.
pub fn schema() -> utoipa::openapi::schema::Schema {
    any_settings(false)
}

/// The `settings` of a create or update (null: the defaults / unchanged).
pub fn opt_schema() -> utoipa::openapi::schema::Schema {
    any_settings(true)
}

fn any_settings(nullable: bool) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    let mut any = AnyOfBuilder::new()
        .item(schema::reference::<CheckInSettings>())
        .item(schema::reference::<ReferralSettings>())
        .item(schema::reference::<LotterySettings>())
        .item(schema::opt_json_object::<64>())
        .description(Some(
            "For kind `check_in`: CheckInSettings; `referral`: ReferralSettings; `lottery`: LotterySettings; \
             other kinds: a free JSON object",
        ));
    if nullable {
        any = any.item(ObjectBuilder::new().schema_type(Type::Null).build());
    }
    utoipa::openapi::schema::Schema::AnyOf(any.build())
}

/// Adds to the document the rule binding a new campaign's `settings` to its
/// `kind` (JSON Schema `if`/`then` on `CreateCampaign`), and the settings
/// types' components.
pub fn describe(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{schema::Schema, RefOr};
    let components = doc.components.get_or_insert_with(Default::default);
    let mut nested = Vec::new();
    let mut rules = Vec::new();
    for (kind, name, schema) in [
        ("check_in", CheckInSettings::name(), <CheckInSettings as utoipa::PartialSchema>::schema()),
        ("referral", ReferralSettings::name(), <ReferralSettings as utoipa::PartialSchema>::schema()),
        ("lottery", LotterySettings::name(), <LotterySettings as utoipa::PartialSchema>::schema()),
    ] {
        let me = format!("#/components/schemas/{name}");
        components.schemas.insert(name.into_owned(), schema);
        rules.push(serde_json::json!({
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"properties": {"settings": {"anyOf": [{"$ref": me}, {"type": "null"}]}}}
        }));
    }
    <CheckInSettings as ToSchema>::schemas(&mut nested);
    <ReferralSettings as ToSchema>::schemas(&mut nested);
    <LotterySettings as ToSchema>::schemas(&mut nested);
    components.schemas.extend(nested);
    if let Some(RefOr::T(Schema::Object(create))) = components.schemas.get_mut("CreateCampaign") {
        create.extensions =
            Some(utoipa::openapi::extensions::Extensions::from_iter([("allOf", serde_json::Value::Array(rules))]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: serde_json::Value) -> ApiResult<serde_json::Value> {
        normalize(CampaignKind::CheckIn, Some(v))
    }

    #[test]
    fn missing_fields_get_their_defaults() {
        let s = with(serde_json::json!({})).unwrap();
        assert_eq!(CheckInSettings::from_stored(&s), CheckInSettings::default());
        assert_eq!(s["points"], 10);
        assert_eq!(s["keywords"], serde_json::json!(["签到", "打卡"]));
    }

    #[test]
    fn bad_settings_name_the_field() {
        let field = |v| match with(v) {
            Err(ApiError::Validation(e)) => e[0].field.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(serde_json::json!({"points": -1})), "settings.points");
        assert_eq!(
            field(serde_json::json!({"streak_rewards": [{"day": 3, "points": 5}, {"day": 3, "points": 1}]})),
            "settings.streak_rewards[1].day"
        );
        assert_eq!(
            field(serde_json::json!({"cycle_days": 5, "streak_rewards": [{"day": 7, "points": 5}]})),
            "settings.cycle_days"
        );
        assert_eq!(field(serde_json::json!({"day_starts_at": "24:00"})), "settings.day_starts_at");
        assert_eq!(
            field(serde_json::json!({"makeup": {"max_per_month": 2, "within_days": 0, "cost_points": 1}})),
            "settings.makeup.within_days"
        );
        assert_eq!(field(serde_json::json!({"keywords": [""]})), "settings.keywords[0]");
        assert_eq!(field(serde_json::json!({"bogus": 1})), "settings.bogus");
        // Kinds without an engine keep free objects.
        assert!(normalize(CampaignKind::Custom, Some(serde_json::json!({"bogus": 1}))).is_ok());
    }

    #[test]
    fn streak_rewards_repeat_with_a_cycle() {
        let s = CheckInSettings {
            streak_rewards: vec![StreakReward { day: 3, points: 5 }, StreakReward { day: 7, points: 20 }],
            cycle_days: Some(7),
            ..Default::default()
        };
        let days: Vec<u32> = (1..=21).filter(|d| !s.rewards_at(*d).is_empty()).collect();
        assert_eq!(days, vec![3, 7, 10, 14, 17, 21]);
        let once = CheckInSettings { cycle_days: None, ..s };
        let days: Vec<u32> = (1..=21).filter(|d| !once.rewards_at(*d).is_empty()).collect();
        assert_eq!(days, vec![3, 7]);
    }

    #[test]
    fn keywords_match_trimmed_and_case_insensitive() {
        let s = CheckInSettings { keywords: vec!["签到".into(), "/CheckIn".into()], ..Default::default() };
        assert!(s.matches("  签到\n"));
        assert!(s.matches("/checkin"));
        assert!(!s.matches("签到了"));
        assert!(!s.matches("   "));
    }
}
