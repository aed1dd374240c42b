//! Channel DTOs and the pure routing rule.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::events::model::JoinSource;
use crate::ids::{GroupId, LayerId};
use crate::validate::{schema, Checks};

/// How a channel picks among its groups with room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[schema(as = ChannelStrategy)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Strategy {
    /// The first group in the target's order with room, until it is full.
    FillInOrder,
    /// Each visit the next group with room, in turn.
    RoundRobin,
}

/// Whether a channel's link routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ChannelStatus {
    Active,
    /// The link shows the "full" page without routing.
    Paused,
    Archived,
}

/// Which groups a channel routes to: exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<GroupId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_id: Option<LayerId>,
}

impl utoipa::PartialSchema for Target {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::exactly_one(
            "The groups a channel routes to, in order: exactly one of 1-100 groups, or a layer's groups",
            [
                ("group_ids", schema::array(schema::reference::<GroupId>(), 1, 100)),
                ("layer_id", schema::reference::<LayerId>()),
            ],
        )
    }
}

impl ToSchema for Target {
    fn name() -> std::borrow::Cow<'static, str> {
        "ChannelTarget".into()
    }

    fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        out.push((GroupId::name().into_owned(), <GroupId as utoipa::PartialSchema>::schema()));
        out.push((LayerId::name().into_owned(), <LayerId as utoipa::PartialSchema>::schema()));
    }
}

impl Target {
    fn check(&self, c: &mut Checks, field: &str) {
        match (&self.group_ids, &self.layer_id) {
            (Some(ids), None) => {
                if ids.is_empty() || ids.len() > 100 {
                    c.fail(format!("{field}.group_ids"), "invalid", "1 to 100 groups");
                }
                let distinct: std::collections::HashSet<_> = ids.iter().collect();
                if distinct.len() != ids.len() {
                    c.fail(format!("{field}.group_ids"), "duplicate", "a group is listed twice");
                }
            }
            (None, Some(_)) => {}
            _ => c.fail(field, "invalid", "give exactly one of group_ids or layer_id"),
        }
    }
}

/// A channel entry link.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ChannelLink)]
pub struct Channel {
    pub id: Uuid,
    pub name: String,
    /// The join source its joiners are counted under.
    pub source: JoinSource,
    pub target: Target,
    /// Members a group may hold before the channel stops sending joiners to it.
    pub capacity_per_group: i32,
    pub strategy: Strategy,
    /// The public code of its link.
    pub code: String,
    /// `{public_url}/c/{code}`: what a poster's QR code holds.
    pub link: String,
    pub status: ChannelStatus,
    /// When visits began to find every group full (null: routing).
    pub full_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/channels`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    #[schema(schema_with = schema::text::<1, 200>)]
    pub name: String,
    pub source: JoinSource,
    pub target: Target,
    /// Default 200.
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 100000)]
    pub capacity_per_group: Option<u32>,
    /// Default `fill_in_order`.
    pub strategy: Option<Strategy>,
    pub status: Option<ChannelStatus>,
}

/// `PATCH /v1/channels/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    pub source: Option<JoinSource>,
    pub target: Option<Target>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 100000)]
    pub capacity_per_group: Option<u32>,
    pub strategy: Option<Strategy>,
    pub status: Option<ChannelStatus>,
}

fn check_capacity(c: &mut Checks, v: Option<u32>) {
    if v.is_some_and(|v| !(1..=100_000).contains(&v)) {
        c.fail("capacity_per_group", "invalid", "must be 1 to 100000");
    }
}

impl CreateChannel {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 1, 200);
        self.target.check(&mut c, "target");
        check_capacity(&mut c, self.capacity_per_group);
        c.finish()
    }
}

impl UpdateChannel {
    /// Validates present fields.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.opt_text("name", self.name.as_deref(), 200);
        if let Some(t) = &self.target {
            t.check(&mut c, "target");
        }
        check_capacity(&mut c, self.capacity_per_group);
        c.finish()
    }
}

/// A group a channel may send a visitor to, as the visit found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: GroupId,
    /// Members with an open stint.
    pub members: i64,
    /// Active.
    pub open: bool,
    /// The invite link made for this channel and group (attributes joins).
    pub link: Option<String>,
    /// The group's own invite link.
    pub invite_url: Option<String>,
    /// The platform can make a named link for it (and has none yet).
    pub can_make_link: bool,
}

impl Candidate {
    /// Whether a visitor can be sent there at all.
    pub fn reachable(&self) -> bool {
        self.link.is_some() || self.invite_url.is_some() || self.can_make_link
    }
}

/// The group a visit goes to: among the target's groups in order, those
/// open, reachable and with room (`members < capacity`); `fill_in_order`
/// takes the first, `round_robin` the `turn`-th (modulo how many have room).
/// None: full.
pub fn route(groups: &[Candidate], capacity: i64, strategy: Strategy, turn: u64) -> Option<&Candidate> {
    let room: Vec<&Candidate> = groups.iter().filter(|g| g.open && g.reachable() && g.members < capacity).collect();
    match strategy {
        Strategy::FillInOrder => room.first().copied(),
        Strategy::RoundRobin if room.is_empty() => None,
        Strategy::RoundRobin => Some(room[(turn % room.len() as u64) as usize]),
    }
}

/// The name of the invite link made for a channel: its code first (what a
/// join's link name is matched on), then as much of its name as fits.
pub fn link_name(code: &str, name: &str) -> String {
    format!("{code} {name}").chars().take(crate::platforms::telegram::invite::NAME_MAX).collect()
}

/// A new public code: 10 characters of the coupon codes' unambiguous
/// alphabet (≈ 49 bits; a code is a link on a poster, not a secret).
pub fn new_code() -> anyhow::Result<String> {
    crate::coupons::code::random(10)
}

/// Whether `s` can be a channel code (checked before any query).
pub fn looks_like_code(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| crate::coupons::code::ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(n: u128, members: i64, open: bool) -> Candidate {
        Candidate {
            id: GroupId(Uuid::from_u128(n)),
            members,
            open,
            link: None,
            invite_url: Some(format!("https://g/{n}")),
            can_make_link: false,
        }
    }

    #[test]
    fn fill_in_order_takes_the_first_group_with_room_and_skips_closed_ones() {
        let gs = [g(1, 200, true), g(2, 10, false), g(3, 199, true), g(4, 0, true)];
        assert_eq!(route(&gs, 200, Strategy::FillInOrder, 7).map(|c| c.id), Some(gs[2].id));
        let full = [g(1, 200, true), g(2, 250, true)];
        assert_eq!(route(&full, 200, Strategy::FillInOrder, 0), None);
        let no_link = [Candidate { invite_url: None, ..g(1, 0, true) }];
        assert_eq!(route(&no_link, 200, Strategy::FillInOrder, 0), None);
    }

    #[test]
    fn round_robin_turns_over_the_groups_with_room() {
        let gs = [g(1, 5, true), g(2, 200, true), g(3, 5, true), g(4, 5, true)];
        let picked: Vec<u128> =
            (0..6).map(|t| route(&gs, 200, Strategy::RoundRobin, t).unwrap().id.0.as_u128()).collect();
        assert_eq!(picked, [1, 3, 4, 1, 3, 4]);
        assert_eq!(route(&[g(1, 200, true)], 200, Strategy::RoundRobin, 3), None);
    }
}
