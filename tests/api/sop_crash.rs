//! The real binary sending SOP deliveries to a slow fake platform, killed
//! with SIGKILL while sends are in flight (claimed, accepted by the platform
//! but not yet recorded, recorded), then restarted: every slot has exactly
//! one delivery; nothing is sent twice to a platform without idempotency
//! (such a send is `uncertain` instead), and the idempotent generic webhook
//! ends `sent` for every delivery. A SIGTERM lets in-flight sends finish.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use serde_json::{json, Value};
use shequn::audit::Actor;

use crate::helpers::{free_port, fresh_database, spawn_binary, wait_ready};

/// Short ticks, leases and timeouts so the test runs in seconds.
const ENV: &[(&str, &str)] = &[
    ("SHEQUN__DELIVERY__TICK_MILLIS", "100"),
    ("SHEQUN__DELIVERY__SYNC_INTERVAL_SECS", "1"),
    ("SHEQUN__DELIVERY__LEASE_SECS", "3"),
    ("SHEQUN__DELIVERY__REQUEST_TIMEOUT_SECS", "2"),
    ("SHEQUN__DELIVERY__CONCURRENCY", "8"),
    ("SHEQUN__DELIVERY__RATE_LIMITS", "false"),
];

fn spawn(url: &str, port: u16) -> std::process::Child {
    spawn_binary(url, port, ENV)
}

/// Received requests: (chat id or delivery id) -> count.
#[derive(Clone, Default)]
struct Slow {
    got: Arc<Mutex<HashMap<String, usize>>>,
}

async fn slow_platform(
    State(s): State<Slow>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = match headers.get("idempotency-key") {
        Some(k) => format!("generic:{}", k.to_str().unwrap()),
        None => format!("{}:{}", uri.path(), body["chat_id"].as_str().unwrap_or("?")),
    };
    *s.got.lock().unwrap().entry(key).or_default() += 1;
    // Accepted now, answered later: a kill in between leaves an unrecorded send.
    tokio::time::sleep(Duration::from_millis(150)).await;
    axum::Json(json!({"ok": true, "result": {"message_id": 1}}))
}

