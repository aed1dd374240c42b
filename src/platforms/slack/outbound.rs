//! Slack's outbound side: Web API `chat.postMessage`.

use super::{Credentials, Slack};
use serde_json::{json, Value};

use crate::platforms::outbound::{base, plain_text, Built, Limit, Outbound, SendRequest, Sent};

impl Outbound for Slack {
    /// One message a second per channel.
    fn limits(&self) -> &'static [Limit] {
        &[Limit { per_group: true, max: 1, window_ms: 1000 }]
    }

    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String> {
        let base = base(r.settings, "https://slack.com");
        let c = Credentials::of(r.credentials).ok_or("the connection's credentials are unreadable")?;
        let token = c.bot_token.filter(|t| !t.is_empty()).ok_or("the connection has no `bot_token`")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_inside_200s_are_classified() {
        assert!(matches!(
            Slack.verdict(200, &json!({"ok": false, "error": "ratelimited"}), String::new()),
            Sent::Retryable { .. }
        ));
        assert!(matches!(
            Slack.verdict(200, &json!({"ok": false, "error": "channel_not_found"}), String::new()),
            Sent::Rejected { .. }
        ));
    }
}
