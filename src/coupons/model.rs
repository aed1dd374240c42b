//! Coupon DTOs: templates, coupons, claims, quotes and redemptions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiResult;
use crate::http::csv::Format;
use crate::ids::{CampaignId, GroupId, LayerId, MemberId};
use crate::validate::{schema, Checks};

/// Largest amount of money anywhere in a coupon (minor units): 100 million yuan.
pub const MAX_MONEY: i64 = 10_000_000_000;

/// What a coupon takes off (minor units, the template's currency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Discount {
    /// `amount` off the eligible lines (never more than they cost).
    AmountOff {
        #[serde(deserialize_with = "crate::validate::de::integer")]
        #[schema(minimum = 1, maximum = 10000000000_i64)]
        amount: i64,
    },
    /// `percent` of the eligible lines, rounded down to the minor unit, at
    /// most `max_amount` when given.
    PercentOff {
        #[serde(deserialize_with = "crate::validate::de::uint32")]
        #[schema(minimum = 1, maximum = 100)]
        percent: u32,
        #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
        #[schema(minimum = 1, maximum = 10000000000_i64)]
        max_amount: Option<i64>,
    },
    /// `amount` off once the eligible lines reach `min_spend` (满减).
    Threshold {
        #[serde(deserialize_with = "crate::validate::de::integer")]
        #[schema(minimum = 1, maximum = 10000000000_i64)]
        min_spend: i64,
        #[serde(deserialize_with = "crate::validate::de::integer")]
        #[schema(minimum = 1, maximum = 10000000000_i64)]
        amount: i64,
    },
}

/// When a coupon can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Validity {
    /// From `starts_at` until `ends_at` (exclusive), whenever claimed.
    Fixed { starts_at: DateTime<Utc>, ends_at: DateTime<Utc> },
    /// From the claim until the end of the `days`-th local day counting the
    /// day of the claim as the first (the workspace's timezone): claimed at
    /// 14:00 on 20 November with 7 days, it is valid until 27 November 00:00.
    AfterClaim {
        #[serde(deserialize_with = "crate::validate::de::uint32")]
        #[schema(minimum = 1, maximum = 3650)]
        days: u32,
    },
}

/// Who may have a coupon: exactly one rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// Members in one of these groups now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<GroupId>>,
    /// Members in one of the layer's groups now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_id: Option<LayerId>,
    /// Members of this tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Members whose first join to a group of the workspace is at most this many days old.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined_within_days: Option<u32>,
}

impl utoipa::PartialSchema for Eligibility {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::ObjectBuilder;
        let days = ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(3650))
            .build();
        schema::exactly_one(
            "Who may have a coupon: members now in one of 1-1000 groups, in a layer's groups, of a tier, \
             or who first joined at most `joined_within_days` days ago",
            [
                ("group_ids", schema::array(schema::reference::<GroupId>(), 1, 1000)),
                ("layer_id", schema::reference::<LayerId>()),
                ("tier", schema::slug().into()),
                ("joined_within_days", days.into()),
            ],
        )
    }
}

impl ToSchema for Eligibility {
    fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        out.push((LayerId::name().into_owned(), <LayerId as utoipa::PartialSchema>::schema()));
        out.push((GroupId::name().into_owned(), <GroupId as utoipa::PartialSchema>::schema()));
    }
}

/// Whether a template gives coupons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum TemplateStatus {
    Active,
    Paused,
    Archived,
}

/// A coupon template.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponTemplate {
    pub id: uuid::Uuid,
    pub campaign_id: Option<CampaignId>,
    pub name: String,
    pub discount: Discount,
    /// The eligible lines must reach this (minor units) for the coupon to apply.
    pub min_spend: i64,
    pub currency: String,
    /// Product ids the coupon applies to (null: every product).
    pub products: Option<Vec<String>>,
    pub validity: Validity,
    /// Coupons that may ever exist (null: no limit).
    pub total: Option<i64>,
    /// Coupons given so far (claimed or issued).
    pub issued: i64,
    /// `total - issued` (null without a total).
    pub remaining: Option<i64>,
    pub per_member_limit: i32,
    pub eligible: Option<Eligibility>,
    /// Whether an order may carry it beside another coupon.
    pub stackable: bool,
    /// Whether a refund of the order gives the coupon back (while still valid).
    pub restore_on_refund: bool,
    /// The shop's page where a member claims it (`{{coupon.claim_link}}`;
    /// null: the campaign's link).
    pub claim_url: Option<String>,
    pub status: TemplateStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn products_schema() -> utoipa::openapi::schema::Array {
    schema::opt_nonempty_distinct(schema::text_of(1, 128, false, "").into(), 1000)
}

