//! The referral engine: a join through an invite link opens a referral —
//! `pending`, or `rejected` with the reason — and the hold job decides it
//! when the hold ends: `revoked` when the invitee left, `flagged` over the
//! inviter's daily cap, else `qualified`, which grants the inviter's
//! rewards once per threshold.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{Reason, Referral, ReferralStatus};
use super::outbound;
use super::repo::{self, NewReferral};
use crate::campaigns::invite_settings::{InviteRules, ReferralSettings};
use crate::campaigns::lottery_settings::LotterySettings;
use crate::campaigns::model::{Campaign, CampaignKind, CampaignStatus};
use crate::events::reactions::Reactions;
use crate::ids::{CampaignId, WorkspaceId};

/// A join naming an invite code.
#[derive(Debug, Clone)]
pub struct InviteJoin {
    pub invitee: Uuid,
    pub group: Uuid,
    pub at: DateTime<Utc>,
    /// The first word of the join's invite code.
    pub code: String,
}

/// Whether campaigns of `kind` have invite codes.
pub fn invites(kind: CampaignKind) -> bool {
    matches!(kind, CampaignKind::Referral | CampaignKind::Lottery)
}

/// The invite rules of a campaign (a lottery's own `invites`, the referral
/// defaults where it gives none).
pub fn rules(c: &Campaign) -> InviteRules {
    match c.kind {
        CampaignKind::Referral => ReferralSettings::from_stored(&c.settings).rules(),
        _ => {
            let d = ReferralSettings::default().rules();
            let Some(i) = LotterySettings::from_stored(&c.settings).invites else { return d };
            InviteRules {
                hold_hours: i.hold_hours.unwrap_or(d.hold_hours),
                new_members_only: i.new_members_only.unwrap_or(d.new_members_only),
                max_qualified_per_day: i.max_qualified_per_day.or(d.max_qualified_per_day),
                capacity_per_group: i.capacity_per_group.unwrap_or(d.capacity_per_group),
            }
        }
    }
}

/// Opens the referrals of `joins` newly stored in `ws` (called in the
/// events' transaction, after their stints are written).
pub async fn on_joins(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    joins: &[InviteJoin],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let codes: Vec<String> = joins.iter().map(|j| j.code.clone()).collect();
    let found = crate::channels::repo::invites_by_codes(conn, &codes).await?;
    for j in joins {
        let Some(&(owner, channel, campaign, inviter, _)) = found.iter().find(|f| f.4 == j.code) else { continue };
        let mut r = NewReferral {
            id: Uuid::now_v7(),
            campaign_id: Some(campaign),
            inviter_id: Some(inviter),
            invitee_id: j.invitee,
            channel_id: Some(channel),
            group_id: Some(j.group),
            code: j.code.clone(),
            joined_at: j.at,
            hold_until: j.at,
            status: ReferralStatus::Rejected,
            reason: None,
        };
        if owner != ws {
            // Another workspace's code: kept here, without its campaign or inviter.
            (r.campaign_id, r.inviter_id, r.channel_id) = (None, None, None);
            r.reason = Some(Reason::CrossWorkspace.as_str());
            repo::insert(conn, ws, &r, now).await?;
            continue;
        }
        let Some(c) = crate::campaigns::repo::get(conn, ws, CampaignId(campaign), false).await? else { continue };
        let rules = rules(&c);
        r.hold_until = j.at + Duration::hours(rules.hold_hours as i64);
        let facts = repo::join_facts(conn, ws, j.invitee, inviter, j.at).await?;
        r.reason = refusal(&c, &rules, facts).map(Reason::as_str);
        if r.reason.is_none() {
            r.status = ReferralStatus::Pending;
        }
        repo::insert(conn, ws, &r, now).await?;
    }
    Ok(())
}

/// Why a join does not open a pending referral (None: it does), in the
/// order checked.
pub fn refusal(c: &Campaign, rules: &InviteRules, f: repo::JoinFacts) -> Option<Reason> {
    if c.status != CampaignStatus::Running {
        return Some(Reason::CampaignNotRunning);
    }
    if f.same_person {
        return Some(Reason::SelfInvite);
    }
    if f.staff_or_bot {
        return Some(Reason::StaffOrBot);
    }
    if f.cycle {
        return Some(Reason::Cycle);
    }
    if rules.new_members_only && f.had_stint {
        return Some(Reason::NotNew);
    }
    None
}

