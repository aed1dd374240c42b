//! Slack: the Events API (signed requests, URL verification) and
//! `chat.postMessage`.

mod inbound;
mod outbound;

use serde::Deserialize;

use crate::platforms::credentials::{key, Chars, Key};

/// The keys of a Slack connection's credentials.
pub const KEYS: &[Key] =
    &[key("signing_secret", true, 8, 256, Chars::Any), key("bot_token", false, 1, 256, Chars::Any)];

/// A Slack connection's credentials: the app's signing secret, and the bot
/// token that sends need.
/// No `Debug`: it holds secrets, which never reach a log.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    pub signing_secret: String,
    #[serde(default)]
    pub bot_token: Option<String>,
}

/// Slack: both sides.
#[derive(Debug, Clone, Copy)]
pub struct Slack;

impl Credentials {
    /// Reads a connection's stored credentials (checked against [`KEYS`] when written).
    pub fn of(v: &serde_json::Value) -> Option<Self> {
        Self::deserialize(v).ok()
    }
}

/// The channel a Slack connection sends through (it needs a bot token).
pub fn channel(creds: &serde_json::Value, _settings: &serde_json::Value) -> Result<super::Channel, &'static str> {
    match Credentials::of(creds).and_then(|c| c.bot_token) {
        Some(t) if !t.is_empty() => Ok(super::Channel::Slack),
        _ => Err("the connection has no bot_token"),
    }
}
