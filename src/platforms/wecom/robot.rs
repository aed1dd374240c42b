//! WeCom group robots: a group's own webhook URL, no connection needed.

use serde_json::{json, Value};

use crate::contents::model::ContentKind;
use crate::platforms::outbound::{plain_text, Built, Limit, Outbound, SendRequest, Sent};

/// WeCom group robot (`cgi-bin/webhook/send?key=`).
pub struct WecomRobot;

impl Outbound for WecomRobot {
    /// 20 messages a minute per robot (one robot per group).
    fn limits(&self) -> &'static [Limit] {
        &[Limit { per_group: true, max: 20, window_ms: 60000 }]
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_inside_200s_are_classified() {
        assert!(matches!(WecomRobot.verdict(200, &json!({"errcode": 45009}), String::new()), Sent::Retryable { .. }));
        assert!(matches!(WecomRobot.verdict(200, &json!({"errcode": 93000}), String::new()), Sent::Rejected { .. }));
    }
}
