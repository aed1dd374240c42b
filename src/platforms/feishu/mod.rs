//! Feishu / Lark: event callbacks (verification token, optional encryption
//! and signature) and custom bots.

mod bot;
pub mod crypto;
mod inbound;

pub use bot::{feishu_sign, FeishuBot};

use serde::Deserialize;

use crate::platforms::credentials::{key, Chars, Key};

/// The keys of a Feishu connection's credentials.
pub const KEYS: &[Key] = &[
    key("app_id", true, 1, 64, Chars::Any),
    key("verification_token", true, 1, 256, Chars::Any),
    key("encrypt_key", false, 1, 256, Chars::Any),
    key("app_secret", false, 1, 256, Chars::Any),
];

/// A Feishu connection's credentials: the app id, the verification token of
/// its event subscription and, when events are encrypted, the encrypt key.
/// No `Debug`: it holds secrets, which never reach a log.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    pub app_id: String,
    pub verification_token: String,
    #[serde(default)]
    pub encrypt_key: Option<String>,
    #[serde(default)]
    pub app_secret: Option<String>,
}

/// Feishu callbacks (bots are [`FeishuBot`]).
#[derive(Debug, Clone, Copy)]
pub struct Feishu;

impl Credentials {
    /// Reads a connection's stored credentials (checked against [`KEYS`] when written).
    pub fn of(v: &serde_json::Value) -> Option<Self> {
        Self::deserialize(v).ok()
    }
}

/// A Feishu connection does not send: groups are reached through their bots.
pub fn channel(_creds: &serde_json::Value, _settings: &serde_json::Value) -> Result<super::Channel, &'static str> {
    Err("Feishu groups are sent to through their custom bot: PUT /v1/groups/{id}/robot")
}
