//! Generic inbound webhooks: Shequn's own events JSON (as the batch API),
//! signed `X-Shequn-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`
//! with a 5-minute window. For shops, mini-programs and anything without a
//! connector.

use super::{Credentials, Generic};
use axum::response::{IntoResponse, Response};

use crate::events::model::{EventIn, EventSource};
use crate::platforms::crypto::{ct_eq, hmac_sha256_hex};
use crate::platforms::inbound::{fresh, Inbound, Incoming, Normalized, Refusal, Stored, Verdict};

/// Signs a body the way the generic webhook expects (for senders and tests).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(body);
    format!("t={t},v1={}", hmac_sha256_hex(secret.as_bytes(), &msg))
}

impl Inbound for Generic {
    fn verify(&self, creds: &serde_json::Value, req: &Incoming<'_>) -> Result<Verdict, Refusal> {
        let c = Credentials::of(creds).ok_or(Refusal::Unauthorized("unreadable credentials"))?;
        let secret = c.secret.as_str();
        let header = req
            .headers
            .get("x-shequn-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::Unauthorized("missing signature"))?;
        let mut t = None;
        let mut sigs = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = Some(v),
                Some(("v1", v)) => sigs.push(v),
                _ => {}
            }
        }
        let t = t.ok_or(Refusal::Unauthorized("missing timestamp"))?;
        fresh(t, req.now)?;
        let mut msg = format!("{t}.").into_bytes();
        msg.extend_from_slice(req.body);
        let expected = hmac_sha256_hex(secret.as_bytes(), &msg);
        if sigs.iter().any(|s| ct_eq(s.as_bytes(), expected.as_bytes())) {
            Ok(Verdict::Store)
        } else {
            Err(Refusal::Unauthorized("bad signature"))
        }
    }

    fn normalize(
        &self,
        _scope: &str,
        _creds: &[&serde_json::Value],
        req: &Stored,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Normalized, String> {
        let items: Vec<serde_json::Value> = match serde_json::from_slice(&req.body) {
            Ok(serde_json::Value::Array(a)) => a,
            Ok(obj @ serde_json::Value::Object(_)) => vec![obj],
            _ => return Err("body must be an event or a JSON array of events".into()),
        };
        let mut out = Normalized::default();
        for (i, item) in items.into_iter().enumerate() {
            let parsed =
                serde_json::from_value::<EventIn>(item).map_err(|e| e.to_string()).and_then(|e| e.into_new(now));
            match parsed {
                Ok(mut e) => {
                    e.source = EventSource::Generic;
                    // A message's `properties.text` is read as a possible
                    // command and not stored.
                    if e.kind == crate::events::model::EventKind::MessageSent.as_str() {
                        if let Some(t) = e.properties.as_object_mut().and_then(|p| p.remove("text")) {
                            e.text = t.as_str().and_then(crate::platforms::inbound::command_text);
                        }
                    }
                    out.events.push(e);
                }
                Err(reason) => out.rejected.push(format!("item {i}: {reason}")),
            }
        }
        Ok(out)
    }

    fn ack(&self, outcome: &serde_json::Value) -> Response {
        axum::Json(outcome.clone()).into_response()
    }
}
