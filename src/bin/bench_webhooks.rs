//! `shequn-bench webhooks [--events N]`: N `member.joined_group` messages
//! (default 10,000), emitted by join events posted through the API in
//! batches of 1,000, delivered by the real release server(s) to receivers
//! in this process that answer at once. Four settings (`BENCH_ONLY=<n>`
//! runs the n-th alone): one endpoint and one instance; four endpoints; the
//! same four and a fifth that answers after 2 s (the time until the four
//! fast ones have everything, and how far the slow one got); one endpoint
//! and two instances (no message received twice). Lag is from the
//! message's creation (the storing transaction's clock time) to the
//! request's arrival.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde_json::json;
use shequn::audit::Actor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;

/// What the receivers got: (path, webhook-id, arrival).
type Log = Arc<Mutex<Vec<(String, String, DateTime<Utc>)>>>;

async fn receivers() -> anyhow::Result<(String, Log)> {
    let log: Log = Arc::default();
    let l = log.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
        let l = l.clone();
        async move {
            let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            if uri.path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            l.lock().map(|mut v| v.push((uri.path().to_owned(), id, Utc::now()))).ok();
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, log))
}

/// One measured run.
pub struct Run {
    pub label: String,
    pub post_seconds: f64,
    /// From the first batch posted until the fast endpoints had every message.
    pub seconds_to_all: f64,
    pub p50_lag_ms: f64,
    pub p99_lag_ms: f64,
    /// Requests received more than once (same endpoint and id).
    pub duplicates: usize,
    /// Requests the slow endpoint had got by then.
    pub slow_received: usize,
}

/// Runs one setting: `endpoints` fast endpoints (plus a slow one when
/// `slow`), `instances` servers.
pub async fn run(
    admin: &PgConnectOptions,
    admin_url: &str,
    messages: usize,
    fast: usize,
    slow: bool,
    instances: usize,
) -> anyhow::Result<Run> {
    let name = format!("shequn_bench_wh_{}_{fast}_{instances}", std::process::id());
    let mut c = sqlx::PgConnection::connect_with(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let url = super::database_url(admin_url, &name);
    let pool = PgPoolOptions::new().max_connections(4).connect_with(admin.clone().database(&name)).await?;
    shequn::db::migrate(&pool).await?;
    let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "UTC", Actor::Cli).await?;
    let key = nw.owner_key.key.clone();
    let (rx, log) = receivers().await?;
    let env = [
        ("SHEQUN__WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS", "true".to_owned()),
        ("SHEQUN__DATABASE__MAX_CONNECTIONS", "16".to_owned()),
    ];
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(super::start_server_with(&url, &env).await?);
    }
    let base = servers[0].base.clone();
    let client = reqwest::Client::new();
    let mut urls: Vec<String> = (0..fast).map(|i| format!("{rx}/fast{i}")).collect();
    if slow {
        urls.push(format!("{rx}/slow"));
    }
    for u in &urls {
        let r = client
            .post(format!("{base}/v1/webhook-endpoints"))
            .bearer_auth(&key)
            .json(&json!({"url": u, "event_types": ["member.joined_group"]}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("creating an endpoint: {}", r.status());
        }
    }
    let started = Instant::now();
    for b in 0..messages.div_ceil(1000) {
        let n = 1000.min(messages - b * 1000);
        let items: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let k = b * 1000 + i;
                json!({"id": format!("j{k}"), "type": "member_joined", "occurred_at": "2026-11-20T01:00:00Z",
                       "member": {"platform": "telegram", "external_id": format!("u{k}")},
                       "group": {"platform": "telegram", "external_id": format!("-100{}", k % 100)}})
            })
            .collect();
        let r = client.post(format!("{base}/v1/events")).bearer_auth(&key).json(&items).send().await?;
        if !r.status().is_success() {
            bail!("batch {b}: {}", r.status());
        }
    }
    let post_seconds = started.elapsed().as_secs_f64();
    let want = messages * fast;
    loop {
        let got = log.lock().map(|v| v.iter().filter(|(p, _, _)| p != "/slow").count()).unwrap_or(0);
        if got >= want {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("only {got} of {want} delivered after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds_to_all = started.elapsed().as_secs_f64();
    // Wait a moment for strays (a duplicate would arrive now).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = log.lock().map(|v| v.clone()).unwrap_or_default();
    let created: HashMap<String, DateTime<Utc>> = {
        let rows: Vec<(uuid::Uuid, DateTime<Utc>)> =
            sqlx::query_as("SELECT id, created_at FROM webhook_messages").fetch_all(&pool).await?;
        rows.into_iter().map(|(id, at)| (shequn::webhooks::model::MessageId(id).to_string(), at)).collect()
    };
    let mut lags: Vec<f64> = got
        .iter()
        .filter(|(p, _, _)| p != "/slow")
        .filter_map(|(_, id, at)| created.get(id).map(|c| (*at - *c).num_microseconds().unwrap_or(0) as f64 / 1000.0))
        .collect();
    lags.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| lags.get(((lags.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for (p, id, _) in &got {
        *seen.entry((p, id)).or_default() += 1;
    }
    let duplicates = seen.values().map(|n| n - 1).sum();
    let slow_received = got.iter().filter(|(p, _, _)| p == "/slow").count();
    drop(servers);
    pool.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
    let label =
        format!("{fast} fast endpoint(s){}, {instances} instance(s)", if slow { " + 1 slow (2 s)" } else { "" });
    Ok(Run {
        label,
        post_seconds,
        seconds_to_all,
        p50_lag_ms: pct(0.5),
        p99_lag_ms: pct(0.99),
        duplicates,
        slow_received,
    })
}

/// The three settings, `runs` times each.
pub async fn bench(admin: &PgConnectOptions, admin_url: &str, messages: usize, runs: usize) -> anyhow::Result<()> {
    println!(
        "machine: {} cores; messages: {messages}; runs per setting: {runs}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let only: Option<usize> = std::env::var("BENCH_ONLY").ok().and_then(|v| v.parse().ok());
    let settings = [(1, false, 1), (4, false, 1), (4, true, 1), (1, false, 2)];
    for (i, (fast, slow, instances)) in settings.into_iter().enumerate() {
        if only.is_some_and(|o| o != i + 1) {
            continue;
        }
        for _ in 0..runs {
            let r = run(admin, admin_url, messages, fast, slow, instances).await.context("webhook run")?;
            println!(
                "{}: posted in {:.2} s; all {} delivered to the fast endpoint(s) {:.2} s after the first post; \
                 lag p50 {:.0} ms, p99 {:.0} ms; duplicates {}{}",
                r.label,
                r.post_seconds,
                messages,
                r.seconds_to_all,
                r.p50_lag_ms,
                r.p99_lag_ms,
                r.duplicates,
                if slow { format!("; the slow endpoint had {} by then", r.slow_received) } else { String::new() },
            );
            if r.duplicates != 0 {
                bail!("{} duplicate requests", r.duplicates);
            }
        }
    }
    Ok(())
}
