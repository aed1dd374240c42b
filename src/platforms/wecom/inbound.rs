//! WeCom (企业微信) callbacks. `GET` verifies the URL: check `msg_signature`
//! over (token, timestamp, nonce, echostr), decrypt `echostr`, check the
//! receive id is the corp id, echo the plaintext. `POST` carries an XML
//! envelope whose `Encrypt` is signed the same way and decrypts (AES-256-CBC,
//! key from the 43-character EncodingAESKey) to the event XML. XML with a DTD
//! (and so entities) is refused. The reply is `success`.
//!
//! Events: `change_external_chat` — `create` registers the group; `update`
//! with `add_member` / `del_member` becomes `member_joined` / `member_left`
//! for each `MemChangeList` item (`JoinScene` 0 direct invite, 1 invite
//! link, 3 QR code; `QuitScene` 1 removed), `change_owner` / `change_name` /
//! `change_notice` become `custom.group_updated`; `dismiss` marks the group
//! dismissed. `change_external_contact` add/delete become
//! `custom.contact_added` / `custom.contact_deleted` (creating the customer
//! as a member). An intelligent robot (智能机器人) @mentioned in a group
//! posts a JSON envelope (`{"encrypt": …}`, signed and encrypted the same
//! way, with an empty receive id) whose message becomes `message_sent`
//! (its text read as a possible command, such as a check-in keyword).
//! Ids derive from the payload, so WeCom's retries are duplicates.

use super::{Credentials, Wecom};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::crypto::{wecom_decrypt, wecom_signature};
use crate::events::model::{EventKind, EventSource, NewEvent, PlatformRef};
use crate::memberships::model::JoinSource;
use crate::platform::Platform;
use crate::platforms::crypto::ct_eq;
use crate::platforms::inbound::{platform_event, unix, Inbound, Incoming, Normalized, Refusal, Stored, Verdict};

fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// Parses XML refusing DTDs (and so entity expansion).
fn parse_xml(text: &str) -> Result<roxmltree::Document<'_>, String> {
    let opts = roxmltree::ParsingOptions { allow_dtd: false, ..Default::default() };
    roxmltree::Document::parse_with_options(text, opts).map_err(|e| format!("bad XML: {e}"))
}

fn child_text(doc: &roxmltree::Document<'_>, name: &str) -> Option<String> {
    doc.root_element().children().find(|n| n.has_tag_name(name)).and_then(|n| n.text()).map(|t| t.trim().to_owned())
}

/// Verifies a signed Encrypt value and decrypts it, checking the corp id
/// (an intelligent robot's callbacks carry an empty receive id: allowed
/// with `robot`).
fn open(creds: &serde_json::Value, query: &str, encrypt: &str, robot: bool) -> Result<Vec<u8>, Refusal> {
    let c = Credentials::of(creds).ok_or(Refusal::Unauthorized("unreadable credentials"))?;
    let (token, key, corp) = (c.token.as_str(), c.encoding_aes_key.as_str(), c.corp_id.as_str());
    let sig = query_param(query, "msg_signature").ok_or(Refusal::Unauthorized("missing msg_signature"))?;
    let ts = query_param(query, "timestamp").ok_or(Refusal::Unauthorized("missing timestamp"))?;
    let nonce = query_param(query, "nonce").ok_or(Refusal::Unauthorized("missing nonce"))?;
    let expected = wecom_signature(token, &ts, &nonce, encrypt);
    if !ct_eq(sig.as_bytes(), expected.as_bytes()) {
        return Err(Refusal::Unauthorized("bad signature"));
    }
    let (msg, receive_id) = wecom_decrypt(key, encrypt).map_err(|_| Refusal::Unauthorized("cannot decrypt"))?;
    let robot_id = robot && receive_id.is_empty();
    if !(robot_id || ct_eq(receive_id.as_bytes(), corp.as_bytes())) {
        return Err(Refusal::Unauthorized("wrong corp id"));
    }
    Ok(msg)
}

