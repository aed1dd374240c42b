//! The health watch: once per local day, for each workspace with an
//! endpoint subscribed to `group.health_changed`, every active group is
//! judged by the default health rules (the `/v1/metrics/groups/health`
//! defaults: the 30 complete days to yesterday, dead after 14 silent days,
//! declining under a 10 % active rate) and a change of status is announced.
//! The first judgement of a group announces only a group that is not
//! healthy. The day is claimed in the transaction that records the statuses
//! and emits the messages, so one instance announces each change once.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ids::WorkspaceId;
use crate::metrics::http::health::figures;
use crate::metrics::params::{self, Common};
use crate::metrics::reports::health::{self, GroupHealth, Rules, Status};
use crate::webhooks::catalogue::{spelled, GroupHealthChanged, Payload};
use crate::webhooks::outbox::{self, Outgoing};

/// The rules the watch judges by.
pub const RULES: Rules = Rules { dead_after_days: 14, min_active_rate: 0.1 };

/// Judges every workspace that wants to hear of it and whose day has not
/// been judged; returns how many changes were announced.
pub async fn run_once(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let workspaces = {
        let mut conn = pool.acquire().await?;
        outbox::subscribed_workspaces(&mut conn, GroupHealthChanged::TYPE).await?
    };
    let mut total = 0;
    for ws in workspaces {
        total += check(pool, ws, now).await?;
    }
    Ok(total)
}

/// One workspace: skipped while its day is judged or its rollups lag.
async fn check(pool: &PgPool, ws: WorkspaceId, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let q = Common::default();
    let mut tx = crate::db::read_snapshot(pool).await?;
    let mut c = params::resolve(&mut tx, ws, &q, now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::metrics::http::groups::default_window(&q, &mut c);
    let judged: Option<NaiveDate> = sqlx::query_scalar("SELECT day FROM group_health_checks WHERE workspace_id = $1")
        .bind(ws)
        .fetch_optional(&mut *tx)
        .await?;
    let days = c.days() as i64;
    if judged.is_some_and(|d| d >= c.to) || crate::metrics::http::reply::pending(&mut tx, &c, days).await? {
        return Ok(0);
    }
    let reads = figures(pool, &mut tx, &c, c.from - Duration::days(days)).await?;
    tx.commit().await?;
    let (_, items) = health::all_groups(reads, c.to, days, RULES, None);
    record(pool, ws, c.to, &items, now).await
}

/// Claims the day, stores the statuses and announces the changes.
async fn record(
    pool: &PgPool,
    ws: WorkspaceId,
    day: NaiveDate,
    items: &[GroupHealth],
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let mut tx = crate::db::begin(pool).await?;
    let claimed = sqlx::query(
        "INSERT INTO group_health_checks (workspace_id, day) VALUES ($1, $2)
         ON CONFLICT (workspace_id) DO UPDATE SET day = EXCLUDED.day WHERE group_health_checks.day < EXCLUDED.day",
    )
    .bind(ws)
    .bind(day)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(0);
    }
    let before: HashMap<Uuid, String> =
        sqlx::query_as::<_, (Uuid, String)>("SELECT group_id, status FROM group_health_states WHERE workspace_id = $1")
            .bind(ws)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let ids: Vec<Uuid> = items.iter().map(|h| h.group_id).collect();
    let statuses: Vec<String> = items.iter().map(|h| spelled(h.status)).collect();
    let scores: Vec<i32> = items.iter().map(|h| h.score.clamp(0, 100) as i32).collect();
    sqlx::query(
        "INSERT INTO group_health_states (workspace_id, group_id, status, score, day)
         SELECT $1, u.g, u.s, u.sc, $5 FROM unnest($2::uuid[], $3::text[], $4::int[]) AS u(g, s, sc)
         ON CONFLICT (workspace_id, group_id) DO UPDATE SET status = EXCLUDED.status, score = EXCLUDED.score,
             day = EXCLUDED.day",
    )
    .bind(ws)
    .bind(&ids)
    .bind(&statuses)
    .bind(&scores)
    .bind(day)
    .execute(&mut *tx)
    .await?;
    let mut out = Vec::new();
    for (h, to) in items.iter().zip(&statuses) {
        let from = before.get(&h.group_id);
        let changed = match from {
            Some(f) => f != to,
            None => h.status != Status::Healthy,
        };
        if changed {
            let p = GroupHealthChanged {
                group_id: h.group_id,
                name: h.name.clone(),
                from: from.cloned(),
                to: to.clone(),
                score: h.score,
                reasons: h.reasons.clone(),
                day,
            };
            out.push(Outgoing::new(now, &p)?);
        }
    }
    outbox::emit(&mut tx, ws, now, &out).await?;
    tx.commit().await?;
    Ok(out.len())
}