fn currency_schema() -> utoipa::openapi::schema::Object {
    schema::matching("^[A-Z]{3}$", false)
}

/// `POST /v1/coupon-templates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    #[schema(schema_with = schema::text::<1, 200>)]
    pub name: String,
    pub campaign_id: Option<CampaignId>,
    pub discount: Discount,
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub min_spend: Option<i64>,
    /// ISO 4217; default the workspace's.
    #[schema(schema_with = currency_schema)]
    pub currency: Option<String>,
    #[serde(default)]
    #[schema(schema_with = products_schema)]
    pub products: Option<Vec<String>>,
    pub validity: Validity,
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    #[schema(minimum = 0, maximum = 100000000)]
    pub total: Option<i64>,
    /// Default 1.
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 1000)]
    pub per_member_limit: Option<u32>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_object")]
    pub eligible: Option<Eligibility>,
    #[serde(default)]
    pub stackable: bool,
    #[serde(default)]
    pub restore_on_refund: bool,
    /// The shop's claim page (`{{coupon.claim_link}}`).
    #[schema(schema_with = schema::opt_url)]
    pub claim_url: Option<String>,
    pub status: Option<TemplateStatus>,
}

/// `PATCH /v1/coupon-templates/{id}`: what may change once coupons exist.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplate {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    /// Not below the coupons already given (409 `below_issued`); null: no limit.
    #[serde(default, deserialize_with = "crate::http::patch::double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100000000)]
    pub total: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 1000)]
    pub per_member_limit: Option<u32>,
    pub status: Option<TemplateStatus>,
    pub restore_on_refund: Option<bool>,
    /// null: the campaign's link.
    #[serde(default, deserialize_with = "crate::http::patch::double_option")]
    #[schema(schema_with = schema::opt_url)]
    pub claim_url: Option<Option<String>>,
}

pub fn check_money(c: &mut Checks, field: &str, v: i64, min: i64) {
    if !(min..=MAX_MONEY).contains(&v) {
        c.fail(field, "invalid", format!("must be {min} to {MAX_MONEY} (minor units)"));
    }
}

impl Discount {
    fn check(&self, c: &mut Checks) {
        match *self {
            Discount::AmountOff { amount } => check_money(c, "discount.amount", amount, 1),
            Discount::PercentOff { percent, max_amount } => {
                if !(1..=100).contains(&percent) {
                    c.fail("discount.percent", "invalid", "must be 1 to 100");
                }
                if let Some(m) = max_amount {
                    check_money(c, "discount.max_amount", m, 1);
                }
            }
            Discount::Threshold { min_spend, amount } => {
                check_money(c, "discount.min_spend", min_spend, 1);
                check_money(c, "discount.amount", amount, 1);
            }
        }
    }
}

impl Validity {
    fn check(&self, c: &mut Checks) {
        match *self {
            Validity::Fixed { starts_at, ends_at } => {
                if ends_at <= starts_at {
                    c.fail("validity.ends_at", "invalid", "must be after starts_at");
                }
            }
            Validity::AfterClaim { days } => {
                if !(1..=3650).contains(&days) {
                    c.fail("validity.days", "invalid", "must be 1 to 3650");
                }
            }
        }
    }
}

impl Eligibility {
    /// Validates (fields named under `eligible`).
    pub fn check(&self, c: &mut Checks) {
        let given =
            [self.group_ids.is_some(), self.layer_id.is_some(), self.tier.is_some(), self.joined_within_days.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            c.fail("eligible", "invalid", "give exactly one of group_ids, layer_id, tier or joined_within_days");
        }
        if let Some(ids) = &self.group_ids {
            if ids.is_empty() || ids.len() > 1000 {
                c.fail("eligible.group_ids", "invalid", "must hold 1 to 1000 group ids");
            }
        }
        if let Some(t) = &self.tier {
            c.slug("eligible.tier", t);
        }
        if self.joined_within_days.is_some_and(|d| !(1..=3650).contains(&d)) {
            c.fail("eligible.joined_within_days", "invalid", "must be 1 to 3650");
        }
    }
}

