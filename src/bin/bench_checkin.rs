//! `shequn-bench checkin [--members N] [--groups N] [--runs N]`: the
//! activity scene's speed targets, each against the real release server or
//! the library on a real PostgreSQL.
//!
//! 1. Morning burst: N members (default 10,000) of G groups (default 50)
//!    check in through `POST /v1/campaigns/{id}/check-ins` from 64
//!    connections; check-ins/s and latency, then every credit is checked
//!    (one check-in and one ledger entry per member, balances equal to
//!    their ledgers).
//! 2. `GET /v1/members/{id}/points` with 1,000,000 ledger entries in the
//!    workspace (100 per member for 10,000 members, plus the burst's):
//!    latency over 10,000 reads from 16 connections.
//! 3. The nightly expiry of 100,000 lots (10 per member), all due, by
//!    the expiry run (`points::expiry::run_once`), timed.
//! 4. Tier rules over 100,000 members (with orders and active days in the
//!    rollups for a fifth of them): one evaluation that applies its
//!    changes (`tier_rules::service::evaluate`), timed.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::Utc;
use serde_json::json;
use shequn::audit::Actor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

/// Latency figures of one phase.
pub(super) struct Timed {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Answers by status code.
    pub statuses: std::collections::BTreeMap<u16, usize>,
}

/// Sends `(method, url, body)` requests from `concurrency` connections;
/// every answer must be `expect`.
async fn fire(
    key: &str,
    requests: Vec<(reqwest::Method, String, Option<serde_json::Value>)>,
    concurrency: usize,
    expect: u16,
) -> anyhow::Result<Timed> {
    let t = fire_counting(key, requests, concurrency).await?;
    if let Some((status, n)) = t.statuses.iter().find(|(s, _)| **s != expect) {
        bail!("{n} answers {status} (expected {expect})");
    }
    Ok(t)
}

/// Sends `(method, url, body)` requests from `concurrency` connections and
/// counts the answers by status.
pub(super) async fn fire_counting(
    key: &str,
    requests: Vec<(reqwest::Method, String, Option<serde_json::Value>)>,
    concurrency: usize,
) -> anyhow::Result<Timed> {
    fire_counting_warm(key, requests, concurrency, None).await
}

/// [`fire_counting`]; with `warm`, each connection first sends an untimed
/// `GET warm` (so it is open, as a client's connection pool would hold it)
/// and all start the timed requests together.
pub(super) async fn fire_counting_warm(
    key: &str,
    requests: Vec<(reqwest::Method, String, Option<serde_json::Value>)>,
    concurrency: usize,
    warm: Option<&str>,
) -> anyhow::Result<Timed> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    fire_with(client, key, requests, concurrency, warm).await
}

/// [`fire_counting_warm`] through `client` (e.g. one that does not follow redirects).
pub(super) async fn fire_with(
    client: reqwest::Client,
    key: &str,
    requests: Vec<(reqwest::Method, String, Option<serde_json::Value>)>,
    concurrency: usize,
    warm: Option<&str>,
) -> anyhow::Result<Timed> {
    let total = requests.len();
    let requests = Arc::new(requests);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ready = Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, requests, next, key) = (client.clone(), requests.clone(), next.clone(), key.to_owned());
        let (ready, warm) = (ready.clone(), warm.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            if let Some(url) = warm {
                client.get(url).bearer_auth(&key).send().await?.bytes().await?;
            }
            ready.wait().await;
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((method, url, body)) = requests.get(i) else { return Ok::<_, anyhow::Error>(lat) };
                let mut req = client.request(method.clone(), url).bearer_auth(&key);
                if let Some(b) = body {
                    req = req.json(b);
                }
                let t = Instant::now();
                let res = req.send().await?;
                let status = res.status().as_u16();
                let text = res.text().await?;
                if status >= 500 {
                    bail!("request {i}: {status} {text}");
                }
                lat.push((t.elapsed().as_secs_f64() * 1000.0, status));
            }
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    let mut statuses = std::collections::BTreeMap::new();
    for (_, s) in &all {
        *statuses.entry(*s).or_insert(0) += 1;
    }
    let mut ms: Vec<f64> = all.iter().map(|(l, _)| *l).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms.get(((ms.len() as f64 * p) as usize).min(ms.len().saturating_sub(1))).copied().unwrap_or(0.0);
    Ok(Timed { rate: total as f64 / secs, p50_ms: pct(0.5), p99_ms: pct(0.99), statuses })
}

