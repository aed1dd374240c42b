//! The real binary killed with SIGKILL around an outbound webhook: between
//! the commit of a message and its send (delivered once after a restart),
//! and while the receiver holds the request (sent again after the lease,
//! with the same `webhook-id`, for the receiver to dedupe).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shequn::audit::Actor;

use crate::helpers::{free_port, fresh_database, spawn_binary, wait_ready};
use crate::outbound::Receiver;

fn spawn(url: &str, port: u16, workers: bool) -> std::process::Child {
    spawn_binary(
        url,
        port,
        &[
            ("SHEQUN__WEBHOOKS__WORKERS", if workers { "true" } else { "false" }),
            ("SHEQUN__WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS", "true"),
            ("SHEQUN__WEBHOOKS__REQUEST_TIMEOUT_SECS", "2"),
            ("SHEQUN__WEBHOOKS__LEASE_SECS", "3"),
            ("SHEQUN__WEBHOOKS__TICK_MILLIS", "100"),
        ],
    )
}

async fn post(client: &reqwest::Client, url: String, key: &str, body: Value) -> Value {
    let r = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

async fn wait_for(rx: &Receiver, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while rx.got().len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} requests arrived", rx.got().len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status(pool: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SELECT status FROM webhook_dispatches").fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_message_committed_before_a_sigkill_is_delivered_once_after_the_restart() {
    let (pool, url) = fresh_database().await;
    let nw = shequn::workspaces::service::create_workspace(&pool, "crash", "UTC", Actor::System).await.unwrap();
    let key = nw.owner_key.key;
    let rx = Receiver::start().await;
    let (port, client) = (free_port(), reqwest::Client::new());
    let base = format!("http://127.0.0.1:{port}");
    // No webhook workers: the message is committed and not sent.
    let mut server = spawn(&url, port, false);
    wait_ready(&client, &base).await;
    let e =
        post(&client, format!("{base}/v1/webhook-endpoints"), &key, json!({"url": rx.url("/"), "event_types": ["*"]}))
            .await;
    let id = e["id"].as_str().unwrap();
    let sent = post(&client, format!("{base}/v1/webhook-endpoints/{id}/test"), &key, json!({})).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(rx.got().is_empty());
    assert_eq!(status(&pool).await, "pending");

    let mut server = spawn(&url, port, true);
    wait_for(&rx, 1).await;
    // Nothing more comes: it was sent once and recorded.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let got = rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("webhook-id"), sent["message_id"].as_str().unwrap());
    assert_eq!(status(&pool).await, "delivered");
}

#[tokio::test]
async fn a_sigkill_while_the_receiver_holds_the_request_sends_it_again_with_the_same_id() {
    let (pool, url) = fresh_database().await;
    let nw = shequn::workspaces::service::create_workspace(&pool, "crash", "UTC", Actor::System).await.unwrap();
    let key = nw.owner_key.key;
    let rx = Receiver::start().await;
    rx.then(200, 1500, vec![]);
    let (port, client) = (free_port(), reqwest::Client::new());
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn(&url, port, true);
    wait_ready(&client, &base).await;
    let e =
        post(&client, format!("{base}/v1/webhook-endpoints"), &key, json!({"url": rx.url("/"), "event_types": ["*"]}))
            .await;
    let id = e["id"].as_str().unwrap();
    post(&client, format!("{base}/v1/webhook-endpoints/{id}/test"), &key, json!({})).await;
    wait_for(&rx, 1).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(status(&pool).await, "sending");

    let mut server = spawn(&url, port, true);
    wait_for(&rx, 2).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&pool).await != "delivered" {
        assert!(Instant::now() < deadline, "not recorded after the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let got = rx.got();
    assert_eq!(got.len(), 2, "at least once: exactly one more after the lease ran out");
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
}
