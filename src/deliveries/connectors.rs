//! Outbound connectors: one [`Outbound`] implementation per channel, each
//! turning a rendered message into the platform's request and the
//! platform's answer into an [`Sent`] verdict. Base URLs come from the
//! connection's `settings.api_base_url` (tests point them at a fake
//! platform); group robots carry their own webhook URL.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::model::Channel;
use crate::contents::model::{ContentKind, Message};

/// Everything a connector needs for one send.
#[derive(Debug)]
pub struct SendRequest<'a> {
    pub delivery_id: uuid::Uuid,
    /// The platform's chat id of the group.
    pub chat_id: &'a str,
    pub group_id: uuid::Uuid,
    pub message: &'a Message,
    /// The connection's credentials (write-only; never logged).
    pub credentials: &'a Value,
    pub settings: &'a Value,
    /// The group's robot (`webhook_url`, optional `secret`).
    pub robot: Option<&'a Value>,
    /// Unix seconds when the call starts (signatures).
    pub now_unix: i64,
    /// The WeCom user id of the group's owner staff (mass sends are sent as them).
    pub sender: Option<&'a str>,
}

/// The platform's verdict on one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// Accepted, with the platform's message id when it gives one.
    Accepted { status: u16, message_id: Option<String>, response: String },
    /// Try again later (timeouts, 5xx, 429 and the platforms' rate-limit codes).
    Retryable { status: Option<u16>, retry_after: Option<Duration>, error: String, response: String },
    /// Refused for good (other 4xx, invalid chat, bad credentials).
    Rejected { status: Option<u16>, error: String, response: String },
}

/// A built request: URL, JSON body, extra headers.
pub type Built = (String, Value, Vec<(&'static str, String)>);

/// One outbound channel.
pub trait Outbound {
    /// The HTTP request: URL, JSON body and extra headers (`Err`: cannot be built, with why).
    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String>;
    /// A signature header over the exact body bytes, for channels that sign.
    fn sign(&self, _r: &SendRequest<'_>, _body: &[u8]) -> Option<(&'static str, String)> {
        None
    }
    /// Reads a 2xx answer's body (platforms report errors inside 200s).
    fn verdict(&self, status: u16, body: &Value, raw: String) -> Sent;
}

fn base(settings: &Value, default: &str) -> String {
    settings.get("api_base_url").and_then(Value::as_str).unwrap_or(default).trim_end_matches('/').to_owned()
}

fn cred<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| format!("the connection has no `{key}`"))
}

/// The message as plain text (for platforms or kinds without a richer form).
pub fn plain_text(m: &Message) -> String {
    let b = &m.body;
    let parts = [&b.title, &b.text, &b.description, &b.url, &b.page_path, &b.image_url, &b.file_name];
    let mut out: Vec<&str> = vec![];
    for p in parts.into_iter().flatten() {
        if !p.is_empty() && !out.contains(&p.as_str()) {
            out.push(p);
        }
    }
    out.join("\n")
}

/// Telegram Bot API.
pub struct Telegram;

impl Outbound for Telegram {
    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String> {
        let base = base(r.settings, "https://api.telegram.org");
        let token = cred(r.credentials, "bot_token")?;
        let b = &r.message.body;
        let (method, body) = match (r.message.kind, &b.image_url, &b.url) {
            (ContentKind::Image, Some(img), _) => (
                "sendPhoto",
                json!({"chat_id": r.chat_id, "photo": img, "caption": b.text.clone().unwrap_or_default()}),
            ),
            (ContentKind::File, _, Some(url)) => ("sendDocument", json!({"chat_id": r.chat_id, "document": url})),
            _ => ("sendMessage", json!({"chat_id": r.chat_id, "text": plain_text(r.message)})),
        };
        Ok((format!("{base}/bot{token}/{method}"), body, vec![]))
    }

    fn verdict(&self, status: u16, body: &Value, raw: String) -> Sent {
        if body["ok"] == Value::Bool(true) {
            let id = body["result"]["message_id"].as_i64().map(|i| i.to_string());
            return Sent::Accepted { status, message_id: id, response: raw };
        }
        let error = body["description"].as_str().unwrap_or("not ok").to_owned();
        match body["parameters"]["retry_after"].as_u64() {
            Some(s) => Sent::Retryable {
                status: Some(status),
                retry_after: Some(Duration::from_secs(s)),
                error,
                response: raw,
            },
            None => Sent::Rejected { status: Some(status), error, response: raw },
        }
    }
}

