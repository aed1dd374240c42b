//! Benchmarks against a real PostgreSQL and the real release server.
//!
//! `cargo run --release --features bench --bin shequn-bench -- ingest [--events N] [--clients N]`
//! `cargo run --release --features bench --bin shequn-bench -- sop [--groups N]` (see `bench_sop.rs`)
//! `cargo run --release --features bench --bin shequn-bench -- metrics [--events N]` (see `bench_metrics.rs`)
//! `cargo run --release --features bench --bin shequn-bench -- webhooks [--events N]` (see `bench_webhooks.rs`)
//! `cargo run --release --features bench --bin shequn-bench -- checkin [--members N] [--groups N] [--runs N]` (see `bench_checkin.rs`)
//! `cargo run --release --features bench --bin shequn-bench -- flash [--runs N]` (see `bench_flash.rs`)
//! `cargo run --release --features bench --bin shequn-bench -- fission [--runs N]` (see `bench_fission.rs`)
//! `cargo run --release --features bench --bin shequn-bench -- social [--runs N]` (see `bench_social.rs`)
//! `cargo run --release --features bench --bin shequn-bench -- sustained [--seconds N] [--rate N] [--events N] [--streams 1|2]` (see `bench_sustained.rs`)
//!
//! Uses `DATABASE_URL` if set, else a throwaway embedded cluster (durable
//! settings). Starts `target/release/shequn` as a child process, then
//! measures: (1) events/s through `POST /v1/events` in 1,000-event batches
//! from concurrent clients, next to the same number of rows loaded with
//! `COPY` into the same table and indexes; (2) signed single-event Telegram
//! and WeCom webhooks/s with p50/p99 latency at 64 concurrent connections;
//! (3) the server's peak resident memory (VmHWM). Each phase starts after a
//! `CHECKPOINT`; COPY and the webhooks start once the server's rollup worker
//! has digested the API phase (the wait is printed), so each phase measures
//! its own path — the rollups of the events each phase itself sends run
//! during it, as they would in production.
//!
//! Diagnostic switches (never for recorded figures): `BENCH_DIAGNOSE_ASYNC_COMMIT=1`
//! turns off synchronous commit for the benchmark database, to see how much
//! time commit fsync costs; `BENCH_KEEP_DB=1` keeps the database afterwards
//! (with `DATABASE_URL`, for `pg_stat_statements`).

use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use shequn::audit::Actor;
use shequn::db::embedded::{EmbeddedOptions, EmbeddedPostgres};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

#[path = "bench_checkin.rs"]
mod checkin;
#[path = "bench_fission.rs"]
mod fission;
#[path = "bench_flash.rs"]
mod flash;
#[path = "bench_metrics.rs"]
mod metrics;
#[path = "bench_social.rs"]
mod social;
#[path = "bench_sop.rs"]
mod sop;
#[path = "bench_sustained.rs"]
mod sustained;
#[path = "bench_webhooks.rs"]
mod webhooks;

struct Args {
    command: String,
    events: usize,
    clients: usize,
    webhooks: usize,
    groups: usize,
    runs: usize,
    latency_ms: usize,
    members: usize,
    days: usize,
    /// `sop`: 0 runs one instance then two; 1 or 2 only that setting.
    instances: usize,
    /// `sustained`: seconds per stream, offered events/s (0: as fast as accepted).
    seconds: usize,
    rate: usize,
    /// `sustained`: 0 both streams, 1 only with the rollup worker, 2 only without.
    streams: usize,
    /// Flags given on the command line.
    given: Vec<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        command: String::new(),
        events: 1_000_000,
        clients: 8,
        webhooks: 20_000,
        groups: 10_000,
        runs: 3,
        latency_ms: 0,
        members: 100_000,
        days: 180,
        instances: 0,
        seconds: 600,
        rate: 0,
        streams: 0,
        given: Vec::new(),
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    match raw.first().map(String::as_str) {
        Some(
            c @ ("ingest" | "sop" | "metrics" | "webhooks" | "checkin" | "flash" | "fission" | "social" | "sustained"),
        ) => a.command = c.to_owned(),
        _ => {
            bail!(
                "usage: shequn-bench ingest [--events N] [--clients N] [--webhooks N] | sop [--groups N] [--runs N] [--instances 1|2] \
                 | metrics [--events N] [--members N] [--groups N] [--days N] [--runs N] \
                 | webhooks [--events N] [--runs N] | checkin [--members N] [--groups N] [--runs N] \
                 | flash [--members N] [--runs N] | fission [--runs N] | social [--runs N] \
                 | sustained [--seconds N] [--rate N] [--clients N] [--members N] [--events N] [--streams 1|2]"
            )
        }
    }
    let mut it = raw.iter().skip(1);
    while let Some(flag) = it.next() {
        let v: usize = it.next().context("flag needs a value")?.parse().context("not a number")?;
        match flag.as_str() {
            "--events" => a.events = v,
            "--clients" => a.clients = v,
            "--webhooks" => a.webhooks = v,
            "--groups" => a.groups = v,
            "--runs" => a.runs = v,
            "--latency-ms" => a.latency_ms = v,
            "--members" => a.members = v,
            "--days" => a.days = v,
            "--instances" if v <= 2 => a.instances = v,
            "--seconds" if v >= 30 => a.seconds = v,
            "--rate" => a.rate = v,
            "--streams" if v <= 2 => a.streams = v,
            other => bail!("unknown flag {other}"),
        }
        a.given.push(flag.clone());
    }
    Ok(a)
}