fn check_products(c: &mut Checks, products: Option<&Vec<String>>) {
    if let Some(p) = products {
        if p.is_empty() || p.len() > 1000 {
            c.fail("products", "invalid", "1 to 1000 product ids, or null for every product");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, id) in p.iter().enumerate() {
            c.text(&format!("products[{i}]"), id, 1, 128);
            if !seen.insert(id) {
                c.fail(format!("products[{i}]"), "duplicate", "listed twice");
            }
        }
    }
}

impl CreateTemplate {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 1, 200);
        self.discount.check(&mut c);
        if let Some(m) = self.min_spend {
            check_money(&mut c, "min_spend", m, 0);
        }
        if let Some(cur) = &self.currency {
            if !(cur.len() == 3 && cur.bytes().all(|b| b.is_ascii_uppercase())) {
                c.fail("currency", "invalid", "three capital letters (ISO 4217)");
            }
        }
        check_products(&mut c, self.products.as_ref());
        self.validity.check(&mut c);
        if self.total.is_some_and(|t| !(0..=100_000_000).contains(&t)) {
            c.fail("total", "invalid", "must be 0 to 100000000, or null");
        }
        if self.per_member_limit.is_some_and(|l| !(1..=1000).contains(&l)) {
            c.fail("per_member_limit", "invalid", "must be 1 to 1000");
        }
        if let Some(e) = &self.eligible {
            e.check(&mut c);
        }
        if let Some(u) = &self.claim_url {
            c.url("claim_url", u);
        }
        c.finish()
    }
}

impl UpdateTemplate {
    /// Validates present fields.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.opt_text("name", self.name.as_deref(), 200);
        if let Some(Some(t)) = self.total {
            if !(0..=100_000_000).contains(&t) {
                c.fail("total", "invalid", "must be 0 to 100000000, or null");
            }
        }
        if self.per_member_limit.is_some_and(|l| !(1..=1000).contains(&l)) {
            c.fail("per_member_limit", "invalid", "must be 1 to 1000");
        }
        if let Some(Some(u)) = &self.claim_url {
            c.url("claim_url", u);
        }
        c.finish()
    }
}

/// Where a coupon is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CouponStatus {
    /// Held by its member, unused.
    Claimed,
    /// Applied to an order waiting for payment.
    Locked,
    /// Used on a paid order.
    Redeemed,
    /// Past its validity unused.
    Expired,
    /// Withdrawn by an operator.
    Void,
}

/// One line of a quote or redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineDiscount {
    pub product_id: String,
    /// This line's share of the discount (minor units); the lines sum to the discount.
    pub discount: i64,
}

/// A coupon a member holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Coupon {
    pub id: uuid::Uuid,
    /// What the member types or the shop sends: 13 characters without 0/O, 1/I/L.
    pub code: String,
    pub template_id: uuid::Uuid,
    pub member_id: MemberId,
    /// `expired` as soon as `valid_until` passes unused (the row follows within a minute).
    pub status: CouponStatus,
    /// The group it was claimed in, if given.
    pub group_id: Option<GroupId>,
    pub claimed_at: DateTime<Utc>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    /// The order it is locked to or redeemed on.
    pub order_id: Option<String>,
    /// The discount it gave that order (minor units).
    pub discount_applied: Option<i64>,
    /// How that discount falls on the order's lines.
    pub lines: Option<Vec<LineDiscount>>,
    pub redeemed_at: Option<DateTime<Utc>>,
}

/// `POST /v1/coupon-templates/{id}/claims`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub member_id: MemberId,
    /// The group the member claims in (kept on the coupon; with group eligibility, one of those groups).
    pub group_id: Option<GroupId>,
}

/// One line of a cart (minor units).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartItem {
    #[schema(schema_with = schema::text::<1, 128>)]
    pub product_id: String,
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub unit_price: i64,
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 1, maximum = 100000)]
    pub quantity: i64,
}

