//! Everything Shequn knows about each chat platform, one folder each:
//! typed knowledge of its credentials, inbound verification, decryption and
//! URL-verification handshakes, normalisation of its callbacks into events,
//! outbound sends and its published rate limits. `hooks/` and `deliveries/`
//! are platform-neutral: they reach a platform only through the traits of
//! [`inbound`] and [`outbound`] and the registry below.
//!
//! Adding a platform: a folder `platforms/<name>/` implementing
//! [`inbound::Inbound`] and/or [`outbound::Outbound`], its entry in the
//! registry (`entry`) and its channels in [`outbound_of`]
//! (docs/architecture.md).

pub mod credentials;
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
use outbound::{Calls, Outbound, SendRequest, Sent};

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

/// The channel a connection of a platform sends through, from its
/// credentials and settings, or why it cannot send.
type ChannelOf = fn(&serde_json::Value, &serde_json::Value) -> Result<Channel, &'static str>;

/// What Shequn knows of a platform that can be connected: one entry each.
struct Entry {
    keys: &'static [credentials::Key],
    inbound: &'static dyn Inbound,
    channel: ChannelOf,
    /// Groups are sent to through their own robot when they have one, even
    /// when a plan names a connection.
    prefers_group_robot: bool,
}

/// The registry: a platform's entry, `None` where it cannot be connected.
fn entry(p: Platform) -> Option<Entry> {
    Some(match p {
        Platform::Wecom => {
            Entry { keys: wecom::KEYS, inbound: &wecom::Wecom, channel: wecom::channel, prefers_group_robot: true }
        }
        Platform::Telegram => Entry {
            keys: telegram::KEYS,
            inbound: &telegram::Telegram,
            channel: telegram::channel,
            prefers_group_robot: false,
        },
        Platform::Slack => {
            Entry { keys: slack::KEYS, inbound: &slack::Slack, channel: slack::channel, prefers_group_robot: false }
        }
        Platform::Feishu => {
            Entry { keys: feishu::KEYS, inbound: &feishu::Feishu, channel: feishu::channel, prefers_group_robot: true }
        }
        Platform::Generic => Entry {
            keys: generic::KEYS,
            inbound: &generic::Generic,
            channel: generic::channel,
            prefers_group_robot: false,
        },
        Platform::Dingtalk => return None,
    })
}

/// The credential keys of a platform; `None` where it cannot be connected.
pub fn credential_keys(p: Platform) -> Option<&'static [credentials::Key]> {
    entry(p).map(|e| e.keys)
}

/// The channel through which a connection of `p` sends, or why it cannot.
pub fn connection_channel(
    p: Platform,
    credentials: &serde_json::Value,
    settings: &serde_json::Value,
) -> Result<Channel, &'static str> {
    match entry(p) {
        Some(e) => (e.channel)(credentials, settings),
        None => Err("DingTalk has no outbound connector yet"),
    }
}

/// Whether a group of `p` is sent to through its own robot when it has one
/// (WeCom group robots, Feishu custom bots), even when a plan names a
/// connection.
pub fn prefers_group_robot(p: Platform) -> bool {
    entry(p).is_some_and(|e| e.prefers_group_robot)
}

/// The inbound side of a platform, if it has one.
pub fn inbound_of(p: Platform) -> Option<&'static dyn Inbound> {
    entry(p).map(|e| e.inbound)
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

/// Whether Shequn can make named invite links for groups of `p` (so a join
/// tells which link it came through).
pub fn makes_invite_links(p: Platform) -> bool {
    p == Platform::Telegram
}

/// Makes a named invite link for the group `chat_id` of a connection of
/// `p`; `Err` says why not (the platform cannot, or its answer).
pub async fn create_invite_link(
    http: &reqwest::Client,
    p: Platform,
    credentials: &serde_json::Value,
    settings: &serde_json::Value,
    chat_id: &str,
    name: &str,
) -> Result<String, String> {
    match p {
        Platform::Telegram => telegram::invite::create(http, credentials, settings, chat_id, name).await,
        _ => Err(format!("{} groups have no invite-link API here", p.as_str())),
    }
}