/// The envelope's encrypted part, and whether it is an intelligent robot's
/// JSON envelope (`{"encrypt": …}`) rather than the app callbacks' XML.
fn envelope_encrypt(body: &[u8]) -> Result<(String, bool), Refusal> {
    let text = std::str::from_utf8(body).map_err(|_| Refusal::Unauthorized("cannot verify: body is not UTF-8"))?;
    if text.trim_start().starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| Refusal::Unauthorized("cannot verify: bad JSON envelope"))?;
        let enc =
            v.get("encrypt").and_then(|e| e.as_str()).ok_or(Refusal::Unauthorized("cannot verify: no encrypt"))?;
        return Ok((enc.to_owned(), true));
    }
    let doc = parse_xml(text).map_err(|_| Refusal::Unauthorized("cannot verify: bad XML envelope"))?;
    Ok((child_text(&doc, "Encrypt").ok_or(Refusal::Unauthorized("cannot verify: no Encrypt element"))?, false))
}

/// A message to an intelligent robot in a group (decrypted JSON:
/// `msgid`, `chatid`, `chattype`, `from.userid`, `msgtype`, `text.content`)
/// becomes `message_sent`, its text (after the leading @mention) a
/// possible command. The message carries no time: the callback's signed
/// `timestamp` is used.
fn robot_message(v: &serde_json::Value, scope: &str, query: &str) -> Option<NewEvent> {
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str());
    if s("/chattype") != Some("group") {
        return None;
    }
    let (msgid, chat, user) = (s("/msgid")?, s("/chatid")?, s("/from/userid")?);
    let at = query_param(query, "timestamp").and_then(|t| t.parse().ok()).and_then(unix)?;
    let group = PlatformRef { platform: Platform::Wecom, external_id: chat.to_owned(), name: None, is_bot: false };
    let props = json!({"message_id": msgid, "content_type": s("/msgtype")});
    let mut e = platform_event(
        EventSource::Wecom,
        scope,
        &format!("robot:{msgid}"),
        EventKind::MessageSent.as_str(),
        at,
        Some(member(user)),
        Some(group),
        props,
    );
    if s("/msgtype") == Some("text") {
        let content = s("/text/content").unwrap_or_default();
        let words: Vec<&str> = content.split_whitespace().skip_while(|w| w.starts_with('@')).collect();
        e.text = crate::platforms::inbound::command_text(&words.join(" "));
    }
    Some(e)
}

fn member(id: &str) -> PlatformRef {
    PlatformRef { platform: Platform::Wecom, external_id: id.to_owned(), name: None, is_bot: false }
}

fn chat_events(doc: &roxmltree::Document<'_>, scope: &str, out: &mut Normalized) -> Result<(), String> {
    let text = |n: &str| child_text(doc, n);
    let chat = text("ChatId").ok_or("no ChatId")?;
    let at = text("CreateTime").and_then(|t| t.parse().ok()).and_then(unix).ok_or("no CreateTime")?;
    let group = PlatformRef { platform: Platform::Wecom, external_id: chat.clone(), name: None, is_bot: false };
    let change = text("ChangeType").unwrap_or_default();
    let detail = text("UpdateDetail").unwrap_or_default();
    let base = format!("{chat}:{}:{change}:{detail}", at.timestamp());
    match (change.as_str(), detail.as_str()) {
        ("create", _) => out.groups.push(group),
        ("dismiss", _) => out.dismissed.push(group),
        ("update", "add_member" | "del_member") => {
            let items: Vec<String> = doc
                .descendants()
                .filter(|n| n.has_tag_name("Item") && n.parent().is_some_and(|p| p.has_tag_name("MemChangeList")))
                .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
                .collect();
            let joined = detail == "add_member";
            for id in items {
                let kind = if joined { EventKind::MemberJoined.as_str() } else { EventKind::MemberLeft.as_str() };
                let mut e = platform_event(
                    EventSource::Wecom,
                    scope,
                    &format!("{base}:{id}"),
                    kind,
                    at,
                    Some(member(&id)),
                    Some(group.clone()),
                    json!({}),
                );
                if joined {
                    e.join_source = Some(match text("JoinScene").as_deref() {
                        Some("0") => JoinSource::DirectInvite,
                        Some("1") => JoinSource::InviteLink,
                        Some("3") => JoinSource::QrCode,
                        _ => JoinSource::Unknown,
                    });
                    // The `state` of the join way (加入群聊) the member came
                    // through: a channel's code when the channel made it.
                    e.invite_code = text("State").filter(|s| !s.is_empty()).map(|s| s.chars().take(200).collect());
                } else {
                    e.leave_reason =
                        Some(if text("QuitScene").as_deref() == Some("1") { "removed" } else { "left" }.to_owned());
                }
                out.events.push(e);
            }
        }
        ("update", _) => {
            out.events.push(platform_event(
                EventSource::Wecom,
                scope,
                &base,
                "custom.group_updated",
                at,
                None,
                Some(group),
                json!({"update_detail": detail}),
            ));
        }
        _ => {}
    }
    Ok(())
}

