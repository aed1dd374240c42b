//! What the shop hears of referrals: `referral.qualified`,
//! `referral.revoked` and `referral.flagged`, emitted in the transaction
//! that decides the referral.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::Referral;
use crate::ids::WorkspaceId;
use crate::webhooks::catalogue::{ReferralFlagged, ReferralQualified, ReferralRevoked};
use crate::webhooks::outbox::{self, Outgoing};

fn parties(r: &Referral) -> Option<(uuid::Uuid, uuid::Uuid)> {
    Some((r.campaign_id?, r.inviter_id?.0))
}

/// Announces a qualified invite.
pub async fn qualified(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Referral,
    count: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some((campaign_id, inviter)) = parties(r) else { return Ok(()) };
    let p = ReferralQualified {
        referral_id: r.id,
        campaign_id,
        inviter_member_id: inviter,
        invitee_member_id: r.invitee_id.0,
        group_id: r.group_id.map(|g| g.0),
        joined_at: r.joined_at,
        qualified_at: now,
        qualified_invites: count,
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}

/// Announces a revoked invite.
pub async fn revoked(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Referral,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some((campaign_id, inviter)) = parties(r) else { return Ok(()) };
    let p = ReferralRevoked {
        referral_id: r.id,
        campaign_id,
        inviter_member_id: inviter,
        invitee_member_id: r.invitee_id.0,
        reason: r.reason.clone().unwrap_or_default(),
        revoked_at: now,
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}

/// Announces a flagged invite.
pub async fn flagged(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Referral,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some((campaign_id, inviter)) = parties(r) else { return Ok(()) };
    let p = ReferralFlagged {
        referral_id: r.id,
        campaign_id,
        inviter_member_id: inviter,
        invitee_member_id: r.invitee_id.0,
        reason: r.reason.clone().unwrap_or_default(),
        flagged_at: now,
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}
