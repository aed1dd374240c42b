//! Feishu / Lark event subscriptions. With an encrypt key, bodies are
//! `{"encrypt": "..."}` (AES-256-CBC, key SHA-256 of the encrypt key) and
//! signed `X-Lark-Signature` = SHA-256(timestamp + nonce + encrypt key + body)
//! with a 5-minute window; the verification token inside must match either
//! way. `url_verification` is answered with its challenge. Events (schema
//! 2.0): `im.chat.member.user.added_v1` / `..deleted_v1` /
//! `..withdrawn_v1` → joins and leaves, `im.message.receive_v1` (group chats)
//! → `message_sent`, `im.chat.disbanded_v1` → the group dismissed. Ids
//! derive from `event_id`.

use super::{Credentials, Feishu};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::crypto::{feishu_decrypt, feishu_signature};
use crate::events::model::{EventKind, EventSource, PlatformRef, Ref};
use crate::memberships::model::JoinSource;
use crate::platform::Platform;
use crate::platforms::crypto::ct_eq;
use crate::platforms::inbound::{fresh, platform_event, Inbound, Incoming, Normalized, Refusal, Stored, Verdict};

/// The event JSON, decrypted when needed.
fn open(creds: &Credentials, body: &[u8]) -> Result<Value, Refusal> {
    let outer: Value = serde_json::from_slice(body).map_err(|_| Refusal::Unauthorized("cannot verify: not JSON"))?;
    match outer.get("encrypt").and_then(Value::as_str) {
        None => Ok(outer),
        Some(enc) => {
            let key =
                creds.encrypt_key.as_deref().ok_or(Refusal::Unauthorized("encrypted event but no encrypt key"))?;
            let plain = feishu_decrypt(key, enc).map_err(|_| Refusal::Unauthorized("cannot decrypt"))?;
            serde_json::from_slice(&plain).map_err(|_| Refusal::Unauthorized("cannot decrypt"))
        }
    }
}

fn token_of(inner: &Value) -> Option<&str> {
    inner.get("token").or_else(|| inner.get("header").and_then(|h| h.get("token"))).and_then(Value::as_str)
}

fn user(id: &Value, name: Option<&str>) -> Option<PlatformRef> {
    let open_id = id.get("open_id").and_then(Value::as_str)?;
    Some(PlatformRef {
        platform: Platform::Feishu,
        external_id: open_id.to_owned(),
        name: name.map(str::to_owned),
        is_bot: false,
    })
}

fn chat(id: Option<&str>, name: Option<&str>) -> Option<PlatformRef> {
    Some(PlatformRef {
        platform: Platform::Feishu,
        external_id: id?.to_owned(),
        name: name.map(str::to_owned),
        is_bot: false,
    })
}

impl Inbound for Feishu {
    fn verify(&self, creds: &Value, req: &Incoming<'_>) -> Result<Verdict, Refusal> {
        let creds = Credentials::of(creds).ok_or(Refusal::Unauthorized("unreadable credentials"))?;
        let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
        let inner = open(&creds, req.body)?;
        let is_challenge = inner.get("type").and_then(Value::as_str) == Some("url_verification");
        match (header("x-lark-signature"), creds.encrypt_key.as_deref()) {
            (Some(sig), Some(key)) => {
                let ts = header("x-lark-request-timestamp").ok_or(Refusal::Unauthorized("missing timestamp"))?;
                let nonce = header("x-lark-request-nonce").ok_or(Refusal::Unauthorized("missing nonce"))?;
                fresh(ts, req.now)?;
                if !ct_eq(sig.as_bytes(), feishu_signature(ts, nonce, key, req.body).as_bytes()) {
                    return Err(Refusal::Unauthorized("bad signature"));
                }
            }
            (None, Some(_)) if !is_challenge => return Err(Refusal::Unauthorized("missing signature")),
            _ => {}
        }
        let expected = creds.verification_token.as_str();
        if !token_of(&inner).is_some_and(|t| ct_eq(t.as_bytes(), expected.as_bytes())) {
            return Err(Refusal::Unauthorized("bad verification token"));
        }
        if is_challenge {
            let challenge = inner.get("challenge").and_then(Value::as_str).ok_or(Refusal::Malformed("no challenge"))?;
            return Ok(Verdict::Reply(axum::Json(json!({"challenge": challenge})).into_response()));
        }
        if inner.get("header").and_then(|h| h.get("event_id")).is_none() {
            return Err(Refusal::Malformed("not a 2.0 event"));
        }
        Ok(Verdict::Store)
    }

