//! Earning rule DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::ids::GroupId;
use crate::validate::{schema, Checks};

/// What a rule rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Trigger {
    /// A paid order: `points_per_unit` for every whole `unit` of its amount.
    OrderPaid,
    /// An event of `event_type`: `points` each, at most `daily_cap` a day.
    Event,
}

/// Whether a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RuleStatus {
    Active,
    Paused,
}

/// An earning rule.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PointsRule {
    pub id: uuid::Uuid,
    pub name: String,
    pub trigger: Trigger,
    /// `event`: the event type rewarded.
    pub event_type: Option<String>,
    /// `event`: points per event.
    pub points: Option<i64>,
    /// `order_paid`: points per whole unit of the amount.
    pub points_per_unit: Option<i64>,
    /// `order_paid`: the unit in minor units (100 = one yuan).
    pub unit: Option<i64>,
    /// `event`: most points this rule gives a member per local day.
    pub daily_cap: Option<i64>,
    /// Only members of these tiers (null: every member).
    pub tiers: Option<Vec<String>>,
    /// Only events in these groups (null: anywhere).
    #[schema(value_type = Option<Vec<GroupId>>)]
    pub group_ids: Option<Vec<uuid::Uuid>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub status: RuleStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// The schema of a rule body; bodies are read as `RawRule`.
/// `POST /v1/points-rules` and `PUT /v1/points-rules/{id}` (a rule is
/// replaced whole), by `trigger`. `ends_at`, when given with `starts_at`,
/// is after it.
#[derive(Debug, Clone, ToSchema)]
#[serde(tag = "trigger", rename_all = "snake_case", deny_unknown_fields)]
pub enum PointsRuleInput {
    /// `points_per_unit` for every whole `unit` of a paid order's amount.
    OrderPaid {
        #[schema(schema_with = schema::text::<1, 200>)]
        name: String,
        #[serde(deserialize_with = "crate::validate::de::integer")]
        #[schema(minimum = 1, maximum = 100000)]
        points_per_unit: i64,
        /// Minor units (100 = one yuan).
        #[serde(deserialize_with = "crate::validate::de::integer")]
        #[schema(minimum = 1, maximum = 1000000000)]
        unit: i64,
        /// Only members of these tiers (null: every member).
        #[serde(default)]
        #[schema(schema_with = opt_tiers)]
        tiers: Option<Vec<String>>,
        /// Only events in these groups (null: anywhere).
        #[serde(default)]
        #[schema(schema_with = opt_groups)]
        group_ids: Option<Vec<GroupId>>,
        #[serde(default)]
        #[schema(schema_with = opt_instant)]
        starts_at: Option<DateTime<Utc>>,
        #[serde(default)]
        #[schema(schema_with = opt_instant)]
        ends_at: Option<DateTime<Utc>>,
        /// Default `active`.
        #[serde(default)]
        status: Option<RuleStatus>,
    },
    /// `points` for each event of `event_type`, at most `daily_cap` per
    /// member and local day.
    Event {
        #[schema(schema_with = schema::text::<1, 200>)]
        name: String,
        #[schema(schema_with = rewarded_type)]
        event_type: String,
        #[serde(deserialize_with = "crate::validate::de::integer")]
        #[schema(minimum = 1, maximum = 100000)]
        points: i64,
        #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
        #[schema(minimum = 1, maximum = 1000000000)]
        daily_cap: Option<i64>,
        /// Only members of these tiers (null: every member).
        #[serde(default)]
        #[schema(schema_with = opt_tiers)]
        tiers: Option<Vec<String>>,
        /// Only events in these groups (null: anywhere).
        #[serde(default)]
        #[schema(schema_with = opt_groups)]
        group_ids: Option<Vec<GroupId>>,
        #[serde(default)]
        #[schema(schema_with = opt_instant)]
        starts_at: Option<DateTime<Utc>>,
        #[serde(default)]
        #[schema(schema_with = opt_instant)]
        ends_at: Option<DateTime<Utc>>,
        /// Default `active`.
        #[serde(default)]
        status: Option<RuleStatus>,
    },
}

/// A rule body as it arrives: every field of either trigger, checked and
/// turned into a [`PointsRuleInput`] by [`RawRule::into_input`] (so an
/// unknown field is named as such, and a field of the other trigger is 422).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Option<String>,
    pub trigger: Option<Trigger>,
    pub event_type: Option<String>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    pub points: Option<i64>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    pub points_per_unit: Option<i64>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    pub unit: Option<i64>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    pub daily_cap: Option<i64>,
    pub tiers: Option<Vec<String>>,
    pub group_ids: Option<Vec<GroupId>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub status: Option<RuleStatus>,
}