async fn api(client: &reqwest::Client, base: &str, key: &str, path: &str, body: Value) -> Value {
    let r = client.post(format!("{base}{path}")).bearer_auth(key).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn wait_settled(pool: &sqlx::PgPool, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (total, open): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE state IN ('pending', 'sending', 'failed')) FROM deliveries",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if total == want && open == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "deliveries did not settle: {total} of {want}, {open} open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_sigkill_mid_send_neither_loses_nor_doubles_a_delivery() {
    let slow = Slow::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(slow_platform).with_state(slow.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (pool, url) = fresh_database().await;
    let nw = shequn::workspaces::service::create_workspace(&pool, "sop-crash", "UTC", Actor::System).await.unwrap();
    let key = nw.owner_key.key;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = spawn(&url, port);
    wait_ready(&client, &base).await;
    api(
        &client,
        &base,
        &key,
        "/v1/connections",
        json!({"platform": "telegram", "name": "tg",
        "credentials": {"bot_token": "1:x", "secret_token": "s"}, "settings": {"api_base_url": fake}}),
    )
    .await;
    api(
        &client,
        &base,
        &key,
        "/v1/connections",
        json!({"platform": "generic", "name": "shop",
        "credentials": {"secret": "0123456789abcdef"}, "settings": {"outbound_url": format!("{fake}/hook")}}),
    )
    .await;
    let content = api(
        &client,
        &base,
        &key,
        "/v1/contents",
        json!({"name": "welcome", "kind": "text", "text": "欢迎 {{group.name}}"}),
    )
    .await;
    // Every VIP group gets the welcome as soon as it is created.
    api(
        &client,
        &base,
        &key,
        "/v1/sop-plans",
        json!({"name": "new group welcome", "target": {"tier": "vip"},
        "steps": [{"content_id": content["id"], "timing": {"kind": "after_group_created", "minutes": 0}}]}),
    )
    .await;
    for i in 0..60 {
        for platform in ["telegram", "generic"] {
            api(
                &client,
                &base,
                &key,
                "/v1/groups",
                json!({"platform": platform, "external_id": format!("{platform}-{i}"),
                "name": format!("g{i}"), "tier": "vip"}),
            )
            .await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while slow.got.lock().unwrap().len() < 30 {
        assert!(Instant::now() < deadline, "nothing is being sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let in_flight: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE state = 'sending'").fetch_one(&pool).await.unwrap();
    assert!(in_flight > 0, "the kill came while sends were in flight");

    let mut server = spawn(&url, port);
    wait_settled(&pool, 120).await;
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT d.id::text, d.channel, d.state, g.external_id FROM deliveries d JOIN groups g ON g.id = d.group_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let got = slow.got.lock().unwrap().clone();
    let mut uncertain = 0;
    for (id, channel, state, chat) in &rows {
        if channel == "generic" {
            assert_eq!(state, "sent", "the idempotent channel is retried to the end");
            assert!(got.contains_key(&format!("generic:{id}")));
        } else {
            let n = got.get(&format!("/bot1:x/sendMessage:{chat}")).copied().unwrap_or(0);
            match state.as_str() {
                "sent" => assert_eq!(n, 1, "{chat} sent once"),
                "uncertain" => {
                    assert!(n <= 1, "{chat} was not sent twice");
                    uncertain += 1;
                }
                other => panic!("unexpected state {other}"),
            }
        }
    }
    assert!(uncertain <= 8, "at most one claim's worth is uncertain: {uncertain}");
    let per_group: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT group_id) FROM deliveries").fetch_one(&pool).await.unwrap();
    assert_eq!(per_group, 120);

    // SIGTERM: in-flight sends finish and are recorded before the process exits.
    for i in 60..70 {
        api(
            &client,
            &base,
            &key,
            "/v1/groups",
            json!({"platform": "telegram", "external_id": format!("telegram-{i}"),
            "name": format!("g{i}"), "tier": "vip"}),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sending: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE state = 'sending'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if sending > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the new groups were not picked up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SAFETY: sends SIGTERM to the child we started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let status = crate::helpers::wait_exit(&mut server).await;
    assert!(status.success(), "graceful exit: {status:?}");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE state = 'sending'").fetch_one(&pool).await.unwrap();
    assert_eq!(left, 0, "nothing is left claimed after a graceful shutdown");
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE state IN ('failed', 'uncertain') AND group_id IN
        (SELECT id FROM groups WHERE external_id >= 'telegram-60' AND external_id < 'telegram-7')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failed, 0, "the sends in flight at SIGTERM finished");
}

#[tokio::test]
async fn shequn_worker_runs_the_scheduler_and_senders_without_the_api() {
    let slow = Slow::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = format!("http://{}", listener.local_addr().unwrap());
    let platform = axum::Router::new().fallback(slow_platform).with_state(slow.clone());
    tokio::spawn(async move { axum::serve(listener, platform).await.unwrap() });
    let (pool, url) = fresh_database().await;
    // The API in this process (no background work), the worker as a separate process.
    let app = crate::helpers::TestApp::spawn_on(pool.clone()).await;
    app.post(
        "/v1/connections",
        json!({"platform": "telegram", "name": "tg",
        "credentials": {"bot_token": "1:x", "secret_token": "s"}, "settings": {"api_base_url": fake}}),
    )
    .await;
    let content =
        app.post("/v1/contents", json!({"name": "hi", "kind": "text", "text": "hi {{group.name}}"})).await.id();
    app.post(
        "/v1/sop-plans",
        json!({"name": "welcome", "target": {"tier": "vip"},
        "steps": [{"content_id": content, "timing": {"kind": "after_group_created", "minutes": 0}}]}),
    )
    .await;
    app.post("/v1/groups", json!({"platform": "telegram", "external_id": "-77", "name": "g", "tier": "vip"})).await;
    let port = free_port();
    let mut worker = crate::helpers::spawn_command(&["worker"], &url, port, ENV);
    let deadline = Instant::now() + Duration::from_secs(30);
    while slow.got.lock().unwrap().get("/bot1:x/sendMessage:-77").is_none() {
        assert!(Instant::now() < deadline, "the worker did not send");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_err(), "a worker serves no API");
    // SAFETY: sends SIGTERM to the child we started.
    unsafe { libc::kill(worker.id() as i32, libc::SIGTERM) };
    assert!(crate::helpers::wait_exit(&mut worker).await.success());
    let (state, error): (String, Option<String>) =
        sqlx::query_as("SELECT state, last_error FROM deliveries").fetch_one(&pool).await.unwrap();
    assert_eq!(state, "sent", "{error:?}");
}