/// Members and groups through the events API: member `i` joins group `i % groups`.
pub(super) async fn population(base: &str, key: &str, members: usize, groups: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for b in 0..members.div_ceil(1000) {
        let items: Vec<serde_json::Value> = (b * 1000..members.min(b * 1000 + 1000))
            .map(|i| {
                json!({"id": format!("join-{i}"), "type": "member_joined", "occurred_at": "2026-11-01T01:00:00Z",
                       "member": {"platform": "telegram", "external_id": format!("u{i}"), "name": format!("member {i}")},
                       "group": {"platform": "telegram", "external_id": format!("-100{}", i % groups)}})
            })
            .collect();
        let r = client.post(format!("{base}/v1/events")).bearer_auth(key).json(&items).send().await?;
        if !r.status().is_success() {
            bail!("population batch {b}: {}", r.status());
        }
    }
    Ok(())
}

/// Runs the four phases once.
pub async fn run(admin: &PgConnectOptions, admin_url: &str, members: usize, groups: usize) -> anyhow::Result<()> {
    let name = format!("shequn_bench_checkin_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect_with(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let url = super::database_url(admin_url, &name);
    let pool = PgPoolOptions::new().max_connections(8).connect_with(admin.clone().database(&name)).await?;
    shequn::db::migrate(&pool).await?;
    let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "Asia/Shanghai", Actor::Cli).await?;
    let ws = nw.workspace.id;
    let key = nw.owner_key.key.clone();
    // The server's own campaign jobs stay off: phases 3 and 4 time the
    // expiry run and one tier evaluation alone, not two racing each other.
    let env = [
        ("SHEQUN__DATABASE__MAX_CONNECTIONS", "32".to_owned()),
        ("SHEQUN__WORKERS__CAMPAIGN_JOBS", "false".to_owned()),
    ];
    let server = super::start_server_with(&url, &env).await?;
    let base = server.base.clone();
    let r = burst(&pool, &base, &key, ws, members, groups).await;
    let r = match r {
        Ok(()) => reads_expiry_tiers(&pool, &base, &key, ws).await,
        Err(e) => Err(e),
    };
    drop(server);
    pool.close().await;
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
    }
    r
}

async fn burst(
    pool: &PgPool,
    base: &str,
    key: &str,
    ws: shequn::ids::WorkspaceId,
    members: usize,
    groups: usize,
) -> anyhow::Result<()> {
    population(base, key, members, groups).await?;
    let client = reqwest::Client::new();
    let starts = Utc::now() - chrono::Duration::hours(1);
    let r = client
        .post(format!("{base}/v1/campaigns"))
        .bearer_auth(key)
        .json(&json!({"name": "morning check-in", "scene": "activity", "kind": "check_in", "starts_at": starts,
            "settings": {"points": 10, "streak_rewards": [{"day": 1, "points": 2}]}}))
        .send()
        .await?;
    let campaign: serde_json::Value = r.json().await?;
    let id = campaign["id"].as_str().context("campaign id")?.to_owned();
    client
        .post(format!("{base}/v1/campaigns/{id}/status"))
        .bearer_auth(key)
        .json(&json!({"status": "running"}))
        .send()
        .await?;
    // Each member with the group they joined.
    let pairs: Vec<(uuid::Uuid, uuid::Uuid)> =
        sqlx::query_as("SELECT member_id, group_id FROM memberships WHERE workspace_id = $1")
            .bind(ws)
            .fetch_all(pool)
            .await?;
    let requests = pairs
        .iter()
        .map(|(m, g)| {
            (
                reqwest::Method::POST,
                format!("{base}/v1/campaigns/{id}/check-ins"),
                Some(json!({"member_id": m, "group_id": g})),
            )
        })
        .collect();
    super::checkpoint(pool).await?;
    let t = fire(key, requests, 64, 201).await?;
    println!(
        "1. morning burst: {} check-ins of {} members in {groups} groups: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms (64 connections)",
        pairs.len(),
        members,
        t.rate,
        t.p50_ms,
        t.p99_ms
    );
    let (check_ins, entries, wrong): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM check_ins WHERE workspace_id = $1),
                (SELECT count(*) FROM points_ledger WHERE workspace_id = $1),
                (SELECT count(*) FROM points_accounts a WHERE workspace_id = $1 AND balance <>
                    (SELECT COALESCE(sum(delta), 0) FROM points_ledger l WHERE l.workspace_id = a.workspace_id
                       AND l.member_id = a.member_id) OR balance <> 12)",
    )
    .bind(ws)
    .fetch_one(pool)
    .await?;
    println!(
        "   check-ins stored: {check_ins}; ledger entries: {entries}; accounts off their ledger or not 12: {wrong}"
    );
    if check_ins != pairs.len() as i64 || entries != 2 * pairs.len() as i64 || wrong != 0 {
        bail!("the burst's credits are not exact");
    }
    Ok(())
}