/// Decides every referral whose hold has ended, one transaction each
/// (claimed with `SKIP LOCKED`: several instances never decide one twice).
pub async fn run_due(pool: &PgPool, now: DateTime<Utc>, reactions: &Reactions) -> anyhow::Result<usize> {
    let mut done = 0;
    loop {
        let mut tx = crate::db::begin(pool).await?;
        let Some((ws, r)) = repo::claim_due(&mut tx, now).await? else { break };
        decide_due(&mut tx, ws, &r, now, reactions).await?;
        tx.commit().await?;
        done += 1;
    }
    Ok(done)
}

async fn decide_due(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Referral,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<()> {
    let pending = [ReferralStatus::Pending];
    let (Some(campaign), Some(inviter)) = (r.campaign_id, r.inviter_id) else { return Ok(()) };
    let c = crate::campaigns::repo::get(conn, ws, CampaignId(campaign), false).await?;
    let revoke = match &c {
        None => Some(Reason::CampaignCancelled),
        Some(c) if c.status == CampaignStatus::Cancelled => Some(Reason::CampaignCancelled),
        Some(_) if !repo::stayed(conn, ws, r).await? => Some(Reason::LeftWithinHold),
        Some(_) => None,
    };
    if let Some(why) = revoke {
        if let Some(r) =
            repo::decide(conn, ws, r.id, &pending, (ReferralStatus::Revoked, Some(why.as_str())), None, now).await?
        {
            outbound::revoked(conn, ws, &r, now).await?;
        }
        return Ok(());
    }
    let Some(c) = c else { return Ok(()) };
    let day = local_day(conn, ws, r.joined_at).await?;
    if let Some(max) = rules(&c).max_qualified_per_day {
        if !repo::count_day(conn, ws, (campaign, inviter.0), day, max).await? {
            let to = (ReferralStatus::Flagged, Some(Reason::OverDailyCap.as_str()));
            if let Some(r) = repo::decide(conn, ws, r.id, &pending, to, None, now).await? {
                outbound::flagged(conn, ws, &r, now).await?;
            }
            return Ok(());
        }
    }
    qualify(conn, ws, &c, r.id, &pending, day, now, reactions).await
}

async fn local_day(conn: &mut PgConnection, ws: WorkspaceId, at: DateTime<Utc>) -> Result<NaiveDate, sqlx::Error> {
    let w = crate::workspaces::repo::get(conn, ws).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(at.with_timezone(&crate::clock::zone(&w.timezone)).date_naive())
}

/// Qualifies a referral (from `from`) and grants the inviter's rewards.
#[allow(clippy::too_many_arguments)]
pub async fn qualify(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &Campaign,
    id: Uuid,
    from: &[ReferralStatus],
    day: NaiveDate,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<()> {
    let Some(r) = repo::decide(conn, ws, id, from, (ReferralStatus::Qualified, None), Some(day), now).await? else {
        return Ok(());
    };
    let Some(inviter) = r.inviter_id else { return Ok(()) };
    // Serialises the inviter's qualifications, so each sees the others'
    // count and no threshold is skipped between two of them.
    crate::members::repo::lock_in_order(conn, ws, &[inviter]).await?;
    let count = repo::qualified_count(conn, ws, c.id.0, inviter.0).await?;
    outbound::qualified(conn, ws, &r, count, now).await?;
    if c.kind == CampaignKind::Referral {
        super::rewards::grant(conn, ws, c, inviter, count, now, reactions).await?;
    }
    Ok(())
}

/// The approval of a flagged referral (qualifies it).
pub async fn approve(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Referral,
    now: DateTime<Utc>,
    reactions: &Reactions,
) -> anyhow::Result<bool> {
    let Some(campaign) = r.campaign_id else { return Ok(false) };
    let Some(c) = crate::campaigns::repo::get(conn, ws, CampaignId(campaign), false).await? else { return Ok(false) };
    let day = local_day(conn, ws, r.joined_at).await?;
    qualify(conn, ws, &c, r.id, &[ReferralStatus::Flagged], day, now, reactions).await?;
    Ok(true)
}
