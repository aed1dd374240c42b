//! `shequn-bench metrics [--events N] [--members N] [--groups N] [--days N] [--runs N]`:
//! loads a demo-shaped workspace (default 10,000,000 events, 100,000
//! members, 1,000 groups, 180 days) with the `shequn demo` generator, times
//! the rollup catch-up (the worker's full rebuild, events/s), then measures
//! p50/p95 of each metric endpoint over HTTP against the release server,
//! next to the same figures computed by plain SQL over the raw events.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Duration as Days, NaiveDate};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// One endpoint: its URL and a plain-SQL computation of the same figures.
struct Case {
    name: &'static str,
    path: String,
    sql: String,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The plain-SQL baselines: straight over `events` and `memberships`, with
/// the database's own timezone conversion — what one would write without rollups.
fn cases(ws: uuid::Uuid, tz: &str, today: NaiveDate) -> Vec<Case> {
    let from = today - Days::days(29);
    let active = "('message_sent','checked_in','link_clicked','coupon_claimed','order_placed','order_paid')";
    let counted = format!(
        "NOT EXISTS (SELECT 1 FROM members x WHERE x.workspace_id = '{ws}' AND x.id = e.member_id AND (x.is_staff OR x.is_bot))"
    );
    let local = format!("(e.occurred_at AT TIME ZONE '{tz}')::date");
    let lo = format!("(TIMESTAMP '{from}' AT TIME ZONE '{tz}')");
    let hi = format!("(TIMESTAMP '{}' AT TIME ZONE '{tz}')", today + Days::days(1));
    let weeks_from = today - Days::days(7 * 11 + 6);
    vec![
        Case {
            name: "activity, 30 days",
            path: format!("/v1/metrics/activity?from={from}&to={today}"),
            sql: format!(
                "WITH a AS (SELECT DISTINCT e.member_id, {local} AS day FROM events e
                            WHERE e.workspace_id = '{ws}' AND e.type IN {active} AND e.member_id IS NOT NULL
                              AND e.occurred_at >= {lo} - interval '30 days' AND e.occurred_at < {hi} AND {counted}),
                      d AS (SELECT generate_series(DATE '{from}', DATE '{today}', interval '1 day')::date AS day)
                 SELECT d.day,
                        (SELECT count(*) FROM a WHERE a.day = d.day),
                        (SELECT count(DISTINCT member_id) FROM a WHERE a.day BETWEEN d.day - 6 AND d.day),
                        (SELECT count(DISTINCT member_id) FROM a WHERE a.day BETWEEN d.day - 29 AND d.day)
                 FROM d"
            ),
        },
        Case {
            name: "retention, 12 weeks",
            path: "/v1/metrics/retention?period=week&periods=12".into(),
            sql: format!(
                "WITH c AS (SELECT s.member_id, date_trunc('week', min(s.joined_at) AT TIME ZONE '{tz}')::date AS cw
                            FROM memberships s WHERE s.workspace_id = '{ws}' GROUP BY 1
                            HAVING min(s.joined_at) >= (TIMESTAMP '{weeks_from}' AT TIME ZONE '{tz}')),
                      a AS (SELECT DISTINCT e.member_id, date_trunc('week', e.occurred_at AT TIME ZONE '{tz}')::date AS w
                            FROM events e WHERE e.workspace_id = '{ws}' AND e.type IN {active}
                              AND e.occurred_at >= (TIMESTAMP '{weeks_from}' AT TIME ZONE '{tz}') AND {counted})
                 SELECT c.cw, (a.w - c.cw) / 7 AS k, count(*) FROM c JOIN a USING (member_id)
                 WHERE a.w >= c.cw GROUP BY 1, 2"
            ),
        },
        Case {
            name: "funnel, 4 steps, 30 days",
            path: format!(
                "/v1/metrics/funnel?from={from}&to={today}&steps=member_joined,message_sent,link_clicked,order_paid"
            ),
            sql: format!(
                "WITH s1 AS (SELECT e.member_id, e.occurred_at AS t1 FROM events e
                             WHERE e.workspace_id = '{ws}' AND e.type = 'member_joined'
                               AND e.occurred_at >= {lo} AND e.occurred_at < {hi} AND {counted}),
                      s2 AS (SELECT s1.*, (SELECT min(x.occurred_at) FROM events x WHERE x.workspace_id = '{ws}'
                               AND x.member_id = s1.member_id AND x.type = 'message_sent'
                               AND x.occurred_at BETWEEN s1.t1 AND s1.t1 + interval '7 days') AS t2 FROM s1),
                      s3 AS (SELECT s2.*, (SELECT min(x.occurred_at) FROM events x WHERE x.workspace_id = '{ws}'
                               AND x.member_id = s2.member_id AND x.type = 'link_clicked'
                               AND x.occurred_at BETWEEN s2.t2 AND s2.t1 + interval '7 days') AS t3 FROM s2),
                      s4 AS (SELECT s3.*, (SELECT min(x.occurred_at) FROM events x WHERE x.workspace_id = '{ws}'
                               AND x.member_id = s3.member_id AND x.type = 'order_paid'
                               AND x.occurred_at BETWEEN s3.t3 AND s3.t1 + interval '7 days') AS t4 FROM s3)
                 SELECT count(DISTINCT member_id), count(DISTINCT member_id) FILTER (WHERE t2 IS NOT NULL),
                        count(DISTINCT member_id) FILTER (WHERE t3 IS NOT NULL),
                        count(DISTINCT member_id) FILTER (WHERE t4 IS NOT NULL) FROM s4"
            ),
        },
        Case {
            name: "commerce by campaign, 30 days",
            path: format!("/v1/metrics/commerce?from={from}&to={today}&by=campaign"),
            sql: format!(
                "WITH p AS (SELECT e.order_id, e.member_id, e.amount, e.occurred_at,
                                   COALESCE(e.campaign_id, (SELECT k.campaign_id FROM events k
                                       WHERE k.workspace_id = '{ws}' AND k.member_id = e.member_id
                                         AND k.type = 'link_clicked' AND k.campaign_id IS NOT NULL
                                         AND k.occurred_at BETWEEN e.occurred_at - interval '7 days' AND e.occurred_at
                                       ORDER BY k.occurred_at DESC LIMIT 1)) AS campaign
                            FROM events e WHERE e.workspace_id = '{ws}' AND e.type = 'order_paid'
                              AND e.occurred_at >= {lo} AND e.occurred_at < {hi} AND {counted}),
                      r AS (SELECT DISTINCT ON (e.order_id) e.order_id, e.amount FROM events e
                            WHERE e.workspace_id = '{ws}' AND e.type = 'order_refunded'
                              AND e.occurred_at >= {lo} AND e.occurred_at < {hi} ORDER BY e.order_id, e.occurred_at)
                 SELECT COALESCE(p.campaign::text, 'organic'), sum(p.amount) - COALESCE(sum(r.amount), 0),
                        count(*), count(DISTINCT p.member_id)
                 FROM p LEFT JOIN r USING (order_id) GROUP BY 1"
            ),
        },
        Case {
            name: "health of all groups, 30 days",
            path: "/v1/metrics/groups/health".into(),
            sql: format!(
                "WITH w AS (SELECT e.group_id, e.member_id, e.type, {local} AS day FROM events e
                            WHERE e.workspace_id = '{ws}' AND e.occurred_at >= {lo} - interval '30 days'
                              AND e.occurred_at < {hi} AND e.group_id IS NOT NULL AND {counted}),
                      a AS (SELECT group_id,
                                   count(DISTINCT member_id) FILTER (WHERE type IN {active} AND day >= DATE '{from}') AS active,
                                   count(DISTINCT member_id) FILTER (WHERE type IN {active} AND day < DATE '{from}') AS before,
                                   count(*) FILTER (WHERE type = 'message_sent' AND day >= DATE '{from}') AS messages,
                                   count(DISTINCT day) FILTER (WHERE type = 'message_sent' AND day >= DATE '{from}') AS days
                            FROM w GROUP BY 1),
                      m AS (SELECT s.group_id, count(DISTINCT s.member_id) AS members FROM memberships s
                            WHERE s.workspace_id = '{ws}' AND s.joined_at < {hi} AND (s.left_at IS NULL OR s.left_at > {lo})
                            GROUP BY 1)
                 SELECT g.id, a.active, a.before, a.messages, a.days, m.members,
                        (SELECT max(e.occurred_at) FROM events e WHERE e.workspace_id = '{ws}' AND e.group_id = g.id
                           AND e.type = 'message_sent')
                 FROM groups g LEFT JOIN a ON a.group_id = g.id LEFT JOIN m ON m.group_id = g.id
                 WHERE g.workspace_id = '{ws}'"
            ),
        },
    ]
}

