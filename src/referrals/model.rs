//! Referral DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::ids::{GroupId, MemberId};

/// Where a referral stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ReferralStatus {
    /// Joined; waiting for the hold period to end.
    Pending,
    /// Stayed through the hold: counts for the inviter's rewards.
    Qualified,
    /// Left within the hold (or the campaign was cancelled meanwhile).
    Revoked,
    /// Refused at the join (the reason says why) or by an operator.
    Rejected,
    /// Over the inviter's daily cap: waits for an operator.
    Flagged,
}

/// Why a referral did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The invitee is the inviter, or shares a platform identity, phone or email with them.
    SelfInvite,
    /// `new_members_only`: the invitee was in a group of the workspace before.
    NotNew,
    /// The invitee is staff or a bot.
    StaffOrBot,
    /// The invitee invited the inviter (directly or up the chain).
    Cycle,
    /// The code belongs to another workspace.
    CrossWorkspace,
    /// The campaign was not running at the join.
    CampaignNotRunning,
    /// The invitee left within the hold period.
    LeftWithinHold,
    /// The campaign was cancelled during the hold.
    CampaignCancelled,
    /// Over `max_qualified_per_day` (flagged).
    OverDailyCap,
    /// An operator rejected it.
    RejectedByOperator,
}

impl Reason {
    /// Its JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SelfInvite => "self_invite",
            Reason::NotNew => "not_new",
            Reason::StaffOrBot => "staff_or_bot",
            Reason::Cycle => "cycle",
            Reason::CrossWorkspace => "cross_workspace",
            Reason::CampaignNotRunning => "campaign_not_running",
            Reason::LeftWithinHold => "left_within_hold",
            Reason::CampaignCancelled => "campaign_cancelled",
            Reason::OverDailyCap => "over_daily_cap",
            Reason::RejectedByOperator => "rejected_by_operator",
        }
    }
}

/// One invitee's join through an invite link and what became of it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Referral {
    pub id: Uuid,
    /// Null only for `cross_workspace` (the code is another workspace's).
    pub campaign_id: Option<Uuid>,
    pub inviter_id: Option<MemberId>,
    pub invitee_id: MemberId,
    /// The group the invitee joined.
    pub group_id: Option<GroupId>,
    /// The invite code the join came through.
    pub code: String,
    pub joined_at: DateTime<Utc>,
    /// When the hold period ends (`joined_at + hold_hours`).
    pub hold_until: DateTime<Utc>,
    pub status: ReferralStatus,
    /// Why it was rejected, revoked or flagged.
    #[schema(value_type = Option<Reason>)]
    pub reason: Option<String>,
    /// When it left `pending` (or was decided by an operator).
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/campaigns/{id}/invite-codes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInviteCode {
    pub member_id: MemberId,
}

/// A member's invite code of a campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteCode {
    pub campaign_id: Uuid,
    pub member_id: MemberId,
    /// The code a join through the link carries.
    pub code: String,
    /// `{public_url}/c/{code}`: sends the visitor to a group of the campaign with room.
    pub link: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/campaigns/{id}/referrals` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    #[param(value_type = Option<Uuid>)]
    pub inviter_id: Option<MemberId>,
    #[param(value_type = Option<Uuid>)]
    pub invitee_id: Option<MemberId>,
    pub status: Option<ReferralStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<Uuid>)]
    pub cursor: Option<String>,
}

/// One row of a campaign's leaderboard.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = InviteLeaderboardRow)]
pub struct LeaderboardRow {
    /// 1 for the first.
    pub rank: i64,
    pub member_id: MemberId,
    /// Empty once erased.
    pub display_name: String,
    /// Qualified invites.
    pub qualified: i64,
    /// When the member reached that count (ties go to the earliest).
    pub reached_at: DateTime<Utc>,
}

/// A campaign's leaderboard.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = InviteLeaderboard)]
pub struct Leaderboard {
    pub campaign_id: Uuid,
    pub items: Vec<LeaderboardRow>,
}

/// `GET /v1/campaigns/{id}/leaderboard`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// Default 20.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// `GET /v1/members/{id}/referral-tree`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TreeQuery {
    /// Levels below the member (1 to 5; default 3).
    #[param(minimum = 1, maximum = 5)]
    pub depth: Option<i64>,
    /// Only this campaign's referrals (default: every campaign's).
    pub campaign_id: Option<Uuid>,
}

/// A member and those they invited (pending, flagged and qualified referrals).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(no_recursion)]
pub struct TreeNode {
    pub member_id: MemberId,
    pub display_name: String,
    /// The referral that brought this member in (null at the root).
    pub referral_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
    pub status: Option<ReferralStatus>,
    pub joined_at: Option<DateTime<Utc>>,
    pub children: Vec<TreeNode>,
}

/// A member's referral tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralTree {
    pub root: TreeNode,
    pub depth: i64,
    /// Members in the tree below the root.
    pub members: i64,
    /// More than 2,000 members: the deepest were left out.
    pub truncated: bool,
}
