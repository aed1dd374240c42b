//! Invite campaigns in the growth report: per campaign and overall, the
//! referrals whose join is in the period by what became of them, the
//! inviting members and the K-factor (docs/metrics.md).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::store::repo::InviteRow;

/// One campaign's (or every campaign's) invite figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct InviteFigures {
    /// Referrals whose join is in the period (every status).
    pub invites: i64,
    pub qualified: i64,
    pub pending: i64,
    pub flagged: i64,
    pub revoked: i64,
    pub rejected: i64,
    /// Rejected and revoked referrals by reason (`self_invite`, `not_new`, `left_within_hold`, …).
    pub reasons: BTreeMap<String, i64>,
    /// Distinct inviters of those referrals.
    pub inviting_members: i64,
    /// `qualified / inviting_members`.
    pub qualified_per_inviter: Option<f64>,
    /// `inviting_members / members`: the share of the scope's members who invited.
    pub inviting_share: Option<f64>,
    /// `qualified_per_inviter × inviting_share` (= qualified invitees per member).
    pub k_factor: Option<f64>,
}

/// One campaign's row.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InviteCampaign {
    pub campaign_id: Uuid,
    pub name: String,
    pub invites: i64,
    pub qualified: i64,
    pub pending: i64,
    pub flagged: i64,
    pub revoked: i64,
    pub rejected: i64,
    pub reasons: BTreeMap<String, i64>,
    pub inviting_members: i64,
    pub qualified_per_inviter: Option<f64>,
    pub inviting_share: Option<f64>,
    pub k_factor: Option<f64>,
}

/// The invite campaigns of the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct InviteCampaigns {
    /// Distinct members of the scope at the end of the period (the share's denominator).
    pub members: i64,
    pub total: InviteFigures,
    /// Per campaign, most invites first.
    pub campaigns: Vec<InviteCampaign>,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn figures<'a>(rows: impl Iterator<Item = &'a InviteRow>, members: i64) -> InviteFigures {
    let mut f = InviteFigures::default();
    let mut inviters = HashSet::new();
    for (_, _, inviter, status, reason) in rows {
        f.invites += 1;
        inviters.insert(*inviter);
        match status.as_str() {
            "qualified" => f.qualified += 1,
            "pending" => f.pending += 1,
            "flagged" => f.flagged += 1,
            "revoked" => f.revoked += 1,
            _ => f.rejected += 1,
        }
        if matches!(status.as_str(), "revoked" | "rejected") {
            *f.reasons.entry(reason.clone().unwrap_or_default()).or_default() += 1;
        }
    }
    f.inviting_members = inviters.len() as i64;
    f.qualified_per_inviter = ratio(f.qualified, f.inviting_members);
    f.inviting_share = ratio(f.inviting_members, members);
    f.k_factor = f.qualified_per_inviter.zip(f.inviting_share).map(|(a, b)| a * b);
    f
}

/// Computes the figures of `rows` with `members` members in the scope.
pub fn compute(rows: &[InviteRow], members: i64) -> InviteCampaigns {
    let mut ids: Vec<(Uuid, String)> = rows.iter().map(|r| (r.0, r.1.clone())).collect();
    ids.sort();
    ids.dedup();
    let mut campaigns: Vec<InviteCampaign> = ids
        .into_iter()
        .map(|(id, name)| {
            let f = figures(rows.iter().filter(|r| r.0 == id), members);
            InviteCampaign {
                campaign_id: id,
                name,
                invites: f.invites,
                qualified: f.qualified,
                pending: f.pending,
                flagged: f.flagged,
                revoked: f.revoked,
                rejected: f.rejected,
                reasons: f.reasons,
                inviting_members: f.inviting_members,
                qualified_per_inviter: f.qualified_per_inviter,
                inviting_share: f.inviting_share,
                k_factor: f.k_factor,
            }
        })
        .collect();
    campaigns.sort_by(|a, b| b.invites.cmp(&a.invites).then(a.campaign_id.cmp(&b.campaign_id)));
    InviteCampaigns { members, total: figures(rows.iter(), members), campaigns }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(c: u128, inviter: u128, status: &str, reason: Option<&str>) -> InviteRow {
        (Uuid::from_u128(c), format!("c{c}"), Uuid::from_u128(inviter), status.into(), reason.map(Into::into))
    }

    #[test]
    fn the_k_factor_is_qualified_per_inviter_times_the_share_inviting() {
        let rows = vec![
            row(1, 10, "qualified", None),
            row(1, 10, "qualified", None),
            row(1, 11, "revoked", Some("left_within_hold")),
            row(1, 11, "rejected", Some("self_invite")),
            row(2, 10, "qualified", None),
            row(2, 12, "pending", None),
        ];
        let r = compute(&rows, 100);
        assert_eq!((r.total.invites, r.total.qualified, r.total.inviting_members), (6, 3, 3));
        assert_eq!(r.total.qualified_per_inviter, Some(1.0));
        assert_eq!(r.total.inviting_share, Some(0.03));
        assert!((r.total.k_factor.unwrap() - 0.03).abs() < 1e-12);
        assert_eq!(r.total.reasons.get("self_invite"), Some(&1));
        assert_eq!(r.total.reasons.get("left_within_hold"), Some(&1));
        let c1 = &r.campaigns[0];
        assert_eq!((c1.invites, c1.qualified, c1.inviting_members, c1.qualified_per_inviter), (4, 2, 2, Some(1.0)));
        assert_eq!(r.campaigns[1].pending, 1);
        assert_eq!(compute(&[], 0).total.k_factor, None);
    }
}
