//! Connection DTOs and per-platform credential rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, FieldError};
use crate::ids::ConnectionId;
use crate::platform::Platform;
use crate::validate::Checks;

/// Whether a connection receives and sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    /// Webhooks answer 404; nothing is sent.
    Disabled,
}

/// A connection as the API shows it (credentials are write-only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Connection {
    pub id: ConnectionId,
    pub platform: Platform,
    pub name: String,
    pub status: ConnectionStatus,
    /// Where the platform must send its callbacks.
    pub webhook_url: String,
    pub settings: serde_json::Value,
    /// Until when the previous credentials are still accepted after a rotation.
    pub previous_valid_until: Option<DateTime<Utc>>,
    pub last_received_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/connections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub platform: Platform,
    #[serde(default)]
    pub name: String,
    /// Platform secrets (see the README for each platform's keys). Never returned.
    #[schema(value_type = Object)]
    pub credentials: serde_json::Value,
    /// e.g. `{"api_base_url": "http://127.0.0.1:9000"}` to point outbound calls at a fake platform.
    pub settings: Option<serde_json::Value>,
}

/// `PATCH /v1/connections/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    pub name: Option<String>,
    pub status: Option<ConnectionStatus>,
    pub settings: Option<serde_json::Value>,
}

/// `POST /v1/connections/{id}/rotate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateCredentials {
    #[schema(value_type = Object)]
    pub credentials: serde_json::Value,
    /// How long the old credentials stay valid (default 86,400 s, at most 30 days).
    pub grace_seconds: Option<i64>,
}

/// Default grace period of a rotation.
pub const DEFAULT_GRACE_SECONDS: i64 = 86_400;

fn alnum(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One credential key: (name, required, format check).
type Rule = (&'static str, bool, fn(&str) -> bool);

/// The credential keys of a platform.
fn rules(platform: Platform) -> Option<Vec<Rule>> {
    Some(match platform {
        Platform::Wecom => vec![
            ("corp_id", true, |s| !s.is_empty() && s.len() <= 64 && alnum(s)),
            ("token", true, |s| (3..=32).contains(&s.len()) && alnum(s)),
            ("encoding_aes_key", true, |s| s.len() == 43 && alnum(s)),
            ("secret", false, |s| !s.is_empty() && s.len() <= 256),
        ],
        Platform::Telegram => vec![
            ("bot_token", true, |s| s.contains(':') && s.len() <= 256),
            ("secret_token", true, |s| {
                (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            }),
        ],
        Platform::Slack => vec![
            ("signing_secret", true, |s| (8..=256).contains(&s.len())),
            ("bot_token", false, |s| !s.is_empty() && s.len() <= 256),
        ],
        Platform::Feishu => vec![
            ("app_id", true, |s| !s.is_empty() && s.len() <= 64),
            ("verification_token", true, |s| !s.is_empty() && s.len() <= 256),
            ("encrypt_key", false, |s| !s.is_empty() && s.len() <= 256),
            ("app_secret", false, |s| !s.is_empty() && s.len() <= 256),
        ],
        Platform::Generic => vec![("secret", true, |s| (16..=256).contains(&s.len()))],
        Platform::Dingtalk => return None,
    })
}

/// Validates credentials for `platform`; errors name `credentials.<key>`.
pub fn check_credentials(platform: Platform, creds: &serde_json::Value) -> ApiResult<()> {
    let Some(rules) = rules(platform) else {
        return Err(ApiError::field("platform", "unsupported", "this platform cannot be connected yet"));
    };
    let Some(obj) = creds.as_object() else {
        return Err(ApiError::field("credentials", "invalid", "must be a JSON object"));
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !rules.iter().any(|(k, _, _)| k == key) {
            errors.push(FieldError::new(
                format!("credentials.{key}"),
                "unknown_field",
                "not a credential of this platform",
            ));
        }
    }
    for (key, required, ok) in rules {
        match obj.get(key) {
            None if required => errors.push(FieldError::new(format!("credentials.{key}"), "required", "is required")),
            None => {}
            Some(serde_json::Value::String(s)) if ok(s) => {}
            Some(_) => errors.push(FieldError::new(format!("credentials.{key}"), "invalid", "has the wrong format")),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Checks settings: an object; `api_base_url` and `outbound_url` (generic
/// connections' outbound webhook), when present, http(s) URLs;
/// `group_daily_cap`, when present, 1-1000 SOP messages per group and local day.
pub fn check_settings(c: &mut Checks, settings: &serde_json::Value) {
    c.json_object("settings", settings, 8 * 1024);
    for key in ["api_base_url", "outbound_url"] {
        if let Some(v) = settings.get(key) {
            match v.as_str() {
                Some(u) => c.url(&format!("settings.{key}"), u),
                None => c.fail(format!("settings.{key}"), "invalid", "must be a URL string"),
            }
        }
    }
    if let Some(v) = settings.get("group_daily_cap") {
        if !v.as_u64().is_some_and(|n| (1..=1000).contains(&n)) {
            c.fail("settings.group_daily_cap", "out_of_range", "must be an integer 1-1000");
        }
    }
}

impl CreateConnection {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 0, 100);
        if let Some(s) = &self.settings {
            check_settings(&mut c, s);
        }
        c.finish()?;
        check_credentials(self.platform, &self.credentials)
    }
}

impl UpdateConnection {
    /// Validates.
    pub fn validate(&self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.opt_text("name", self.name.as_deref(), 100);
        if let Some(s) = &self.settings {
            check_settings(&mut c, s);
        }
        c.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(d) => d.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn credentials_are_checked_per_platform() {
        let ok = json!({"corp_id": "ww1436e0e65a779aee", "token": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
                        "encoding_aes_key": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"});
        assert!(check_credentials(Platform::Wecom, &ok).is_ok());
        let bad = json!({"corp_id": "ww1", "token": "x", "extra": "y"});
        assert_eq!(
            fields(check_credentials(Platform::Wecom, &bad).unwrap_err()),
            ["credentials.extra", "credentials.token", "credentials.encoding_aes_key"]
        );
        assert!(check_credentials(Platform::Telegram, &json!({"bot_token": "1:abc", "secret_token": "s3cr3t"})).is_ok());
        assert!(check_credentials(Platform::Generic, &json!({"secret": "short"})).is_err());
        assert!(check_credentials(Platform::Dingtalk, &json!({})).is_err());
    }
}
