//! The real binary killed with SIGKILL in the middle of a 10:00 burst of
//! reservations: after the restart no unit is oversold and none is
//! stranded — the stock's `reserved` is exactly the units of the
//! reservations still holding, and once their minutes pass the expiry job
//! gives every unpaid unit back.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};
use shequn::audit::Actor;

use crate::helpers::{free_port, fresh_database, spawn_binary, wait_ready};

fn spawn(url: &str, port: u16) -> std::process::Child {
    spawn_binary(
        url,
        port,
        &[("SHEQUN__WORKERS__CAMPAIGN_JOBS", "true"), ("SHEQUN__WORKERS__CAMPAIGN_JOBS_INTERVAL_SECS", "1")],
    )
}

async fn post(client: &reqwest::Client, url: String, key: &str, body: Value) -> Value {
    let r = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

/// `(stock, reserved, sold, units held by reservations, units of confirmed ones)`.
async fn books(pool: &sqlx::PgPool) -> (i32, i32, i32, i64, i64) {
    sqlx::query_as(
        "SELECT s.stock, s.reserved, s.sold,
                (SELECT COALESCE(sum(quantity), 0) FROM flash_sale_reservations WHERE status = 'reserved')::bigint,
                (SELECT COALESCE(sum(quantity), 0) FROM flash_sale_reservations WHERE status = 'confirmed')::bigint
         FROM flash_sale_stock s",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_sigkill_during_a_reservation_burst_strands_and_oversells_nothing() {
    let (pool, url) = fresh_database().await;
    let nw =
        shequn::workspaces::service::create_workspace(&pool, "crash", "Asia/Shanghai", Actor::System).await.unwrap();
    let key = nw.owner_key.key;
    let (port, client) = (free_port(), reqwest::Client::new());
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn(&url, port);
    wait_ready(&client, &base).await;
    let mut members = Vec::new();
    for i in 0..80 {
        let m = post(&client, format!("{base}/v1/members"), &key, json!({"display_name": format!("m{i}")})).await;
        members.push(m["id"].as_str().unwrap().to_owned());
    }
    let c = post(
        &client,
        format!("{base}/v1/campaigns"),
        &key,
        json!({"name": "f", "scene": "conversion", "kind": "flash_sale"}),
    )
    .await;
    let now = chrono::Utc::now();
    let sale = post(
        &client,
        format!("{base}/v1/flash-sales"),
        &key,
        json!({"campaign_id": c["id"], "reservation_minutes": 1,
               "schedule": {"kind": "once", "starts_at": now - chrono::Duration::minutes(1), "ends_at": now + chrono::Duration::hours(1)},
               "items": [{"product_id": "p", "name": "n", "list_price": 100, "sale_price": 50, "stock": 30, "per_member_limit": 1}]}),
    )
    .await;
    let sid = sale["id"].as_str().unwrap().to_owned();
    // The first buyer opens the run; then the burst, and the kill in the middle of it.
    let url0 = format!("{base}/v1/flash-sales/{sid}/items/p/reservations");
    post(&client, url0, &key, json!({"member_id": members[0]})).await;
    let burst = join_all(members[1..].iter().map(|m| {
        let (client, url, key) =
            (client.clone(), format!("{base}/v1/flash-sales/{sid}/items/p/reservations"), key.clone());
        let body = json!({"member_id": m});
        async move { client.post(url).bearer_auth(key).json(&body).send().await.map(|r| r.status().as_u16()) }
    }));
    let kill = async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        server.kill().unwrap();
    };
    let (answers, ()) = tokio::join!(burst, kill);
    let _ = server.wait();
    let created = 1 + answers.iter().filter(|a| matches!(a, Ok(201))).count() as i64;
    let cut = answers.iter().filter(|a| a.is_err()).count();
    eprintln!("burst: {created} reservations answered, {cut} requests cut by the kill");
    assert!(cut > 0, "the kill came after the burst: nothing was cut");
    let (stock, reserved, sold, held, confirmed) = books(&pool).await;
    assert!(reserved + sold <= stock, "oversold: {reserved} + {sold} > {stock}");
    assert_eq!((reserved as i64, sold as i64), (held, confirmed), "the stock row is exactly its reservations");
    assert!(held >= created, "every 201 is a stored reservation: {held} < {created}");

    // Restarted, the reservations' minute passes: every unit comes back.
    let mut server = spawn(&url, port);
    wait_ready(&client, &base).await;
    sqlx::query(
        "UPDATE flash_sale_reservations SET expires_at = now() - interval '1 second' WHERE status = 'reserved'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (stock, reserved, sold, held, _) = books(&pool).await;
        if reserved == 0 && held == 0 {
            assert_eq!((stock, sold), (30, 0));
            break;
        }
        assert!(Instant::now() < deadline, "units still held after the expiry: {reserved} reserved, {held} held");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = client.get(format!("{base}/v1/flash-sales/{sid}")).bearer_auth(&key).send().await.unwrap();
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(shown["items"][0]["available"], 30);
    server.kill().unwrap();
    let _ = server.wait();
}
