//! The expiry run: after a lot's local midnight, its unspent remainder is
//! written as an `expire` entry — once, whatever number of instances run it
//! (accounts are claimed with `FOR UPDATE SKIP LOCKED`, and an expiry's
//! ledger key is its lot). Spending also expires a member's due lots first,
//! so a late run never lets expired points be spent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::model::LedgerEntry;
use super::{outbound, repo, service};
use crate::ids::{MemberId, WorkspaceId};

/// Members handled per transaction.
const BATCH: i64 = 1000;

/// Expires every lot due at `now`; returns how many lots expired.
pub async fn run_once(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let due = {
            let mut conn = pool.acquire().await?;
            repo::members_with_due_lots(&mut conn, now, BATCH).await?
        };
        if due.is_empty() {
            return Ok(total);
        }
        let mut by_ws: BTreeMap<WorkspaceId, Vec<MemberId>> = BTreeMap::new();
        for (ws, m) in due {
            by_ws.entry(ws).or_default().push(m);
        }
        let mut progress = 0;
        for (ws, members) in by_ws {
            progress += expire_members(pool, ws, &members, now).await?;
        }
        if progress == 0 {
            // Every account found is held by another run: it expires them.
            return Ok(total);
        }
        total += progress;
    }
}

/// Expires the due lots of `members` of one workspace, in one transaction.
async fn expire_members(
    pool: &PgPool,
    ws: WorkspaceId,
    members: &[MemberId],
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let mut tx = crate::db::begin(pool).await?;
    let locked = repo::lock_due_accounts(&mut tx, ws, members, true).await?;
    if locked.is_empty() {
        return Ok(0);
    }
    let ids: Vec<MemberId> = locked.iter().map(|(m, _)| *m).collect();
    let lots = repo::due_lots(&mut tx, ws, &ids, now).await?;
    let entries = service::write_expiries(&mut tx, ws, &locked, &lots).await?;
    outbound::announce_expiries(&mut tx, ws, now, &entries).await?;
    tx.commit().await?;
    Ok(entries.len())
}

/// The entries of one member, grouped (for the announcement).
pub fn by_member(entries: &[LedgerEntry]) -> BTreeMap<MemberId, Vec<&LedgerEntry>> {
    let mut out: BTreeMap<MemberId, Vec<&LedgerEntry>> = BTreeMap::new();
    for e in entries {
        out.entry(e.member_id).or_default().push(e);
    }
    out
}
