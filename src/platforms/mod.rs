//! Everything Shequn knows about each chat platform, one folder each:
//! typed knowledge of its credentials, inbound verification, decryption and
//! URL-verification handshakes, normalisation of its callbacks into events,
//! outbound sends and its published rate limits. `hooks/` and `deliveries/`
//! are platform-neutral: they reach a platform only through the traits of
//! [`inbound`] and [`outbound`] and the registry below.
//!
//! Adding a platform: a folder `platforms/<name>/` implementing
//! [`inbound::Inbound`] and/or [`outbound::Outbound`], and its line in
//! [`inbound_of`] / [`outbound_of`] (docs/architecture.md).

pub mod crypto;
pub mod feishu;
pub mod generic;
pub mod inbound;
pub mod outbound;
pub mod slack;
pub mod telegram;
pub mod wecom;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::Platform;
use inbound::Inbound;
use outbound::{Outbound, SendRequest, Sent};

/// How a delivery reaches its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Channel {
    /// Telegram Bot API `sendMessage` / `sendPhoto`.
    Telegram,
    /// Slack `chat.postMessage`.
    Slack,
    /// The group's WeCom group robot (`webhook/send?key=`).
    WecomRobot,
    /// WeCom customer-group mass send, confirmed by the group owner.
    WecomMassSend,
    /// The group's Feishu custom bot (signed).
    FeishuBot,
    /// Shequn's signed outbound webhook.
    Generic,
    /// Nothing can send to this group (see `last_error`).
    None,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 7] = [
        Channel::Telegram,
        Channel::Slack,
        Channel::WecomRobot,
        Channel::WecomMassSend,
        Channel::FeishuBot,
        Channel::Generic,
        Channel::None,
    ];

    /// Whether the receiver dedupes on our idempotency key, so a retry after
    /// an unknown outcome cannot send twice.
    pub fn idempotent(self) -> bool {
        matches!(self, Channel::Generic)
    }
}

/// The inbound side of a platform, if it has one.
pub fn inbound_of(p: Platform) -> Option<&'static dyn Inbound> {
    match p {
        Platform::Generic => Some(&generic::Generic),
        Platform::Telegram => Some(&telegram::Telegram),
        Platform::Slack => Some(&slack::Slack),
        Platform::Wecom => Some(&wecom::Wecom),
        Platform::Feishu => Some(&feishu::Feishu),
        Platform::Dingtalk => None,
    }
}

/// The outbound side of a channel, if it sends by one HTTP call.
pub fn outbound_of(channel: Channel) -> Option<&'static dyn Outbound> {
    Some(match channel {
        Channel::Telegram => &telegram::Telegram,
        Channel::Slack => &slack::Slack,
        Channel::WecomRobot => &wecom::WecomRobot,
        Channel::FeishuBot => &feishu::FeishuBot,
        Channel::Generic => &generic::Generic,
        Channel::WecomMassSend | Channel::None => return None,
    })
}

/// Sends one message through `channel` and classifies the answer.
pub async fn send(http: &reqwest::Client, channel: Channel, r: &SendRequest<'_>) -> Sent {
    if channel == Channel::WecomMassSend {
        return wecom::mass::send(http, r).await;
    }
    match outbound_of(channel) {
        Some(c) => outbound::execute(http, c, r).await,
        None => {
            Sent::Rejected { status: None, error: format!("no connector for {channel:?}"), response: String::new() }
        }
    }
}

/// What following up a send that waits for a person's confirmation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// The platform reports it sent.
    Confirmed,
    /// Not yet; the person was reminded.
    Reminded,
    /// Not yet, and no reminder went out (the platform could not be asked).
    Waiting,
}

/// Follows up a send through `channel` that awaits confirmation (a WeCom
/// mass send waits for the group owner): confirmed, or the owner reminded.
pub async fn follow_up(
    http: &reqwest::Client,
    channel: Channel,
    credentials: &serde_json::Value,
    settings: &serde_json::Value,
    message_id: &str,
) -> FollowUp {
    if channel != Channel::WecomMassSend {
        return FollowUp::Waiting;
    }
    if wecom::mass::confirmed(http, credentials, settings, message_id).await == Some(true) {
        FollowUp::Confirmed
    } else if wecom::mass::remind(http, credentials, settings, message_id).await {
        FollowUp::Reminded
    } else {
        FollowUp::Waiting
    }
}
