//! `shequn-bench flash [--members N] [--runs N]`: the conversion scene's
//! speed targets against the real release server on a real PostgreSQL.
//!
//! 1. The 10:00 burst: 5,000 members each ask for one unit of one of 10
//!    items (10 units each) through `POST /v1/flash-sales/{id}/items/{p}/
//!    reservations` from 200 connections: requests/s and latency; then
//!    exactly 100 reservations, every item's 10 units taken (a false
//!    sell-out would leave one short), `reserved + sold <= stock` on every
//!    row. Beside it, in the same run, a plain SQL client doing the same
//!    guarded decrements from 32 connections: the machine's limit.
//! 2. Coupon claims: a template with a total of 10,000 and 20,000 members
//!    claiming through `POST /v1/coupon-templates/{id}/claims` from 64
//!    connections: claims/s; exactly 10,000 coupons.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::Utc;
use serde_json::json;
use shequn::audit::Actor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use super::checkin::{fire_counting, fire_counting_warm, population};

/// Runs both phases once.
pub async fn run(admin: &PgConnectOptions, admin_url: &str, members: usize) -> anyhow::Result<()> {
    let name = format!("shequn_bench_flash_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect_with(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let url = super::database_url(admin_url, &name);
    let pool = PgPoolOptions::new().max_connections(40).connect_with(admin.clone().database(&name)).await?;
    shequn::db::migrate(&pool).await?;
    let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "Asia/Shanghai", Actor::Cli).await?;
    let key = nw.owner_key.key.clone();
    // The server's own pool size (20) unless `BENCH_SERVER_CONNECTIONS` (a
    // diagnostic) says otherwise; see BENCHMARKS.md for 32 against 20.
    let mut env = vec![("SHEQUN__WORKERS__CAMPAIGN_JOBS", "false".to_owned())];
    if let Ok(n) = std::env::var("BENCH_SERVER_CONNECTIONS") {
        env.push(("SHEQUN__DATABASE__MAX_CONNECTIONS", n));
    }
    let server = super::start_server_with(&url, &env).await?;
    let base = server.base.clone();
    let r = async {
        population(&base, &key, members, 50).await?;
        burst(&pool, &base, &key).await?;
        claims(&pool, &base, &key).await
    }
    .await;
    drop(server);
    pool.close().await;
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
    }
    r
}

/// POSTs `body` with the key; the answer, or why not.
pub(super) async fn post(
    base: &str,
    key: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let r = reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(key).json(&body).send().await?;
    let status = r.status();
    let v: serde_json::Value = r.json().await?;
    if !status.is_success() {
        bail!("{path}: {status} {v}");
    }
    Ok(v)
}

async fn members(pool: &PgPool, n: i64) -> anyhow::Result<Vec<uuid::Uuid>> {
    Ok(sqlx::query_scalar("SELECT id FROM members ORDER BY id LIMIT $1").bind(n).fetch_all(pool).await?)
}

async fn burst(pool: &PgPool, base: &str, key: &str) -> anyhow::Result<()> {
    let campaign =
        post(base, key, "/v1/campaigns", json!({"name": "10点福利", "scene": "conversion", "kind": "flash_sale"}))
            .await?;
    let cid = campaign["id"].as_str().context("campaign id")?.to_owned();
    let buyers = members(pool, 5000).await?;
    if buyers.len() < 5000 {
        bail!("need 5,000 members, have {}", buyers.len());
    }
    // Twice, each on a sale of its own: connections opened by the burst's
    // first requests, then connections already open (a shop's pool to Shequn).
    for (n, warm) in [(1, false), (2, true)] {
        one_burst(pool, base, key, &cid, &buyers, warm, n).await?;
    }
    plain_sql(pool).await
}

