//! Making a check-in — the one path for the API and for chat keywords.
//!
//! Under the lock of the member's row of the campaign (`repo::lock_member`)
//! the streak is read from the day before, the check-in is inserted (the
//! day's unique key is the guard against a second one), streaks of the days
//! after a filled gap are recomputed, and points are credited: the day's,
//! and each streak bonus a run reaches for the first time (a bonus is keyed
//! by the run's first day and the streak day, so a recomputed run never
//! grants one twice). The check-in is stored as a `checked_in` event for
//! the metrics, by the same transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{check_in_day, day_begins, CheckIn, CheckInChannel, CheckInResult, Reward};
use super::repo;
use crate::campaigns::model::{Campaign, CampaignKind, CampaignStatus};
use crate::campaigns::settings::CheckInSettings;
use crate::events::model::EventSource;
use crate::events::reactions::Reactions;
use crate::ids::{GroupId, MemberId, WorkspaceId};
use crate::points::model::{EntryKind, LedgerEntry, Source, SourceType};
use crate::points::service::{self as points, Insufficient};

/// A check-in to make.
#[derive(Debug, Clone)]
pub struct Request {
    pub member: MemberId,
    pub group: Option<GroupId>,
    /// When it happened (a makeup: now).
    pub at: DateTime<Utc>,
    /// The missed day a makeup fills.
    pub makeup_day: Option<NaiveDate>,
    pub channel: CheckInChannel,
    /// The source of its `checked_in` event.
    pub source: EventSource,
}

/// Why a check-in was not made (nothing was written).
#[derive(Debug, Clone)]
pub enum Refusal {
    NotCheckIn,
    NotRunning,
    UnknownGroup,
    NotInTarget,
    Already(Box<CheckIn>),
    MakeupNotAllowed(String),
    /// The makeup's cost: the balance does not cover it.
    Insufficient(Insufficient, i64),
}

/// Whether `c` takes check-ins at `at`.
pub fn running_at(c: &Campaign, at: DateTime<Utc>) -> bool {
    c.status == CampaignStatus::Running && c.starts_at.is_none_or(|s| s <= at) && c.ends_at.is_none_or(|e| at < e)
}