async fn time_http(client: &reqwest::Client, url: &str, key: &str, runs: usize) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(runs);
    for i in 0..runs + 2 {
        let started = Instant::now();
        let r = client.get(url).bearer_auth(key).send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        anyhow::ensure!(status.is_success(), "{url}: {status} {}", String::from_utf8_lossy(&body));
        if i >= 2 {
            out.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

async fn time_sql(pool: &PgPool, sql: &str, runs: usize) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(runs);
    for i in 0..runs + 1 {
        let started = Instant::now();
        sqlx::query(sql).fetch_all(pool).await.with_context(|| sql.chars().take(80).collect::<String>())?;
        if i >= 1 {
            out.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// Runs the benchmark on database `url` (empty, migrated here).
pub async fn run(
    pool_opts: sqlx::postgres::PgConnectOptions,
    options: shequn::demo::Options,
    runs: usize,
    start_server: impl std::future::Future<Output = anyhow::Result<super::Server>>,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new().max_connections(4).connect_with(pool_opts).await?;
    shequn::db::migrate(&pool).await?;
    println!(
        "machine: {} cores; {} members, {} groups, {} days, ~{} events",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        options.members,
        options.groups,
        options.days,
        options.events.unwrap_or(0)
    );
    let now = chrono::Utc::now();
    let out = shequn::demo::run(&pool, &options, now).await?;
    println!(
        "load: {} events in {:.1} s (generation + COPY, {:.0} events/s)",
        out.events,
        out.load_secs,
        out.events as f64 / out.load_secs
    );
    println!(
        "rollup catch-up (full rebuild by the worker's code): {:.1} s, {:.0} events/s",
        out.rollup_secs,
        out.events as f64 / out.rollup_secs
    );
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    let server = start_server.await?;
    let client = reqwest::Client::new();
    let tz: String = sqlx::query_scalar("SELECT timezone FROM workspaces WHERE id = $1")
        .bind(out.workspace_id)
        .fetch_one(&pool)
        .await?;
    let today = shequn::metrics::period::local_day(shequn::clock::zone(&tz), chrono::Utc::now());
    println!();
    println!("| endpoint | API p50 | API p95 | plain SQL p50 | speed-up (SQL p50 / API p95) |");
    println!("|---|---|---|---|---|");
    for c in cases(out.workspace_id.0, &tz, today) {
        let api = time_http(&client, &format!("{}{}", server.base, c.path), &out.api_key, runs).await?;
        let sql = time_sql(&pool, &c.sql, 3).await?;
        let (p50, p95, s50) = (percentile(&api, 0.5), percentile(&api, 0.95), percentile(&sql, 0.5));
        println!(
            "| {} (`{}`) | {p50:.1} ms | {p95:.1} ms | {s50:.0} ms | {:.0}× |",
            c.name,
            c.path.split('?').next().unwrap_or(""),
            s50 / p95
        );
    }
    drop(server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    pool.close().await;
    Ok(())
}