fn contact_event(doc: &roxmltree::Document<'_>, scope: &str) -> Option<NewEvent> {
    let text = |n: &str| child_text(doc, n);
    let kind = match text("ChangeType")?.as_str() {
        "add_external_contact" | "add_half_external_contact" => "custom.contact_added",
        "del_external_contact" | "del_follow_user" => "custom.contact_deleted",
        _ => return None,
    };
    let customer = text("ExternalUserID")?;
    let at = text("CreateTime").and_then(|t| t.parse().ok()).and_then(unix)?;
    let staff = text("UserID");
    let props = json!({"staff_user_id": staff, "state": text("State")});
    let id = format!("contact:{customer}:{}:{kind}:{}", at.timestamp(), staff.unwrap_or_default());
    Some(platform_event(EventSource::Wecom, scope, &id, kind, at, Some(member(&customer)), None, props))
}

impl Inbound for Wecom {
    fn verify(&self, creds: &serde_json::Value, req: &Incoming<'_>) -> Result<Verdict, Refusal> {
        if req.method == Method::GET {
            let echo =
                query_param(req.query, "echostr").ok_or(Refusal::Unauthorized("cannot verify: missing echostr"))?;
            let plain = open(creds, req.query, &echo, false)?;
            let resp = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], plain).into_response();
            return Ok(Verdict::Reply(resp));
        }
        let (encrypt, robot) = envelope_encrypt(req.body)?;
        open(creds, req.query, &encrypt, robot)?;
        Ok(Verdict::Store)
    }

    fn normalize(
        &self,
        scope: &str,
        creds: &[&serde_json::Value],
        req: &Stored,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Normalized, String> {
        let (encrypt, robot) = envelope_encrypt(&req.body).map_err(|r| format!("{r:?}"))?;
        let plain = creds
            .iter()
            .find_map(|c| open(c, &req.query, &encrypt, robot).ok())
            .ok_or("no credential set opens this request")?;
        let text = String::from_utf8(plain).map_err(|_| "event is not UTF-8")?;
        let scope = format!("wecom:{scope}");
        let mut out = Normalized::default();
        if robot {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| "robot message is not JSON")?;
            out.events.extend(robot_message(&v, &scope, &req.query));
            return Ok(out);
        }
        let doc = parse_xml(&text)?;
        match child_text(&doc, "Event").as_deref() {
            Some("change_external_chat") => chat_events(&doc, &scope, &mut out)?,
            Some("change_external_contact") => out.events.extend(contact_event(&doc, &scope)),
            _ => {}
        }
        Ok(out)
    }

    fn ack(&self, _outcome: &serde_json::Value) -> Response {
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "success").into_response()
    }
}
