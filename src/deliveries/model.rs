//! Delivery DTOs: states, channels and the attempt log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::contents::model::Message;
use crate::http::csv::Format;
use crate::ids::{ConnectionId, ContentId, DeliveryId, GroupId, MemberId, PlanId, StepId};

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its time (or its retry time).
    Pending,
    /// Claimed by a worker that is calling the platform.
    Sending,
    /// The platform accepted it.
    Sent,
    /// The last attempt failed; another is scheduled.
    Failed,
    /// Given up (attempts exhausted, a permanent refusal, or no route); `POST .../retry` starts again.
    Dead,
    /// Its slot had passed by more than the misfire grace when the scheduler reached it.
    Missed,
    /// Accepted as a WeCom mass-send task that a staff member must confirm.
    AwaitingConfirmation,
    /// The staff member confirmed the mass send.
    Confirmed,
    /// The sender stopped between calling the platform and recording its answer: it may or may not have been sent.
    Uncertain,
}

pub use crate::platforms::Channel;

/// The kind of a group's robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RobotKind {
    /// WeCom group robot: `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`.
    WecomRobot,
    /// Feishu custom bot: `https://open.feishu.cn/open-apis/bot/v2/hook/...`, with its signing secret.
    FeishuBot,
}

impl RobotKind {
    /// The channel that sends through such a robot.
    pub fn channel(self) -> Channel {
        match self {
            RobotKind::WecomRobot => Channel::WecomRobot,
            RobotKind::FeishuBot => Channel::FeishuBot,
        }
    }
}

/// One call to the platform.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    pub number: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `accepted`, `retryable`, `rejected`.
    pub outcome: String,
    pub http_status: Option<i32>,
    /// The platform's answer (truncated).
    pub response: Option<String>,
    pub error: Option<String>,
}

/// A scheduled send of one step to one group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    pub id: DeliveryId,
    /// The SOP plan and step it sends (null for a reply to a check-in).
    pub plan_id: Option<PlanId>,
    pub step_id: Option<StepId>,
    /// The check-in made in chat this delivery replies to.
    pub check_in_id: Option<uuid::Uuid>,
    pub group_id: GroupId,
    /// The member a per-member step was for.
    pub member_id: Option<MemberId>,
    pub content_id: ContentId,
    pub connection_id: Option<ConnectionId>,
    pub channel: Channel,
    pub state: DeliveryState,
    /// The nominal slot.
    pub slot_at: DateTime<Utc>,
    /// When it was due (after quiet hours and jitter).
    pub fire_at: DateTime<Utc>,
    /// The slot's local time in the group's timezone.
    pub local_time: String,
    /// What is sent, rendered when the slot was claimed.
    pub message: Message,
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// `sent_at - fire_at`.
    pub lateness_ms: Option<i64>,
    pub platform_message_id: Option<String>,
    pub last_error: Option<String>,
    /// Reminders sent to the group owner while awaiting confirmation.
    pub reminders: i32,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub attempts: Vec<Attempt>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Delivery filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub plan_id: Option<PlanId>,
    pub group_id: Option<GroupId>,
    pub state: Option<DeliveryState>,
    /// Slots at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Slots before this instant.
    pub to: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// `csv`: every matching row as one CSV download (`limit` and `cursor` do not apply).
    #[param(inline)]
    pub format: Option<Format>,
}