/// `admin_url` pointing at database `name` (query options kept).
fn database_url(admin_url: &str, name: &str) -> String {
    match admin_url.split_once('?') {
        Some((base, q)) => format!("{}/{name}?{q}", base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base)),
        None => format!("{}/{name}", admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url)),
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn start_server(url: &str) -> anyhow::Result<Server> {
    start_server_with(url, &[("SHEQUN__DATABASE__MAX_CONNECTIONS", "16".to_owned())]).await
}

async fn start_server_with(url: &str, env: &[(&str, String)]) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?.with_file_name("shequn");
    let port = free_port()?;
    let child = Command::new(&exe)
        .env("DATABASE_URL", url)
        .env("SHEQUN_CONFIG_DIR", "/nonexistent")
        .env("SHEQUN__SERVER__PORT", port.to_string())
        .env("SHEQUN__LOG__LEVEL", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(Server { child, base });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("server did not become ready")
}

fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn batch(n: usize, start: usize, ws_tag: &str) -> Vec<u8> {
    let kinds = ["message_sent", "message_sent", "message_sent", "checked_in", "link_clicked"];
    let items: Vec<serde_json::Value> = (start..start + n)
        .map(|i| {
            json!({"id": format!("{ws_tag}-{i}"), "type": kinds[i % kinds.len()],
                   "occurred_at": format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + i % 19, i % 24, i % 60),
                   "member": {"platform": "telegram", "external_id": format!("u{}", i % 20_000)},
                   "group": {"platform": "telegram", "external_id": format!("-100{}", i % 300)},
                   "properties": {"len": i % 97}})
        })
        .collect();
    serde_json::to_vec(&items).unwrap_or_default()
}

async fn api_ingest(base: &str, key: &str, a: &Args) -> anyhow::Result<f64> {
    let bodies: Vec<Vec<u8>> = (0..a.events / 1000).map(|b| batch(1000, b * 1000, "api")).collect();
    let bodies = Arc::new(bodies);
    let client = reqwest::Client::builder().pool_max_idle_per_host(a.clients).build()?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (client, bodies, next, url, key) =
            (client.clone(), bodies.clone(), next.clone(), format!("{base}/v1/events"), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return Ok::<u64, anyhow::Error>(accepted) };
                let res = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                if !res.status().is_success() {
                    bail!("batch {i}: {}", res.status());
                }
                let v: serde_json::Value = res.json().await?;
                accepted += v["accepted"].as_u64().unwrap_or(0);
            }
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    if accepted as usize != a.events / 1000 * 1000 {
        bail!("only {accepted} events accepted");
    }
    Ok(accepted as f64 / secs)
}

async fn copy_ingest(pool: &PgPool, events: usize) -> anyhow::Result<f64> {
    let ws: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM workspaces WHERE name = 'bench-copy'").fetch_one(pool).await?;
    let (members, groups): (Vec<uuid::Uuid>, Vec<uuid::Uuid>) =
        ((0..20_000).map(|_| uuid::Uuid::now_v7()).collect(), (0..300).map(|_| uuid::Uuid::now_v7()).collect());
    let kinds = ["message_sent", "message_sent", "message_sent", "checked_in", "link_clicked"];
    let mut text = String::with_capacity(events * 200);
    for i in 0..events {
        use std::fmt::Write;
        let _ = writeln!(
            text,
            "{ws}\t{}\t{}\t2026-11-{:02} {:02}:{:02}:00+00\t{}\t{}\t{{\"len\": {}}}\tapi",
            // The ids the API stores for the same client ids (derived, so spread
            // over the primary key as the API's are — not time-ordered).
            shequn::events::model::derive_id("client", &format!("copy-{i}")),
            kinds[i % kinds.len()],
            1 + i % 19,
            i % 24,
            i % 60,
            groups[i % 300],
            members[i % 20_000],
            i % 97
        );
    }
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY events (workspace_id, id, type, occurred_at, group_id, member_id, properties, source) FROM STDIN",
        )
        .await?;
    for chunk in text.as_bytes().chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

