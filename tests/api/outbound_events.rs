//! What the changes announce through outbound webhooks: fan-out by type,
//! joins, tiers (personal data only where included), groups, SOP sends and
//! connections, group health; a rolled-back change announces nothing; one
//! workspace never sees another's endpoints or messages; a slow endpoint
//! gets at most its bound in flight and holds back no other.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::outbound::{drain, endpoint, group, join, settings, spawn, Receiver};
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
