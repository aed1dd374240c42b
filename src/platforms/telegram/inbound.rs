//! Telegram Bot API webhooks: the `X-Telegram-Bot-Api-Secret-Token` header
//! must equal the connection's secret token. `Update`s of group chats become
//! events: text and media messages → `message_sent`; `new_chat_members` and
//! `chat_member` joins → `member_joined` (an `invite_link` is recorded as the
//! join source, an adding member as the inviter); `left_chat_member` and
//! `chat_member` leaves → `member_left`; `my_chat_member` (the bot added to a
//! group) registers the group. Event ids derive from `update_id`, so
//! redeliveries are duplicates.

use super::{Credentials, Telegram};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::events::model::{EventKind, EventSource, PlatformRef, Ref};
use crate::memberships::model::JoinSource;
use crate::platform::Platform;
use crate::platforms::crypto::ct_eq;
use crate::platforms::inbound::{
    command_text, platform_event, unix, Inbound, Incoming, Normalized, Refusal, Stored, Verdict,
};

fn user_ref(u: &Value) -> Option<PlatformRef> {
    let id = u.get("id")?.as_i64()?;
    let first = u.get("first_name").and_then(Value::as_str).unwrap_or("");
    let last = u.get("last_name").and_then(Value::as_str).unwrap_or("");
    let name = format!("{first} {last}").trim().to_owned();
    Some(PlatformRef {
        platform: Platform::Telegram,
        external_id: id.to_string(),
        name: (!name.is_empty()).then_some(name),
        is_bot: u.get("is_bot").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn group_chat(chat: &Value) -> Option<PlatformRef> {
    let kind = chat.get("type")?.as_str()?;
    if kind != "group" && kind != "supergroup" {
        return None;
    }
    Some(PlatformRef {
        platform: Platform::Telegram,
        external_id: chat.get("id")?.as_i64()?.to_string(),
        name: chat.get("title").and_then(Value::as_str).map(str::to_owned),
        is_bot: false,
    })
}

fn is_in(status: &Value) -> bool {
    match status.get("status").and_then(Value::as_str) {
        Some("member" | "administrator" | "creator") => true,
        Some("restricted") => status.get("is_member").and_then(Value::as_bool).unwrap_or(false),
        _ => false,
    }
}

struct Ctx<'a> {
    scope: String,
    update_id: i64,
    out: &'a mut Normalized,
}

impl Ctx<'_> {
    fn push(
        &mut self,
        n: usize,
        kind: &str,
        at: chrono::DateTime<chrono::Utc>,
        member: PlatformRef,
        group: PlatformRef,
    ) -> usize {
        let e = platform_event(
            EventSource::Telegram,
            &self.scope,
            &format!("{}:{n}", self.update_id),
            kind,
            at,
            Some(member),
            Some(group),
            json!({}),
        );
        self.out.events.push(e);
        self.out.events.len() - 1
    }
}

fn message(ctx: &mut Ctx<'_>, m: &Value) {
    let (Some(group), Some(at)) =
        (m.get("chat").and_then(group_chat), m.get("date").and_then(Value::as_i64).and_then(unix))
    else {
        return;
    };
    let from = m.get("from").and_then(user_ref);
    if let Some(joined) = m.get("new_chat_members").and_then(Value::as_array) {
        for (n, u) in joined.iter().enumerate() {
            let Some(member) = user_ref(u) else { continue };
            let inviter = from.clone().filter(|f| f.external_id != member.external_id);
            let i = ctx.push(n, EventKind::MemberJoined.as_str(), at, member, group.clone());
            let e = &mut ctx.out.events[i];
            e.join_source = Some(if inviter.is_some() { JoinSource::DirectInvite } else { JoinSource::Unknown });
            e.inviter = inviter.map(Ref::External);
        }
    } else if let Some(left) = m.get("left_chat_member").and_then(user_ref) {
        let removed = from.as_ref().is_some_and(|f| f.external_id != left.external_id);
        let i = ctx.push(0, EventKind::MemberLeft.as_str(), at, left, group);
        ctx.out.events[i].leave_reason = Some(if removed { "removed" } else { "left" }.to_owned());
    } else if let Some(from) = from {
        let content = ["text", "caption", "photo", "video", "sticker", "document", "voice", "animation", "poll"];
        if content.iter().any(|k| m.get(*k).is_some()) {
            let i = ctx.push(0, EventKind::MessageSent.as_str(), at, from, group);
            let kind = content.iter().find(|k| m.get(**k).is_some()).copied().unwrap_or("text");
            ctx.out.events[i].properties = json!({"message_id": m.get("message_id"), "content_type": kind});
            ctx.out.events[i].text = m.get("text").and_then(Value::as_str).and_then(command_text);
        }
    }
}

fn chat_member(ctx: &mut Ctx<'_>, u: &Value) {
    let (Some(group), Some(at)) =
        (u.get("chat").and_then(group_chat), u.get("date").and_then(Value::as_i64).and_then(unix))
    else {
        return;
    };
    let (Some(old), Some(new)) = (u.get("old_chat_member"), u.get("new_chat_member")) else { return };
    let Some(member) = new.get("user").and_then(user_ref) else { return };
    let from = u.get("from").and_then(user_ref).filter(|f| f.external_id != member.external_id);
    match (is_in(old), is_in(new)) {
        (false, true) => {
            let link = u.get("invite_link");
            let i = ctx.push(0, EventKind::MemberJoined.as_str(), at, member, group);
            let e = &mut ctx.out.events[i];
            if let Some(link) = link {
                e.join_source = Some(JoinSource::InviteLink);
                let code = link.get("name").or_else(|| link.get("invite_link")).and_then(Value::as_str);
                e.invite_code = code.map(|c| c.chars().take(200).collect());
                e.inviter = link.get("creator").and_then(user_ref).map(Ref::External);
            } else if let Some(f) = from {
                e.join_source = Some(JoinSource::DirectInvite);
                e.inviter = Some(Ref::External(f));
            }
        }
        (true, false) => {
            let kicked = new.get("status").and_then(Value::as_str) == Some("kicked");
            let i = ctx.push(0, EventKind::MemberLeft.as_str(), at, member, group);
            ctx.out.events[i].leave_reason = Some(if kicked { "removed" } else { "left" }.to_owned());
        }
        _ => {}
    }
}

impl Inbound for Telegram {
    fn verify(&self, creds: &Value, req: &Incoming<'_>) -> Result<Verdict, Refusal> {
        let c = Credentials::of(creds).ok_or(Refusal::Unauthorized("unreadable credentials"))?;
        let expected = c.secret_token.as_str();
        let got = req
            .headers
            .get("x-telegram-bot-api-secret-token")
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::Unauthorized("missing secret token"))?;
        if !ct_eq(got.as_bytes(), expected.as_bytes()) {
            return Err(Refusal::Unauthorized("bad secret token"));
        }
        match serde_json::from_slice::<Value>(req.body) {
            Ok(v) if v.get("update_id").and_then(Value::as_i64).is_some() => Ok(Verdict::Store),
            _ => Err(Refusal::Malformed("not a Telegram Update")),
        }
    }

    fn normalize(
        &self,
        scope: &str,
        _creds: &[&Value],
        req: &Stored,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Normalized, String> {
        let update: Value = serde_json::from_slice(&req.body).map_err(|e| format!("not JSON: {e}"))?;
        let update_id = update.get("update_id").and_then(Value::as_i64).ok_or("no update_id")?;
        let mut out = Normalized::default();
        let mut ctx = Ctx { scope: format!("telegram:{scope}"), update_id, out: &mut out };
        if let Some(m) = update.get("message") {
            message(&mut ctx, m);
        }
        if let Some(u) = update.get("chat_member") {
            chat_member(&mut ctx, u);
        }
        if let Some(u) = update.get("my_chat_member") {
            if let (Some(group), Some(new)) = (u.get("chat").and_then(group_chat), u.get("new_chat_member")) {
                if is_in(new) {
                    ctx.out.groups.push(group);
                }
            }
        }
        Ok(out)
    }

    fn ack(&self, _outcome: &Value) -> Response {
        StatusCode::OK.into_response()
    }
}
