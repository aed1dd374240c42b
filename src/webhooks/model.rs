//! Outbound webhook DTOs: endpoints (the secret is write-once, shown at
//! creation and rotation only), messages with their per-endpoint state and
//! attempts, and the `msg_` message id.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ids::EndpointId;
use crate::validate::Checks;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A message id: `msg_` + the Crockford base32 of a UUIDv7 (26 characters),
/// so ids sort by creation time. The bare UUID (as list cursors carry it)
/// is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[schema(value_type = String, example = "msg_01JEW6ZK9B3Q6XQ2T8V4M5N7P0", pattern = "^(msg_[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")]
pub struct MessageId(pub Uuid);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.as_u128();
        let mut out = [0u8; 26];
        for (i, c) in out.iter_mut().enumerate() {
            // 26 digits of 5 bits = 130 bits: the first digit holds the top 3.
            let shift = 5 * (25 - i);
            *c = CROCKFORD[((n >> shift) & 31) as usize];
        }
        write!(f, "msg_{}", std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for MessageId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if let Ok(u) = Uuid::parse_str(s) {
            return Ok(Self(u));
        }
        let digits = s.strip_prefix("msg_").ok_or(())?.as_bytes();
        if digits.len() != 26 {
            return Err(());
        }
        let mut n: u128 = 0;
        for (i, &d) in digits.iter().enumerate() {
            let v = CROCKFORD.iter().position(|&c| c == d.to_ascii_uppercase()).ok_or(())? as u128;
            if i == 0 && v > 7 {
                return Err(());
            }
            n = (n << 5) | v;
        }
        Ok(Self(Uuid::from_u128(n)))
    }
}

impl Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::custom("not a message id (msg_…)"))
    }
}

/// An endpoint as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: EndpointId,
    pub url: String,
    pub description: String,
    /// Catalogue names, or `["*"]`.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Whether payloads carry personal data (phone, email).
    pub include_pii: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// The first failure since the last success; null while it succeeds.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why it was disabled by Shequn (null when enabled or disabled by hand).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until when the previous secret still signs (after a rotation).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// A created endpoint: the endpoint and its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookEndpoint {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64; verify requests with it. Not shown again.
    pub secret: String,
}

/// A rotated secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedWebhookSecret {
    /// The new secret, shown this once.
    pub secret: String,
    /// Until then requests carry a signature with the previous secret too.
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// http(s); private destinations are refused (422) unless allowed in config.
    #[schema(schema_with = crate::validate::schema::url)]
    pub url: String,
    #[schema(schema_with = crate::validate::schema::opt_text::<0, 500>)]
    pub description: Option<String>,
    /// Catalogue names, or `["*"]` for all.
    #[schema(schema_with = event_types_schema)]
    pub event_types: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default false.
    pub include_pii: Option<bool>,
}

/// Changes to an endpoint (absent: unchanged). Enabling clears the failure record.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    #[schema(schema_with = crate::validate::schema::opt_url)]
    pub url: Option<String>,
    #[schema(schema_with = crate::validate::schema::opt_text::<0, 500>)]
    pub description: Option<String>,
    #[schema(schema_with = opt_event_types_schema)]
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub include_pii: Option<bool>,
}

/// Most event types on one endpoint.
const MAX_TYPES: usize = 100;

/// The catalogue's names as a string enum.
pub fn type_names() -> utoipa::openapi::Object {
    let names: Vec<&str> = super::catalogue::ALL.iter().map(|e| e.name).collect();
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names))
        .build()
}

fn types_schema(nullable: bool) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Type};
    use utoipa::openapi::ObjectBuilder;
    let named = ArrayBuilder::new().items(type_names()).min_items(Some(1)).max_items(Some(MAX_TYPES));
    let star = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["*"]));
    let all = ArrayBuilder::new().items(star).min_items(Some(1)).max_items(Some(1));
    let mut one = OneOfBuilder::new()
        .description(Some("Catalogue names (1-100), or `[\"*\"]` alone for every type."))
        .item(named)
        .item(all);
    if nullable {
        one = one.item(ObjectBuilder::new().schema_type(Type::Null));
    }
    utoipa::openapi::schema::Schema::OneOf(one.build())
}

fn event_types_schema() -> utoipa::openapi::schema::Schema {
    types_schema(false)
}