/// Sends one message through `channel` and classifies the answer.
pub async fn send(calls: Calls<'_>, channel: Channel, r: &SendRequest<'_>) -> Sent {
    if channel == Channel::WecomMassSend {
        return wecom::mass::send(calls, r).await;
    }
    match outbound_of(channel) {
        Some(c) => outbound::execute(calls.http, c, r).await,
        None => {
            Sent::Rejected { status: None, error: format!("no connector for {channel:?}"), response: String::new() }
        }
    }
}

impl Channel {
    /// Whether sends go through the group's own robot (its URL and secret
    /// are the group's, not a connection's).
    pub fn uses_group_robot(self) -> bool {
        matches!(self, Channel::WecomRobot | Channel::FeishuBot)
    }

    /// The platform on which a send is made as the group owner staff
    /// member (whose account on that platform the send names).
    pub fn sends_as_owner_on(self) -> Option<Platform> {
        (self == Channel::WecomMassSend).then_some(Platform::Wecom)
    }

    /// Whether an accepted send still waits for a person to confirm it (a
    /// WeCom mass send waits for the group owner), followed up by [`follow_up`].
    pub fn awaits_confirmation(self) -> bool {
        self == Channel::WecomMassSend
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
    calls: Calls<'_>,
    channel: Channel,
    credentials: &serde_json::Value,
    settings: &serde_json::Value,
    message_id: &str,
) -> FollowUp {
    if channel != Channel::WecomMassSend {
        return FollowUp::Waiting;
    }
    if wecom::mass::confirmed(calls, credentials, settings, message_id).await == Some(true) {
        FollowUp::Confirmed
    } else if wecom::mass::remind(calls, credentials, settings, message_id).await {
        FollowUp::Reminded
    } else {
        FollowUp::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::credentials::{Chars, Key};
    use super::*;
    use serde_json::{json, Map, Value};

    fn sample(k: &Key) -> Value {
        let n = k.min.max(2);
        Value::String(match k.chars {
            Chars::WithColon => format!("1:{}", "a".repeat(n)),
            _ => "a".repeat(n),
        })
    }

    /// Each platform's typed credentials read exactly what its key table
    /// lets the connections feature store: every key, and no required one
    /// left out.
    #[test]
    fn typed_credentials_agree_with_the_key_tables() {
        type Reads = fn(&Value) -> bool;
        let readers: [(Platform, Reads); 5] = [
            (Platform::Wecom, |v| wecom::Credentials::of(v).is_some()),
            (Platform::Telegram, |v| telegram::Credentials::of(v).is_some()),
            (Platform::Slack, |v| slack::Credentials::of(v).is_some()),
            (Platform::Feishu, |v| feishu::Credentials::of(v).is_some()),
            (Platform::Generic, |v| generic::Credentials::of(v).is_some()),
        ];
        for (p, reads) in readers {
            let keys = credential_keys(p).unwrap();
            let all: Map<String, Value> = keys.iter().map(|k| (k.name.to_owned(), sample(k))).collect();
            assert!(keys.iter().all(|k| k.accepts(sample(k).as_str().unwrap())), "{p:?}: samples are valid");
            assert!(reads(&Value::Object(all.clone())), "{p:?}: every key");
            let required: Map<String, Value> =
                keys.iter().filter(|k| k.required).map(|k| (k.name.to_owned(), sample(k))).collect();
            assert!(reads(&Value::Object(required.clone())), "{p:?}: the required keys alone");
            for k in keys.iter().filter(|k| k.required) {
                let mut less = required.clone();
                less.remove(k.name);
                assert!(!reads(&Value::Object(less)), "{p:?}: without {}", k.name);
            }
        }
        assert!(credential_keys(Platform::Dingtalk).is_none());
        assert_eq!(
            connection_channel(Platform::Telegram, &json!({"bot_token": "1:a", "secret_token": "s"}), &json!({})),
            Ok(Channel::Telegram)
        );
        assert!(connection_channel(Platform::Slack, &json!({"signing_secret": "12345678"}), &json!({})).is_err());
    }
}
