//! What every platform's outbound side shares: the [`Outbound`] trait (a
//! rendered message into the platform's request, the platform's answer into
//! a [`Sent`] verdict) and [`execute`], which makes the call and classifies
//! transport errors, 429s and 5xx the same way for all. Base URLs come from
//! the connection's `settings.api_base_url` (tests point them at a fake
//! platform); group robots carry their own webhook URL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::contents::model::Message;

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

/// A published send limit: at most `max` sends per `window_ms`, counted per
/// group or over the whole connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub per_group: bool,
    pub max: usize,
    pub window_ms: i64,
}

/// One outbound channel.
pub trait Outbound: Send + Sync {
    /// The platform's published send limits for this channel.
    fn limits(&self) -> &'static [Limit] {
        &[]
    }
    /// The HTTP request: URL, JSON body and extra headers (`Err`: cannot be built, with why).
    fn request(&self, r: &SendRequest<'_>) -> Result<Built, String>;
    /// A signature header over the exact body bytes, for channels that sign.
    fn sign(&self, _r: &SendRequest<'_>, _body: &[u8]) -> Option<(&'static str, String)> {
        None
    }
    /// Reads a 2xx answer's body (platforms report errors inside 200s).
    fn verdict(&self, status: u16, body: &Value, raw: String) -> Sent;
}

/// The connection's `settings.api_base_url`, else the platform's own.
pub fn base(settings: &Value, default: &str) -> String {
    settings.get("api_base_url").and_then(Value::as_str).unwrap_or(default).trim_end_matches('/').to_owned()
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

fn truncate(s: &str) -> String {
    s.chars().take(2000).collect()
}

/// The `Retry-After` of an answer, in seconds.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Sends one request through `c` and classifies the answer. Credentials
/// never reach the verdict.
pub async fn execute(http: &reqwest::Client, c: &dyn Outbound, r: &SendRequest<'_>) -> Sent {
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

/// Access tokens of platform accounts (a WeCom corp's `gettoken`), cached
/// by (API base, account) until shortly before they expire. One per
/// process, held by the application state; never printed.
#[derive(Default)]
pub struct AccessTokens(Mutex<HashMap<(String, String), (String, Instant)>>);

impl AccessTokens {
    /// The cached token of `account` at `base`, if still valid.
    pub fn get(&self, base: &str, account: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(base.to_owned(), account.to_owned()))
            .filter(|(_, until)| *until > Instant::now())
            .map(|(t, _)| t.clone())
    }

    /// Caches `token` of `account` at `base` for `ttl`.
    pub fn put(&self, base: &str, account: &str, token: &str, ttl: Duration) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((base.to_owned(), account.to_owned()), (token.to_owned(), Instant::now() + ttl));
    }
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("AccessTokens").field("cached", &n).finish()
    }
}

/// What an outbound call goes out with: the HTTP client and the cached tokens.
#[derive(Clone, Copy, Debug)]
pub struct Calls<'a> {
    pub http: &'a reqwest::Client,
    pub tokens: &'a AccessTokens,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_token_is_served_until_it_expires_and_never_printed() {
        let tokens = AccessTokens::default();
        tokens.put("https://api", "corp", "secret-token", Duration::from_secs(60));
        tokens.put("https://api", "old", "stale-token", Duration::ZERO);
        assert_eq!(tokens.get("https://api", "corp").as_deref(), Some("secret-token"));
        assert_eq!(tokens.get("https://other", "corp"), None);
        assert_eq!(tokens.get("https://api", "old"), None);
        let printed = format!("{tokens:?}");
        assert!(!printed.contains("token\"") && !printed.contains("secret"), "{printed}");
    }
}