async fn reads_expiry_tiers(pool: &PgPool, base: &str, key: &str, ws: shequn::ids::WorkspaceId) -> anyhow::Result<()> {
    // 2. A million entries: 100 earnings per member of 10,000 (lots never expire).
    let started = Instant::now();
    sqlx::query(
        "WITH m AS (SELECT id FROM members WHERE workspace_id = $1 ORDER BY id LIMIT 10000),
              e AS (INSERT INTO points_ledger (workspace_id, id, member_id, delta, balance_after, kind, source_type,
                        source_id, note, occurred_at)
                    SELECT $1, gen_random_uuid(), m.id, 5, 0, 'earn', 'rule', 'bench-' || m.id || '-' || g, '',
                           now() - g * interval '1 hour'
                    FROM m, generate_series(1, 100) g RETURNING id, member_id)
         INSERT INTO points_lots (workspace_id, id, member_id, points, remaining) SELECT $1, id, member_id, 5, 5 FROM e",
    )
    .bind(ws)
    .execute(pool)
    .await?;
    sqlx::query(
        "UPDATE points_accounts a SET balance = s.total FROM
           (SELECT member_id, sum(delta) AS total FROM points_ledger WHERE workspace_id = $1 GROUP BY member_id) s
         WHERE a.workspace_id = $1 AND a.member_id = s.member_id",
    )
    .bind(ws)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM points_ledger").fetch_one(pool).await?;
    println!("   (loaded {entries} ledger entries in {:.1} s)", started.elapsed().as_secs_f64());
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM members WHERE workspace_id = $1 ORDER BY id LIMIT 10000")
            .bind(ws)
            .fetch_all(pool)
            .await?;
    let requests = ids.iter().map(|m| (reqwest::Method::GET, format!("{base}/v1/members/{m}/points"), None)).collect();
    super::checkpoint(pool).await?;
    let t = fire(key, requests, 16, 200).await?;
    println!(
        "2. GET /v1/members/{{id}}/points with {entries} ledger entries: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms (16 connections)",
        t.rate, t.p50_ms, t.p99_ms
    );

    // 3. 100,000 lots due: 10 per member of 10,000.
    sqlx::query(
        "WITH m AS (SELECT id FROM members WHERE workspace_id = $1 ORDER BY id LIMIT 10000),
              e AS (INSERT INTO points_ledger (workspace_id, id, member_id, delta, balance_after, kind, source_type,
                        source_id, note, occurred_at, expires_at)
                    SELECT $1, gen_random_uuid(), m.id, 3, 0, 'earn', 'rule', 'due-' || m.id || '-' || g, '',
                           now() - interval '400 days', now() - interval '1 hour' - g * interval '1 minute'
                    FROM m, generate_series(1, 10) g RETURNING id, member_id, expires_at)
         INSERT INTO points_lots (workspace_id, id, member_id, points, remaining, expires_at)
         SELECT $1, id, member_id, 3, 3, expires_at FROM e",
    )
    .bind(ws)
    .execute(pool)
    .await?;
    sqlx::query(
        "UPDATE points_accounts SET balance = balance + 30 WHERE workspace_id = $1 AND member_id IN
        (SELECT id FROM members WHERE workspace_id = $1 ORDER BY id LIMIT 10000)",
    )
    .bind(ws)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    super::checkpoint(pool).await?;
    let started = Instant::now();
    let expired = shequn::points::expiry::run_once(pool, Utc::now()).await?;
    let secs = started.elapsed().as_secs_f64();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM points_lots WHERE remaining > 0 AND expires_at <= now()")
        .fetch_one(pool)
        .await?;
    println!("3. nightly expiry: {expired} lots expired in {secs:.1} s ({left} due lots left)");
    if left != 0 || expired != 100_000 {
        bail!("the expiry run left lots behind");
    }

    // 4. 100,000 members judged by tier rules.
    tiers(pool, base, key, ws).await
}