/// Slack Web API `chat.postMessage`.
pub struct Slack;

impl Outbound for Slack {
    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String> {
        let base = base(r.settings, "https://slack.com");
        let token = cred(r.credentials, "bot_token")?;
        let body = json!({"channel": r.chat_id, "text": plain_text(r.message), "unfurl_links": true});
        Ok((format!("{base}/api/chat.postMessage"), body, vec![("authorization", format!("Bearer {token}"))]))
    }

    fn verdict(&self, status: u16, body: &Value, raw: String) -> Sent {
        if body["ok"] == Value::Bool(true) {
            return Sent::Accepted { status, message_id: body["ts"].as_str().map(str::to_owned), response: raw };
        }
        let error = body["error"].as_str().unwrap_or("not ok").to_owned();
        if error == "ratelimited" {
            Sent::Retryable { status: Some(status), retry_after: None, error, response: raw }
        } else {
            Sent::Rejected { status: Some(status), error, response: raw }
        }
    }
}

/// WeCom group robot (`cgi-bin/webhook/send?key=`).
pub struct WecomRobot;

impl Outbound for WecomRobot {
    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String> {
        let url = r.robot.and_then(|v| v["webhook_url"].as_str()).ok_or("the group has no WeCom robot")?;
        let b = &r.message.body;
        let body = match r.message.kind {
            ContentKind::Link => json!({"msgtype": "news", "news": {"articles": [{
                "title": b.title, "description": b.description, "url": b.url, "picurl": b.image_url}]}}),
            _ => json!({"msgtype": "text", "text": {"content": plain_text(r.message)}}),
        };
        Ok((url.to_owned(), body, vec![]))
    }

