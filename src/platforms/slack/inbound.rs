//! Slack Events API: `v0` HMAC-SHA256 over `v0:{timestamp}:{body}` with a
//! 5-minute window; `url_verification` answered with its challenge;
//! `member_joined_channel` / `member_left_channel` / `message` become events.
//! Ids derive from `event_id`, so Slack's retries are duplicates.

use super::{Credentials, Slack};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::events::model::{EventKind, EventSource, PlatformRef, Ref};
use crate::memberships::model::JoinSource;
use crate::platform::Platform;
use crate::platforms::crypto::{ct_eq, hmac_sha256_hex};
use crate::platforms::inbound::{fresh, platform_event, unix, Inbound, Incoming, Normalized, Refusal, Stored, Verdict};

/// Message subtypes that are not members talking.
const SKIPPED_SUBTYPES: [&str; 6] =
    ["channel_join", "channel_leave", "message_changed", "message_deleted", "bot_message", "channel_topic"];

fn slack_ref(id: Option<&str>) -> Option<PlatformRef> {
    id.filter(|s| !s.is_empty()).map(|id| PlatformRef {
        platform: Platform::Slack,
        external_id: id.to_owned(),
        name: None,
        is_bot: false,
    })
}

impl Inbound for Slack {
    fn verify(&self, creds: &Value, req: &Incoming<'_>) -> Result<Verdict, Refusal> {
        let c = Credentials::of(creds).ok_or(Refusal::Unauthorized("unreadable credentials"))?;
        let secret = c.signing_secret.as_str();
        let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
        let ts = header("x-slack-request-timestamp").ok_or(Refusal::Unauthorized("missing timestamp"))?;
        let sig = header("x-slack-signature").ok_or(Refusal::Unauthorized("missing signature"))?;
        fresh(ts, req.now)?;
        let mut msg = format!("v0:{ts}:").into_bytes();
        msg.extend_from_slice(req.body);
        let expected = format!("v0={}", hmac_sha256_hex(secret.as_bytes(), &msg));
        if !ct_eq(sig.as_bytes(), expected.as_bytes()) {
            return Err(Refusal::Unauthorized("bad signature"));
        }
        let body: Value = serde_json::from_slice(req.body).map_err(|_| Refusal::Malformed("not JSON"))?;
        match body.get("type").and_then(Value::as_str) {
            Some("url_verification") => {
                let challenge =
                    body.get("challenge").and_then(Value::as_str).ok_or(Refusal::Malformed("no challenge"))?;
                Ok(Verdict::Reply(axum::Json(json!({"challenge": challenge})).into_response()))
            }
            Some("event_callback") => Ok(Verdict::Store),
            _ => Err(Refusal::Malformed("not an Events API request")),
        }
    }

    fn normalize(
        &self,
        scope: &str,
        _creds: &[&Value],
        req: &Stored,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Normalized, String> {
        let body: Value = serde_json::from_slice(&req.body).map_err(|e| format!("not JSON: {e}"))?;
        let event_id = body.get("event_id").and_then(Value::as_str).ok_or("no event_id")?;
        let event = body.get("event").ok_or("no event")?;
        let at = body.get("event_time").and_then(Value::as_i64).and_then(unix).ok_or("no event_time")?;
        let str_of = |k: &str| event.get(k).and_then(Value::as_str);
        let group = slack_ref(str_of("channel"));
        let member = slack_ref(str_of("user"));
        let scope = format!("slack:{scope}");
        let mut out = Normalized::default();
        let (Some(group), Some(member)) = (group, member) else { return Ok(out) };
        match str_of("type") {
            Some("member_joined_channel") => {
                let mut e = platform_event(
                    EventSource::Slack,
                    &scope,
                    event_id,
                    EventKind::MemberJoined.as_str(),
                    at,
                    Some(member),
                    Some(group),
                    json!({}),
                );
                e.inviter = slack_ref(str_of("inviter")).map(Ref::External);
                e.join_source = Some(if e.inviter.is_some() { JoinSource::DirectInvite } else { JoinSource::Unknown });
                out.events.push(e);
            }
            Some("member_left_channel") => {
                let mut e = platform_event(
                    EventSource::Slack,
                    &scope,
                    event_id,
                    EventKind::MemberLeft.as_str(),
                    at,
                    Some(member),
                    Some(group),
                    json!({}),
                );
                e.leave_reason = Some("left".into());
                out.events.push(e);
            }
            Some("message") if !str_of("subtype").is_some_and(|s| SKIPPED_SUBTYPES.contains(&s)) => {
                let props = json!({"ts": str_of("ts"), "channel_type": str_of("channel_type")});
                let mut e = platform_event(
                    EventSource::Slack,
                    &scope,
                    event_id,
                    EventKind::MessageSent.as_str(),
                    at,
                    Some(member),
                    Some(group),
                    props,
                );
                e.text = str_of("text").and_then(crate::platforms::inbound::command_text);
                out.events.push(e);
            }
            _ => {}
        }
        Ok(out)
    }

    fn ack(&self, _outcome: &Value) -> Response {
        StatusCode::OK.into_response()
    }
}
