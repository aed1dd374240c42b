//! What the operator's endpoints hear of points: `points.earned`,
//! `points.spent` and `points.expired`, emitted in the transaction that
//! writes the entries.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::{EntryKind, LedgerEntry};
use crate::ids::WorkspaceId;
use crate::webhooks::catalogue::{spelled, PointsEarned, PointsExpired, PointsSpent};
use crate::webhooks::outbox::{self, Outgoing};

/// Emits `points.earned` / `points.spent` for each entry (expiries are
/// announced per member by [`announce_expiries`]).
pub async fn announce(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    now: DateTime<Utc>,
    entries: &[&LedgerEntry],
) -> Result<(), sqlx::Error> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries.iter().filter(|e| e.kind != EntryKind::Expire) {
        if e.delta > 0 {
            out.push(Outgoing::new(
                e.occurred_at,
                &PointsEarned {
                    member_id: e.member_id.0,
                    entry_id: e.id,
                    kind: spelled(e.kind),
                    points: e.delta,
                    balance: e.balance_after,
                    source_type: spelled(e.source.kind),
                    source_id: e.source.id.clone(),
                    expires_at: e.expires_at,
                    occurred_at: e.occurred_at,
                },
            )?);
        } else {
            out.push(Outgoing::new(
                e.occurred_at,
                &PointsSpent {
                    member_id: e.member_id.0,
                    entry_id: e.id,
                    kind: spelled(e.kind),
                    points: -e.delta,
                    balance: e.balance_after,
                    source_type: spelled(e.source.kind),
                    source_id: e.source.id.clone(),
                    occurred_at: e.occurred_at,
                },
            )?);
        }
    }
    outbox::emit(conn, ws, now, &out).await?;
    Ok(())
}

/// Emits one `points.expired` per member of `entries` (expiries, in order).
pub async fn announce_expiries(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    now: DateTime<Utc>,
    entries: &[LedgerEntry],
) -> Result<(), sqlx::Error> {
    let mut out = Vec::new();
    for (member, list) in super::expiry::by_member(entries) {
        let Some(last) = list.last() else { continue };
        let p = PointsExpired {
            member_id: member.0,
            points: list.iter().map(|e| -e.delta).sum(),
            lots: list.len(),
            balance: last.balance_after,
            expired_at: list.iter().map(|e| e.occurred_at).max().unwrap_or(now),
        };
        out.push(Outgoing::new(now, &p)?);
    }
    outbox::emit(conn, ws, now, &out).await?;
    Ok(())
}
