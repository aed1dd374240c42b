//! Workspace DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::model::EventKind;
use crate::ids::WorkspaceId;
use crate::validate::Checks;

/// Default timezone of a new workspace.
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

/// First day of the week for weekly metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WeekStart {
    Monday,
    Sunday,
    Saturday,
}

impl WeekStart {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WeekStart::Monday => "monday",
            WeekStart::Sunday => "sunday",
            WeekStart::Saturday => "saturday",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "monday" => Some(Self::Monday),
            "sunday" => Some(Self::Sunday),
            "saturday" => Some(Self::Saturday),
            _ => None,
        }
    }
}

/// A workspace.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// IANA timezone for day boundaries and schedules.
    pub timezone: String,
    /// ISO 4217 code of amounts.
    pub currency: String,
    pub week_start: WeekStart,
    /// Event types that make a member active in metrics (joins and leaves never do).
    pub active_event_types: Vec<String>,
    /// How earned points expire and how refunds take them back.
    pub points: PointsPolicy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `PATCH /v1/workspace`: fields left out stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspace {
    #[schema(schema_with = crate::validate::schema::opt_text::<1, 100>)]
    pub name: Option<String>,
    #[schema(value_type = Option<crate::validate::schema::Timezone>)]
    pub timezone: Option<String>,
    #[schema(schema_with = currency_schema)]
    pub currency: Option<String>,
    pub week_start: Option<WeekStart>,
    /// Built-in types or `custom.<name>`; not `member_joined` / `member_left`.
    /// Changing it (or the timezone) rebuilds the metric rollups.
    #[schema(schema_with = active_types_schema)]
    pub active_event_types: Option<Vec<String>>,
    /// Fields left out stay as they are; a new expiry applies to points
    /// earned from then on (existing lots keep theirs).
    #[serde(default, deserialize_with = "crate::validate::de::opt_object")]
    pub points: Option<UpdatePointsPolicy>,
}

/// When earned points expire, always at the local midnight (workspace
/// timezone) that ends a lot's last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PointsExpiry {
    /// Points never expire.
    Never,
    /// The last day is `days` after the day the points were earned.
    AfterDays {
        #[schema(minimum = 1, maximum = 3650)]
        days: u32,
    },
    /// The last day is 31 December, `years` after the year the points were
    /// earned (0: the end of that year).
    EndOfYearAfter {
        #[schema(minimum = 0, maximum = 10)]
        years: u32,
    },
}

/// What a refund does when the points it takes back were already spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClawbackPolicy {
    /// The balance goes negative; later earnings pay the debt first.
    AllowNegative,
    /// The balance stops at zero; the shortfall is written off (recorded in
    /// the ledger entry's note).
    FloorZero,
}

impl ClawbackPolicy {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClawbackPolicy::AllowNegative => "allow_negative",
            ClawbackPolicy::FloorZero => "floor_zero",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow_negative" => Some(Self::AllowNegative),
            "floor_zero" => Some(Self::FloorZero),
            _ => None,
        }
    }
}

/// The workspace's points policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct PointsPolicy {
    pub expiry: PointsExpiry,
    pub clawback: ClawbackPolicy,
}

/// The points part of `PATCH /v1/workspace`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePointsPolicy {
    #[serde(default, deserialize_with = "crate::validate::de::opt_object")]
    pub expiry: Option<PointsExpiry>,
    pub clawback: Option<ClawbackPolicy>,
}

/// Checks a workspace name.
pub fn check_name(c: &mut Checks, name: &str) {
    c.text("name", name, 1, 100);
}

/// The schema of [`check_currency`], or `null`.
pub fn currency_schema() -> utoipa::openapi::schema::Object {
    crate::validate::schema::matching("^[A-Z]{3}$", true)
}

/// 1 to 50 activity event types, or `null`.
fn active_types_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, Type};
    let item = crate::validate::schema::matching(&crate::events::model::type_pattern(false), false);
    ArrayBuilder::new()
        .schema_type(crate::validate::schema::typed(Type::Array, true))
        .items(item)
        .min_items(Some(1))
        .max_items(Some(50))
        .build()
}

/// Checks a currency code.
pub fn check_currency(c: &mut Checks, currency: &str) {
    if !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase())) {
        c.fail("currency", "invalid", "must be an ISO 4217 code such as CNY or USD");
    }
}

impl UpdateWorkspace {
    /// Validates present fields.
    pub fn validate(&self) -> crate::error::ApiResult<()> {
        let mut c = Checks::new();
        if let Some(n) = &self.name {
            check_name(&mut c, n);
        }
        if let Some(tz) = &self.timezone {
            c.timezone("timezone", tz);
        }
        if let Some(cur) = &self.currency {
            check_currency(&mut c, cur);
        }
        if let Some(PointsExpiry::AfterDays { days }) = self.points.as_ref().and_then(|p| p.expiry) {
            if !(1..=3650).contains(&days) {
                c.fail("points.expiry.days", "invalid", "must be 1 to 3650");
            }
        }
        if let Some(PointsExpiry::EndOfYearAfter { years }) = self.points.as_ref().and_then(|p| p.expiry) {
            if years > 10 {
                c.fail("points.expiry.years", "invalid", "must be 0 to 10");
            }
        }
        if let Some(types) = &self.active_event_types {
            if types.is_empty() || types.len() > 50 {
                c.fail("active_event_types", "invalid", "give 1 to 50 event types");
            }
            for (i, t) in types.iter().enumerate() {
                let membership = EventKind::parse(t).is_some_and(EventKind::is_membership);
                if !crate::events::model::valid_type(t) || membership {
                    c.fail(
                        format!("active_event_types[{i}]"),
                        "invalid",
                        "not an activity event type (built-in type other than joins/leaves, or custom.<name>)",
                    );
                }
            }
        }
        c.finish()
    }
}
