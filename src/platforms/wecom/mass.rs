//! WeCom customer-group mass send (`externalcontact/add_msg_template`).
//! WeCom only executes the task after the group owner confirms it in their
//! client, so an accepted call leaves the delivery `awaiting_confirmation`;
//! at each reminder time the task is looked up (`get_groupmsg_task`): sent
//! means `confirmed`, else the owner is reminded (`remind_groupmsg_send`). Access tokens
//! (`gettoken` with the corp id and the contact secret) are cached per
//! corp until shortly before they expire.

use std::time::Duration;

use serde_json::{json, Value};

use super::Credentials;
use crate::contents::model::ContentKind;
use crate::platforms::outbound::{plain_text, Calls, SendRequest, Sent};

fn base(settings: &Value) -> String {
    crate::platforms::outbound::base(settings, "https://qyapi.weixin.qq.com")
}

async fn token(calls: Calls<'_>, creds: &Value, settings: &Value) -> Result<String, Sent> {
    let refuse = |e: &str| Sent::Rejected { status: None, error: e.to_owned(), response: String::new() };
    let creds = Credentials::of(creds).ok_or_else(|| refuse("the connection's credentials are unreadable"))?;
    let corp = creds.corp_id.as_str();
    let secret = creds.secret.as_deref().ok_or_else(|| refuse("the connection has no secret for mass sends"))?;
    let base = base(settings);
    if let Some(t) = calls.tokens.get(&base, corp) {
        return Ok(t);
    }
    let res = calls
        .http
        .get(format!("{base}/cgi-bin/gettoken"))
        .query(&[("corpid", corp), ("corpsecret", secret)])
        .send()
        .await
        .map_err(|_| Sent::Retryable {
            status: None,
            retry_after: None,
            error: "gettoken failed".into(),
            response: String::new(),
        })?;
    let body: Value = res.json().await.unwrap_or(Value::Null);
    match (body["errcode"].as_i64(), body["access_token"].as_str()) {
        (Some(0) | None, Some(t)) => {
            let ttl = body["expires_in"].as_u64().unwrap_or(7200).saturating_sub(300);
            calls.tokens.put(&base, corp, t, Duration::from_secs(ttl));
            Ok(t.to_owned())
        }
        (code, _) => Err(Sent::Rejected {
            status: None,
            error: format!("gettoken errcode {}", code.unwrap_or(-2)),
            response: String::new(),
        }),
    }
}

/// The task body: text plus an attachment for link, image and mini-program contents.
fn task(r: &SendRequest<'_>, sender: &str) -> Value {
    let b = &r.message.body;
    let attachment = match r.message.kind {
        ContentKind::Link => Some(
            json!({"msgtype": "link", "link": {"title": b.title, "picurl": b.image_url, "desc": b.description, "url": b.url}}),
        ),
        ContentKind::Image => Some(json!({"msgtype": "image", "image": {"pic_url": b.image_url}})),
        ContentKind::MiniProgram => Some(
            json!({"msgtype": "miniprogram", "miniprogram": {"title": b.title, "appid": b.app_id, "page": b.page_path}}),
        ),
        _ => None,
    };
    let text = match r.message.kind {
        ContentKind::Text | ContentKind::File => plain_text(r.message),
        _ => b.text.clone().unwrap_or_default(),
    };
    let mut body =
        json!({"chat_type": "group", "sender": sender, "chat_id_list": [r.chat_id], "text": {"content": text}});
    if let Some(a) = attachment {
        body["attachments"] = json!([a]);
    }
    body
}

/// Creates the mass-send task; `Accepted` here means "awaiting the owner's confirmation".
pub async fn send(calls: Calls<'_>, r: &SendRequest<'_>) -> Sent {
    let Some(sender) = r.sender else {
        let error = "the group's owner staff has no WeCom identity to send as".to_owned();
        return Sent::Rejected { status: None, error, response: String::new() };
    };
    let token = match token(calls, r.credentials, r.settings).await {
        Ok(t) => t,
        Err(s) => return s,
    };
    let url = format!("{}/cgi-bin/externalcontact/add_msg_template", base(r.settings));
    let res = match calls.http.post(url).query(&[("access_token", token.as_str())]).json(&task(r, sender)).send().await
    {
        Ok(res) => res,
        Err(_) => {
            return Sent::Retryable {
                status: None,
                retry_after: None,
                error: "request failed".into(),
                response: String::new(),
            }
        }
    };
    let status = res.status().as_u16();
    let raw: String = res.text().await.unwrap_or_default().chars().take(2000).collect();
    let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    match body["errcode"].as_i64() {
        Some(0) => Sent::Accepted { status, message_id: body["msgid"].as_str().map(str::to_owned), response: raw },
        Some(c @ (-1 | 45009 | 42001)) => {
            Sent::Retryable { status: Some(status), retry_after: None, error: format!("errcode {c}"), response: raw }
        }
        _ if status >= 500 || status == 429 => {
            Sent::Retryable { status: Some(status), retry_after: None, error: format!("HTTP {status}"), response: raw }
        }
        c => Sent::Rejected { status: Some(status), error: format!("errcode {}", c.unwrap_or(-2)), response: raw },
    }
}

/// Reminds the owner to confirm a task (`remind_groupmsg_send`); `true` when WeCom accepted.
pub async fn remind(calls: Calls<'_>, creds: &Value, settings: &Value, msgid: &str) -> bool {
    let Ok(token) = token(calls, creds, settings).await else { return false };
    let http = calls.http;
    let url = format!("{}/cgi-bin/externalcontact/remind_groupmsg_send", base(settings));
    match http.post(url).query(&[("access_token", token.as_str())]).json(&json!({"msgid": msgid})).send().await {
        Ok(res) => res.json::<Value>().await.ok().and_then(|b| b["errcode"].as_i64()) == Some(0),
        Err(_) => false,
    }
}

/// Whether the owner has sent the task (`get_groupmsg_task`: a task with
/// status 1 means sent); `None` when WeCom could not be asked.
pub async fn confirmed(calls: Calls<'_>, creds: &Value, settings: &Value, msgid: &str) -> Option<bool> {
    let token = token(calls, creds, settings).await.ok()?;
    let http = calls.http;
    let url = format!("{}/cgi-bin/externalcontact/get_groupmsg_task", base(settings));
    let res = http
        .post(url)
        .query(&[("access_token", token.as_str())])
        .json(&json!({"msgid": msgid, "limit": 1000}))
        .send()
        .await
        .ok()?;
    let body: Value = res.json().await.ok()?;
    if body["errcode"].as_i64() != Some(0) {
        return None;
    }
    Some(body["task_list"].as_array()?.iter().any(|t| t["status"].as_i64() == Some(1)))
}
