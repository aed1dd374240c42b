//! Chat platforms and platform identities (platform + external user/chat id).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validate::Checks;

/// A chat platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Platform {
    /// WeCom (企业微信) customer groups.
    Wecom,
    Telegram,
    Slack,
    /// Feishu / Lark.
    Feishu,
    Dingtalk,
    /// Any other source (shops, mini-programs, imports).
    Generic,
}

impl Platform {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Wecom => "wecom",
            Platform::Telegram => "telegram",
            Platform::Slack => "slack",
            Platform::Feishu => "feishu",
            Platform::Dingtalk => "dingtalk",
            Platform::Generic => "generic",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Wecom, Self::Telegram, Self::Slack, Self::Feishu, Self::Dingtalk, Self::Generic]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// An account on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub platform: Platform,
    /// The platform's own id of the user (or chat).
    pub external_id: String,
}

/// Checks an external id: 1..=128 characters, no control characters, no surrounding spaces.
pub fn check_external_id(c: &mut Checks, field: &str, v: &str) {
    if v.is_empty() || v.chars().count() > 128 || v.trim() != v || v.chars().any(char::is_control) {
        c.fail(field, "invalid", "must be 1-128 characters without control characters or surrounding spaces");
    }
}

/// Checks a list of identities (and that none repeats).
pub fn check_identities(c: &mut Checks, field: &str, ids: &[Identity]) {
    if ids.len() > 20 {
        c.fail(field, "too_many", "at most 20 identities");
    }
    for (i, id) in ids.iter().enumerate() {
        check_external_id(c, &format!("{field}[{i}].external_id"), &id.external_id);
        if ids[..i].contains(id) {
            c.fail(format!("{field}[{i}]"), "duplicate", "this identity is listed twice");
        }
    }
}
