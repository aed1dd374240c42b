//! Referrals of invite campaigns whose join lies in the period (the
//! `referrals` table of the referral engine, read here in one statement):
//! scoped by workspace, the request's groups (the group joined) and
//! campaign, and its staff rule (the invitee).

use uuid::Uuid;

use super::{member_filter, planned};
use crate::metrics::params::Ctx;
use sqlx::PgConnection;

/// One referral: (campaign, campaign name, inviter, status, reason).
pub type InviteRow = (Uuid, String, Uuid, String, Option<String>);

/// The referrals (with a campaign) whose join is in the period.
pub async fn invites(conn: &mut PgConnection, c: &Ctx) -> Result<Vec<InviteRow>, sqlx::Error> {
    let (lo, hi) = c.bounds();
    let sql = format!(
        "SELECT r.campaign_id, k.name, r.inviter_id, r.status, r.reason
         FROM referrals r JOIN campaigns k ON k.workspace_id = r.workspace_id AND k.id = r.campaign_id
         WHERE r.workspace_id = $1 AND r.joined_at >= $2 AND r.joined_at < $3
           AND ($4::uuid[] IS NULL OR r.group_id = ANY($4)) AND ($7::uuid IS NULL OR r.campaign_id = $7)
           AND {}",
        member_filter("r.invitee_id")
    );
    let sql = planned(&sql, c, c.scope.groups.is_some());
    sqlx::query_as(&sql)
        .bind(c.ws)
        .bind(lo)
        .bind(hi)
        .bind(c.scope.groups.as_deref())
        .bind(c.include_staff)
        .bind(c.scope.source)
        .bind(c.scope.campaign)
        .fetch_all(conn)
        .await
}
