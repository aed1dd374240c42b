//! `shequn-bench sustained`: ingestion with live rollups, as an operator
//! with a steady stream sees it.
//!
//! 1. Two streams of `message_sent` into today, each on a fresh database
//!    with its own release server: 1,000-event JSON batches from 5,000
//!    members in 50 groups over 8 connections (`--clients`), for
//!    `--seconds` (600), as fast as the server accepts them or at a fixed
//!    offered load (`--rate` events/s). The first with the rollup worker
//!    on, the second with it off (`SHEQUN__WORKERS__METRIC_ROLLUPS=false`;
//!    the events are queued all the same). Printed per 30-second window:
//!    accepted events/s, p99 request latency, the freshness lag (age of the
//!    oldest stored event not yet merged into the rollups, sampled every
//!    second) and what is queued; then the run's totals and the server's
//!    peak resident memory (VmHWM). `--streams 1` runs only the first,
//!    `--streams 2` only the second.
//! 2. The cost of one incremental pass against the size of the day: today
//!    grown to 100,000, 1,000,000 and 10,000,000 events (`--events`: the
//!    largest; loaded with `COPY`, queued as the API would queue them and
//!    merged by the worker's own code), then at each size five passes of
//!    10,000 new events over the same 5,000 members, timed one by one
//!    (`--events 0`: skipped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use shequn::audit::Actor;
use shequn::ids::WorkspaceId;
use shequn::metrics::store::incremental::NewEvent;
use shequn::metrics::store::rollup;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

const GROUPS: usize = 50;
const BATCH: usize = 1_000;
const WINDOW: u64 = 30;

/// What the bench is told.
pub struct Options {
    pub seconds: u64,
    pub clients: usize,
    /// Offered events/s (0: as fast as accepted).
    pub rate: usize,
    pub members: usize,
    /// The largest day of the pass-cost phase (0: no pass-cost phase).
    pub day_events: usize,
    /// 0 both streams, 1 only the one with the worker, 2 only the one without.
    pub streams: usize,
}

/// Runs both phases.
pub async fn run(admin: &PgConnectOptions, admin_url: &str, o: &Options) -> anyhow::Result<()> {
    println!(
        "machine: {} cores; {} members in {GROUPS} groups; {} clients; {} s per stream; offered: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        o.members,
        o.clients,
        o.seconds,
        if o.rate == 0 { "as fast as accepted".to_owned() } else { format!("{} events/s", o.rate) }
    );
    if o.streams != 0 {
        stream(admin, admin_url, o, o.streams == 1).await?;
    } else {
        let on = stream(admin, admin_url, o, true).await?;
        let off = stream(admin, admin_url, o, false).await?;
        println!(
            "1. with rollups {:.0} events/s, without {:.0} events/s: {:.2}x; freshness lag max {:.1} s, p99 {:.1} s; \
         server peak memory {:.0} MB with, {:.0} MB without",
            on.rate,
            off.rate,
            on.rate / off.rate,
            on.lag_max,
            on.lag_p99,
            on.rss_mb,
            off.rss_mb
        );
    }
    if o.day_events == 0 {
        return Ok(());
    }
    pass_cost(admin, admin_url, o).await
}

/// One stream's totals.
struct Totals {
    rate: f64,
    lag_max: f64,
    lag_p99: f64,
    rss_mb: f64,
}

/// A batch of `message_sent` of today: members at random (a small LCG),
/// each in its own group, instants up to 20 s before `now` (so batches
/// arriving side by side interleave in time, as a real stream does).
fn body(tag: &str, n: u64, seed: &mut u64, members: usize, now: DateTime<Utc>) -> Vec<u8> {
    let mut out = String::with_capacity(BATCH * 200);
    out.push('[');
    for i in 0..BATCH {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let m = (*seed >> 33) as usize % members;
        let at = now - chrono::Duration::milliseconds(((*seed >> 20) % 20_000) as i64);
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id":"{tag}-{n}-{i}","type":"message_sent","occurred_at":"{}","member":{{"platform":"telegram","external_id":"u{m}"}},"group":{{"platform":"telegram","external_id":"-100{}"}}}}"#,
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            m % GROUPS
        ));
    }
    out.push(']');
    out.into_bytes()
}