/// A cart to price a coupon against.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cart {
    #[schema(schema_with = currency_schema)]
    pub currency: String,
    #[schema(min_items = 1, max_items = 500)]
    pub items: Vec<CartItem>,
}

impl Cart {
    /// Validates the cart (fields named under `prefix`).
    pub fn check(&self, c: &mut Checks, prefix: &str) {
        if !(self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase())) {
            c.fail(format!("{prefix}.currency"), "invalid", "three capital letters (ISO 4217)");
        }
        if self.items.is_empty() || self.items.len() > 500 {
            c.fail(format!("{prefix}.items"), "invalid", "1 to 500 lines");
        }
        for (i, it) in self.items.iter().enumerate() {
            c.text(&format!("{prefix}.items[{i}].product_id"), &it.product_id, 1, 128);
            if !(0..=MAX_MONEY).contains(&it.unit_price) {
                c.fail(format!("{prefix}.items[{i}].unit_price"), "invalid", format!("must be 0 to {MAX_MONEY}"));
            }
            if !(1..=100_000).contains(&it.quantity) {
                c.fail(format!("{prefix}.items[{i}].quantity"), "invalid", "must be 1 to 100000");
            }
        }
    }
}

/// `POST /v1/coupons/quote`: exactly one of `code` and `coupon_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    #[schema(schema_with = code_schema)]
    pub code: Option<String>,
    pub coupon_id: Option<uuid::Uuid>,
    pub member_id: MemberId,
    pub cart: Cart,
}

fn code_schema() -> utoipa::openapi::schema::Object {
    schema::text_of(1, 32, true, "")
}

/// What a coupon does to a cart.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    pub coupon_id: uuid::Uuid,
    /// Whether the coupon applies now; else `reasons` says why not.
    pub valid: bool,
    /// `not_yours`, `not_started`, `expired`, `used`, `void`, `currency_mismatch`,
    /// `no_eligible_items`, `min_spend_not_met`.
    pub reasons: Vec<String>,
    /// Minor units off (0 when not valid).
    pub discount: i64,
    /// The cart's total less the discount, never below 0.
    pub payable: i64,
    /// The discount over the eligible lines, largest remainder: they sum to `discount`.
    pub lines: Vec<LineDiscount>,
}

/// `POST /v1/coupons/{id}/redeem`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    #[schema(schema_with = schema::text::<1, 128>)]
    pub order_id: String,
    pub member_id: MemberId,
    pub cart: Cart,
}

/// `POST /v1/coupons/{id}/release`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    #[schema(schema_with = schema::text::<1, 128>)]
    pub order_id: String,
}

/// Coupon filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CouponQuery {
    pub template_id: Option<uuid::Uuid>,
    pub member_id: Option<MemberId>,
    pub status: Option<CouponStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// `csv`: every matching coupon as one CSV download (`limit` and `cursor` do not apply).
    #[param(inline)]
    pub format: Option<Format>,
}

/// Where an operator's issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum IssueStatus {
    /// Waiting for the campaign jobs.
    Queued,
    /// Some chunks done.
    Running,
    /// Every member of the target processed.
    Done,
    /// Stopped (see `error`): what was issued before stays.
    Failed,
}

/// What an issue skipped, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Skipped {
    pub limit_reached: i64,
    pub not_eligible: i64,
    pub out_of_stock: i64,
}

/// An operator's issue of coupons to a target, with its progress. A target
/// of up to 1,000 members is issued in the request (`done` at once); a
/// larger one is issued by the campaign jobs in chunks.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CouponIssue)]
pub struct Issue {
    /// On each coupon it gave as `issue_id`.
    pub id: uuid::Uuid,
    pub template_id: uuid::Uuid,
    /// The target as asked: `group_id`, `layer_id` or `tier`, or for a list
    /// of members `member_count`.
    #[schema(value_type = Object)]
    pub target: serde_json::Value,
    pub status: IssueStatus,
    /// Members in the target when it was asked.
    pub total: i64,
    /// Members processed so far (issued or skipped).
    pub processed: i64,
    pub issued: i64,
    pub skipped: Skipped,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Issue filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueQuery {
    pub template_id: Option<uuid::Uuid>,
    pub status: Option<IssueStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}