    fn verdict(&self, status: u16, body: &Value, raw: String) -> Sent {
        match body["errcode"].as_i64() {
            Some(0) => Sent::Accepted { status, message_id: None, response: raw },
            // 45009: frequency limit; -1: system busy.
            Some(c @ (45009 | -1)) => Sent::Retryable {
                status: Some(status),
                retry_after: None,
                error: format!("errcode {c}"),
                response: raw,
            },
            c => Sent::Rejected { status: Some(status), error: format!("errcode {}", c.unwrap_or(-2)), response: raw },
        }
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Feishu custom bot signature: base64(HMAC-SHA256(key = "timestamp\nsecret", "")).
pub fn feishu_sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac =
        HmacSha256::new_from_slice(key.as_bytes()).map(|m| m.finalize().into_bytes().to_vec()).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// Feishu / Lark custom bot.
pub struct FeishuBot;

impl Outbound for FeishuBot {
    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String> {
        let robot = r.robot.ok_or("the group has no Feishu bot")?;
        let url = robot["webhook_url"].as_str().ok_or("the group has no Feishu bot")?;
        let mut body = json!({"msg_type": "text", "content": {"text": plain_text(r.message)}});
        if let Some(secret) = robot["secret"].as_str() {
            body["timestamp"] = json!(r.now_unix.to_string());
            body["sign"] = json!(feishu_sign(r.now_unix, secret));
        }
        Ok((url.to_owned(), body, vec![]))
    }

    fn verdict(&self, status: u16, body: &Value, raw: String) -> Sent {
        let code = body["code"].as_i64().or_else(|| body["StatusCode"].as_i64());
        match code {
            Some(0) => Sent::Accepted { status, message_id: None, response: raw },
            // 9499 / 11232: too many requests.
            Some(c @ (9499 | 11232)) => {
                Sent::Retryable { status: Some(status), retry_after: None, error: format!("code {c}"), response: raw }
            }
            c => Sent::Rejected { status: Some(status), error: format!("code {}", c.unwrap_or(-1)), response: raw },
        }
    }
}

/// Shequn's signed outbound webhook: the receiver dedupes on `Idempotency-Key`.
pub struct Generic;

impl Outbound for Generic {
    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String> {
        let url = r
            .settings
            .get("outbound_url")
            .and_then(Value::as_str)
            .ok_or("the connection has no settings.outbound_url")?;
        let body = json!({"delivery_id": r.delivery_id, "group": {"id": r.group_id, "external_id": r.chat_id},
                          "message": r.message});
        Ok((url.to_owned(), body, vec![("idempotency-key", r.delivery_id.to_string())]))
    }

    fn sign(&self, r: &SendRequest<'_>, body: &[u8]) -> Option<(&'static str, String)> {
        let secret = r.credentials.get("secret").and_then(Value::as_str)?;
        Some(("x-shequn-signature", crate::hooks::connectors::generic::sign(secret, r.now_unix, body)))
    }

    fn verdict(&self, status: u16, _body: &Value, raw: String) -> Sent {
        Sent::Accepted { status, message_id: None, response: raw }
    }
}

/// The connector of a channel.
pub fn connector(channel: Channel) -> Option<&'static (dyn Outbound + Sync)> {
    Some(match channel {
        Channel::Telegram => &Telegram,
        Channel::Slack => &Slack,
        Channel::WecomRobot => &WecomRobot,
        Channel::FeishuBot => &FeishuBot,
        Channel::Generic => &Generic,
        Channel::WecomMassSend | Channel::None => return None,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(2000).collect()
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Sends one request and classifies the answer. Credentials never reach the verdict.
pub async fn send(http: &reqwest::Client, channel: Channel, r: &SendRequest<'_>) -> Sent {
    if channel == Channel::WecomMassSend {
        return super::wecom_mass::send(http, r).await;
    }
    let Some(c) = connector(channel) else {
        return Sent::Rejected {
            status: None,
            error: format!("no connector for {channel:?}"),
            response: String::new(),
        };
    };
    let (url, body, headers) = match c.request(r) {
        Ok(x) => x,
        Err(e) => return Sent::Rejected { status: None, error: e, response: String::new() },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut req = http.post(&url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some((name, value)) = c.sign(r, &bytes) {
        req = req.header(name, value);
    }
    let res = match req.body(bytes).send().await {
        Ok(res) => res,
        // The error's text may hold the URL, which may hold a token: keep only its kind.
        Err(e) => {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            return Sent::Retryable {
                status: None,
                retry_after: None,
                error: kind.to_owned(),
                response: String::new(),
            };
        }
    };
    let status = res.status().as_u16();
    let after = retry_after(res.headers());
    let raw = truncate(&res.text().await.unwrap_or_default());
    let parsed: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    match status {
        200..=299 => c.verdict(status, &parsed, raw),
        429 => {
            Sent::Retryable { status: Some(status), retry_after: after, error: "throttled (429)".into(), response: raw }
        }
        500..=599 => {
            Sent::Retryable { status: Some(status), retry_after: after, error: format!("HTTP {status}"), response: raw }
        }
        _ => match c.verdict(status, &parsed, raw.clone()) {
            r @ Sent::Retryable { .. } => r,
            _ => Sent::Rejected { status: Some(status), error: format!("HTTP {status}"), response: raw },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feishu_signature_is_hmac_of_timestamp_and_secret() {
        // Recomputed independently: HMAC-SHA256 keyed by "1599360473\ndemo" over nothing.
        let mut mac = HmacSha256::new_from_slice(b"1599360473\ndemo").unwrap();
        mac.update(b"");
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(feishu_sign(1_599_360_473, "demo"), want);
        assert_ne!(feishu_sign(1_599_360_474, "demo"), want);
    }

    #[test]
    fn platform_errors_inside_200s_are_classified() {
        let t = Telegram.verdict(
            200,
            &json!({"ok": false, "error_code": 429, "parameters": {"retry_after": 7}}),
            String::new(),
        );
        assert!(matches!(t, Sent::Retryable { retry_after: Some(d), .. } if d.as_secs() == 7));
        let t = Telegram.verdict(200, &json!({"ok": true, "result": {"message_id": 42}}), String::new());
        assert!(matches!(t, Sent::Accepted { message_id: Some(ref m), .. } if m == "42"));
        assert!(matches!(
            Slack.verdict(200, &json!({"ok": false, "error": "ratelimited"}), String::new()),
            Sent::Retryable { .. }
        ));
        assert!(matches!(
            Slack.verdict(200, &json!({"ok": false, "error": "channel_not_found"}), String::new()),
            Sent::Rejected { .. }
        ));
        assert!(matches!(WecomRobot.verdict(200, &json!({"errcode": 45009}), String::new()), Sent::Retryable { .. }));
        assert!(matches!(WecomRobot.verdict(200, &json!({"errcode": 93000}), String::new()), Sent::Rejected { .. }));
        assert!(matches!(FeishuBot.verdict(200, &json!({"code": 0}), String::new()), Sent::Accepted { .. }));
        assert!(matches!(FeishuBot.verdict(200, &json!({"code": 11232}), String::new()), Sent::Retryable { .. }));
    }
}
