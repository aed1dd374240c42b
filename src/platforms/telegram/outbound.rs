//! Telegram's outbound side: the Bot API `sendMessage` / `sendPhoto` /
//! `sendDocument`.

use super::{Credentials, Telegram};
use std::time::Duration;

use serde_json::{json, Value};

use crate::contents::model::ContentKind;
use crate::platforms::outbound::{base, plain_text, Built, Limit, Outbound, SendRequest, Sent};

impl Outbound for Telegram {
    /// 30 messages a second per bot, 20 a minute per group.
    fn limits(&self) -> &'static [Limit] {
        &[Limit { per_group: false, max: 30, window_ms: 1000 }, Limit { per_group: true, max: 20, window_ms: 60000 }]
    }

    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String> {
        let base = base(r.settings, "https://api.telegram.org");
        let c = Credentials::of(r.credentials).ok_or("the connection's credentials are unreadable")?;
        let token = c.bot_token;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_inside_200s_are_classified() {
        let t = Telegram.verdict(
            200,
            &json!({"ok": false, "error_code": 429, "parameters": {"retry_after": 7}}),
            String::new(),
        );
        assert!(matches!(t, Sent::Retryable { retry_after: Some(d), .. } if d.as_secs() == 7));
        let t = Telegram.verdict(200, &json!({"ok": true, "result": {"message_id": 42}}), String::new());
        assert!(matches!(t, Sent::Accepted { message_id: Some(ref m), .. } if m == "42"));
    }
}
