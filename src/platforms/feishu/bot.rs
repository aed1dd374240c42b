//! Feishu/Lark custom bots: a group's own webhook URL, signed when the bot
//! has a secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::platforms::outbound::{plain_text, Built, Limit, Outbound, SendRequest, Sent};

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
    /// 5 a second and 100 a minute per bot (one bot per group).
    fn limits(&self) -> &'static [Limit] {
        &[Limit { per_group: true, max: 5, window_ms: 1000 }, Limit { per_group: true, max: 100, window_ms: 60000 }]
    }

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
    fn errors_inside_200s_are_classified() {
        assert!(matches!(FeishuBot.verdict(200, &json!({"code": 0}), String::new()), Sent::Accepted { .. }));
        assert!(matches!(FeishuBot.verdict(200, &json!({"code": 11232}), String::new()), Sent::Retryable { .. }));
    }
}
