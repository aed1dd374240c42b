//! The real binary killed with SIGKILL in the middle of a webhook burst, then
//! restarted: every request that was answered 2xx ends up as exactly one
//! event; nothing acknowledged is lost, nothing is counted twice.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;
use shequn::audit::Actor;

use crate::helpers::{free_port, fresh_database, spawn_binary, wait_ready};

fn spawn(url: &str, port: u16) -> std::process::Child {
    spawn_binary(url, port, &[("SHEQUN__WORKERS__INBOX_BATCH_SIZE", "20")])
}

#[tokio::test]
async fn a_sigkill_mid_burst_loses_no_acknowledged_webhook() {
    let (pool, url) = fresh_database().await;
    let nw = shequn::workspaces::service::create_workspace(&pool, "crash", "UTC", Actor::System).await.unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = spawn(&url, port);
    wait_ready(&client, &base).await;
    let conn: serde_json::Value = client
        .post(format!("{base}/v1/connections"))
        .bearer_auth(&nw.owner_key.key)
        .json(&json!({"platform": "telegram", "credentials": {"bot_token": "1:x", "secret_token": "s"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook = format!("{base}{}", conn["webhook_url"].as_str().unwrap());
    let now = chrono::Utc::now().timestamp();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..400 {
        let (client, hook, acked, gate) = (client.clone(), hook.clone(), acked.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let update = json!({"update_id": i, "message": {"message_id": i, "date": now - 5,
                "chat": {"id": -100, "type": "supergroup", "title": "g"}, "from": {"id": 1000 + i % 50, "first_name": "m"}, "text": "hi"}});
            let res = client.post(&hook).header("x-telegram-bot-api-secret-token", "s").json(&update).send().await;
            let ok = res.map(|r| r.status().is_success()).unwrap_or(false);
            if ok {
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (i, ok)
        }));
    }
    // SIGKILL while requests are arriving and the processor is running.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 120 {
        assert!(Instant::now() < deadline, "requests are not being answered");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let mut acknowledged = BTreeSet::new();
    for t in tasks {
        let (i, ok) = t.await.unwrap();
        if ok {
            acknowledged.insert(i as i64);
        }
    }
    assert!(acknowledged.len() >= 120 && acknowledged.len() < 400, "the kill came mid-burst: {}", acknowledged.len());
    let mut server = spawn(&url, port);
    wait_ready(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE status = 'received'").fetch_one(&pool).await.unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the restarted processor did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT properties FROM events WHERE type = 'message_sent'").fetch_all(&pool).await.unwrap();
    let ids: Vec<i64> = stored.iter().map(|p| p["message_id"].as_i64().unwrap()).collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "an event was stored twice");
    let lost: Vec<&i64> = acknowledged.difference(&unique).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    server.kill().unwrap();
    let _ = server.wait();
}