async fn one_burst(
    pool: &PgPool,
    base: &str,
    key: &str,
    cid: &str,
    buyers: &[uuid::Uuid],
    warm: bool,
    n: usize,
) -> anyhow::Result<()> {
    let items: Vec<_> = (0..10)
        .map(|i| {
            json!({"product_id": format!("sku-{i}"), "name": format!("item {i}"), "list_price": 9900,
                        "sale_price": 5900, "stock": 10, "per_member_limit": 1})
        })
        .collect();
    let now = Utc::now();
    let sale = post(base, key, "/v1/flash-sales", json!({"campaign_id": cid, "items": items,
        "schedule": {"kind": "once", "starts_at": now - chrono::Duration::minutes(1), "ends_at": now + chrono::Duration::hours(1)}})).await?;
    let sid = sale["id"].as_str().context("sale id")?.to_owned();
    let requests = buyers
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                reqwest::Method::POST,
                format!("{base}/v1/flash-sales/{sid}/items/sku-{}/reservations", i % 10),
                Some(json!({"member_id": m, "quantity": 1})),
            )
        })
        .collect();
    super::checkpoint(pool).await?;
    let warm_url = format!("{base}/v1/flash-sales/{sid}");
    let t = fire_counting_warm(key, requests, 200, warm.then_some(warm_url.as_str())).await?;
    println!(
        "1.{n} 10:00 burst ({}): 5,000 reservation requests for 10 items of 10 units from 200 connections: \
         {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms; answers {:?}",
        if warm { "connections already open" } else { "each connection opened by its first request" },
        t.rate,
        t.p50_ms,
        t.p99_ms,
        t.statuses
    );
    let (reservations, short_items, broken): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM flash_sale_reservations WHERE sale_id = $1::uuid),
                (SELECT count(*) FROM flash_sale_stock WHERE sale_id = $1::uuid AND reserved + sold < stock),
                (SELECT count(*) FROM flash_sale_stock WHERE reserved + sold > stock)",
    )
    .bind(&sid)
    .fetch_one(pool)
    .await?;
    println!("   reservations: {reservations}; items left with a unit (a false sell-out): {short_items}; oversold rows: {broken}");
    if reservations != 100 || short_items != 0 || broken != 0 || t.statuses.get(&201) != Some(&100) {
        bail!("the burst is not exact");
    }
    Ok(())
}

/// The same guarded decrements from a plain SQL client: 5,000 updates of 10
/// rows (10 units each) from 32 connections.
async fn plain_sql(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CREATE TABLE bench_stock (id int PRIMARY KEY, stock int NOT NULL, reserved int NOT NULL DEFAULT 0)")
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO bench_stock (id, stock) SELECT g, 10 FROM generate_series(0, 9) g").execute(pool).await?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (pool, next) = (pool.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut won = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 5000 {
                    return Ok::<_, sqlx::Error>(won);
                }
                let r = sqlx::query(
                    "UPDATE bench_stock SET reserved = reserved + 1 WHERE id = $1 AND reserved + 1 <= stock",
                )
                .bind((i % 10) as i32)
                .execute(&pool)
                .await?;
                won += r.rows_affected() as usize;
            }
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("   beside it, plain SQL guarded decrements (32 connections): {:.0}/s, {won} taken", 5000.0 / secs);
    sqlx::query("DROP TABLE bench_stock").execute(pool).await?;
    Ok(())
}

async fn claims(pool: &PgPool, base: &str, key: &str) -> anyhow::Result<()> {
    let t = post(base, key, "/v1/coupon-templates", json!({"name": "满100减20", "total": 10000, "per_member_limit": 1,
        "discount": {"kind": "threshold", "min_spend": 10000, "amount": 2000}, "validity": {"kind": "after_claim", "days": 7}})).await?;
    let tid = t["id"].as_str().context("template id")?.to_owned();
    let claimers = members(pool, 20_000).await?;
    let requests = claimers
        .iter()
        .map(|m| {
            (reqwest::Method::POST, format!("{base}/v1/coupon-templates/{tid}/claims"), Some(json!({"member_id": m})))
        })
        .collect();
    super::checkpoint(pool).await?;
    let r = fire_counting(key, requests, 64).await?;
    println!(
        "2. coupon claims: {} claimers of a total of 10,000 from 64 connections: {:.0} claims/s, p50 {:.1} ms, p99 {:.1} ms; answers {:?}",
        claimers.len(),
        r.rate,
        r.p50_ms,
        r.p99_ms,
        r.statuses
    );
    let coupons: i64 = sqlx::query_scalar("SELECT count(*) FROM coupons").fetch_one(pool).await?;
    println!("   coupons stored: {coupons}");
    if coupons != 10_000.min(claimers.len() as i64) {
        bail!("the claims are not exact");
    }
    Ok(())
}
