//! Outbound webhooks: Standard Webhooks signatures checked by an independent
//! verifier written here (and the spec's published example in the unit
//! tests), rotation, retries and backoff against a receiver that fails,
//! times out and throttles, disabling after the failing period, replay and
//! recover, the SSRF guard, fan-out by type, outbox atomicity, tenancy, the
//! per-endpoint bound, and kill -9 of the real binary between commit and send.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use base64::Engine;
use chrono::Duration;
use hmac::Mac;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shequn::clock::Clock;
use shequn::config::Settings;

use crate::helpers::{test_settings, TestApp};

// ---------- an independent Standard Webhooks verifier ----------

/// Verifies a request as the specification describes it: every
/// space-separated `v1,` signature is tried against HMAC-SHA256 keyed with
/// the base64-decoded secret over `{id}.{timestamp}.{body}`.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).ok_or(format!("missing {k}"));
    let (id, ts, sigs) = (h("webhook-id")?, h("webhook-timestamp")?, h("webhook-signature")?);
    ts.parse::<i64>().map_err(|_| "timestamp is not an integer".to_string())?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("no whsec_ prefix")?)
        .map_err(|e| e.to_string())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    for s in sigs.split(' ') {
        if let Some(("v1", sig)) = s.split_once(',') {
            if sig == expected {
                return Ok(());
            }
        }
    }
    Err(format!("no signature matches among {sigs}"))
}

// ---------- a receiver ----------

