//! `shequn-bench social`: the social-buying speed targets against the real
//! release server on a real PostgreSQL.
//!
//! 1. Group-buy teams: 1,000 leaders open teams of 5, then 5,000 joins from
//!    64 connections — four per team to fill it and one more per team that
//!    must be refused `team_full` — joins/s and latency; then no team over
//!    its size, 1,000 succeeded, one `group_buy.succeeded` each.
//! 2. Quick join: 5,000 other members quick-join a fresh group-buy (teams
//!    of 5) from 64 connections: joins/s and latency; no team over its size.
//! 3. Bargain helps: 1,000 sessions (10 helpers, 99.00 → 9.90), then
//!    11,000 helps from 64 connections (ten per session, one more that must
//!    be refused `session_complete`): helps/s and latency; every session
//!    exactly at its floor after exactly ten helps, each cut ≥ 1 fen.

use anyhow::{bail, Context};
use serde_json::json;
use shequn::audit::Actor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use super::checkin::{fire_counting_warm, population};
use super::flash::post;

/// Runs the three phases once.
pub async fn run(admin: &PgConnectOptions, admin_url: &str) -> anyhow::Result<()> {
    let name = format!("shequn_bench_social_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect_with(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let url = super::database_url(admin_url, &name);
    let pool = PgPoolOptions::new().max_connections(8).connect_with(admin.clone().database(&name)).await?;
    shequn::db::migrate(&pool).await?;
    let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "Asia/Shanghai", Actor::Cli).await?;
    let key = nw.owner_key.key.clone();
    // The server's own pool size (20) unless `BENCH_SERVER_CONNECTIONS` (a
    // diagnostic) says otherwise: 32 gave 1,163-1,338 joins/s where 20 gave
    // 1,569-1,660 (BENCHMARKS.md) — on 2 cores more backends only queue.
    let mut env = vec![
        ("SHEQUN__WORKERS__CAMPAIGN_JOBS", "false".to_owned()),
        // Messages are stored with each change; nobody receives them here.
        ("SHEQUN__WEBHOOKS__WORKERS", "false".to_owned()),
    ];
    if let Ok(n) = std::env::var("BENCH_SERVER_CONNECTIONS") {
        env.push(("SHEQUN__DATABASE__MAX_CONNECTIONS", n));
    }
    let server = super::start_server_with(&url, &env).await?;
    let base = server.base.clone();
    let r = async {
        population(&base, &key, 11_000, 50).await?;
        post(
            &base,
            &key,
            "/v1/webhook-endpoints",
            json!({"url": "https://shop.example.com/hooks",
            "event_types": ["group_buy.succeeded", "group_buy.failed", "bargain.completed", "bargain.purchased"]}),
        )
        .await?;
        let people: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM members ORDER BY id").fetch_all(&pool).await?;
        if people.len() < 11_000 {
            bail!("need 11,000 members, have {}", people.len());
        }
        teams(&pool, &base, &key, &people[..5000]).await?;
        quick(&pool, &base, &key, &people[5000..10_000]).await?;
        helps(&pool, &base, &key, &people).await
    }
    .await;
    drop(server);
    pool.close().await;
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
    }
    r
}

async fn running(base: &str, key: &str, kind: &str) -> anyhow::Result<String> {
    let c = post(base, key, "/v1/campaigns", json!({"name": kind, "scene": "fission", "kind": kind})).await?;
    let id = c["id"].as_str().context("campaign id")?.to_owned();
    post(base, key, &format!("/v1/campaigns/{id}/status"), json!({"status": "running"})).await?;
    Ok(id)
}

async fn group_buy(base: &str, key: &str) -> anyhow::Result<String> {
    let c = running(base, key, "group_buy").await?;
    let g = post(
        base,
        key,
        "/v1/group-buys",
        json!({"campaign_id": c, "product_id": "sku-3", "list_price": 19900,
        "group_price": 12900, "team_size": 5, "time_limit_hours": 24}),
    )
    .await?;
    Ok(g["id"].as_str().context("group-buy id")?.to_owned())
}

type Requests = Vec<(reqwest::Method, String, Option<serde_json::Value>)>;

async fn teams(pool: &PgPool, base: &str, key: &str, people: &[uuid::Uuid]) -> anyhow::Result<()> {
    let g = group_buy(base, key).await?;
    let opens: Requests = people[..1000]
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let body = json!({"member_id": m, "order_id": format!("lead-{i}")});
            (reqwest::Method::POST, format!("{base}/v1/group-buys/{g}/teams"), Some(body))
        })
        .collect();
    super::checkpoint(pool).await?;
    let warm = format!("{base}/v1/group-buys/{g}");
    let o = fire_counting_warm(key, opens, 64, Some(&warm)).await?;
    println!(
        "1. group-buy: 1,000 teams of 5 opened from 64 connections: {:.0} opens/s, p50 {:.1} ms, p99 {:.1} ms; answers {:?}",
        o.rate, o.p50_ms, o.p99_ms, o.statuses
    );
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM group_buy_teams WHERE group_buy_id = $1::uuid ORDER BY id")
            .bind(&g)
            .fetch_all(pool)
            .await?;
    if ids.len() != 1000 {
        bail!("{} teams opened", ids.len());
    }
    // Round r sends team t its r-th joiner; round 4 is one too many for every team.
    let mut joins: Requests = Vec::with_capacity(5000);
    for r in 0..5 {
        for (t, team) in ids.iter().enumerate() {
            let m = people[1000 + (t * 4 + r) % 4000];
            let body = json!({"member_id": m, "order_id": format!("join-{t}-{r}")});
            joins.push((reqwest::Method::POST, format!("{base}/v1/group-buy-teams/{team}/members"), Some(body)));
        }
    }
    super::checkpoint(pool).await?;
    let j = fire_counting_warm(key, joins, 64, Some(&warm)).await?;
    println!(
        "   5,000 joins (4,000 places, 1,000 one too many) from 64 connections: {:.0} joins/s, p50 {:.1} ms, p99 {:.1} ms; answers {:?}",
        j.rate, j.p50_ms, j.p99_ms, j.statuses
    );
    let (over, succeeded, members, messages): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM group_buy_teams t WHERE t.joined > t.team_size
                   OR (SELECT count(*) FROM group_buy_members m WHERE m.team_id = t.id) > t.team_size),
                (SELECT count(*) FROM group_buy_teams WHERE group_buy_id = $1::uuid AND status = 'succeeded'),
                (SELECT count(*) FROM group_buy_members WHERE group_buy_id = $1::uuid),
                (SELECT count(*) FROM webhook_messages WHERE type = 'group_buy.succeeded')",
    )
    .bind(&g)
    .fetch_one(pool)
    .await?;
    println!(
        "   teams over their size: {over}; succeeded: {succeeded}; members: {members}; group_buy.succeeded: {messages}"
    );
    if over != 0 || succeeded != 1000 || members != 5000 || messages != 1000 || j.statuses.get(&201) != Some(&4000) {
        bail!("the teams are not exact");
    }
    Ok(())
}

