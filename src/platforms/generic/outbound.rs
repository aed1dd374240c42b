//! The generic platform's outbound side: Shequn's own signed webhook to the
//! connection's `settings.outbound_url`.

use super::{Credentials, Generic};
use serde_json::{json, Value};

use crate::platforms::outbound::{Built, Outbound, SendRequest, Sent};

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
        let secret = Credentials::of(r.credentials)?.secret;
        Some(("x-shequn-signature", super::sign(&secret, r.now_unix, body)))
    }

    fn verdict(&self, status: u16, _body: &Value, raw: String) -> Sent {
        Sent::Accepted { status, message_id: None, response: raw }
    }
}
