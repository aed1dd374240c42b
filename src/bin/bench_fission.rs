//! `shequn-bench fission`: the growth scene's speed targets against the
//! real release server on a real PostgreSQL.
//!
//! 1. `GET /c/{code}`: 50,000 visits from 64 connections to a fill-in-order
//!    channel over 10 groups, then to a round-robin one (its turn is one
//!    guarded counter row): redirects/s and latency.
//! 2. 10,000 joins through one channel link: 10,000 visitors, 100 at a
//!    time, each visits the link and then joins the group it was sent to
//!    (a `member_joined` event naming the channel); 50 groups of capacity
//!    200. Elapsed time, the fullest group (capacity + the joins in flight
//!    at most), and every join attributed to the channel.
//! 3. A draw over 1,000,000 entries from 200,000 members (5 each; 121
//!    prizes of points): the draw's transaction timed — freezing the list,
//!    ranking every entry, delivering the prizes.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;
use shequn::audit::Actor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use super::checkin::fire_with;
use super::flash::post;

/// Runs the three phases once.
pub async fn run(admin: &PgConnectOptions, admin_url: &str) -> anyhow::Result<()> {
    let name = format!("shequn_bench_fission_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect_with(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let url = super::database_url(admin_url, &name);
    let pool = PgPoolOptions::new().max_connections(8).connect_with(admin.clone().database(&name)).await?;
    shequn::db::migrate(&pool).await?;
    let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "Asia/Shanghai", Actor::Cli).await?;
    let key = nw.owner_key.key.clone();
    let env = [
        ("SHEQUN__DATABASE__MAX_CONNECTIONS", "32".to_owned()),
        ("SHEQUN__WORKERS__CAMPAIGN_JOBS", "false".to_owned()),
        // One load generator is one client address.
        ("SHEQUN__AUTH__CHANNEL_VISITS_PER_MINUTE", "1000000".to_owned()),
    ];
    let server = super::start_server_with(&url, &env).await?;
    let base = server.base.clone();
    let r = async {
        redirects(&pool, &base, &key).await?;
        joins(&pool, &base, &key).await?;
        draw(&pool, &base, &key, nw.workspace.id).await
    }
    .await;
    drop(server);
    pool.close().await;
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
    }
    r
}

fn no_redirects(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency)
        .build()?)
}

/// `n` groups with invite links (no connection: visits use the links as they are).
async fn groups(base: &str, key: &str, prefix: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let g = post(
            base,
            key,
            "/v1/groups",
            json!({"platform": "telegram", "external_id": format!("{prefix}{i}"),
            "name": format!("{prefix}{i}"), "invite_url": format!("https://t.me/+{prefix}{i}")}),
        )
        .await?;
        out.push(g["id"].as_str().context("group id")?.to_owned());
    }
    Ok(out)
}

async fn channel(
    base: &str,
    key: &str,
    name: &str,
    groups: &[String],
    capacity: u32,
    strategy: &str,
) -> anyhow::Result<String> {
    let c = post(
        base,
        key,
        "/v1/channels",
        json!({"name": name, "source": "offline", "target": {"group_ids": groups},
        "capacity_per_group": capacity, "strategy": strategy}),
    )
    .await?;
    Ok(c["code"].as_str().context("code")?.to_owned())
}

async fn redirects(pool: &PgPool, base: &str, key: &str) -> anyhow::Result<()> {
    let gs = groups(base, key, "-r", 10).await?;
    for (n, strategy) in [(1, "fill_in_order"), (2, "round_robin")] {
        let code = channel(base, key, &format!("bench {strategy}"), &gs, 100_000, strategy).await?;
        let requests = (0..50_000).map(|_| (reqwest::Method::GET, format!("{base}/c/{code}"), None)).collect();
        super::checkpoint(pool).await?;
        let t = fire_with(no_redirects(64)?, key, requests, 64, Some(&format!("{base}/healthz"))).await?;
        println!(
            "1.{n} GET /c/{{code}} ({strategy}, 10 groups): 50,000 visits from 64 connections: {:.0} redirects/s, \
             p50 {:.1} ms, p99 {:.1} ms; answers {:?}",
            t.rate, t.p50_ms, t.p99_ms, t.statuses
        );
        if t.statuses.get(&302) != Some(&50_000) {
            bail!("not every visit was redirected");
        }
    }
    Ok(())
}

