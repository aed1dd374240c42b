//! Evaluating the tier rules: every judged member's figures over the
//! rules' windows (complete local days ending yesterday), the tier the
//! first rule they meet gives, and the decision (upgrades at once,
//! downgrades after the grace, hand-set tiers held for the lock). Applied
//! changes land in the tier history with reason `rule:<id>` and, with
//! webhooks, as `member.tier_changed` — all in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

use super::model::{decide, target, Decision, Evaluation, Figures, Metric, Situation, TierMove, TierRules};
use super::repo;
use crate::audit::Actor;
use crate::ids::{MemberId, WorkspaceId};
use crate::metrics::period::{day_start, local_day};

/// Changes listed in an evaluation's answer.
const LISTED: usize = 1000;

/// Evaluates `cfg` for the workspace on local day `today` (in the caller's
/// transaction); applies the changes unless `dry_run`.
pub async fn evaluate(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    cfg: &TierRules,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<Evaluation> {
    let w = crate::workspaces::repo::get(conn, ws).await?.ok_or_else(|| anyhow::anyhow!("no workspace"))?;
    let tz = crate::clock::zone(&w.timezone);
    let today = local_day(tz, now);
    let ranks: HashMap<String, i32> =
        crate::tiers::repo::list(conn, ws).await?.into_iter().map(|t| (t.key, t.rank)).collect();
    let mut figures: HashMap<MemberId, Figures> = HashMap::new();
    for (metric, days) in cfg.needs() {
        let from = today - Duration::days(days as i64);
        let to = today - Duration::days(1);
        let bounds = (day_start(tz, from), day_start(tz, today));
        for (m, v) in figure(conn, ws, metric, (from, to), bounds).await? {
            figures.entry(m).or_default().insert((metric, days), v);
        }
    }
    let members = crate::members::repo::judged(conn, ws).await?;
    let grace = repo::grace(conn, ws).await?;
    let lock = Duration::days(cfg.manual_lock_days as i64);
    let empty = Figures::new();
    let (mut moves, mut graced, mut cleared, mut locked) = (Vec::new(), Vec::new(), Vec::new(), 0i64);
    for (id, tier, set_by_hand_at) in &members {
        let (to, reason, why) = target(cfg, figures.get(id).unwrap_or(&empty));
        // A rule naming a tier deleted or renamed since it was saved decides
        // nothing (the member keeps their tier) until the rules are saved again.
        if to.as_ref().is_some_and(|t| !ranks.contains_key(t)) {
            continue;
        }
        let below_since = grace.get(id).copied();
        let s = Situation {
            current_rank: tier.as_ref().and_then(|t| ranks.get(t)).copied(),
            target_rank: to.as_ref().and_then(|t| ranks.get(t)).copied(),
            same: *tier == to,
            locked: set_by_hand_at.is_some_and(|at| at + lock > now) && cfg.manual_lock_days > 0,
            below_since,
        };
        match decide(s, today, cfg.downgrade_grace_days) {
            Decision::Change => moves.push(TierMove { member_id: *id, from: tier.clone(), to, reason, why }),
            Decision::Grace => graced.push(*id),
            Decision::Stay if below_since.is_some() => cleared.push(*id),
            Decision::Stay => {}
            Decision::Locked => locked += 1,
        }
    }
    if !dry_run {
        apply(conn, ws, &moves, now).await?;
        repo::start_grace(conn, ws, &graced, today).await?;
        cleared.extend(moves.iter().map(|m| m.member_id));
        repo::clear_grace(conn, ws, &cleared).await?;
    }
    let changed = moves.len() as i64;
    moves.truncate(LISTED);
    Ok(Evaluation {
        day: today,
        dry_run,
        members: members.len() as i64,
        changes: moves,
        changed,
        in_grace: graced.len() as i64,
        locked,
    })
}

/// One figure of every member who has it, from the feature that owns it.
async fn figure(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    metric: Metric,
    days: (NaiveDate, NaiveDate),
    bounds: (DateTime<Utc>, DateTime<Utc>),
) -> Result<HashMap<MemberId, i64>, sqlx::Error> {
    use crate::metrics::store::repo::{member_totals, MemberTotal};
    match metric {
        Metric::Gmv => member_totals(conn, ws, MemberTotal::Gmv, days, bounds).await,
        Metric::Orders => member_totals(conn, ws, MemberTotal::Orders, days, bounds).await,
        Metric::ActiveDays => member_totals(conn, ws, MemberTotal::ActiveDays, days, bounds).await,
        Metric::PointsEarned => crate::points::repo::earned_by_member(conn, ws, bounds.0, bounds.1).await,
    }
}

/// Applies the changes (each only if the member's tier is still the one read).
async fn apply(conn: &mut PgConnection, ws: WorkspaceId, moves: &[TierMove], now: DateTime<Utc>) -> anyhow::Result<()> {
    let kind = <crate::webhooks::catalogue::MemberTierChanged as crate::webhooks::catalogue::Payload>::TYPE;
    let announce = !crate::webhooks::outbox::subscribed(conn, ws, &[kind]).await?.is_empty();
    for mv in moves {
        let change = crate::members::repo::NewTierChange {
            from: mv.from.as_deref(),
            to: mv.to.as_deref(),
            reason: &mv.reason,
            actor: Actor::System,
            at: now,
        };
        if !crate::members::repo::set_tier_if_unchanged(conn, ws, mv.member_id, change).await? {
            continue;
        }
        if announce {
            if let Some(m) = crate::members::repo::get(conn, ws, mv.member_id).await? {
                crate::members::outbound::tier_changed(conn, ws, &m, &change).await?;
            }
        }
    }
    Ok(())
}

/// The nightly run: each workspace with enabled rules is evaluated once per
/// local day (the day is claimed in the evaluating transaction); returns
/// how many members changed tier.
pub async fn run_nightly(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let list = {
        let mut conn = pool.acquire().await?;
        repo::enabled_workspaces(&mut conn).await?
    };
    let mut total = 0;
    for (ws, tz) in list {
        let today: NaiveDate = local_day(crate::clock::zone(&tz), now);
        let mut tx = crate::db::begin(pool).await?;
        let Some((cfg, _)) = repo::get(&mut tx, ws).await? else { continue };
        if !repo::claim_day(&mut tx, ws, today).await? {
            continue;
        }
        let e = evaluate(&mut tx, ws, &cfg, now, false).await?;
        tx.commit().await?;
        if e.changed > 0 {
            tracing::info!(workspace = %ws, changed = e.changed, "tier rules applied");
        }
        total += e.changed;
    }
    Ok(total)
}