async fn checkpoint(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

/// Waits until the server's rollup worker has digested what the API phase
/// queued, so the next phase is measured on its own; returns the seconds.
async fn rollup_catch_up(pool: &PgPool) -> anyhow::Result<f64> {
    let started = Instant::now();
    if std::env::var("SHEQUN__WORKERS__METRIC_ROLLUPS").is_ok_and(|v| v == "false") {
        return Ok(0.0); // a diagnostic run without the rollup worker
    }
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM metric_dirty_days) + (SELECT count(*) FROM metric_dirty_stints)",
        )
        .fetch_one(pool)
        .await?;
        if left == 0 {
            return Ok(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request to fire: URL, headers, body.
type Request = (String, Vec<(String, String)>, Vec<u8>);

struct Latency {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn fire(requests: Vec<Request>, concurrency: usize) -> anyhow::Result<Latency> {
    let total = requests.len();
    let requests = Arc::new(requests);
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, requests, next) = (client.clone(), requests.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((url, headers, body)) = requests.get(i) else { return Ok::<_, anyhow::Error>(lat) };
                let mut req = client.post(url).body(body.clone());
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                let t = Instant::now();
                let res = req.send().await?;
                let status = res.status();
                let _ = res.bytes().await?;
                if !status.is_success() {
                    bail!("webhook {i}: {status}");
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct =
        |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0.0);
    Ok(Latency { rate: total as f64 / secs, p50_ms: pct(0.50), p99_ms: pct(0.99) })
}

async fn connect(base: &str, key: &str, platform: &str, creds: serde_json::Value) -> anyhow::Result<String> {
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/connections"))
        .bearer_auth(key)
        .json(&json!({"platform": platform, "credentials": creds}))
        .send()
        .await?
        .json()
        .await?;
    Ok(format!("{base}{}", r["webhook_url"].as_str().context("no webhook url")?))
}

fn telegram_requests(url: &str, n: usize) -> Vec<Request> {
    let now = chrono::Utc::now().timestamp();
    (0..n)
        .map(|i| {
            let body = json!({"update_id": i, "message": {"message_id": i, "date": now - 60,
                "chat": {"id": -1_000_000 - (i % 300) as i64, "type": "supergroup", "title": "bench"},
                "from": {"id": 1000 + i % 20_000, "is_bot": false, "first_name": "m"}, "text": "hi"}});
            let headers = vec![
                ("x-telegram-bot-api-secret-token".into(), "bench-secret".into()),
                ("content-type".into(), "application/json".into()),
            ];
            (url.to_owned(), headers, serde_json::to_vec(&body).unwrap_or_default())
        })
        .collect()
}

fn wecom_requests(url: &str, n: usize) -> anyhow::Result<Vec<Request>> {
    let (token, key, corp) =
        ("hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "ww1436e0e65a779aee");
    let now = chrono::Utc::now().timestamp();
    (0..n)
        .map(|i| {
            let inner = format!("<xml><ToUserName><![CDATA[{corp}]]></ToUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                <Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wr{}]]></ChatId><ChangeType><![CDATA[update]]></ChangeType>\
                <UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene><MemChangeList><Item>wm{i}</Item></MemChangeList></xml>",
                now - 60, i % 300);
            let enc = shequn::platforms::wecom::crypto::wecom_encrypt(key, inner.as_bytes(), corp, [1; 16]).map_err(anyhow::Error::msg)?;
            let (ts, nonce) = (now.to_string(), i.to_string());
            let sig = shequn::platforms::wecom::crypto::wecom_signature(token, &ts, &nonce, &enc);
            let body = format!("<xml><ToUserName><![CDATA[{corp}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>");
            Ok((format!("{url}?msg_signature={sig}&timestamp={ts}&nonce={nonce}"), vec![], body.into_bytes()))
        })
        .collect()
}

/// Stops the embedded cluster, if any, and removes its directory (unless
/// `BENCH_KEEP_DB`): a 10M-event run leaves gigabytes behind otherwise.
fn discard(embedded: Option<EmbeddedPostgres>) {
    let Some(pg) = embedded else { return };
    let dir = pg.data_dir().parent().map(std::path::Path::to_path_buf);
    drop(pg);
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn database() -> anyhow::Result<(PgConnectOptions, String, Option<EmbeddedPostgres>)> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let admin = PgConnectOptions::from_str(&url)?;
        return Ok((admin, url, None));
    }
    let dir = std::env::temp_dir().join(format!("shequn-bench-{}", std::process::id()));
    let pg = EmbeddedPostgres::start(&EmbeddedOptions {
        data_dir: dir.join("pg"),
        bin_dir: None,
        os_user: None,
        ephemeral: false,
    })?;
    let admin = pg.connect_options("postgres");
    let url = format!("postgres://postgres@localhost:5432/postgres?host={}", pg.data_dir().display());
    Ok((admin, url, Some(pg)))
}

async fn sop_bench(
    admin: &PgConnectOptions,
    admin_url: &str,
    groups: usize,
    repeat: usize,
    latency: Duration,
    only: usize,
) -> anyhow::Result<()> {
    println!(
        "machine: {} cores; groups: {groups}; runs per setting: {repeat}; platform latency: {} ms",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        latency.as_millis()
    );
    let mut medians = Vec::new();
    for instances in [1, 2].into_iter().filter(|n| only == 0 || *n == only) {
        let mut times = Vec::new();
        for _ in 0..repeat {
            let r = sop::run(admin, admin_url, groups, instances, latency).await?;
            println!(
                "{} instance(s): all {groups} sent {:.2} s after the slot (all created after {:.2} s); \
                 lateness p50 {:.0} ms, p99 {:.0} ms; duplicates {}; plan creation (schedules for every group) {:.0} ms",
                r.instances,
                r.seconds_to_all_sent,
                r.seconds_to_all_created,
                r.p50_lateness_ms,
                r.p99_lateness_ms,
                r.duplicates,
                r.plan_create_ms
            );
            if r.duplicates != 0 {
                bail!("{} duplicate sends", r.duplicates);
            }
            times.push(r.seconds_to_all_sent);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let median = times[times.len() / 2];
        println!("{instances} instance(s): median {median:.2} s until all {groups} sent");
        medians.push(median);
    }
    if let [one, two] = medians[..] {
        println!("throughput with two instances (median): {:.2}x", one / two);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let (admin, admin_url, embedded) = database().await?;
    if a.command == "sop" {
        let r = sop_bench(
            &admin,
            &admin_url,
            a.groups,
            a.runs.max(1),
            Duration::from_millis(a.latency_ms as u64),
            a.instances,
        )
        .await;
        discard(embedded);
        return r;
    }
    if a.command == "checkin" {
        let given = |f: &str| a.given.iter().any(|g| g == f);
        let members = if given("--members") { a.members } else { 10_000 };
        let groups = if given("--groups") { a.groups } else { 50 };
        let runs = if given("--runs") { a.runs } else { 1 };
        println!(
            "machine: {} cores; members: {members}; groups: {groups}; runs: {runs}",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        let mut r = Ok(());
        for _ in 0..runs.max(1) {
            r = checkin::run(&admin, &admin_url, members, groups).await;
            if r.is_err() {
                break;
            }
        }
        discard(embedded);
        return r;
    }
    if a.command == "flash" {
        let given = |f: &str| a.given.iter().any(|g| g == f);
        let members = if given("--members") { a.members.max(20_000) } else { 20_000 };
        let runs = if given("--runs") { a.runs } else { 1 };
        println!(
            "machine: {} cores; members: {members}; runs: {runs}",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        let mut r = Ok(());
        for _ in 0..runs.max(1) {
            r = flash::run(&admin, &admin_url, members).await;
            if r.is_err() {
                break;
            }
        }
        discard(embedded);
        return r;
    }
    if a.command == "fission" {
        let runs = if a.given.iter().any(|g| g == "--runs") { a.runs } else { 1 };
        println!("machine: {} cores; runs: {runs}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        let mut r = Ok(());
        for _ in 0..runs.max(1) {
            r = fission::run(&admin, &admin_url).await;
            if r.is_err() {
                break;
            }
        }
        discard(embedded);
        return r;
    }
    if a.command == "social" {
        let runs = if a.given.iter().any(|g| g == "--runs") { a.runs } else { 1 };
        println!("machine: {} cores; runs: {runs}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        let mut r = Ok(());
        for _ in 0..runs.max(1) {
            r = social::run(&admin, &admin_url).await;
            if r.is_err() {
                break;
            }
        }
        discard(embedded);
        return r;
    }
    if a.command == "sustained" {
        let given = |f: &str| a.given.iter().any(|g| g == f);
        let o = sustained::Options {
            seconds: a.seconds as u64,
            clients: a.clients,
            rate: a.rate,
            members: if given("--members") { a.members.max(1) } else { 5_000 },
            day_events: if given("--events") { a.events } else { 10_000_000 },
            streams: a.streams,
        };
        let r = sustained::run(&admin, &admin_url, &o).await;
        discard(embedded);
        return r;
    }
    if a.command == "webhooks" {
        let given = |f: &str| a.given.iter().any(|g| g == f);
        let messages = if given("--events") { a.events } else { 10_000 };
        let runs = if given("--runs") { a.runs } else { 1 };
        let r = webhooks::bench(&admin, &admin_url, messages, runs.max(1)).await;
        discard(embedded);
        return r;
    }
    let name = format!("shequn_bench_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect_with(&admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
    let url = database_url(&admin_url, &name);
    if a.command == "metrics" {
        let given = |f: &str| a.given.iter().any(|g| g == f);
        let options = shequn::demo::Options {
            name: "bench".into(),
            members: a.members,
            groups: if given("--groups") { a.groups } else { 1_000 },
            days: a.days as i64,
            events: Some(if given("--events") { a.events as u64 } else { 10_000_000 }),
            ..Default::default()
        };
        let runs = if given("--runs") { a.runs } else { 20 };
        let r = metrics::run(admin.clone().database(&name), options, runs, start_server(&url)).await;
        if std::env::var_os("BENCH_KEEP_DB").is_none() {
            let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
        }
        discard(embedded);
        return r;
    }
    if std::env::var_os("BENCH_DIAGNOSE_ASYNC_COMMIT").is_some() {
        // Diagnosis only: shows how much of the time is commit fsync. Never for recorded numbers.
        sqlx::query(&format!("ALTER DATABASE {name} SET synchronous_commit = off")).execute(&mut c).await?;
        println!("DIAGNOSTIC RUN: synchronous_commit = off");
    }
    let pool = PgPoolOptions::new().max_connections(4).connect_with(admin.clone().database(&name)).await?;
    shequn::db::migrate(&pool).await?;
    let nw = shequn::workspaces::service::create_workspace(&pool, "bench", "Asia/Shanghai", Actor::Cli).await?;
    shequn::workspaces::service::create_workspace(&pool, "bench-copy", "Asia/Shanghai", Actor::Cli).await?;
    let key = nw.owner_key.key.clone();
    let server = start_server(&url).await?;
    println!(
        "machine: {} cores; events: {}; clients: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        a.events,
        a.clients
    );

    // Each phase starts right after a checkpoint, so none of them pays for
    // flushing what the one before wrote, or starts its full-page writes
    // later than another.
    checkpoint(&pool).await?;
    let api_rate = api_ingest(&server.base, &key, &a).await?;
    let caught_up = rollup_catch_up(&pool).await?;
    checkpoint(&pool).await?;
    let copy_rate = copy_ingest(&pool, a.events / 1000 * 1000).await?;
    println!(
        "1. POST /v1/events: {api_rate:.0} events/s; COPY: {copy_rate:.0} events/s; ratio {:.2}",
        api_rate / copy_rate
    );
    println!("   metric rollups caught up {caught_up:.1} s after the last batch (COPY and the webhooks run after it)");

    let tg =
        connect(&server.base, &key, "telegram", json!({"bot_token": "1:x", "secret_token": "bench-secret"})).await?;
    let wc = connect(
        &server.base,
        &key,
        "wecom",
        json!({"corp_id": "ww1436e0e65a779aee", "token": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
        "encoding_aes_key": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"}),
    )
    .await?;
    checkpoint(&pool).await?;
    let t = fire(telegram_requests(&tg, a.webhooks), 64).await?;
    println!("2. Telegram webhooks: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms (64 connections)", t.rate, t.p50_ms, t.p99_ms);
    let w = fire(wecom_requests(&wc, a.webhooks)?, 64).await?;
    println!("   WeCom webhooks:    {:.0}/s, p50 {:.1} ms, p99 {:.1} ms (64 connections)", w.rate, w.p50_ms, w.p99_ms);
    let drain_started = Instant::now();
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE status = 'received'").fetch_one(&pool).await?;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM inbox WHERE status <> 'processed'").fetch_one(&pool).await?;
    println!(
        "   all {} webhook requests processed {:.2} s after the last answer ({failed} not processed)",
        2 * a.webhooks,
        drain_started.elapsed().as_secs_f64()
    );
    let peak = peak_rss_mb(server.child.id()).unwrap_or(f64::NAN);
    println!("3. server peak memory (VmHWM): {peak:.0} MB");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await?;
    println!("   rows in events: {stored}");
    drop(server);
    pool.close().await;
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
    }
    discard(embedded);
    Ok(())
}