/// Makes a check-in in the caller's transaction. A refusal after writing
/// (a makeup the balance does not cover) must roll the transaction back.
pub async fn check_in(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: &Campaign,
    req: &Request,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> Result<Result<CheckInResult, Refusal>, sqlx::Error> {
    if campaign.kind != CampaignKind::CheckIn {
        return Ok(Err(Refusal::NotCheckIn));
    }
    if !running_at(campaign, req.at) || !running_at(campaign, now) {
        return Ok(Err(Refusal::NotRunning));
    }
    let settings = CheckInSettings::from_stored(&campaign.settings);
    let (ws_tz, p, group_tz) =
        crate::workspaces::repo::points_policy_for_group(conn, ws, req.group).await?.ok_or(sqlx::Error::RowNotFound)?;
    let policy = points::Policy { tz: crate::clock::zone(&ws_tz), expiry: p.expiry, clawback: p.clawback };
    let tz = match (req.group, group_tz) {
        (None, _) => policy.tz,
        (Some(_), None) => return Ok(Err(Refusal::UnknownGroup)),
        (Some(_), Some(own)) => own.as_deref().map_or(policy.tz, crate::clock::zone),
    };
    if let Some(g) = req.group {
        if !crate::campaigns::targets_group(conn, ws, campaign, g).await? {
            return Ok(Err(Refusal::NotInTarget));
        }
    }
    let start = settings.day_start();
    let day = match req.makeup_day {
        Some(d) => d,
        None => check_in_day(tz, start, req.at),
    };
    let locked = repo::lock_member(conn, ws, campaign.id, req.member).await?;
    let total_before = locked.total_days;
    if req.makeup_day.is_some() {
        if let Err(why) = makeup_allowed(conn, ws, campaign, &settings, req.member, tz, day, now).await? {
            return Ok(Err(Refusal::MakeupNotAllowed(why)));
        }
    }
    let prev = day.pred_opt().unwrap_or(day);
    let near = match locked.last_day {
        // The day itself or later ones are there: read the neighbourhood.
        Some(last) if last >= day => repo::from_day(conn, ws, campaign.id, req.member, prev, 400).await?,
        _ => vec![],
    };
    if near.iter().any(|(_, d, _)| *d == day) {
        return already(conn, ws, campaign, req.member, day).await;
    }
    let streak = match locked.last_day {
        Some(last) if last == prev => locked.last_streak.unwrap_or(0) + 1,
        _ => near.iter().find(|(_, d, _)| *d == prev).map_or(1, |(_, _, s)| s + 1),
    };
    let own_rewards = settings.rewards_at(streak as u32);
    let mut c = new_check_in(campaign, req, day, streak, &settings, &own_rewards);
    if !repo::insert(conn, ws, &c).await? {
        return already(conn, ws, campaign, req.member, day).await;
    }
    let mut entries: Vec<LedgerEntry> = Vec::new();
    let mut spent = 0;
    if let (true, Some(m)) = (c.makeup, settings.makeup.filter(|m| m.cost_points > 0)) {
        let source = Source::new(SourceType::Makeup, c.id);
        let note = format!("makeup check-in for {day}");
        let debit = points::Debit {
            member: req.member,
            points: m.cost_points,
            kind: EntryKind::Spend,
            source,
            note: &note,
            at: now,
        };
        match points::debit(conn, ws, debit).await? {
            Ok(d) => {
                crate::points::outbound::announce_expiries(conn, ws, now, &d.expired).await?;
                entries.push(d.entry);
                spent = m.cost_points;
            }
            Err(i) => return Ok(Err(Refusal::Insufficient(i, m.cost_points))),
        }
    }
    if settings.points > 0 {
        let credit = points::Credit {
            member: req.member,
            points: settings.points,
            kind: EntryKind::Earn,
            source: Source::new(SourceType::CheckIn, c.id),
            note: "check-in",
            at: now,
        };
        // The check-in was just inserted (its day's key is the guard): its
        // source is new, so the one-statement credit is safe.
        entries.push(points::credit_new(conn, ws, &policy, credit).await?);
    }
    let run_start = day - Duration::days(streak as i64 - 1);
    let mut rewards = Vec::new();
    let own = grant_rewards(conn, ws, &policy, &c, run_start, &own_rewards, now, &mut entries).await?;
    let granted = settings.points + own.iter().map(|r| r.points).sum::<i64>();
    if granted != c.points_awarded {
        // A bonus this run already had (its days were made up before).
        c.points_awarded = granted;
        repo::set_points_awarded(conn, ws, c.id, granted).await?;
    }
    rewards.extend(own);
    rewards.extend(restreak(conn, ws, &policy, &settings, &c, run_start, &near, now, &mut entries).await?);
    store_event(conn, ws, campaign, &c, req.source, now, reactions).await?;
    let refs: Vec<&LedgerEntry> = entries.iter().collect();
    crate::points::outbound::announce(conn, ws, now, &refs).await?;
    let balance = match entries.iter().max_by_key(|e| e.id) {
        Some(e) => e.balance_after,
        None => crate::points::repo::balance(conn, ws, req.member).await?,
    };
    Ok(Ok(CheckInResult {
        id: c.id,
        campaign_id: c.campaign_id,
        member_id: c.member_id,
        group_id: c.group_id,
        day,
        at: c.at,
        makeup: c.makeup,
        streak,
        total_days: total_before + 1,
        points_awarded: c.points_awarded,
        rewards,
        points_spent: spent,
        balance,
    }))
}

/// The check-in `req` makes on `day` with `streak`, earning the day's
/// points and the bonuses `due` (before they are claimed).
pub(super) fn new_check_in(
    campaign: &Campaign,
    req: &Request,
    day: NaiveDate,
    streak: i32,
    settings: &CheckInSettings,
    due: &[crate::campaigns::settings::StreakReward],
) -> CheckIn {
    CheckIn {
        id: Uuid::now_v7(),
        campaign_id: campaign.id,
        member_id: req.member,
        group_id: req.group,
        day,
        at: req.at,
        makeup: req.makeup_day.is_some(),
        streak,
        points_awarded: settings.points + due.iter().map(|r| r.points).sum::<i64>(),
        channel: req.channel,
    }
}

pub(super) async fn already(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: &Campaign,
    member: MemberId,
    day: NaiveDate,
) -> Result<Result<CheckInResult, Refusal>, sqlx::Error> {
    let first = repo::by_day(conn, ws, campaign.id, member, day).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(Err(Refusal::Already(Box::new(first))))
}

/// Whether a makeup of `day` is allowed now (the reason when not).
#[allow(clippy::too_many_arguments)]
async fn makeup_allowed(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: &Campaign,
    settings: &CheckInSettings,
    member: MemberId,
    tz: Tz,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Result<(), String>, sqlx::Error> {
    let Some(rules) = settings.makeup else { return Ok(Err("this campaign allows no makeups".into())) };
    let start = settings.day_start();
    let today = check_in_day(tz, start, now);
    if day >= today {
        return Ok(Err("only a past day can be made up".into()));
    }
    if (today - day).num_days() > rules.within_days as i64 {
        return Ok(Err(format!("only the last {} days can be made up", rules.within_days)));
    }
    if campaign.starts_at.is_some_and(|s| day < check_in_day(tz, start, s)) {
        return Ok(Err("the campaign had not started that day".into()));
    }
    let month =
        NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), chrono::Datelike::month(&today), 1).unwrap_or(today);
    let made = repo::makeups_since(conn, ws, campaign.id, member, day_begins(tz, start, month)).await?;
    if made >= rules.max_per_month as i64 {
        return Ok(Err(format!("at most {} makeups a month", rules.max_per_month)));
    }
    Ok(Ok(()))
}

