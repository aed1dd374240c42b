//! What every platform's inbound side shares: the [`Inbound`] trait (verify
//! a raw request, constant-time, over the exact bytes; answer platform
//! handshakes; normalise a stored request into events) and its types.

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::events::model::{NewEvent, PlatformRef};

/// A request as it arrived.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
}

/// A stored request, for normalisation (and replays).
#[derive(Debug, Clone)]
pub struct Stored {
    pub query: String,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub body: Vec<u8>,
}

impl Stored {
    /// A stored header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.as_str())
    }
}

/// What to do with a verified request.
#[derive(Debug)]
pub enum Verdict {
    /// Store it and process it.
    Store,
    /// A handshake: answer this, store nothing.
    Reply(Response),
}

/// Why a request was refused (nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: signature, token or timestamp wrong or missing, or a request
    /// too broken to find them in (nothing unverified is parsed further).
    Unauthorized(&'static str),
    /// 400: verified, but not a request of this platform.
    Malformed(&'static str),
}

/// What a stored request means.
#[derive(Debug, Default)]
pub struct Normalized {
    pub events: Vec<NewEvent>,
    /// Groups to register (e.g. the bot was added to them).
    pub groups: Vec<PlatformRef>,
    /// Groups dissolved on the platform.
    pub dismissed: Vec<PlatformRef>,
    /// Items that could not be read.
    pub rejected: Vec<String>,
}

/// A platform's webhook protocol.
pub trait Inbound: Send + Sync {
    /// Checks a request with one credential set.
    fn verify(&self, creds: &serde_json::Value, req: &Incoming<'_>) -> Result<Verdict, Refusal>;
    /// Turns a stored request into events (scope: the connection id).
    fn normalize(
        &self,
        scope: &str,
        creds: &[&serde_json::Value],
        req: &Stored,
        now: DateTime<Utc>,
    ) -> Result<Normalized, String>;
    /// The answer after storing.
    fn ack(&self, outcome: &serde_json::Value) -> Response;
}

/// The headers worth keeping with a stored request.
pub fn kept_headers(headers: &HeaderMap) -> serde_json::Map<String, serde_json::Value> {
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k == "content-type"
                || k == "user-agent"
                || k.starts_with("x-slack-")
                || k.starts_with("x-lark-")
                || k == "x-shequn-signature"
                || k == "x-telegram-bot-api-secret-token"
        })
        // The Telegram secret token is a credential: keep only that it was present.
        .map(|(k, v)| {
            let value =
                if k.as_str() == "x-telegram-bot-api-secret-token" { "(verified)" } else { v.to_str().unwrap_or("") };
            (k.as_str().to_owned(), serde_json::Value::String(value.to_owned()))
        })
        .collect()
}

/// `|now - ts| ≤ 5 min` for a unix-seconds timestamp string.
pub fn fresh(ts: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
    let t: i64 = ts.trim().parse().map_err(|_| Refusal::Unauthorized("bad timestamp"))?;
    if (now.timestamp() - t).abs() > 300 {
        return Err(Refusal::Unauthorized("stale timestamp"));
    }
    Ok(())
}

/// A time from unix seconds.
pub fn unix(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

/// A membership or message event from a platform, with a derived id.
#[allow(clippy::too_many_arguments)]
pub fn platform_event(
    source: crate::events::model::EventSource,
    scope: &str,
    source_id: &str,
    kind: &str,
    at: DateTime<Utc>,
    member: Option<PlatformRef>,
    group: Option<PlatformRef>,
    properties: serde_json::Value,
) -> NewEvent {
    NewEvent {
        id: crate::events::model::derive_id(scope, source_id),
        kind: kind.to_owned(),
        occurred_at: at,
        member: member.map(crate::events::model::Ref::External),
        group: group.map(crate::events::model::Ref::External),
        campaign_id: None,
        campaign_code: None,
        order_id: None,
        amount: None,
        currency: None,
        properties,
        source,
        join_source: None,
        inviter: None,
        invite_code: None,
        leave_reason: None,
        text: None,
    }
}

/// The longest text kept as a possible chat command (check-in keywords are
/// at most 32 characters; mentions are removed first).
pub const MAX_COMMAND_CHARS: usize = 32;

/// A message's text as a possible command: mentions removed (Slack
/// `<@U…>`, Feishu `@_user_N`, a Telegram `/cmd@bot` suffix), trimmed; None
/// when empty or longer than [`MAX_COMMAND_CHARS`].
pub fn command_text(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| {
            let slack_mention = w.starts_with("<@") && w.ends_with('>');
            !(slack_mention || w.starts_with("@_user_"))
        })
        .collect();
    let mut t = words.join(" ");
    if t.starts_with('/') {
        if let Some(at) = t.find('@') {
            if !t[at..].contains(' ') {
                t.truncate(at);
            }
        }
    }
    let t = t.trim();
    (!t.is_empty() && t.chars().count() <= MAX_COMMAND_CHARS).then(|| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::command_text;

    #[test]
    fn command_text_drops_mentions_and_long_messages() {
        assert_eq!(command_text("<@U0BOT> CheckIn").as_deref(), Some("CheckIn"));
        assert_eq!(command_text("@_user_1 打卡").as_deref(), Some("打卡"));
        assert_eq!(command_text("/checkin@ShequnBot").as_deref(), Some("/checkin"));
        assert_eq!(command_text("  签到 \n").as_deref(), Some("签到"));
        assert_eq!(command_text("<@U0BOT>"), None);
        assert_eq!(command_text(&"长".repeat(33)), None);
        assert_eq!(command_text(&"长".repeat(32)).map(|t| t.chars().count()), Some(32));
    }
}
