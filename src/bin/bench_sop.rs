//! `shequn-bench sop [--groups N] [--runs N] [--latency-ms N]`: 10,000 groups with a daily SOP step due
//! at the same minute, a local fake platform that accepts everything, and
//! the real release server(s) with rate limits off. Reports the time from
//! the slot until every delivery is `sent`, p50/p99 lateness, and the same
//! with two server instances sharing the database (checking that no slot
//! was sent twice).
//!
//! Diagnostic switch (never for recorded figures): `BENCH_TICK=<ms>` sets the
//! servers' `delivery.tick_millis` (default 1000); `BENCH_KEEP_DB=1` keeps each run's
//! database (with `DATABASE_URL`, to read the deliveries' and attempts' timestamps).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{Timelike, Utc};
use serde_json::json;
use shequn::audit::Actor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;

/// One measured run.
pub struct Run {
    pub instances: usize,
    pub seconds_to_all_sent: f64,
    pub p50_lateness_ms: f64,
    pub p99_lateness_ms: f64,
    pub plan_create_ms: f64,
    pub duplicates: i64,
    /// When the scheduler had created the last delivery, after the slot.
    pub seconds_to_all_created: f64,
}

/// A platform that accepts everything, answering after `latency` (0: at once;
/// real chat platforms answer in tens to hundreds of milliseconds).
async fn fake_platform(latency: Duration) -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = axum::Router::new().fallback(move || {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::Relaxed);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            axum::Json(json!({"ok": true, "result": {"message_id": 1}}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, count))
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let res = client.post(format!("{base}{path}")).bearer_auth(key).json(&body).send().await?;
    let status = res.status();
    let v: serde_json::Value = res.json().await?;
    if !status.is_success() {
        bail!("{path}: {status} {v}");
    }
    Ok(v)
}

/// Sets up a fresh database with `groups` groups, starts `instances` servers, waits for the slot and measures.
pub async fn run(
    admin: &PgConnectOptions,
    admin_url: &str,
    groups: usize,
    instances: usize,
    latency: Duration,
) -> anyhow::Result<Run> {
    let name = format!("shequn_bench_sop_{}_{instances}", std::process::id());
    let mut c = sqlx::PgConnection::connect_with(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let url = super::database_url(admin_url, &name);
    let pool = PgPoolOptions::new().max_connections(4).connect_with(admin.clone().database(&name)).await?;
    shequn::db::migrate(&pool).await?;
    let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "UTC", Actor::Cli).await?;
    let key = nw.owner_key.key.clone();
    let (fake, received) = fake_platform(latency).await?;
    let env = [
        ("SHEQUN__DELIVERY__RATE_LIMITS", "false".to_owned()),
        ("SHEQUN__DELIVERY__CONCURRENCY", "64".to_owned()),
        ("SHEQUN__DELIVERY__TICK_MILLIS", std::env::var("BENCH_TICK").unwrap_or("1000".into())),
        ("SHEQUN__DATABASE__MAX_CONNECTIONS", "16".to_owned()),
    ];
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(super::start_server_with(&url, &env).await?);
    }
    let base = servers[0].base.clone();
    let client = reqwest::Client::new();
    post(
        &client,
        &base,
        &key,
        "/v1/connections",
        json!({"platform": "telegram", "name": "tg",
        "credentials": {"bot_token": "1:bench", "secret_token": "s"}, "settings": {"api_base_url": fake}}),
    )
    .await?;
    sqlx::query(
        "INSERT INTO groups (workspace_id, id, platform, external_id, name, tier)
         SELECT $1, gen_random_uuid(), 'telegram', '-100' || i, 'group ' || i, 'vip' FROM generate_series(1, $2) i",
    )
    .bind(nw.workspace.id)
    .bind(groups as i64)
    .execute(&pool)
    .await?;
    let content = post(
        &client,
        &base,
        &key,
        "/v1/contents",
        json!({"name": "check-in", "kind": "text",
        "text": "{{group.name}} 的家人们早上好，今天签到了吗？"}),
    )
    .await?;
    // The slot: the first whole minute at least 40 s away.
    let now = Utc::now();
    let slot =
        (now + chrono::Duration::seconds(100)).with_second(0).and_then(|t| t.with_nanosecond(0)).context("slot")?;
    let at = format!("{:02}:{:02}", slot.hour(), slot.minute());
    let started = Instant::now();
    post(
        &client,
        &base,
        &key,
        "/v1/sop-plans",
        json!({"name": "VIP daily", "target": {"tier": "vip"},
        "steps": [{"content_id": content["id"], "timing": {"kind": "daily", "at": at}}]}),
    )
    .await?;
    let plan_create_ms = started.elapsed().as_secs_f64() * 1000.0;
    let wait = (slot - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let t0 = Instant::now();
    loop {
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE state = 'sent'").fetch_one(&pool).await?;
        if sent as usize >= groups {
            break;
        }
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("only {sent} of {groups} sent after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (last_sent, last_created): (chrono::DateTime<Utc>, chrono::DateTime<Utc>) =
        sqlx::query_as("SELECT max(sent_at), max(created_at) FROM deliveries").fetch_one(&pool).await?;
    let (p50, p99): (f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lateness_ms)::float8,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY lateness_ms)::float8 FROM deliveries",
    )
    .fetch_one(&pool)
    .await?;
    let (rows, slots): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (group_id, slot_at)) FROM deliveries").fetch_one(&pool).await?;
    let duplicates = (rows - slots) + (received.load(Ordering::Relaxed) as i64 - groups as i64);
    drop(servers);
    pool.close().await;
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
    }
    Ok(Run {
        instances,
        seconds_to_all_sent: (last_sent - slot).num_milliseconds() as f64 / 1000.0,
        p50_lateness_ms: p50,
        p99_lateness_ms: p99,
        plan_create_ms,
        duplicates,
        seconds_to_all_created: (last_created - slot).num_milliseconds() as f64 / 1000.0,
    })
}