    fn normalize(
        &self,
        scope: &str,
        creds: &[&Value],
        req: &Stored,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Normalized, String> {
        let inner = creds
            .iter()
            .filter_map(|c| Credentials::of(c))
            .find_map(|c| open(&c, &req.body).ok())
            .ok_or("no credential set opens this event")?;
        let header = inner.get("header").ok_or("no header")?;
        let event_id = header.get("event_id").and_then(Value::as_str).ok_or("no event_id")?;
        let kind = header.get("event_type").and_then(Value::as_str).unwrap_or("");
        let ms: i64 =
            header.get("create_time").and_then(Value::as_str).and_then(|s| s.parse().ok()).ok_or("no create_time")?;
        let at = chrono::DateTime::from_timestamp_millis(ms).ok_or("bad create_time")?;
        let ev = inner.get("event").cloned().unwrap_or_default();
        let scope = format!("feishu:{scope}");
        let group = chat(ev.get("chat_id").and_then(Value::as_str), ev.get("name").and_then(Value::as_str));
        let mut out = Normalized::default();
        match kind {
            "im.chat.member.user.added_v1" | "im.chat.member.user.deleted_v1" | "im.chat.member.user.withdrawn_v1" => {
                let joined = kind.ends_with("added_v1");
                let operator = ev.get("operator_id").and_then(|o| user(o, None));
                for (n, u) in ev.get("users").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    let Some(m) = u.get("user_id").and_then(|id| user(id, u.get("name").and_then(Value::as_str)))
                    else {
                        continue;
                    };
                    let inviter = operator.clone().filter(|o| o.external_id != m.external_id);
                    let event_kind =
                        if joined { EventKind::MemberJoined.as_str() } else { EventKind::MemberLeft.as_str() };
                    let mut e = platform_event(
                        EventSource::Feishu,
                        &scope,
                        &format!("{event_id}:{n}"),
                        event_kind,
                        at,
                        Some(m),
                        group.clone(),
                        json!({}),
                    );
                    if joined {
                        e.join_source =
                            Some(if inviter.is_some() { JoinSource::DirectInvite } else { JoinSource::Unknown });
                        e.inviter = inviter.map(Ref::External);
                    } else {
                        e.leave_reason = Some(if kind.ends_with("deleted_v1") { "removed" } else { "left" }.into());
                    }
                    out.events.push(e);
                }
            }
            "im.message.receive_v1" => {
                let msg = ev.get("message").cloned().unwrap_or_default();
                let group = chat(msg.get("chat_id").and_then(Value::as_str), None);
                let sender = ev.get("sender").and_then(|s| s.get("sender_id")).and_then(|id| user(id, None));
                if msg.get("chat_type").and_then(Value::as_str) == Some("group") {
                    let props = json!({"message_id": msg.get("message_id"), "content_type": msg.get("message_type")});
                    let mut e = platform_event(
                        EventSource::Feishu,
                        &scope,
                        event_id,
                        EventKind::MessageSent.as_str(),
                        at,
                        sender,
                        group,
                        props,
                    );
                    // A text message's `content` is JSON text: `{"text": "..."}`.
                    e.text = msg
                        .get("content")
                        .and_then(Value::as_str)
                        .and_then(|c| serde_json::from_str::<Value>(c).ok())
                        .and_then(|c| {
                            c.get("text").and_then(Value::as_str).and_then(crate::platforms::inbound::command_text)
                        });
                    out.events.push(e);
                }
            }
            "im.chat.disbanded_v1" => out.dismissed.extend(group),
            _ => {}
        }
        Ok(out)
    }

    fn ack(&self, _outcome: &Value) -> Response {
        StatusCode::OK.into_response()
    }
}