#[derive(Clone, Debug)]
pub struct Got {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub fn header(&self, k: &str) -> &str {
        self.headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A scripted reply: (status, delay, headers, body). Default: 200 at once.
type Reply = (u16, StdDuration, Vec<(&'static str, String)>, String);

#[derive(Clone, Default)]
pub struct Receiver {
    pub base: String,
    got: Arc<Mutex<Vec<Got>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    /// Every reply waits this long (a slow receiver).
    slow: Arc<Mutex<StdDuration>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> impl IntoResponse {
    let now = r.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    r.max_in_flight.fetch_max(now, Ordering::SeqCst);
    r.got.lock().unwrap().push(Got { headers, body: body.to_vec() });
    let (status, delay, hdrs, body) =
        r.script.lock().unwrap().pop_front().unwrap_or((200, StdDuration::ZERO, vec![], "received".into()));
    let slow = *r.slow.lock().unwrap();
    tokio::time::sleep(delay.max(slow)).await;
    r.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut res = (axum::http::StatusCode::from_u16(status).unwrap(), body).into_response();
    for (k, v) in hdrs {
        res.headers_mut().insert(k, v.parse().unwrap());
    }
    res
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver { base: format!("http://{}", listener.local_addr().unwrap()), ..Default::default() };
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }
    pub fn then(&self, status: u16, delay_ms: u64, headers: Vec<(&'static str, String)>) {
        self.then_body(status, delay_ms, headers, "received".into());
    }
    pub fn then_body(&self, status: u16, delay_ms: u64, headers: Vec<(&'static str, String)>, body: String) {
        self.script.lock().unwrap().push_back((status, StdDuration::from_millis(delay_ms), headers, body));
    }
    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

// ---------- helpers ----------

fn settings() -> Settings {
    let mut s = test_settings();
    s.webhooks.allow_private_destinations = true;
    s.webhooks.request_timeout_secs = 1;
    s.webhooks.lease_secs = 5;
    s
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(settings()).await
}

/// Creates an endpoint; returns (id, secret).
async fn endpoint(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let r = app.post("/v1/webhook-endpoints", json!({"url": url, "event_types": types})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (r.id(), r.body["secret"].as_str().unwrap().to_owned())
}

async fn drain(app: &TestApp) -> usize {
    let http = shequn::webhooks::worker::http_client(&app.state.settings.webhooks).unwrap();
    shequn::jobs::drain_webhooks(&app.state, &http).await.expect("webhook pass")
}

async fn group(app: &TestApp, ext: &str) -> String {
    let r =
        app.post("/v1/groups", json!({"platform": "slack", "external_id": ext, "name": format!("group {ext}")})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

async fn join(app: &TestApp, group: &str, id: &str, member: &str) {
    let batch = json!([{"id": id, "type": "member_joined", "occurred_at": "2026-11-20T01:30:00Z",
        "member": {"platform": "slack", "external_id": member}, "group_id": group,
        "properties": {"join_source": "qr_code"}}]);
    let r = app.post("/v1/events", batch).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn message(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/v1/webhook-messages/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

// ---------- tests ----------

#[tokio::test]
async fn a_test_message_arrives_signed_as_the_specification_says() {
    let app = spawn().await;
    let rx = Receiver::start().await;
    let (id, secret) = endpoint(&app, &rx.url("/hooks"), &["*"]).await;
    assert!(secret.starts_with("whsec_"));
    // The secret is shown once.
    let shown = app.get(&format!("/v1/webhook-endpoints/{id}")).await;
    assert!(shown.body.get("secret").is_none() && !shown.body.to_string().contains(&secret), "{}", shown.body);
    let listed = app.get("/v1/webhook-endpoints").await;
    assert!(!listed.body.to_string().contains(&secret));

    let r = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let msg_id = r.body["message_id"].as_str().unwrap().to_owned();
    assert!(msg_id.starts_with("msg_") && msg_id.len() == 30, "{msg_id}");
    assert_eq!(drain(&app).await, 1);

    let got = rx.got();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    verify(&secret, &g.headers, &g.body).expect("the signature verifies");
    assert!(verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &g.headers, &g.body).is_err());
    assert_eq!(g.header("webhook-id"), msg_id);
    assert_eq!(g.header("content-type"), "application/json");
    assert!(g.header("user-agent").starts_with("Shequn-Webhooks/"), "{}", g.header("user-agent"));
    assert_eq!(g.header("webhook-timestamp"), app.state.clock.now().timestamp().to_string());
    let body = g.json();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["endpoint_id"], id);
    assert!(body["timestamp"].as_str().unwrap().starts_with("2026-11-20T02:00:00"));
    // A tampered body does not verify.
    let mut tampered = g.body.clone();
    tampered[3] ^= 1;
    assert!(verify(&secret, &g.headers, &tampered).is_err());

    let m = message(&app, &msg_id).await;
    assert_eq!(m["type"], "webhook.test");
    assert_eq!(m["endpoints"][0]["status"], "delivered");
    assert_eq!(m["attempts"][0]["status_code"], 200);
    assert_eq!(m["attempts"][0]["response"], "received");
    let e = app.get(&format!("/v1/webhook-endpoints/{id}")).await;
    assert!(e.body["last_success_at"].is_string() && e.body["failing_since"].is_null(), "{}", e.body);
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_for_a_day_then_only_the_new_one() {
    let app = spawn().await;
    let rx = Receiver::start().await;
    let (id, old) = endpoint(&app, &rx.url("/"), &["webhook.test"]).await;
    let r = app.post(&format!("/v1/webhook-endpoints/{id}/rotate-secret"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new = r.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let until = r.body["previous_secret_expires_at"].as_str().unwrap();
    assert!(until.starts_with("2026-11-21T02:00:00"), "{until}");

    app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await;
    drain(&app).await;
    let g = &rx.got()[0];
    assert_eq!(g.header("webhook-signature").split(' ').count(), 2, "{}", g.header("webhook-signature"));
    verify(&old, &g.headers, &g.body).expect("the old secret still verifies");
    verify(&new, &g.headers, &g.body).expect("the new secret verifies");

    app.clock.advance(Duration::hours(24) + Duration::seconds(1));
    app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await;
    drain(&app).await;
    let g = &rx.got()[1];
    assert_eq!(g.header("webhook-signature").split(' ').count(), 1);
    verify(&new, &g.headers, &g.body).expect("the new secret verifies");
    assert!(verify(&old, &g.headers, &g.body).is_err(), "the old secret has expired");
}

#[tokio::test]
async fn failures_timeouts_and_throttling_are_retried_on_the_schedule_with_the_same_id() {
    let app = spawn().await;
    let rx = Receiver::start().await;
    let (id, secret) = endpoint(&app, &rx.url("/"), &["webhook.test"]).await;
    rx.then(503, 0, vec![]);
    rx.then(200, 1500, vec![]); // slower than the 1 s timeout
    rx.then(429, 0, vec![("retry-after", "900".into())]);
    let msg = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await.body["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t0 = app.clock.now();
    let next_at = |m: &Value| {
        chrono::DateTime::parse_from_rfc3339(m["endpoints"][0]["next_attempt_at"].as_str().unwrap()).unwrap()
            - t0.fixed_offset()
    };

    // 1st attempt: 503, retried after 5 s ±10 %.
    drain(&app).await;
    let m = message(&app, &msg).await;
    assert_eq!(m["endpoints"][0]["status"], "pending", "{m}");
    let wait = next_at(&m).num_milliseconds();
    assert!((4500..=5500).contains(&wait), "{wait}");
    // Not due before then.
    assert_eq!(drain(&app).await, 0);

    // 2nd: times out, retried after 5 min ±10 %.
    app.clock.advance(Duration::seconds(6));
    drain(&app).await;
    let m = message(&app, &msg).await;
    assert_eq!(m["attempts"][1]["error"], "timed out", "{m}");
    assert!(m["attempts"][1]["status_code"].is_null());
    let wait = next_at(&m).num_seconds() - 6;
    assert!((270..=330).contains(&wait), "{wait}");

    // 3rd: 429 with Retry-After 900 s: shorter than the schedule's 30 min,
    // which wins (a longer Retry-After is honoured: the next test).
    app.clock.advance(Duration::seconds(331));
    drain(&app).await;
    let m = message(&app, &msg).await;
    assert_eq!(m["attempts"][2]["status_code"], 429);
    let wait = next_at(&m).num_seconds() - 337;
    assert!((1620..=1980).contains(&wait), "{wait}");

    // 4th: delivered.
    app.clock.advance(Duration::seconds(1981));
    drain(&app).await;
    let m = message(&app, &msg).await;
    assert_eq!(m["endpoints"][0]["status"], "delivered");
    assert_eq!(m["endpoints"][0]["attempts"], 4);
    let got = rx.got();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|g| g.header("webhook-id") == msg));
    // Each attempt is signed afresh for its own timestamp.
    for g in &got {
        verify(&secret, &g.headers, &g.body).unwrap();
    }
    assert_ne!(got[0].header("webhook-timestamp"), got[3].header("webhook-timestamp"));
    let e = app.get(&format!("/v1/webhook-endpoints/{id}")).await.body;
    assert!(e["failing_since"].is_null() && e["last_failure_at"].is_string(), "{e}");
}

#[tokio::test]
async fn a_long_retry_after_is_honoured_and_the_last_attempt_fails_the_message() {
    let mut s = settings();
    s.webhooks.retry_schedule_secs = vec![5, 60];
    let app = TestApp::spawn_with(s).await;
    let rx = Receiver::start().await;
    let (id, _) = endpoint(&app, &rx.url("/"), &["*"]).await;
    rx.then(429, 0, vec![("retry-after", "7200".into())]);
    rx.then(500, 0, vec![]);
    rx.then(502, 0, vec![]);
    let msg = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await.body["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drain(&app).await;
    let m = message(&app, &msg).await;
    let next = m["endpoints"][0]["next_attempt_at"].as_str().unwrap();
    assert!(next.starts_with("2026-11-20T04:00:00"), "Retry-After 7200 s wins over 5 s: {next}");
    app.clock.advance(Duration::hours(2));
    drain(&app).await;
    app.clock.advance(Duration::seconds(70));
    drain(&app).await;
    let m = message(&app, &msg).await;
    assert_eq!(m["endpoints"][0]["status"], "failed", "{m}");
    assert_eq!(m["endpoints"][0]["last_error"], "HTTP 502");
    assert_eq!(m["attempts"].as_array().unwrap().len(), 3);
    app.clock.advance(Duration::days(1));
    assert_eq!(drain(&app).await, 0, "nothing more after the last attempt");
    let failed = app.get(&format!("/v1/webhook-messages?status=failed&endpoint_id={id}")).await;
    assert_eq!(failed.body["items"].as_array().unwrap().len(), 1);
    let delivered = app.get("/v1/webhook-messages?status=delivered").await;
    assert_eq!(delivered.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_final_answer_is_not_retried_but_can_be_replayed_and_recovered() {
    let app = spawn().await;
    let rx = Receiver::start().await;
    let (id, _) = endpoint(&app, &rx.url("/"), &["webhook.test"]).await;
    for _ in 0..3 {
        rx.then(410, 0, vec![]);
    }
    let mut msgs = Vec::new();
    for _ in 0..3 {
        let r = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await;
        msgs.push(r.body["message_id"].as_str().unwrap().to_owned());
    }
    drain(&app).await;
    for m in &msgs {
        assert_eq!(message(&app, m).await["endpoints"][0]["status"], "failed");
    }
    // Replay one message.
    let r = app.post(&format!("/v1/webhook-messages/{}/retry", msgs[0]), json!({})).await;
    assert_eq!((r.status, r.body["queued"].as_u64()), (StatusCode::ACCEPTED, Some(1)), "{:?}", r.body);
    drain(&app).await;
    assert_eq!(message(&app, &msgs[0]).await["endpoints"][0]["status"], "delivered");
    // Recover the rest since a time.
    let since = (app.clock.now() - Duration::minutes(1)).to_rfc3339();
    let r = app.post(&format!("/v1/webhook-endpoints/{id}/recover"), json!({"since": since})).await;
    assert_eq!((r.status, r.body["queued"].as_u64()), (StatusCode::ACCEPTED, Some(2)), "{:?}", r.body);
    drain(&app).await;
    for m in &msgs {
        assert_eq!(message(&app, m).await["endpoints"][0]["status"], "delivered");
    }
    let got = rx.got();
    assert_eq!(got.len(), 6);
    // A replay to another endpoint that never had it.
    let rx2 = Receiver::start().await;
    let (id2, _) = endpoint(&app, &rx2.url("/"), &["group.created"]).await;
    let r = app.post(&format!("/v1/webhook-messages/{}/retry", msgs[1]), json!({"endpoint_id": id2})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    drain(&app).await;
    assert_eq!(rx2.got().len(), 1);
    assert_eq!(rx2.got()[0].header("webhook-id"), msgs[1]);
    // Bad input changes nothing.
    let r = app.post(&format!("/v1/webhook-endpoints/{id}/recover"), json!({"since": "yesterday"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let r = app.post("/v1/webhook-messages/msg_00000000000000000000000000/retry", json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_endpoint_failing_for_the_whole_period_is_disabled_and_the_others_are_told() {
    let app = spawn().await;
    let bad = Receiver::start().await;
    let good = Receiver::start().await;
    let (bad_id, _) = endpoint(&app, &bad.url("/"), &["*"]).await;
    let (good_id, _) = endpoint(&app, &good.url("/"), &["endpoint.disabled"]).await;
    for _ in 0..20 {
        bad.then(500, 0, vec![]);
    }
    app.post(&format!("/v1/webhook-endpoints/{bad_id}/test"), json!({})).await;
    drain(&app).await;
    let e = app.get(&format!("/v1/webhook-endpoints/{bad_id}")).await.body;
    assert_eq!(e["failing_since"], e["last_failure_at"], "{e}");
    // Four days later it still fails but is not yet disabled.
    app.clock.advance(Duration::days(4));
    app.post(&format!("/v1/webhook-endpoints/{bad_id}/test"), json!({})).await;
    drain(&app).await;
    assert_eq!(app.get(&format!("/v1/webhook-endpoints/{bad_id}")).await.body["enabled"], true);
    // A fifth day of failures disables it.
    app.clock.advance(Duration::days(1));
    app.post(&format!("/v1/webhook-endpoints/{bad_id}/test"), json!({})).await;
    drain(&app).await;
    let e = app.get(&format!("/v1/webhook-endpoints/{bad_id}")).await.body;
    assert_eq!(e["enabled"], false, "{e}");
    assert!(e["disabled_reason"].as_str().unwrap().contains("2026-11-20T02:00:00Z"), "{e}");
    // Its waiting messages failed; the other endpoint heard of it.
    let pending = app.get(&format!("/v1/webhook-messages?endpoint_id={bad_id}&status=pending")).await;
    assert_eq!(pending.body["items"].as_array().unwrap().len(), 0);
    let told = good.got();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].json()["type"], "endpoint.disabled");
    assert_eq!(told[0].json()["data"]["endpoint_id"], bad_id);
    assert_ne!(bad_id, good_id);
    // Nothing goes to a disabled endpoint; re-enabling clears the record.
    assert_eq!(app.post(&format!("/v1/webhook-endpoints/{bad_id}/test"), json!({})).await.status, StatusCode::CONFLICT);
    let e = app.patch(&format!("/v1/webhook-endpoints/{bad_id}"), json!({"enabled": true})).await.body;
    assert!(e["failing_since"].is_null() && e["disabled_reason"].is_null(), "{e}");
}

#[tokio::test]
async fn private_destinations_are_refused_when_saved_and_when_sent() {
    let app = TestApp::spawn().await; // the guard is on
    let rx = Receiver::start().await;
    let port = rx.base.rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        "http://[::1]/".into(),
        "http://10.0.0.8/".into(),
        "http://169.254.169.254/latest/meta-data".into(),
    ] {
        let r = app.post("/v1/webhook-endpoints", json!({"url": url, "event_types": ["*"]})).await;
        assert_eq!(
            (r.status, r.field(), r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "url", "validation_failed"),
            "{url}: {:?}",
            r.body
        );
    }
    for (body, field) in [
        (json!({"url": "ftp://shop.example.com/", "event_types": ["*"]}), "url"),
        (json!({"url": "https://u:p@shop.example.com/", "event_types": ["*"]}), "url"),
        (json!({"url": "https://shop.example.com/", "event_types": []}), "event_types"),
        (json!({"url": "https://shop.example.com/", "event_types": ["group.exploded"]}), "event_types[0]"),
    ] {
        let r = app.post("/v1/webhook-endpoints", body).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{:?}", r.body);
    }
    assert_eq!(app.count("webhook_endpoints").await, 0);
    // A public name is accepted when saved.
    let r =
        app.post("/v1/webhook-endpoints", json!({"url": "https://shop.example.com/hooks", "event_types": ["*"]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_when_sent_is_refused_at_connect_time() {
    // Stored while private destinations were allowed; sent by a guarded client.
    let app = spawn().await;
    let rx = Receiver::start().await;
    let port = rx.base.rsplit(':').next().unwrap().to_owned();
    let (id, _) = endpoint(&app, &format!("http://localhost:{port}/"), &["*"]).await;
    let msg = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await.body["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut guarded = app.state.settings.webhooks.clone();
    guarded.allow_private_destinations = false;
    let http = shequn::webhooks::worker::http_client(&guarded).unwrap();
    shequn::jobs::drain_webhooks(&app.state, &http).await.unwrap();
    assert!(rx.got().is_empty(), "the receiver on loopback got nothing");
    let m = message(&app, &msg).await;
    assert_eq!(m["endpoints"][0]["status"], "failed", "{m}");
    assert!(m["attempts"][0]["error"].as_str().unwrap().contains("SSRF guard"), "{m}");
}

#[tokio::test]
async fn a_join_fans_out_to_the_enabled_endpoints_subscribed_to_its_type() {
    let app = spawn().await;
    let (a, b, c, d) =
        (Receiver::start().await, Receiver::start().await, Receiver::start().await, Receiver::start().await);
    endpoint(&app, &a.url("/"), &["member.joined_group"]).await;
    endpoint(&app, &b.url("/"), &["*"]).await;
    endpoint(&app, &c.url("/"), &["group.status_changed"]).await;
    let (d_id, _) = endpoint(&app, &d.url("/"), &["*"]).await;
    app.patch(&format!("/v1/webhook-endpoints/{d_id}"), json!({"enabled": false})).await;
    let g = group(&app, "C1").await;
    join(&app, &g, "j1", "U1").await;
    drain(&app).await;
    let joined =
        |r: &Receiver| r.got().into_iter().filter(|x| x.json()["type"] == "member.joined_group").collect::<Vec<_>>();
    assert_eq!(joined(&a).len(), 1);
    assert_eq!(joined(&b).len(), 1);
    assert!(joined(&c).is_empty() && d.got().is_empty());
    let body = joined(&a)[0].json();
    assert_eq!(body["data"]["group_id"], g);
    assert_eq!(body["data"]["group_name"], "group C1");
    assert_eq!(body["data"]["channel"], "qr_code");
    assert_eq!(body["data"]["source"], "api");
    assert_eq!(body["timestamp"], "2026-11-20T01:30:00Z");
    // One message, the same id at both endpoints.
    assert_eq!(joined(&a)[0].header("webhook-id"), joined(&b)[0].header("webhook-id"));
    // A redelivered event is not announced again.
    join(&app, &g, "j1", "U1").await;
    drain(&app).await;
    assert_eq!(joined(&a).len(), 1);
    let listed = app.get("/v1/webhook-messages?type=member.joined_group").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["endpoints"].as_array().unwrap().len(), 2);
    let r = app.get("/v1/webhook-messages?type=member.exploded").await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "type"));
}

/// Fails inside the database after the webhook reaction ran.
struct Failing;

impl shequn::events::reactions::Reaction for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn react<'a>(
        &'a self,
        conn: &'a mut sqlx::PgConnection,
        _: shequn::ids::WorkspaceId,
        _: &'a [shequn::events::repo::Row],
        _: chrono::DateTime<chrono::Utc>,
    ) -> futures_util::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move { sqlx::query("SELECT 1 / 0").execute(conn).await.map(|_| ()) })
    }
}

#[tokio::test]
async fn a_change_that_rolls_back_emits_nothing() {
    let app = TestApp::spawn_reacting(vec![Arc::new(Failing)]).await;
    let rx = Receiver::start().await;
    // A public URL passes the guard; nothing is sent in this test.
    let r = app.post("/v1/webhook-endpoints", json!({"url": "https://shop.example.com/h", "event_types": ["*"]})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    group(&app, "C1").await;
    // The group's creation was announced; nothing of the failing batch is.
    assert_eq!((app.count("webhook_messages").await, app.count("webhook_dispatches").await), (1, 1));
    let batch = json!([{"id": "j1", "type": "member_joined", "occurred_at": "2026-11-20T01:30:00Z",
        "member": {"platform": "slack", "external_id": "U1"}, "group": {"platform": "slack", "external_id": "C2"}}]);
    let r = app.post("/v1/events", batch).await;
    assert!(r.status.is_server_error(), "{:?}", r.body);
    assert_eq!((app.count("webhook_messages").await, app.count("webhook_dispatches").await), (1, 1));
    assert!(rx.got().is_empty());
}

#[tokio::test]
async fn one_workspace_never_sees_anothers_endpoints_or_messages() {
    let app = spawn().await;
    let rx = Receiver::start().await;
    let (id, _) = endpoint(&app, &rx.url("/"), &["*"]).await;
    let msg = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await.body["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.other_workspace("other").await;
    let get = |p: String| {
        let (app, other) = (&app, other.clone());
        async move { app.send(reqwest::Method::GET, &p, Some(&other), None).await }
    };
    assert_eq!(get(format!("/v1/webhook-endpoints/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(format!("/v1/webhook-messages/{msg}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get("/v1/webhook-endpoints".into()).await.body["items"], json!([]));
    assert_eq!(get("/v1/webhook-messages".into()).await.body["items"], json!([]));
    for (method, path, body) in [
        (reqwest::Method::PATCH, format!("/v1/webhook-endpoints/{id}"), json!({"enabled": false})),
        (reqwest::Method::POST, format!("/v1/webhook-endpoints/{id}/rotate-secret"), json!({})),
        (reqwest::Method::POST, format!("/v1/webhook-endpoints/{id}/test"), json!({})),
        (reqwest::Method::POST, format!("/v1/webhook-messages/{msg}/retry"), json!({})),
        (reqwest::Method::DELETE, format!("/v1/webhook-endpoints/{id}"), json!({})),
    ] {
        let r = app.send(method.clone(), &path, Some(&other), Some(body)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Operators may not manage endpoints.
    let op = app.key_with_role("operator").await;
    let r = app.send(reqwest::Method::GET, "/v1/webhook-endpoints", Some(&op), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&format!("/v1/webhook-endpoints/{id}")).await.body["enabled"], true);
}

#[tokio::test]
async fn a_slow_endpoint_gets_at_most_its_bound_in_flight_and_does_not_hold_back_another() {
    let mut s = settings();
    s.webhooks.max_in_flight_per_endpoint = 2;
    s.webhooks.request_timeout_secs = 5;
    s.webhooks.lease_secs = 10;
    let app = TestApp::spawn_with(s).await;
    let slow = Receiver::start().await;
    *slow.slow.lock().unwrap() = StdDuration::from_millis(300);
    let fast = Receiver::start().await;
    let (slow_id, _) = endpoint(&app, &slow.url("/"), &["webhook.test"]).await;
    let (fast_id, _) = endpoint(&app, &fast.url("/"), &["webhook.test"]).await;
    for _ in 0..6 {
        app.post(&format!("/v1/webhook-endpoints/{slow_id}/test"), json!({})).await;
        app.post(&format!("/v1/webhook-endpoints/{fast_id}/test"), json!({})).await;
    }
    let http = shequn::webhooks::worker::http_client(&app.state.settings.webhooks).unwrap();
    let state = app.state.clone();
    let started = std::time::Instant::now();
    let pump = tokio::spawn(async move { shequn::jobs::drain_webhooks(&state, &http).await.unwrap() });
    // The fast endpoint's six arrive while the slow one is still busy.
    while fast.got().len() < 6 {
        assert!(started.elapsed() < StdDuration::from_secs(5), "the fast endpoint was held back");
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    assert!(
        slow.got().len() < 6,
        "the fast endpoint finished before the slow one: {:?} {}",
        started.elapsed(),
        slow.got().len()
    );
    pump.await.unwrap();
    assert_eq!(slow.got().len(), 6);
    assert_eq!(slow.max_in_flight.load(Ordering::SeqCst), 2);
}

/// The bodies of the messages of `kind` a receiver got.
fn of_type(r: &Receiver, kind: &str) -> Vec<Value> {
    r.got().into_iter().map(|g| g.json()).filter(|b| b["type"] == kind).collect()
}

#[tokio::test]
async fn a_tier_change_carries_phone_and_email_only_to_endpoints_that_include_them() {
    let app = spawn().await;
    let (plain, pii) = (Receiver::start().await, Receiver::start().await);
    endpoint(&app, &plain.url("/"), &["member.tier_changed"]).await;
    let r = app
        .post("/v1/webhook-endpoints", json!({"url": pii.url("/"), "event_types": ["*"], "include_pii": true}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    app.post("/v1/tiers", json!({"key": "vip", "name": "VIP", "rank": 2})).await;
    let m = app
        .post("/v1/members", json!({"display_name": "Lily", "phone": "+8613800000000", "email": "lily@example.com"}))
        .await
        .id();
    let r = app.put(&format!("/v1/members/{m}/tier"), json!({"tier": "vip", "reason": "spent 5000"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    drain(&app).await;
    let (a, b) = (of_type(&plain, "member.tier_changed"), of_type(&pii, "member.tier_changed"));
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0]["data"]["member_id"], m);
    assert_eq!((a[0]["data"]["from_tier"].clone(), a[0]["data"]["to_tier"].clone()), (Value::Null, json!("vip")));
    assert_eq!(a[0]["data"]["reason"], "spent 5000");
    assert!(a[0]["data"]["phone"].is_null() && a[0]["data"]["email"].is_null(), "{}", a[0]);
    assert!(!plain.got()[0].body.windows(11).any(|w| w == b"13800000000"));
    assert_eq!(b[0]["data"]["phone"], "+8613800000000");
    assert_eq!(b[0]["data"]["email"], "lily@example.com");
    // The message as the API shows it has no personal data either.
    let listed = app.get("/v1/webhook-messages?type=member.tier_changed").await;
    assert!(!listed.body.to_string().contains("13800000000"), "{}", listed.body);
}

#[tokio::test]
async fn groups_created_by_api_and_first_seen_on_a_platform_and_their_status_changes_are_announced() {
    let app = spawn().await;
    let rx = Receiver::start().await;
    endpoint(&app, &rx.url("/"), &["group.created", "group.status_changed"]).await;
    let g = group(&app, "C1").await;
    // First seen in an event.
    let batch = json!([{"id": "e1", "type": "message_sent", "occurred_at": "2026-11-20T01:30:00Z",
        "member": {"platform": "telegram", "external_id": "7"}, "group": {"platform": "telegram", "external_id": "-100", "name": "Fans"}}]);
    assert_eq!(app.post("/v1/events", batch.clone()).await.status, StatusCode::OK);
    let r = app.patch(&format!("/v1/groups/{g}"), json!({"status": "archived"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // An unchanged status says nothing.
    app.patch(&format!("/v1/groups/{g}"), json!({"status": "archived", "name": "renamed"})).await;
    drain(&app).await;
    let created = of_type(&rx, "group.created");
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(
        (created[0]["data"]["group_id"].as_str(), created[0]["data"]["source"].as_str()),
        (Some(g.as_str()), Some("api"))
    );
    assert_eq!(created[1]["data"]["source"], "platform");
    assert_eq!(created[1]["data"]["name"], "Fans");
    assert_eq!(created[1]["data"]["external_id"], "-100");
    let changed = of_type(&rx, "group.status_changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(
        (changed[0]["data"]["from"].as_str(), changed[0]["data"]["to"].as_str()),
        (Some("active"), Some("archived"))
    );
}

#[tokio::test]
async fn a_dead_sop_send_and_a_failing_connection_are_announced() {
    use crate::sop::{content, plan, scheduler, send, telegram, utc, Fake};
    let app = spawn().await;
    let rx = Receiver::start().await;
    endpoint(&app, &rx.url("/"), &["delivery.dead", "connection.failing"]).await;
    let fake = Fake::start().await;
    let conn = telegram(&app, &fake).await;
    let mut gs = Vec::new();
    for i in 0..5 {
        gs.push(crate::sop::group(&app, &format!("-{i}"), "Asia/Shanghai").await);
    }
    let c = content(&app, "hi").await;
    plan(&app, json!({"group_ids": gs}), &c, json!({"kind": "once", "at": "2026-11-20T10:05"})).await;
    for _ in 0..5 {
        fake.then(400, vec![], json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}));
    }
    app.clock.set(utc("2026-11-20T02:05:00Z"));
    scheduler(&app).await;
    send(&app).await;
    drain(&app).await;
    let dead = of_type(&rx, "delivery.dead");
    assert_eq!(dead.len(), 5, "{dead:?}");
    assert_eq!(dead[0]["data"]["last_error"], "HTTP 400", "{}", dead[0]);
    assert_eq!(dead[0]["data"]["channel"], "telegram");
    let failing = of_type(&rx, "connection.failing");
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert_eq!(failing[0]["data"]["connection_id"], conn);
    assert_eq!(failing[0]["data"]["consecutive_failures"], 5);
}

#[tokio::test]
async fn the_health_watch_announces_a_group_that_is_dead_then_comes_back() {
    let app = spawn().await;
    let rx = Receiver::start().await;
    endpoint(&app, &rx.url("/"), &["group.health_changed"]).await;
    let g = group(&app, "C1").await;
    // Members joined a month ago; nobody spoke since.
    let mut batch = Vec::new();
    for i in 0..10 {
        batch.push(json!({"id": format!("j{i}"), "type": "member_joined", "occurred_at": "2026-10-15T01:00:00Z",
            "member": {"platform": "slack", "external_id": format!("U{i}")}, "group_id": g}));
    }
    assert_eq!(app.post("/v1/events", json!(batch)).await.status, StatusCode::OK);
    shequn::metrics::store::rollup::drain(&app.pool).await.unwrap();
    assert_eq!(shequn::jobs::run_health_watch_once(&app.state).await.unwrap(), 1);
    // Once per local day.
    assert_eq!(shequn::jobs::run_health_watch_once(&app.state).await.unwrap(), 0);
    drain(&app).await;
    let h = of_type(&rx, "group.health_changed");
    assert_eq!(h.len(), 1);
    assert_eq!((h[0]["data"]["from"].clone(), h[0]["data"]["to"].clone()), (Value::Null, json!("dead")), "{}", h[0]);
    assert_eq!(h[0]["data"]["day"], "2026-11-19");
    // Every member speaks every day of the next week: the group comes back.
    let mut batch = Vec::new();
    for d in 20..27 {
        for i in 0..10 {
            batch.push(json!({"id": format!("m{d}-{i}"), "type": "message_sent",
                "occurred_at": format!("2026-11-{d}T03:00:00Z"),
                "member": {"platform": "slack", "external_id": format!("U{i}")}, "group_id": g}));
        }
    }
    assert_eq!(app.post("/v1/events", json!(batch)).await.status, StatusCode::OK);
    shequn::metrics::store::rollup::drain(&app.pool).await.unwrap();
    app.clock.advance(Duration::days(7));
    assert_eq!(shequn::jobs::run_health_watch_once(&app.state).await.unwrap(), 1);
    drain(&app).await;
    let h = of_type(&rx, "group.health_changed");
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["data"]["from"], "dead");
    assert_ne!(h[1]["data"]["to"], "dead", "{}", h[1]);
}

#[tokio::test]
async fn redirects_are_not_followed_and_answers_are_logged_capped_without_the_secret() {
    let app = spawn().await;
    let (rx, elsewhere) = (Receiver::start().await, Receiver::start().await);
    let (id, secret) = endpoint(&app, &rx.url("/"), &["webhook.test"]).await;
    rx.then(307, 0, vec![("location", elsewhere.url("/"))]);
    // A receiver that echoes the secret in a long answer.
    rx.then_body(500, 0, vec![], format!("{}{secret}{}", "x".repeat(600), "y".repeat(5000)));
    let m1 = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await.body["message_id"].clone();
    drain(&app).await;
    let m2 = app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await.body["message_id"].clone();
    drain(&app).await;
    assert!(elsewhere.got().is_empty(), "the redirect was not followed");
    let first = message(&app, m1.as_str().unwrap()).await;
    assert_eq!(first["endpoints"][0]["status"], "failed", "a redirect is a final answer: {first}");
    assert_eq!(first["attempts"][0]["status_code"], 307);
    let second = message(&app, m2.as_str().unwrap()).await;
    let snippet = second["attempts"][0]["response"].as_str().unwrap();
    assert!(snippet.len() <= 1024, "{}", snippet.len());
    assert!(!snippet.contains(&secret) && !second.to_string().contains(&secret));
    assert!(snippet.contains("[redacted]"), "{snippet}");
}
