//! Outbound webhooks' delivery: Standard Webhooks signatures checked by an
//! independent verifier written here (and the spec's published example in
//! the unit tests), rotation, retries and backoff against a receiver that
//! fails, times out and throttles, disabling after the failing period,
//! replay and recover, the SSRF guard, redirects and the capped answer log.
//! What each change announces is `outbound_events`; kill -9 of the real
//! binary is `outbound_crash`.

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
pub(crate) fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
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
    pub slow: Arc<Mutex<StdDuration>>,
    in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
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

pub(crate) fn settings() -> Settings {
    let mut s = test_settings();
    s.webhooks.allow_private_destinations = true;
    s.webhooks.request_timeout_secs = 1;
    s.webhooks.lease_secs = 5;
    s
}

pub(crate) async fn spawn() -> TestApp {
    TestApp::spawn_with(settings()).await
}

/// Creates an endpoint; returns (id, secret).
pub(crate) async fn endpoint(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let r = app.post("/v1/webhook-endpoints", json!({"url": url, "event_types": types})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (r.id(), r.body["secret"].as_str().unwrap().to_owned())
}

pub(crate) async fn drain(app: &TestApp) -> usize {
    let http = shequn::webhooks::worker::http_client(&app.state.settings.webhooks).unwrap();
    shequn::jobs::drain_webhooks(&app.state, &http).await.expect("webhook pass")
}

pub(crate) async fn group(app: &TestApp, ext: &str) -> String {
    let r =
        app.post("/v1/groups", json!({"platform": "slack", "external_id": ext, "name": format!("group {ext}")})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.id()
}

pub(crate) async fn join(app: &TestApp, group: &str, id: &str, member: &str) {
    let batch = json!([{"id": id, "type": "member_joined", "occurred_at": "2026-11-20T01:30:00Z",
        "member": {"platform": "slack", "external_id": member}, "group_id": group,
        "properties": {"join_source": "qr_code"}}]);
    let r = app.post("/v1/events", batch).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

pub(crate) async fn message(app: &TestApp, id: &str) -> Value {
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

#[tokio::test]
async fn an_endpoint_deleted_while_its_request_is_in_flight_leaves_the_worker_sound() {
    let app = spawn().await;
    let rx = Receiver::start().await;
    let (id, _) = endpoint(&app, &rx.url("/"), &["webhook.test"]).await;
    rx.then(200, 500, vec![]);
    app.post(&format!("/v1/webhook-endpoints/{id}/test"), json!({})).await;
    let http = shequn::webhooks::worker::http_client(&app.state.settings.webhooks).unwrap();
    let state = app.state.clone();
    let pump = tokio::spawn(async move { shequn::jobs::drain_webhooks(&state, &http).await });
    while rx.got().is_empty() {
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    assert_eq!(app.delete(&format!("/v1/webhook-endpoints/{id}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(pump.await.unwrap().expect("the answer of a deleted endpoint is dropped, not an error"), 1);
    assert_eq!((app.count("webhook_dispatches").await, app.count("webhook_attempts").await), (0, 0));
}
