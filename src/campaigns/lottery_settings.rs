//! Settings of 0-yuan lotteries (kind `lottery`): when the draw runs (a
//! local time of the workspace), the prizes in the order they are filled,
//! how members earn entries (entering, and their qualified invites through
//! the lottery's own invite codes), who may enter, and the invite rules.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use uuid::Uuid;

use super::settings::MAX_POINTS;
use crate::ids::{GroupId, LayerId};
use crate::validate::{schema, Checks};

/// Settings of a `lottery` campaign. A lottery without `draw_at` or prizes
/// takes no entries and never draws.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LotterySettings {
    /// The draw's local time in the workspace's time zone, `YYYY-MM-DDTHH:MM`.
    #[serde(default)]
    #[schema(schema_with = local_minute)]
    pub draw_at: Option<String>,
    /// The prizes, filled in this order (1 to 20).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub prizes: Vec<Prize>,
    #[serde(default)]
    pub entries: EntryRules,
    /// Who may enter (default: anyone).
    #[serde(default)]
    pub eligible: Option<LotteryEligible>,
    /// A member wins at most one prize (default true).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub one_prize_per_member: bool,
    /// The rules of the lottery's own invite codes (`hold_hours`,
    /// `new_members_only`, `max_qualified_per_day`, `capacity_per_group`;
    /// the referral campaigns' defaults).
    #[serde(default)]
    pub invites: Option<LotteryInvites>,
}

/// How members earn entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryRules {
    /// Entries for entering (0 to 100; default 1).
    #[serde(default = "one", deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 0, maximum = 100, default = 1)]
    pub per_member: u32,
    /// Entries per invite qualified through the lottery's invite codes (0 to 100; default 1).
    #[serde(default = "one", deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 0, maximum = 100, default = 1)]
    pub per_qualified_invite: u32,
    /// Most entries one member holds (1 to 1000; default 10).
    #[serde(default = "ten", deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 1, maximum = 1000, default = 10)]
    pub max_per_member: u32,
}

impl Default for EntryRules {
    fn default() -> Self {
        Self { per_member: 1, per_qualified_invite: 1, max_per_member: 10 }
    }
}

/// Who may enter: members with an open stint in one of the groups, in a
/// group of the layer, or of the tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LotteryEligible {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub group_ids: Option<Vec<GroupId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_id: Option<LayerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::opt_slug)]
    pub tier: Option<String>,
}

/// The invite rules of a lottery's own codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LotteryInvites {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 0, maximum = 720)]
    pub hold_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_members_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 10000)]
    pub max_qualified_per_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 100000)]
    pub capacity_per_group: Option<u32>,
}

/// One prize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prize {
    #[schema(schema_with = schema::text::<1, 100>)]
    pub name: String,
    /// How many (1 to 10000).
    #[serde(deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: u32,
    pub reward: PrizeReward,
}

/// What a prize gives: goods the shop sends (a `lottery.prize_won`
/// webhook), points credited, or a coupon issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrizeReward {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::validate::de::opt_integer")]
    pub points: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_template_id: Option<Uuid>,
}

impl utoipa::PartialSchema for PrizeReward {
    fn schema() -> RefOr<Schema> {
        let goods = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(200))
            .pattern(Some(r"^[^\u0000]*$"))
            .build();
        let points = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(MAX_POINTS)).build();
        let coupon = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
            .build();
        let fields = [("goods", goods), ("points", points), ("coupon_template_id", coupon)];
        let mut one_of =
            OneOfBuilder::new().description(Some("Exactly one of `goods`, `points` or `coupon_template_id`"));
        for (i, (name, s)) in fields.iter().enumerate() {
            let mut v = ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
                .property(*name, s.clone())
                .required(*name);
            for (j, (other, _)) in fields.iter().enumerate() {
                if i != j {
                    v = v.property(*other, ObjectBuilder::new().schema_type(Type::Null).build());
                }
            }
            one_of = one_of.item(v.build());
        }
        RefOr::T(Schema::OneOf(one_of.build()))
    }
}

impl ToSchema for PrizeReward {}

fn local_minute() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(
            r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]$",
        ))
        .description(Some("A local time of the workspace, YYYY-MM-DDTHH:MM"))
        .build()
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn ten() -> u32 {
    10
}

impl LotterySettings {
    /// Reads stored settings (the defaults where unreadable).
    pub fn from_stored(v: &serde_json::Value) -> Self {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    /// The draw's local time.
    pub fn draw_local(&self) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(self.draw_at.as_deref()?, "%Y-%m-%dT%H:%M").ok()
    }

    /// Prizes in all.
    pub fn prize_count(&self) -> u64 {
        self.prizes.iter().map(|p| p.quantity as u64).sum()
    }

    /// Validates (fields named `settings.…`).
    pub fn check(&self, c: &mut Checks) {
        if self.draw_at.is_some() && self.draw_local().is_none() {
            c.fail("settings.draw_at", "invalid", "must be a local time YYYY-MM-DDTHH:MM");
        }
        if self.prizes.len() > 20 {
            c.fail("settings.prizes", "invalid", "at most 20 prizes");
        }
        for (i, p) in self.prizes.iter().enumerate() {
            c.text(&format!("settings.prizes[{i}].name"), &p.name, 1, 100);
            if !(1..=10_000).contains(&p.quantity) {
                c.fail(format!("settings.prizes[{i}].quantity"), "invalid", "must be 1 to 10000");
            }
            let r = &p.reward;
            let field = format!("settings.prizes[{i}].reward");
            match (&r.goods, r.points, r.coupon_template_id) {
                (Some(g), None, None) => c.text(&format!("{field}.goods"), g, 1, 200),
                (None, Some(p), None) if !(1..=MAX_POINTS).contains(&p) => {
                    c.fail(format!("{field}.points"), "invalid", "must be 1 to 100000")
                }
                (None, Some(_), None) | (None, None, Some(_)) => {}
                _ => c.fail(field, "invalid", "give exactly one of goods, points or coupon_template_id"),
            }
        }
        let e = &self.entries;
        if e.per_member > 100 {
            c.fail("settings.entries.per_member", "invalid", "must be 0 to 100");
        }
        if e.per_qualified_invite > 100 {
            c.fail("settings.entries.per_qualified_invite", "invalid", "must be 0 to 100");
        }
        if !(1..=1000).contains(&e.max_per_member) {
            c.fail("settings.entries.max_per_member", "invalid", "must be 1 to 1000");
        }
        if let Some(el) = &self.eligible {
            let given = [el.group_ids.is_some(), el.layer_id.is_some(), el.tier.is_some()];
            if given.iter().filter(|g| **g).count() != 1 {
                c.fail("settings.eligible", "invalid", "give exactly one of group_ids, layer_id or tier");
            }
            if el.group_ids.as_ref().is_some_and(|g| g.is_empty() || g.len() > 100) {
                c.fail("settings.eligible.group_ids", "invalid", "1 to 100 groups");
            }
        }
        if let Some(inv) = &self.invites {
            if inv.hold_hours.is_some_and(|h| h > 720) {
                c.fail("settings.invites.hold_hours", "invalid", "must be 0 to 720");
            }
            if inv.max_qualified_per_day.is_some_and(|m| !(1..=10_000).contains(&m)) {
                c.fail("settings.invites.max_qualified_per_day", "invalid", "must be 1 to 10000");
            }
            if inv.capacity_per_group.is_some_and(|m| !(1..=100_000).contains(&m)) {
                c.fail("settings.invites.capacity_per_group", "invalid", "must be 1 to 100000");
            }
        }
    }
}
