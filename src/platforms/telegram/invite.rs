//! Telegram invite links made for a channel: `createChatInviteLink` with a
//! name, so the `chat_member` update of a join through it carries that name
//! (its `invite_link.name`) and the join is attributed to the channel.

use std::time::Duration;

use serde_json::{json, Value};

use super::Credentials;
use crate::platforms::outbound::base;

/// Telegram's limit on an invite link's name.
pub const NAME_MAX: usize = 32;

/// Makes an invite link of `chat_id` named `name` (cut to 32 characters);
/// the link, or why not (never the token).
pub async fn create(
    http: &reqwest::Client,
    credentials: &Value,
    settings: &Value,
    chat_id: &str,
    name: &str,
) -> Result<String, String> {
    let c = Credentials::of(credentials).ok_or("the connection's credentials are unreadable")?;
    let url = format!("{}/bot{}/createChatInviteLink", base(settings, "https://api.telegram.org"), c.bot_token);
    let name: String = name.chars().take(NAME_MAX).collect();
    let answer = http
        .post(url)
        .timeout(Duration::from_secs(5))
        .json(&json!({"chat_id": chat_id, "name": name}))
        .send()
        .await
        .map_err(|e| format!("createChatInviteLink: {}", e.without_url()))?;
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.map_err(|_| format!("createChatInviteLink: HTTP {status}, not JSON"))?;
    match body["result"]["invite_link"].as_str() {
        Some(link) if body["ok"] == Value::Bool(true) && link.starts_with("https://") => Ok(link.to_owned()),
        _ => Err(format!(
            "createChatInviteLink: HTTP {status}: {}",
            body["description"].as_str().unwrap_or("no invite link in the answer")
        )),
    }
}