async fn quick(pool: &PgPool, base: &str, key: &str, people: &[uuid::Uuid]) -> anyhow::Result<()> {
    let g = group_buy(base, key).await?;
    let joins: Requests = people
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let body = json!({"member_id": m, "order_id": format!("quick-{i}")});
            (reqwest::Method::POST, format!("{base}/v1/group-buys/{g}/join"), Some(body))
        })
        .collect();
    super::checkpoint(pool).await?;
    let warm = format!("{base}/v1/group-buys/{g}");
    let q = fire_counting_warm(key, joins, 64, Some(&warm)).await?;
    let (over, succeeded, open, members): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE joined > team_size), count(*) FILTER (WHERE status = 'succeeded'),
                count(*) FILTER (WHERE status = 'open'),
                (SELECT count(*) FROM group_buy_members WHERE group_buy_id = $1::uuid)
         FROM group_buy_teams WHERE group_buy_id = $1::uuid",
    )
    .bind(&g)
    .fetch_one(pool)
    .await?;
    println!(
        "2. quick join: 5,000 members from 64 connections: {:.0} joins/s, p50 {:.1} ms, p99 {:.1} ms; answers {:?}; \
         teams succeeded {succeeded}, open {open}, over their size {over}",
        q.rate, q.p50_ms, q.p99_ms, q.statuses
    );
    if over != 0 || members != 5000 || q.statuses.get(&201) != Some(&5000) {
        bail!("quick join is not exact");
    }
    Ok(())
}

async fn helps(pool: &PgPool, base: &str, key: &str, people: &[uuid::Uuid]) -> anyhow::Result<()> {
    let c = running(base, key, "bargain").await?;
    let b = post(
        base,
        key,
        "/v1/bargains",
        json!({"campaign_id": c, "product_id": "sku-5", "list_price": 9900,
        "floor_price": 990, "helpers_needed": 10, "time_limit_hours": 24}),
    )
    .await?;
    let b = b["id"].as_str().context("bargain id")?.to_owned();
    let client = reqwest::Client::new();
    let mut sessions = Vec::with_capacity(1000);
    for m in &people[..1000] {
        let r = client
            .post(format!("{base}/v1/bargains/{b}/sessions"))
            .bearer_auth(key)
            .json(&json!({"member_id": m}))
            .send()
            .await?;
        let v: serde_json::Value = r.json().await?;
        sessions.push(v["id"].as_str().context("session id")?.to_owned());
    }
    // Round r brings session s its r-th helper; round 10 is one too many.
    let mut requests: Requests = Vec::with_capacity(11_000);
    for r in 0..11 {
        for (s, id) in sessions.iter().enumerate() {
            let helper = people[1000 + (s * 11 + r) % 10_000];
            requests.push((
                reqwest::Method::POST,
                format!("{base}/v1/bargain-sessions/{id}/helps"),
                Some(json!({"helper_id": helper})),
            ));
        }
    }
    super::checkpoint(pool).await?;
    let warm = format!("{base}/v1/bargains/{b}");
    let h = fire_counting_warm(key, requests, 64, Some(&warm)).await?;
    println!(
        "3. bargain: 11,000 helps on 1,000 sessions of 10 helpers (1,000 one too many) from 64 connections: \
         {:.0} helps/s, p50 {:.1} ms, p99 {:.1} ms; answers {:?}",
        h.rate, h.p50_ms, h.p99_ms, h.statuses
    );
    let (at_floor, off, bad_cuts, bad_sums): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.price = s.floor_price AND s.helps = 10 AND s.status = 'completed'),
                count(*) FILTER (WHERE s.price <> s.floor_price OR s.helps <> 10),
                (SELECT count(*) FROM bargain_helps WHERE cut < 1),
                count(*) FILTER (WHERE (SELECT sum(h.cut) FROM bargain_helps h WHERE h.session_id = s.id)
                                       <> s.list_price - s.floor_price)
         FROM bargain_sessions s WHERE s.bargain_id = $1::uuid",
    )
    .bind(&b)
    .fetch_one(pool)
    .await?;
    println!(
        "   sessions exactly at the floor after ten helps: {at_floor}; elsewhere: {off}; cuts under 1 fen: {bad_cuts}; \
         cut sums off list − floor: {bad_sums}"
    );
    if at_floor != 1000 || off != 0 || bad_cuts != 0 || bad_sums != 0 || h.statuses.get(&201) != Some(&10_000) {
        bail!("the bargains are not exact");
    }
    Ok(())
}