async fn joins(pool: &PgPool, base: &str, key: &str) -> anyhow::Result<()> {
    let gs = groups(base, key, "-j", 50).await?;
    let code = channel(base, key, "bench joins", &gs, 200, "fill_in_order").await?;
    let by_link: std::collections::HashMap<String, String> =
        gs.iter().enumerate().map(|(i, g)| (format!("https://t.me/+-j{i}"), g.clone())).collect();
    let by_link = Arc::new(by_link);
    let client = no_redirects(100)?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    super::checkpoint(pool).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (client, next, by_link) = (client.clone(), next.clone(), by_link.clone());
        let (base, key, code) = (base.to_owned(), key.to_owned(), code.clone());
        tasks.push(tokio::spawn(async move {
            let mut full = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 10_000 {
                    return anyhow::Ok(full);
                }
                let r = client.get(format!("{base}/c/{code}")).send().await?;
                let Some(to) = r.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned) else {
                    full += 1;
                    continue;
                };
                let group = by_link.get(&to).context("an unknown link")?;
                let e = json!([{"id": format!("visit-{i}"), "type": "member_joined", "occurred_at": chrono::Utc::now(),
                    "member": {"platform": "telegram", "external_id": format!("v{i}")}, "group_id": group, "channel": code}]);
                let r = client.post(format!("{base}/v1/events")).bearer_auth(&key).json(&e).send().await?;
                if !r.status().is_success() {
                    bail!("join {i}: {}", r.status());
                }
            }
        }));
    }
    let mut full = 0;
    for t in tasks {
        full += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let (fullest, attributed, joined): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT max(n) FROM (SELECT count(*) AS n FROM memberships WHERE left_at IS NULL AND group_id IN
                   (SELECT (jsonb_array_elements_text(target->'group_ids'))::uuid FROM channels WHERE name = 'bench joins')
                 GROUP BY group_id) x),
                (SELECT count(*) FROM memberships m JOIN channels c ON c.id = m.channel_id WHERE c.name = 'bench joins'),
                (SELECT count(*) FROM memberships m JOIN channels c ON c.id = m.channel_id)",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "2. 10,000 visitors through one link (50 groups × 200), 100 at a time, each visiting then joining: {secs:.1} s \
         ({:.0} joins/s); fullest group {fullest} (capacity 200 + at most 100 in flight); attributed to the channel: \
         {attributed} of {joined}; shown the full page: {full}",
        10_000.0 / secs
    );
    if fullest > 300 || attributed != 10_000 - full as i64 {
        bail!("routing or attribution is off");
    }
    Ok(())
}

async fn draw(pool: &PgPool, base: &str, key: &str, ws: shequn::ids::WorkspaceId) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let local = (now + chrono::Duration::hours(1)).with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%dT%H:%M");
    let c = post(
        base,
        key,
        "/v1/campaigns",
        json!({"name": "百万抽奖", "scene": "fission", "kind": "lottery",
        "settings": {"draw_at": local.to_string(), "entries": {"per_member": 5, "max_per_member": 10},
            "prizes": [{"name": "一等奖", "quantity": 1, "reward": {"points": 1000}},
                       {"name": "二等奖", "quantity": 20, "reward": {"points": 100}},
                       {"name": "三等奖", "quantity": 100, "reward": {"points": 10}}]}}),
    )
    .await?;
    let cid = c["id"].as_str().context("campaign id")?.to_owned();
    post(base, key, &format!("/v1/campaigns/{cid}/status"), json!({"status": "running"})).await?;
    // The commitment first (the lottery's row), then 200,000 members entered.
    let r = reqwest::Client::new().get(format!("{base}/v1/lotteries/{cid}")).bearer_auth(key).send().await?;
    if !r.status().is_success() {
        bail!("lottery: {}", r.status());
    }
    sqlx::query(
        "INSERT INTO members (workspace_id, id, display_name)
         SELECT $1, gen_random_uuid(), 'entrant ' || g FROM generate_series(1, 200000) g",
    )
    .bind(ws)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO lottery_entrants (workspace_id, campaign_id, member_id, entered_at)
         SELECT $1, $2::uuid, id, now() FROM members WHERE workspace_id = $1 AND display_name LIKE 'entrant %'",
    )
    .bind(ws)
    .bind(&cid)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    super::checkpoint(pool).await?;
    let started = Instant::now();
    let drawn =
        shequn::lotteries::service::run_due(pool, now + chrono::Duration::hours(2), &Default::default()).await?;
    let secs = started.elapsed().as_secs_f64();
    let (entries, winners): (Option<i64>, i64) = sqlx::query_as(
        "SELECT (SELECT entry_count FROM lotteries WHERE campaign_id = $1::uuid),
                (SELECT count(*) FROM lottery_winners WHERE campaign_id = $1::uuid)",
    )
    .bind(&cid)
    .fetch_one(pool)
    .await?;
    println!(
        "3. the draw over {} entries from 200,000 members, 121 prizes of points: {secs:.2} s (freeze, rank, deliver, \
         one transaction); winners {winners}",
        entries.unwrap_or(0)
    );
    if drawn != 1 || entries != Some(1_000_000) || winners != 121 {
        bail!("the draw is off");
    }
    Ok(())
}