async fn stream(admin: &PgConnectOptions, admin_url: &str, o: &Options, rollups: bool) -> anyhow::Result<Totals> {
    let name = format!("shequn_bench_sustained_{}_{}", std::process::id(), u8::from(rollups));
    let mut c = sqlx::PgConnection::connect_with(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let url = super::database_url(admin_url, &name);
    let pool = PgPoolOptions::new().max_connections(4).connect_with(admin.clone().database(&name)).await?;
    shequn::db::migrate(&pool).await?;
    let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "Asia/Shanghai", Actor::Cli).await?;
    let key = nw.owner_key.key.clone();
    let env = [
        ("SHEQUN__WORKERS__METRIC_ROLLUPS", rollups.to_string()),
        ("SHEQUN__WORKERS__CAMPAIGN_JOBS", "false".to_owned()),
        ("SHEQUN__WEBHOOKS__WORKERS", "false".to_owned()),
    ];
    let server = super::start_server_with(&url, &env).await?;
    let r = async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(o.clients).build()?;
        let url = format!("{}/v1/events", server.base);
        // Every member and group seen once first (their first sight creates them).
        let mut seed = 7u64;
        for n in 0..(o.members / BATCH + 1) {
            let body = body("warm", n as u64, &mut seed, o.members, Utc::now());
            let res = client.post(&url).bearer_auth(&key).header("content-type", "application/json").body(body);
            let res = res.send().await?;
            if !res.status().is_success() {
                bail!("warm-up: {}", res.status());
            }
        }
        wait_drained(&pool, rollups).await?;
        sqlx::query("CHECKPOINT").execute(&pool).await?;
        println!("{} rollups:", if rollups { "with" } else { "without" });
        println!("  window   accepted/s   p99 ms   lag max s   queued events");
        let windows = (o.seconds / WINDOW).max(1) as usize;
        let accepted: Arc<Vec<AtomicU64>> = Arc::new((0..=windows).map(|_| AtomicU64::new(0)).collect());
        let latencies = Arc::new(std::sync::Mutex::new(vec![Vec::new(); windows + 1]));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(o.seconds);
        let mut tasks = Vec::new();
        for t in 0..o.clients {
            let (client, url, key) = (client.clone(), url.clone(), key.clone());
            let (accepted, latencies) = (accepted.clone(), latencies.clone());
            let members = o.members;
            // A fixed offered load: this client's share, one batch at a time.
            let every = (o.rate > 0).then(|| Duration::from_secs_f64((BATCH * o.clients) as f64 / o.rate as f64));
            tasks.push(tokio::spawn(async move {
                let mut seed = 1_000 + t as u64;
                let mut n = 0u64;
                let mut next = Instant::now();
                while Instant::now() < deadline {
                    if let Some(every) = every {
                        tokio::time::sleep_until(next.into()).await;
                        next += every;
                    }
                    let body = body(&format!("s{t}"), n, &mut seed, members, Utc::now());
                    n += 1;
                    let sent = Instant::now();
                    let res = client.post(&url).bearer_auth(&key).header("content-type", "application/json").body(body);
                    let res = res.send().await?;
                    if !res.status().is_success() {
                        bail!("batch: {}", res.status());
                    }
                    let v: serde_json::Value = res.json().await?;
                    let w = (sent.duration_since(started).as_secs() / WINDOW) as usize;
                    if let Some(slot) = accepted.get(w) {
                        slot.fetch_add(v["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
                    }
                    if let Ok(mut l) = latencies.lock() {
                        if let Some(slot) = l.get_mut(w) {
                            slot.push(sent.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        // The freshness lag, every second, and the windows as they close.
        let mut lags: Vec<f64> = Vec::new();
        let mut window_lag = 0f64;
        let mut printed = 0;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (lag, queued): (f64, i64) = sqlx::query_as(
                "SELECT COALESCE(EXTRACT(epoch FROM clock_timestamp() - min(queued_at))::float8, 0),
                        COALESCE(sum(n), 0)::int8 FROM metric_dirty_days",
            )
            .fetch_one(&pool)
            .await?;
            lags.push(lag);
            window_lag = window_lag.max(lag);
            let w = (started.elapsed().as_secs() / WINDOW) as usize;
            if w > printed && printed < windows {
                let p99 = latencies.lock().ok().and_then(|l| l.get(printed).map(|v| p99(v))).unwrap_or(0.0);
                println!(
                    "  {:>3}-{:<3} {:>11.0} {:>8.1} {:>11.1} {:>15}",
                    printed as u64 * WINDOW,
                    (printed as u64 + 1) * WINDOW,
                    accepted[printed].load(Ordering::Relaxed) as f64 / WINDOW as f64,
                    p99,
                    window_lag,
                    queued
                );
                printed = w;
                window_lag = 0.0;
            }
        }
        for t in tasks {
            t.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        let total: u64 = accepted.iter().map(|a| a.load(Ordering::Relaxed)).sum();
        let all: Vec<f64> = latencies.lock().map(|l| l.concat()).unwrap_or_default();
        let rss = super::peak_rss_mb(server.child.id()).unwrap_or(0.0);
        let lag_max = lags.iter().copied().fold(0.0, f64::max);
        println!(
            "  total: {total} events in {secs:.0} s, {:.0} events/s, request p99 {:.1} ms; lag max {lag_max:.1} s; \
             server peak memory {rss:.0} MB",
            total as f64 / secs,
            p99(&all)
        );
        let caught = if rollups { wait_drained(&pool, true).await? } else { 0.0 };
        if rollups {
            println!("  every event merged {caught:.1} s after the stream stopped");
        }
        Ok(Totals { rate: total as f64 / secs, lag_max, lag_p99: p99(&lags), rss_mb: rss })
    }
    .await;
    drop(server);
    pool.close().await;
    if std::env::var("BENCH_KEEP_DB").is_err() {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await?;
    }
    r
}

fn p99(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * 0.99) as usize).min(v.len() - 1)]
}

/// Waits until the worker has merged everything queued (at once without
/// the worker); the seconds waited.
async fn wait_drained(pool: &PgPool, rollups: bool) -> anyhow::Result<f64> {
    if rollups {
        super::rollup_catch_up(pool).await
    } else {
        Ok(0.0)
    }
}

/// Phase 2: one pass of 10,000 new events against the size of the day.
async fn pass_cost(admin: &PgConnectOptions, admin_url: &str, o: &Options) -> anyhow::Result<()> {
    let _ = admin_url;
    let name = format!("shequn_bench_passes_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect_with(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let pool = PgPoolOptions::new().max_connections(4).connect_with(admin.clone().database(&name)).await?;
    let r = async {
        shequn::db::migrate(&pool).await?;
        let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "Asia/Shanghai", Actor::Cli).await?;
        let ws = nw.workspace.id;
        rollup::drain(&pool).await?;
        let members: Vec<uuid::Uuid> = (0..o.members).map(|_| uuid::Uuid::now_v7()).collect();
        let groups: Vec<uuid::Uuid> = (0..GROUPS).map(|_| uuid::Uuid::now_v7()).collect();
        // Today in the workspace's zone: the day grows from its start, the new events come after.
        let zone = shequn::clock::zone("Asia/Shanghai");
        let today = shequn::metrics::period::local_day(zone, Utc::now());
        let start = shequn::metrics::period::day_start(zone, today);
        println!("2. one incremental pass of 10,000 new events against the size of today ({today}):");
        println!("   day size     grown in (merged/s)    pass ms: each of 5              median");
        let mut held = 0usize;
        let mut at = 0u64;
        for size in [100_000usize, 1_000_000, 10_000_000].into_iter().filter(|s| *s <= o.day_events.max(100_000)) {
            // Grow the day: events over its first 20 hours, queued and merged.
            let started = Instant::now();
            let before = held;
            while held < size {
                let n = (size - held).min(100_000);
                load(&pool, ws, &members, &groups, start, 20 * 3600, held, n, &mut at).await?;
                held += n;
            }
            rollup::drain(&pool).await?;
            let grown = started.elapsed().as_secs_f64();
            let day = held;
            sqlx::query("CHECKPOINT").execute(&pool).await?;
            let mut ms = Vec::new();
            for k in 0..5 {
                // 10,000 new events later than the day so far, a pass each.
                let from = start + chrono::Duration::hours(20) + chrono::Duration::seconds(k * 60);
                load(&pool, ws, &members, &groups, from, 60, held, 10_000, &mut at).await?;
                held += 10_000;
                let t = Instant::now();
                let p = rollup::run_once(&pool).await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                if p.merged != 10_000 {
                    bail!("a pass merged {} events, not 10,000", p.merged);
                }
            }
            let mut sorted = ms.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "   {day:>10} {grown:>8.1} s ({:>7.0}/s)    {}    {:>7.1}",
                (size - before.min(size)) as f64 / grown.max(0.001),
                ms.iter().map(|m| format!("{m:>6.1}")).collect::<Vec<_>>().join(" "),
                sorted[2]
            );
        }
        Ok(())
    }
    .await;
    pool.close().await;
    if std::env::var("BENCH_KEEP_DB").is_err() {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await?;
    }
    r
}

/// Loads `n` `message_sent` events with `COPY` (instants spread over
/// `span` seconds from `from`, members at random, each in its own group) and
/// queues them as the API's storing transaction would, in queue rows of
/// 1,000 (a request's batch).
#[allow(clippy::too_many_arguments)]
async fn load(
    pool: &PgPool,
    ws: WorkspaceId,
    members: &[uuid::Uuid],
    groups: &[uuid::Uuid],
    from: DateTime<Utc>,
    span: i64,
    first: usize,
    n: usize,
    seed: &mut u64,
) -> anyhow::Result<()> {
    use std::fmt::Write;
    let mut text = String::with_capacity(n * 160);
    let mut named = Vec::with_capacity(n);
    for i in first..first + n {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let m = (*seed >> 33) as usize % members.len();
        let at = from + chrono::Duration::microseconds(((*seed >> 8) % (span as u64 * 1_000_000)) as i64);
        let id = shequn::events::model::derive_id("client", &format!("p-{i}"));
        let (group, member) = (groups[m % groups.len()], members[m]);
        let _ = writeln!(text, "{}\t{id}\tmessage_sent\t{}\t{group}\t{member}\t{{}}\tapi", ws.0, at.to_rfc3339(),);
        named.push(NewEvent {
            id,
            kind: "message_sent".into(),
            occurred_at: at,
            group_id: Some(group),
            member_id: Some(member),
            campaign_id: None,
            campaign_code: None,
            order_id: None,
            amount: None,
            currency: None,
        });
    }
    let mut conn = pool.acquire().await?;
    let mut copy = conn
        .copy_in_raw(
            "COPY events (workspace_id, id, type, occurred_at, group_id, member_id, properties, source) FROM STDIN",
        )
        .await?;
    for chunk in text.as_bytes().chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await.context("copy")?;
    for part in named.chunks(BATCH) {
        let mut tx = conn.begin().await?;
        rollup::mark_dirty(&mut tx, ws, part).await?;
        tx.commit().await?;
    }
    Ok(())
}
