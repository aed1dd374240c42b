//! Settings of invite campaigns (kind `referral`): how long an invitee must
//! stay before the invite counts, who may count, the inviter's daily cap
//! and the rewards at each number of qualified invites. A lottery's own
//! invite codes follow the same rules (its `invites`, with these defaults).

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use uuid::Uuid;

use super::settings::MAX_POINTS;
use crate::validate::Checks;

/// Settings of a `referral` campaign (every field optional: defaults shown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralSettings {
    /// Hours an invitee must stay in a target group before the invite
    /// qualifies (0 to 720; default 24).
    #[serde(default = "default_hold", deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 0, maximum = 720, default = 24)]
    pub hold_hours: u32,
    /// Only members never before in any group of the workspace count (default true).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub new_members_only: bool,
    /// Qualified invites per inviter per local day; beyond it an invite is
    /// `flagged` for an operator (1 to 10000; default 50; null: no cap).
    #[serde(default = "default_cap", deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 10000, default = 50)]
    pub max_qualified_per_day: Option<u32>,
    /// Rewards at numbers of qualified invites (at most 20), each granted once per inviter.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub rewards: Vec<ReferralReward>,
    /// Members a target group may hold before invite links stop sending
    /// visitors to it (1 to 100000; default 200).
    #[serde(default = "default_capacity", deserialize_with = "crate::validate::de::uint32")]
    #[schema(minimum = 1, maximum = 100000, default = 200)]
    pub capacity_per_group: u32,
}

/// A reward at a number of qualified invites: points or a coupon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralReward {
    #[serde(deserialize_with = "crate::validate::de::uint32")]
    pub at: u32,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::validate::de::opt_integer")]
    pub points: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_template_id: Option<Uuid>,
}

impl utoipa::PartialSchema for ReferralReward {
    fn schema() -> RefOr<Schema> {
        let at = || {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(10000))
                .description(Some("The number of qualified invites that earns it"))
                .build()
        };
        let null = || ObjectBuilder::new().schema_type(Type::Null).build();
        let points = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(MAX_POINTS)).build();
        let coupon = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
            .build();
        let variant = |name: &str, s: utoipa::openapi::schema::Object, other: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
                .property("at", at())
                .required("at")
                .property(name, s)
                .required(name)
                .property(other, null())
                .build()
        };
        RefOr::T(Schema::OneOf(
            OneOfBuilder::new()
                .description(Some("At `at` qualified invites: exactly one of `points` or `coupon_template_id`"))
                .item(variant("points", points, "coupon_template_id"))
                .item(variant("coupon_template_id", coupon, "points"))
                .build(),
        ))
    }
}

impl ToSchema for ReferralReward {}

/// The rules every invite code of a campaign follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InviteRules {
    pub hold_hours: u32,
    pub new_members_only: bool,
    pub max_qualified_per_day: Option<u32>,
    pub capacity_per_group: u32,
}

fn default_hold() -> u32 {
    24
}

fn yes() -> bool {
    true
}

fn default_cap() -> Option<u32> {
    Some(50)
}

fn default_capacity() -> u32 {
    200
}

impl Default for ReferralSettings {
    fn default() -> Self {
        Self {
            hold_hours: default_hold(),
            new_members_only: true,
            max_qualified_per_day: default_cap(),
            rewards: Vec::new(),
            capacity_per_group: default_capacity(),
        }
    }
}

impl ReferralSettings {
    /// Reads stored settings (the defaults where unreadable).
    pub fn from_stored(v: &serde_json::Value) -> Self {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    /// The rules of its invite codes.
    pub fn rules(&self) -> InviteRules {
        InviteRules {
            hold_hours: self.hold_hours,
            new_members_only: self.new_members_only,
            max_qualified_per_day: self.max_qualified_per_day,
            capacity_per_group: self.capacity_per_group,
        }
    }

    /// Validates (fields named `settings.…`).
    pub fn check(&self, c: &mut Checks) {
        if self.hold_hours > 720 {
            c.fail("settings.hold_hours", "invalid", "must be 0 to 720");
        }
        if self.max_qualified_per_day.is_some_and(|m| !(1..=10_000).contains(&m)) {
            c.fail("settings.max_qualified_per_day", "invalid", "must be 1 to 10000, or null");
        }
        if !(1..=100_000).contains(&self.capacity_per_group) {
            c.fail("settings.capacity_per_group", "invalid", "must be 1 to 100000");
        }
        if self.rewards.len() > 20 {
            c.fail("settings.rewards", "invalid", "at most 20 rewards");
        }
        for (i, r) in self.rewards.iter().enumerate() {
            if !(1..=10_000).contains(&r.at) {
                c.fail(format!("settings.rewards[{i}].at"), "invalid", "must be 1 to 10000");
            }
            match (r.points, r.coupon_template_id) {
                (Some(p), None) if !(1..=MAX_POINTS).contains(&p) => {
                    c.fail(format!("settings.rewards[{i}].points"), "invalid", "must be 1 to 100000")
                }
                (Some(_), None) | (None, Some(_)) => {}
                _ => c.fail(
                    format!("settings.rewards[{i}]"),
                    "invalid",
                    "give exactly one of points or coupon_template_id",
                ),
            }
        }
    }
}
