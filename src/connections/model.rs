//! Connection DTOs and per-platform credential rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, FieldError};
use crate::ids::ConnectionId;
use crate::platform::Platform;
use crate::validate::{schema, Checks};

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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub platform: Platform,
    #[serde(default)]
    pub name: String,
    /// Platform secrets (see the README for each platform's keys). Never returned.
    pub credentials: serde_json::Value,
    /// e.g. `{"api_base_url": "http://127.0.0.1:9000"}` to point outbound calls at a fake platform.
    pub settings: Option<serde_json::Value>,
}

/// Published as one variant per platform that can be connected, each with
/// its own credential keys.
impl utoipa::PartialSchema for CreateConnection {
    fn schema() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new().description(Some(
            "`POST /v1/connections`: a platform, its credentials (never returned), an optional name and settings",
        ));
        for (platform, credentials) in credential_schemas() {
            let platform = ObjectBuilder::new().schema_type(Type::String).enum_values(Some([platform.as_str()]));
            one_of = one_of.item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("platform", platform)
                    .required("platform")
                    .property("name", schema::text::<0, 100>())
                    .property("credentials", credentials)
                    .required("credentials")
                    .property("settings", settings_schema())
                    .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false))),
            );
        }
        RefOr::T(Schema::OneOf(one_of.build()))
    }
}

impl ToSchema for CreateConnection {}

/// The credentials of any platform that can be connected.
fn any_credentials() -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new();
    for (_, credentials) in credential_schemas() {
        one_of = one_of.item(credentials);
    }
    RefOr::T(Schema::OneOf(one_of.build()))
}

/// Whether `creds` are some connectable platform's other than `platform`.
pub fn belong_elsewhere(platform: Platform, creds: &serde_json::Value) -> bool {
    Platform::ALL.into_iter().any(|p| p != platform && check_credentials(p, creds).is_ok())
}

/// The schema of [`check_settings`] (settings may be `null`: unchanged or none).
fn settings_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(schema::typed(Type::Object, true))
        .description(Some(
            "At most 8192 bytes as JSON. `api_base_url` points outbound calls elsewhere (a fake platform in tests); \
             `outbound_url` is a generic connection's outbound webhook; `group_daily_cap` caps SOP messages per \
             group and local day",
        ))
        .property("api_base_url", schema::url())
        .property("outbound_url", schema::url())
        .property(
            "group_daily_cap",
            ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(1000)),
        )
        .build()
}

/// `PATCH /v1/connections/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    #[schema(schema_with = schema::opt_text::<1, 100>)]
    pub name: Option<String>,
    pub status: Option<ConnectionStatus>,
    #[schema(schema_with = settings_schema)]
    pub settings: Option<serde_json::Value>,
}

/// `POST /v1/connections/{id}/rotate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateCredentials {
    /// The connection's platform's keys; another platform's answer 409 `platform_mismatch`.
    #[schema(schema_with = any_credentials)]
    pub credentials: serde_json::Value,
    /// How long the old credentials stay valid (default 86,400 s, at most 30 days).
    #[serde(default, deserialize_with = "crate::validate::de::opt_integer")]
    #[schema(minimum = 0, maximum = 2592000)]
    pub grace_seconds: Option<i64>,
}

/// Default grace period of a rotation.
pub const DEFAULT_GRACE_SECONDS: i64 = 86_400;

/// The platforms that can be connected, each with its credentials' schema:
/// a closed object of its keys.
fn credential_schemas() -> Vec<(Platform, Object)> {
    Platform::ALL
        .into_iter()
        .filter_map(|p| crate::platforms::credential_keys(p).map(|keys| (p, keys)))
        .map(|(p, keys)| {
            let mut o = ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(format!("The credentials of a `{}` connection", p.as_str())))
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
            for k in keys {
                o = o.property(k.name, k.schema());
                if k.required {
                    o = o.required(k.name);
                }
            }
            (p, o.build())
        })
        .collect()
}

/// Validates credentials for `platform`; errors name `credentials.<key>`.
pub fn check_credentials(platform: Platform, creds: &serde_json::Value) -> ApiResult<()> {
    let Some(rules) = crate::platforms::credential_keys(platform) else {
        return Err(ApiError::field("platform", "unsupported", "this platform cannot be connected yet"));
    };
    let Some(obj) = creds.as_object() else {
        return Err(ApiError::field("credentials", "invalid", "must be a JSON object"));
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !rules.iter().any(|k| k.name == key) {
            errors.push(FieldError::new(
                format!("credentials.{key}"),
                "unknown_field",
                "not a credential of this platform",
            ));
        }
    }
    for k in rules {
        let key = k.name;
        match obj.get(key) {
            None if k.required => errors.push(FieldError::new(format!("credentials.{key}"), "required", "is required")),
            None => {}
            Some(serde_json::Value::String(s)) if k.accepts(s) => {}
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
/// An integral `group_daily_cap` written as a float (`5.0`, an integer to
/// JSON Schema) is stored as the integer.
pub fn check_settings(c: &mut Checks, settings: &mut serde_json::Value) {
    c.json_object("settings", settings, 8 * 1024);
    if let Some(v) = settings.get_mut("group_daily_cap") {
        if let Some(n) = crate::validate::integral(v) {
            *v = n.into();
        }
    }
    for key in ["api_base_url", "outbound_url"] {
        if let Some(v) = settings.get(key) {
            match v.as_str() {
                Some(u) => c.url(&format!("settings.{key}"), u),
                None => c.fail(format!("settings.{key}"), "invalid", "must be a URL string"),
            }
        }
    }
    if let Some(v) = settings.get("group_daily_cap") {
        if !v.as_i64().is_some_and(|n| (1..=1000).contains(&n)) {
            c.fail("settings.group_daily_cap", "out_of_range", "must be an integer 1-1000");
        }
    }
}

impl CreateConnection {
    /// Validates.
    pub fn validate(&mut self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.text("name", &self.name, 0, 100);
        if let Some(s) = &mut self.settings {
            check_settings(&mut c, s);
        }
        c.finish()?;
        check_credentials(self.platform, &self.credentials)
    }
}

impl UpdateConnection {
    /// Validates.
    pub fn validate(&mut self) -> ApiResult<()> {
        let mut c = Checks::new();
        c.opt_text("name", self.name.as_deref(), 100);
        if let Some(s) = &mut self.settings {
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
