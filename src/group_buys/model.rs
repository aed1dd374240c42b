//! Group-buy DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::coupons::model::{check_money, Eligibility, MAX_MONEY};
use crate::error::ApiResult;
use crate::ids::{CampaignId, GroupId, MemberId};
use crate::validate::{schema, Checks};

/// Whether a group-buy takes new teams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[schema(as = GroupBuyStatus)]
pub enum Status {
    Active,
    /// No new team; open teams still fill or fail.
    Paused,
    /// As paused, and hidden from the console's list.
    Archived,
}

/// A group-buy (拼团): a product at the group price for teams that fill in time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupBuy {
    pub id: Uuid,
    pub campaign_id: CampaignId,
    pub product_id: String,
    pub name: String,
    /// Minor units.
    pub list_price: i64,
    /// Minor units: what each team member pays.
    pub group_price: i64,
    /// Members a team needs, its leader included.
    pub team_size: i32,
    pub time_limit_hours: i32,
    /// Teams that may be opened in all (null: no cap).
    pub max_teams: Option<i32>,
    /// Teams a member may be in at once (open or succeeded).
    pub per_member_limit: i32,
    /// Who may open a team (joiners too).
    pub eligible: Option<Eligibility>,
    /// Only members new to the workspace (first seen at most 7 days before) may join a team.
    pub new_members_only_joiners: bool,
    /// The shop's page of the group-buy.
    pub link: Option<String>,
    pub status: Status,
    pub teams_opened: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/group-buys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupBuy {
    pub campaign_id: CampaignId,
    #[schema(schema_with = schema::text::<1, 128>)]
    pub product_id: String,
    /// Default: the campaign's name.
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub list_price: i64,
    /// At most `list_price`.
    #[serde(deserialize_with = "crate::validate::de::integer")]
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub group_price: i64,
    #[serde(deserialize_with = "crate::validate::de::int32")]
    #[schema(minimum = 2, maximum = 100)]
    pub team_size: i32,
    /// Default 24.
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 720)]
    pub time_limit_hours: Option<u32>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_teams: Option<u32>,
    /// Default 1.
    #[serde(default, deserialize_with = "crate::validate::de::opt_uint32")]
    #[schema(minimum = 1, maximum = 1000)]
    pub per_member_limit: Option<u32>,
    #[serde(default, deserialize_with = "crate::validate::de::opt_object")]
    pub eligible: Option<Eligibility>,
    #[serde(default)]
    pub new_members_only_joiners: bool,
    #[schema(schema_with = schema::opt_url)]
    pub link: Option<String>,
    pub status: Option<Status>,
}

impl CreateGroupBuy {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("product_id", &self.product_id, 1, 128);
        if let Some(n) = &self.name {
            c.text("name", n, 1, 200);
        }
        check_money(&mut c, "list_price", self.list_price, 0);
        if !(0..=MAX_MONEY).contains(&self.group_price) || self.group_price > self.list_price {
            c.fail("group_price", "invalid", "0 to list_price");
        }
        if !(2..=100).contains(&self.team_size) {
            c.fail("team_size", "invalid", "must be 2 to 100");
        }
        if self.time_limit_hours.is_some_and(|h| !(1..=720).contains(&h)) {
            c.fail("time_limit_hours", "invalid", "must be 1 to 720");
        }
        if self.max_teams.is_some_and(|h| !(1..=1_000_000).contains(&h)) {
            c.fail("max_teams", "invalid", "must be 1 to 1000000");
        }
        if self.per_member_limit.is_some_and(|h| !(1..=1000).contains(&h)) {
            c.fail("per_member_limit", "invalid", "must be 1 to 1000");
        }
        if let Some(e) = &self.eligible {
            e.check(&mut c);
        }
        if let Some(u) = &self.link {
            c.url("link", u);
        }
        c.finish()
    }
}

/// `PATCH /v1/group-buys/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateGroupBuy)]
pub struct Update {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    pub status: Option<Status>,
    #[serde(default, deserialize_with = "crate::http::patch::double_option")]
    #[schema(schema_with = schema::opt_url)]
    pub link: Option<Option<String>>,
}

/// Where a team is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum TeamStatus {
    /// Taking members until `expires_at`.
    Open,
    /// Full: every member buys at the group price.
    Succeeded,
    /// Not full in time (or its campaign was cancelled): every order is refunded.
    Failed,
}

/// A member of a team.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TeamMember {
    pub member_id: MemberId,
    pub order_id: String,
    /// 1 for the leader, then in joining order.
    pub position: i32,
    /// First seen in the workspace at most 7 days before joining.
    pub new_member: bool,
    pub joined_at: DateTime<Utc>,
}

/// A team.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Team {
    pub id: Uuid,
    pub group_buy_id: Uuid,
    pub leader_id: MemberId,
    /// The group it was opened from, if named.
    pub group_id: Option<GroupId>,
    pub team_size: i32,
    pub members: Vec<TeamMember>,
    /// Places still free.
    pub needed: i32,
    pub status: TeamStatus,
    /// Why it failed: `expired` or `campaign_cancelled`.
    pub reason: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    /// When it succeeded or failed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// `POST /v1/group-buys/{id}/teams`, `/join` and `/v1/group-buy-teams/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinTeam {
    pub member_id: MemberId,
    /// The member's order at the group price (unique within the group-buy).
    #[schema(schema_with = schema::text::<1, 128>)]
    pub order_id: String,
    /// The group the member came from (a new team keeps it for the stats).
    pub group_id: Option<GroupId>,
}