impl RawRule {
    /// The rule of its trigger, or 422 naming the missing or misplaced field.
    pub fn into_input(self) -> ApiResult<PointsRuleInput> {
        let mut c = Checks::new();
        let (Some(name), Some(trigger)) = (self.name.clone(), self.trigger) else {
            if self.name.is_none() {
                c.fail("name", "required", "a rule has a name");
            }
            if self.trigger.is_none() {
                c.fail("trigger", "required", "order_paid or event");
            }
            c.finish()?;
            return Err(crate::error::ApiError::field("trigger", "required", "order_paid or event"));
        };
        let misplaced = |c: &mut Checks, fields: &[(&str, bool)], why: &str| {
            for (f, given) in fields {
                if *given {
                    c.fail(*f, "invalid", why);
                }
            }
        };
        let required = |c: &mut Checks, fields: &[(&str, bool)]| {
            for (f, given) in fields {
                if !*given {
                    c.fail(*f, "required", "required for this trigger");
                }
            }
        };
        let order_fields = [("points_per_unit", self.points_per_unit.is_some()), ("unit", self.unit.is_some())];
        let event_fields = [("event_type", self.event_type.is_some()), ("points", self.points.is_some())];
        let RawRule { tiers, group_ids, starts_at, ends_at, status, .. } = self.clone();
        let input = match trigger {
            Trigger::OrderPaid => {
                required(&mut c, &order_fields);
                misplaced(&mut c, &event_fields, "only for event rules");
                misplaced(&mut c, &[("daily_cap", self.daily_cap.is_some())], "only for event rules");
                PointsRuleInput::OrderPaid {
                    name,
                    points_per_unit: self.points_per_unit.unwrap_or(0),
                    unit: self.unit.unwrap_or(0),
                    tiers,
                    group_ids,
                    starts_at,
                    ends_at,
                    status,
                }
            }
            Trigger::Event => {
                required(&mut c, &event_fields);
                misplaced(&mut c, &order_fields, "only for order_paid rules");
                PointsRuleInput::Event {
                    name,
                    event_type: self.event_type.unwrap_or_default(),
                    points: self.points.unwrap_or(0),
                    daily_cap: self.daily_cap,
                    tiers,
                    group_ids,
                    starts_at,
                    ends_at,
                    status,
                }
            }
        };
        c.finish()?;
        Ok(input)
    }
}

/// Where and when a rule applies.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub tiers: Option<Vec<String>>,
    pub group_ids: Option<Vec<GroupId>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub status: Option<RuleStatus>,
}

/// An RFC 3339 instant, or null.
fn opt_instant() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(schema::typed(Type::String, true))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .pattern(Some(
            r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
        ))
        .build()
}

fn opt_tiers() -> utoipa::openapi::schema::Array {
    schema::opt_nonempty_distinct(schema::slug().into(), 50)
}

fn opt_groups() -> utoipa::openapi::schema::Array {
    schema::opt_nonempty_distinct(schema::reference::<GroupId>(), 1000)
}

/// Event types an `event` rule may not reward: joins and leaves, orders
/// (their own trigger) and check-ins (their campaign's points).
const NOT_REWARDED: &[&str] =
    &["member_joined", "member_left", "order_placed", "order_paid", "order_refunded", "checked_in"];

/// Closes each variant of the rule body's schema (`additionalProperties:
/// false`): the server refuses unknown fields, which the derived `oneOf`
/// does not say.
pub fn describe(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    use utoipa::openapi::RefOr;
    let Some(components) = doc.components.as_mut() else { return };
    if let Some(RefOr::T(Schema::OneOf(one))) = components.schemas.get_mut("PointsRuleInput") {
        for item in one.items.iter_mut() {
            if let RefOr::T(Schema::Object(o)) = item {
                o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// Whether events of `kind` can earn or take back points (paid orders,
/// refunds, and the types an `event` rule may reward).
pub fn rewardable(kind: &str) -> bool {
    kind == "order_paid" || kind == "order_refunded" || !NOT_REWARDED.contains(&kind)
}

/// The types an `event` rule may reward, as a pattern.
fn rewarded_type() -> utoipa::openapi::schema::Object {
    let known: Vec<&str> = crate::events::model::TYPES.iter().copied().filter(|t| !NOT_REWARDED.contains(t)).collect();
    schema::matching(&format!("^({}|custom\\.[a-z0-9][a-z0-9_-]{{0,63}})$", known.join("|")), false)
}

impl PointsRuleInput {
    /// The fields every rule has: its name and scope.
    pub fn parts(&self) -> (&str, Scope) {
        match self {
            Self::OrderPaid { name, tiers, group_ids, starts_at, ends_at, status, .. }
            | Self::Event { name, tiers, group_ids, starts_at, ends_at, status, .. } => (
                name,
                Scope {
                    tiers: tiers.clone(),
                    group_ids: group_ids.clone(),
                    starts_at: *starts_at,
                    ends_at: *ends_at,
                    status: *status,
                },
            ),
        }
    }

    /// Validates (422 naming the field).
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        let (name, scope) = self.parts();
        c.text("name", name, 1, 200);
        let range = |c: &mut Checks, f: &str, v: i64, max: i64| {
            if !(1..=max).contains(&v) {
                c.fail(f, "invalid", format!("must be 1 to {max}"));
            }
        };
        match self {
            Self::OrderPaid { points_per_unit, unit, .. } => {
                range(&mut c, "points_per_unit", *points_per_unit, 100_000);
                range(&mut c, "unit", *unit, 1_000_000_000);
            }
            Self::Event { event_type, points, daily_cap, .. } => {
                if !crate::events::model::valid_type(event_type) || NOT_REWARDED.contains(&event_type.as_str()) {
                    c.fail(
                        "event_type",
                        "invalid",
                        "a built-in type other than joins, leaves, orders and check-ins, or custom.<name>",
                    );
                }
                range(&mut c, "points", *points, 100_000);
                if let Some(cap) = daily_cap {
                    range(&mut c, "daily_cap", *cap, 1_000_000_000);
                }
            }
        }
        if let Some(t) = &scope.tiers {
            if t.is_empty() || t.len() > 50 {
                c.fail("tiers", "invalid", "1 to 50 tiers, or null");
            }
            for (i, k) in t.iter().enumerate() {
                c.slug(&format!("tiers[{i}]"), k);
            }
        }
        if let Some(g) = &scope.group_ids {
            if g.is_empty() || g.len() > 1000 {
                c.fail("group_ids", "invalid", "1 to 1000 groups, or null");
            }
        }
        crate::campaigns::model::check_period(&mut c, scope.starts_at, scope.ends_at);
        c.finish()
    }
}
