//! Membership DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiResult;
use crate::ids::{GroupId, MemberId, MembershipId};
use crate::validate::{schema, Checks};

/// How a member arrived (a property of join events, defined with them).
pub use crate::events::model::JoinSource;

/// One stint of a member in a group.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Membership {
    pub id: MembershipId,
    pub group_id: GroupId,
    pub member_id: MemberId,
    /// The member's display name (empty once erased).
    pub display_name: String,
    /// The group's name.
    pub group_name: String,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub source: JoinSource,
    pub inviter_id: Option<MemberId>,
    pub invite_code: Option<String>,
    /// The channel entry link the member came through (from the invite
    /// code: a channel's code, its Telegram link's name, or WeCom's `state`).
    pub channel_id: Option<uuid::Uuid>,
    pub leave_reason: Option<String>,
}

/// `POST /v1/groups/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinGroup {
    pub member_id: MemberId,
    /// Defaults to now; not in the future (5 minutes of clock skew allowed).
    pub joined_at: Option<DateTime<Utc>>,
    /// Defaults to `unknown`.
    pub source: Option<JoinSource>,
    /// The member who invited them, if known (not `member_id`).
    pub inviter_id: Option<MemberId>,
    #[schema(schema_with = schema::opt_text::<1, 128>)]
    pub invite_code: Option<String>,
}

/// `DELETE /v1/groups/{id}/members/{member_id}` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeaveGroup {
    /// Defaults to now; not in the future (5 minutes of clock skew allowed),
    /// not before the stint's `joined_at` (409 `before_join`).
    pub left_at: Option<DateTime<Utc>>,
    /// Why (e.g. `left`, `removed`, `dismissed`).
    #[param(schema_with = schema::opt_text::<1, 200>)]
    pub reason: Option<String>,
}

/// `GET /v1/groups/{id}/members` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupMembersQuery {
    /// `history` to include closed stints; default current members only.
    #[param(inline)]
    pub include: Option<Include>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// What to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    History,
}

impl JoinGroup {
    /// Validates the shape.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if let Some(code) = &self.invite_code {
            c.text("invite_code", code, 1, 128);
        }
        if self.inviter_id == Some(self.member_id) {
            c.fail("inviter_id", "invalid", "a member cannot invite themselves");
        }
        c.finish()
    }
}

impl LeaveGroup {
    /// Validates the shape.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        if let Some(r) = &self.reason {
            c.text("reason", r, 1, 200);
        }
        c.finish()
    }
}

/// One stint as projected from a pair's join and leave events (what
/// `memberships` stores of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Stint {
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub source: JoinSource,
    pub inviter: Option<uuid::Uuid>,
    pub invite_code: Option<String>,
    pub leave_reason: Option<String>,
}
