//! WeCom (企业微信) customer groups: the encrypted XML callbacks (signature,
//! AES key, URL verification), group robots and customer-group mass sends.

pub mod crypto;
pub mod groupchat;
mod inbound;
pub mod mass;
mod robot;

pub use robot::WecomRobot;

use serde::Deserialize;

use crate::platforms::credentials::{key, Chars, Key};

/// The keys of a WeCom connection's credentials.
pub const KEYS: &[Key] = &[
    key("corp_id", true, 1, 64, Chars::Alnum),
    key("token", true, 3, 32, Chars::Alnum),
    key("encoding_aes_key", true, 43, 43, Chars::Alnum),
    key("secret", false, 1, 256, Chars::Any),
];

/// A WeCom connection's credentials: the callback token and AES key of the
/// corp's app, and the contact secret that mass sends need.
/// No `Debug`: it holds secrets, which never reach a log.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    pub corp_id: String,
    pub token: String,
    pub encoding_aes_key: String,
    #[serde(default)]
    pub secret: Option<String>,
}

/// WeCom callbacks and mass sends (robots are [`WecomRobot`]).
#[derive(Debug, Clone, Copy)]
pub struct Wecom;

impl Credentials {
    /// Reads a connection's stored credentials (checked against [`KEYS`] when written).
    pub fn of(v: &serde_json::Value) -> Option<Self> {
        Self::deserialize(v).ok()
    }
}

/// The channel a WeCom connection sends through: mass sends, which need the
/// contact `secret` (a group's robot is preferred where it has one).
pub fn channel(creds: &serde_json::Value, _settings: &serde_json::Value) -> Result<super::Channel, &'static str> {
    match Credentials::of(creds).and_then(|c| c.secret) {
        Some(_) => Ok(super::Channel::WecomMassSend),
        None => Err(
            "give the WeCom connection its contact `secret` for mass sends, or the group a robot: PUT /v1/groups/{id}/robot",
        ),
    }
}
