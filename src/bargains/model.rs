//! Bargain DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::coupons::model::{check_money, MAX_MONEY};
use crate::error::ApiResult;
use crate::ids::{CampaignId, GroupId, MemberId};
use crate::validate::{schema, Checks};

/// Whether a bargain starts sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[schema(as = BargainStatus)]
pub enum Status {
    Active,
    /// No new session; open ones go on.
    Paused,
    Archived,
}

/// When a member may buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum BuyAt {
    /// Only once the helpers cut the price to the floor.
    Floor,
    /// At the price reached so far (ending the session).
    AnyPrice,
}

/// A bargain (砍价): friends help cut a product's price to the floor.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bargain {
    pub id: Uuid,
    pub campaign_id: CampaignId,
    pub product_id: String,
    pub name: String,
    /// Minor units: where a session starts.
    pub list_price: i64,
    /// Minor units: where the last help leaves it.
    pub floor_price: i64,
    /// Helps that take a session from the list price to the floor, exactly.
    pub helpers_needed: i32,
    pub time_limit_hours: i32,
    /// Only members new to the workspace (first seen at most 7 days before) may help.
    pub helpers_new_members_only: bool,
    pub buy_at: BuyAt,
    pub link: Option<String>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/bargains`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBargain {
    pub campaign_id: CampaignId,
    #[schema(schema_with = schema::text::<1, 128>)]
    pub product_id: String,
    /// Default: the campaign's name.
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 1, maximum = 10000000000_i64)]
    pub list_price: i64,
    /// At most `list_price - helpers_needed` (each help cuts at least one fen).
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub floor_price: i64,
    #[serde(deserialize_with = "crate::validate::de::int32")]
    #[schema(minimum = 1, maximum = 1000)]
    pub helpers_needed: i32,
    /// Default 24.
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 720)]
    pub time_limit_hours: Option<u32>,
    #[serde(default)]
    pub helpers_new_members_only: bool,
    /// Default `floor`.
    pub buy_at: Option<BuyAt>,
    #[schema(schema_with = schema::opt_url)]
    pub link: Option<String>,
    pub status: Option<Status>,
}

impl CreateBargain {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("product_id", &self.product_id, 1, 128);
        if let Some(n) = &self.name {
            c.text("name", n, 1, 200);
        }
        check_money(&mut c, "list_price", self.list_price, 1);
        if !(1..=1000).contains(&self.helpers_needed) {
            c.fail("helpers_needed", "invalid", "must be 1 to 1000");
        } else if !(0..=MAX_MONEY).contains(&self.floor_price)
            || self.floor_price > self.list_price - self.helpers_needed as i64
        {
            c.fail("floor_price", "invalid", "0 to list_price - helpers_needed: every help cuts at least one fen");
        }
        if self.time_limit_hours.is_some_and(|h| !(1..=720).contains(&h)) {
            c.fail("time_limit_hours", "invalid", "must be 1 to 720");
        }
        if let Some(u) = &self.link {
            c.url("link", u);
        }
        c.finish()
    }
}

/// `PATCH /v1/bargains/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateBargain)]
pub struct Update {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    pub status: Option<Status>,
    #[serde(default, deserialize_with = "crate::http::patch::double_option")]
    #[schema(schema_with = schema::opt_url)]
    pub link: Option<Option<String>>,
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SessionStatus {
    /// Taking helps until `expires_at`.
    Open,
    /// At the floor price: may be bought until `expires_at`.
    Completed,
    /// Bought (`order_id`).
    Purchased,
    /// Not bought by `expires_at`.
    Expired,
}

/// One help.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Help {
    pub helper_id: MemberId,
    /// 1 for the first help.
    pub seq: i32,
    /// Minor units cut by this help.
    pub cut: i64,
    /// The price after it.
    pub price_after: i64,
    /// The helper was new to the workspace (first seen at most 7 days before).
    pub new_member: bool,
    pub helped_at: DateTime<Utc>,
}

/// A member's bargain session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Session {
    pub id: Uuid,
    pub bargain_id: Uuid,
    pub member_id: MemberId,
    /// The group the member started from, if named.
    pub group_id: Option<GroupId>,
    pub list_price: i64,
    pub floor_price: i64,
    /// The price now (minor units).
    pub price: i64,
    pub helps: i32,
    pub helpers_needed: i32,
    pub status: SessionStatus,
    pub order_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// When it was bought or expired.
    pub ended_at: Option<DateTime<Utc>>,
    /// Every help, in order (in a list of sessions: empty).
    pub help_list: Vec<Help>,
}

/// `POST /v1/bargains/{id}/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    pub member_id: MemberId,
    pub group_id: Option<GroupId>,
}

/// `POST /v1/bargain-sessions/{id}/helps`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HelpIn {
    pub helper_id: MemberId,
}

/// A help's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HelpDone {
    /// Minor units this help cut.
    pub cut: i64,
    /// The session's price after it.
    pub price: i64,
    pub helps: i32,
    /// Helps still needed to reach the floor.
    pub remaining_helps: i32,
    pub status: SessionStatus,
}

/// `POST /v1/bargain-sessions/{id}/purchase`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Purchase {
    #[schema(schema_with = schema::text::<1, 128>)]
    pub order_id: String,
}
