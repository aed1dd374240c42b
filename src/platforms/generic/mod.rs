//! Any other source (shops, mini-programs): Shequn's own signed webhook,
//! both ways.

mod inbound;
mod outbound;

pub use inbound::sign;

use serde::Deserialize;

use crate::platforms::credentials::{key, Chars, Key};

/// The keys of a generic connection's credentials.
pub const KEYS: &[Key] = &[key("secret", true, 16, 256, Chars::Any)];

/// A generic connection's credentials: the shared HMAC secret of both
/// directions.
/// No `Debug`: it holds secrets, which never reach a log.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    pub secret: String,
}

/// The generic platform: both sides.
#[derive(Debug, Clone, Copy)]
pub struct Generic;

impl Credentials {
    /// Reads a connection's stored credentials (checked against [`KEYS`] when written).
    pub fn of(v: &serde_json::Value) -> Option<Self> {
        Self::deserialize(v).ok()
    }
}

/// The channel a generic connection sends through (it needs an outbound URL).
pub fn channel(_creds: &serde_json::Value, settings: &serde_json::Value) -> Result<super::Channel, &'static str> {
    if settings.get("outbound_url").is_some() {
        Ok(super::Channel::Generic)
    } else {
        Err("the connection has no settings.outbound_url")
    }
}
