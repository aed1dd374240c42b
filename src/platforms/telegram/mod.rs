//! Telegram: Bot API updates (secret-token header) and sends.

mod inbound;
pub mod invite;
mod outbound;

use serde::Deserialize;

use crate::platforms::credentials::{key, Chars, Key};

/// The keys of a Telegram connection's credentials.
pub const KEYS: &[Key] =
    &[key("bot_token", true, 1, 256, Chars::WithColon), key("secret_token", true, 1, 256, Chars::Token)];

/// A Telegram connection's credentials: the bot's token and the secret token
/// set with `setWebhook`.
/// No `Debug`: it holds secrets, which never reach a log.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    pub bot_token: String,
    pub secret_token: String,
}

/// Telegram: both sides.
#[derive(Debug, Clone, Copy)]
pub struct Telegram;

impl Credentials {
    /// Reads a connection's stored credentials (checked against [`KEYS`] when written).
    pub fn of(v: &serde_json::Value) -> Option<Self> {
        Self::deserialize(v).ok()
    }
}

/// The channel a Telegram connection sends through.
pub fn channel(creds: &serde_json::Value, _settings: &serde_json::Value) -> Result<super::Channel, &'static str> {
    match Credentials::of(creds) {
        Some(c) if !c.bot_token.is_empty() => Ok(super::Channel::Telegram),
        _ => Err("the connection has no bot_token"),
    }
}