fn opt_event_types_schema() -> utoipa::openapi::schema::Schema {
    types_schema(true)
}

/// Checks a list of event types: catalogue names, or `*` alone.
pub fn check_types(c: &mut Checks, types: &[String]) {
    if types.is_empty() {
        c.fail("event_types", "empty", "name at least one type, or \"*\"");
    } else if types.len() > MAX_TYPES {
        c.fail("event_types", "too_many", format!("at most {MAX_TYPES}"));
    } else if types.iter().any(|t| t == "*") && types.len() > 1 {
        c.fail("event_types", "invalid", "\"*\" stands alone");
    }
    for (i, t) in types.iter().enumerate() {
        if t != "*" && super::catalogue::find(t).is_none() {
            c.fail(format!("event_types[{i}]"), "unknown_type", format!("{t:?} is not in the catalogue"));
        }
    }
}

impl CreateWebhookEndpoint {
    /// Field checks (the URL's destination is checked by the guard).
    pub fn validate(&self) -> crate::error::ApiResult<()> {
        let mut c = Checks::new();
        c.url("url", &self.url);
        if let Some(d) = &self.description {
            c.text("description", d, 0, 500);
        }
        check_types(&mut c, &self.event_types);
        c.finish()
    }
}

impl UpdateWebhookEndpoint {
    /// Field checks.
    pub fn validate(&self) -> crate::error::ApiResult<()> {
        let mut c = Checks::new();
        if let Some(u) = &self.url {
            c.url("url", u);
        }
        if let Some(d) = &self.description {
            c.text("description", d, 0, 500);
        }
        if let Some(t) = &self.event_types {
            check_types(&mut c, t);
        }
        c.finish()
    }
}

/// The state of a message for one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DispatchStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is in flight.
    Sending,
    Delivered,
    /// Gave up (attempts exhausted, a final answer, or the endpoint was disabled).
    Failed,
}

/// A message's state for one endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDispatch {
    pub endpoint_id: EndpointId,
    pub status: DispatchStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
}

/// One request to an endpoint.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct WebhookAttempt {
    pub endpoint_id: EndpointId,
    pub number: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i64,
    /// Null when no answer came (timeout, connection error).
    pub status_code: Option<i32>,
    /// At most 1 KiB of the answer.
    pub response: Option<String>,
    pub error: Option<String>,
}

/// A message and where it stands per endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookMessage {
    pub id: MessageId,
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change happened (the body's `timestamp`).
    pub timestamp: DateTime<Utc>,
    /// The payload (without personal fields).
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub endpoints: Vec<WebhookDispatch>,
    /// Every attempt, oldest first (`GET /v1/webhook-messages/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<WebhookAttempt>>,
}

/// Which endpoint(s) to send a message to again.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryMessage {
    /// One endpoint (it need not have had the message); absent: every endpoint that had it.
    pub endpoint_id: Option<EndpointId>,
}

/// Resend failed messages.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverMessages {
    /// Every message created since then that failed for this endpoint.
    pub since: DateTime<Utc>,
}

/// How many message sends were queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedMessages {
    pub queued: u64,
}

/// A test message queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestMessageSent {
    pub message_id: MessageId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip_and_sort_like_their_uuids() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let (sa, sb) = (MessageId(a).to_string(), MessageId(b).to_string());
        assert_eq!(sa.len(), 30);
        assert_eq!(sa.parse::<MessageId>(), Ok(MessageId(a)));
        assert_eq!(sa.to_lowercase().replacen("MSG_", "msg_", 1).parse::<MessageId>(), Ok(MessageId(a)));
        assert_eq!(a < b, sa < sb);
        assert_eq!(MessageId(Uuid::max()).to_string(), "msg_7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        for bad in
            ["msg_", "msg_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "msg_0000000000000000000000000U", "x_00000000000000000000000000"]
        {
            assert!(bad.parse::<MessageId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn event_types_are_catalogue_names_or_a_lone_star() {
        let check = |t: &[&str]| {
            let mut c = Checks::new();
            check_types(&mut c, &t.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            c.is_empty()
        };
        assert!(check(&["*"]));
        assert!(check(&["member.joined_group", "group.created"]));
        assert!(!check(&[]));
        assert!(!check(&["*", "group.created"]));
        assert!(!check(&["group.exploded"]));
    }
}