async fn tiers(pool: &PgPool, base: &str, key: &str, ws: shequn::ids::WorkspaceId) -> anyhow::Result<()> {
    let have: i64 =
        sqlx::query_scalar("SELECT count(*) FROM members WHERE workspace_id = $1").bind(ws).fetch_one(pool).await?;
    let more = (100_000 - have).max(0);
    sqlx::query(
        "INSERT INTO members (workspace_id, id, display_name) SELECT $1, gen_random_uuid(), 'm' || g FROM generate_series(1, $2) g",
    )
    .bind(ws)
    .bind(more)
    .execute(pool)
    .await?;
    // A fifth of them paid 2-5 orders and were active 10-25 days in November.
    sqlx::query(
        "WITH m AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM members WHERE workspace_id = $1)
         INSERT INTO metric_orders (workspace_id, order_id, member_id, currency, paid_at, amount)
         SELECT $1, 'o-' || m.n || '-' || k, m.id, 'CNY', now() - (k * 3 + 1) * interval '1 day', 30000 + (m.n % 7) * 10000
         FROM m, generate_series(1, 2 + (SELECT 0)) k WHERE m.n % 5 = 0",
    )
    .bind(ws)
    .execute(pool)
    .await?;
    sqlx::query(
        "WITH m AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM members WHERE workspace_id = $1)
         INSERT INTO metric_member_days (workspace_id, day, group_id, member_id, events, active_events, messages,
             check_ins, link_clicks, coupons_claimed, coupons_redeemed, orders_placed, orders_paid, invites)
         SELECT $1, (now() AT TIME ZONE 'Asia/Shanghai')::date - d, '00000000-0000-0000-0000-000000000000', m.id,
                1, 1, 1, 0, 0, 0, 0, 0, 0, 0
         FROM m, generate_series(1, 25) d WHERE m.n % 5 = 0 AND d <= 10 + m.n % 16",
    )
    .bind(ws)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    let rules = json!({"rules": [
            {"tier": "vip", "when": {"all": [{"metric": "gmv", "days": 90, "min": 100000}, {"metric": "orders", "days": 90, "min": 2}]}},
            {"tier": "vip", "when": {"any": [{"metric": "points_earned", "days": 30, "min": 300}, {"metric": "active_days", "days": 30, "min": 20}]}}],
        "default_tier": "basic", "downgrade_grace_days": 7, "manual_lock_days": 30});
    let r = reqwest::Client::new().put(format!("{base}/v1/tier-rules")).bearer_auth(key).json(&rules).send().await?;
    if !r.status().is_success() {
        bail!("tier rules: {}", r.status());
    }
    let cfg = shequn::tier_rules::repo::get(&mut *pool.acquire().await?, ws).await?.context("rules")?.0;
    super::checkpoint(pool).await?;
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let e = shequn::tier_rules::service::evaluate(&mut tx, ws, &cfg, Utc::now(), false).await?;
    tx.commit().await?;
    let secs = started.elapsed().as_secs_f64();
    let vips: i64 = sqlx::query_scalar("SELECT count(*) FROM members WHERE workspace_id = $1 AND tier = 'vip'")
        .bind(ws)
        .fetch_one(pool)
        .await?;
    println!(
        "4. tier rules: {} members evaluated and {} changes applied in {secs:.1} s ({vips} VIPs)",
        e.members, e.changed
    );
    Ok(())
}