/// Claims and credits `due` bonuses of check-in `c` (streak `c.streak` of
/// the run starting `run_start`); returns those granted now.
#[allow(clippy::too_many_arguments)]
async fn grant_rewards(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &points::Policy,
    c: &CheckIn,
    run_start: NaiveDate,
    due: &[crate::campaigns::settings::StreakReward],
    now: DateTime<Utc>,
    entries: &mut Vec<LedgerEntry>,
) -> Result<Vec<Reward>, sqlx::Error> {
    let mut out = Vec::new();
    for r in due {
        let id = Uuid::now_v7();
        if !repo::claim_reward(conn, ws, id, c.campaign_id, c.member_id, run_start, c.streak, c.id, r.points).await? {
            continue;
        }
        let note = format!("{}-day streak", c.streak);
        let credit = points::Credit {
            member: c.member_id,
            points: r.points,
            kind: EntryKind::Earn,
            source: Source::new(SourceType::StreakBonus, id),
            note: &note,
            at: now,
        };
        // The reward row was just claimed: its id is a new source.
        entries.push(points::credit_new(conn, ws, policy, credit).await?);
        out.push(Reward { kind: "streak_bonus".into(), day: r.day, points: r.points });
    }
    Ok(out)
}

/// After a filled gap: the check-ins right after `c` continue its run, so
/// their streaks grow; bonuses they reach now (and their run never had)
/// are granted. Returns those bonuses.
#[allow(clippy::too_many_arguments)]
async fn restreak(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    policy: &points::Policy,
    settings: &CheckInSettings,
    c: &CheckIn,
    run_start: NaiveDate,
    near: &[(Uuid, NaiveDate, i32)],
    now: DateTime<Utc>,
    entries: &mut Vec<LedgerEntry>,
) -> Result<Vec<Reward>, sqlx::Error> {
    let (mut ids, mut streaks, mut added, mut rewards) = (vec![], vec![], vec![], vec![]);
    let mut expect = c.day;
    let mut streak = c.streak;
    for (id, d, old) in near.iter().filter(|(_, d, _)| *d > c.day) {
        expect = expect.succ_opt().unwrap_or(expect);
        if *d != expect {
            break;
        }
        streak += 1;
        if streak == *old {
            break;
        }
        let later = CheckIn { id: *id, day: *d, streak, ..c.clone() };
        let got = grant_rewards(conn, ws, policy, &later, run_start, &settings.rewards_at(streak as u32), now, entries)
            .await?;
        ids.push(*id);
        streaks.push(streak);
        added.push(got.iter().map(|r| r.points).sum::<i64>());
        rewards.extend(got);
    }
    repo::update_streaks(conn, ws, &ids, &streaks, &added).await?;
    Ok(rewards)
}

/// Stores the check-in as a `checked_in` event and runs `reactions` on it.
async fn store_event(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    campaign: &Campaign,
    c: &CheckIn,
    source: EventSource,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> Result<(), sqlx::Error> {
    let row = event_row(campaign, c, source, now);
    crate::events::reactions::store_new(conn, ws, &[row], now, reactions).await
}

/// The `checked_in` event of check-in `c` (made at `now`).
pub(super) fn event_row(
    campaign: &Campaign,
    c: &CheckIn,
    source: EventSource,
    now: DateTime<Utc>,
) -> crate::events::repo::Row {
    crate::events::repo::Row {
        id: c.id,
        kind: crate::events::model::EventKind::CheckedIn.as_str().to_owned(),
        occurred_at: if c.makeup { now } else { c.at },
        group_id: c.group_id.map(|g| g.0),
        member_id: Some(c.member_id.0),
        campaign_id: Some(campaign.id.0),
        campaign_code: Some(campaign.tracking_code.clone()),
        order_id: None,
        amount: None,
        currency: None,
        properties: serde_json::json!({
            "check_in_id": c.id, "day": c.day, "streak": c.streak, "makeup": c.makeup,
        }),
        source,
        text: None,
    }
}
