//! Points mall DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiResult;
use crate::http::csv::Format;
use crate::http::patch::double_option;
use crate::ids::MemberId;
use crate::validate::{schema, Checks};

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum MallItemKind {
    /// Physical goods the shop ships (`mall.redemption_created` tells it).
    Goods,
    /// Anything else the operator hands out.
    Custom,
    /// A coupon (comes with the coupons engine; refused until then).
    Coupon,
    /// A lottery entry (comes with the lottery engine; refused until then).
    LotteryEntry,
}

/// Whether an item can be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum MallItemStatus {
    Active,
    Paused,
    Archived,
}

/// The period a per-member limit counts in (local to the workspace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum LimitPeriod {
    Day,
    Week,
    Month,
    Ever,
}

/// At most `count` units per member per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberLimit {
    #[serde(deserialize_with = "crate::validate::de::int32")]
    #[schema(minimum = 1, maximum = 100000)]
    pub count: i32,
    pub period: LimitPeriod,
}

/// A mall item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MallItem {
    pub id: uuid::Uuid,
    pub name: String,
    pub description: String,
    pub kind: MallItemKind,
    pub points_cost: i64,
    /// Units left (null: unlimited).
    pub stock: Option<i64>,
    pub per_member_limit: Option<MemberLimit>,
    /// Only members of these tiers (null: every tier).
    pub tiers: Option<Vec<String>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub status: MallItemStatus,
    /// Redemptions are `fulfilled` at once (no shipping).
    pub auto_fulfil: bool,
    pub image_url: Option<String>,
    /// Units redeemed and not cancelled.
    pub redeemed: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/mall/items`. `ends_at`, when given with `starts_at`, is after it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMallItem {
    #[schema(schema_with = schema::text::<1, 200>)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::text::<0, 4000>)]
    pub description: String,
    /// `goods` or `custom` (`coupon` and `lottery_entry` come with their engines).
    #[schema(schema_with = available_kind)]
    pub kind: MallItemKind,
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 1, maximum = 100000000)]
    pub points_cost: i64,
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    #[schema(minimum = 0, maximum = 1000000000)]
    pub stock: Option<i64>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_object")]
    pub per_member_limit: Option<MemberLimit>,
    #[schema(schema_with = opt_tiers)]
    pub tiers: Option<Vec<String>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub status: Option<MallItemStatus>,
    #[serde(default)]
    pub auto_fulfil: bool,
    #[schema(schema_with = schema::opt_url)]
    pub image_url: Option<String>,
}

/// `PATCH /v1/mall/items/{id}` (the kind cannot change).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMallItem {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    #[schema(schema_with = schema::opt_text::<0, 4000>)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    #[schema(minimum = 1, maximum = 100000000)]
    pub points_cost: Option<i64>,
    /// Sets the units left (null: unlimited).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000000000)]
    pub stock: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<MemberLimit>)]
    pub per_member_limit: Option<Option<MemberLimit>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = opt_tiers)]
    pub tiers: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub status: Option<MallItemStatus>,
    pub auto_fulfil: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schema::opt_url)]
    pub image_url: Option<Option<String>>,
}

fn opt_tiers() -> utoipa::openapi::schema::Array {
    schema::opt_nonempty_distinct(schema::slug().into(), 50)
}

fn available_kind() -> utoipa::openapi::schema::Object {
    schema::matching("^(goods|custom)$", false)
}

fn check_tiers(c: &mut Checks, tiers: Option<&Vec<String>>) {
    if let Some(t) = tiers {
        if t.is_empty() || t.len() > 50 {
            c.fail("tiers", "invalid", "1 to 50 tiers, or null");
        }
        for (i, k) in t.iter().enumerate() {
            c.slug(&format!("tiers[{i}]"), k);
        }
    }
}

fn check_limit(c: &mut Checks, l: Option<&MemberLimit>) {
    if l.is_some_and(|l| !(1..=100_000).contains(&l.count)) {
        c.fail("per_member_limit.count", "invalid", "must be 1 to 100000");
    }
}

impl CreateMallItem {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 1, 200);
        c.text("description", &self.description, 0, 4000);
        if matches!(self.kind, MallItemKind::Coupon | MallItemKind::LotteryEntry) {
            c.fail("kind", "not_available", "coupon and lottery_entry items come with the coupon and lottery engines");
        }
        if !(1..=100_000_000).contains(&self.points_cost) {
            c.fail("points_cost", "invalid", "must be 1 to 100000000");
        }
        if self.stock.is_some_and(|s| !(0..=1_000_000_000).contains(&s)) {
            c.fail("stock", "invalid", "must be 0 to 1000000000, or null");
        }
        check_limit(&mut c, self.per_member_limit.as_ref());
        check_tiers(&mut c, self.tiers.as_ref());
        crate::campaigns::model::check_period(&mut c, self.starts_at, self.ends_at);
        if let Some(u) = &self.image_url {
            c.url("image_url", u);
        }
        c.finish()
    }
}

impl UpdateMallItem {
    /// Validates present fields.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.opt_text("name", self.name.as_deref(), 200);
        if let Some(d) = &self.description {
            c.text("description", d, 0, 4000);
        }
        if self.points_cost.is_some_and(|p| !(1..=100_000_000).contains(&p)) {
            c.fail("points_cost", "invalid", "must be 1 to 100000000");
        }
        if let Some(Some(s)) = self.stock {
            if !(0..=1_000_000_000).contains(&s) {
                c.fail("stock", "invalid", "must be 0 to 1000000000, or null");
            }
        }
        check_limit(&mut c, self.per_member_limit.flatten().as_ref());
        check_tiers(&mut c, self.tiers.as_ref().and_then(|t| t.as_ref()));
        if let (Some(s), Some(e)) = (self.starts_at, self.ends_at) {
            crate::campaigns::model::check_period(&mut c, s, e);
        }
        if let Some(Some(u)) = &self.image_url {
            c.url("image_url", u);
        }
        c.finish()
    }
}

/// Where a redemption is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RedemptionStatus {
    PendingFulfilment,
    Fulfilled,
    Cancelled,
}

/// A redemption.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Redemption {
    pub id: uuid::Uuid,
    pub item_id: uuid::Uuid,
    pub member_id: MemberId,
    pub quantity: i32,
    pub points_spent: i64,
    pub status: RedemptionStatus,
    /// The ledger entry that paid for it.
    pub entry_id: uuid::Uuid,
    pub tracking: Option<String>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The answer to a redemption: it, and the member's balance afterwards.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Redeemed {
    #[serde(flatten)]
    pub redemption: Redemption,
    pub balance: i64,
}

/// `POST /v1/mall/items/{id}/redemptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRedemption {
    pub member_id: MemberId,
    /// Default 1.
    #[serde(default, deserialize_with = "crate::validate::de::opt_int32")]
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: Option<i32>,
}

/// `POST /v1/mall/redemptions/{id}/fulfil`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fulfil {
    /// A parcel tracking number or a note.
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub tracking: Option<String>,
}

/// Redemption filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RedemptionQuery {
    pub member_id: Option<MemberId>,
    pub item_id: Option<uuid::Uuid>,
    pub status: Option<RedemptionStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// `csv`: every matching row as one CSV download (`limit` and `cursor` do not apply).
    #[param(inline)]
    pub format: Option<Format>,
}
